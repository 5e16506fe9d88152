#include "pod/volume_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>

#include "core/fd.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

void add_key_files(const ConfigObject* obj, const VolumeSource& src, int default_mode,
                   std::map<std::string, VolumeFile>& out) {
  if (obj == nullptr) {
    return;  // optional, and missing
  }
  if (src.items.empty()) {
    for (const auto& [key, value] : obj->data) {
      out[key] = VolumeFile{key, value, default_mode};
    }
    return;
  }
  for (const auto& item : src.items) {
    auto it = obj->data.find(item.key);
    if (it != obj->data.end()) {
      out[item.path] = VolumeFile{item.path, it->second, item.mode.value_or(default_mode)};
    }
  }
}

// Group `gid` and group read (and search, set-group-ID for directories), as the kubelet's
// SetVolumeOwnership does for a read-only volume.
Result<> give_to_group(const std::string& path, gid_t gid, bool dir) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || ::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    return Error::from_errno(errno, path);
  }
  mode_t mode = (st.st_mode & 07777) | 0440 | (dir ? (0110 | S_ISGID) : 0);
  if (::chmod(path.c_str(), mode) != 0) {
    return Error::from_errno(errno, path);
  }
  return {};
}

// mkdir -p of `rel`'s directories under `dir`, each 0755; the new ones are added to `made`.
Result<> make_parents(const std::string& dir, const std::string& rel,
                      std::vector<std::string>& made) {
  for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    const std::string path = dir + "/" + rel.substr(0, slash);
    if (::mkdir(path.c_str(), 0755) == 0) {
      ::chmod(path.c_str(), 0755);  // whatever the umask
      made.push_back(path);
    } else if (errno != EEXIST) {
      return Error::from_errno(errno, path);
    }
  }
  return {};
}

Result<> write_file(const std::string& path, const VolumeFile& f) {
  // O_EXCL and O_NOFOLLOW: the directory is new, so anything already there is a mistake.
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    return Error::from_errno(errno, path);
  }
  std::size_t done = 0;
  while (done < f.content.size()) {
    ssize_t n = ::write(fd.get(), f.content.data() + done, f.content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::from_errno(errno, path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), static_cast<mode_t>(f.mode)) != 0) {
    return Error::from_errno(errno, path);
  }
  return {};
}

}  // namespace

std::vector<VolumeFile> volume_files(const PodSpec& pod, const Volume& v, const std::string& pod_ip,
                                     const NodeInfo& node) {
  // By path: a later source's file replaces an earlier one's, and the order is stable.
  std::map<std::string, VolumeFile> files;
  for (const auto& src : v.sources) {
    if (src.kind != VolumeSource::Kind::kDownwardAPI) {
      const bool secret = src.kind == VolumeSource::Kind::kSecret;
      const ConfigObject* obj =
          pod.objects ? pod.objects->find(secret, pod.namespace_, src.name) : nullptr;
      add_key_files(obj, src, v.default_mode, files);
      continue;
    }
    for (const auto& f : src.files) {
      std::string content;
      if (f.resource) {
        // A downwardAPI resourceFieldRef always names its container.
        static const ContainerSpec kNone;
        content = resource_value(pod, kNone, *f.resource, node);
      } else {
        content = field_value(pod, f.field_path, pod_ip, node);
      }
      files[f.path] = VolumeFile{f.path, std::move(content), f.mode.value_or(v.default_mode)};
    }
  }
  std::vector<VolumeFile> out;
  out.reserve(files.size());
  for (auto& [path, f] : files) {
    out.push_back(std::move(f));
  }
  return out;
}

Result<> write_volume_files(const std::string& dir, const std::vector<VolumeFile>& files,
                            std::optional<std::int64_t> fs_group) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (::mkdir(dir.c_str(), 0755) != 0 || ::chmod(dir.c_str(), 0755) != 0) {
    return Error::from_errno(errno, dir);
  }
  std::vector<std::string> dirs{dir};
  for (const auto& f : files) {
    if (auto made = make_parents(dir, f.path, dirs); !made) {
      return made;
    }
    const std::string path = dir + "/" + f.path;
    if (auto written = write_file(path, f); !written) {
      return written;
    }
    if (fs_group) {
      if (auto given = give_to_group(path, static_cast<gid_t>(*fs_group), false); !given) {
        return given;
      }
    }
  }
  if (fs_group) {
    for (const auto& d : dirs) {
      if (auto given = give_to_group(d, static_cast<gid_t>(*fs_group), true); !given) {
        return given;
      }
    }
  }
  return {};
}

}  // namespace tender::pod

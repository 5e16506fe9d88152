#include "sidecar/sync_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

namespace tender::sidecar {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTreePrefix = "rev-";
constexpr std::string_view kStagingPrefix = "tmp-";
constexpr std::string_view kLinkTarget = ".tender-sync/";

Error fs_error(const std::error_code& ec, const std::string& what) {
  return Error(ec, what + ": " + ec.message());
}

Error errno_error(const std::string& what) {
  return fs_error(std::error_code(errno, std::generic_category()), what);
}

Result<> fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return errno_error("open " + path);
  }
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) {
    errno = saved;
    return errno_error("fsync " + path);
  }
  return {};
}

// Every file of the new tree reaches the disk before the link names it (a crash never leaves
// the link pointing at empty files): one syncfs of the file system holding it.
Result<> sync_filesystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return errno_error("open " + path);
  }
  int rc = ::syncfs(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) {
    errno = saved;
    return errno_error("syncfs " + path);
  }
  return {};
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

void RevisionHash::add(std::string_view bytes) {
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    a_ = (a_ ^ u) * 0x100000001b3ULL;
    b_ = (b_ ^ static_cast<unsigned char>(u + 0x5b)) * 0x100000001b3ULL;
  }
}

void RevisionHash::add_u64(std::uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  add(std::string_view(buf, 8));
}

std::string RevisionHash::hex() const { return hex64(a_) + hex64(b_); }

std::string tree_name(std::string_view revision) {
  std::string out(kTreePrefix);
  for (char c : revision.substr(0, 64)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out;
}

Result<> prepare_dest(const TreeLayout& layout) {
  std::error_code ec;
  fs::create_directories(layout.cache_dir(), ec);
  if (ec) {
    return fs_error(ec, "cannot create " + layout.cache_dir());
  }
  std::string probe = layout.state_dir() + "/.write-test";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return errno_error("cannot write in " + layout.state_dir());
  }
  ::close(fd);
  ::unlink(probe.c_str());
  if (::access(layout.dest.c_str(), W_OK) != 0) {
    return errno_error("cannot write in " + layout.dest);
  }
  return {};
}

std::string published_tree_name(const TreeLayout& layout) {
  std::error_code ec;
  fs::path target = fs::read_symlink(layout.link_path(), ec);
  if (ec) {
    return "";
  }
  std::string t = target.string();
  if (!t.starts_with(kLinkTarget)) {
    return "";
  }
  return t.substr(kLinkTarget.size());
}

Result<std::string> published_revision(const TreeLayout& layout) {
  struct stat st {};
  if (::lstat(layout.link_path().c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return string_result("");
    }
    return errno_error("lstat " + layout.link_path());
  }
  std::string name = published_tree_name(layout);
  if (!name.starts_with(kTreePrefix)) {
    return string_result("");
  }
  return string_result(name.substr(kTreePrefix.size()));
}

Result<std::string> make_staging(const TreeLayout& layout, std::string_view revision) {
  static std::atomic<std::uint64_t> counter{0};
  std::string name = std::string(kStagingPrefix) + tree_name(revision).substr(kTreePrefix.size()) +
                     "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  std::string path = layout.state_dir() + "/" + name;
  if (auto r = remove_tree(path); !r) {
    return r.error();
  }
  if (::mkdir(path.c_str(), 0755) != 0) {
    return errno_error("mkdir " + path);
  }
  return string_result(path);
}

Result<std::string> publish(const TreeLayout& layout, const std::string& staging,
                            std::string_view revision) {
  std::string name = tree_name(revision);
  std::string tree = layout.state_dir() + "/" + name;
  if (published_tree_name(layout) == name) {
    (void)remove_tree(staging);
    return string_result(tree);  // already what readers see; a published tree never changes
  }
  if (auto r = remove_tree(tree); !r) {
    return r.error();
  }
  if (::rename(staging.c_str(), tree.c_str()) != 0) {
    return errno_error("rename " + staging + " to " + tree);
  }
  if (auto r = sync_filesystem(tree); !r) {
    return r.error();
  }
  std::string tmp = layout.dest + "/." + layout.link + ".tender-sync-new";
  ::unlink(tmp.c_str());
  std::string target = std::string(kLinkTarget) + name;
  if (::symlink(target.c_str(), tmp.c_str()) != 0) {
    return errno_error("symlink " + tmp);
  }
  if (::rename(tmp.c_str(), layout.link_path().c_str()) != 0) {
    Error e = errno_error("rename " + tmp + " over " + layout.link_path() +
                          " (it must be a symlink, or absent)");
    ::unlink(tmp.c_str());
    return e;
  }
  if (auto r = fsync_path(layout.dest); !r) {
    return r.error();
  }
  return string_result(tree);
}

Result<int> remove_old_trees(const TreeLayout& layout, std::string_view keep_also) {
  std::string current = published_tree_name(layout);
  std::error_code ec;
  fs::directory_iterator it(layout.state_dir(), ec);
  if (ec) {
    return fs_error(ec, "cannot list " + layout.state_dir());
  }
  int removed = 0;
  std::optional<Error> first;
  for (auto end = fs::directory_iterator(); it != end; it.increment(ec)) {
    if (ec) {
      return fs_error(ec, "cannot list " + layout.state_dir());
    }
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    bool ours = name.starts_with(kTreePrefix) || name.starts_with(kStagingPrefix);
    if (!ours || name == current || (!keep_also.empty() && name == keep_also)) {
      continue;
    }
    if (auto r = remove_tree(entry.path().string()); !r) {
      if (!first) {
        first = r.error();
      }
      continue;
    }
    ++removed;
  }
  if (first) {
    return *first;
  }
  return removed;
}

Result<> remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    return fs_error(ec, "cannot remove " + path);
  }
  return {};
}

namespace {

struct Entry {
  std::string path;  // relative
  char type = 'f';
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string target;  // symlinks
};

}  // namespace

Result<std::string> dir_revision(const std::string& root) {
  std::vector<Entry> entries;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) {
    return fs_error(ec, "cannot read " + root);
  }
  for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
    if (ec) {
      return fs_error(ec, "cannot read under " + root);
    }
    const std::string full = it->path().string();
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) {
      return errno_error("lstat " + full);
    }
    Entry e;
    e.path = full.substr(root.size());
    e.size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    e.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
      e.mtime_ns = 0;  // a directory's mtime follows its entries, already counted
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      e.target = fs::read_symlink(it->path(), ec).string();
    } else if (!S_ISREG(st.st_mode)) {
      e.type = 'o';
    }
    e.size ^= static_cast<std::uint64_t>(st.st_mode & 07777) << 48;
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  RevisionHash fp;
  for (const auto& e : entries) {
    fp.add(e.path);
    fp.add(std::string_view(&e.type, 1));
    fp.add_u64(e.size);
    fp.add_u64(static_cast<std::uint64_t>(e.mtime_ns));
    fp.add(e.target);
    fp.add(std::string_view("\0", 1));
  }
  return string_result(fp.hex());
}

Result<std::uint64_t> copy_tree(const std::string& from, const std::string& to,
                                std::uint64_t max_bytes) {
  std::uint64_t copied = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(from, fs::directory_options::none, ec);
  if (ec) {
    return fs_error(ec, "cannot read " + from);
  }
  for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
    if (ec) {
      return fs_error(ec, "cannot read under " + from);
    }
    const fs::path& src = it->path();
    fs::path dst = fs::path(to) / fs::path(src.string().substr(from.size())).relative_path();
    fs::file_status st = it->symlink_status(ec);
    if (ec) {
      return fs_error(ec, "lstat " + src.string());
    }
    if (fs::is_symlink(st)) {
      fs::copy_symlink(src, dst, ec);
    } else if (fs::is_directory(st)) {
      fs::create_directory(dst, ec);
      if (!ec) {
        fs::permissions(dst, st.permissions(), ec);
      }
    } else if (fs::is_regular_file(st)) {
      std::uintmax_t size = it->file_size(ec);
      if (!ec && copied + size > max_bytes) {
        return Error(std::errc::file_too_large,
                     from + ": more than " + std::to_string(max_bytes) + " bytes (--max-bytes)");
      }
      copied += size;
      if (!ec) {
        fs::copy_file(src, dst, ec);
      }
    }
    if (ec) {
      return fs_error(ec, "copy " + src.string() + " to " + dst.string());
    }
  }
  return copied;
}

}  // namespace tender::sidecar

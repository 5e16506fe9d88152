#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <set>

#include "core/sha256.hpp"
#include "pod/image_layout.hpp"
#include "pod/image_store_internal.hpp"

namespace tender::pod::image_store_detail {
namespace {

namespace fs = std::filesystem;

// The largest images.json: the store's own file, but read with a bound all the same.
constexpr std::size_t kMaxRecordsBytes = std::size_t{64} << 20;
// How often take_flock starts again when the file it locked was replaced meanwhile.
constexpr int kLockAttempts = 100;

bool is_hex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Result<std::vector<std::string>> record_strings(const boost::json::object& o,
                                                std::string_view key) {
  std::vector<std::string> out;
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) {
    return invalid_argument("images.json: an image without " + std::string(key));
  }
  for (const boost::json::value& item : v->get_array()) {
    if (!item.is_string() || !digest_hex(item.get_string())) {
      return invalid_argument("images.json: " + std::string(key) + " holds a bad digest");
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<StoredImage> parse_record(const boost::json::value& v) {
  const boost::json::object* o = v.if_object();
  if (o == nullptr) {
    return invalid_argument("images.json: an image is not an object");
  }
  StoredImage r;
  const auto* name = o->if_contains("name");
  const auto* digest = o->if_contains("digest");
  const auto* size = o->if_contains("size");
  const auto* arch = o->if_contains("architecture");
  if (name == nullptr || !name->is_string() || digest == nullptr || !digest->is_string() ||
      !digest_hex(digest->get_string()) || size == nullptr || !size->is_number() ||
      arch == nullptr || !arch->is_string()) {
    return invalid_argument("images.json: an image without name, digest, size or architecture");
  }
  r.name = std::string(name->get_string());
  r.digest = std::string(digest->get_string());
  boost::system::error_code ec;
  r.size = size->to_number<std::uint64_t>(ec);
  r.architecture = std::string(arch->get_string());
  auto blobs = record_strings(*o, "blobs");
  auto diff_ids = record_strings(*o, "diff_ids");
  if (ec || !blobs || !diff_ids) {
    return !blobs      ? blobs.error()
           : !diff_ids ? diff_ids.error()
                       : invalid_argument("images.json: a bad size");
  }
  r.blobs = std::move(*blobs);
  r.diff_ids = std::move(*diff_ids);
  return r;
}

}  // namespace

Result<std::string> read_file_bounded(const std::string& path, std::size_t max,
                                      std::string_view what) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return Error::from_errno(errno, std::string(what) + ": open " + path);
  }
  std::string out;
  char buf[64 << 10];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::from_errno(errno, std::string(what) + ": read " + path);
    }
    if (n == 0) {
      return Result<std::string>(boost::system::in_place_value, std::move(out));
    }
    if (out.size() + static_cast<std::size_t>(n) > max) {
      return Error(std::errc::file_too_large, std::string(what) + ": " + path + " is larger than " +
                                                  std::to_string(max) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

Result<> replace_file(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    return Error::from_errno(errno, "create " + tmp);
  }
  while (!bytes.empty()) {
    ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return Error::from_errno(err, "write " + tmp);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::from_errno(err, "replace " + path);
  }
  return {};
}

std::string blob_path(const std::string& dir, std::string_view digest) {
  return dir + "/oci/blobs/sha256/" + std::string(digest.substr(digest.find(':') + 1));
}

Result<std::string> read_blob(const std::string& dir, std::string_view digest, std::size_t max) {
  auto hex = digest_hex(digest);
  if (!hex) {
    return hex.error();
  }
  auto bytes = read_file_bounded(blob_path(dir, digest), max, "blob " + std::string(digest));
  if (!bytes) {
    return bytes.error();
  }
  if (sha256_hex(*bytes) != *hex) {
    return Error(std::errc::illegal_byte_sequence,
                 "blob " + std::string(digest) + " does not match its digest (corrupt store?)");
  }
  return bytes;
}

Result<Fd> take_flock(const std::string& path, int operation) {
  for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) {
      return Error::from_errno(errno, "open " + path);
    }
    while (::flock(fd.get(), operation) != 0) {
      if (errno != EINTR) {
        if (errno == EWOULDBLOCK) {
          return Error(std::errc::operation_would_block, path + " is locked");
        }
        return Error::from_errno(errno, "flock " + path);
      }
    }
    struct stat held {};
    struct stat named {};
    if (::fstat(fd.get(), &held) != 0) {
      return Error::from_errno(errno, "fstat " + path);
    }
    if (::stat(path.c_str(), &named) == 0 && named.st_ino == held.st_ino &&
        named.st_dev == held.st_dev) {
      return fd;
    }
  }
  return Error(std::errc::resource_unavailable_try_again,
               path + " kept being replaced while locking it");
}

Result<std::vector<StoredImage>> parse_records(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  const boost::json::value* images = nullptr;
  if (!ec && doc.is_object()) {
    images = doc.get_object().if_contains("images");
  }
  if (images == nullptr || !images->is_array()) {
    return invalid_argument("images.json: not an object with a list of images");
  }
  std::vector<StoredImage> out;
  for (const boost::json::value& v : images->get_array()) {
    auto r = parse_record(v);
    if (!r) {
      return r.error();
    }
    out.push_back(std::move(*r));
  }
  return out;
}

std::string serialize_records(const std::vector<StoredImage>& all) {
  boost::json::array images;
  for (const StoredImage& r : all) {
    boost::json::array blobs(r.blobs.begin(), r.blobs.end());
    boost::json::array diff_ids(r.diff_ids.begin(), r.diff_ids.end());
    images.push_back(boost::json::object{{"name", r.name},
                                         {"digest", r.digest},
                                         {"size", r.size},
                                         {"architecture", r.architecture},
                                         {"blobs", std::move(blobs)},
                                         {"diff_ids", std::move(diff_ids)}});
  }
  return boost::json::serialize(boost::json::object{{"images", std::move(images)}}) + "\n";
}

Result<std::vector<StoredImage>> read_records(const std::string& dir) {
  std::string path = dir + "/images.json";
  auto text = read_file_bounded(path, kMaxRecordsBytes, "the image store's index");
  if (!text) {
    if (text.error().code() == std::errc::no_such_file_or_directory) {
      return std::vector<StoredImage>{};
    }
    return text.error();
  }
  auto records = parse_records(*text);
  if (!records) {
    return records.error().with_context(path);
  }
  return records;
}

Result<> write_records(const std::string& dir, const std::vector<StoredImage>& all) {
  return replace_file(dir + "/images.json", serialize_records(all));
}

Result<Collected> collect_garbage(const std::string& dir, const std::vector<StoredImage>& images) {
  std::set<std::string, std::less<>> blobs;
  std::set<std::string, std::less<>> layers;
  for (const StoredImage& r : images) {
    for (const std::string& b : r.blobs) {
      blobs.insert(b.substr(b.find(':') + 1));
    }
    for (const std::string& d : r.diff_ids) {
      layers.insert(d.substr(d.find(':') + 1));
    }
  }
  Collected done;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/oci/blobs/sha256", ec)) {
    std::string name = e.path().filename();
    if (is_hex64(name) && !blobs.contains(name) && fs::remove(e.path(), ec)) {
      ++done.blobs;
    }
  }
  // skopeo writes a blob to a temporary file in the layout's top directory, then renames it;
  // with the store lock held no skopeo runs, so one left there is a crashed copy's.
  for (const auto& e : fs::directory_iterator(dir + "/oci", ec)) {
    if (std::string(e.path().filename()).starts_with("oci-put-blob")) {
      fs::remove_all(e.path(), ec);
    }
  }
  std::string layers_dir = dir + "/layers";
  std::set<std::string> seen;  // the hex of every layer, lock file or staging there
  for (const auto& e : fs::directory_iterator(layers_dir, ec)) {
    std::string name = e.path().filename();
    std::string_view hex = name;
    if (hex.starts_with(".tmp-") || hex.starts_with(".rm-")) {
      hex.remove_prefix(hex.find('-') + 1);
    }
    hex = hex.substr(0, 64);
    if (is_hex64(hex)) {
      seen.emplace(hex);
    }
  }
  for (const std::string& hex : seen) {
    auto lock = take_flock(layer_lock_path(dir, hex), LOCK_EX | LOCK_NB);
    if (!lock) {  // a container uses it, or it is being unpacked
      done.layers_kept += layers.contains(hex) ? 0 : 1;
      continue;
    }
    // Locked exclusively: no process is unpacking it, so stagings of it are leftovers.
    for (const auto& e : fs::directory_iterator(layers_dir, ec)) {
      std::string name = e.path().filename();
      if (name.starts_with(".tmp-" + hex) || name.starts_with(".rm-" + hex)) {
        fs::remove_all(e.path(), ec);
      }
    }
    if (layers.contains(hex)) {
      continue;
    }
    // Renamed away first, so that a remove cut short never leaves a part that looks whole.
    std::string whole = layers_dir + '/';
    whole += hex;
    std::string doomed = layers_dir + "/.rm-";
    doomed += hex;
    doomed += "-" + std::to_string(::getpid());
    if (::rename(whole.c_str(), doomed.c_str()) == 0) {
      ++done.layers;
    }
    ::unlink(layer_lock_path(dir, hex).c_str());
    lock->reset();
    fs::remove_all(doomed, ec);
  }
  return done;
}

}  // namespace tender::pod::image_store_detail

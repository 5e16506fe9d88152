#include "core/tar_check.hpp"
#include "core/file_chunks.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "core/fd.hpp"
#include "core/sha256.hpp"

namespace tender {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::uint64_t kMaxMeta = std::uint64_t{1} << 20;  // a long name or pax header

Error refuse(const std::string& message) { return Error(std::errc::invalid_argument, message); }

std::string field(const char* block, std::size_t off, std::size_t len) {
  const char* p = block + off;
  return std::string(p, strnlen(p, len));
}

Result<std::uint64_t> number(const char* block, std::size_t off, std::size_t len) {
  const auto* p = reinterpret_cast<const unsigned char*>(block + off);
  if ((p[0] & 0x80) != 0) {  // base-256 (GNU), for sizes past 8 GiB
    std::uint64_t v = p[0] & 0x7f;
    for (std::size_t i = 1; i < len; ++i) {
      if (v > (UINT64_MAX >> 8)) {
        return refuse("a header number overflows");
      }
      v = (v << 8) | p[i];
    }
    return v;
  }
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < len && p[i] == ' ') {
    ++i;
  }
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v > (UINT64_MAX >> 3)) {
      return refuse("a header number overflows");
    }
    v = (v << 3) | static_cast<std::uint64_t>(p[i] - '0');
  }
  if (i < len && p[i] != ' ' && p[i] != '\0') {
    return refuse("a header number is not octal");
  }
  return v;
}

std::uint64_t padding(std::uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

bool all_zero(const char* block) {
  return std::all_of(block, block + kBlock, [](char c) { return c == 0; });
}

}  // namespace

Result<std::string> normal_member_name(std::string_view name) {
  if (name.starts_with('/')) {
    return refuse("absolute path");
  }
  std::string out;
  out.reserve(name.size());
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t slash = name.find('/', pos);
    std::string_view part =
        name.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (part == "..") {
      return refuse("a \"..\" component");
    }
    if (!part.empty() && part != ".") {
      if (!out.empty()) {
        out += '/';
      }
      out += part;
    }
    if (slash == std::string_view::npos) {
      break;
    }
    pos = slash + 1;
  }
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

Result<> TarChecker::feed(std::string_view bytes) {
  if (failed_) {
    return refuse("the archive was already refused");
  }
  fed_ += bytes.size();
  while (!bytes.empty() && !ended_) {
    if (skip_ > 0) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, bytes.size()));
      skip_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    if (meta_left_ > 0 || meta_pad_ > 0) {
      if (meta_left_ > 0) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(meta_left_, bytes.size()));
        meta_.append(bytes.substr(0, n));
        meta_left_ -= n;
        bytes.remove_prefix(n);
      } else {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(meta_pad_, bytes.size()));
        meta_pad_ -= n;
        bytes.remove_prefix(n);
      }
      if (meta_left_ == 0 && meta_pad_ == 0) {
        if (auto r = meta_done(); !r) {
          failed_ = true;
          return r;
        }
      }
      continue;
    }
    std::size_t n = std::min(kBlock - block_.size(), bytes.size());
    block_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (block_.size() == kBlock) {
      auto r = header(block_.data());
      block_.clear();
      if (!r) {
        failed_ = true;
        return r;
      }
    }
  }
  return {};
}

Result<> TarChecker::header(const char* block) {
  if (all_zero(block)) {
    if (++zero_blocks_ >= 2) {
      ended_ = true;
    }
    return {};
  }
  zero_blocks_ = 0;
  unsigned sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
  }
  auto stored = number(block, 148, 8);
  if (!stored || *stored != sum) {
    return refuse("not a tar archive (a header's checksum is wrong)");
  }
  auto size = number(block, 124, 12);
  if (!size) {
    return size.error();
  }
  char type = block[156];
  if (type == 'L' || type == 'K' || type == 'x') {
    if (*size > kMaxMeta) {
      return refuse("a long name or pax header of " + std::to_string(*size) + " bytes");
    }
    meta_type_ = type;
    meta_.clear();
    meta_left_ = *size;
    meta_pad_ = padding(*size);
    return *size == 0 ? meta_done() : Result<>{};
  }
  if (type == 'g') {  // global pax header: nothing in it changes a name
    skip_ = *size + padding(*size);
    return {};
  }
  std::string name = next_name_;
  std::string link = next_link_;
  std::uint64_t data = has_next_size_ ? next_size_ : *size;
  next_name_.clear();
  next_link_.clear();
  has_next_size_ = false;
  bool posix = std::memcmp(block + 257, "ustar\0", 6) == 0;
  if (name.empty()) {
    name = field(block, 0, 100);
    std::string prefix = posix ? field(block, 345, 155) : "";
    if (!prefix.empty()) {
      name = prefix + "/" + name;
    }
  }
  if (link.empty()) {
    link = field(block, 157, 100);
  }
  if (auto r = member(type, name, link); !r) {
    return r;
  }
  if (type == '0' || type == '\0' || type == '7') {
    summary_.bytes += data;
  }
  skip_ = data + padding(data);
  return {};
}

Result<> TarChecker::meta_done() {
  std::string text;
  text.swap(meta_);
  if (meta_type_ == 'L' || meta_type_ == 'K') {
    std::string value = text.substr(0, text.find('\0'));
    (meta_type_ == 'L' ? next_name_ : next_link_) = value;
    return {};
  }
  // pax: records "LEN key=value\n"
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t space = text.find(' ', pos);
    if (space == std::string::npos) {
      return refuse("a malformed pax header");
    }
    std::size_t len = 0;
    for (std::size_t i = pos; i < space; ++i) {
      if (text[i] < '0' || text[i] > '9' || len > kMaxMeta) {
        return refuse("a malformed pax header");
      }
      len = len * 10 + static_cast<std::size_t>(text[i] - '0');
    }
    if (len <= space - pos + 1 || pos + len > text.size() || text[pos + len - 1] != '\n') {
      return refuse("a malformed pax header");
    }
    std::string record = text.substr(space + 1, pos + len - space - 2);
    pos += len;
    std::size_t eq = record.find('=');
    if (eq == std::string::npos) {
      return refuse("a malformed pax header");
    }
    std::string key = record.substr(0, eq);
    std::string value = record.substr(eq + 1);
    if (key == "path") {
      next_name_ = value;
    } else if (key == "linkpath") {
      next_link_ = value;
    } else if (key == "size") {
      std::uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || v > UINT64_MAX / 10 - 10) {
          return refuse("a malformed pax size");
        }
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      next_size_ = v;
      has_next_size_ = true;
    }
  }
  return {};
}

Result<> TarChecker::member(char type, const std::string& name, const std::string& link) {
  auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
  auto norm = normal_member_name(name);
  if (!norm) {
    return refuse("member " + quoted(name) + ": " + norm.error().message());
  }
  // Every directory on the way, and the member itself, must not be a symlink made earlier.
  auto through_symlink = [this](const std::string& path) -> std::string {
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (symlinks_.contains(path.substr(0, slash))) {
        return path.substr(0, slash);
      }
    }
    return "";
  };
  if (std::string via = through_symlink(*norm); !via.empty()) {
    return refuse("member " + quoted(name) + " goes through the symlink " + quoted(via));
  }
  if (symlinks_.contains(*norm)) {
    return refuse("member " + quoted(name) + " replaces the symlink of the same name");
  }
  switch (type) {
    case '0':
    case '\0':
    case '7':
    case '5':
      break;
    case '2':
      symlinks_.insert(*norm);
      break;
    case '1': {
      auto target = normal_member_name(link);
      if (!target) {
        return refuse("hard link " + quoted(name) + " to " + quoted(link) + ": " +
                      target.error().message());
      }
      if (std::string via = through_symlink(*target); !via.empty()) {
        return refuse("hard link " + quoted(name) + " goes through the symlink " + quoted(via));
      }
      break;
    }
    default:
      return refuse("member " + quoted(name) + ": type '" + std::string(1, type) +
                    "' (a device, FIFO or unknown type) is not allowed");
  }
  ++summary_.members;
  return {};
}

Result<TarSummary> TarChecker::finish() const {
  if (failed_) {
    return refuse("the archive was refused");
  }
  if (fed_ == 0) {
    return refuse("an empty archive");
  }
  if (!ended_ && (!block_.empty() || skip_ > 0 || meta_left_ > 0 || meta_pad_ > 0)) {
    return refuse("the archive is truncated");
  }
  return summary_;
}

Result<TarSummary> check_tar_file(const std::string& path) {
  TarChecker checker;
  auto read = read_chunks(path, std::size_t{64} << 10,
                          [&checker](std::string_view bytes) { return checker.feed(bytes); });
  if (!read) {
    return read.error();
  }
  return checker.finish();
}

bool is_gzip(std::string_view head) {
  return head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
         static_cast<unsigned char>(head[1]) == 0x8b;
}

namespace {

// Hands the file at `fd` (named `path`) to `piece` in pieces until its end or a failure.
Result<> read_pieces(int fd, const std::string& path,
                     const std::function<Result<>(std::string_view)>& piece) {
  std::vector<char> buf(std::size_t{256} << 10);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::from_errno(errno, "read " + path);
    }
    if (n == 0) {
      return {};
    }
    if (auto r = piece(std::string_view(buf.data(), static_cast<std::size_t>(n))); !r) {
      return r;
    }
  }
}

Result<> write_fully(int fd, const std::string& path, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t w = ::write(fd, bytes.data(), bytes.size());
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::from_errno(errno, "write " + path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
  return {};
}

// zlib's inflate over every gzip member of a stream fed in pieces, with a bound on what comes
// out. `name` (the file) and `limit_name` (the setting that bounds it) go into messages.
class GzipInflater {
 public:
  GzipInflater(std::string name, std::uint64_t max_bytes, std::string_view limit_name)
      : name_(std::move(name)), max_bytes_(max_bytes), limit_name_(limit_name) {}
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;
  ~GzipInflater() {
    if (started_) {
      inflateEnd(&z_);
    }
  }

  Result<> feed(std::string_view in, const std::function<Result<>(std::string_view)>& out) {
    if (!started_) {
      if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
        return Error(std::errc::not_enough_memory, "gunzip: cannot start zlib");
      }
      started_ = true;
    }
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    while (z_.avail_in > 0) {
      if (ended_) {  // another gzip member follows
        inflateReset(&z_);
        ended_ = false;
      }
      z_.next_out = obuf_.data();
      z_.avail_out = static_cast<uInt>(obuf_.size());
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return Error(std::errc::illegal_byte_sequence,
                     name_ + ": corrupt gzip data" + (z_.msg ? std::string(": ") + z_.msg : ""));
      }
      std::size_t produced = obuf_.size() - z_.avail_out;
      written_ += produced;
      if (written_ > max_bytes_) {
        return Error(std::errc::file_too_large, name_ + ": unpacks to more than " +
                                                    std::to_string(max_bytes_) + " bytes (" +
                                                    limit_name_ + ")");
      }
      if (produced > 0) {
        auto r = out(std::string_view(reinterpret_cast<const char*>(obuf_.data()), produced));
        if (!r) {
          return r;
        }
      }
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_BUF_ERROR && produced == 0) {
        break;
      }
    }
    return {};
  }

  // After the last piece: fails if the last member was cut short (or nothing came).
  [[nodiscard]] Result<std::uint64_t> finish() const {
    if (!ended_) {
      return Error(std::errc::illegal_byte_sequence, name_ + ": truncated gzip data");
    }
    return written_;
  }

 private:
  std::string name_;
  std::uint64_t max_bytes_;
  std::string limit_name_;
  z_stream z_{};
  bool started_ = false;
  bool ended_ = false;
  std::uint64_t written_ = 0;
  std::vector<unsigned char> obuf_ = std::vector<unsigned char>(std::size_t{256} << 10);
};

}  // namespace

Result<std::uint64_t> gunzip_file(const std::string& in, const std::string& out,
                                  std::uint64_t max_bytes) {
  Fd src(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) {
    return Error::from_errno(errno, "open " + in);
  }
  Fd dst(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!dst) {
    return Error::from_errno(errno, "create " + out);
  }
  GzipInflater gunzip(in, max_bytes, "--max-bytes");
  auto write_out = [&](std::string_view bytes) { return write_fully(dst.get(), out, bytes); };
  auto read = read_pieces(src.get(), in,
                          [&](std::string_view piece) { return gunzip.feed(piece, write_out); });
  auto written = read ? gunzip.finish() : Result<std::uint64_t>(read.error());
  if (!written) {
    ::unlink(out.c_str());
  }
  return written;
}

Result<ScannedArchive> scan_archive(const std::string& in, ArchiveCompression compression,
                                    const std::string& out, std::uint64_t max_bytes,
                                    std::string_view limit_name) {
  Fd src(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) {
    return Error::from_errno(errno, "open " + in);
  }
  bool gzip = compression == ArchiveCompression::kGzip;
  Fd dst;
  if (gzip) {
    dst = Fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!dst) {
      return Error::from_errno(errno, "create " + out);
    }
  }
  Sha256 file_hash;
  Sha256 tar_hash;
  TarChecker checker;
  ScannedArchive scanned;
  auto plain = [&](std::string_view bytes) -> Result<> {
    tar_hash.update(bytes);
    scanned.tar_bytes += bytes.size();
    if (auto r = checker.feed(bytes); !r) {
      return r;
    }
    return gzip ? write_fully(dst.get(), out, bytes) : Result<>{};
  };
  GzipInflater gunzip(in, max_bytes, limit_name);
  auto read = read_pieces(src.get(), in, [&](std::string_view piece) -> Result<> {
    file_hash.update(piece);
    scanned.file_bytes += piece.size();
    if (gzip) {
      return gunzip.feed(piece, plain);
    }
    if (scanned.file_bytes > max_bytes) {
      return Error(std::errc::file_too_large, in + ": holds more than " +
                                                  std::to_string(max_bytes) + " bytes (" +
                                                  std::string(limit_name) + ")");
    }
    return plain(piece);
  });
  Result<ScannedArchive> result = read.error();
  if (read) {
    auto gunzipped = gzip ? gunzip.finish() : Result<std::uint64_t>(scanned.tar_bytes);
    auto summary = checker.finish();
    if (!gunzipped) {
      result = gunzipped.error();
    } else if (!summary) {
      result = summary.error();
    } else {
      scanned.summary = *summary;
      scanned.file_sha256 = file_hash.hex_digest();
      scanned.tar_sha256 = tar_hash.hex_digest();
      result = std::move(scanned);
    }
  }
  if (!result && gzip) {
    ::unlink(out.c_str());
  }
  return result;
}

}  // namespace tender

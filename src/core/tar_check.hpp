#pragma once
// Checking a tar archive before `tar -x` unpacks it into a new tree, and gunzip with a bound.
// No I/O but reading and writing the files named.
//
//   if (is_gzip(first_bytes)) {
//     auto n = gunzip_file("/c/download", "/c/download.tar", max_bytes);   // bounded output
//   }
//   auto summary = check_tar_file("/c/download.tar");   // Error naming the hostile member
//
// A member is refused (and with it the archive) when:
//   - its name is absolute, or has a ".." component;
//   - its path goes through a symlink an earlier member made (a write outside the tree
//     through that link), or replaces such a symlink;
//   - it is a hard link whose target is absolute, has "..", or goes through such a symlink;
//   - it is a device, a FIFO, or a type this checker does not know.
// Symlinks themselves may point anywhere (a site may link to /etc/hostname; the content is the
// user's); only writing through one is refused. GNU long names ('L', 'K') and pax headers
// ('x' path and linkpath) are followed, so a name cannot hide in them. GNU tar refuses most of
// this too; this check makes the refusal an error that names the member rather than a warning.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tender {

struct TarSummary {
  std::uint64_t members = 0;
  std::uint64_t bytes = 0;  // of file contents
};

// Feeds a plain (uncompressed) tar stream in pieces of any size.
class TarChecker {
 public:
  // Checks what `bytes` completes. Fails with invalid_argument naming the member and why
  // (after which the checker stays failed), or with a malformed header.
  [[nodiscard]] Result<> feed(std::string_view bytes);
  // After the last byte: fails if the archive ended inside a header or member.
  [[nodiscard]] Result<TarSummary> finish() const;

 private:
  [[nodiscard]] Result<> header(const char* block);
  [[nodiscard]] Result<> member(char type, const std::string& name, const std::string& link);
  [[nodiscard]] Result<> meta_done();

  std::string block_;            // a header being assembled
  std::uint64_t skip_ = 0;       // data bytes (with padding) to pass over
  std::string meta_;             // the data of a 'L', 'K' or 'x' member being collected
  char meta_type_ = 0;           // which
  std::uint64_t meta_left_ = 0;  // its data bytes still to collect
  std::uint64_t meta_pad_ = 0;
  std::string next_name_;        // from 'L' or pax path
  std::string next_link_;        // from 'K' or pax linkpath
  std::uint64_t next_size_ = 0;  // from pax size
  bool has_next_size_ = false;
  std::uint64_t fed_ = 0;
  bool ended_ = false;  // two zero blocks seen
  std::set<std::string> symlinks_;
  TarSummary summary_;
  int zero_blocks_ = 0;
  bool failed_ = false;
};

// Checks the plain tar file at `path`. Fails as TarChecker does, or with the errno of reading.
[[nodiscard]] Result<TarSummary> check_tar_file(const std::string& path);

// The member name as tar would write it under the tree: "./" prefixes and repeated slashes
// dropped. Fails for an absolute name or a ".." component.
[[nodiscard]] Result<std::string> normal_member_name(std::string_view name);

// True if `head` starts with gzip's magic bytes.
[[nodiscard]] bool is_gzip(std::string_view head);

// What one read of an archive (an image layer) found: the SHA-256 of its bytes as stored, and
// of the plain tar stream (the same as the first when it was not compressed).
struct ScannedArchive {
  std::string file_sha256;  // hex
  std::string tar_sha256;   // hex
  std::uint64_t file_bytes = 0;
  std::uint64_t tar_bytes = 0;
  TarSummary summary;
};

enum class ArchiveCompression { kNone, kGzip };

// Reads the archive `in` once: hashes it, gunzips it if `compression` is kGzip (into `out`, the
// plain tar that `tar -x` will then read; `out` is not written for kNone), hashes the tar
// stream and checks it with a TarChecker. Fails as gunzip_file does (`out` removed; the bound
// `max_bytes` applies to the tar stream, named `limit_name` in the message), or as TarChecker
// does. Either way nothing is left at `out`.
[[nodiscard]] Result<ScannedArchive> scan_archive(const std::string& in,
                                                  ArchiveCompression compression,
                                                  const std::string& out, std::uint64_t max_bytes,
                                                  std::string_view limit_name);

// Decompresses the gzip file `in` (every member, as gunzip does) into `out`. Fails with
// file_too_large when more than `max_bytes` would be written (the part is removed), with
// illegal_byte_sequence for corrupt data, or with the errno of reading or writing.
[[nodiscard]] Result<std::uint64_t> gunzip_file(const std::string& in, const std::string& out,
                                                std::uint64_t max_bytes);

}  // namespace tender

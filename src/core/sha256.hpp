#pragma once
// SHA-256 (FIPS 180-4), written here so that checking an image's blobs takes no new library.
// Streaming: feed the bytes in pieces of any size, then ask for the digest once.
//
//   tender::Sha256 h;
//   h.update(first_part);
//   h.update(second_part);
//   std::string hex = h.hex_digest();           // 64 lowercase hex digits
//
//   auto file = tender::sha256_file("/var/lib/tender/images/oci/blobs/sha256/ab...");
//
// Not thread-safe: one hasher belongs to one thread at a time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tender {

class Sha256 {
 public:
  Sha256();
  // Adds `bytes` to the message. Must not be called after a digest was taken.
  void update(std::string_view bytes);
  // The digest of everything fed, as 32 bytes or as 64 lowercase hex digits. Either ends the
  // message: call one of them once.
  [[nodiscard]] std::array<std::uint8_t, 32> digest();
  [[nodiscard]] std::string hex_digest();

 private:
  void block(const std::uint8_t* p);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes fed
};

// The hex digest of one message, for short inputs.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

// The hex digest of the file at `path`, read in pieces. Fails with the errno of opening or
// reading, the message naming the path.
[[nodiscard]] Result<std::string> sha256_file(const std::string& path);

}  // namespace tender

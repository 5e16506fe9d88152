#pragma once
// HPACK (RFC 7541), the header compression of HTTP/2, for core's small HTTP/2 client (the gRPC
// health probe, core/grpc_health.hpp): a decoder that keeps the dynamic table of one connection,
// Huffman coding, and the one representation the client writes (a literal field without
// indexing and without Huffman coding, which every decoder reads and which leaves the peer's
// table alone). Pure functions and a class with no I/O; every input is treated as hostile.
//
//   hpack::Decoder dec;                          // one per connection, blocks in order
//   auto fields = dec.decode(block);             // every HEADERS block, whatever its stream
//   if (!fields) { fail(fields.error()); }       // the connection is broken (COMPRESSION_ERROR)
//
//   std::string block;
//   hpack::encode_literal(block, ":method", "POST");
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::hpack {

struct Field {
  std::string name;
  std::string value;
  friend bool operator==(const Field&, const Field&) = default;
};

// The size of a field as the table and SETTINGS_MAX_HEADER_LIST_SIZE count it (RFC 7541 4.1).
[[nodiscard]] inline std::size_t field_size(std::string_view name, std::string_view value) {
  return name.size() + value.size() + 32;
}

// Decodes Huffman-coded `in` (RFC 7541 5.2). Fails (errc::protocol_error) on a code that is not
// in the table, on EOS, on padding longer than 7 bits or not made of ones, and
// (errc::message_size) when the output would pass `max_out` bytes.
[[nodiscard]] Result<std::string> huffman_decode(std::string_view in, std::size_t max_out);
// `in` Huffman-coded, padded with ones.
[[nodiscard]] std::string huffman_encode(std::string_view in);

// Appends `value` as an HPACK integer with an N-bit prefix (1 <= prefix_bits <= 8); `first` holds
// the bits above the prefix in the first byte.
void encode_integer(std::string& out, std::uint64_t value, int prefix_bits, std::uint8_t first);
// Appends name: value as a literal header field without indexing, with a new name, neither string
// Huffman-coded (RFC 7541 6.2.2).
void encode_literal(std::string& out, std::string_view name, std::string_view value);

// The decoder of one connection's header blocks. Not thread-safe; blocks must be decoded in the
// order they came, all of them (a block a caller does not care about still changes the table).
class Decoder {
 public:
  // `max_table_size`: SETTINGS_HEADER_TABLE_SIZE as this side announced it (4096 by default):
  // the most a dynamic table size update may ask for. `max_list_size`: the most a block may
  // decode to, counted as field_size() counts (SETTINGS_MAX_HEADER_LIST_SIZE).
  explicit Decoder(std::size_t max_table_size = 4096, std::size_t max_list_size = 16384);

  // The fields of one complete header block, in order. Fails (errc::protocol_error, "HPACK:
  // ...") on malformed input: an index out of the tables, an integer or string that runs past
  // the block or overflows, bad Huffman code, a table size update above the limit or after a
  // field; (errc::message_size) when the fields pass max_list_size. After a failure the table is
  // unreliable: the connection must be dropped.
  [[nodiscard]] Result<std::vector<Field>> decode(std::string_view block);

  // The dynamic table's size as RFC 7541 counts it, and its entries, newest first.
  [[nodiscard]] std::size_t table_size() const { return size_; }
  [[nodiscard]] const std::deque<Field>& table() const { return table_; }

 private:
  Result<Field> field_at(std::uint64_t index) const;
  void insert(Field f);
  void evict_to(std::size_t limit);

  std::size_t max_table_size_;
  std::size_t max_list_size_;
  std::size_t capacity_;  // the current limit, as the last size update set it
  std::size_t size_ = 0;
  std::deque<Field> table_;  // newest first: index 62 is table_[0]
};

}  // namespace tender::hpack

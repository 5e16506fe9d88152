#include "core/hpack.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace tender::hpack {
namespace {

// RFC 7541 Appendix A.
constexpr std::array<std::pair<std::string_view, std::string_view>, 61> kStatic{{
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
}};

// The bit length of each symbol's Huffman code (RFC 7541 Appendix B), 0 to 255 and EOS (256).
// The code is canonical: codes of one length are consecutive in symbol order, and shorter codes
// come first, so the lengths determine the codes.
constexpr std::array<std::uint8_t, 257> kCodeLength{
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,  // 0
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,  // 16
    6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,   // 32 ' '
    5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10,  // 48 '0'
    13, 6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,   // 64 '@'
    7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,   // 80 'P'
    15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,   // 96 '`'
    6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7,  15, 11, 14, 13, 28,  // 112 'p'
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,  // 128
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,  // 144
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,  // 160
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,  // 176
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,  // 192
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,  // 208
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,  // 224
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,  // 240
    30,                                                              // EOS
};
constexpr int kMaxCodeLength = 30;
constexpr int kEos = 256;

// The canonical code laid out for decoding one bit at a time: the codes of length L are
// first[L] .. first[L] + count[L] - 1, for the symbols sorted[offset[L]] onwards.
struct Canonical {
  std::array<std::uint32_t, kMaxCodeLength + 1> first{};
  std::array<std::uint32_t, kMaxCodeLength + 1> count{};
  std::array<std::uint16_t, kMaxCodeLength + 1> offset{};
  std::array<std::uint16_t, 257> sorted{};
  std::array<std::uint32_t, 257> code{};  // each symbol's code, right-aligned
};

constexpr Canonical make_canonical() {
  Canonical c;
  std::uint32_t next = 0;
  std::uint16_t n = 0;
  for (int len = 1; len <= kMaxCodeLength; ++len) {
    c.first[len] = next;
    c.offset[len] = n;
    for (int sym = 0; sym <= kEos; ++sym) {
      if (kCodeLength[sym] == len) {
        c.code[sym] = next++;
        c.sorted[n++] = static_cast<std::uint16_t>(sym);
        ++c.count[len];
      }
    }
    next <<= 1;
  }
  return c;
}
constexpr Canonical kCanonical = make_canonical();
// A complete code: the last code of the longest length is all ones (EOS).
static_assert(kCanonical.code[kEos] == (1U << kMaxCodeLength) - 1);

Error malformed(std::string what) {
  return {std::errc::protocol_error, "HPACK: " + std::move(what)};
}

// Reads an integer with an N-bit prefix from the front of `in`. Values above 2^32 are refused:
// no length or index of a bounded block comes near.
Result<std::uint64_t> decode_integer(std::string_view& in, int prefix_bits) {
  if (in.empty()) {
    return malformed("integer runs past the end of the block");
  }
  const std::uint64_t max_prefix = (1U << prefix_bits) - 1;
  std::uint64_t v = static_cast<std::uint8_t>(in.front()) & max_prefix;
  in.remove_prefix(1);
  if (v < max_prefix) {
    return v;
  }
  for (int shift = 0;; shift += 7) {
    if (in.empty()) {
      return malformed("integer runs past the end of the block");
    }
    if (shift > 28) {
      return malformed("integer too large");
    }
    const auto b = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    v += static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      return v;
    }
  }
}

// Reads a string literal (RFC 7541 5.2) from the front of `in`, at most `max_out` bytes once
// decoded.
Result<std::string> decode_string(std::string_view& in, std::size_t max_out) {
  if (in.empty()) {
    return malformed("string runs past the end of the block");
  }
  const bool huffman = (static_cast<std::uint8_t>(in.front()) & 0x80) != 0;
  auto len = decode_integer(in, 7);
  if (!len) {
    return len.error();
  }
  if (*len > in.size()) {
    return malformed("string of " + std::to_string(*len) + " bytes runs past the end of the block");
  }
  std::string_view raw = in.substr(0, *len);
  in.remove_prefix(*len);
  if (huffman) {
    return huffman_decode(raw, max_out);
  }
  if (raw.size() > max_out) {
    return Error(std::errc::message_size,
                 "HPACK: header list larger than " + std::to_string(max_out) + " bytes");
  }
  return Result<std::string>(boost::system::in_place_value, std::string(raw));
}

}  // namespace

Result<std::string> huffman_decode(std::string_view in, std::size_t max_out) {
  std::string out;
  std::uint32_t code = 0;
  int len = 0;
  for (char ch : in) {
    const auto byte = static_cast<std::uint8_t>(ch);
    for (int bit = 7; bit >= 0; --bit) {
      code = (code << 1) | ((byte >> bit) & 1U);
      if (++len > kMaxCodeLength) {
        return malformed("Huffman code longer than 30 bits");  // cannot be: the code is complete
      }
      // Not a code of this length: the code so far is the start of a longer one.
      if (code - kCanonical.first[len] >= kCanonical.count[len]) {
        continue;
      }
      const int sym = kCanonical.sorted[kCanonical.offset[len] + code - kCanonical.first[len]];
      if (sym == kEos) {
        return malformed("Huffman string holds EOS");
      }
      if (out.size() == max_out) {
        return Error(std::errc::message_size,
                     "HPACK: header list larger than " + std::to_string(max_out) + " bytes");
      }
      out.push_back(static_cast<char>(sym));
      code = 0;
      len = 0;
    }
  }
  if (len > 7) {
    return malformed("Huffman padding longer than 7 bits");
  }
  if (code != (1U << len) - 1) {
    return malformed("Huffman padding is not the start of EOS");
  }
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

std::string huffman_encode(std::string_view in) {
  std::string out;
  std::uint64_t bits = 0;  // pending bits, right-aligned
  int n = 0;
  for (char ch : in) {
    const auto sym = static_cast<std::uint8_t>(ch);
    bits = (bits << kCodeLength[sym]) | kCanonical.code[sym];
    n += kCodeLength[sym];
    while (n >= 8) {
      n -= 8;
      out.push_back(static_cast<char>((bits >> n) & 0xff));
    }
  }
  if (n > 0) {
    out.push_back(static_cast<char>(((bits << (8 - n)) | ((1U << (8 - n)) - 1)) & 0xff));
  }
  return out;
}

void encode_integer(std::string& out, std::uint64_t value, int prefix_bits, std::uint8_t first) {
  const std::uint64_t max_prefix = (1U << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void encode_literal(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(0);  // literal without indexing, new name
  encode_integer(out, name.size(), 7, 0);
  out += name;
  encode_integer(out, value.size(), 7, 0);
  out += value;
}

Decoder::Decoder(std::size_t max_table_size, std::size_t max_list_size)
    : max_table_size_(max_table_size), max_list_size_(max_list_size), capacity_(max_table_size) {}

Result<Field> Decoder::field_at(std::uint64_t index) const {
  if (index == 0) {
    return malformed("index 0");
  }
  if (index <= kStatic.size()) {
    const auto& [name, value] = kStatic[index - 1];
    return Field{std::string(name), std::string(value)};
  }
  if (index - kStatic.size() > table_.size()) {
    return malformed("index " + std::to_string(index) + " is past the table (" +
                     std::to_string(kStatic.size() + table_.size()) + " entries)");
  }
  return table_[index - kStatic.size() - 1];
}

void Decoder::evict_to(std::size_t limit) {
  while (size_ > limit) {
    size_ -= field_size(table_.back().name, table_.back().value);
    table_.pop_back();
  }
}

void Decoder::insert(Field f) {
  const std::size_t n = field_size(f.name, f.value);
  if (n > capacity_) {
    evict_to(0);  // not an error (RFC 7541 4.4): the table ends up empty
    return;
  }
  evict_to(capacity_ - n);
  size_ += n;
  table_.push_front(std::move(f));
}

Result<std::vector<Field>> Decoder::decode(std::string_view block) {
  std::vector<Field> out;
  std::size_t list_size = 0;
  while (!block.empty()) {
    const auto b = static_cast<std::uint8_t>(block.front());
    if ((b & 0xe0) == 0x20) {  // dynamic table size update
      auto size = decode_integer(block, 5);
      if (!size) {
        return size.error();
      }
      if (!out.empty()) {
        return malformed("table size update after a field");
      }
      if (*size > max_table_size_) {
        return malformed("table size " + std::to_string(*size) + " above the " +
                         std::to_string(max_table_size_) + " allowed");
      }
      capacity_ = *size;
      evict_to(capacity_);
      continue;
    }
    const bool indexed = (b & 0x80) != 0;
    const bool incremental = (b & 0xc0) == 0x40;
    auto index = decode_integer(block, indexed ? 7 : incremental ? 6 : 4);
    if (!index) {
      return index.error();
    }
    Field f;
    if (indexed) {
      auto at = field_at(*index);
      if (!at) {
        return at.error();
      }
      f = std::move(*at);
    } else {
      const std::size_t budget = max_list_size_ - list_size;
      if (*index != 0) {
        auto at = field_at(*index);
        if (!at) {
          return at.error();
        }
        f.name = std::move(at->name);
      } else {
        auto name = decode_string(block, budget);
        if (!name) {
          return name.error();
        }
        f.name = std::move(*name);
      }
      auto value = decode_string(block, budget);
      if (!value) {
        return value.error();
      }
      f.value = std::move(*value);
    }
    list_size += field_size(f.name, f.value);
    if (list_size > max_list_size_) {
      return Error(std::errc::message_size,
                   "HPACK: header list larger than " + std::to_string(max_list_size_) + " bytes");
    }
    if (incremental) {
      insert(f);
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace tender::hpack

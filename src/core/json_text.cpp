#include "core/json_text.hpp"

#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/utf8.hpp"

namespace tender {
namespace {

// What each byte needs inside a JSON string: 0 copied as it is, 1 escaped, 2 the start (or a
// stray part) of a multi-byte UTF-8 sequence.
constexpr std::array<unsigned char, 256> kByteClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = c < 0x20 || c == '"' || c == '\\' ? 1 : c >= 0x80 ? 2 : 0;
  }
  return t;
}();

void append_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[(c >> 4) & 0xf]);
      out.push_back(kHex[c & 0xf]);
    }
  }
}

// Whether any of the 8 bytes in `x` needs a look: below 0x20, '"', '\\', or 0x80 and above.
// (The "has a byte less than n" and "has a zero byte" tests of Bit Twiddling Hacks.)
constexpr bool needs_look(std::uint64_t x) {
  constexpr std::uint64_t kOnes = 0x0101010101010101;
  constexpr std::uint64_t kHighs = 0x8080808080808080;
  auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  std::uint64_t control = (x - kOnes * 0x20) & ~x & kHighs;
  return (control | has_zero(x ^ (kOnes * '"')) | has_zero(x ^ (kOnes * '\\')) | (x & kHighs)) != 0;
}

template <typename Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t plain = 0;  // start of the run of characters copied as they are
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    append_escape(out, c);
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

void append_json_string_utf8(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  std::size_t plain = 0;  // start of the run of bytes copied as they are
  std::size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, p + i, 8);
      if (!needs_look(word)) {
        i += 8;
        continue;
      }
    }
    unsigned char cls = kByteClass[p[i]];
    if (cls == 0) {
      ++i;
      continue;
    }
    if (cls == 2) {
      if (std::size_t len = utf8_sequence(p + i, n - i); len > 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + plain, i - plain);
    if (cls == 1) {
      append_escape(out, p[i]);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    }
    ++i;
    plain = i;
  }
  out.append(s.data() + plain, n - plain);
  out.push_back('"');
}

// The shortest text that reads back as `d`, in plain notation where that is as short ("29.8",
// not boost::json's "2.98E1"), with a fraction or exponent always ("1.0"), so that it reads
// back as a double; JSON has no NaN or infinity: null.
void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  std::string_view text(buf.data(),
                        ec == std::errc() ? static_cast<std::size_t>(end - buf.data()) : 0);
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) {
    out += ".0";  // still a double to a reader: 1.0, not the integer 1
  }
}

void append_json_value(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::int64:
      append_int(out, v.get_int64());
      return;
    case boost::json::kind::uint64:
      append_int(out, v.get_uint64());
      return;
    case boost::json::kind::double_:
      append_double(out, v.get_double());
      return;
    case boost::json::kind::string:
      append_json_string_utf8(out, v.get_string());
      return;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        append_json_value(out, e);
      }
      out.push_back(']');
      return;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.get_object()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        append_json_string_utf8(out, k);
        out.push_back(':');
        append_json_value(out, e);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace tender

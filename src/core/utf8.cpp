#include "core/utf8.hpp"

namespace tender {

std::size_t utf8_sequence(const unsigned char* p, std::size_t n) {
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8_sequence(p + i, s.size() - i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

void append_valid_utf8(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t plain = 0;  // start of the run of bytes copied as they are
  std::size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    if (std::size_t len = utf8_sequence(p + i, s.size() - i); len > 0) {
      i += len;
      continue;
    }
    out.append(s.data() + plain, i - plain);
    out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    ++i;
    plain = i;
  }
  out.append(s.data() + plain, s.size() - plain);
}

}  // namespace tender

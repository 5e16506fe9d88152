#pragma once
// UTF-8 checks for bytes that came from outside (files, packets, payloads) and must be printed
// where only UTF-8 is valid: JSON lines, Prometheus label values, the queue's JSON API.
//
//   if (!tender::valid_utf8(bytes)) { ... }              // send base64 instead
//   std::string out;
//   tender::append_valid_utf8(out, bytes);             // bad bytes become U+FFFD
//
// Valid means what RFC 3629 allows: no overlong forms, no surrogates, nothing past U+10FFFF.
#include <cstddef>
#include <string>
#include <string_view>

namespace tender {

// The length of the valid UTF-8 sequence at p[0..n) (n >= 1, p[0] >= 0x80), or 0 when it is
// not one: a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut off.
[[nodiscard]] std::size_t utf8_sequence(const unsigned char* p, std::size_t n);

// True if every byte of `s` belongs to a valid UTF-8 sequence.
[[nodiscard]] bool valid_utf8(std::string_view s);

// Appends `s` with each byte that is not part of a valid UTF-8 sequence replaced by U+FFFD
// (EF BF BD), as Go's strings.ToValidUTF8 does per byte. Valid input is copied as it is.
void append_valid_utf8(std::string& out, std::string_view s);

}  // namespace tender

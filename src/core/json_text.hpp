#pragma once
// Writing JSON text by hand where building a boost::json value would cost more than the work
// itself (log lines, the echo server's hot path).
//
//   std::string out = "{\"msg\":";
//   append_json_string(out, "say \"hi\"\n");   // "say \"hi\"\n", quoted and escaped
//   out += "}";
//
//   append_json_string_utf8(out, bytes_from_a_file);  // any bytes: bad UTF-8 becomes U+FFFD
//   append_json_value(out, parsed_fields);            // a boost::json value, strings as above

#include <string>
#include <string_view>

namespace boost::json {
class value;
}  // namespace boost::json

namespace tender {

// Appends `s` as a quoted JSON string: quotes, backslashes and control characters escaped.
// Bytes >= 0x80 are copied as they are (valid UTF-8 stays valid).
void append_json_string(std::string& out, std::string_view s);

// Appends `s` as a quoted JSON string that is valid UTF-8 whatever `s` holds: quotes,
// backslashes and control characters escaped, valid UTF-8 copied, and each byte that is not
// part of a valid UTF-8 sequence replaced by U+FFFD (core/utf8.hpp's rule). For bytes from
// outside: files, pipes, packets. Never fails.
void append_json_string_utf8(std::string& out, std::string_view s);

// Appends any JSON value, compactly, its strings (keys too) through append_json_string_utf8:
// a boost::json string holding a file's bytes (as logfmt and regex fields do) still gives
// valid JSON. Numbers in their shortest form that reads back the same, in plain notation
// where that is as short (29.8, 1.0, 1e+21); a NaN or infinity (which JSON cannot say) is null.
// Never fails.
void append_json_value(std::string& out, const boost::json::value& v);

}  // namespace tender

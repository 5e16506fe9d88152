#pragma once
// Writing JSON text by hand where building a boost::json value would cost more than the work
// itself (log lines, the echo server's hot path).
//
//   std::string out = "{\"msg\":";
//   append_json_string(out, "say \"hi\"\n");   // "say \"hi\"\n", quoted and escaped
//   out += "}";

#include <string>
#include <string_view>

namespace tender {

// Appends `s` as a quoted JSON string: quotes, backslashes and control characters escaped.
// Bytes >= 0x80 are copied as they are (valid UTF-8 stays valid).
void append_json_string(std::string& out, std::string_view s);

}  // namespace tender

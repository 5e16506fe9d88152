#pragma once
// Payload bytes in JSON: a string when they are valid UTF-8, else base64 (RFC 4648, with
// padding). Used by the queue's API and by its clients.
//
//   put_bytes(obj, "payload", bytes);          // {"payload":"..."} or {"payload_base64":"..."}
//   auto b = get_bytes(obj, "payload");        // Result<std::optional<std::string>>

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/error.hpp"
#include "core/utf8.hpp"

namespace tender::workqueue {

using tender::valid_utf8;  // core/utf8.hpp
[[nodiscard]] std::string base64_encode(std::string_view bytes);
// Errors: EINVAL naming the first bad character or a length that is not a multiple of 4.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

// Sets obj[name] to `bytes` when they are UTF-8, else obj[name + "_base64"].
void put_bytes(boost::json::object& obj, std::string_view name, std::string_view bytes);
// obj[name] (a string) or obj[name + "_base64"] decoded; nullopt when neither is there.
// Errors (EINVAL, naming the field): not a string, bad base64, or both present.
[[nodiscard]] Result<std::optional<std::string>> get_bytes(const boost::json::object& obj,
                                                           std::string_view name);

}  // namespace tender::workqueue

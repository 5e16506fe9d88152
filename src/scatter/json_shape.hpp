#pragma once
// Internal to src/scatter (merge.cpp, split.cpp): what the merges and splits say about a JSON
// value's shape, and dotted paths.
//
//   if (!detail::valid_dotted(path)) { ...reject the spec... }
//   return bad(std::string("expected an array, not ") + detail::describe(v));  // "not an object"

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.hpp"
#include "core/http.hpp"
#include "scatter/merge.hpp"

namespace tender::scatter::detail {

// "an object", "an array", "a string", "a number", "a boolean" or "null": for "..., not X".
[[nodiscard]] inline std::string_view describe(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object:
      return "an object";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::null:
      break;
  }
  return "null";
}

// True when `path` is one or more names joined by dots, none of them empty ("a", "a.b"; not
// "", ".a", "a..b" or "a.").
[[nodiscard]] inline bool valid_dotted(std::string_view path) {
  if (path.empty() || path.front() == '.' || path.back() == '.') {
    return false;
  }
  return path.find("..") == std::string_view::npos;
}

// `s` in double quotes, for messages.
[[nodiscard]] inline std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// What every spec (--merge, --split) is made of: a container's http:// URL (`url` set and
// nothing else), or KIND[:ARGS] (`head`) with an optional @PATH (`path`). `what` ("merge",
// "split") and `example` ("@hits") go into the messages: "merge container \"...\": ...",
// "empty @PATH in merge \"...\"", "bad @PATH \"a..b\" (dotted names, e.g. @hits)".
struct SpecText {
  std::string_view head;
  std::string path;
  std::string url;
};
[[nodiscard]] inline Result<SpecText> spec_text(std::string_view text, std::string_view what,
                                                std::string_view example) {
  SpecText out;
  if (text.find("://") != std::string_view::npos) {
    auto url = parse_http_url(text);
    if (!url) {
      return url.error().with_context(std::string(what) + " container " + quote(text));
    }
    out.url = std::string(text);
    return out;
  }
  out.head = text;
  if (auto at = text.find('@'); at != std::string_view::npos) {
    out.head = text.substr(0, at);
    auto path = text.substr(at + 1);
    if (path.empty()) {
      return Error(std::errc::invalid_argument,
                   "empty @PATH in " + std::string(what) + " " + quote(text));
    }
    if (!valid_dotted(path)) {
      return Error(
          std::errc::invalid_argument,
          "bad @PATH " + quote(path) + " (dotted names, e.g. " + std::string(example) + ")");
    }
    out.path = std::string(path);
  }
  return out;
}

// at_path (merge.hpp) in a value of one's own, to take the array or object found out of it.
[[nodiscard]] inline boost::json::value* at_path_mut(boost::json::value& v, std::string_view path) {
  return const_cast<boost::json::value*>(at_path(v, path));
}

// An invalid_argument error with `message`: the one kind of failure of parsing a spec, merging
// an answer or splitting a body.
[[nodiscard]] inline Error bad(std::string message) {
  return Error(std::errc::invalid_argument, std::move(message));
}

// "expected WANT[ at PATH], not KIND" for the value found, or "expected WANT at PATH, found
// nothing" when `found` is null (absent).
[[nodiscard]] inline Error shape_error(std::string_view want, std::string_view path,
                                       const boost::json::value* found) {
  std::string msg = "expected ";
  msg += want;
  if (!path.empty()) {
    msg += " at ";
    msg += path;
  }
  if (found == nullptr) {
    msg += ", found nothing";
  } else {
    msg += ", not ";
    msg += describe(*found);
  }
  return bad(std::move(msg));
}

}  // namespace tender::scatter::detail

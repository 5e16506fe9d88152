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

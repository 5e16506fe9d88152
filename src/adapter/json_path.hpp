#pragma once
// The path language of the adapter's `json` source: which values of an app's JSON document
// become samples and labels (docs/adapt.md). A JSONPath subset, as json_exporter users
// write it. No I/O.
//
//   auto p = JsonPath::parse("$.servers[*].load");   // or "{.servers[*].load}"
//   std::vector<JsonMatch> got;
//   p->select(doc, doc, got);                        // each load, with the server it is in
//
// Syntax: `$` the document (absolute), `@` or nothing the context (relative: an element of a
// `type: object` metric, or the object a value sits in); then steps: `.key`, `['key']` or
// `["key.with.dots"]`, `[N]` (negative from the end), `[*]` or `.*` (every element of an
// array, every value of an object), `..key` (every `key` at any depth below). Braces around
// the whole path are allowed: `{.a.b}`.
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::adapter {

// One selected value, with the object or array it sits in (null for the start node) and its
// key there (an index as decimal digits).
struct JsonMatch {
  const boost::json::value* value = nullptr;
  const boost::json::value* parent = nullptr;
  std::string key;
};

class JsonPath {
 public:
  // Fails (errc::invalid_argument) with where and why: "at 4: expected ]".
  [[nodiscard]] static Result<JsonPath> parse(std::string_view text);

  // Appends what the path selects, in document order: from `root` when absolute, else from
  // `context`. Never fails: a step that finds nothing (a missing key, an index out of range,
  // a key of something not an object) selects nothing.
  void select(const boost::json::value& root, const boost::json::value& context,
              std::vector<JsonMatch>& out) const;

  [[nodiscard]] bool absolute() const { return absolute_; }
  // True when the path can select more than one value (a wildcard or a descent).
  [[nodiscard]] bool many() const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  struct Step {
    enum class Kind { kKey, kIndex, kWildcard, kDescend } kind = Kind::kKey;
    std::string key;
    std::int64_t index = 0;
  };
  // The step at s[i] ('.' or '['); moves i past it.
  static Result<Step> parse_step(std::string_view s, std::size_t& i);
  void walk(std::size_t step, const JsonMatch& at, std::vector<JsonMatch>& out) const;

  std::string text_;
  bool absolute_ = false;
  std::vector<Step> steps_;
};

}  // namespace tender::adapter

#include "adapter/json_path.hpp"

#include <charconv>

#include "core/http.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

Error bad(std::size_t at, const std::string& why) {
  return Error(std::errc::invalid_argument, "at " + std::to_string(at + 1) + ": " + why);
}

bool key_char(char c) {
  return c != '.' && c != '[' && c != ']' && c != '{' && c != '}' && c != '\'' && c != '"' &&
         c != '*' && c != ' ' && c != '\t' && c != '\n' && c != '\r';
}

// A quoted key at s[i] (its quote); returns it unescaped (\\, \' and \" are escapes) and moves
// i past the closing quote.
Result<std::string> quoted(std::string_view s, std::size_t& i) {
  const char q = s[i++];
  std::string out;
  while (i < s.size() && s[i] != q) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
    }
    out.push_back(s[i++]);
  }
  if (i >= s.size()) {
    return bad(i, "unterminated quoted key");
  }
  ++i;
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

}  // namespace

Result<JsonPath> JsonPath::parse(std::string_view text) {
  JsonPath p;
  p.text_ = std::string(text);
  std::string_view s = trim_ows(text);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') {
    s = trim_ows(s.substr(1, s.size() - 2));
  }
  if (s.empty()) {
    return bad(0, "an empty path (the document is $)");
  }
  std::size_t i = 0;
  if (s[0] == '$') {
    p.absolute_ = true;
    ++i;
  } else if (s[0] == '@') {
    ++i;
  } else if (s[0] != '.' && s[0] != '[') {
    return bad(0, "a path starts with $ (the document), @, . or [");
  }
  while (i < s.size()) {
    auto step = parse_step(s, i);
    if (!step) {
      return step.error();
    }
    p.steps_.push_back(std::move(*step));
  }
  return p;
}

Result<JsonPath::Step> JsonPath::parse_step(std::string_view s, std::size_t& i) {
  using Kind = Step::Kind;
  Step step;
  if (s[i] == '.') {
    ++i;
    const bool descend = i < s.size() && s[i] == '.';
    if (descend) {
      ++i;
      step.kind = Kind::kDescend;
    }
    if (i < s.size() && s[i] == '*') {
      if (descend) {
        return bad(i, "..* is not supported; name the key: ..key");
      }
      step.kind = Kind::kWildcard;
      ++i;
    } else if (descend && i < s.size() && s[i] == '[') {
      ++i;
      if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) {
        return bad(i, "after .. a key: ..key or ..['key']");
      }
      auto k = quoted(s, i);
      if (!k) {
        return k.error();
      }
      if (i >= s.size() || s[i] != ']') {
        return bad(i, "expected ]");
      }
      ++i;
      step.key = std::move(*k);
    } else {
      const std::size_t start = i;
      while (i < s.size() && key_char(s[i])) {
        ++i;
      }
      if (i == start) {
        return bad(i, "expected a key after .");
      }
      step.key = std::string(s.substr(start, i - start));
    }
  } else if (s[i] == '[') {
    ++i;
    if (i < s.size() && s[i] == '*') {
      step.kind = Kind::kWildcard;
      ++i;
    } else if (i < s.size() && (s[i] == '\'' || s[i] == '"')) {
      auto k = quoted(s, i);
      if (!k) {
        return k.error();
      }
      step.key = std::move(*k);
    } else {
      const std::size_t start = i;
      if (i < s.size() && s[i] == '-') {
        ++i;
      }
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        ++i;
      }
      auto [end, ec] = std::from_chars(s.data() + start, s.data() + i, step.index);
      if (ec != std::errc() || end != s.data() + i) {
        return bad(start,
                   "expected an index, *, or a quoted key in [ ] (filters and slices "
                   "are not supported)");
      }
      step.kind = Kind::kIndex;
    }
    if (i >= s.size() || s[i] != ']') {
      return bad(i, "expected ]");
    }
    ++i;
  } else {
    return bad(i, std::string("unexpected '") + s[i] + "'");
  }
  return step;
}

bool JsonPath::many() const {
  for (const auto& s : steps_) {
    if (s.kind == Step::Kind::kWildcard || s.kind == Step::Kind::kDescend) {
      return true;
    }
  }
  return false;
}

void JsonPath::select(const json::value& root, const json::value& context,
                      std::vector<JsonMatch>& out) const {
  walk(0, JsonMatch{.value = absolute_ ? &root : &context, .parent = nullptr, .key = {}}, out);
}

namespace {

// Every `key` in `v` and below it, in document order.
void descend(const json::value& v, const std::string& key, std::vector<JsonMatch>& found) {
  if (const auto* o = v.if_object()) {
    if (const auto* hit = o->if_contains(key)) {
      found.push_back({hit, &v, key});
    }
    for (const auto& kv : *o) {
      descend(kv.value(), key, found);
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& e : *a) {
      descend(e, key, found);
    }
  }
}

}  // namespace

void JsonPath::walk(std::size_t step, const JsonMatch& at, std::vector<JsonMatch>& out) const {
  if (step == steps_.size()) {
    out.push_back(at);
    return;
  }
  const Step& s = steps_[step];
  const json::value& v = *at.value;
  switch (s.kind) {
    case Step::Kind::kKey:
      if (const auto* o = v.if_object()) {
        if (const auto* hit = o->if_contains(s.key)) {
          walk(step + 1, {hit, &v, s.key}, out);
        }
      }
      return;
    case Step::Kind::kIndex:
      if (const auto* a = v.if_array()) {
        const auto n = static_cast<std::int64_t>(a->size());
        const std::int64_t i = s.index < 0 ? n + s.index : s.index;
        if (i >= 0 && i < n) {
          walk(step + 1, {&(*a)[static_cast<std::size_t>(i)], &v, std::to_string(i)}, out);
        }
      }
      return;
    case Step::Kind::kWildcard:
      if (const auto* o = v.if_object()) {
        for (const auto& kv : *o) {
          walk(step + 1, {&kv.value(), &v, std::string(kv.key())}, out);
        }
      } else if (const auto* a = v.if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i) {
          walk(step + 1, {&(*a)[i], &v, std::to_string(i)}, out);
        }
      }
      return;
    case Step::Kind::kDescend: {
      std::vector<JsonMatch> found;
      descend(v, s.key, found);
      for (const auto& f : found) {
        walk(step + 1, f, out);
      }
      return;
    }
  }
}

}  // namespace tender::adapter

// Fields out of a line of text: Perl regular expressions with named groups, and logfmt.
#include "core/text_fields.hpp"

#include <boost/regex.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace tender {

struct CompiledRegex {
  boost::regex re;
  // Named groups and their numbers, in the expression's order.
  std::vector<std::pair<std::string, int>> groups;
};

namespace {

// Perl's defaults: ^ and $ at the text's ends only, '.' not matching a newline.
constexpr auto kSyntax = boost::regex::perl | boost::regex::no_mod_m | boost::regex::no_mod_s;

// Boost.Regex's what() is "<why>.  The error occurred while parsing the regular expression:
// '<pattern with >>>HERE>>>>'.": keep the first sentence, which is the reason.
std::string regex_reason(const boost::regex_error& e) {
  std::string what = e.what();
  if (auto cut = what.find("  The error occurred"); cut != std::string::npos) {
    what.resize(cut);
  }
  while (!what.empty() && (what.back() == '.' || what.back() == ' ')) {
    what.pop_back();
  }
  return what;
}

Result<std::shared_ptr<const CompiledRegex>> compile_uncached(std::string_view option,
                                                              const std::string& pattern,
                                                              bool need_groups) {
  auto compiled = std::make_shared<CompiledRegex>();
  try {
    compiled->re.assign(pattern, kSyntax);
  } catch (const boost::regex_error& e) {
    return invalid_argument(std::string(option) + ": " + regex_reason(e) + " at " +
                            std::to_string(e.position()));
  }
  const auto subs = compiled->re.get_named_subs();
  for (auto& name : named_groups(pattern)) {
    const int index = subs->get_id(name.data(), name.data() + name.size());
    if (index > 0) {
      compiled->groups.emplace_back(std::move(name), index);
    }
  }
  if (need_groups && compiled->groups.empty()) {
    return invalid_argument(std::string(option) +
                            ": no named group (?<name>...) to take a field from: " + pattern);
  }
  return std::shared_ptr<const CompiledRegex>(std::move(compiled));
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Skips a character class starting at pattern[i] == '['; returns the index past its ']'.
std::size_t skip_class(std::string_view pattern, std::size_t i) {
  ++i;
  if (i < pattern.size() && pattern[i] == '^') {
    ++i;
  }
  if (i < pattern.size() && pattern[i] == ']') {
    ++i;  // a ']' first is literal
  }
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\') {
      i += 2;
    } else if (c == '[' && i + 1 < pattern.size() &&
               (pattern[i + 1] == ':' || pattern[i + 1] == '.' || pattern[i + 1] == '=')) {
      const char kind = pattern[i + 1];  // [:alpha:], [.a.], [=a=]
      const auto close = pattern.find(std::string{kind, ']'}, i + 2);
      i = close == std::string_view::npos ? pattern.size() : close + 2;
    } else if (c == ']') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return i;
}

void hex4(std::string_view s, std::size_t i, std::uint32_t& out, bool& ok) {
  out = 0;
  if (i + 4 > s.size()) {
    ok = false;
    return;
  }
  for (std::size_t k = i; k < i + 4; ++k) {
    const char c = s[k];
    out <<= 4;
    if (c >= '0' && c <= '9') {
      out |= static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      out |= static_cast<std::uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      out |= static_cast<std::uint32_t>(c - 'A' + 10);
    } else {
      ok = false;
      return;
    }
  }
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The inside of a quoted logfmt value with escapes, as Go's encoding/json unquotes it (a lone
// surrogate becomes U+FFFD). False for an unknown escape or a control byte.
bool unquote(std::string_view in, std::string& out) {
  constexpr std::uint32_t kReplacement = 0xFFFD;
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == in.size()) {
      return false;
    }
    switch (in[i]) {
      case '"':
      case '\\':
      case '/':
      case '\'':
        out.push_back(in[i]);
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        bool ok = true;
        std::uint32_t cp = 0;
        hex4(in, i + 1, cp, ok);
        if (!ok) {
          return false;
        }
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
          std::uint32_t low = 0;
          if (i + 2 < in.size() && in[i + 1] == '\\' && in[i + 2] == 'u') {
            hex4(in, i + 3, low, ok);
          } else {
            ok = false;
          }
          if (ok && low >= 0xDC00 && low < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          } else {
            cp = kReplacement;
          }
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          cp = kReplacement;
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

std::string unexpected(char c, std::size_t at) {
  return std::string("unexpected '") + c + "' at byte " + std::to_string(at);
}

}  // namespace

std::vector<std::string> named_groups(std::string_view pattern) {
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size() && pattern[i + 1] == 'Q') {
        const auto end = pattern.find("\\E", i + 2);
        i = end == std::string_view::npos ? pattern.size() : end + 2;
      } else {
        i += 2;
      }
      continue;
    }
    if (c == '[') {
      i = skip_class(pattern, i);
      continue;
    }
    if (c != '(' || pattern.substr(i, 2) != "(?") {
      ++i;
      continue;
    }
    std::size_t at = i + 2;
    char close = '>';
    if (pattern.substr(at, 2) == "P<") {
      at += 2;
    } else if (at < pattern.size() && (pattern[at] == '<' || pattern[at] == '\'')) {
      close = pattern[at] == '<' ? '>' : '\'';
      ++at;
    } else {
      i = at;
      continue;
    }
    if (at >= pattern.size() || !is_name_start(pattern[at])) {
      i = at;  // (?<= and (?<! are lookbehinds
      continue;
    }
    std::size_t end = at;
    while (end < pattern.size() && is_name_char(pattern[end])) {
      ++end;
    }
    if (end < pattern.size() && pattern[end] == close) {
      std::string name(pattern.substr(at, end - at));
      bool seen = false;
      for (const auto& n : names) {
        seen = seen || n == name;
      }
      if (!seen) {
        names.push_back(std::move(name));
      }
    }
    i = end;
  }
  return names;
}

Result<std::shared_ptr<const CompiledRegex>> compile_regex(std::string_view option,
                                                           const std::string& pattern,
                                                           bool need_groups) {
  if (pattern.empty()) {
    return invalid_argument(std::string(option) + ": empty");
  }
  // Every assembler of a tail (one per file and sink) compiles the same few expressions: keep
  // one copy of each while any assembler holds it.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const CompiledRegex>, std::less<>> cache;
  std::string key = (need_groups ? "g" : "-") + pattern;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) {
      if (auto shared = it->second.lock()) {
        return shared;
      }
    }
  }
  auto compiled = compile_uncached(option, pattern, need_groups);
  if (!compiled) {
    return compiled;
  }
  std::lock_guard lock(mutex);
  std::erase_if(cache, [](const auto& entry) { return entry.second.expired(); });
  cache[std::move(key)] = *compiled;
  return compiled;
}

bool regex_search(const CompiledRegex& regex, std::string_view text) {
  try {
    return boost::regex_search(text.begin(), text.end(), regex.re);
  } catch (const std::runtime_error&) {
    return false;
  }
}

Result<boost::json::object> parse_regex(const CompiledRegex& regex, std::string_view text) {
  boost::match_results<std::string_view::const_iterator> match;
  try {
    if (!boost::regex_search(text.begin(), text.end(), match, regex.re)) {
      return invalid_argument("no match");
    }
  } catch (const std::runtime_error&) {
    return invalid_argument("too complex to match");
  }
  boost::json::object fields;
  fields.reserve(regex.groups.size());
  for (const auto& [name, index] : regex.groups) {
    const auto& group = match[index];
    if (group.matched) {
      fields[name] = text.substr(static_cast<std::size_t>(group.first - text.begin()),
                                 static_cast<std::size_t>(group.length()));
    }
  }
  return fields;
}

Result<boost::json::object> parse_logfmt(std::string_view s) {
  boost::json::object fields;
  std::string unquoted;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto is_space = [](char c) { return static_cast<unsigned char>(c) <= ' '; };
  while (true) {
    while (i < n && is_space(s[i])) {
      ++i;
    }
    if (i == n) {
      return fields;
    }
    // The key: up to '=' or a space.
    const std::size_t key_start = i;
    while (i < n && s[i] != '=' && !is_space(s[i])) {
      if (s[i] == '"') {
        return invalid_argument(unexpected('"', i));
      }
      ++i;
    }
    if (i == key_start) {
      return invalid_argument(unexpected('=', i));
    }
    const std::string_view key = s.substr(key_start, i - key_start);
    if (i == n || s[i] != '=') {
      fields[key] = true;
      continue;
    }
    ++i;  // '='
    if (i == n || is_space(s[i])) {
      fields[key] = "";
      continue;
    }
    if (s[i] != '"') {
      const std::size_t start = i;
      while (i < n && !is_space(s[i])) {
        if (s[i] == '=' || s[i] == '"') {
          return invalid_argument(unexpected(s[i], i));
        }
        ++i;
      }
      fields[key] = s.substr(start, i - start);
      continue;
    }
    // A quoted value: to the first '"' not escaped.
    const std::size_t quote = i;
    bool escaped = false;
    bool has_escape = false;
    std::size_t close = std::string_view::npos;
    for (std::size_t k = quote + 1; k < n; ++k) {
      if (escaped) {
        escaped = false;
      } else if (s[k] == '\\') {
        escaped = has_escape = true;
      } else if (s[k] == '"') {
        close = k;
        break;
      }
    }
    if (close == std::string_view::npos) {
      return invalid_argument("unterminated quoted value at byte " + std::to_string(quote));
    }
    const std::string_view inside = s.substr(quote + 1, close - quote - 1);
    if (!has_escape) {
      fields[key] = inside;
    } else if (unquote(inside, unquoted)) {
      fields[key] = unquoted;
    } else {
      return invalid_argument("invalid quoted value at byte " + std::to_string(quote));
    }
    i = close + 1;
  }
}

}  // namespace tender

#pragma once
// Fields out of a line of text: Perl regular expressions with named groups, and logfmt. Used by
// `tender tail` (parse: regex|logfmt, multiline_start) and `tender adapt`'s log adapter.
//
//   auto re = tender::compile_regex("pattern", "^(?<ip>\\S+) (?<path>\\S+)$", true);
//   if (!re) { ... re.error().message() ... }        // "pattern: Unmatched ( at 3"
//   auto fields = tender::parse_regex(**re, line);    // {"ip": "...", "path": "..."}
//   if (tender::regex_search(**re, line)) { ... }
//   auto kv = tender::parse_logfmt("level=info msg=\"hi there\"");
//
// Regular expressions are Boost.Regex's Perl syntax with Perl's defaults: `^` and `$` match at
// the ends of the text only and `.` does not match a newline, unless the expression says
// (?m) or (?s). Compiled expressions are immutable, shared between users (and threads), and
// cached by their text while anyone uses them. Matching is bounded: an expression that would
// backtrack without end on some text gives up (Boost.Regex's state limit) and does not match.
// Field values are the text's bytes as they are (not checked for UTF-8).

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender {

// A compiled expression and its named groups (defined in text_fields.cpp, where Boost.Regex
// is included).
struct CompiledRegex;

// Compiles `pattern`. Fails with EINVAL and a message naming `option`: "multiline_start:
// Unmatched marking parenthesis ( or \( at 3", "regex: empty", and, if `need_groups`,
// "regex: no named group (?<name>...)".
[[nodiscard]] Result<std::shared_ptr<const CompiledRegex>> compile_regex(std::string_view option,
                                                                         const std::string& pattern,
                                                                         bool need_groups);

// Whether `regex` matches somewhere in `text`. An expression too complex to decide on this
// text (Boost.Regex's backtracking limit) does not match.
[[nodiscard]] bool regex_search(const CompiledRegex& regex, std::string_view text);

// The named groups of `regex` that matched `text` somewhere, as strings (a group that took no
// part in the match is left out). Fails with EINVAL: "no match", or "too complex to match".
[[nodiscard]] Result<boost::json::object> parse_regex(const CompiledRegex& regex,
                                                      std::string_view text);

// The names of the groups (?<name>...), (?'name'...) and (?P<name>...) of a Perl expression,
// in order, each once. Escapes, \Q...\E and character classes are skipped; the caller checks
// that the compiled expression knows each name.
[[nodiscard]] std::vector<std::string> named_groups(std::string_view pattern);

// logfmt as Go's github.com/go-logfmt/logfmt decodes a line: pairs separated by bytes <= ' ';
// a key runs to '=' or a space; a bare key (no '=') is `true`; `key=` is ""; a value is bare
// (no '=' or '"' in it) or double-quoted with JSON's escapes (\" \\ \/ \b \f \n \r \t \uXXXX);
// values are strings; a repeated key keeps its last value. Fails with EINVAL and the first
// error, at a 0-based byte offset: "unexpected '\"' at byte 4", "unexpected '=' at byte 0",
// "unterminated quoted value at byte 9", "invalid quoted value at byte 7".
[[nodiscard]] Result<boost::json::object> parse_logfmt(std::string_view text);

}  // namespace tender

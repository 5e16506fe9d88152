#pragma once
// Turning a record's text into fields (private to src/sidecar; RecordAssembler uses it).
//
//   auto parser = FieldParser::create(options);    // Result<>: compiles options.regex
//   parser->parse(record);   // sets record.fields, or record.parse_error (and returns false)
//
//   auto start = compile_regex("multiline_start", "^\\d{4}-", /*need_groups=*/false);
//   if (regex_search(**start, line)) { ... }
//
// Regular expressions are Boost.Regex's Perl syntax with Perl's defaults: `^` and `$` match at
// the ends of the text only and `.` does not match a newline, unless the expression says
// (?m) or (?s). Compiled expressions are immutable, shared between assemblers (and threads),
// and cached by their text while any assembler uses them.

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "sidecar/record.hpp"
#include "sidecar/records.hpp"

namespace boost::json {
class parser;
}  // namespace boost::json

namespace tender::sidecar {

// A compiled expression and its named groups (defined in record_parse.cpp, where Boost.Regex
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

// Applies a RecordOptions' parse mode to records. Each instance is used by one thread.
class FieldParser {
 public:
  // Raw: parse() leaves records as they are.
  FieldParser();
  // Fails as validate() does for options.parse and options.regex.
  [[nodiscard]] static Result<FieldParser> create(const RecordOptions& options);
  FieldParser(FieldParser&&) noexcept;
  FieldParser& operator=(FieldParser&&) noexcept;
  ~FieldParser();

  // Fills record.fields from record.text. When the text does not parse, leaves the fields
  // empty, sets record.parse_error ("json: not an object", "logfmt: unexpected '=' at byte 3",
  // "regex: no match") and returns false.
  bool parse(Record& record);

 private:
  ParseMode mode_ = ParseMode::kRaw;
  std::shared_ptr<const CompiledRegex> regex_;
  std::unique_ptr<boost::json::parser> json_;  // kJson: reused, so its stack is too
};

}  // namespace tender::sidecar

#pragma once
// Turning a record's text into fields (private to src/sidecar; RecordAssembler uses it).
//
//   auto parser = FieldParser::create(options);    // Result<>: compiles options.regex
//   parser->parse(record);   // sets record.fields, or record.parse_error (and returns false)
//
// The regular expressions and logfmt are core's (core/text_fields.hpp).

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/text_fields.hpp"
#include "sidecar/record.hpp"
#include "sidecar/records.hpp"

namespace boost::json {
class parser;
}  // namespace boost::json

namespace tender::sidecar {

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

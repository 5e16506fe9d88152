#include "sidecar/record_parse.hpp"

#include <boost/json/parser.hpp>
#include <utility>

namespace tender::sidecar {

FieldParser::FieldParser() = default;
FieldParser::FieldParser(FieldParser&&) noexcept = default;
FieldParser& FieldParser::operator=(FieldParser&&) noexcept = default;
FieldParser::~FieldParser() = default;

Result<FieldParser> FieldParser::create(const RecordOptions& options) {
  FieldParser parser;
  parser.mode_ = options.parse;
  switch (options.parse) {
    case ParseMode::kRaw:
    case ParseMode::kLogfmt:
      break;
    case ParseMode::kJson:
      parser.json_ = std::make_unique<boost::json::parser>();
      break;
    case ParseMode::kRegex: {
      auto compiled = compile_regex("regex", options.regex, /*need_groups=*/true);
      if (!compiled) {
        return compiled.error();
      }
      parser.regex_ = std::move(*compiled);
      break;
    }
  }
  return parser;
}

bool FieldParser::parse(Record& record) {
  switch (mode_) {
    case ParseMode::kRaw:
      return true;
    case ParseMode::kJson: {
      boost::system::error_code ec;
      json_->reset();
      const std::size_t used = json_->write(record.text, ec);
      if (ec) {
        record.parse_error = "json: " + ec.message() + " at byte " + std::to_string(used);
        return false;
      }
      boost::json::value value = json_->release();
      if (!value.is_object()) {
        record.parse_error =
            std::string("json: not an object but ") + (value.is_array()    ? "an array"
                                                       : value.is_string() ? "a string"
                                                       : value.is_bool()   ? "a boolean"
                                                       : value.is_null()   ? "null"
                                                                           : "a number");
        return false;
      }
      record.fields = std::move(value.get_object());
      return true;
    }
    case ParseMode::kLogfmt:
    case ParseMode::kRegex: {
      auto fields = mode_ == ParseMode::kLogfmt ? parse_logfmt(record.text)
                                                : parse_regex(*regex_, record.text);
      if (!fields) {
        record.parse_error =
            (mode_ == ParseMode::kLogfmt ? "logfmt: " : "regex: ") + fields.error().message();
        return false;
      }
      record.fields = std::move(*fields);
      return true;
    }
  }
  return true;
}

}  // namespace tender::sidecar

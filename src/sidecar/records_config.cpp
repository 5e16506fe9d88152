// parse_record_options: RecordOptions from a config file's input map (yaml-cpp stays out of
// records.cpp).
#include <chrono>

#include "core/config.hpp"
#include "sidecar/records.hpp"

namespace tender::sidecar {

namespace {
constexpr std::uint64_t kMostRecordBytes = std::uint64_t{1} << 30;
}  // namespace

RecordOptions parse_record_options(const ConfigNode& input, RecordOptions defaults) {
  RecordOptions options = std::move(defaults);
  if (auto parse = input.string("parse")) {
    auto spec = parse_parse_spec(*parse);
    if (!spec) {
      input.fail("parse", "\"" + *parse + "\" is none of raw, json, logfmt, regex:EXPRESSION");
    }
    options.parse = spec->mode;
    options.regex = std::move(spec->regex);
  }
  if (auto start = input.string("multiline_start")) {
    options.multiline_start = *start;
  }
  if (auto lines = input.integer("max_lines", 1, 1'000'000)) {
    options.max_lines = static_cast<std::size_t>(*lines);
  }
  if (auto wait = input.duration("multiline_wait")) {
    if (wait->count() < 0) {
      input.fail("multiline_wait", "must not be negative");
    }
    options.multiline_wait_ns = std::chrono::nanoseconds(*wait).count();
  }
  if (auto bytes = input.bytes("max_record_bytes")) {
    if (*bytes == 0 || *bytes > kMostRecordBytes) {
      input.fail("max_record_bytes", "must be from 1 byte to 1GiB, not " + std::to_string(*bytes));
    }
    options.max_record_bytes = static_cast<std::size_t>(*bytes);
  }
  if (auto ok = validate(options); !ok) {
    // validate() says "<option>: <why>". The regex mode's expression is written in `parse`
    // ("parse: regex: no named group..."); an option the input does not set came from the
    // defaults, and the error is the input's.
    const std::string message = ok.error().message();
    const auto colon = message.find(": ");
    const std::string option = colon == std::string::npos ? "" : message.substr(0, colon);
    if (option == "regex" && input.has("parse")) {
      input.fail("parse", message);
    }
    if (!option.empty() && input.has(option)) {
      input.fail(option, message.substr(colon + 2));
    }
    input.fail("", message);
  }
  return options;
}

}  // namespace tender::sidecar

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "sidecar/records.hpp"

namespace tender::sidecar {
namespace {

RecordOptions from_yaml(const std::string& yaml, RecordOptions defaults = {}) {
  return parse_record_options(parse_config(yaml, "tail.yaml").child("input"), std::move(defaults));
}

std::string error_of(const std::string& yaml) {
  try {
    (void)from_yaml(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(RecordOptionsConfig, EveryKey) {
  auto o = from_yaml(R"(
input:
  parse: 'regex:^(?<level>\w+)'
  multiline_start: '^\d'
  max_lines: 20
  multiline_wait: 250ms
  max_record_bytes: 64KiB
)");
  EXPECT_EQ(o.parse, ParseMode::kRegex);
  EXPECT_EQ(o.regex, "^(?<level>\\w+)");
  EXPECT_EQ(o.multiline_start, "^\\d");
  EXPECT_EQ(o.max_lines, 20U);
  EXPECT_EQ(o.multiline_wait_ns, 250'000'000);
  EXPECT_EQ(o.max_record_bytes, 64U << 10);
}

TEST(RecordOptionsConfig, AbsentKeysKeepTheDefaults) {
  RecordOptions defaults;
  defaults.parse = ParseMode::kJson;
  defaults.max_record_bytes = 1000;
  auto o = from_yaml("input:\n  max_lines: 3\n", defaults);
  EXPECT_EQ(o.parse, ParseMode::kJson);
  EXPECT_EQ(o.max_record_bytes, 1000U);
  EXPECT_EQ(o.max_lines, 3U);
  EXPECT_TRUE(o.multiline_start.empty());
}

TEST(RecordOptionsConfig, ErrorsPointAtTheKey) {
  EXPECT_EQ(error_of("input:\n  parse: yaml\n"),
            "tail.yaml:2: input.parse: \"yaml\" is none of raw, json, logfmt, regex:EXPRESSION");
  EXPECT_EQ(
      error_of("input:\n  path: x\n  parse: 'regex:(a)'\n"),
      "tail.yaml:3: input.parse: regex: no named group (?<name>...) to take a field from: (a)");
  EXPECT_EQ(error_of("input:\n  multiline_start: 'ab(c'\n"),
            "tail.yaml:2: input.multiline_start: Unmatched marking parenthesis ( or \\( at 4");
  EXPECT_EQ(error_of("input:\n  max_record_bytes: 0\n"),
            "tail.yaml:2: input.max_record_bytes: must be from 1 byte to 1GiB, not 0");
  EXPECT_NE(error_of("input:\n  max_lines: 0\n").find("input.max_lines"), std::string::npos);
  EXPECT_NE(error_of("input:\n  multiline_wait: soon\n").find("input.multiline_wait: not a"),
            std::string::npos);
}

TEST(RecordOptionsConfig, ABadDefaultIsTheInputsError) {
  RecordOptions defaults;
  defaults.multiline_start = "(";
  try {
    (void)from_yaml("input:\n  parse: raw\n", defaults);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("tail.yaml:2: input: multiline_start: "))
        << e.what();
  }
}

}  // namespace
}  // namespace tender::sidecar

// Golden inputs: each file of tests/golden/tail/ is fed to a RecordAssembler whole, a byte at a
// time and in chunks of random sizes (fixed seeds); the records must equal the expected JSON
// lines beside it, one per record: {offset, end, text, cut[, fields][, parse_error]}.
//
// TENDER_UPDATE_GOLDEN=1 rewrites the expected files from the whole-input run (review the diff).

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "sidecar/records.hpp"

#ifndef TENDER_TAIL_GOLDEN_DIR
#error "TENDER_TAIL_GOLDEN_DIR must name tests/golden/tail"
#endif

namespace tender::sidecar {
namespace {

constexpr std::int64_t kNow = 1'765'022'400'000'000'000;

struct GoldenCase {
  std::string name;      // for messages
  std::string input;     // file in the golden directory
  std::string expected;  // file in the golden directory
  RecordOptions options;
};

// gtest names a case by this rather than by its bytes.
void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

std::string golden_path(const std::string& file) {
  return std::string(TENDER_TAIL_GOLDEN_DIR) + "/" + file;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

boost::json::object golden_json(const Record& r) {
  boost::json::object o;
  o["offset"] = r.offset;
  o["end"] = r.end;
  o["text"] = r.text;
  o["cut"] = r.cut;
  if (!r.fields.empty()) {
    o["fields"] = r.fields;
  }
  if (!r.parse_error.empty()) {
    o["parse_error"] = r.parse_error;
  }
  return o;
}

// Feeds `input` in chunks of the sizes `next_size` gives, then finishes.
template <class NextSize>
std::vector<Record> assemble(const RecordOptions& options, std::string_view input,
                             NextSize next_size) {
  auto source = std::make_shared<Source>();
  source->key = "00000000000000aa";
  auto assembler = RecordAssembler::create(options, source, 0);
  EXPECT_TRUE(assembler) << assembler.error().message();
  std::vector<Record> out;
  if (!assembler) {
    return out;
  }
  std::size_t at = 0;
  while (at < input.size()) {
    const std::size_t n = std::min(next_size(), input.size() - at);
    assembler->feed(input.substr(at, n), kNow, out);
    assembler->flush_due(kNow, out);  // time stands still: never due
    at += n;
    // Nothing before committable() is held, and it is the end of the last record.
    EXPECT_EQ(assembler->committable(), out.empty() ? 0 : out.back().end);
  }
  assembler->finish(kNow, out);
  EXPECT_EQ(assembler->held_bytes(), 0U);
  EXPECT_EQ(assembler->committable(), input.size());
  return out;
}

std::vector<boost::json::value> expected_records(const std::string& file) {
  std::vector<boost::json::value> records;
  std::istringstream lines(read_file(golden_path(file)));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) {
      records.push_back(boost::json::parse(line));
    }
  }
  return records;
}

void expect_records(const std::vector<boost::json::value>& expected, const std::vector<Record>& got,
                    const std::string& how) {
  EXPECT_EQ(got.size(), expected.size()) << how;
  for (std::size_t i = 0; i < std::min(got.size(), expected.size()); ++i) {
    const boost::json::value actual = golden_json(got[i]);
    EXPECT_EQ(actual, expected[i])
        << how << ", record " << i << "\n  got:      " << boost::json::serialize(actual)
        << "\n  expected: " << boost::json::serialize(expected[i]);
  }
}

void run_case(const GoldenCase& c) {
  const std::string input = read_file(golden_path(c.input));
  ASSERT_FALSE(input.empty()) << c.input;
  const auto whole = assemble(c.options, input, [&] { return input.size(); });
  if (const char* update = std::getenv("TENDER_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream out(golden_path(c.expected), std::ios::binary | std::ios::trunc);
    for (const auto& r : whole) {
      out << boost::json::serialize(golden_json(r)) << '\n';
    }
    return;
  }
  const auto expected = expected_records(c.expected);
  ASSERT_FALSE(expected.empty()) << c.expected;
  expect_records(expected, whole, c.name + " fed whole");
  expect_records(expected, assemble(c.options, input, [] { return std::size_t{1}; }),
                 c.name + " fed a byte at a time");
  for (unsigned seed : {1U, 2U, 3U}) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> small(1, 97);
    expect_records(expected, assemble(c.options, input, [&] { return small(rng); }),
                   c.name + " fed in chunks of 1..97 bytes, seed " + std::to_string(seed));
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> large(1, 4096);
  expect_records(expected, assemble(c.options, input, [&] { return large(rng); }),
                 c.name + " fed in chunks of 1..4096 bytes");
}

RecordOptions options(ParseMode parse, std::string regex = {}, std::string multiline_start = {},
                      std::size_t max_record_bytes = std::size_t{1} << 20) {
  RecordOptions o;
  o.parse = parse;
  o.regex = std::move(regex);
  o.multiline_start = std::move(multiline_start);
  o.max_record_bytes = max_record_bytes;
  return o;
}

// Access log lines of nginx's `combined` format; a request line that is not a request (a TLS
// handshake on the plain port) matches without method, path and protocol.
constexpr const char* kNginxCombined =
    R"re(^(?<remote_addr>\S+) \S+ (?<remote_user>\S+) \[(?<time_local>[^\]]+)\] )re"
    R"re("(?:(?<method>[A-Z]+) (?<path>\S+) (?<protocol>HTTP/[\d.]+)|[^"]*)" )re"
    R"re((?<status>\d{3}) (?<body_bytes_sent>\d+) "(?<http_referer>[^"]*)" )re"
    R"re("(?<http_user_agent>[^"]*)"$)re";

constexpr const char* kPythonHeader =
    R"re(^(?<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?<level>[A-Z]+) (?<logger>[\w.]+): )re"
    R"re((?<message>.*))re";

std::vector<GoldenCase> cases() {
  const std::string java_start = R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)";
  return {
      {"java raw", "java_trace.log", "java_trace.raw.jsonl", options(ParseMode::kRaw)},
      {"java multiline", "java_trace.log", "java_trace.multiline.jsonl",
       options(ParseMode::kRaw, {}, java_start)},
      {"java multiline cut", "java_trace.log", "java_trace.multiline_cut.jsonl",
       options(ParseMode::kRaw, {}, java_start, 200)},
      {"python multiline regex", "python_trace.log", "python_trace.multiline.jsonl",
       options(ParseMode::kRegex, kPythonHeader, R"(^\d{4}-\d\d-\d\d )")},
      {"go panic multiline", "go_panic.log", "go_panic.multiline.jsonl",
       options(ParseMode::kRaw, {}, R"(^(\d{4}/\d\d/\d\d |panic: |fatal error: ))")},
      {"logfmt", "logfmt.log", "logfmt.jsonl", options(ParseMode::kLogfmt)},
      {"json lines", "json_lines.log", "json_lines.jsonl", options(ParseMode::kJson)},
      {"nginx regex", "nginx_access.log", "nginx_access.jsonl",
       options(ParseMode::kRegex, kNginxCombined)},
      {"cut at 32 bytes", "long_lines.log", "long_lines.cut32.jsonl",
       options(ParseMode::kRaw, {}, {}, 32)},
  };
}

class Golden : public testing::TestWithParam<GoldenCase> {};

TEST_P(Golden, RecordsMatchInEveryChunking) { run_case(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Tail, Golden, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<GoldenCase>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) {
                               ch = '_';
                             }
                           }
                           return name;
                         });

}  // namespace
}  // namespace tender::sidecar

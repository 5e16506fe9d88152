// libFuzzer target: tail's record assembler and field parsers on arbitrary bytes. The first
// byte picks the options (max_record_bytes, multiline or not, parse mode), the second the size
// of the chunks the rest is fed in. Beyond not crashing, it checks what tail relies on: the
// records tile the file exactly (each starts where the one before ended, the last ends at the
// file's end after finish), no text passes max_record_bytes, memory held stays within two
// records, and the records are the same whether the file comes at once or in chunks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "sidecar/record_parse.hpp"
#include "sidecar/records.hpp"

namespace sc = tender::sidecar;

namespace {

std::vector<sc::Record> assemble(const sc::RecordOptions& options, std::string_view file,
                                 std::size_t step) {
  auto assembler = sc::RecordAssembler::create(options, std::make_shared<sc::Source>(), 7);
  CHECK(assembler.has_value());
  std::vector<sc::Record> out;
  for (std::size_t at = 0; at < file.size(); at += step) {
    assembler->feed(file.substr(at, step), 1, out);
    CHECK(assembler->held_bytes() <= 2 * options.max_record_bytes);
    CHECK(assembler->committable() == (out.empty() ? 7 : out.back().end));
  }
  assembler->finish(1, out);
  CHECK(assembler->held_bytes() == 0);
  CHECK(assembler->committable() == 7 + file.size());
  std::uint64_t at = 7;
  for (const auto& r : out) {
    CHECK(r.offset == at);
    CHECK(r.end > r.offset);
    CHECK(r.text.size() <= options.max_record_bytes);
    CHECK(r.fields.empty() || r.parse_error.empty());
    at = r.end;
  }
  CHECK(at == 7 + file.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::uint8_t pick = data[0];
  const std::size_t step = 1 + data[1] % 16;
  const std::string_view file(reinterpret_cast<const char*>(data + 2), size - 2);

  sc::RecordOptions options;
  options.max_record_bytes = 1 + (pick & 0x1f) * 4;
  if ((pick & 0x20) != 0) {
    options.multiline_start = "^\\S";
    options.max_lines = 3;
  }
  switch (pick >> 6) {
    case 0:
      options.parse = sc::ParseMode::kRaw;
      break;
    case 1:
      options.parse = sc::ParseMode::kJson;
      break;
    case 2:
      options.parse = sc::ParseMode::kLogfmt;
      break;
    default:
      options.parse = sc::ParseMode::kRegex;
      options.regex = R"(^(?<level>[A-Z]+) (?<key>\w+)=(?<value>"[^"]*"|\S*))";
      break;
  }
  const auto whole = assemble(options, file, file.size() + 1);
  const auto chunked = assemble(options, file, step);
  CHECK(whole.size() == chunked.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    CHECK(whole[i].text == chunked[i].text && whole[i].end == chunked[i].end);
    CHECK(whole[i].cut == chunked[i].cut && whole[i].fields == chunked[i].fields);
    CHECK(whole[i].parse_error == chunked[i].parse_error);
  }

  // logfmt on the whole input: values are strings, or true for a bare key.
  if (auto fields = tender::parse_logfmt(file)) {
    for (const auto& field : *fields) {
      CHECK(!field.key().empty());
      CHECK(field.value().is_string() || field.value() == true);
    }
  } else {
    CHECK(fields.error().message().find(" at byte ") != std::string::npos);
  }
  return 0;
}

#include "sidecar/records.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <random>
#include <string>
#include <vector>

namespace tender::sidecar {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000'000'000;
constexpr std::int64_t kSecond = 1'000'000'000;

std::shared_ptr<const Source> make_source(std::string key = "0123456789abcdef") {
  auto source = std::make_shared<Source>();
  source->key = std::move(key);
  source->path = "/var/log/app/app.log";
  source->input = "default";
  return source;
}

RecordAssembler make(const RecordOptions& options = {}, std::uint64_t offset = 0) {
  auto assembler = RecordAssembler::create(options, make_source(), offset);
  if (!assembler) {
    ADD_FAILURE() << assembler.error().message();
    std::abort();
  }
  return std::move(*assembler);
}

std::vector<Record> feed(RecordAssembler& a, std::string_view bytes, std::int64_t now = kNow) {
  std::vector<Record> out;
  a.feed(bytes, now, out);
  return out;
}

std::vector<std::string> texts(const std::vector<Record>& records) {
  std::vector<std::string> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    out.push_back(r.text);
  }
  return out;
}

using Texts = std::vector<std::string>;

// --- lines -------------------------------------------------------------------------------------

TEST(RecordLines, EachLineIsARecordSpanningItsNewline) {
  auto a = make();
  auto out = feed(a, "a\nbb\n\nccc\n");
  ASSERT_EQ(texts(out), (Texts{"a", "bb", "", "ccc"}));
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> spans{{0, 2}, {2, 5}, {5, 6}, {6, 10}};
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].offset, spans[i].first) << i;
    EXPECT_EQ(out[i].end, spans[i].second) << i;
    EXPECT_FALSE(out[i].cut);
    EXPECT_EQ(out[i].time_ns, kNow);
    EXPECT_EQ(out[i].source->key, "0123456789abcdef");
    EXPECT_TRUE(out[i].fields.empty());
    EXPECT_TRUE(out[i].parse_error.empty());
  }
  EXPECT_EQ(a.fed_offset(), 10U);
  EXPECT_EQ(a.committable(), 10U);
  EXPECT_EQ(a.held_bytes(), 0U);
  EXPECT_EQ(a.stats().records, 4U);
  EXPECT_EQ(a.stats().lines, 4U);
}

TEST(RecordLines, OffsetsCountFromTheStartOffset) {
  auto a = make({}, 1000);
  EXPECT_EQ(a.fed_offset(), 1000U);
  EXPECT_EQ(a.committable(), 1000U);
  auto out = feed(a, "x\nyz\n");
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].offset, 1000U);
  EXPECT_EQ(out[1].offset, 1002U);
  EXPECT_EQ(out[1].end, 1005U);
}

TEST(RecordLines, APartialLineIsHeldUntilItsNewline) {
  auto a = make();
  EXPECT_TRUE(feed(a, "first\nabc").size() == 1);
  EXPECT_EQ(a.held_bytes(), 3U);
  EXPECT_EQ(a.fed_offset(), 9U);
  EXPECT_EQ(a.committable(), 6U);  // the partial line is not committable
  EXPECT_TRUE(feed(a, "de").empty());
  auto out = feed(a, "f\ntail", kNow + 5);
  ASSERT_EQ(texts(out), (Texts{"abcdef"}));
  EXPECT_EQ(out[0].offset, 6U);
  EXPECT_EQ(out[0].end, 13U);
  EXPECT_EQ(out[0].time_ns, kNow + 5);  // when it was complete
  EXPECT_EQ(a.held_bytes(), 4U);
  EXPECT_EQ(a.committable(), 13U);
}

TEST(RecordLines, ANewlineAloneCompletesTheHeldLine) {
  auto a = make();
  EXPECT_TRUE(feed(a, "abc").empty());
  auto out = feed(a, "\n");
  ASSERT_EQ(texts(out), (Texts{"abc"}));
  EXPECT_EQ(out[0].end, 4U);
}

TEST(RecordLines, CrlfLosesItsCarriageReturnButKeepsItsOffsets) {
  auto a = make();
  auto out = feed(a, "a\r\nbc\r\n\r\n");
  ASSERT_EQ(texts(out), (Texts{"a", "bc", ""}));
  EXPECT_EQ(out[0].end, 3U);
  EXPECT_EQ(out[1].offset, 3U);
  EXPECT_EQ(out[1].end, 7U);
  EXPECT_EQ(out[2].end, 9U);
}

TEST(RecordLines, CrlfSplitBetweenChunks) {
  auto a = make();
  EXPECT_TRUE(feed(a, "abc\r").empty());
  auto out = feed(a, "\nd\r");
  ASSERT_EQ(texts(out), (Texts{"abc"}));
  EXPECT_EQ(out[0].end, 5U);
  out = feed(a, "\n");
  ASSERT_EQ(texts(out), (Texts{"d"}));
  EXPECT_EQ(out[0].end, 8U);
}

TEST(RecordLines, ACarriageReturnElsewhereIsText) {
  auto a = make();
  EXPECT_EQ(texts(feed(a, "a\rb\n\r\r\n")), (Texts{"a\rb", "\r"}));
}

TEST(RecordLines, FinishSendsTheLastLineWithoutNewline) {
  auto a = make();
  std::vector<Record> out;
  a.feed("a\nlast", kNow, out);
  a.finish(kNow + 1, out);
  ASSERT_EQ(texts(out), (Texts{"a", "last"}));
  EXPECT_EQ(out[1].offset, 2U);
  EXPECT_EQ(out[1].end, 6U);
  EXPECT_EQ(out[1].time_ns, kNow + 1);
  EXPECT_EQ(a.committable(), 6U);
  EXPECT_EQ(a.held_bytes(), 0U);
  out.clear();
  a.finish(kNow + 2, out);  // nothing more
  EXPECT_TRUE(out.empty());
}

TEST(RecordLines, FinishStripsATrailingCarriageReturn) {
  auto a = make();
  std::vector<Record> out;
  a.feed("end\r", kNow, out);
  a.finish(kNow, out);
  ASSERT_EQ(texts(out), (Texts{"end"}));
  EXPECT_EQ(out[0].end, 4U);
}

TEST(RecordLines, RestartDropsWhatIsHeld) {
  auto a = make();
  EXPECT_EQ(feed(a, "one\ntwo\npart").size(), 2U);
  a.restart(0);
  EXPECT_EQ(a.held_bytes(), 0U);
  EXPECT_EQ(a.fed_offset(), 0U);
  EXPECT_EQ(a.committable(), 0U);
  auto out = feed(a, "new\n");
  ASSERT_EQ(texts(out), (Texts{"new"}));
  EXPECT_EQ(out[0].offset, 0U);
  EXPECT_EQ(out[0].end, 4U);
  a.restart(50);
  out = feed(a, "x\n");
  EXPECT_EQ(out[0].offset, 50U);
}

TEST(RecordLines, SetSourceAppliesToLaterRecords) {
  auto a = make();
  auto first = feed(a, "a\nb");
  auto renamed = make_source("fedcba9876543210");
  a.set_source(renamed);
  EXPECT_EQ(a.source(), renamed);
  auto later = feed(a, "\n");
  EXPECT_EQ(first[0].source->key, "0123456789abcdef");
  EXPECT_EQ(later[0].source->key, "fedcba9876543210");
}

// --- max_record_bytes ----------------------------------------------------------------------------

RecordOptions max_bytes(std::size_t n) {
  RecordOptions o;
  o.max_record_bytes = n;
  return o;
}

TEST(RecordCut, ALongerLineKeepsItsFirstBytesAndIsCounted) {
  auto a = make(max_bytes(4));
  auto out = feed(a, "abcdefgh\nxy\n");
  ASSERT_EQ(texts(out), (Texts{"abcd", "xy"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(out[0].offset, 0U);
  EXPECT_EQ(out[0].end, 9U);
  EXPECT_FALSE(out[1].cut);
  EXPECT_EQ(out[1].offset, 9U);
  EXPECT_EQ(a.stats().cut_records, 1U);
  EXPECT_EQ(a.stats().cut_bytes, 4U);
  EXPECT_EQ(a.stats().records, 2U);
}

TEST(RecordCut, ExactlyMaxIsNotCutWithOrWithoutCarriageReturn) {
  auto a = make(max_bytes(4));
  auto out = feed(a, "abcd\nefgh\r\n");
  ASSERT_EQ(texts(out), (Texts{"abcd", "efgh"}));
  EXPECT_FALSE(out[0].cut);
  EXPECT_FALSE(out[1].cut);
  // The same, held across chunks.
  EXPECT_TRUE(feed(a, "ijkl\r").empty());
  EXPECT_LE(a.held_bytes(), 4U);
  out = feed(a, "\n");
  ASSERT_EQ(texts(out), (Texts{"ijkl"}));
  EXPECT_FALSE(out[0].cut);
  EXPECT_EQ(a.stats().cut_records, 0U);
}

TEST(RecordCut, TheCarriageReturnOfACutLineIsNotCountedAsCut) {
  auto a = make(max_bytes(4));
  auto out = feed(a, "abcdefgh\r\n");
  ASSERT_EQ(texts(out), (Texts{"abcd"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(out[0].end, 10U);
  EXPECT_EQ(a.stats().cut_bytes, 4U);
}

TEST(RecordCut, ACutLineAcrossChunksIsNotHeld) {
  auto a = make(max_bytes(4));
  EXPECT_TRUE(feed(a, "abcdefgh").empty());
  EXPECT_EQ(a.held_bytes(), 4U);
  EXPECT_TRUE(feed(a, "ijk").empty());
  EXPECT_EQ(a.held_bytes(), 4U);
  EXPECT_EQ(a.committable(), 0U);
  auto out = feed(a, "\nnext\n");
  ASSERT_EQ(texts(out), (Texts{"abcd", "next"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(out[0].end, 12U);
  EXPECT_EQ(out[1].offset, 12U);
  EXPECT_EQ(a.stats().cut_bytes, 7U);
}

TEST(RecordCut, ATenMegabyteLineIsCutWithoutHoldingIt) {
  constexpr std::size_t kMax = std::size_t{1} << 20;
  constexpr std::size_t kLine = 10'000'000;
  constexpr std::size_t kChunk = 64 << 10;
  auto a = make(max_bytes(kMax));
  std::string line(kLine, 'x');
  for (std::size_t i = 0; i < kLine; i += 4096) {
    line[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  std::vector<Record> out;
  a.feed("before\n", kNow, out);
  std::size_t most_held = 0;
  for (std::size_t at = 0; at < kLine; at += kChunk) {
    a.feed(std::string_view(line).substr(at, kChunk), kNow, out);
    most_held = std::max(most_held, a.held_bytes());
  }
  EXPECT_EQ(out.size(), 1U);
  EXPECT_EQ(most_held, kMax);
  EXPECT_EQ(a.committable(), 7U);
  a.feed("\nafter\n", kNow, out);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[1].text, line.substr(0, kMax));
  EXPECT_TRUE(out[1].cut);
  EXPECT_EQ(out[1].offset, 7U);
  EXPECT_EQ(out[1].end, 7U + kLine + 1);
  EXPECT_EQ(out[2].text, "after");
  EXPECT_EQ(out[2].offset, 7U + kLine + 1);
  EXPECT_EQ(a.stats().cut_records, 1U);
  EXPECT_EQ(a.stats().cut_bytes, kLine - kMax);
  EXPECT_EQ(a.held_bytes(), 0U);
}

TEST(RecordCut, ALineCutInOneChunkIsCutTheSame) {
  auto a = make(max_bytes(8));
  std::string line(100, 'z');
  auto out = feed(a, line + "\n");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].text, std::string(8, 'z'));
  EXPECT_EQ(out[0].end, 101U);
  EXPECT_EQ(a.stats().cut_bytes, 92U);
}

TEST(RecordCut, FinishSendsACutLastLine) {
  auto a = make(max_bytes(3));
  std::vector<Record> out;
  a.feed("abcdef", kNow, out);
  a.finish(kNow, out);
  ASSERT_EQ(texts(out), (Texts{"abc"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(out[0].end, 6U);
  EXPECT_EQ(a.stats().cut_bytes, 3U);
}

// --- multiline -----------------------------------------------------------------------------------

RecordOptions multiline(std::string start = "^\\S") {
  RecordOptions o;
  o.multiline_start = std::move(start);
  return o;
}

TEST(RecordMultiline, ContinuationLinesJoinTheRecordBefore) {
  auto a = make(multiline());
  auto out = feed(a, "Exception: boom\n  at a\n  at b\nNext\n");
  ASSERT_EQ(texts(out), (Texts{"Exception: boom\n  at a\n  at b"}));
  EXPECT_EQ(out[0].offset, 0U);
  EXPECT_EQ(out[0].end, 30U);
  EXPECT_EQ(a.committable(), 30U);  // "Next" starts there, and is held
  EXPECT_EQ(a.held_bytes(), 4U);
  EXPECT_EQ(a.stats().lines, 4U);
  EXPECT_EQ(a.stats().records, 1U);
}

TEST(RecordMultiline, ThePendingRecordGoesOutWhenItsWaitIsOver) {
  RecordOptions o = multiline();
  o.multiline_wait_ns = 2 * kSecond;
  auto a = make(o);
  EXPECT_EQ(a.due_ns(), 0);
  EXPECT_TRUE(feed(a, "Start\n", kNow).empty());
  EXPECT_EQ(a.due_ns(), kNow + 2 * kSecond);
  EXPECT_TRUE(feed(a, "  more\n", kNow + kSecond).empty());
  EXPECT_EQ(a.due_ns(), kNow + 3 * kSecond);  // counted from the last line
  std::vector<Record> out;
  a.flush_due(kNow + 3 * kSecond - 1, out);
  EXPECT_TRUE(out.empty());
  a.flush_due(kNow + 3 * kSecond, out);
  ASSERT_EQ(texts(out), (Texts{"Start\n  more"}));
  EXPECT_EQ(out[0].time_ns, kNow);  // when its first line was read
  EXPECT_EQ(out[0].end, 13U);
  EXPECT_EQ(a.due_ns(), 0);
  EXPECT_EQ(a.committable(), 13U);
}

TEST(RecordMultiline, AContinuationWithNothingBeforeItStartsARecord) {
  auto a = make(multiline());
  std::vector<Record> out;
  a.feed("  orphan\n  second\nStart\n", kNow, out);
  a.finish(kNow, out);
  EXPECT_EQ(texts(out), (Texts{"  orphan\n  second", "Start"}));
}

TEST(RecordMultiline, MaxLinesEndsARecord) {
  RecordOptions o = multiline();
  o.max_lines = 3;
  auto a = make(o);
  std::vector<Record> out;
  a.feed("S\n 1\n 2\n 3\n 4\nT\n", kNow, out);
  a.finish(kNow, out);
  EXPECT_EQ(texts(out), (Texts{"S\n 1\n 2", " 3\n 4", "T"}));
  EXPECT_EQ(out[1].offset, 8U);
}

TEST(RecordMultiline, FinishSendsThePendingRecordAndAPartialLine) {
  auto a = make(multiline());
  std::vector<Record> out;
  a.feed("S1\n  c\n  partial", kNow, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(a.held_bytes(), 6U + 9U);
  a.finish(kNow, out);
  ASSERT_EQ(texts(out), (Texts{"S1\n  c\n  partial"}));
  EXPECT_EQ(out[0].end, 16U);
  EXPECT_EQ(a.committable(), 16U);
}

TEST(RecordMultiline, ARecordPassingMaxBytesIsCut) {
  RecordOptions o = multiline();
  o.max_record_bytes = 10;
  auto a = make(o);
  auto out = feed(a, "S123456\n  abcdef\n  x\nS2\n");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].text, "S123456\n  ");
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(out[0].end, 21U);
  EXPECT_EQ(a.stats().cut_records, 1U);
  EXPECT_EQ(a.stats().cut_bytes, 10U);  // "abcdef\n  x" of "S123456\n  abcdef\n  x"
  EXPECT_LE(a.held_bytes(), 10U);
}

TEST(RecordMultiline, ACutFirstLineStaysCut) {
  RecordOptions o = multiline();
  o.max_record_bytes = 4;
  auto a = make(o);
  std::vector<Record> out;
  a.feed("Sabcdefg\n c\nT\n", kNow, out);
  ASSERT_EQ(texts(out), (Texts{"Sabc"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_EQ(a.stats().cut_bytes, 4U + 3U);  // "defg", then "\n c"
}

TEST(RecordMultiline, CrlfLinesAreJoinedWithoutCarriageReturns) {
  auto a = make(multiline());
  auto out = feed(a, "S\r\n  c\r\nT\r\n");
  ASSERT_EQ(texts(out), (Texts{"S\n  c"}));
  EXPECT_EQ(out[0].end, 8U);
}

TEST(RecordMultiline, ResumingAtCommittableRestartsARecord) {
  const std::string file = "S one\n  a\n  b\nS two\n  c\nS three\n  d\n  e\nS four\n";
  auto full = make(multiline());
  std::vector<Record> expected;
  full.feed(file, kNow, expected);
  full.finish(kNow, expected);
  ASSERT_EQ(expected.size(), 4U);
  for (std::size_t cut = 1; cut < file.size(); ++cut) {
    auto first = make(multiline());
    std::vector<Record> out;
    first.feed(std::string_view(file).substr(0, cut), kNow, out);
    const std::uint64_t resume = first.committable();
    // After a restart, reading resumes at `resume`: records before it were produced once.
    auto second = make(multiline(), resume);
    second.feed(std::string_view(file).substr(resume), kNow, out);
    second.finish(kNow, out);
    ASSERT_EQ(out.size(), expected.size()) << "cut at " << cut;
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].text, expected[i].text) << "cut at " << cut;
      EXPECT_EQ(out[i].offset, expected[i].offset) << "cut at " << cut;
      EXPECT_EQ(out[i].end, expected[i].end) << "cut at " << cut;
    }
  }
}

TEST(RecordMultiline, RestartDropsThePendingRecord) {
  auto a = make(multiline());
  EXPECT_TRUE(feed(a, "S\n c\n").empty());
  a.restart(0);
  EXPECT_EQ(a.held_bytes(), 0U);
  EXPECT_EQ(a.due_ns(), 0);
  std::vector<Record> out;
  a.finish(kNow, out);
  EXPECT_TRUE(out.empty());
}

TEST(RecordMultiline, MultilineRecordsAreParsedWhole) {
  RecordOptions o = multiline("^\\{");
  o.parse = ParseMode::kJson;
  auto a = make(o);
  std::vector<Record> out;
  a.feed("{\"a\": 1,\n  \"b\": [2, 3]}\n{\"c\":\n", kNow, out);
  a.finish(kNow, out);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(boost::json::value(out[0].fields), boost::json::parse(R"({"a":1,"b":[2,3]})"));
  EXPECT_TRUE(out[1].fields.empty());
  EXPECT_FALSE(out[1].parse_error.empty());
  EXPECT_EQ(a.stats().parse_errors, 1U);
}

// --- any input, any chunking ---------------------------------------------------------------------

// Random files of short lines over a small alphabet (with CRs, empty lines and start lines), under
// random limits: fed whole or in random chunks, the records are the same; together they cover
// the file exactly, each text within max_record_bytes.
TEST(RecordProperties, RecordsTileTheFileWhateverTheChunks) {
  std::mt19937 rng(20261206);
  const std::string alphabet = "ab \r\n\n S";
  for (int round = 0; round < 300; ++round) {
    std::string file(std::uniform_int_distribution<std::size_t>(0, 300)(rng), 'x');
    for (char& c : file) {
      c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    }
    RecordOptions o;
    o.max_record_bytes = std::uniform_int_distribution<std::size_t>(1, 12)(rng);
    if (round % 2 == 1) {
      o.multiline_start = "^S";
      o.max_lines = std::uniform_int_distribution<std::size_t>(1, 4)(rng);
    }
    const std::uint64_t start = round;
    auto whole = make(o, start);
    std::vector<Record> expected;
    whole.feed(file, kNow, expected);
    whole.finish(kNow, expected);
    auto chunked = make(o, start);
    std::vector<Record> got;
    for (std::size_t at = 0; at < file.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 7)(rng);
      chunked.feed(std::string_view(file).substr(at, n), kNow, got);
      at += n;
      EXPECT_LE(chunked.held_bytes(), 2 * o.max_record_bytes);
    }
    chunked.finish(kNow, got);
    ASSERT_EQ(got.size(), expected.size()) << "round " << round;
    std::uint64_t at = start;
    std::uint64_t cut = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].text, expected[i].text) << "round " << round << " record " << i;
      EXPECT_EQ(got[i].cut, expected[i].cut) << "round " << round << " record " << i;
      EXPECT_EQ(got[i].offset, at) << "round " << round << " record " << i;
      EXPECT_EQ(got[i].end, expected[i].end) << "round " << round << " record " << i;
      EXPECT_GT(got[i].end, got[i].offset);
      EXPECT_LE(got[i].text.size(), o.max_record_bytes);
      cut += got[i].cut ? 1 : 0;
      at = got[i].end;
    }
    EXPECT_EQ(at, start + file.size()) << "round " << round;
    EXPECT_EQ(chunked.committable(), start + file.size());
    EXPECT_EQ(chunked.stats().cut_records, cut);
    EXPECT_EQ(chunked.stats().cut_bytes, whole.stats().cut_bytes);
    EXPECT_EQ(chunked.stats().lines, whole.stats().lines);
  }
}

// --- parse modes through the assembler ---------------------------------------------------------

TEST(RecordParse, JsonObjectsBecomeFieldsAndTheRestStaysRaw) {
  RecordOptions o;
  o.parse = ParseMode::kJson;
  auto a = make(o);
  auto out = feed(a, "{\"level\":\"info\",\"n\":3}\n[1,2]\nnot json\n");
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(boost::json::value(out[0].fields), boost::json::parse(R"({"level":"info","n":3})"));
  EXPECT_TRUE(out[0].parse_error.empty());
  EXPECT_EQ(out[0].text, "{\"level\":\"info\",\"n\":3}");  // the text stays as read
  EXPECT_TRUE(out[1].fields.empty());
  EXPECT_EQ(out[1].parse_error, "json: not an object but an array");
  EXPECT_EQ(out[2].text, "not json");
  EXPECT_TRUE(out[2].parse_error.starts_with("json: ")) << out[2].parse_error;
  EXPECT_EQ(a.stats().parse_errors, 2U);
  EXPECT_EQ(a.stats().records, 3U);
}

TEST(RecordParse, ACutJsonLineIsAParseError) {
  RecordOptions o;
  o.parse = ParseMode::kJson;
  o.max_record_bytes = 10;
  auto a = make(o);
  auto out = feed(a, "{\"message\":\"a long one\"}\n");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_TRUE(out[0].cut);
  EXPECT_FALSE(out[0].parse_error.empty());
}

TEST(RecordParse, LogfmtAndRegexFields) {
  RecordOptions o;
  o.parse = ParseMode::kLogfmt;
  auto a = make(o);
  auto out = feed(a, "level=warn msg=\"disk full\" retry\n");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(boost::json::value(out[0].fields),
            boost::json::parse(R"({"level":"warn","msg":"disk full","retry":true})"));

  o.parse = ParseMode::kRegex;
  o.regex = R"(^(?<level>[A-Z]+) (?<msg>.*)$)";
  auto b = make(o);
  out = feed(b, "WARN disk full\nlowercase line\n");
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(boost::json::value(out[0].fields),
            boost::json::parse(R"({"level":"WARN","msg":"disk full"})"));
  EXPECT_EQ(out[1].parse_error, "regex: no match");
  EXPECT_EQ(b.stats().parse_errors, 1U);
}

// --- options -------------------------------------------------------------------------------------

std::string invalid_message(const RecordOptions& o) {
  auto ok = validate(o);
  if (ok) {
    return "valid";
  }
  EXPECT_EQ(ok.error().code(), std::errc::invalid_argument);
  // create() fails the same way.
  auto created = RecordAssembler::create(o, make_source(), 0);
  EXPECT_FALSE(created.has_value());
  if (!created) {
    EXPECT_EQ(created.error().message(), ok.error().message());
  }
  return ok.error().message();
}

TEST(RecordOptions, DefaultsAreValid) { EXPECT_EQ(invalid_message(RecordOptions{}), "valid"); }

TEST(RecordOptions, ZeroLimitsAreRefused) {
  RecordOptions o;
  o.max_record_bytes = 0;
  EXPECT_EQ(invalid_message(o), "max_record_bytes: must be at least 1");
  o = {};
  o.max_lines = 0;
  EXPECT_EQ(invalid_message(o), "max_lines: must be at least 1");
  o = {};
  o.multiline_wait_ns = -1;
  EXPECT_EQ(invalid_message(o), "multiline_wait: must not be negative");
}

TEST(RecordOptions, ABadMultilineStartIsNamedWithWhereAndWhy) {
  const auto message = invalid_message(multiline("^(\\d+"));
  EXPECT_TRUE(message.starts_with("multiline_start: ")) << message;
  EXPECT_NE(message.find("parenthesis"), std::string::npos) << message;
  EXPECT_NE(message.find(" at "), std::string::npos) << message;
}

TEST(RecordOptions, TheRegexModeNeedsAValidExpressionWithANamedGroup) {
  RecordOptions o;
  o.parse = ParseMode::kRegex;
  EXPECT_EQ(invalid_message(o), "regex: empty");
  o.regex = "^(\\w+) (.*)$";
  EXPECT_TRUE(invalid_message(o).starts_with("regex: no named group")) << invalid_message(o);
  o.regex = "^(?<word>\\w+ [a-";
  EXPECT_TRUE(invalid_message(o).starts_with("regex: ")) << invalid_message(o);
  EXPECT_FALSE(invalid_message(o).starts_with("regex: no named group"));
  o.regex = "^(?<word>\\w+)";
  EXPECT_EQ(invalid_message(o), "valid");
  // The regex is ignored by other modes.
  o.parse = ParseMode::kLogfmt;
  o.regex = "(";
  EXPECT_EQ(invalid_message(o), "valid");
}

}  // namespace
}  // namespace tender::sidecar

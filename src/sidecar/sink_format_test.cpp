// Records on the wire: raw lines, JSON lines, Loki push requests.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <random>

#include "sidecar/sink.hpp"

namespace tender::sidecar {
namespace {

namespace json = boost::json;

std::shared_ptr<const Source> source(std::string path = "/var/log/app/a.log",
                                     std::string key = "0123456789abcdef", Labels labels = {}) {
  return std::make_shared<const Source>(
      Source{std::move(key), std::move(path), "default", std::move(labels)});
}

Record record(std::shared_ptr<const Source> src, std::uint64_t offset, std::string text,
              std::int64_t time_ns = 1'700'000'000'123'456'789) {
  Record r;
  r.source = std::move(src);
  r.offset = offset;
  r.end = offset + text.size() + 1;
  r.text = std::move(text);
  r.time_ns = time_ns;
  return r;
}

std::string json_line(const Record& r) {
  std::string out;
  encode_record(r, RecordFormat::kJson, out);
  return out;
}

TEST(EncodeRecord, RawIsTheTextAndANewline) {
  std::string out = "before\n";
  encode_record(record(source(), 0, "hello world"), RecordFormat::kRaw, out);
  encode_record(record(source(), 12, ""), RecordFormat::kRaw, out);
  EXPECT_EQ(out, "before\nhello world\n\n");
}

TEST(EncodeRecord, JsonGolden) {
  EXPECT_EQ(json_line(record(source(), 42, "GET /index.html 200")),
            R"({"time":"2023-11-14T22:13:20.123456789Z","file":"/var/log/app/a.log",)"
            R"("key":"0123456789abcdef","offset":42,"message":"GET /index.html 200"})"
            "\n");
}

TEST(EncodeRecord, JsonLabelsCutAndParseError) {
  auto r =
      record(source("/l/b.log", "00000000000000ff", {{"app", "web"}, {"env", "dev"}}), 7, "{oops");
  r.cut = true;
  r.parse_error = "not JSON: unexpected end";
  EXPECT_EQ(json_line(r), R"({"time":"2023-11-14T22:13:20.123456789Z","file":"/l/b.log",)"
                          R"("key":"00000000000000ff","offset":7,"message":"{oops",)"
                          R"("labels":{"app":"web","env":"dev"},"cut":true,)"
                          R"("parse_error":"not JSON: unexpected end"})"
                          "\n");
}

TEST(EncodeRecord, ParsedFieldsAtTopLevelAndClashesUnderFields) {
  auto r = record(source(), 0, R"({"level":"info","time":"yesterday","n":3})");
  r.fields = json::parse(R"({"level":"info","time":"yesterday","n":3,"ok":true,)"
                         R"("x":null,"d":1.5,"nested":{"a":[1,"b"]},"message":"m"})")
                 .as_object();
  EXPECT_EQ(json_line(r), R"({"time":"2023-11-14T22:13:20.123456789Z","file":"/var/log/app/a.log",)"
                          R"("key":"0123456789abcdef","offset":0,)"
                          R"("message":"{\"level\":\"info\",\"time\":\"yesterday\",\"n\":3}",)"
                          R"("level":"info","n":3,"ok":true,"x":null,"d":1.5,)"
                          R"("nested":{"a":[1,"b"]},"fields":{"time":"yesterday","message":"m"}})"
                          "\n");
}

TEST(EncodeRecord, TimeIsRfc3339WithNanosecondsInUtc) {
  auto time_of = [](std::int64_t ns) {
    auto v = json::parse(json_line(record(source(), 0, "x", ns)));
    return std::string(v.at("time").as_string());
  };
  EXPECT_EQ(time_of(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(time_of(1), "1970-01-01T00:00:00.000000001Z");
  EXPECT_EQ(time_of(-1), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(time_of(951'782'400'000'000'000), "2000-02-29T00:00:00.000000000Z");  // leap day
  EXPECT_EQ(time_of(1'798'761'599'999'999'999), "2026-12-31T23:59:59.999999999Z");
  EXPECT_EQ(time_of(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
}

TEST(EncodeRecord, EscapesControlCharactersAndQuotes) {
  auto line = json_line(record(source("/p\"q"), 0, "a\"b\\c\nd\te\r\x01\x1f"));
  EXPECT_NE(line.find(R"("file":"/p\"q")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("message":"a\"b\\c\nd\te\r\u0001\u001f")"), std::string::npos) << line;
  EXPECT_EQ(json::parse(line).at("message").as_string(), "a\"b\\c\nd\te\r\x01\x1f");
}

TEST(EncodeRecord, ValidUtf8IsKeptAndEveryInvalidByteBecomesAReplacementCharacter) {
  auto message = [](const std::string& text) {
    return std::string(json::parse(json_line(record(source(), 0, text))).at("message").as_string());
  };
  EXPECT_EQ(message("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(message("a\xFF"
                    "b"),
            "a" + fffd + "b");
  EXPECT_EQ(message("\x80"), fffd);                                // a stray continuation byte
  EXPECT_EQ(message("\xC0\xAF"), fffd + fffd);                     // overlong '/'
  EXPECT_EQ(message("\xED\xA0\x80"), fffd + fffd + fffd);          // a surrogate
  EXPECT_EQ(message("\xF4\x90\x80\x80").size(), 4 * fffd.size());  // past U+10FFFF
  EXPECT_EQ(message("x\xE2\x82"), "x" + fffd + fffd);              // cut off at the end
}

TEST(EncodeRecord, SpecialBytesAreSeenAtEveryPositionOfALongString) {
  for (std::string special : {"\"", "\\", "\x01", "\x7f", "\xC3\xA9", "\xFF"}) {
    for (std::size_t at = 0; at < 24; ++at) {
      std::string text(24, 'a');
      text.replace(at, 1, special);
      auto v = json::parse(json_line(record(source(), 0, text)));
      std::string expected = text;
      if (special == "\xFF") {
        expected.replace(at, 1, "\xEF\xBF\xBD");
      }
      ASSERT_EQ(v.at("message").as_string(), expected) << "at " << at;
    }
  }
}

TEST(EncodeRecord, AnyBytesGiveOneValidJsonLine) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 64);
  auto src = source("/x\xFF.log", "0123456789abcdef", {{"k\x80", "v\xC3"}});
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    for (int n = len(rng); n > 0; --n) {
      text.push_back(static_cast<char>(byte(rng)));
    }
    auto r = record(src, static_cast<std::uint64_t>(i), text);
    r.fields["f\xFE"] = text;
    auto line = json_line(r);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1);
    boost::system::error_code ec;
    auto v = json::parse(line, ec);  // Boost.JSON rejects invalid UTF-8
    ASSERT_FALSE(ec) << ec.message() << " in " << line;
    ASSERT_EQ(v.at("offset").as_int64(), i);
  }
}

// --- Loki ----------------------------------------------------------------------------------

TEST(EncodeLoki, Golden) {
  auto a = source("/var/log/a.log", "aaaaaaaaaaaaaaaa", {{"app", "web"}});
  std::vector<Record> batch{record(a, 0, "one", 1'000), record(a, 4, "two", 2'000)};
  batch[1].cut = true;
  EXPECT_EQ(encode_loki(batch, {{"job", "tender"}}),
            R"({"streams":[{"stream":{"app":"web","filename":"/var/log/a.log","job":"tender"},)"
            R"("values":[["1000","one",{"key":"aaaaaaaaaaaaaaaa","offset":"0"}],)"
            R"(["2000","two",{"key":"aaaaaaaaaaaaaaaa","offset":"4","cut":"true"}]]}]})");
}

// Checks `body` against the push API's JSON as Loki documents it: {"streams": [{"stream":
// {label: value}, "values": [[ns string, line string, optional {string: string}]]}]}.
void expect_loki_shape(const std::string& body) {
  auto v = json::parse(body);
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 1u);
  for (const auto& stream : v.at("streams").as_array()) {
    ASSERT_EQ(stream.as_object().size(), 2u);
    ASSERT_FALSE(stream.at("stream").as_object().empty());
    for (const auto& [name, value] : stream.at("stream").as_object()) {
      ASSERT_TRUE(value.is_string());
      ASSERT_FALSE(name.empty());
      for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                  (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
        ASSERT_TRUE(ok) << "label name " << name;
      }
    }
    for (const auto& entry : stream.at("values").as_array()) {
      const auto& e = entry.as_array();
      ASSERT_TRUE(e.size() == 2 || e.size() == 3);
      const auto& ns = e[0].as_string();
      ASSERT_FALSE(ns.empty());
      ASSERT_EQ(std::string(ns).find_first_not_of("0123456789"), std::string::npos);
      ASSERT_TRUE(e[1].is_string());
      if (e.size() == 3) {
        for (const auto& [k, meta] : e[2].as_object()) {
          ASSERT_TRUE(meta.is_string()) << k;
        }
      }
    }
  }
}

TEST(EncodeLoki, OneStreamPerLabelSetValuesInBatchOrder) {
  auto a = source("/l/a.log", "aaaaaaaaaaaaaaaa", {{"app", "web"}});
  auto a2 = source("/l/a.log", "aaaaaaaaaaaaaaaa", {{"app", "web"}});  // same labels, other object
  auto b = source("/l/b.log", "bbbbbbbbbbbbbbbb", {{"app", "web"}});
  std::vector<Record> batch{record(a, 0, "a0"), record(b, 0, "b0"), record(a2, 3, "a3"),
                            record(b, 3, "b3"), record(a, 6, "a6")};
  auto body = encode_loki(batch, {});
  expect_loki_shape(body);
  auto streams = json::parse(body).at("streams").as_array();
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[0].at("stream").at("filename").as_string(), "/l/a.log");
  EXPECT_EQ(streams[1].at("stream").at("filename").as_string(), "/l/b.log");
  std::vector<std::string> lines;
  for (const auto& v : streams[0].at("values").as_array()) {
    lines.emplace_back(v.as_array()[1].as_string());
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"a0", "a3", "a6"}));
  EXPECT_EQ(streams[1].at("values").as_array().size(), 2u);
  EXPECT_EQ(streams[1].at("values").as_array()[1].as_array()[2].at("offset").as_string(), "3");
}

TEST(EncodeLoki, LabelNamesAreSanitisedAndTheInputsWin) {
  auto a = source("/l/a.log", "aaaaaaaaaaaaaaaa",
                  {{"app.kubernetes.io/name", "web"}, {"9lives", "x"}, {"env", "prod"}});
  std::vector<Record> batch{record(a, 0, "line")};
  batch[0].parse_error = "no match";
  auto body = encode_loki(batch, {{"env", "dev"}, {"job", "tender"}});
  expect_loki_shape(body);
  auto stream = json::parse(body).at("streams").at(0).at("stream").as_object();
  EXPECT_EQ(stream.at("app_kubernetes_io_name").as_string(), "web");
  EXPECT_EQ(stream.at("_9lives").as_string(), "x");
  EXPECT_EQ(stream.at("env").as_string(), "prod");
  EXPECT_EQ(stream.at("job").as_string(), "tender");
  auto meta = json::parse(body).at("streams").at(0).at("values").at(0).at(2).as_object();
  EXPECT_EQ(meta.at("parse_error").as_string(), "no match");
}

TEST(EncodeLoki, AnyBytesGiveValidJson) {
  auto a = source("/l/\xFF.log", "aaaaaaaaaaaaaaaa", {{"\xC3", "\x80"}});
  std::vector<Record> batch{record(a, 0, "\x01\xFE\"\\\xE2\x82")};
  auto body = encode_loki(batch, {});
  expect_loki_shape(body);
}

TEST(EncodeLoki, EmptyBatch) { EXPECT_EQ(encode_loki({}, {}), R"({"streams":[]})"); }

}  // namespace
}  // namespace tender::sidecar

#include "scatter/merge.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tender::scatter {
namespace {

namespace json = boost::json;

json::value parse(std::string_view text) { return json::parse(text); }

MergeSpec spec_of(std::string_view text) {
  auto spec = parse_merge(text);
  EXPECT_TRUE(spec) << text << ": " << (spec ? "" : spec.error().message());
  return spec ? *spec : MergeSpec{};
}

// --- parse_merge ---------------------------------------------------------------------------

TEST(ParseMerge, ReadsEveryKind) {
  using Kind = MergeSpec::Kind;
  auto concat = spec_of("concat");
  EXPECT_EQ(concat.kind, Kind::kConcat);
  EXPECT_EQ(concat.path, "");
  EXPECT_EQ(spec_of("object@result").kind, Kind::kObject);
  EXPECT_EQ(spec_of("object@result").path, "result");
  EXPECT_EQ(spec_of("count").kind, Kind::kCount);

  auto sum = spec_of("sum:hits,stats.bytes@result.totals");
  EXPECT_EQ(sum.kind, Kind::kSum);
  EXPECT_EQ(sum.fields, (std::vector<std::string>{"hits", "stats.bytes"}));
  EXPECT_EQ(sum.path, "result.totals");
  EXPECT_EQ(spec_of("min:ms").kind, Kind::kMin);
  EXPECT_EQ(spec_of("max:ms").kind, Kind::kMax);
  EXPECT_EQ(spec_of("avg:ms,load").fields, (std::vector<std::string>{"ms", "load"}));

  auto topk = spec_of("topk:score:10@hits");
  EXPECT_EQ(topk.kind, Kind::kTopK);
  EXPECT_EQ(topk.fields, std::vector<std::string>{"score"});
  EXPECT_EQ(topk.k, 10U);
  EXPECT_FALSE(topk.ascending);
  EXPECT_EQ(topk.path, "hits");
  auto asc = spec_of("topk:doc.rank:100000:asc");
  EXPECT_TRUE(asc.ascending);
  EXPECT_EQ(asc.k, 100000U);
  EXPECT_EQ(asc.fields, std::vector<std::string>{"doc.rank"});
}

TEST(ParseMerge, ReadsAContainerUrl) {
  auto spec = spec_of("http://127.0.0.1:9000/merge");
  EXPECT_EQ(spec.kind, MergeSpec::Kind::kContainer);
  EXPECT_EQ(spec.url, "http://127.0.0.1:9000/merge");
  EXPECT_EQ(spec.str(), "http://127.0.0.1:9000/merge");
  EXPECT_FALSE(parse_merge("http://:9000/merge"));
  EXPECT_FALSE(parse_merge("http://127.0.0.1:0/merge"));
  auto https = parse_merge("https://127.0.0.1:9000/merge");
  ASSERT_FALSE(https);
  EXPECT_NE(https.error().message().find("merge container"), std::string::npos);
}

TEST(ParseMerge, StrRoundTrips) {
  for (std::string_view text :
       {"concat", "concat@hits", "object", "object@a.b.c", "count", "count@hits", "sum:a",
        "sum:a,b.c@r", "min:ms", "max:ms@stats", "avg:x,y", "topk:score:10", "topk:score:10@hits",
        "topk:doc.rank:3:asc@result.items", "http://127.0.0.1:1/m"}) {
    auto spec = spec_of(text);
    EXPECT_EQ(spec.str(), text);
    auto again = spec_of(spec.str());
    EXPECT_EQ(again.kind, spec.kind);
    EXPECT_EQ(again.fields, spec.fields);
    EXPECT_EQ(again.k, spec.k);
    EXPECT_EQ(again.ascending, spec.ascending);
    EXPECT_EQ(again.path, spec.path);
    EXPECT_EQ(again.url, spec.url);
  }
}

TEST(ParseMerge, RejectsWithAReason) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"foo",
       "unknown merge \"foo\" (concat, object, sum, min, max, avg, topk, count, or an http:// "
       "URL)"},
      {"", "unknown merge \"\""},
      {"@hits", "unknown merge \"\""},
      {"Concat", "unknown merge \"Concat\""},
      {"topk", "topk needs FIELD:K"},
      {"topk:score", "topk needs FIELD:K"},
      {"topk::10", "topk needs FIELD:K"},
      {"topk:score:0", "topk's K must be from 1 to 100000"},
      {"topk:score:100001", "topk's K must be from 1 to 100000"},
      {"topk:score:-1", "topk's K must be from 1 to 100000"},
      {"topk:score:10x", "topk's K must be from 1 to 100000"},
      {"topk:score:ten", "topk's K must be from 1 to 100000"},
      {"topk:score:10:desc", "topk takes FIELD:K[:asc]"},
      {"topk:score:10:asc:x", "topk takes FIELD:K[:asc]"},
      {"topk:a..b:10", "topk: bad field \"a..b\""},
      {"sum", "sum needs a field"},
      {"sum:", "sum needs a field"},
      {"min", "min needs a field"},
      {"avg:a:b", "avg takes FIELD[,FIELD...]"},
      {"sum:a,,b", "sum: bad field \"\""},
      {"max:.a", "max: bad field \".a\""},
      {"concat:x", "concat takes no arguments"},
      {"count:n", "count takes no arguments"},
      {"concat@", "empty @PATH"},
      {"topk:score:10@", "empty @PATH"},
      {"concat@hits.", "bad @PATH \"hits.\""},
      {"concat@a..b", "bad @PATH \"a..b\""},
  };
  for (const auto& [text, reason] : cases) {
    auto spec = parse_merge(text);
    ASSERT_FALSE(spec) << text;
    EXPECT_EQ(spec.error().code(), std::errc::invalid_argument) << text;
    EXPECT_EQ(spec.error().message().rfind(reason, 0), 0U)
        << text << ": " << spec.error().message();
  }
}

TEST(AtPath, FindsDottedNamesInObjects) {
  auto v = parse(R"({"a": {"b": {"c": 3}}, "x": [1], "n": null})");
  EXPECT_EQ(at_path(v, ""), &v);
  ASSERT_NE(at_path(v, "a.b.c"), nullptr);
  EXPECT_EQ(*at_path(v, "a.b.c"), json::value(3));
  EXPECT_TRUE(at_path(v, "a.b")->is_object());
  EXPECT_TRUE(at_path(v, "n")->is_null());
  EXPECT_EQ(at_path(v, "a.c"), nullptr);
  EXPECT_EQ(at_path(v, "a.b.c.d"), nullptr);
  EXPECT_EQ(at_path(v, "x.0"), nullptr);  // objects only
  EXPECT_EQ(at_path(json::value(5), "a"), nullptr);
}

}  // namespace
}  // namespace tender::scatter

#include "scatter/merge.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "scatter/split.hpp"

namespace tender::scatter {
namespace {

namespace json = boost::json;

json::value parse(std::string_view text) { return json::parse(text); }

MergeSpec spec_of(std::string_view text) {
  auto spec = parse_merge(text);
  EXPECT_TRUE(spec) << text << ": " << (spec ? "" : spec.error().message());
  return spec ? *spec : MergeSpec{};
}

// Merges `answers` (shard i's answer is answers[i]; null: that shard does not answer), added in
// `order` (shard order when empty).
json::value merge_all(std::string_view spec_text, const std::vector<json::value>& answers,
                      std::vector<std::size_t> order = {}) {
  MergeSpec spec = spec_of(spec_text);
  Merger merger(spec, answers.size());
  if (order.empty()) {
    order.resize(answers.size());
    std::iota(order.begin(), order.end(), 0);
  }
  for (auto shard : order) {
    if (!answers[shard].is_null()) {
      auto r = merger.add(shard, answers[shard]);
      EXPECT_TRUE(r) << "shard " << shard << ": " << (r ? "" : r.error().message());
    }
  }
  return merger.finish();
}

std::string error_of(const Result<>& r) { return r ? "(no error)" : r.error().message(); }

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

// --- topk ----------------------------------------------------------------------------------

struct Doc {
  std::int64_t score;
  std::size_t shard;
  std::size_t index;
};

json::value doc_json(const Doc& d) {
  return json::object{{"score", d.score},
                      {"id", std::to_string(d.shard) + "/" + std::to_string(d.index)}};
}

// Random shard answers: arrays of docs with scores from a small range, so that ties are common.
std::vector<std::vector<Doc>> random_shards(std::mt19937& rng, std::size_t shards) {
  std::vector<std::vector<Doc>> out(shards);
  std::uniform_int_distribution<std::size_t> len(0, 40);
  std::uniform_int_distribution<std::int64_t> score(-5, 20);
  for (std::size_t s = 0; s < shards; ++s) {
    auto n = len(rng);
    for (std::size_t i = 0; i < n; ++i) {
      out[s].push_back({score(rng), s, i});
    }
  }
  return out;
}

// The top k of the union, computed directly: sorted by score, then shard, then index.
json::value direct_topk(const std::vector<std::vector<Doc>>& shards, std::size_t k, bool asc) {
  std::vector<Doc> all;
  for (const auto& s : shards) {
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end(), [asc](const Doc& a, const Doc& b) {
    if (a.score != b.score) {
      return asc ? a.score < b.score : a.score > b.score;
    }
    return std::pair(a.shard, a.index) < std::pair(b.shard, b.index);
  });
  json::array out;
  for (std::size_t i = 0; i < std::min(k, all.size()); ++i) {
    out.push_back(doc_json(all[i]));
  }
  return out;
}

json::value answer_of(const std::vector<Doc>& docs, std::string_view envelope = {}) {
  json::array arr;
  for (const auto& d : docs) {
    arr.push_back(doc_json(d));
  }
  if (envelope.empty()) {
    return arr;
  }
  return json::object{{envelope, std::move(arr)}, {"took_ms", 3}};
}

std::vector<std::size_t> shuffled(std::mt19937& rng, std::size_t n) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

TEST(TopK, EqualsTheTopKOfTheUnion) {
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    auto shards = random_shards(rng, 8);
    std::size_t k = std::uniform_int_distribution<std::size_t>(1, 60)(rng);
    bool asc = seed % 3 == 0;
    std::vector<json::value> answers;
    answers.reserve(shards.size());
    for (const auto& s : shards) {
      answers.push_back(answer_of(s));
    }
    std::string spec = "topk:score:" + std::to_string(k) + (asc ? ":asc" : "");
    EXPECT_EQ(json::serialize(merge_all(spec, answers, shuffled(rng, 8))),
              json::serialize(direct_topk(shards, k, asc)))
        << "seed " << seed << ", " << spec;
  }
}

TEST(TopK, AscendingKeepsTheSmallestBestFirst) {
  std::vector<json::value> answers = {parse(R"([{"d": 5}, {"d": 1.5}, {"d": 9}])"),
                                      parse(R"([{"d": -2}, {"d": 7}])")};
  EXPECT_EQ(merge_all("topk:d:3:asc", answers), parse(R"([{"d": -2}, {"d": 1.5}, {"d": 5}])"));
  EXPECT_EQ(merge_all("topk:d:2", answers), parse(R"([{"d": 9}, {"d": 7}])"));
}

TEST(TopK, TiesGoToTheLowerShardThenTheEarlierElement) {
  std::vector<json::value> answers = {parse(R"([{"s": 1, "id": "a0"}, {"s": 1, "id": "a1"}])"),
                                      parse(R"([{"s": 1, "id": "b0"}, {"s": 2, "id": "b1"}])")};
  auto expected = parse(R"([{"s": 2, "id": "b1"}, {"s": 1, "id": "a0"}, {"s": 1, "id": "a1"}])");
  EXPECT_EQ(merge_all("topk:s:3", answers, {1, 0}), expected);
  EXPECT_EQ(merge_all("topk:s:3", answers, {0, 1}), expected);
}

TEST(TopK, AtAPathAnswersInTheSameEnvelope) {
  std::vector<json::value> answers = {
      parse(R"({"result": {"items": [{"m": {"s": 3}}, {"m": {"s": 1}}], "n": 2}, "x": 1})"),
      parse(R"({"result": {"items": [{"m": {"s": 2}}]}})")};
  EXPECT_EQ(merge_all("topk:m.s:2@result.items", answers),
            parse(R"({"result": {"items": [{"m": {"s": 3}}, {"m": {"s": 2}}]}})"));
  EXPECT_EQ(Merger(spec_of("topk:s:2@result.items"), 3).finish(),
            parse(R"({"result": {"items": []}})"));
}

// A root's answer fed to another root as a leaf's: the tree gives what one flat merge gives.
json::value two_level(std::string_view spec, const std::vector<json::value>& answers,
                      std::mt19937& rng) {
  std::vector<json::value> mids;
  std::size_t half = answers.size() / 2;
  for (std::size_t m = 0; m < 2; ++m) {
    std::vector<json::value> mine(answers.begin() + static_cast<std::ptrdiff_t>(m * half),
                                  answers.begin() + static_cast<std::ptrdiff_t>((m + 1) * half));
    // Over the wire: serialized and parsed again.
    mids.push_back(parse(json::serialize(merge_all(spec, mine, shuffled(rng, half)))));
  }
  return merge_all(spec, mids, shuffled(rng, 2));
}

TEST(TopK, TreesCompose) {
  for (std::uint32_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    auto shards = random_shards(rng, 8);
    std::vector<json::value> answers;
    answers.reserve(shards.size());
    for (const auto& s : shards) {
      answers.push_back(answer_of(s, "hits"));
    }
    std::string spec =
        "topk:score:" + std::to_string(1 + seed % 30) + (seed % 2 == 1 ? ":asc" : "");
    spec += "@hits";
    auto flat = merge_all(spec, answers);
    EXPECT_EQ(json::serialize(two_level(spec, answers, rng)), json::serialize(flat))
        << "seed " << seed;
    ASSERT_TRUE(flat.is_object());
    EXPECT_EQ(flat.get_object().size(), 1U);  // only the merged array: took_ms is not merged
  }
}

TEST(TopK, AnAnswerOfTheWrongShapeLeavesTheMergeUnchanged) {
  MergeSpec spec = spec_of("topk:score:3@hits");
  Merger merger(spec, 3);
  ASSERT_TRUE(merger.add(0, parse(R"({"hits": [{"score": 1}, {"score": 4}]})")));
  const std::vector<std::pair<std::string_view, std::string_view>> bad = {
      {R"({"hits": [{"score": 9}, {"score": 9}, {"score": 9}, {"id": 1}]})",
       "element 3: no numeric field score"},
      {R"({"hits": [{"score": 9}, {"score": "9"}]})", "element 1: field score is not a number"},
      {R"({"hits": [7]})", "element 0: expected an object, not a number"},
      {R"({"hits": {"score": 9}})", "expected an array at hits, not an object"},
      {R"({"hit": []})", "expected an array at hits, found nothing"},
      {R"([{"score": 9}])", "expected an array at hits, found nothing"},
  };
  for (const auto& [answer, reason] : bad) {
    auto r = merger.add(1, parse(answer));
    ASSERT_FALSE(r) << answer;
    EXPECT_EQ(r.error().message(), reason);
    EXPECT_EQ(r.error().code(), std::errc::invalid_argument);
  }
  // The failed shard may still answer (a hedge's answer, say).
  ASSERT_TRUE(merger.add(1, parse(R"({"hits": [{"score": 2}]})")));
  EXPECT_EQ(merger.finish(), parse(R"({"hits": [{"score": 4}, {"score": 2}, {"score": 1}]})"));
}

TEST(TopK, MovesTheHitsRatherThanCopyingThem) {
  std::string long_text(200, 'x');
  json::value answer = json::array{json::object{{"s", 1}, {"text", long_text}}};
  const char* data = answer.get_array()[0].get_object()["text"].get_string().data();
  Merger merger(spec_of("topk:s:1"), 1);
  ASSERT_TRUE(merger.add(0, std::move(answer)));
  auto merged = merger.finish();
  EXPECT_EQ(merged.get_array()[0].get_object()["text"].get_string().data(), data);
}

// --- concat --------------------------------------------------------------------------------

TEST(Concat, KeepsShardOrderWhateverTheArrivalOrder) {
  std::vector<json::value> answers = {parse("[1, 2]"), parse("[]"), parse("[3]"), nullptr,
                                      parse(R"(["4", {"five": 5}])")};
  EXPECT_EQ(merge_all("concat", answers, {4, 2, 0, 1, 3}), parse(R"([1, 2, 3, "4", {"five": 5}])"));
  EXPECT_EQ(merge_all("concat", answers, {0, 1, 2, 3, 4}), parse(R"([1, 2, 3, "4", {"five": 5}])"));
}

TEST(Concat, MovesTheElementsRatherThanCopyingThem) {
  std::string long_text(200, 'y');
  json::value answer = json::array{long_text};
  const char* data = answer.get_array()[0].get_string().data();
  Merger merger(spec_of("concat"), 2);
  ASSERT_TRUE(merger.add(1, std::move(answer)));
  ASSERT_TRUE(merger.add(0, parse("[0]")));
  auto merged = merger.finish();
  EXPECT_EQ(merged.get_array()[1].get_string().data(), data);
}

// Splits a 10,000-element array across 4 shards; each leaf answers its part (as its part
// parsed); the concat of the answers, put back by position, is the client's array.
void split_then_concat(std::string_view split_text, std::string_view merge_text,
                       const json::value& body, const json::value& expected) {
  auto split = parse_split(split_text);
  ASSERT_TRUE(split);
  auto parts = split_body(*split, json::serialize(body), 4);
  ASSERT_TRUE(parts) << parts.error().message();
  MergeSpec spec = spec_of(merge_text);
  Merger merger(spec, 4);
  std::mt19937 rng(7);
  for (auto shard : shuffled(rng, 4)) {
    auto& part = (*parts)[shard];
    EXPECT_FALSE(part.positions.empty());
    merger.set_positions(shard, part.positions);
    ASSERT_TRUE(merger.add(shard, parse(part.body)));
  }
  EXPECT_EQ(merger.finish(), expected);
}

TEST(Concat, RestoresTheRequestsOrderAfterASplit) {
  json::array items;
  for (int i = 0; i < 10'000; ++i) {
    items.push_back(json::object{{"user", {{"id", "u" + std::to_string(i % 777)}}}, {"n", i}});
  }
  json::value bare = items;
  split_then_concat("roundrobin", "concat", bare, bare);
  split_then_concat("hash:user.id", "concat", bare, bare);
  json::value wrapped = json::object{{"q", "x"}, {"items", items}};
  json::value answer = json::object{{"items", items}};
  split_then_concat("roundrobin@items", "concat@items", wrapped, answer);
  split_then_concat("hash:n@items", "concat@items", wrapped, answer);
}

TEST(Concat, AnAnswerOfAnotherLengthFollowsInShardOrder) {
  MergeSpec spec = spec_of("concat");
  Merger merger(spec, 4);
  merger.set_positions(0, {0, 3});
  merger.set_positions(1, {1, 4});
  merger.set_positions(2, {2, 5});
  merger.set_positions(3, {6});
  ASSERT_TRUE(merger.add(3, parse(R"(["g", "extra"])")));  // two answers for one element
  ASSERT_TRUE(merger.add(2, parse(R"(["c", "f"])")));
  ASSERT_TRUE(merger.add(1, parse(R"(["b"])")));  // one answer for two elements
  ASSERT_TRUE(merger.add(0, parse(R"(["a", "d"])")));
  EXPECT_EQ(merger.finish(), parse(R"(["a", "c", "d", "f", "b", "g", "extra"])"));
}

TEST(Concat, AMissingShardLeavesOnlyItsElementsOut) {
  MergeSpec spec = spec_of("concat@hits");
  Merger merger(spec, 3);
  merger.set_positions(0, {0, 3});
  merger.set_positions(1, {1, 4});
  merger.set_positions(2, {2});
  ASSERT_TRUE(merger.add(2, parse(R"({"hits": ["c"]})")));
  ASSERT_TRUE(merger.add(0, parse(R"({"hits": ["a", "d"]})")));
  EXPECT_EQ(merger.finish(), parse(R"({"hits": ["a", "c", "d"]})"));
}

TEST(Concat, TreesCompose) {
  std::mt19937 rng(3);
  std::vector<json::value> answers;
  for (int s = 0; s < 8; ++s) {
    json::array hits;
    for (int i = 0; i < s % 3 + 1; ++i) {
      hits.push_back(s * 10 + i);
    }
    answers.push_back(json::object{{"hits", hits}, {"shard", s}});
  }
  auto flat = merge_all("concat@hits", answers);
  EXPECT_EQ(flat,
            parse(R"({"hits": [0, 10, 11, 20, 21, 22, 30, 40, 41, 50, 51, 52, 60, 70, 71]})"));
  EXPECT_EQ(two_level("concat@hits", answers, rng), flat);
}

// --- object --------------------------------------------------------------------------------

TEST(Object, MergesKeysRecursivelyAndTheFirstShardWins) {
  std::vector<json::value> answers = {
      parse(R"({"a": 1, "n": {"x": 1, "deep": {"p": 1}}, "list": [1]})"),
      parse(R"({"a": 2, "n": {"y": 2, "deep": {"p": 2, "q": 2}}, "list": [2], "b": 3})"),
      parse(R"({"n": "scalar", "c": {"z": 1}})")};
  auto expected = parse(
      R"({"a": 1, "n": {"x": 1, "deep": {"p": 1, "q": 2}, "y": 2}, "list": [1], "b": 3,
          "c": {"z": 1}})");
  EXPECT_EQ(merge_all("object", answers, {2, 1, 0}), expected);
  EXPECT_EQ(merge_all("object", answers, {0, 1, 2}), expected);
  // A scalar in the first shard beats an object in a later one.
  EXPECT_EQ(merge_all("object", {parse(R"({"k": 1})"), parse(R"({"k": {"x": 1}})")}),
            parse(R"({"k": 1})"));
}

TEST(Object, MergesAtAPath) {
  std::vector<json::value> answers = {parse(R"({"r": {"a": 1}, "other": 1})"),
                                      parse(R"({"r": {"b": 2}})")};
  EXPECT_EQ(merge_all("object@r", answers), parse(R"({"r": {"a": 1, "b": 2}})"));
  Merger merger(spec_of("object@r"), 2);
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"r": [1]})"))),
            "expected an object at r, not an array");
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"r": null})"))), "expected an object at r, not null");
}

TEST(Object, DeepAnswersDoNotRecurse) {
  std::string a;
  std::string b;
  for (int i = 0; i < 20'000; ++i) {
    a += R"({"k":)";
    b += R"({"k":)";
  }
  a += "1";
  b += R"({"x":2})";
  for (int i = 0; i < 20'000; ++i) {
    a += "}";
    b += "}";
  }
  json::parse_options deep;
  deep.max_depth = 30'000;
  Merger merger(spec_of("object"), 2);
  ASSERT_TRUE(merger.add(0, json::parse(a, {}, deep)));
  ASSERT_TRUE(merger.add(1, json::parse(b, {}, deep)));
  auto merged = merger.finish();
  const json::value* v = &merged;
  for (int i = 0; i < 20'000; ++i) {
    v = &v->get_object().at("k");
  }
  EXPECT_EQ(*v, json::value(1));
}

// --- sum, min, max, avg --------------------------------------------------------------------

TEST(Totals, SumMinMaxAvgOverSeveralFieldsAndDottedPaths) {
  std::vector<json::value> answers = {
      parse(R"({"hits": 10, "ms": 1.5, "stats": {"bytes": 100}, "x": "ignored"})"),
      parse(R"({"hits": 5, "ms": 4.5, "stats": {"bytes": -40}})"),
      parse(R"({"hits": 0, "ms": 3, "stats": {"bytes": 18446744073709551615}})")};
  EXPECT_EQ(merge_all("sum:hits,ms", answers), parse(R"({"hits": 15, "ms": 9.0})"));
  EXPECT_TRUE(merge_all("sum:hits", answers).at("hits").is_int64());  // integers stay exact
  EXPECT_EQ(merge_all("min:hits,ms,stats.bytes", answers),
            parse(R"({"hits": 0, "ms": 1.5, "stats": {"bytes": -40}})"));
  EXPECT_EQ(merge_all("max:hits,ms,stats.bytes", answers),
            parse(R"({"hits": 10, "ms": 4.5, "stats": {"bytes": 18446744073709551615}})"));
  EXPECT_EQ(merge_all("avg:hits,ms", answers), parse(R"({"hits": 5.0, "ms": 3.0})"));
  EXPECT_EQ(merge_all("sum:stats.bytes@r", {parse(R"({"r": {"stats": {"bytes": 1}}})"),
                                            parse(R"({"r": {"stats": {"bytes": 2}}})")}),
            parse(R"({"r": {"stats": {"bytes": 3}}})"));
}

TEST(Totals, AnIntegerSumThatOverflowsBecomesADouble) {
  auto sum = merge_all("sum:n", {parse(R"({"n": 9223372036854775807})"), parse(R"({"n": 1})")});
  ASSERT_TRUE(sum.at("n").is_double());
  EXPECT_DOUBLE_EQ(sum.at("n").get_double(), 9223372036854775808.0);
}

TEST(Totals, AvgIsOverTheShardsThatAnswered) {
  MergeSpec spec = spec_of("avg:ms");
  Merger merger(spec, 4);
  ASSERT_TRUE(merger.add(0, parse(R"({"ms": 2})")));
  EXPECT_EQ(error_of(merger.add(1, parse(R"({"ms": "slow"})"))), "field ms is not a number");
  EXPECT_EQ(error_of(merger.add(2, parse(R"({"latency": 100})"))), "no numeric field ms");
  ASSERT_TRUE(merger.add(3, parse(R"({"ms": 4})")));
  EXPECT_EQ(merger.finish(), parse(R"({"ms": 3.0})"));
}

TEST(Totals, AFieldMissingInOneAnswerFailsItWholly) {
  MergeSpec spec = spec_of("sum:a,b");
  Merger merger(spec, 2);
  ASSERT_TRUE(merger.add(0, parse(R"({"a": 1, "b": 1})")));
  EXPECT_EQ(error_of(merger.add(1, parse(R"({"a": 100})"))), "no numeric field b");
  EXPECT_EQ(error_of(merger.add(1, parse("[1]"))), "expected an object, not an array");
  EXPECT_EQ(merger.finish(), parse(R"({"a": 1, "b": 1})"));
}

// --- count ---------------------------------------------------------------------------------

TEST(Count, CountsArraysAndCountObjects) {
  std::vector<json::value> answers = {parse("[1, 2, 3]"), parse(R"({"count": 10})"), parse("[]"),
                                      parse(R"({"count": 2.0, "by": "mid"})")};
  EXPECT_EQ(merge_all("count", answers), parse(R"({"count": 15})"));
  std::vector<json::value> hits = {parse(R"({"hits": [1, 2]})"),
                                   parse(R"({"hits": {"count": 5}})")};
  EXPECT_EQ(merge_all("count@hits", hits), parse(R"({"hits": {"count": 7}})"));
}

TEST(Count, TreesCompose) {
  std::mt19937 rng(5);
  std::vector<json::value> answers;
  answers.reserve(8);
  for (int s = 0; s < 8; ++s) {
    answers.push_back(json::object{{"hits", json::array(static_cast<std::size_t>(s), nullptr)}});
  }
  EXPECT_EQ(two_level("count@hits", answers, rng), parse(R"({"hits": {"count": 28}})"));
}

TEST(Count, RejectsWhatIsNotACount) {
  MergeSpec spec = spec_of("count");
  Merger merger(spec, 1);
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"count": -1})"))),
            "field count is not a whole number from 0");
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"count": 1.5})"))),
            "field count is not a whole number from 0");
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"count": "3"})"))), "field count is not a number");
  EXPECT_EQ(error_of(merger.add(0, parse(R"({"total": 3})"))), "no numeric field count");
  EXPECT_EQ(error_of(merger.add(0, parse("7"))),
            "expected an array or a {\"count\": N} object, not a number");
  EXPECT_EQ(merger.finish(), parse(R"({"count": 0})"));
}

// --- the Merger's contract -----------------------------------------------------------------

TEST(Merger, NothingAddedGivesAnEmptyResult) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"concat", "[]"},
      {"concat@hits", R"({"hits": []})"},
      {"object", "{}"},
      {"object@a.b", R"({"a": {"b": {}}})"},
      {"sum:x", "{}"},
      {"avg:x@r", R"({"r": {}})"},
      {"topk:s:5", "[]"},
      {"count", R"({"count": 0})"},
      {"count@n", R"({"n": {"count": 0}})"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(Merger(spec_of(text), 3).finish(), parse(expected)) << text;
    EXPECT_EQ(Merger(spec_of(text), 0).finish(), parse(expected)) << text;
  }
}

TEST(Merger, EachShardAnswersOnceAndWithinRange) {
  MergeSpec spec = spec_of("concat");
  Merger merger(spec, 2);
  ASSERT_TRUE(merger.add(1, parse("[1]")));
  EXPECT_EQ(error_of(merger.add(1, parse("[2]"))), "shard 1 has answered already");
  EXPECT_EQ(error_of(merger.add(2, parse("[3]"))), "shard 2 is out of range (2 shards)");
  EXPECT_EQ(merger.finish(), parse("[1]"));
}

TEST(Merger, AContainerSpecIsNotMergedHere) {
  MergeSpec spec = spec_of("http://127.0.0.1:9000/merge");
  Merger merger(spec, 1);
  auto r = merger.add(0, parse("[1]"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::operation_not_supported);
  EXPECT_TRUE(merger.finish().is_null());
}

TEST(Merger, AHandMadeTopKSpecWithoutKOrFieldIsRefused) {
  MergeSpec spec;
  spec.kind = MergeSpec::Kind::kTopK;
  Merger merger(spec, 1);
  EXPECT_EQ(error_of(merger.add(0, parse(R"([{"s": 1}])"))), "topk needs FIELD:K");
  EXPECT_EQ(merger.finish(), parse("[]"));
}

TEST(Merger, TheSpecNeedNotOutliveIt) {
  auto spec = std::make_unique<MergeSpec>(spec_of("topk:score:1@hits"));
  Merger merger(*spec, 1);
  spec.reset();
  ASSERT_TRUE(merger.add(0, parse(R"({"hits": [{"score": 1}]})")));
  EXPECT_EQ(merger.finish(), parse(R"({"hits": [{"score": 1}]})"));
}

// --- any answer at all ---------------------------------------------------------------------

json::value random_value(std::mt19937& rng, int depth) {
  static const std::vector<std::string_view> names = {"hits", "score", "count", "a", "b"};
  switch (std::uniform_int_distribution<int>(0, depth > 0 ? 9 : 4)(rng)) {
    case 0:
      return nullptr;
    case 1:
      return std::uniform_int_distribution<std::int64_t>(-3, 3)(rng);
    case 2:
      return std::uniform_real_distribution<double>(-3, 3)(rng);
    case 3:
      return "text";
    case 4:
      return rng() % 2 == 0;
    case 5:
    case 6:
    case 7: {
      json::object obj;
      auto n = rng() % 4;
      for (std::size_t i = 0; i < n; ++i) {
        obj[names[rng() % names.size()]] = random_value(rng, depth - 1);
      }
      return obj;
    }
    default: {
      json::array arr;
      auto n = rng() % 4;
      for (std::size_t i = 0; i < n; ++i) {
        arr.push_back(random_value(rng, depth - 1));
      }
      return arr;
    }
  }
}

TEST(Merger, AnyAnswerIsMergedOrRefusedNeverACrash) {
  std::mt19937 rng(11);
  for (std::string_view text :
       {"concat", "concat@hits", "object", "object@a.b", "sum:score,count", "min:score", "max:a",
        "avg:count", "topk:score:2", "topk:a.b:3:asc@hits", "count", "count@hits"}) {
    MergeSpec spec = spec_of(text);
    std::size_t answered = 0;
    std::size_t refused = 0;
    for (int round = 0; round < 1000; ++round) {
      Merger merger(spec, 4);
      for (std::size_t shard = 0; shard < 4; ++shard) {
        auto r = merger.add(shard, random_value(rng, 4));
        if (r) {
          ++answered;
        } else {
          ++refused;
          EXPECT_EQ(r.error().code(), std::errc::invalid_argument) << text;
          EXPECT_FALSE(r.error().message().empty());
        }
      }
      auto merged = merger.finish();
      EXPECT_FALSE(merged.is_null()) << text;
    }
    EXPECT_GT(answered, 0U) << text;  // the test sees both outcomes
    EXPECT_GT(refused, 0U) << text;
  }
}

}  // namespace
}  // namespace tender::scatter

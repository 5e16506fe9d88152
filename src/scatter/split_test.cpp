#include "scatter/split.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tender::scatter {
namespace {

namespace json = boost::json;

SplitSpec spec_of(std::string_view text) {
  auto spec = parse_split(text);
  EXPECT_TRUE(spec) << text << ": " << (spec ? "" : spec.error().message());
  return spec ? *spec : SplitSpec{};
}

std::vector<SplitPart> split(std::string_view spec_text, std::string_view body,
                             std::size_t shards) {
  auto parts = split_body(spec_of(spec_text), body, shards);
  EXPECT_TRUE(parts) << spec_text << ": " << (parts ? "" : parts.error().message());
  return parts ? *parts : std::vector<SplitPart>{};
}

std::string split_error(std::string_view spec_text, std::string_view body, std::size_t shards = 3,
                        std::size_t max_elements = 1'000'000) {
  auto parts = split_body(spec_of(spec_text), body, shards, max_elements);
  if (parts) {
    return "(no error)";
  }
  EXPECT_EQ(parts.error().code(), std::errc::invalid_argument);
  return parts.error().message();
}

using Positions = std::vector<std::uint32_t>;

// --- parse_split ---------------------------------------------------------------------------

TEST(ParseSplit, ReadsEveryKind) {
  EXPECT_EQ(spec_of("none").kind, SplitSpec::Kind::kNone);
  EXPECT_EQ(spec_of("roundrobin").kind, SplitSpec::Kind::kRoundRobin);
  auto hash = spec_of("hash:user.id@items");
  EXPECT_EQ(hash.kind, SplitSpec::Kind::kHash);
  EXPECT_EQ(hash.field, "user.id");
  EXPECT_EQ(hash.path, "items");
  auto rr = spec_of("roundrobin@query.items");
  EXPECT_EQ(rr.path, "query.items");
  auto container = spec_of("http://127.0.0.1:9100/split");
  EXPECT_EQ(container.kind, SplitSpec::Kind::kContainer);
  EXPECT_EQ(container.url, "http://127.0.0.1:9100/split");
}

TEST(ParseSplit, StrRoundTrips) {
  for (std::string_view text : {"none", "roundrobin", "roundrobin@items", "hash:id",
                                "hash:user.id@a.b", "http://localhost:9100/split?x=1"}) {
    auto spec = spec_of(text);
    EXPECT_EQ(spec.str(), text);
    auto again = spec_of(spec.str());
    EXPECT_EQ(again.kind, spec.kind);
    EXPECT_EQ(again.field, spec.field);
    EXPECT_EQ(again.path, spec.path);
    EXPECT_EQ(again.url, spec.url);
  }
}

TEST(ParseSplit, RejectsWithAReason) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"x", "unknown split \"x\" (none, hash:FIELD, roundrobin, or an http:// URL)"},
      {"", "unknown split \"\""},
      {"round-robin", "unknown split \"round-robin\""},
      {"hashing:id", "unknown split \"hashing:id\""},
      {"hash", "hash needs a field"},
      {"hash:", "hash needs a field"},
      {"hash:@items", "hash needs a field"},
      {"hash:a..b", "hash: bad field \"a..b\""},
      {"roundrobin@", "empty @PATH"},
      {"roundrobin@.items", "bad @PATH \".items\""},
      {"https://127.0.0.1:9100/split", "split container"},
      {"http://127.0.0.1:0/split", "split container"},
  };
  for (const auto& [text, reason] : cases) {
    auto spec = parse_split(text);
    ASSERT_FALSE(spec) << text;
    EXPECT_EQ(spec.error().code(), std::errc::invalid_argument) << text;
    EXPECT_EQ(spec.error().message().rfind(reason, 0), 0U)
        << text << ": " << spec.error().message();
  }
}

// --- split_body ----------------------------------------------------------------------------

TEST(SplitBody, RoundRobinDealsTheElementsInTurn) {
  auto parts = split("roundrobin", R"([0, "one", {"two": 2}, [3], 4.5, null, true])", 3);
  ASSERT_EQ(parts.size(), 3U);
  EXPECT_EQ(parts[0].positions, (Positions{0, 3, 6}));
  EXPECT_EQ(parts[1].positions, (Positions{1, 4}));
  EXPECT_EQ(parts[2].positions, (Positions{2, 5}));
  EXPECT_EQ(json::parse(parts[0].body), json::parse(R"([0, [3], true])"));
  EXPECT_EQ(json::parse(parts[1].body), json::parse(R"(["one", 4.5])"));
  EXPECT_EQ(json::parse(parts[2].body), json::parse(R"([{"two": 2}, null])"));
}

TEST(SplitBody, KeepsTheEnvelopeAroundEachPart) {
  auto parts =
      split("roundrobin@q.items", R"({"q": {"items": [1, 2, 3], "lang": "en"}, "k": 10})", 2);
  ASSERT_EQ(parts.size(), 2U);
  EXPECT_EQ(json::parse(parts[0].body),
            json::parse(R"({"q": {"items": [1, 3], "lang": "en"}, "k": 10})"));
  EXPECT_EQ(json::parse(parts[1].body),
            json::parse(R"({"q": {"items": [2], "lang": "en"}, "k": 10})"));
}

TEST(SplitBody, AShardWithNothingGetsNoPositions) {
  auto parts = split("roundrobin@items", R"({"items": [1], "k": 1})", 3);
  ASSERT_EQ(parts.size(), 3U);
  EXPECT_EQ(parts[0].positions, (Positions{0}));
  EXPECT_TRUE(parts[1].positions.empty());
  EXPECT_TRUE(parts[2].positions.empty());
  EXPECT_EQ(json::parse(parts[2].body), json::parse(R"({"items": [], "k": 1})"));
  for (const auto& part : split("hash:id", "[]", 4)) {
    EXPECT_TRUE(part.positions.empty());
    EXPECT_EQ(part.body, "[]");
  }
}

TEST(SplitBody, OneShardGetsEverything) {
  auto parts = split("hash:id", R"([{"id": 1}, {"id": "b"}])", 1);
  ASSERT_EQ(parts.size(), 1U);
  EXPECT_EQ(parts[0].positions, (Positions{0, 1}));
  EXPECT_EQ(json::parse(parts[0].body), json::parse(R"([{"id": 1}, {"id": "b"}])"));
}

TEST(SplitBody, HashSendsAKeyToItsJumpHashShard) {
  json::array items;
  for (int i = 0; i < 2000; ++i) {
    items.push_back(json::object{{"user", {{"id", "u" + std::to_string(i % 100)}}}, {"i", i}});
  }
  auto parts = split("hash:user.id", json::serialize(items), 5);
  ASSERT_EQ(parts.size(), 5U);
  std::set<std::uint32_t> seen;
  for (std::size_t s = 0; s < parts.size(); ++s) {
    auto body = json::parse(parts[s].body).as_array();
    ASSERT_EQ(body.size(), parts[s].positions.size());
    EXPECT_GT(body.size(), 200U) << "shard " << s;  // 100 keys over 5 shards: none starves
    for (std::size_t j = 0; j < body.size(); ++j) {
      auto pos = parts[s].positions[j];
      EXPECT_TRUE(seen.insert(pos).second);
      EXPECT_EQ(body[j], items[pos]);
      if (j > 0) {
        EXPECT_LT(parts[s].positions[j - 1], pos);  // in the client's order
      }
      std::string key(body[j].at("user").at("id").as_string());
      EXPECT_EQ(jump_hash(key_hash(key), 5), s);
    }
  }
  EXPECT_EQ(seen.size(), items.size());
}

TEST(SplitBody, AKeyIsAStringANumbersTextOrABoolean) {
  // 42 and "42" are the same key; so are true and "true".
  auto parts = split("hash:k", R"([{"k": 42}, {"k": "42"}, {"k": true}, {"k": "true"},
                                  {"k": -7}, {"k": 18446744073709551615}])",
                     16);
  auto shard_of = [&parts](std::uint32_t pos) {
    for (std::size_t s = 0; s < parts.size(); ++s) {
      for (auto p : parts[s].positions) {
        if (p == pos) {
          return s;
        }
      }
    }
    return parts.size();
  };
  EXPECT_EQ(shard_of(0), shard_of(1));
  EXPECT_EQ(shard_of(0), jump_hash(key_hash("42"), 16));
  EXPECT_EQ(shard_of(2), shard_of(3));
  EXPECT_EQ(shard_of(2), jump_hash(key_hash("true"), 16));
  EXPECT_EQ(shard_of(4), jump_hash(key_hash("-7"), 16));
  EXPECT_EQ(shard_of(5), jump_hash(key_hash("18446744073709551615"), 16));
}

TEST(SplitBody, MalformedJsonSaysWhatAndWhere) {
  EXPECT_EQ(split_error("roundrobin", "[1, 2, x]"), "malformed JSON: syntax error at offset 7");
  EXPECT_EQ(split_error("roundrobin", "[1, 2"), "malformed JSON: incomplete JSON at offset 5");
  EXPECT_EQ(split_error("roundrobin", ""), "malformed JSON: incomplete JSON at offset 0");
  EXPECT_EQ(split_error("roundrobin", "[1] [2]"), "malformed JSON: extra data at offset 4");
  EXPECT_EQ(split_error("roundrobin", "[\"\xff\"]"), "malformed JSON: syntax error at offset 2");
}

TEST(SplitBody, DeepNestingIsRefusedNotFollowed) {
  std::string deep(100'000, '[');
  auto reason = split_error("roundrobin", deep);
  EXPECT_EQ(reason.rfind("malformed JSON: too deep at offset ", 0), 0U) << reason;
  std::string fine = std::string(60, '[') + std::string(60, ']');
  EXPECT_EQ(split("roundrobin", fine, 2).size(), 2U);
}

TEST(SplitBody, TheArrayMustBeWhereTheSpecSays) {
  EXPECT_EQ(split_error("roundrobin", R"({"items": []})"), "expected a JSON array, not an object");
  EXPECT_EQ(split_error("roundrobin", "7"), "expected a JSON array, not a number");
  EXPECT_EQ(split_error("roundrobin@items", R"({"item": []})"),
            "expected an array at items, found nothing");
  EXPECT_EQ(split_error("roundrobin@items", R"({"items": "a"})"),
            "expected an array at items, not a string");
  EXPECT_EQ(split_error("roundrobin@items", "[1, 2]"), "expected an array at items, found nothing");
  EXPECT_EQ(split_error("roundrobin@a.items", R"({"a": {"items": {}}})"),
            "expected an array at a.items, not an object");
}

TEST(SplitBody, EveryElementNeedsAScalarKey) {
  const std::string ok = R"({"user": {"id": 1}}, )";
  EXPECT_EQ(split_error("hash:user.id", "[" + ok + ok + R"({"user": {}}])"),
            "element 2: no key field user.id");
  EXPECT_EQ(split_error("hash:user.id", "[" + ok + R"(3])"), "element 1: no key field user.id");
  EXPECT_EQ(split_error("hash:user.id", "[" + ok + R"({"user": {"id": {"x": 1}}}])"),
            "element 1: key field user.id is an object (keys are strings, numbers, booleans)");
  EXPECT_EQ(split_error("hash:user.id", R"([{"user": {"id": [1]}}])"),
            "element 0: key field user.id is an array (keys are strings, numbers, booleans)");
  EXPECT_EQ(split_error("hash:user.id", R"([{"user": {"id": null}}])"),
            "element 0: key field user.id is null (keys are strings, numbers, booleans)");
}

TEST(SplitBody, AtMostMaxElements) {
  EXPECT_EQ(split_error("roundrobin", "[1, 2, 3]", 2, 3), "(no error)");
  EXPECT_EQ(split_error("roundrobin", "[1, 2, 3, 4]", 2, 3), "too many elements: 4, at most 3");
  EXPECT_EQ(split_error("roundrobin@a", R"({"a": [[1, 2, 3, 4]]})", 2, 1), "(no error)");
}

TEST(SplitBody, OnlyHashAndRoundRobinSplitABody) {
  EXPECT_EQ(split_error("none", "[1]").rfind("split \"none\"", 0), 0U);
  EXPECT_EQ(split_error("http://127.0.0.1:9100/split", "[1]").rfind("split \"http://", 0), 0U);
  EXPECT_EQ(split_error("roundrobin", "[1]", 0), "cannot split across 0 shards");
}

TEST(SplitBody, AnyBodyIsSplitOrRefusedNeverACrash) {
  const std::string valid =
      R"({"items": [{"k": "a", "v": [1, 2.5, {"x": null}]}, {"k": 7}, {"k": true, "s": "\u00e9"}],
          "n": -1})";
  std::mt19937 rng(13);
  int split_ok = 0;
  int refused = 0;
  const std::string alphabet = "{}[]\",:0123456789.eE-+ tfnrua\\\x01\xc3\xff";
  for (int round = 0; round < 5000; ++round) {
    std::string body = valid;
    for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits) {
      auto pos = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          body.erase(pos, 1);
          break;
        default:
          body.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    for (std::string_view text : {"hash:k@items", "roundrobin@items"}) {
      auto parts = split_body(spec_of(text), body, 3);
      if (parts) {
        ++split_ok;
        std::size_t total = 0;
        for (const auto& part : *parts) {
          total += part.positions.size();
          EXPECT_NO_THROW(static_cast<void>(json::parse(part.body)));
        }
        EXPECT_EQ(total, json::parse(body).at("items").as_array().size());
      } else {
        ++refused;
        EXPECT_EQ(parts.error().code(), std::errc::invalid_argument);
      }
    }
  }
  EXPECT_GT(split_ok, 500);  // the test sees both outcomes
  EXPECT_GT(refused, 500);
}

// --- the hash ------------------------------------------------------------------------------

TEST(JumpHash, GivesThePublishedAlgorithmsBuckets) {
  // Worked through Lamping and Veach's loop (arXiv:1406.2294) by hand; the same values other
  // implementations of it publish.
  EXPECT_EQ(jump_hash(1, 1), 0U);
  EXPECT_EQ(jump_hash(1, 10), 6U);
  EXPECT_EQ(jump_hash(1, 100), 55U);
  EXPECT_EQ(jump_hash(42, 57), 43U);
  EXPECT_EQ(jump_hash(256, 1024), 520U);
  EXPECT_EQ(jump_hash(3735883980ULL, 1), 0U);
  EXPECT_EQ(jump_hash(3735883980ULL, 666), 361U);
  EXPECT_EQ(jump_hash(16045690984833335023ULL, 255), 237U);
  EXPECT_EQ(jump_hash(7, 0), 0U);  // no buckets: bucket 0 rather than a crash
}

TEST(JumpHash, AddingABucketMovesAboutOneInNPlusOneKeysAllToTheNewBucket) {
  constexpr int kKeys = 100'000;
  for (std::uint32_t n = 1; n <= 24; ++n) {
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
      auto key = key_hash("key-" + std::to_string(i));
      auto before = jump_hash(key, n);
      auto after = jump_hash(key, n + 1);
      ASSERT_LT(after, n + 1);
      if (after != before) {
        ++moved;
        ASSERT_EQ(after, n) << "a key moved between old buckets";
      }
    }
    double expected = static_cast<double>(kKeys) / (n + 1);
    EXPECT_NEAR(moved, expected, expected * 0.05) << n << " -> " << n + 1 << " buckets";
  }
}

TEST(JumpHash, SpreadsKeysEvenly) {
  constexpr int kKeys = 160'000;
  std::vector<int> per(16, 0);
  for (int i = 0; i < kKeys; ++i) {
    ++per[jump_hash(key_hash(std::to_string(i)), 16)];
  }
  for (int count : per) {
    EXPECT_NEAR(count, kKeys / 16.0, kKeys / 16.0 * 0.05);
  }
}

TEST(KeyHash, IsFixed) {
  // A key's shard must not change between versions: FNV-1a then MurmurHash3's finalizer.
  EXPECT_EQ(key_hash(""), 0xefd01f60ba992926ULL);
  EXPECT_EQ(key_hash("a"), 0x82a2a958a9bece5bULL);
  EXPECT_EQ(key_hash("user-42"), 0xa39532c7ab051e8dULL);
  EXPECT_EQ(jump_hash(key_hash("user-42"), 16), 6U);
}

}  // namespace
}  // namespace tender::scatter

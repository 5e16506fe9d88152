// `tender scatter` as a user runs it: the real root on 127.0.0.1 with free ports, in front of
// real leaves (tests/scatter_leaf.py, `tender echo`), merge services and other roots.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <set>
#include <sstream>
#include <thread>

#include "scatter_support.hpp"

namespace tender::testing {
namespace {

// The shard names of a header like X-Tender-Missing ("s3,s7" or "s3, s7").
std::set<std::string> names(const std::string& header) {
  std::set<std::string> out;
  std::istringstream in(header);
  std::string name;
  while (std::getline(in, name, ',')) {
    auto b = name.find_first_not_of(' ');
    auto e = name.find_last_not_of(' ');
    if (b != std::string::npos) {
      out.insert(name.substr(b, e - b + 1));
    }
  }
  return out;
}

std::set<std::string> names(const json::value& array) {
  std::set<std::string> out;
  for (const auto& v : array.as_array()) {
    out.insert(std::string(v.as_string()));
  }
  return out;
}

void expect_same_hits(const std::vector<Hit>& got, const std::vector<Hit>& want) {
  ASSERT_EQ(got.size(), want.size())
      << "got " << describe_hits(got) << "\nwant " << describe_hits(want);
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id)
        << "at " << i << "\ngot " << describe_hits(got) << "\nwant " << describe_hits(want);
    EXPECT_DOUBLE_EQ(got[i].score, want[i].score) << got[i].id;
  }
}

json::object leaf_headers(const Tender& leaf) {
  return json::parse(http(leaf.port("listen"), "GET", "/last-headers").body).as_object();
}

// Header `name` of what leaf_headers() answered ("" if absent).
std::string header_of(const json::object& headers, const char* name) {
  const json::value* v = headers.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

// --- Merges ------------------------------------------------------------------------------

TEST(Scatter, BroadcastTopKEqualsTheTopKOfTheUnion) {
  auto leaves = start_leaves(8, [](std::size_t i) { return leaf_args(i, 50); });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "topk:score:10"});
  auto r = http(root->port("listen"), "GET", "/search?q=hello&k=10");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-tender-partial"), "");
  for (const auto& leaf : leaves) {
    EXPECT_EQ(leaf_requests(*leaf), 1);  // broadcast: every shard, once
  }
  expect_same_hits(hits_of(json::parse(r.body), false), expected_topk(leaves, "hello", 10));
  // Another query, other scores: nothing is cached or carried over.
  r = http(root->port("listen"), "GET", "/search?q=world&k=10");
  ASSERT_EQ(r.status, 200) << r.body;
  expect_same_hits(hits_of(json::parse(r.body), false), expected_topk(leaves, "world", 10));
}

TEST(Scatter, TopKAtAPathAnswersInTheLeavesEnvelope) {
  auto leaves = start_leaves(4, [](std::size_t i) { return leaf_args(i, 30, {"--envelope"}); });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "topk:score:7@hits"});
  auto r = http(root->port("listen"), "GET", "/search?q=env&k=7");
  ASSERT_EQ(r.status, 200) << r.body;
  expect_same_hits(hits_of(json::parse(r.body), true), expected_topk(leaves, "env", 7, true));
}

// 10,000 elements {"i": i, "key": "k<i mod 1000>"}.
json::array ten_thousand() {
  json::array a;
  for (int i = 0; i < 10'000; ++i) {
    a.push_back(json::object{{"i", i}, {"key", "k" + std::to_string(i % 1000)}});
  }
  return a;
}

// Checks a concatenated /map answer against the array sent: the same elements in the same
// order, each annotated by the shard it went to; returns each element's shard.
std::vector<std::string> check_mapped(const json::array& sent, const json::value& answer) {
  std::vector<std::string> shards;
  if (!answer.is_array()) {
    ADD_FAILURE() << "not an array: " << json::serialize(answer).substr(0, 200);
    return shards;
  }
  const auto& got = answer.as_array();
  EXPECT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < std::min(got.size(), sent.size()); ++i) {
    if (got[i].at("v") != sent[i]) {
      ADD_FAILURE() << "element " << i << ": sent " << json::serialize(sent[i]) << ", got "
                    << json::serialize(got[i]);
      break;
    }
    shards.emplace_back(got[i].at("shard").as_string());
  }
  return shards;
}

TEST(Scatter, RoundRobinSplitAndConcatKeepOrderAndContent) {
  auto leaves = start_leaves(4, [](std::size_t i) { return leaf_args(i, 1); });
  auto root =
      start_root({"--leaves", leaves_arg(leaves), "--split", "roundrobin", "--merge", "concat"});
  json::array sent = ten_thousand();
  auto r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
                json::serialize(sent));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  auto shards = check_mapped(sent, json::parse(r.body));
  ASSERT_EQ(shards.size(), sent.size());
  for (std::size_t i = 0; i < shards.size(); ++i) {
    ASSERT_EQ(shards[i], "s" + std::to_string(i % 4)) << "element " << i;
  }
  for (const auto& leaf : leaves) {
    EXPECT_EQ(leaf_requests(*leaf), 1);  // one part each
  }
}

TEST(Scatter, HashSplitSendsEqualKeysToOneShardAndKeepsOrder) {
  auto leaves = start_leaves(4, [](std::size_t i) { return leaf_args(i, 1); });
  auto root =
      start_root({"--leaves", leaves_arg(leaves), "--split", "hash:key", "--merge", "concat"});
  json::array sent = ten_thousand();
  auto r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
                json::serialize(sent));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  auto shards = check_mapped(sent, json::parse(r.body));
  ASSERT_EQ(shards.size(), sent.size());
  std::map<std::string, std::string> shard_of_key;
  std::map<std::string, int> per_shard;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    std::string key(sent[i].at("key").as_string());
    auto [it, fresh] = shard_of_key.emplace(key, shards[i]);
    ASSERT_EQ(it->second, shards[i]) << "key " << key << " went to two shards";
    ++per_shard[shards[i]];
  }
  // 1,000 keys over 4 shards: each gets some (jump hash spreads them evenly).
  EXPECT_EQ(per_shard.size(), 4u);
  for (const auto& [shard, n] : per_shard) {
    EXPECT_GT(n, 1000) << shard;
  }
  // The same keys again reach the same shards.
  json::array again;
  for (int i = 0; i < 100; ++i) {
    again.push_back(sent[static_cast<std::size_t>(i) * 37]);
  }
  r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
           json::serialize(again));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  auto again_shards = check_mapped(again, json::parse(r.body));
  for (std::size_t i = 0; i < again_shards.size(); ++i) {
    EXPECT_EQ(again_shards[i], shard_of_key.at(std::string(again[i].at("key").as_string())));
  }
}

TEST(Scatter, SplitAtAPathKeepsTheEnvelope) {
  auto leaves = start_leaves(3, [](std::size_t i) { return leaf_args(i, 1); });
  auto root = start_root(
      {"--leaves", leaves_arg(leaves), "--split", "roundrobin@items", "--merge", "concat@items"});
  json::array items;
  for (int i = 0; i < 100; ++i) {
    items.push_back(i);
  }
  json::object body{{"items", items}, {"note", "kept"}};
  auto r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
                json::serialize(body));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  auto answer = json::parse(r.body);
  ASSERT_TRUE(answer.is_object()) << r.body.substr(0, 300);
  check_mapped(items, answer.at("items"));
  // Each leaf was sent the envelope with its part in it.
  auto part = json::parse(http(leaves[1]->port("listen"), "GET", "/last-body").body);
  EXPECT_EQ(part.at("note"), "kept");
  EXPECT_EQ(part.at("items").as_array().size(), 33u);
}

TEST(Scatter, MergeContainerGetsTheAnswersAndTheMissingAndItsAnswerIsReturned) {
  auto leaves = start_leaves(4, [](std::size_t i) {
    return leaf_args(
        i, 20, i == 3 ? std::vector<std::string>{"--mode", "hang"} : std::vector<std::string>{});
  });
  auto service = start_leaf({"--merge-service", "--merge-status", "203"});
  auto root =
      start_root({"--leaves", leaves_arg(leaves), "--merge", "http://" + addr(*service) + "/merge",
                  "--deadline", "500ms", "--min-fraction", "50%"});
  auto r = http(root->port("listen"), "GET", "/search?q=z&k=5");
  ASSERT_EQ(r.status, 203) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/vnd.scatter-test+json");
  auto v = json::parse(r.body);
  EXPECT_EQ(v.at("total").as_int64(), 15);  // 3 leaves x 5
  EXPECT_EQ(names(v.at("shards")), (std::set<std::string>{"s0", "s1", "s2"}));
  EXPECT_EQ(names(v.at("missing")), (std::set<std::string>{"s3"}));
  EXPECT_EQ(v.at("request").at("method").as_string(), "GET");
  EXPECT_EQ(v.at("request").at("path").as_string(), "/search");
  EXPECT_NE(std::string(v.at("request").at("query").as_string()).find("q=z"), std::string::npos);
  // The payload as the service got it: each answer's body as JSON, with its shard and status.
  auto payload = json::parse(http(service->port("listen"), "GET", "/last-body").body);
  for (const auto& a : payload.at("answers").as_array()) {
    EXPECT_EQ(a.at("status").as_int64(), 200);
    EXPECT_EQ(a.at("body").as_array().size(), 5u) << json::serialize(a);
  }
}

TEST(Scatter, TwoLevelTreeAnswersAsTheFlatRoot) {
  auto leaves = start_leaves(8, [](std::size_t i) { return leaf_args(i, 30); });
  std::vector<std::vector<const Tender*>> half[2];
  for (std::size_t i = 0; i < 8; ++i) {
    half[i / 4].push_back({leaves[i].get()});
  }
  auto mid0 = start_root({"--leaves", leaves_arg(half[0]), "--merge", "topk:score:10"});
  auto mid1 = start_root({"--leaves", leaves_arg(half[1]), "--merge", "topk:score:10"});
  auto top = start_root(
      {"--leaves", leaves_arg({{mid0.get()}, {mid1.get()}}), "--merge", "topk:score:10"});
  auto flat = start_root({"--leaves", leaves_arg(leaves), "--merge", "topk:score:10"});
  for (const std::string q : {"tree", "forest"}) {
    auto t = http(top->port("listen"), "GET", "/search?q=" + q + "&k=10");
    auto f = http(flat->port("listen"), "GET", "/search?q=" + q + "&k=10");
    ASSERT_EQ(t.status, 200) << t.body;
    ASSERT_EQ(f.status, 200) << f.body;
    auto want = expected_topk(leaves, q, 10);
    expect_same_hits(hits_of(json::parse(t.body), false), want);
    expect_same_hits(hits_of(json::parse(f.body), false), want);
  }
  // The mid roots passed the deadline on, less what was spent.
  std::string d = header_of(leaf_headers(*leaves[5]), "x-tender-deadline-ms");
  ASSERT_NE(d, "");
  EXPECT_GT(std::stol(d), 0);
  EXPECT_LE(std::stol(d), 1000);  // the default --deadline, 1s
}

// --- What goes to the leaves ---------------------------------------------------------------

TEST(Scatter, PassesMethodPathQueryChosenHeadersAndTheDeadline) {
  auto leaves = start_leaves(2, [](std::size_t i) { return leaf_args(i, 5); });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "concat", "--deadline", "3s"});
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"},
      {"X-Request-Id", "req-7"},
      {"X-Custom", "yes"},
      {"X-Private", "not for leaves"}};
  auto r = http(root->port("listen"), "POST", "/search?q=pass&k=2", headers, "{\"filter\": 1}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).as_array().size(), 4u);
  for (const auto& leaf : leaves) {
    auto h = leaf_headers(*leaf);
    EXPECT_EQ(header_of(h, "x-request-id"), "req-7") << json::serialize(h);  // passed by default
    EXPECT_EQ(header_of(h, "content-type"), "application/json") << json::serialize(h);
    EXPECT_FALSE(h.contains("x-custom")) << json::serialize(h);
    EXPECT_FALSE(h.contains("x-private")) << json::serialize(h);
    ASSERT_NE(header_of(h, "x-tender-deadline-ms"), "") << json::serialize(h);
    long ms = std::stol(header_of(h, "x-tender-deadline-ms"));
    EXPECT_GT(ms, 0);
    EXPECT_LE(ms, 3000);
    EXPECT_EQ(http(leaf->port("listen"), "GET", "/last-body").body, "{\"filter\": 1}");
  }
  // --pass-header names more.
  auto custom = start_root(
      {"--leaves", leaves_arg(leaves), "--merge", "concat", "--pass-header", "X-Custom"});
  r = http(custom->port("listen"), "POST", "/search?q=pass&k=2", headers, "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header_of(leaf_headers(*leaves[0]), "x-custom"), "yes");

  // The client's own deadline, when it gives one, is the one passed on.
  r = http(root->port("listen"), "GET", "/search?q=pass&k=2", {{"X-Tender-Deadline-Ms", "800"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string passed = header_of(leaf_headers(*leaves[0]), "x-tender-deadline-ms");
  ASSERT_NE(passed, "");
  long ms = std::stol(passed);
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 800);
}

// --- Deadlines and failures ----------------------------------------------------------------

TEST(Scatter, SilentLeafGivesAPartialAnswerAtTheDeadlineNamingIt) {
  auto leaves = start_leaves(4, [](std::size_t i) {
    return leaf_args(
        i, 20, i == 3 ? std::vector<std::string>{"--mode", "hang"} : std::vector<std::string>{});
  });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "concat", "--deadline",
                          "400ms", "--min-fraction", "0.5"});
  auto r = http(root->port("listen"), "GET", "/search?q=a&k=3");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-tender-partial"), "1");
  EXPECT_EQ(names(r.header("x-tender-missing")), (std::set<std::string>{"s3"}));
  EXPECT_EQ(json::parse(r.body).as_array().size(), 9u);
  EXPECT_GE(root_metric(*root, partial_answers()), 1);

  // Where the time went, on request: a header...
  r = http(root->port("listen"), "GET", "/search?q=a&k=3", {{"X-Tender-Timing", "header"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto shards = timing_entries(r.header("x-tender-shards"));
  ASSERT_EQ(shards.size(), 4u) << r.header("x-tender-shards");
  EXPECT_NE(shards["s3"].find(";missing"), std::string::npos) << r.header("x-tender-shards");
  EXPECT_EQ(shards["s0"].find(";missing"), std::string::npos) << r.header("x-tender-shards");
  EXPECT_NE(shards["s0"].find(";ms="), std::string::npos) << r.header("x-tender-shards");
  // ...or a wrapper around the answer.
  r = http(root->port("listen"), "GET", "/search?q=a&k=3", {{"X-Tender-Timing", "wrapper"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto w = json::parse(r.body);
  EXPECT_EQ(w.at("partial"), true);
  EXPECT_EQ(names(w.at("missing")), (std::set<std::string>{"s3"}));
  EXPECT_EQ(w.at("result").as_array().size(), 9u);
  ASSERT_EQ(w.at("shards").as_array().size(), 4u) << r.body;
  for (const auto& s : w.at("shards").as_array()) {
    if (s.at("shard") == "s0") {
      EXPECT_EQ(s.at("status").as_int64(), 200) << json::serialize(s);
      EXPECT_GE(s.at("ms").to_number<double>(), 0) << json::serialize(s);
    }
  }

  // The client's deadline is the one kept: this root would otherwise wait 30 s, longer than
  // the test client waits for an answer (15 s).
  auto patient = start_root({"--leaves", leaves_arg(leaves), "--merge", "concat", "--deadline",
                             "30s", "--min-fraction", "0.5"});
  r = http(patient->port("listen"), "GET", "/search?q=a&k=3", {{"X-Tender-Deadline-Ms", "300"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-tender-partial"), "1");
}

TEST(Scatter, FewerAnswersThanTheMinimumFractionIs504) {
  auto leaves = start_leaves(4, [](std::size_t i) {
    return leaf_args(
        i, 20, i == 3 ? std::vector<std::string>{"--mode", "hang"} : std::vector<std::string>{});
  });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "concat", "--deadline",
                          "300ms", "--min-fraction", "90%"});
  auto r = http(root->port("listen"), "GET", "/search?q=a&k=3");
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_FALSE(r.body.empty());
  EXPECT_NE(r.body.find("s3"), std::string::npos) << r.body;  // the reason names who is missing
  // Fewer than half for the default of all: 504 as well.
  auto strict =
      start_root({"--leaves", leaves_arg(leaves), "--merge", "concat", "--deadline", "300ms"});
  EXPECT_EQ(http(strict->port("listen"), "GET", "/search?q=a&k=3").status, 504);
}

TEST(Scatter, LeafAnsweringInvalidJsonOrAnErrorIsThatShardsFailure) {
  auto leaves = start_leaves(5, [](std::size_t i) {
    std::vector<std::string> mode;
    if (i == 3) {
      mode = {"--mode", "invalid-json"};
    } else if (i == 4) {
      mode = {"--mode", "error"};
    }
    return leaf_args(i, 20, mode);
  });
  auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "topk:score:5", "--deadline",
                          "5s", "--min-fraction", "0.5"});
  for (int round = 0; round < 3; ++round) {
    auto r = http(root->port("listen"), "GET", "/search?q=b&k=5");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-tender-partial"), "1");
    EXPECT_EQ(names(r.header("x-tender-missing")), (std::set<std::string>{"s3", "s4"}));
    // The answer of the three that answered well.
    expect_same_hits(hits_of(json::parse(r.body), false),
                     expected_topk({leaves[0].get(), leaves[1].get(), leaves[2].get()}, "b", 5));
  }
  EXPECT_EQ(http(root->port("admin"), "GET", "/healthz").status, 200);
  EXPECT_FALSE(root->wait_exit(0ms).has_value()) << root->stderr_text();
}

TEST(Scatter, MalformedClientJsonForASplitIs400WithTheReason) {
  auto leaves = start_leaves(2, [](std::size_t i) { return leaf_args(i, 1); });
  auto root =
      start_root({"--leaves", leaves_arg(leaves), "--split", "roundrobin", "--merge", "concat"});
  auto r =
      http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}}, "[1, 2");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("malformed JSON"), std::string::npos) << r.body;
  r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
           "{\"a\": 1}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("expected a JSON array"), std::string::npos) << r.body;
  for (const auto& leaf : leaves) {
    EXPECT_EQ(leaf_requests(*leaf), 0);  // nothing went out
  }
  EXPECT_EQ(http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
                 "[1, 2, 3]")
                .status,
            200);
}

// --- Hedging -------------------------------------------------------------------------------

// A shard of two `tender echo` replicas, the first slow (200 ms) for 5% of its requests;
// `hedge` flags for the root; `n` requests one after another. Checks that hedges were sent and
// won, and that they stayed within the budget (10%, and the burst of 10).
void hedged_shard(const std::vector<std::string>& hedge) {
  Tender slow(echo_args({"--delay", "200ms", "--delay-fraction", "0.05", "--id", "slow"}));
  Tender fast(echo_args({"--id", "fast"}));
  std::vector<std::string> args = {"--leaves",       leaves_arg({{&slow, &fast}}),
                                   "--merge",        "object",
                                   "--hedge-budget", "10%",
                                   "--hedge-burst",  "10",
                                   "--deadline",     "5s"};
  args.insert(args.end(), hedge.begin(), hedge.end());
  auto root = start_root(args);
  const int n = 1000;
  for (int i = 0; i < n; ++i) {
    auto r = http(root->port("listen"), "GET", "/x?i=" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
  }
  auto delayed = json::parse(http(slow.port("admin"), "GET", "/statusz").body)
                     .at("status")
                     .at("delayed_requests")
                     .as_int64();
  ASSERT_GT(delayed, 0) << "the slow replica was never slow: nothing to hedge";
  double sent = root_metric(*root, hedges("sent"));
  double won = root_metric(*root, hedges("won"));
  EXPECT_GT(sent, 0);
  EXPECT_GT(won, 0);
  EXPECT_LE(won, sent);
  EXPECT_LE(sent, 0.10 * n + 10) << "hedges beyond the budget";
}

TEST(Scatter, HedgeAfterAFixedDelayWinsWithinTheBudget) { hedged_shard({"--hedge", "20ms"}); }

TEST(Scatter, HedgeAfterTheShardsP95WinsWithinTheBudget) { hedged_shard({"--hedge", "p95"}); }

// --- Stopping ------------------------------------------------------------------------------

// SIGTERM after traffic: the root drains and exits 0, its pooled leaf connections closed on
// the way out (three times over, as a use after free at exit does not show every time).
TEST(Scatter, StopsCleanlyAfterTraffic) {
  Tender a1(echo_args({"--delay", "20ms", "--delay-fraction", "0.05"}));
  Tender a2(echo_args());
  Tender b1(echo_args({"--delay", "20ms", "--delay-fraction", "0.05"}));
  Tender b2(echo_args());
  for (int round = 0; round < 3; ++round) {
    auto root = start_root({"--leaves", leaves_arg({{&a1, &a2}, {&b1, &b2}}), "--merge", "object",
                            "--hedge", "5ms", "--hedge-budget", "20%"});
    // Four clients at once, so that the root pools several connections to each leaf.
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
      clients.emplace_back([&, c] {
        Connection conn(root->port("listen"));
        for (int i = 0; i < 100; ++i) {
          if (!conn.send(
                  request_bytes("GET", "/r?c=" + std::to_string(c) + "&i=" + std::to_string(i)))) {
            return;
          }
          ok += conn.read_response().status == 200 ? 1 : 0;
        }
      });
    }
    for (auto& t : clients) {
      t.join();
    }
    ASSERT_EQ(ok.load(), 400);
    root->signal(SIGTERM);
    auto st = root->wait_exit(20s);
    ASSERT_TRUE(st.has_value()) << "still running after SIGTERM";
    EXPECT_TRUE(st->exited && st->code == 0) << "round " << round << ": " << st->describe() << "\n"
                                             << root->stderr_text();
  }
}

// --- Configuration -------------------------------------------------------------------------

TEST(Scatter, CheckValidatesTheConfigFile) {
  TempDir dir;
  auto good = dir.write("good.yaml",
                        "listen: 127.0.0.1:0\n"
                        "leaves: \"127.0.0.1:1|127.0.0.1:2,127.0.0.1:3\"\n"
                        "merge: topk:score:10\n"
                        "hedge: p95\n");
  auto r = run_tender({"scatter", "--config", good, "--check"});
  EXPECT_EQ(r.status.code, 0) << r.err;

  struct Bad {
    std::string file;
    std::string yaml;
    std::string where;  // "LINE: key" after the file's path
  };
  for (const Bad& b : std::vector<Bad>{
           {"merge.yaml", "listen: 127.0.0.1:0\nleaves: \"127.0.0.1:1\"\nmerge: topk:score\n",
            ":3: merge"},
           {"leaves.yaml",
            "listen: 127.0.0.1:0\nmerge: concat\nleaves: \"127.0.0.1:1,,127.0.0.1:2\"\n",
            ":3: leaves"},
           {"hedge.yaml", "leaves: \"127.0.0.1:1\"\nmerge: concat\nhedge: sometimes\n",
            ":3: hedge"},
       }) {
    auto path = dir.write(b.file, b.yaml);
    r = run_tender({"scatter", "--config", path, "--check"});
    EXPECT_EQ(r.status.code, 2) << b.file;
    EXPECT_NE(r.err.find(path + b.where), std::string::npos) << r.err;
  }

  auto broken = dir.write("broken.yaml", "leaves: [127.0.0.1:1\nmerge: concat\n");
  r = run_tender({"scatter", "--config", broken, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(broken + ":"), std::string::npos) << r.err;

  r = run_tender({"scatter", "--config", dir.path() + "/missing.yaml", "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

TEST(Scatter, BadFlagsExit2NamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  for (const Case& c :
       std::vector<Case>{{{"--leaves", "127.0.0.1:1", "--merge", "nonsense"}, "--merge"},
                         {{"--leaves", "127.0.0.1:1|", "--merge", "concat"}, "--leaves"},
                         {{"--leaves", "nowhere", "--merge", "concat"}, "--leaves"},
                         {{"--leaves", "127.0.0.1:1", "--split", "sideways"}, "--split"},
                         {{"--leaves", "127.0.0.1:1", "--hedge", "p200"}, "--hedge"},
                         {{"--leaves", "127.0.0.1:1", "--hedge-budget", "150%"}, "--hedge-budget"},
                         {{"--leaves", "127.0.0.1:1", "--min-fraction", "2"}, "--min-fraction"},
                         {{"--leaves", "127.0.0.1:1", "--deadline", "soon"}, "--deadline"},
                         {{"--leaves", "127.0.0.1:1", "--timing", "always"}, "--timing"}}) {
    std::vector<std::string> argv = {"scatter", "--listen",    "127.0.0.1:0",
                                     "--admin", "127.0.0.1:0", "--check"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_tender(argv);
    EXPECT_EQ(r.status.code, 2) << c.flag << ": " << r.err;
    EXPECT_NE(r.err.find(c.flag), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace tender::testing

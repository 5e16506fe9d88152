#include "scatter/gather.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::scatter {
namespace {

Request request(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  r.query = q == std::string::npos ? "" : r.target.substr(q + 1);
  return r;
}

TEST(RequestDeadline, TheClientsHeaderOrTheDefault) {
  Request r = request("GET", "/search?q=a");
  EXPECT_EQ(*request_deadline(r, milliseconds(1000), milliseconds(60'000)), milliseconds(1000));
  r.headers.add("X-Tender-Deadline-Ms", " 250 ");
  EXPECT_EQ(*request_deadline(r, milliseconds(1000), milliseconds(60'000)), milliseconds(250));
}

TEST(RequestDeadline, RefusesWhatIsNotAWholeNumberInRange) {
  for (const char* bad : {"0", "-5", "1.5", "abc", "", "60001", "99999999999999999999"}) {
    Request r = request("GET", "/");
    r.headers.add("X-Tender-Deadline-Ms", bad);
    auto d = request_deadline(r, milliseconds(1000), milliseconds(60'000));
    ASSERT_FALSE(d) << bad;
    EXPECT_NE(d.error().message().find("X-Tender-Deadline-Ms"), std::string::npos);
  }
}

TEST(RequestTiming, HeaderChoosesTheReport) {
  Request r = request("GET", "/");
  EXPECT_EQ(*request_timing(r, Timing::kOff), Timing::kOff);
  r.headers.add("X-Tender-Timing", "wrapper");
  EXPECT_EQ(*request_timing(r, Timing::kOff), Timing::kWrapper);
  Request bad = request("GET", "/");
  bad.headers.add("X-Tender-Timing", "json");
  EXPECT_FALSE(request_timing(bad, Timing::kOff));
  EXPECT_EQ(timing_name(*parse_timing("header")), "header");
}

TEST(LeafRequest, CarriesTheRequestLineAndOnlyTheChosenHeaders) {
  Request r = request("POST", "/v1/map?x=1&y=%20");
  r.headers.add("Host", "root.example:8100");
  r.headers.add("Content-Type", "application/json");
  r.headers.add("X-Request-Id", "abc");
  r.headers.add("Cookie", "secret");
  r.headers.add("Connection", "keep-alive");
  std::string head = leaf_head(r, {"X-Request-Id", "Connection", "Host"});
  EXPECT_EQ(head,
            "POST /v1/map?x=1&y=%20 HTTP/1.1\r\nContent-Type: application/json\r\n"
            "X-Request-Id: abc\r\n");
  std::string out;
  leaf_request(out, head, "127.0.0.1:9001", 742, "[1,2]", true);
  EXPECT_EQ(out,
            "POST /v1/map?x=1&y=%20 HTTP/1.1\r\nContent-Type: application/json\r\n"
            "X-Request-Id: abc\r\nHost: 127.0.0.1:9001\r\nX-Tender-Deadline-Ms: 742\r\n"
            "Content-Length: 5\r\n\r\n[1,2]");
}

TEST(LeafRequest, AHeadGoesAsAGetForItsAnswersAreMerged) {
  Request r = request("HEAD", "/search?q=a");
  EXPECT_EQ(leaf_head(r, {}), "GET /search?q=a HTTP/1.1\r\n");
}

TEST(LeafRequest, AGetWithoutBodyHasNoLengthAndTheDeadlineIsAtLeastOne) {
  std::string out;
  leaf_request(out, "GET / HTTP/1.1\r\n", "h:1", -3, "", false);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: h:1\r\nX-Tender-Deadline-Ms: 1\r\n\r\n");
}

TEST(Timing, HeaderNamesEveryShardAndWhatBecameOfIt) {
  std::vector<ShardOutcome> s = {
      {.shard = "s0",
       .ms = 1.234,
       .status = 200,
       .answered = true,
       .hedged = true,
       .hedge_won = true},
      {.shard = "s1", .ms = 0.8, .status = 200, .answered = true},
      {.shard = "s2", .ms = 1000, .error = "timed \"out\""},
  };
  EXPECT_EQ(timing_header(s),
            "s0;ms=1.23;hedged;won, s1;ms=0.80, s2;ms=1000.00;missing;error=\"timed  out \"");
  std::vector<std::string> missing = {"s2"};
  auto w = timing_wrapper(boost::json::parse("[1,2]"), true, missing, s);
  const auto& o = w.as_object();
  EXPECT_EQ(o.at("result"), boost::json::parse("[1,2]"));
  EXPECT_TRUE(o.at("partial").as_bool());
  EXPECT_EQ(o.at("missing").as_array().size(), 1u);
  const auto& shards = o.at("shards").as_array();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_TRUE(shards[0].as_object().at("hedge_won").as_bool());
  EXPECT_FALSE(shards[2].as_object().at("answered").as_bool());
  EXPECT_EQ(shards[2].as_object().at("error").as_string(), "timed \"out\"");
}

TEST(AnswersNeeded, RoundsUpAndAsksForAtLeastOne) {
  EXPECT_EQ(answers_needed(1.0, 8), 8u);
  EXPECT_EQ(answers_needed(0.5, 8), 4u);
  EXPECT_EQ(answers_needed(0.5, 7), 4u);
  EXPECT_EQ(answers_needed(0.01, 8), 1u);
  EXPECT_EQ(answers_needed(0.75, 4), 3u);
  EXPECT_EQ(answers_needed(1.0, 0), 0u);
}

}  // namespace
}  // namespace tender::scatter

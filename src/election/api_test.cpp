#include "election/api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <vector>

namespace tender::election {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Runs what a long poll schedules only when the test says so.
class ManualScheduler : public Scheduler {
 public:
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    delays.push_back(delay);
    due.push_back(std::move(fn));
  }
  void run_all() {
    auto fns = std::move(due);
    due.clear();
    for (auto& fn : fns) {
      fn();
    }
  }
  std::vector<std::chrono::milliseconds> delays;
  std::vector<std::function<void()>> due;
};

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() { api.add_routes(router); }

  // Sends a request; the answer lands in the returned slot when (and if) it is given.
  std::shared_ptr<std::optional<Response>> send(std::string method, std::string target) {
    auto slot = std::make_shared<std::optional<Response>>();
    Request req;
    req.method = std::move(method);
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string::npos ? "" : target.substr(q + 1);
    req.scheduler = &scheduler;
    requests.push_back(std::make_unique<Request>(std::move(req)));
    router.dispatch(*requests.back(), Reply([slot](Response r) { *slot = std::move(r); }));
    return slot;
  }

  static json::object body(const std::optional<Response>& r) {
    return json::parse(r->body).as_object();
  }

  FakeClock clock;
  Elector elector{"pod-a", Timing{.ttl = 2s, .max_drift = 0, .margin = 0ms}, clock};
  int resigns = 0;
  LeaderApi api{elector, "db", [this](const Reply& reply) {
                  ++resigns;
                  reply(Response::text(200, "ok\n"));
                }};
  Router router;
  ManualScheduler scheduler;
  std::vector<std::unique_ptr<Request>> requests;
};

TEST_F(ApiTest, RootAnswersAsTheKubernetesLeaderElector) {
  auto r = send("GET", "/");
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->status, 200);
  EXPECT_EQ(body(*r), (json::object{{"name", ""}}));
  elector.observed({.name = "pod-b", .token = 3});
  EXPECT_EQ(body(*send("GET", "/")), (json::object{{"name", "pod-b"}}));
}

TEST_F(ApiTest, LeaderNamesTheTokenTheTermStartAndTheTimeLeft) {
  elector.held(7, clock.now());
  auto r = send("GET", "/v1/leader");
  json::object o = body(*r);
  EXPECT_EQ(o.at("name"), "pod-a");
  EXPECT_EQ(o.at("token").to_number<std::uint64_t>(), 7U);
  EXPECT_EQ(o.at("self"), true);
  EXPECT_EQ(o.at("valid_for_ms").to_number<std::int64_t>(), 2000);
  EXPECT_EQ(o.at("term_started"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(o.at("election"), "db");
}

TEST_F(ApiTest, AmLeaderIs200OnlyWhileThisReplicaLeads) {
  EXPECT_EQ((*send("GET", "/v1/am-leader"))->status, 409);
  elector.held(7, clock.now());
  EXPECT_EQ((*send("GET", "/v1/am-leader"))->status, 200);
  clock.advance(2s);  // the claim ran out; no timer has run
  auto r = send("GET", "/v1/am-leader");
  EXPECT_EQ((*r)->status, 409);
}

TEST_F(ApiTest, ALongPollAnswersWhenTheTermChanges) {
  elector.observed({.name = "pod-b", .token = 3});
  api.publish();
  auto r = send("GET", "/v1/leader?wait_ms=30000&after=3");
  EXPECT_FALSE(*r);
  EXPECT_EQ(api.waiters(), 1U);
  ASSERT_EQ(scheduler.delays, std::vector<std::chrono::milliseconds>{30000ms});
  // The same term seen again: still waiting.
  elector.observed({.name = "pod-b", .token = 3, .expires = clock.now() + 1s});
  api.publish();
  EXPECT_FALSE(*r);
  elector.held(5, clock.now());
  api.publish();
  ASSERT_TRUE(*r);
  EXPECT_EQ(body(*r).at("token").to_number<std::uint64_t>(), 5U);
  EXPECT_EQ(api.waiters(), 0U);
  scheduler.run_all();  // the timeout after the answer changes nothing
}

TEST_F(ApiTest, ALongPollForAnOldTermAnswersAtOnceAndOneThatWaitsTooLongTimesOut) {
  elector.observed({.name = "pod-b", .token = 3});
  EXPECT_TRUE(*send("GET", "/v1/leader?wait_ms=1000&after=2"));
  auto r = send("GET", "/v1/leader?wait_ms=1000");  // after defaults to the term now
  EXPECT_FALSE(*r);
  scheduler.run_all();
  ASSERT_TRUE(*r);
  EXPECT_EQ(body(*r).at("token").to_number<std::uint64_t>(), 3U);
  EXPECT_EQ(api.waiters(), 0U);
}

TEST_F(ApiTest, BadQueryParametersAre400WithAReason) {
  for (const char* target : {"/v1/leader?wait_ms=abc", "/v1/leader?wait_ms=-1",
                             "/v1/leader?after=1x", "/v1/leader?wait_ms=999999999"}) {
    auto r = send("GET", target);
    ASSERT_TRUE(*r) << target;
    EXPECT_EQ((*r)->status, 400) << target;
    EXPECT_FALSE((*r)->body.empty());
  }
}

TEST_F(ApiTest, TooManyLongPollsAre503) {
  LeaderApi small(
      elector, "db", [](const Reply&) {}, ApiLimits{.max_waiters = 1});
  Router r2;
  small.add_routes(r2);
  std::vector<std::optional<Response>> got(2);
  for (int i = 0; i < 2; ++i) {
    Request req;
    req.method = "GET";
    req.path = "/v1/leader";
    req.query = "wait_ms=1000";
    req.scheduler = &scheduler;
    requests.push_back(std::make_unique<Request>(std::move(req)));
    r2.dispatch(*requests.back(), Reply([&got, i](Response res) { got[i] = std::move(res); }));
  }
  EXPECT_FALSE(got[0]);
  ASSERT_TRUE(got[1]);
  EXPECT_EQ(got[1]->status, 503);
  small.close();
  ASSERT_TRUE(got[0]);
  EXPECT_EQ(got[0]->status, 200);
}

TEST_F(ApiTest, WatchSendsTheLeaderNowThenOneEventPerChange) {
  auto r = send("GET", "/v1/watch");
  ASSERT_TRUE(*r);
  ASSERT_TRUE((*r)->stream);
  EXPECT_EQ((*r)->headers.get("Content-Type"), "text/event-stream");
  auto taken = [&] {
    std::string out;
    (*r)->stream->take(out, [] {});
    return out;
  };
  std::string first = taken();
  EXPECT_NE(first.find("event: leader\n"), std::string::npos);
  EXPECT_NE(first.find("\"name\":\"\""), std::string::npos);
  elector.held(4, clock.now());
  api.publish();
  api.publish();  // nothing new: no second event
  std::string second = taken();
  EXPECT_EQ(second.find("event: leader"), second.rfind("event: leader"));
  EXPECT_NE(second.find("\"name\":\"pod-a\""), std::string::npos);
  EXPECT_NE(second.find("\"self\":true"), std::string::npos);
  api.close();
  EXPECT_TRUE((*r)->stream->ended());
}

TEST_F(ApiTest, ResignIsAPostHandedToTheRole) {
  EXPECT_EQ((*send("GET", "/v1/resign"))->status, 405);
  EXPECT_EQ((*send("POST", "/v1/resign"))->status, 200);
  EXPECT_EQ(resigns, 1);
}

}  // namespace
}  // namespace tender::election

// `tender queue` as its users drive it: the real binary on 127.0.0.1, curl-like requests,
// bad input, long polls, drain, and SIGKILL at random moments under load.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

std::vector<std::string> queue_args(const std::string& store,
                                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"queue",       "--listen", "127.0.0.1:0", "--admin",
                                "127.0.0.1:0", "--store",  store};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

json::object body_json(const HttpResult& r) {
  auto v = json::parse(r.body);
  return v.as_object();
}

// Enqueues `payload`; the new id (0 when not 201).
std::uint64_t enqueue(std::uint16_t port, const std::string& queue, const std::string& payload,
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  auto r = http(port, "POST", "/v1/queues/" + queue + "/items", headers, payload);
  if (r.status != 201) {
    return 0;
  }
  return body_json(r).at("id").to_number<std::uint64_t>();
}

struct Lease {
  std::uint64_t id = 0;
  std::string lease_id;
  std::string payload;
  std::int64_t attempt = 0;
};

std::vector<Lease> lease(std::uint16_t port, const std::string& queue,
                         const std::string& params = "") {
  auto r = http(port, "POST", "/v1/queues/" + queue + "/lease" + params);
  std::vector<Lease> out;
  if (r.status != 200) {
    return out;
  }
  const json::object body = body_json(r);
  for (const auto& v : body.at("items").as_array()) {
    const auto& o = v.as_object();
    const auto* text = o.if_contains("payload");  // absent for bytes that are not UTF-8
    out.push_back({o.at("id").to_number<std::uint64_t>(), std::string(o.at("lease_id").as_string()),
                   text != nullptr ? std::string(text->as_string()) : "<base64>",
                   o.at("attempt").as_int64()});
  }
  return out;
}

int ack(std::uint16_t port, const Lease& l, const std::string& result = "") {
  return http(port, "POST", "/v1/items/" + std::to_string(l.id) + "/ack?lease_id=" + l.lease_id, {},
              result)
      .status;
}

TEST(Queue, EnqueueLeaseAckOverHttp) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  auto r = http(port, "POST", "/v1/queues/jobs/items", {}, "resize img/1.png");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("location"), "/v1/items/1");
  auto l = lease(port, "jobs", "?ttl_ms=60000");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].payload, "resize img/1.png");
  EXPECT_EQ(l[0].attempt, 1);
  EXPECT_EQ(ack(port, l[0], "done: 1.png"), 200);
  auto item = http(port, "GET", "/v1/items/1");
  ASSERT_EQ(item.status, 200);
  auto o = body_json(item);
  EXPECT_EQ(o.at("state").as_string(), "done");
  EXPECT_EQ(o.at("result").as_string(), "done: 1.png");
  EXPECT_EQ(http(port, "POST", "/v1/queues/jobs/lease").status, 204);
  auto q = body_json(http(port, "GET", "/v1/queues/jobs"));
  EXPECT_EQ(q.at("counts").at("done").as_int64(), 1);
  auto all = body_json(http(port, "GET", "/v1/queues"));
  EXPECT_EQ(all.at("queues").as_array().size(), 1u);
}

// A page in the operator's browser cannot drive the queue: a cross-site POST is refused,
// a read is served, and workers (no Origin) are not affected.
TEST(Queue, ACrossSiteRequestCannotChangeTheQueue) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  auto r = http(port, "POST", "/v1/queues/jobs/items",
                {{"Origin", "http://evil.example"}, {"Content-Type", "text/plain"}}, "rm -rf");
  EXPECT_EQ(r.status, 403) << r.body;
  r = http(port, "POST", "/v1/queues/jobs/items", {{"Sec-Fetch-Site", "cross-site"}}, "x");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(http(port, "POST", "/v1/queues/jobs/lease").status, 204);  // nothing was enqueued
  EXPECT_EQ(http(port, "POST", "/v1/queues/jobs/items", {}, "fine").status, 201);
  EXPECT_EQ(http(port, "GET", "/v1/queues/jobs", {{"Origin", "http://evil.example"}}).status, 200);
}

TEST(Queue, BatchPrioritiesDelaysAndIdempotencyKeys) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  auto b = http(port, "POST", "/v1/queues/b/items:batch", {},
                R"(["low",{"payload":"high","priority":9},{"payload_base64":"AP8="},)"
                R"({"payload":"later","delay_ms":60000}])");
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(body_json(b).at("items").as_array().size(), 4u);
  auto l = lease(port, "b", "?n=10");
  ASSERT_EQ(l.size(), 3u);  // not the delayed one
  EXPECT_EQ(l[0].payload, "high");
  EXPECT_EQ(l[1].payload, "low");
  EXPECT_EQ(l[2].payload, "<base64>");
  auto raw = http(port, "GET", "/v1/items/3");
  EXPECT_EQ(body_json(raw).at("payload_base64").as_string(), "AP8=");
  auto delayed = body_json(http(port, "GET", "/v1/items/4"));
  EXPECT_EQ(delayed.at("state").as_string(), "delayed");

  auto first = http(port, "POST", "/v1/queues/k/items?priority=3", {{"Idempotency-Key", "o-1"}},
                    "charge order 1");
  auto again =
      http(port, "POST", "/v1/queues/k/items", {{"Idempotency-Key", "o-1"}}, "charge order 1");
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(body_json(first).at("id"), body_json(again).at("id"));
  EXPECT_FALSE(body_json(again).at("created").as_bool());
  EXPECT_EQ(body_json(http(port, "GET", "/v1/queues/k")).at("counts").at("ready").as_int64(), 1);
}

TEST(Queue, BadInputGetsAReasonAndTheRightStatus) {
  TempDir dir;
  auto cfg = dir.write("queue.yaml",
                       "queue_defaults:\n  max_payload: 16B\nqueues:\n  small:\n    "
                       "max_attempts: 2\n");
  Tender t(queue_args("memory", {"--config", cfg}));
  const auto port = t.port("listen");
  auto none = http(port, "GET", "/v1/queues/nope");
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.body.find("nope"), std::string::npos);
  EXPECT_EQ(http(port, "GET", "/v1/items/999").status, 404);
  auto big = http(port, "POST", "/v1/queues/small/items", {}, std::string(17, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("max_payload"), std::string::npos) << big.body;
  auto prio = http(port, "POST", "/v1/queues/small/items?priority=high", {}, "x");
  EXPECT_EQ(prio.status, 400);
  EXPECT_NE(prio.body.find("priority"), std::string::npos);
  auto n = http(port, "POST", "/v1/queues/small/lease?n=0");
  EXPECT_EQ(n.status, 400);
  EXPECT_NE(n.body.find("n must be"), std::string::npos);
  auto js = http(port, "POST", "/v1/queues/small/items:batch", {}, "[\"a\",");
  EXPECT_EQ(js.status, 400);
  EXPECT_NE(js.body.find("not JSON"), std::string::npos);
  auto field =
      http(port, "POST", "/v1/queues/small/items:batch", {}, R"([{"payload":"a","pri":1}])");
  EXPECT_EQ(field.status, 400);
  EXPECT_NE(field.body.find("pri"), std::string::npos);
  auto name = http(port, "POST", "/v1/queues/a%20b/items", {}, "x");
  EXPECT_EQ(name.status, 400);
  ASSERT_NE(enqueue(port, "small", "ok"), 0u);
  auto l = lease(port, "small");
  ASSERT_EQ(l.size(), 1u);
  auto no_lease = http(port, "POST", "/v1/items/" + std::to_string(l[0].id) + "/ack");
  EXPECT_EQ(no_lease.status, 400);
  Lease wrong = l[0];
  wrong.lease_id = std::string(32, '0');
  EXPECT_EQ(ack(port, wrong), 409);
  EXPECT_EQ(ack(port, l[0]), 200);
  EXPECT_EQ(ack(port, l[0]), 409);
  EXPECT_EQ(http(port, "POST", "/v1/items/abc/ack?lease_id=x").status, 400);
}

TEST(Queue, AnExpiredLeaseIsRedeliveredAndTheOldLeaseIdGets409) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  ASSERT_NE(enqueue(port, "w", "work"), 0u);
  auto first = lease(port, "w", "?ttl_ms=1000");
  ASSERT_EQ(first.size(), 1u);
  // The worker holding it goes silent; a second worker waits and gets it after the TTL.
  auto second = lease(port, "w", "?wait_ms=10000");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, first[0].id);
  EXPECT_EQ(second[0].attempt, 2);
  EXPECT_EQ(ack(port, first[0]), 409);
  auto nack =
      http(port, "POST",
           "/v1/items/" + std::to_string(first[0].id) + "/nack?lease_id=" + first[0].lease_id, {},
           "too late");
  EXPECT_EQ(nack.status, 409);
  EXPECT_EQ(ack(port, second[0]), 200);
}

TEST(Queue, APoisonItemGoesDeadWithItsErrorAndRequeueBringsItBack) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  const auto id = enqueue(port, "p", "poison", {{"Tender-Max-Attempts", "2"}});
  ASSERT_NE(id, 0u);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto l = lease(port, "p", "?wait_ms=5000");
    ASSERT_EQ(l.size(), 1u);
    auto r = http(port, "POST",
                  "/v1/items/" + std::to_string(id) + "/nack?delay_ms=0&lease_id=" + l[0].lease_id,
                  {}, "segfault on attempt " + std::to_string(attempt));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body_json(r).at("state").as_string(), attempt == 1 ? "ready" : "dead");
  }
  auto dead = body_json(http(port, "GET", "/v1/queues/p/dead"));
  ASSERT_EQ(dead.at("items").as_array().size(), 1u);
  const auto& d = dead.at("items").as_array()[0].as_object();
  EXPECT_EQ(d.at("error").as_string(), "segfault on attempt 2");
  EXPECT_EQ(d.at("payload").as_string(), "poison");
  EXPECT_EQ(http(port, "GET", "/v1/queues/p/dead/" + std::to_string(id)).status, 200);
  EXPECT_EQ(http(port, "GET", "/v1/queues/other/dead/" + std::to_string(id)).status, 404);
  auto requeue = http(port, "POST", "/v1/queues/p/dead/requeue");
  ASSERT_EQ(requeue.status, 200);
  EXPECT_EQ(body_json(requeue).at("requeued").as_int64(), 1);
  auto again = lease(port, "p");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 1);
  EXPECT_EQ(http(port, "POST", "/v1/queues/p/dead/" + std::to_string(id) + "/purge").status, 409);
  EXPECT_EQ(http(port, "GET", "/v1/queues/p/dead/" + std::to_string(id)).status, 404);
}

// The web view requeues through the admin listener: the same dead-letter routes and answers
// as on --listen, and a page of another origin may not use them.
TEST(Queue, TheAdminListenerServesTheDeadLetters) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  const auto admin = t.port("admin");
  const auto id = enqueue(port, "p", "poison", {{"Tender-Max-Attempts", "1"}});
  ASSERT_NE(id, 0u);
  auto l = lease(port, "p");
  ASSERT_EQ(l.size(), 1u);
  ASSERT_EQ(
      http(port, "POST", "/v1/items/" + std::to_string(id) + "/nack?lease_id=" + l[0].lease_id, {},
           "exit 3")
          .status,
      200);
  const std::string item = "/v1/queues/p/dead/" + std::to_string(id);
  auto listed = http(admin, "GET", "/v1/queues/p/dead");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.body, http(port, "GET", "/v1/queues/p/dead").body);
  EXPECT_EQ(body_json(http(admin, "GET", item)).at("error").as_string(), "exit 3");
  // payload=0 leaves out what a person browsing the list does not read.
  const json::object full = body_json(listed);
  EXPECT_TRUE(full.at("items").as_array().at(0).as_object().contains("payload"));
  const json::object bare = body_json(http(admin, "GET", "/v1/queues/p/dead?payload=0"));
  const json::object& without = bare.at("items").as_array().at(0).as_object();
  EXPECT_FALSE(without.contains("payload"));
  EXPECT_EQ(without.at("id").as_int64(), static_cast<std::int64_t>(id));
  EXPECT_EQ(http(admin, "POST", "/v1/queues/p/dead/bury").status, 404);
  EXPECT_EQ(http(admin, "POST", item + "/requeue", {{"Origin", "http://attacker.example"}}).status,
            403);
  EXPECT_EQ(http(admin, "GET", item).status, 200);  // still dead
  auto requeued = http(admin, "POST", item + "/requeue");
  ASSERT_EQ(requeued.status, 200) << requeued.body;
  EXPECT_EQ(body_json(requeued).at("requeued").as_int64(), 1);
  EXPECT_EQ(http(admin, "GET", item).status, 404);
  EXPECT_EQ(body_json(http(port, "GET", "/v1/queues/p")).at("counts").at("ready").as_int64(), 1);
  // Only the dead letters: the rest of the API stays on --listen.
  EXPECT_EQ(http(admin, "POST", "/v1/queues/p/lease").status, 404);
}

TEST(Queue, ALongPollIsAnsweredWhenAnItemArrivesAndPauseHoldsItBack) {
  Tender t(queue_args("memory"));
  const auto port = t.port("listen");
  ASSERT_EQ(http(port, "POST", "/v1/queues/lp/pause").status, 404);  // no such queue yet
  Connection waiting(port);
  ASSERT_TRUE(waiting.send(request_bytes("POST", "/v1/queues/lp/lease?wait_ms=60000")));
  // The wait has begun once the lease request created the queue.
  ASSERT_TRUE(eventually([&] { return http(port, "GET", "/v1/queues/lp").status == 200; }));
  ASSERT_FALSE(waiting.readable_now());
  ASSERT_NE(enqueue(port, "lp", "arrived"), 0u);
  auto r = waiting.read_response();  // well before the 60 s wait (receives time out at 15 s)
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("arrived"), std::string::npos);

  ASSERT_EQ(http(port, "POST", "/v1/queues/lp/pause").status, 200);
  ASSERT_NE(enqueue(port, "lp", "held"), 0u);
  EXPECT_EQ(http(port, "POST", "/v1/queues/lp/lease").status, 204);
  ASSERT_EQ(http(port, "POST", "/v1/queues/lp/resume").status, 200);
  EXPECT_EQ(lease(port, "lp").size(), 1u);
}

TEST(Queue, SigtermAnswersWaitingLongPollsAndExitsZero) {
  Tender t(queue_args("memory"));
  Connection waiting(t.port("listen"));
  ASSERT_TRUE(waiting.send(request_bytes("POST", "/v1/queues/d/lease?wait_ms=60000")));
  ASSERT_TRUE(
      eventually([&] { return http(t.port("listen"), "GET", "/v1/queues/d").status == 200; }));
  t.signal(SIGTERM);
  auto r = waiting.read_response();
  EXPECT_EQ(r.status, 204);
  auto st = t.wait_exit(20s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
}

TEST(Queue, BadStoresAndConfigsStopTheStartWithThePath) {
  TempDir dir;
  const std::string garbage = dir.write("garbage.db", std::string(8192, 'g'));
  auto r = run_tender(queue_args("sqlite:" + garbage));
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find(garbage), std::string::npos) << r.err;
  r = run_tender(queue_args("sqlite:" + dir.path() + "/no/such/dir/q.db"));
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find("no/such/dir"), std::string::npos) << r.err;
  r = run_tender(queue_args("postgres://x"));
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("--store"), std::string::npos) << r.err;
  auto cfg = dir.write("bad.yaml", "queue_defaults:\n  max_attempts: 0\n");
  r = run_tender(queue_args("memory", {"--config", cfg}));
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("bad.yaml:2"), std::string::npos) << r.err;
}

TEST(Queue, TheSqliteStoreKeepsItemsAcrossARestart) {
  TempDir dir;
  const std::string store = "sqlite:" + dir.path() + "/q.db";
  std::uint64_t id = 0;
  {
    Tender t(queue_args(store));
    id = enqueue(t.port("listen"), "keep", "survives");
    ASSERT_NE(id, 0u);
    t.signal(SIGTERM);
    ASSERT_TRUE(t.wait_exit(20s));
  }
  Tender t(queue_args(store));
  auto l = lease(t.port("listen"), "keep");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].id, id);
  EXPECT_EQ(l[0].payload, "survives");
}

// Producers enqueue and a consumer leases and acks while the server is SIGKILLed at random
// moments and restarted: every 201 survives, no acked item comes back, and every other item
// is delivered again once its lease has expired.
TEST(Queue, CrashSafetyUnderSigkill) {
  TempDir dir;
  const std::uint16_t port = free_port();
  const std::vector<std::string> args = {
      "queue",       "--listen", "127.0.0.1:" + std::to_string(port), "--admin",
      "127.0.0.1:0", "--store",  "sqlite:" + dir.path() + "/q.db"};
  std::mutex mu;
  std::set<std::uint64_t> created;  // got 201
  std::set<std::uint64_t> acked;    // ack got 200
  std::atomic<int> redelivered_acked = 0;
  std::atomic<bool> stop = false;
  auto server = std::make_unique<Tender>(args);
  std::vector<std::thread> threads;
  for (int p = 0; p < 3; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; !stop; ++i) {
        const auto id = enqueue(port, "crash", "p" + std::to_string(p) + "-" + std::to_string(i));
        if (id != 0) {
          std::lock_guard lk(mu);
          created.insert(id);
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      for (const auto& l : lease(port, "crash", "?n=5&ttl_ms=1000&wait_ms=200")) {
        {
          std::lock_guard lk(mu);
          if (acked.contains(l.id)) {
            ++redelivered_acked;
          }
        }
        if (ack(port, l) == 200) {
          std::lock_guard lk(mu);
          acked.insert(l.id);
        }
      }
    }
  });
  std::mt19937 rng(20261206);
  for (int round = 0; round < 8; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    server->signal(SIGKILL);
    ASSERT_TRUE(server->wait_exit(10s));
    server = std::make_unique<Tender>(args);
  }
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (auto& th : threads) {
    th.join();
  }
  std::lock_guard lk(mu);
  ASSERT_GT(created.size(), 50u);
  ASSERT_GT(acked.size(), 10u);
  EXPECT_EQ(redelivered_acked, 0);
  // Every 201 is there; every ack holds.
  // An ack whose answer the kill cut off may have been committed all the same: such items
  // are done, and are not expected again.
  std::set<std::uint64_t> left;
  for (auto id : created) {
    auto r = http(port, "GET", "/v1/items/" + std::to_string(id) + "?payload=0");
    ASSERT_EQ(r.status, 200) << "item " << id << " got 201 and is gone";
    const bool done = body_json(r).at("state").as_string() == "done";
    if (acked.contains(id)) {
      EXPECT_TRUE(done) << "acked item " << id << " is " << r.body;
    } else if (!done) {
      left.insert(id);
    }
  }
  // Everything else is delivered again (leases of the dead server's time expire in 1 s).
  while (!left.empty()) {
    auto got = lease(port, "crash", "?n=100&wait_ms=3000");
    if (got.empty()) {
      break;
    }
    for (const auto& l : got) {
      EXPECT_FALSE(acked.contains(l.id)) << "acked item " << l.id << " delivered again";
      left.erase(l.id);
      EXPECT_EQ(ack(port, l), 200);
    }
  }
  EXPECT_TRUE(left.empty()) << left.size() << " items never came back, e.g. " << *left.begin();
}

}  // namespace
}  // namespace tender::testing

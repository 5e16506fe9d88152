// `tender queue --store redis://...`: servers sharing one real redis-server.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "proxy_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

std::vector<std::string> redis_queue_args(const RedisServer& redis, const std::string& prefix) {
  return {"queue",
          "--listen",
          "127.0.0.1:0",
          "--admin",
          "127.0.0.1:0",
          "--store",
          "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0?prefix=" + prefix};
}

json::object parse(const HttpResult& r) { return json::parse(r.body).as_object(); }

struct Leased {
  std::uint64_t id = 0;
  std::string lease_id;
  std::string payload;
};

std::vector<Leased> lease(std::uint16_t port, const std::string& params) {
  auto r = http(port, "POST", "/v1/queues/shared/lease" + params);
  std::vector<Leased> out;
  if (r.status != 200) {
    return out;
  }
  const json::object body = parse(r);
  for (const auto& v : body.at("items").as_array()) {
    const auto& o = v.as_object();
    out.push_back({o.at("id").to_number<std::uint64_t>(), std::string(o.at("lease_id").as_string()),
                   std::string(o.at("payload").as_string())});
  }
  return out;
}

TEST(QueueRedis, AnItemTravelsThroughRedis) {
  RedisServer redis;
  Tender t(redis_queue_args(redis, "one:"));
  const auto port = t.port("listen");
  auto r = http(port, "POST", "/v1/queues/shared/items", {}, "via redis");
  ASSERT_EQ(r.status, 201) << r.body;
  auto l = lease(port, "?ttl_ms=60000");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].payload, "via redis");
  auto a =
      http(port, "POST", "/v1/items/" + std::to_string(l[0].id) + "/ack?lease_id=" + l[0].lease_id,
           {}, "ok");
  EXPECT_EQ(a.status, 200) << a.body;
  auto again =
      http(port, "POST", "/v1/items/" + std::to_string(l[0].id) + "/ack?lease_id=" + l[0].lease_id);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(
      parse(http(port, "GET", "/v1/items/" + std::to_string(l[0].id))).at("state").as_string(),
      "done");
}

TEST(QueueRedis, TwoServersNeverHandOneItemToTwoWorkers) {
  RedisServer redis;
  Tender a(redis_queue_args(redis, "two:"));
  Tender b(redis_queue_args(redis, "two:"));
  const std::uint16_t ports[2] = {a.port("listen"), b.port("listen")};
  constexpr int kItems = 600;
  for (int i = 0; i < kItems; i += 100) {
    std::string batch = "[";
    for (int k = i; k < i + 100; ++k) {
      batch += (k > i ? ",\"" : "\"") + std::to_string(k) + "\"";
    }
    batch += "]";
    ASSERT_EQ(http(ports[(i / 100) % 2], "POST", "/v1/queues/shared/items:batch", {}, batch).status,
              201);
  }
  std::mutex mu;
  std::multiset<std::uint64_t> leased;
  std::atomic<int> acked = 0;
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      for (;;) {
        // Leases far longer than the test: an item seen twice was handed out twice.
        auto got = lease(ports[w % 2], "?n=4&ttl_ms=600000");
        if (got.empty()) {
          return;
        }
        for (const auto& l : got) {
          {
            std::lock_guard lk(mu);
            leased.insert(l.id);
          }
          auto r = http(ports[(w + 1) % 2], "POST",
                        "/v1/items/" + std::to_string(l.id) + "/ack?lease_id=" + l.lease_id);
          if (r.status == 200) {
            ++acked;
          }
        }
      }
    });
  }
  for (auto& t : workers) {
    t.join();
  }
  EXPECT_EQ(leased.size(), static_cast<std::size_t>(kItems));
  EXPECT_EQ(std::set<std::uint64_t>(leased.begin(), leased.end()).size(),
            static_cast<std::size_t>(kItems));
  EXPECT_EQ(acked, kItems);
  auto q = parse(http(ports[0], "GET", "/v1/queues/shared"));
  EXPECT_EQ(q.at("counts").at("done").as_int64(), kItems);
  EXPECT_EQ(q.at("counts").at("ready").as_int64(), 0);
}

TEST(QueueRedis, ALongPollOnOneServerWakesForAnEnqueueOnTheOther) {
  RedisServer redis;
  Tender a(redis_queue_args(redis, "wake:"));
  Tender b(redis_queue_args(redis, "wake:"));
  // Create the queue, then wait on a.
  ASSERT_EQ(http(a.port("listen"), "POST", "/v1/queues/shared/lease").status, 204);
  Connection waiting(a.port("listen"));
  ASSERT_TRUE(waiting.send(request_bytes("POST", "/v1/queues/shared/lease?wait_ms=60000")));
  ASSERT_TRUE(wait_in_flight(a, 1));
  ASSERT_EQ(http(b.port("listen"), "POST", "/v1/queues/shared/items", {}, "from b").status, 201);
  auto r = waiting.read_response();  // long before the 60 s wait ends (reads time out at 15 s)
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("from b"), std::string::npos);
}

TEST(QueueRedis, AnUnreachableRedisStopsTheStart) {
  const auto port = free_port();
  auto r = run_tender({"queue", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store",
                       "redis://127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find(std::to_string(port)), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tender::testing

// The Redis store's lease waits: woken by another store's enqueue on the same Redis, served
// FIFO, cancelled, ended by the deadline and by close(); pause and resume; two stores leasing
// from one queue at once; a Redis that goes away.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "core/clock.hpp"
#include "workqueue/redis_store.hpp"
#include "workqueue/redis_test_support.hpp"

// Designated initializers name only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;
using namespace tender::workqueue::redis_testing;

// A lease started without waiting for its answer.
struct Pending {
  std::shared_ptr<std::promise<Result<std::vector<Leased>>>> promise =
      std::make_shared<std::promise<Result<std::vector<Leased>>>>();
  std::future<Result<std::vector<Leased>>> future = promise->get_future();
  CancelWait cancel;

  Pending(Store& store, const std::string& queue, LeaseOptions options) {
    cancel = store.lease(queue, options, [p = promise](Result<std::vector<Leased>> r) {
      p->set_value(std::move(r));
    });
  }
  bool answered() { return future.wait_for(0s) == std::future_status::ready; }
};

class RedisWaitTest : public RedisStoreTest {};

TEST_F(RedisWaitTest, AWaitIsAnsweredByAnotherStoresEnqueue) {
  auto a = open();
  auto b = open();
  Pending wait(*a, "q", {.n = 5, .wait = 60s});
  Sync sb{*b};
  auto id = sb.push("q", "from b");
  auto r = wait.future.get();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1U);
  EXPECT_EQ(r->front().id, id);
  EXPECT_EQ(r->front().payload, "from b");
  EXPECT_EQ(r->front().attempt, 1);
}

// With polling all but off (10 minutes), only the wake-up message can answer these waits
// within their minute; an empty answer means it never came.
TEST_F(RedisWaitTest, TheWakeUpMessageAloneAnswersAWait) {
  auto a = open({}, "&poll_ms=600000");
  auto b = open();
  Pending wait(*a, "q", {.wait = 60s});
  Sync sb{*b};
  auto id = sb.push("q", "from b");
  auto r = wait.future.get();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1U);
  EXPECT_EQ(r->front().id, id);
}

// Without a message, a wait asks again when Redis said the queue's next delay or lease expiry
// is due, whichever server's it is.
TEST_F(RedisWaitTest, AWaitAsksAgainWhenTheNextDelayOrLeaseIsDue) {
  auto a = open({}, "&poll_ms=600000");
  auto b = open();
  Sync sb{*b};
  auto delayed = sb.enqueue("q", {{.payload = "later", .delay = 200ms}})->at(0).id;
  Pending first(*a, "q", {.wait = 60s});
  auto r = first.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, delayed);

  auto held = sb.push("r", "held by b");
  (void)sb.lease_one("r", 200ms);
  Pending second(*a, "r", {.wait = 60s});
  r = second.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, held);
  EXPECT_EQ(r->front().attempt, 2);
}

TEST_F(RedisWaitTest, WaitsAreServedFirstComeFirstServed) {
  auto a = open();
  auto b = open();
  Pending first(*a, "q", {.wait = 60s});
  Pending second(*a, "q", {.wait = 60s});
  Sync sb{*b};
  auto one = sb.push("q", "1");
  auto r = first.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, one);
  EXPECT_FALSE(second.answered());
  auto two = sb.push("q", "2");
  r = second.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, two);
}

TEST_F(RedisWaitTest, CancelAnswersEmptyAtOnceAndLeavesItemsForOthers) {
  auto store = open();
  Pending wait(*store, "q", {.wait = 60s});
  wait.cancel();
  ASSERT_TRUE(wait.answered());
  auto r = wait.future.get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  wait.cancel();  // after the answer: nothing
  Sync s{*store};
  auto id = s.push("q", "x");
  // A lease that ran for the wait when it was cancelled is handed back a moment later.
  ASSERT_TRUE(eventually([&] {
    auto r = s.lease("q");
    return r && r->size() == 1 && r->front().id == id && r->front().attempt == 1;
  }));
}

TEST_F(RedisWaitTest, AWaitEndsEmptyAtItsDeadlineOnTheStoresClock) {
  FakeClock clock;
  StoreSettings settings;
  settings.clock = &clock;
  auto store = open(settings);
  Pending wait(*store, "q", {.wait = 30s});
  Sync s{*store};
  // Another queue's item does not answer it, and real time alone does not end it.
  s.push("other", "x");
  // The wait's lease creates "q" on a pool thread of its own: poll for it.
  ASSERT_TRUE(eventually([&] { return s.queue("q").has_value(); }));
  EXPECT_FALSE(wait.answered());
  clock.advance(30s);
  auto r = wait.future.get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
}

TEST_F(RedisWaitTest, CloseAnswersEveryWaitEmpty) {
  auto store = open();
  Pending one(*store, "q", {.wait = 60s});
  Pending two(*store, "r", {.wait = 60s});
  store->close();
  ASSERT_TRUE(one.answered());
  ASSERT_TRUE(two.answered());
  EXPECT_TRUE(one.future.get()->empty());
  EXPECT_TRUE(two.future.get()->empty());
}

TEST_F(RedisWaitTest, PausedQueuesHandOutNothingUntilResumed) {
  auto a = open();
  auto b = open();
  Sync sa{*a};
  Sync sb{*b};
  auto id = sa.push("q", "x");
  auto paused = sa.set_paused("q", true);
  ASSERT_TRUE(paused);
  EXPECT_TRUE(paused->paused);
  EXPECT_TRUE(sa.lease("q")->empty());
  sa.push("q", "enqueues go on");
  EXPECT_EQ(sa.queue("q")->counts.ready, 2U);
  Pending wait(*a, "q", {.wait = 60s});
  auto resumed = sb.set_paused("q", false);  // the other store resumes
  ASSERT_TRUE(resumed);
  EXPECT_FALSE(resumed->paused);
  auto r = wait.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, id);
}

TEST_F(RedisWaitTest, AWaitIsAnsweredByANackOrRequeueElsewhere) {
  auto a = open();
  auto b = open();
  Sync sa{*a};
  Sync sb{*b};
  auto id = sb.push("q", "x");
  auto l = sb.lease_one("q");
  Pending wait(*a, "q", {.wait = 60s});
  ASSERT_TRUE(sb.nack(l, "retry", 0ms));
  auto r = wait.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, id);
  EXPECT_EQ(r->front().attempt, 2);
  ASSERT_TRUE(sa.bury(r->front(), "dead"));
  Pending again(*a, "q", {.wait = 60s});
  EXPECT_EQ(*sb.requeue("q", id), 1U);
  r = again.future.get();
  ASSERT_TRUE(r && r->size() == 1);
  EXPECT_EQ(r->front().id, id);
}

TEST_F(RedisWaitTest, TwoStoresLeasingConcurrentlyNeverShareALiveLease) {
  auto a = open();
  auto b = open();
  constexpr int kItems = 600;
  {
    Sync s{*a};
    for (int batch = 0; batch < kItems / 100; ++batch) {
      std::vector<NewItem> items;
      for (int i = 0; i < 100; ++i) {
        items.push_back({.payload = std::to_string(batch * 100 + i), .priority = i % 3});
      }
      ASSERT_TRUE(s.enqueue("q", std::move(items)));
    }
  }
  std::mutex mu;
  std::map<std::uint64_t, int> times;  // id -> how often leased
  std::atomic<int> leased{0};
  auto worker = [&](Store& store, int n) {
    Sync s{store};
    while (leased.load() < kItems) {
      auto r = s.lease("q", {.n = static_cast<std::size_t>(n), .ttl = 60s, .wait = 50ms});
      if (!r) {
        ADD_FAILURE() << r.error().message();
        return;
      }
      std::lock_guard lock(mu);
      for (const auto& l : *r) {
        ++times[l.id];
        ++leased;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(worker, std::ref(*a), 1 + i % 3);
    threads.emplace_back(worker, std::ref(*b), 1 + i % 3);
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(leased.load(), kItems);
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kItems));
  for (const auto& [id, n] : times) {
    EXPECT_EQ(n, 1) << "item " << id;
  }
  Sync s{*a};
  EXPECT_EQ(s.queue("q")->counts.leased, static_cast<std::uint64_t>(kItems));
}

// Leases that expire under the workers (1 ms TTLs) are leased again, by either store; only the
// current lease's ack counts, so each item is done exactly once and every other ack is stale.
TEST_F(RedisWaitTest, OnlyTheCurrentLeaseOfAnItemCanAckItUnderConcurrentExpiry) {
  StoreSettings settings;
  settings.defaults.max_attempts = 1000;
  auto a = open(settings);
  auto b = open(settings);
  constexpr int kItems = 300;
  {
    Sync s{*a};
    std::vector<NewItem> items;
    for (int i = 0; i < kItems; ++i) {
      items.push_back({.payload = std::to_string(i)});
    }
    ASSERT_TRUE(s.enqueue("q", std::move(items)));
  }
  std::mutex mu;
  std::map<std::uint64_t, int> acked;  // id -> successful acks
  std::atomic<int> done{0};
  std::atomic<int> stale{0};
  auto worker = [&](Store& store, Millis ttl) {
    Sync s{store};
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (done.load() < kItems && std::chrono::steady_clock::now() < until) {
      auto r = s.lease("q", {.n = 3, .ttl = ttl, .wait = 20ms});
      if (!r) {
        ADD_FAILURE() << r.error().message();
        return;
      }
      for (const auto& l : *r) {
        auto ack = s.ack(l, "ok");
        if (ack) {
          std::lock_guard lock(mu);
          ++acked[l.id];
          ++done;
        } else if (errc(ack.error()) == Errc::kStaleLease) {
          ++stale;
        } else {
          ADD_FAILURE() << ack.error().message();
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back(worker, std::ref(*a), 1ms);
    threads.emplace_back(worker, std::ref(*b), i == 0 ? 60s : 1ms);
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(done.load(), kItems);
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(kItems));
  for (const auto& [id, n] : acked) {
    EXPECT_EQ(n, 1) << "item " << id;
  }
  Sync s{*a};
  auto info = s.queue("q");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->counts.done, static_cast<std::uint64_t>(kItems));
  EXPECT_EQ(info->counts.ready + info->counts.leased + info->counts.dead, 0U);
  RecordProperty("stale_acks", stale.load());
}

TEST(RedisDown, OperationsAnswerUnavailableWhileItIsDownAndRecoverAfter) {
  RedisServer server;
  const std::string params = "&timeout_ms=500&connect_timeout_ms=500";
  auto a = open_redis_store(server.url("down:") + params + "&poll_ms=600000", {});
  auto b = open_redis_store(server.url("down:") + params, {});
  ASSERT_TRUE(a && b);
  Sync sa{**a};
  Sync sb{**b};
  sa.push("q", "x");
  Pending failed(**b, "other", {.wait = 60s});
  server.stop();
  EXPECT_ERRC(sa.enqueue("q", {{.payload = "y"}}), Errc::kUnavailable);
  EXPECT_ERRC(sa.lease("q"), Errc::kUnavailable);
  EXPECT_ERRC(sa.get(1), Errc::kUnavailable);
  EXPECT_ERRC(sa.queues(), Errc::kUnavailable);
  // A wait asks again within 250 ms; that lease failing ends it with the error.
  auto r = failed.future.get();
  EXPECT_ERRC(r, Errc::kUnavailable);

  server.restart();  // empty: it kept nothing
  EXPECT_TRUE(eventually([&] { return bool(sa.enqueue("q", {{.payload = "z"}})); }));
  // The subscription comes back too: b's enqueue wakes a's wait.
  Pending wait(**a, "w", {.wait = 60s});
  auto id = sb.push("w", "after");
  r = wait.future.get();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 1U);
  EXPECT_EQ(r->front().id, id);
}

}  // namespace
}  // namespace tender::workqueue

// The suite every store passes (memory, SQLite, Redis): the behaviour store.hpp promises, on
// the real clock with short leases and delays, polling rather than sleeping a fixed time.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/process.hpp"
#include "workqueue/store_test_support.hpp"

#include "workqueue/redis_test_support.hpp"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;
using namespace testing;

struct Kind {
  std::string name;
  std::function<Result<std::unique_ptr<Store>>(StoreSettings, const std::string& dir)> open;
};

void PrintTo(const Kind& k, std::ostream* os) { *os << k.name; }

std::string temp_dir() {
  char tmpl[] = "/tmp/tender-store-test-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  return d != nullptr ? d : "/tmp";
}

class StoreSuite : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    store_ = open();
  }
  void TearDown() override {
    if (store_) {
      store_->close();
    }
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Store> open(StoreSettings s = {}) {
    auto r = GetParam().open(std::move(s), dir_);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
  void reopen(StoreSettings s) {
    store_->close();
    store_.reset();
    store_ = open(std::move(s));
  }
  Store& s() { return *store_; }
  // Polls until item `id` is in `state` (10 s at most).
  bool eventually_state(std::uint64_t id, State state) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto v = item(s(), id);
      if (v && v->state == state) {
        return true;
      }
      if (std::chrono::steady_clock::now() > until) {
        return false;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreSuite, AnItemGoesFromReadyToLeasedToDone) {
  auto id = put(s(), "q", "payload one");
  ASSERT_TRUE(id) << id.error().message();
  auto v = item(s(), *id);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, State::kReady);
  EXPECT_EQ(v->queue, "q");
  EXPECT_EQ(v->payload.value_or(""), "payload one");

  auto l = take(s(), "q");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 1u);
  const Leased lease = l->front();
  EXPECT_EQ(lease.id, *id);
  EXPECT_EQ(lease.payload, "payload one");
  EXPECT_EQ(lease.attempt, 1);
  EXPECT_EQ(lease.lease_id.size(), 32u);
  EXPECT_EQ(item(s(), *id)->state, State::kLeased);
  auto nothing = take(s(), "q");
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->empty());

  auto done = ack(s(), lease, "the result");
  ASSERT_TRUE(done) << done.error().message();
  EXPECT_EQ(done->state, State::kDone);
  v = item(s(), *id);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, State::kDone);
  EXPECT_EQ(v->result, "the result");
  auto again = ack(s(), lease);
  ASSERT_FALSE(again);
  EXPECT_EQ(errc(again.error()), Errc::kStaleLease);
  EXPECT_EQ(info(s(), "q")->counts.done, 1u);
}

TEST_P(StoreSuite, PayloadsAreBytes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes.push_back(static_cast<char>(i));
  }
  ASSERT_TRUE(put(s(), "bin", bytes));
  auto l = take(s(), "bin");
  ASSERT_TRUE(l && l->size() == 1);
  EXPECT_EQ(l->front().payload, bytes);
}

TEST_P(StoreSuite, HigherPriorityFirstThenOldest) {
  for (auto [payload, priority] : std::vector<std::pair<std::string, int>>{
           {"low", -5}, {"a", 0}, {"high", 10}, {"b", 0}, {"higher", 20}}) {
    NewItem n;
    n.payload = payload;
    n.priority = priority;
    ASSERT_TRUE(put(s(), "p", n));
  }
  auto l = take(s(), "p", 10);
  ASSERT_TRUE(l);
  std::vector<std::string> order;
  for (const auto& x : *l) {
    order.push_back(x.payload);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"higher", "high", "a", "b", "low"}));
}

TEST_P(StoreSuite, AnIdempotencyKeyNamesItsFirstItem) {
  NewItem n;
  n.payload = "once";
  n.idempotency_key = "order-17";
  auto first = call<std::vector<Enqueued>>([&](auto done) { s().enqueue("k", {n}, done); });
  auto second = call<std::vector<Enqueued>>([&](auto done) { s().enqueue("k", {n}, done); });
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->front().created);
  EXPECT_FALSE(second->front().created);
  EXPECT_EQ(first->front().id, second->front().id);
  EXPECT_EQ(info(s(), "k")->counts.ready, 1u);
  // The same key in another queue is another key.
  auto other = call<std::vector<Enqueued>>([&](auto done) { s().enqueue("k2", {n}, done); });
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->front().created);
}

TEST_P(StoreSuite, ABatchIsEnqueuedWholeOrNotAtAll) {
  StoreSettings st;
  st.defaults.max_payload_bytes = 10;
  reopen(st);
  std::vector<NewItem> batch(3);
  batch[0].payload = "ok";
  batch[1].payload = "ok too";
  batch[2].payload = std::string(11, 'x');
  auto r = call<std::vector<Enqueued>>([&](auto done) { s().enqueue("b", batch, done); });
  ASSERT_FALSE(r);
  EXPECT_EQ(errc(r.error()), Errc::kTooLarge);
  EXPECT_NE(r.error().message().find("item 3"), std::string::npos) << r.error().message();
  auto q = info(s(), "b");
  if (q) {
    EXPECT_EQ(q->counts.ready, 0u);
  }
  batch[2].payload = "fits";
  r = call<std::vector<Enqueued>>([&](auto done) { s().enqueue("b", batch, done); });
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_LT((*r)[0].id, (*r)[1].id);
  EXPECT_LT((*r)[1].id, (*r)[2].id);
  EXPECT_EQ(info(s(), "b")->counts.ready, 3u);
}

TEST_P(StoreSuite, ADelayedItemIsLeasedOnlyOnceItsDelayHasPassed) {
  NewItem n;
  n.payload = "later";
  n.delay = 300ms;
  auto id = put(s(), "d", n);
  ASSERT_TRUE(id);
  EXPECT_EQ(item(s(), *id)->state, State::kDelayed);
  EXPECT_EQ(info(s(), "d")->counts.delayed, 1u);
  auto l = take(s(), "d");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->empty());
  // A long poll is answered once the delay has passed.
  l = take(s(), "d", 1, std::nullopt, 10s);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ(l->front().id, *id);
}

TEST_P(StoreSuite, ALongPollIsAnsweredWhenAnItemArrives) {
  std::atomic<bool> answered = false;
  Result<std::vector<Leased>> got = std::vector<Leased>();
  std::thread waiter([&] {
    got = take(s(), "lp", 1, std::nullopt, 20s);
    answered = true;
  });
  // The wait has begun once another lease sees nothing; then enqueue.
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(answered);
  ASSERT_TRUE(put(s(), "lp", "wake up"));
  waiter.join();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().payload, "wake up");
}

TEST_P(StoreSuite, ACancelledWaitIsAnsweredEmptyAtOnce) {
  LeaseOptions o;
  o.wait = 60s;
  auto promise = std::make_shared<std::promise<Result<std::vector<Leased>>>>();
  auto future = promise->get_future();
  CancelWait cancel =
      s().lease("cw", o, [promise](Result<std::vector<Leased>> r) { promise->set_value(r); });
  EXPECT_EQ(future.wait_for(50ms), std::future_status::timeout);
  cancel();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto r = future.get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  cancel();  // twice: nothing
  // The item enqueued after the cancel is not taken by the cancelled wait.
  ASSERT_TRUE(put(s(), "cw", "x"));
  EXPECT_EQ(info(s(), "cw")->counts.ready, 1u);
}

TEST_P(StoreSuite, APausedQueueHandsOutNothingUntilResumed) {
  ASSERT_TRUE(put(s(), "pz", "x"));
  auto paused = call<QueueInfo>([&](auto done) { s().set_paused("pz", true, done); });
  ASSERT_TRUE(paused);
  EXPECT_TRUE(paused->paused);
  EXPECT_TRUE(take(s(), "pz")->empty());
  ASSERT_TRUE(put(s(), "pz", "enqueues go on"));
  std::thread resumer([&] {
    std::this_thread::sleep_for(100ms);
    (void)call<QueueInfo>([&](auto done) { s().set_paused("pz", false, done); });
  });
  auto l = take(s(), "pz", 5, std::nullopt, 20s);
  resumer.join();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 2u);
  EXPECT_FALSE(info(s(), "pz")->paused);
}

TEST_P(StoreSuite, ANackedItemComesBackThenGoesDeadAfterMaxAttempts) {
  NewItem n;
  n.payload = "poison";
  n.max_attempts = 2;
  auto id = put(s(), "n", n);
  ASSERT_TRUE(id);
  auto l = take(s(), "n");
  ASSERT_TRUE(l && l->size() == 1);
  auto out = nack(s(), l->front(), "boom 1");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->state, State::kReady);
  l = take(s(), "n");
  ASSERT_TRUE(l && l->size() == 1);
  EXPECT_EQ(l->front().attempt, 2);
  out = nack(s(), l->front(), "boom 2");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->state, State::kDead);
  auto v = item(s(), *id);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, State::kDead);
  EXPECT_EQ(v->error, "boom 2");
  EXPECT_EQ(v->attempts, 2);

  auto dead = call<std::vector<ItemView>>([&](auto done) { s().dead("n", 0, 100, done); });
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().id, *id);
  EXPECT_EQ(dead->front().payload.value_or(""), "poison");

  auto requeued = call<std::uint64_t>([&](auto done) { s().requeue_dead("n", *id, done); });
  ASSERT_TRUE(requeued);
  EXPECT_EQ(*requeued, 1u);
  l = take(s(), "n");
  ASSERT_TRUE(l && l->size() == 1);
  EXPECT_EQ(l->front().attempt, 1);
  ASSERT_TRUE(call<ItemView>(
      [&](auto done) { s().bury(l->front().id, l->front().lease_id, "hopeless", done); }));
  EXPECT_EQ(item(s(), *id)->error, "hopeless");
  auto not_dead = call<std::uint64_t>([&](auto done) { s().requeue_dead("n", 999999, done); });
  ASSERT_FALSE(not_dead);
  auto purged = call<std::uint64_t>([&](auto done) { s().purge_dead("n", std::nullopt, done); });
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1u);
  auto gone = item(s(), *id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(errc(gone.error()), Errc::kNoItem);
  EXPECT_EQ(info(s(), "n")->counts.dead, 0u);
}

TEST_P(StoreSuite, AReleasedItemIsReadyAtOnceWithoutCountingTheAttempt) {
  NewItem n;
  n.payload = "x";
  n.max_attempts = 1;
  auto id = put(s(), "r", n);
  ASSERT_TRUE(id);
  auto l = take(s(), "r");
  ASSERT_TRUE(l && l->size() == 1);
  auto back =
      call<ItemView>([&](auto done) { s().release(l->front().id, l->front().lease_id, done); });
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->state, State::kReady);
  EXPECT_EQ(back->attempts, 0);
  auto stale =
      call<ItemView>([&](auto done) { s().release(l->front().id, l->front().lease_id, done); });
  ASSERT_FALSE(stale);
  EXPECT_EQ(errc(stale.error()), Errc::kStaleLease);
  // On its only attempt still: a nack now sends it to the dead list.
  l = take(s(), "r");
  ASSERT_TRUE(l && l->size() == 1);
  EXPECT_EQ(l->front().attempt, 1);
  EXPECT_EQ(nack(s(), l->front(), "failed")->state, State::kDead);
}

TEST_P(StoreSuite, ANackWaitsForItsDelay) {
  ASSERT_TRUE(put(s(), "nd", "x"));
  auto l = take(s(), "nd");
  ASSERT_TRUE(l && l->size() == 1);
  auto out = nack(s(), l->front(), "later", 60s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->state, State::kDelayed);
  ASSERT_TRUE(out->ready_at);
  EXPECT_GT(*out->ready_at, std::chrono::system_clock::now() + 50s);
  EXPECT_TRUE(take(s(), "nd")->empty());
  EXPECT_EQ(info(s(), "nd")->counts.delayed, 1u);
}

TEST_P(StoreSuite, AnExpiredLeaseGivesTheItemBackAndItsLeaseIdGoesStale) {
  auto id = put(s(), "x", "slow");
  ASSERT_TRUE(id);
  auto first = take(s(), "x", 1, 100ms);
  ASSERT_TRUE(first && first->size() == 1);
  auto second = take(s(), "x", 1, std::nullopt, 10s);  // waits for the expiry
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().id, *id);
  EXPECT_EQ(second->front().attempt, 2);
  EXPECT_NE(second->front().lease_id, first->front().lease_id);
  auto stale = ack(s(), first->front());
  ASSERT_FALSE(stale);
  EXPECT_EQ(errc(stale.error()), Errc::kStaleLease);
  auto stale_nack = nack(s(), first->front(), "x");
  ASSERT_FALSE(stale_nack);
  EXPECT_EQ(errc(stale_nack.error()), Errc::kStaleLease);
  EXPECT_TRUE(ack(s(), second->front()));
}

TEST_P(StoreSuite, AnExtendedLeaseOutlivesItsFirstTtl) {
  ASSERT_TRUE(put(s(), "e", "x"));
  auto l = take(s(), "e", 1, 300ms);
  ASSERT_TRUE(l && l->size() == 1);
  auto until =
      call<WallTime>([&](auto done) { s().extend(l->front().id, l->front().lease_id, 60s, done); });
  ASSERT_TRUE(until);
  EXPECT_GT(*until, std::chrono::system_clock::now() + 50s);
  // Past the first TTL, no one else gets it, and the lease still acks.
  auto other = take(s(), "e", 1, std::nullopt, 600ms);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());
  EXPECT_TRUE(ack(s(), l->front()));
}

TEST_P(StoreSuite, AnExpiredLeaseOnTheLastAttemptGoesDead) {
  NewItem n;
  n.payload = "x";
  n.max_attempts = 1;
  auto id = put(s(), "xd", n);
  ASSERT_TRUE(id);
  ASSERT_TRUE(take(s(), "xd", 1, 50ms));
  ASSERT_TRUE(eventually_state(*id, State::kDead));
  EXPECT_NE(item(s(), *id)->error.find("expired"), std::string::npos) << item(s(), *id)->error;
}

TEST_P(StoreSuite, UnknownQueuesAndItemsAreErrorsNotEmptyAnswers) {
  auto q = info(s(), "never-used");
  ASSERT_FALSE(q);
  EXPECT_EQ(errc(q.error()), Errc::kNoQueue);
  auto v = item(s(), 424242);
  ASSERT_FALSE(v);
  EXPECT_EQ(errc(v.error()), Errc::kNoItem);
  auto bad = put(s(), "no spaces", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(errc(bad.error()), Errc::kInvalid);
  Leased fake;
  fake.id = 424242;
  fake.lease_id = std::string(32, 'a');
  auto a = ack(s(), fake);
  ASSERT_FALSE(a);
  EXPECT_EQ(errc(a.error()), Errc::kNoItem);
}

TEST_P(StoreSuite, WithoutAutoCreateOnlyDeclaredQueuesExist) {
  StoreSettings st;
  st.auto_create = false;
  st.declared["jobs"] = QueueSettings();
  st.declared["jobs"].max_attempts = 7;
  reopen(st);
  auto bad = put(s(), "other", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(errc(bad.error()), Errc::kNoQueue);
  auto l = take(s(), "other");
  ASSERT_FALSE(l);
  EXPECT_EQ(errc(l.error()), Errc::kNoQueue);
  ASSERT_TRUE(put(s(), "jobs", "x"));
  auto q = info(s(), "jobs");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->settings.max_attempts, 7);
}

TEST_P(StoreSuite, AFullQueueRefusesMore) {
  StoreSettings st;
  st.defaults.max_items = 2;
  reopen(st);
  ASSERT_TRUE(put(s(), "f", "1"));
  ASSERT_TRUE(put(s(), "f", "2"));
  auto third = put(s(), "f", "3");
  ASSERT_FALSE(third);
  EXPECT_EQ(errc(third.error()), Errc::kFull);
  auto l = take(s(), "f");
  ASSERT_TRUE(l && l->size() == 1);
  ASSERT_TRUE(ack(s(), l->front()));
  EXPECT_TRUE(put(s(), "f", "3"));  // done items do not count
}

TEST_P(StoreSuite, ConcurrentLeasesNeverHandOneItemToTwo) {
  constexpr int kItems = 400;
  std::vector<NewItem> batch(kItems);
  for (int i = 0; i < kItems; ++i) {
    batch[i].payload = std::to_string(i);
  }
  ASSERT_TRUE(call<std::vector<Enqueued>>([&](auto done) { s().enqueue("c", batch, done); }));
  std::mutex mu;
  std::multiset<std::uint64_t> seen;
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&] {
      for (;;) {
        auto l = take(s(), "c", 3);
        if (!l || l->empty()) {
          return;
        }
        for (const auto& x : *l) {
          {
            std::lock_guard lk(mu);
            seen.insert(x.id);
          }
          EXPECT_TRUE(ack(s(), x));
        }
      }
    });
  }
  for (auto& t : workers) {
    t.join();
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kItems));
  EXPECT_EQ(std::set<std::uint64_t>(seen.begin(), seen.end()).size(),
            static_cast<std::size_t>(kItems));
  EXPECT_EQ(info(s(), "c")->counts.done, static_cast<std::uint64_t>(kItems));
}

TEST_P(StoreSuite, QueuesListsEveryQueueWithItsCounts) {
  ASSERT_TRUE(put(s(), "one", "x"));
  ASSERT_TRUE(put(s(), "two", "x"));
  ASSERT_TRUE(put(s(), "two", "y"));
  auto all = call<std::vector<QueueInfo>>([&](auto done) { s().queues(done); });
  ASSERT_TRUE(all);
  std::map<std::string, std::uint64_t> ready;
  for (const auto& q : *all) {
    ready[q.name] = q.counts.ready;
  }
  EXPECT_EQ(ready["one"], 1u);
  EXPECT_EQ(ready["two"], 2u);
  auto two = info(s(), "two");
  ASSERT_TRUE(two && two->oldest_ready);
}

std::vector<Kind> kinds() {
  std::vector<Kind> k;
  k.push_back({"memory", [](StoreSettings s, const std::string&) {
                 return open_store("memory", std::move(s));
               }});
  k.push_back({"sqlite", [](StoreSettings s, const std::string& dir) {
                 return open_store("sqlite:" + dir + "/queue.db", std::move(s));
               }});
  // One redis-server for the binary; each test's keys under a prefix of its own directory's
  // name, so that a reopened store sees what it wrote, as a reopened SQLite file does.
  k.push_back({"redis", [](StoreSettings s, const std::string& dir) {
                 const std::string prefix = std::filesystem::path(dir).filename().string() + ":";
                 return open_store(redis_testing::shared_redis_server().url(prefix), std::move(s));
               }});
  return k;
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreSuite, ::testing::ValuesIn(kinds()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tender::workqueue

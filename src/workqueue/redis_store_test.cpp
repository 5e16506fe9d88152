// The Redis store against a real redis-server on 127.0.0.1 (started per suite on a free port):
// every operation's behaviour and errors, waits woken across two stores on one Redis, and two
// stores leasing from one queue at once never handing out one item twice.
#include "workqueue/redis_store.hpp"

#include <gtest/gtest.h>

#include "workqueue/redis_conn.hpp"
#include "workqueue/redis_test_support.hpp"

// Designated initializers name only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;
using namespace tender::workqueue::redis_testing;

TEST(RedisUrl, ParsesHostPortDatabasePasswordUserAndPrefix) {
  auto a = redis::parse_redis_url("redis://10.1.2.3:7000/3");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->host, "10.1.2.3");
  EXPECT_EQ(a->port, 7000);
  EXPECT_EQ(a->db, 3);
  EXPECT_EQ(a->prefix, "tender:queue:");
  EXPECT_TRUE(a->password.empty());

  a = redis::parse_redis_url("redis://:s%40cret@localhost:6380/1?prefix=jobs:");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->password, "s@cret");
  EXPECT_TRUE(a->user.empty());
  EXPECT_EQ(a->prefix, "jobs:");
  EXPECT_EQ(a->describe(), "redis://localhost:6380/1?prefix=jobs:");

  a = redis::parse_redis_url("redis://alice:pw@127.0.0.1:6379/0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->password, "pw");
  EXPECT_EQ(a->describe().find("pw"), std::string::npos);

  a = redis::parse_redis_url("redis://127.0.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
}

TEST(RedisUrl, RejectsWhatIsNotARedisUrl) {
  for (const char* bad : {"http://127.0.0.1:6379", "redis://127.0.0.1:0", "redis://127.0.0.1:x",
                          "redis://127.0.0.1:6379/abc", "redis://127.0.0.1/0?colour=red",
                          "redis://127.0.0.1/0?timeout_ms=0", "redis:///0"}) {
    auto a = redis::parse_redis_url(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(errc(a.error()), Errc::kInvalid) << bad;
  }
  auto store = open_redis_store("redis://:hunter2@127.0.0.1:1/0?colour=red", {});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().message().find("hunter2"), std::string::npos);
}

TEST(RedisOpen, AnUnreachableServerIsUnavailableAndNamed) {
  auto port = std::to_string(free_port());
  auto store = open_redis_store("redis://127.0.0.1:" + port + "/0", {});
  ASSERT_FALSE(store);
  EXPECT_EQ(errc(store.error()), Errc::kUnavailable);
  EXPECT_NE(store.error().message().find("127.0.0.1:" + port), std::string::npos)
      << store.error().message();
}

TEST(RedisOpen, PasswordAndAclUser) {
  RedisServer server(
      {"--requirepass", "topsecret", "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all"});
  std::string at = "@127.0.0.1:" + std::to_string(server.port()) + "/0";
  auto bad = open_redis_store("redis://:wrong" + at, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(errc(bad.error()), Errc::kUnavailable);
  EXPECT_EQ(bad.error().message().find("wrong"), std::string::npos);

  for (std::string url : {"redis://:topsecret" + at, "redis://alice:alicepw" + at}) {
    auto store = open_redis_store(url, {});
    ASSERT_TRUE(store) << url << ": " << store.error().message();
    Sync s{**store};
    auto id = s.push("q", "x");
    EXPECT_EQ(s.lease_one("q").id, id);
  }
}

TEST_F(RedisStoreTest, EnqueueLeaseAckKeepsBinaryPayloadsAndResults) {
  auto store = open();
  Sync s{*store};
  const std::string payload("a\0b\xff\r\n", 6);
  auto before = std::chrono::system_clock::now() - 1s;
  auto id = s.push("emails", payload, 7);
  ASSERT_NE(id, 0U);

  auto leased = s.lease_one("emails", 30s);
  EXPECT_EQ(leased.id, id);
  EXPECT_EQ(leased.queue, "emails");
  EXPECT_EQ(leased.payload, payload);
  EXPECT_EQ(leased.attempt, 1);
  EXPECT_EQ(leased.max_attempts, 5);
  EXPECT_EQ(leased.priority, 7);
  EXPECT_FALSE(leased.lease_id.empty());
  EXPECT_GT(leased.enqueued, before);
  EXPECT_GE(leased.lease_expires, leased.enqueued + 29s);

  auto view = s.get(id);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->state, State::kLeased);
  EXPECT_EQ(view->lease_expires, leased.lease_expires);

  const std::string result("ok\0!", 4);
  auto acked = s.ack(leased, result);
  ASSERT_TRUE(acked) << acked.error().message();
  EXPECT_EQ(acked->state, State::kDone);
  EXPECT_EQ(acked->result, result);
  EXPECT_EQ(acked->attempts, 1);
  EXPECT_TRUE(acked->finished);

  view = s.get(id, true);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->state, State::kDone);
  EXPECT_EQ(view->payload, payload);
  EXPECT_EQ(view->result, result);
  view = s.get(id, false);
  ASSERT_TRUE(view);
  EXPECT_FALSE(view->payload);

  auto info = s.queue("emails");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->counts.done, 1U);
  EXPECT_EQ(info->counts.leased, 0U);
  EXPECT_GE(store->stats().commits, 3U);
}

TEST_F(RedisStoreTest, LeasesByPriorityThenId) {
  auto store = open();
  Sync s{*store};
  auto a = s.push("q", "a", 0);
  auto b = s.push("q", "b", 5);
  auto c = s.push("q", "c", 0);
  auto d = s.push("q", "d", 5);
  auto e = s.push("q", "e", -3);
  auto leased = s.lease("q", {.n = 10});
  ASSERT_TRUE(leased);
  std::vector<std::uint64_t> ids;
  for (const auto& l : *leased) {
    ids.push_back(l.id);
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{b, d, a, c, e}));
  EXPECT_TRUE(s.lease("q")->empty());
}

TEST_F(RedisStoreTest, IdsIncreaseAcrossQueuesAndBatchesAreAllOrNone) {
  StoreSettings settings;
  settings.declared["small"].max_items = 2;
  auto store = open(settings);
  Sync s{*store};
  auto first = s.push("a", "1");
  auto batch = s.enqueue("b", {{.payload = "2"}, {.payload = "3"}});
  ASSERT_TRUE(batch);
  EXPECT_LT(first, batch->at(0).id);
  EXPECT_LT(batch->at(0).id, batch->at(1).id);

  EXPECT_ERRC(s.enqueue("small", {{.payload = "x"}, {.payload = "y"}, {.payload = "z"}}),
              Errc::kFull);
  EXPECT_EQ(s.queue("small")->counts.ready, 0U);
  ASSERT_TRUE(s.enqueue("small", {{.payload = "x"}, {.payload = "y"}}));
  EXPECT_ERRC(s.enqueue("small", {{.payload = "z"}}), Errc::kFull);
  // Dead items count too; done ones do not.
  auto l = s.lease_one("small");
  ASSERT_TRUE(s.ack(l));
  ASSERT_TRUE(s.enqueue("small", {{.payload = "z"}}));
}

TEST_F(RedisStoreTest, RejectsBadArguments) {
  StoreSettings settings;
  settings.defaults.max_payload_bytes = 4;
  auto store = open(settings);
  Sync s{*store};
  EXPECT_ERRC(s.enqueue("bad name", {{.payload = "x"}}), Errc::kInvalid);
  EXPECT_ERRC(s.enqueue("q", {}), Errc::kInvalid);
  EXPECT_ERRC(s.enqueue("q", {{.priority = 1001}}), Errc::kInvalid);
  EXPECT_ERRC(s.enqueue("q", {{.delay = -1ms}}), Errc::kInvalid);
  EXPECT_ERRC(s.enqueue("q", {{.max_attempts = 0}}), Errc::kInvalid);
  EXPECT_ERRC(s.enqueue("q", {{.idempotency_key = std::string(257, 'k')}}), Errc::kInvalid);
  auto big = s.enqueue("q", {{.payload = "ok"}, {.payload = "toolong"}});
  EXPECT_ERRC(big, Errc::kTooLarge);
  EXPECT_NE(big.error().message().find("item 2"), std::string::npos) << big.error().message();
  EXPECT_ERRC(s.lease("q", {.n = 0}), Errc::kInvalid);
  EXPECT_ERRC(s.lease("q", {.n = 1001}), Errc::kInvalid);
  EXPECT_ERRC(s.lease("q", {.ttl = 0ms}), Errc::kInvalid);
  EXPECT_ERRC(s.lease("q", {.wait = -1ms}), Errc::kInvalid);
  EXPECT_ERRC(s.dead("q", 0, 0), Errc::kInvalid);
  // Nothing above created a queue.
  EXPECT_ERRC(s.queue("q"), Errc::kNoQueue);
}

TEST_F(RedisStoreTest, AutoCreateOffKnowsOnlyDeclaredQueues) {
  StoreSettings settings;
  settings.auto_create = false;
  settings.declared["jobs"].lease_ttl = 5s;
  auto store = open(settings);
  Sync s{*store};
  EXPECT_ERRC(s.enqueue("other", {{.payload = "x"}}), Errc::kNoQueue);
  EXPECT_ERRC(s.lease("other"), Errc::kNoQueue);
  EXPECT_ERRC(s.lease("other", {.wait = 10s}), Errc::kNoQueue);
  auto info = s.queue("jobs");
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->settings.lease_ttl, 5s);
  s.push("jobs", "x");
  auto l = s.lease_one("jobs");
  EXPECT_LE(l.lease_expires - std::chrono::system_clock::now(), 6s);
}

TEST_F(RedisStoreTest, MaxQueuesIsEnforcedOnCreation) {
  StoreSettings settings;
  settings.max_queues = 2;
  auto store = open(settings);
  Sync s{*store};
  s.push("a", "x");
  s.push("b", "x");
  EXPECT_ERRC(s.enqueue("c", {{.payload = "x"}}), Errc::kFull);
  EXPECT_ERRC(s.lease("c"), Errc::kFull);
  s.push("a", "y");
}

TEST_F(RedisStoreTest, IdempotencyKeysNameTheFirstItemWithinTheWindow) {
  StoreSettings settings;
  settings.idempotency_window = 300ms;
  auto store = open(settings);
  Sync s{*store};
  auto first = s.enqueue("q", {{.payload = "x", .idempotency_key = "k1"}});
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->at(0).created);
  auto again = s.enqueue("q", {{.payload = "other", .idempotency_key = "k1"},
                               {.payload = "new", .idempotency_key = "k2"},
                               {.payload = "dup", .idempotency_key = "k2"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->at(0).id, first->at(0).id);
  EXPECT_FALSE(again->at(0).created);
  EXPECT_TRUE(again->at(1).created);
  EXPECT_EQ(again->at(2).id, again->at(1).id);
  EXPECT_FALSE(again->at(2).created);
  EXPECT_EQ(s.queue("q")->counts.ready, 2U);
  // Keys belong to their queue.
  auto elsewhere = s.enqueue("r", {{.payload = "x", .idempotency_key = "k1"}});
  ASSERT_TRUE(elsewhere);
  EXPECT_TRUE(elsewhere->at(0).created);
  // After the window the key names nothing.
  EXPECT_TRUE(eventually([&] {
    auto r = s.enqueue("q", {{.payload = "late", .idempotency_key = "k1"}});
    return r && r->at(0).created;
  }));
}

TEST_F(RedisStoreTest, DelayedItemsBecomeReadyWhenDue) {
  auto store = open();
  Sync s{*store};
  auto r = s.enqueue("q", {{.payload = "later", .delay = 300ms}});
  ASSERT_TRUE(r);
  auto id = r->at(0).id;
  auto view = s.get(id);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->state, State::kDelayed);
  ASSERT_TRUE(view->ready_at);
  EXPECT_GE(*view->ready_at, view->enqueued + 300ms);
  EXPECT_TRUE(s.lease("q")->empty());
  EXPECT_EQ(s.queue("q")->counts.delayed, 1U);
  // A wait answers once it is due.
  auto leased = s.lease("q", {.wait = 30s});
  ASSERT_TRUE(leased);
  ASSERT_EQ(leased->size(), 1U);
  EXPECT_EQ(leased->front().id, id);
}

TEST_F(RedisStoreTest, StaleAndUnknownLeases) {
  auto store = open();
  Sync s{*store};
  s.push("q", "x");
  auto l = s.lease_one("q");
  Leased wrong = l;
  wrong.lease_id = "not-the-lease";
  EXPECT_ERRC(s.ack(wrong), Errc::kStaleLease);
  EXPECT_ERRC(s.nack(wrong, "e"), Errc::kStaleLease);
  EXPECT_ERRC(s.extend(wrong, 1s), Errc::kStaleLease);
  EXPECT_ERRC(s.bury(wrong, "e"), Errc::kStaleLease);
  Leased missing = l;
  missing.id = 999'999;
  EXPECT_ERRC(s.ack(missing), Errc::kNoItem);
  EXPECT_ERRC(s.nack(missing, "e"), Errc::kNoItem);
  EXPECT_ERRC(s.get(999'999), Errc::kNoItem);
  ASSERT_TRUE(s.ack(l));
  EXPECT_ERRC(s.ack(l), Errc::kStaleLease);
  EXPECT_ERRC(s.extend(l, 1s), Errc::kStaleLease);
  EXPECT_ERRC(s.extend(l, 0ms), Errc::kInvalid);
}

TEST_F(RedisStoreTest, NackWaitsTheQueuesBackoffAndCutsTheError) {
  StoreSettings settings;
  settings.defaults.retry_backoff = 60s;
  settings.defaults.retry_backoff_max = 90s;
  settings.max_result_bytes = 5;
  auto store = open(settings);
  Sync s{*store};
  auto id = s.enqueue("q", {{.payload = "p", .max_attempts = 3}})->at(0).id;

  auto l = s.lease_one("q");
  auto out = s.nack(l, "first failure");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->state, State::kDelayed);
  ASSERT_TRUE(out->ready_at);
  auto view = s.get(id);
  EXPECT_EQ(view->state, State::kDelayed);
  EXPECT_EQ(view->ready_at, out->ready_at);
  EXPECT_EQ(view->error, "first");  // cut to max_result_bytes
  EXPECT_GE(*out->ready_at - view->enqueued, 59s);
  EXPECT_LE(*out->ready_at - view->enqueued, 61s);
  EXPECT_TRUE(s.lease("q")->empty());
  EXPECT_ERRC(s.nack(l, "again"), Errc::kStaleLease);
}

TEST_F(RedisStoreTest, ExplicitDelaysAndTheLastAttemptGoingDead) {
  auto store = open();
  Sync s{*store};
  auto id = s.enqueue("q", {{.payload = "p", .max_attempts = 2}})->at(0).id;
  auto l = s.lease_one("q");
  auto out = s.nack(l, "e1", 0ms);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->state, State::kReady);
  l = s.lease_one("q");
  EXPECT_EQ(l.id, id);
  EXPECT_EQ(l.attempt, 2);
  out = s.nack(l, "e2", 0ms);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->state, State::kDead);
  EXPECT_FALSE(out->ready_at);
  auto view = s.get(id);
  EXPECT_EQ(view->state, State::kDead);
  EXPECT_EQ(view->error, "e2");
  EXPECT_TRUE(view->finished);
  EXPECT_TRUE(s.lease("q")->empty());

  auto dead = s.dead("q");
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1U);
  EXPECT_EQ(dead->front().id, id);
  EXPECT_EQ(dead->front().payload, "p");
  EXPECT_EQ(dead->front().attempts, 2);

  EXPECT_EQ(*s.requeue("q", id), 1U);
  view = s.get(id);
  EXPECT_EQ(view->state, State::kReady);
  EXPECT_EQ(view->attempts, 0);
  EXPECT_ERRC(s.requeue("q", id), Errc::kNotDead);
  EXPECT_ERRC(s.purge("q", id), Errc::kNotDead);
  EXPECT_EQ(s.lease_one("q").attempt, 1);
}

TEST_F(RedisStoreTest, BuryDeadListingPagesRequeueAndPurge) {
  auto store = open();
  Sync s{*store};
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(s.push("q", "p" + std::to_string(i)));
  }
  auto other = s.push("r", "elsewhere");
  for (int i = 0; i < 5; ++i) {
    auto l = s.lease_one("q");
    auto buried = s.bury(l, "poison " + std::to_string(i));
    ASSERT_TRUE(buried);
    EXPECT_EQ(buried->state, State::kDead);
    EXPECT_EQ(buried->error, "poison " + std::to_string(i));
  }
  auto page = s.dead("q", 0, 2);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2U);
  EXPECT_EQ(page->at(0).id, ids[0]);
  EXPECT_EQ(page->at(1).id, ids[1]);
  page = s.dead("q", ids[1], 10);
  ASSERT_EQ(page->size(), 3U);
  EXPECT_EQ(page->at(0).id, ids[2]);
  EXPECT_EQ(page->at(2).payload, "p4");
  EXPECT_TRUE(s.dead("q", ids[4], 10)->empty());
  EXPECT_EQ(s.queue("q")->counts.dead, 5U);

  EXPECT_ERRC(s.requeue("q", other), Errc::kNoItem);
  EXPECT_ERRC(s.purge("q", 999'999), Errc::kNoItem);
  EXPECT_ERRC(s.dead("nope"), Errc::kNoQueue);
  EXPECT_ERRC(s.requeue("nope", std::nullopt), Errc::kNoQueue);
  EXPECT_ERRC(s.purge("bad name", std::nullopt), Errc::kNoQueue);

  EXPECT_EQ(*s.purge("q", ids[0]), 1U);
  EXPECT_ERRC(s.get(ids[0]), Errc::kNoItem);
  EXPECT_EQ(*s.requeue("q", std::nullopt), 4U);
  EXPECT_EQ(s.queue("q")->counts.ready, 4U);
  EXPECT_EQ(*s.requeue("q", std::nullopt), 0U);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(s.bury(s.lease_one("q"), "again"));
  }
  EXPECT_EQ(*s.purge("q", std::nullopt), 4U);
  EXPECT_EQ(s.queue("q")->counts.dead, 0U);
}

TEST_F(RedisStoreTest, ExpiredLeasesGoBackToReadyThenDead) {
  auto store = open();
  Sync s{*store};
  auto id = s.enqueue("q", {{.payload = "p", .max_attempts = 2}})->at(0).id;
  auto first = s.lease_one("q", 1ms);
  // Once Redis's clock passes the expiry, the item is leasable again (attempt 2).
  Leased second;
  ASSERT_TRUE(eventually([&] {
    auto r = s.lease("q", {.ttl = 1ms});
    if (r && !r->empty()) {
      second = r->front();
      return true;
    }
    return false;
  }));
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_NE(second.lease_id, first.lease_id);
  EXPECT_ERRC(s.ack(first), Errc::kStaleLease);
  // The last attempt's lease expiring makes it dead, with the reason.
  ASSERT_TRUE(eventually([&] { return s.get(id)->state == State::kDead; }));
  auto view = s.get(id);
  EXPECT_NE(view->error.find("lease expired"), std::string::npos) << view->error;
  EXPECT_ERRC(s.ack(second), Errc::kStaleLease);
  EXPECT_GE(store->stats().expired_leases, 1U);
}

TEST_F(RedisStoreTest, TheSweepReclaimsExpiredLeasesUnasked) {
  auto store = open();
  Sync s{*store};
  s.push("q", "p");
  (void)s.lease_one("q", 1ms);
  EXPECT_TRUE(eventually([&] { return store->stats().expired_leases == 1; }));
}

TEST_F(RedisStoreTest, ExtendMovesTheExpiry) {
  auto store = open();
  Sync s{*store};
  s.push("q", "p");
  auto l = s.lease_one("q", 1s);
  auto until = s.extend(l, 60s);
  ASSERT_TRUE(until) << until.error().message();
  EXPECT_GE(*until, l.lease_expires + 58s);
  EXPECT_EQ(s.get(l.id)->lease_expires, *until);
  // The extended lease is still the item's.
  ASSERT_TRUE(s.ack(l));
}

TEST_F(RedisStoreTest, QueueInfoCountsEveryStateAndTheOldestReady) {
  StoreSettings settings;
  settings.declared["declared"].max_attempts = 9;
  auto store = open(settings);
  Sync s{*store};
  auto oldest = s.push("q", "a", -5);
  s.push("q", "b", 10);
  s.push("q", "c", 3);
  ASSERT_TRUE(s.enqueue("q", {{.payload = "d", .delay = 1h}}));
  auto leased = s.lease_one("q");  // b
  s.push("q", "e", 10);
  auto done = s.lease_one("q");  // e
  ASSERT_TRUE(s.ack(done));
  auto dead = s.lease_one("q");  // c
  ASSERT_TRUE(s.bury(dead, "x"));

  auto info = s.queue("q");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "q");
  EXPECT_FALSE(info->paused);
  EXPECT_EQ(info->counts.ready, 1U);
  EXPECT_EQ(info->counts.delayed, 1U);
  EXPECT_EQ(info->counts.leased, 1U);
  EXPECT_EQ(info->counts.done, 1U);
  EXPECT_EQ(info->counts.dead, 1U);
  ASSERT_TRUE(info->oldest_ready);
  EXPECT_EQ(*info->oldest_ready, s.get(oldest)->enqueued);
  EXPECT_EQ(info->settings.max_attempts, 5);

  auto all = s.queues();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ(all->at(0).name, "declared");
  EXPECT_EQ(all->at(0).settings.max_attempts, 9);
  EXPECT_FALSE(all->at(0).oldest_ready);
  EXPECT_EQ(all->at(1).name, "q");
  EXPECT_EQ(all->at(1).counts.ready, 1U);

  EXPECT_ERRC(s.queue("never"), Errc::kNoQueue);
  EXPECT_ERRC(s.set_paused("never", true), Errc::kNoQueue);
  EXPECT_EQ(s.queues()->size(), 2U);
  (void)leased;
}

TEST_F(RedisStoreTest, DoneItemsAreForgottenAfterRetention) {
  StoreSettings settings;
  settings.retention = 200ms;
  auto store = open(settings);
  Sync s{*store};
  s.push("q", "p");
  auto l = s.lease_one("q");
  ASSERT_TRUE(s.ack(l, "r"));
  EXPECT_EQ(s.queue("q")->counts.done, 1U);
  ASSERT_TRUE(eventually([&] { return !s.get(l.id); }));
  EXPECT_ERRC(s.get(l.id), Errc::kNoItem);
  EXPECT_EQ(s.queue("q")->counts.done, 0U);
}

TEST_F(RedisStoreTest, StateLivesInRedisAcrossStores) {
  auto a = open();
  Sync sa{*a};
  auto id = sa.push("q", "p");
  auto l = sa.lease_one("q");
  a->close();
  EXPECT_ERRC(sa.get(id), Errc::kUnavailable);
  EXPECT_ERRC(sa.lease("q"), Errc::kUnavailable);
  EXPECT_ERRC(sa.lease("q", {.wait = 10s}), Errc::kUnavailable);
  a->close();  // idempotent

  auto b = open();
  Sync sb{*b};
  EXPECT_EQ(sb.get(id)->state, State::kLeased);
  auto acked = sb.ack(l, "done elsewhere");
  ASSERT_TRUE(acked) << acked.error().message();
  EXPECT_EQ(acked->result, "done elsewhere");
  EXPECT_EQ(b->describe().rfind("redis://127.0.0.1:", 0), 0U) << b->describe();
}

TEST_F(RedisStoreTest, ScriptsFlushedFromRedisAreSentAgain) {
  auto store = open();
  Sync s{*store};
  s.push("q", "before");
  EXPECT_EQ(shared_redis_server().command({"SCRIPT", "FLUSH"}), "OK");
  auto id = s.push("q", "after");
  auto leased = s.lease("q", {.n = 2});
  ASSERT_TRUE(leased) << leased.error().message();
  ASSERT_EQ(leased->size(), 2U);
  EXPECT_EQ(leased->back().id, id);
}

TEST_F(RedisStoreTest, TheCommitObserverSeesEachWrite) {
  auto store = open();
  std::atomic<std::size_t> writes{0};
  store->set_commit_observer([&](std::size_t n, std::chrono::nanoseconds) { writes += n; });
  Sync s{*store};
  ASSERT_TRUE(s.enqueue("q", {{.payload = "a"}, {.payload = "b"}, {.payload = "c"}}));
  EXPECT_EQ(writes.load(), 3U);
  EXPECT_EQ(store->stats().largest_batch, 3U);
  EXPECT_EQ(store->stats().committed_writes, 3U);
}

}  // namespace
}  // namespace tender::workqueue

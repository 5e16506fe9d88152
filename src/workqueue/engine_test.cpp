// The engine on a FakeClock (backoff, expiry, retention, idempotency windows, long-poll
// deadlines), and the SQLite journal across restarts and on bad files.
#include "workqueue/engine.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/clock.hpp"
#include "core/sqlite.hpp"
#include "workqueue/store_test_support.hpp"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;
using namespace testing;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tender-engine-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    settings_.clock = &clock_;
    settings_.defaults.retry_backoff = 1s;
    settings_.defaults.retry_backoff_max = 4s;
    settings_.retention = 60s;
    settings_.idempotency_window = 30s;
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open_memory() { engine_ = make(memory_journal()); }
  void open_sqlite() {
    auto j = sqlite_journal(db_path());
    ASSERT_TRUE(j) << j.error().message();
    engine_ = make(std::move(*j));
  }
  std::unique_ptr<Engine> make(std::unique_ptr<Journal> j) {
    auto e = make_engine(std::move(j), settings_, false);
    EXPECT_TRUE(e) << e.error().message();
    return e ? std::move(*e) : nullptr;
  }
  std::string db_path() const { return dir_ + "/queue.db"; }
  void advance(std::chrono::milliseconds d) {
    clock_.advance(d);
    engine_->tick();
  }
  Engine& e() { return *engine_; }

  FakeClock clock_;
  StoreSettings settings_;
  std::string dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, ANackWaitsTheBackoffDoublingUpToItsMaximum) {
  open_memory();
  NewItem n;
  n.payload = "x";
  n.max_attempts = 10;
  ASSERT_TRUE(put(e(), "q", n));
  for (auto wait : {1s, 2s, 4s, 4s}) {
    auto l = take(e(), "q");
    ASSERT_TRUE(l && l->size() == 1);
    auto out = nack(e(), l->front(), "again", std::nullopt);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->state, State::kDelayed);
    EXPECT_EQ(*out->ready_at, clock_.wall() + wait);
    advance(wait - 1ms);
    EXPECT_TRUE(take(e(), "q")->empty()) << "ready before its backoff of " << wait.count();
    advance(1ms);
  }
  EXPECT_EQ(take(e(), "q")->size(), 1u);
}

TEST_F(EngineTest, AnExpiredLeaseMakesTheItemReadyAgainAndDeadAfterTheLastAttempt) {
  open_memory();
  NewItem n;
  n.payload = "x";
  n.max_attempts = 2;
  auto id = put(e(), "q", n);
  ASSERT_TRUE(id);
  auto l = take(e(), "q", 1, 10s);
  ASSERT_TRUE(l && l->size() == 1);
  advance(9'999ms);
  EXPECT_EQ(item(e(), *id)->state, State::kLeased);
  advance(1ms);
  EXPECT_EQ(item(e(), *id)->state, State::kReady);
  EXPECT_EQ(e().stats().expired_leases, 1u);
  auto stale = ack(e(), l->front());
  ASSERT_FALSE(stale);
  EXPECT_EQ(errc(stale.error()), Errc::kStaleLease);
  l = take(e(), "q", 1, 10s);
  ASSERT_TRUE(l && l->size() == 1);
  advance(10s);
  auto v = item(e(), *id);
  EXPECT_EQ(v->state, State::kDead);
  EXPECT_EQ(v->error, "lease expired on attempt 2 of 2");
}

TEST_F(EngineTest, ALongPollEndsEmptyAtItsDeadline) {
  open_memory();
  LeaseOptions o;
  o.wait = 5s;
  std::optional<Result<std::vector<Leased>>> got;
  (void)e().lease("q", o, [&](Result<std::vector<Leased>> r) { got = std::move(r); });
  advance(4'999ms);
  EXPECT_FALSE(got);
  advance(1ms);
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_TRUE((*got)->empty());
}

TEST_F(EngineTest, ADelayedItemWakesAWaitingLease) {
  open_memory();
  NewItem n;
  n.payload = "x";
  n.delay = 3s;
  ASSERT_TRUE(put(e(), "q", n));
  LeaseOptions o;
  o.wait = 60s;
  std::optional<Result<std::vector<Leased>>> got;
  (void)e().lease("q", o, [&](Result<std::vector<Leased>> r) { got = std::move(r); });
  advance(2s);
  EXPECT_FALSE(got);
  advance(1s);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->size(), 1u);
}

TEST_F(EngineTest, DoneItemsAreForgottenAfterTheRetention) {
  open_memory();
  auto id = put(e(), "q", "x");
  auto l = take(e(), "q");
  ASSERT_TRUE(l && l->size() == 1);
  ASSERT_TRUE(ack(e(), l->front(), "kept a while"));
  advance(59s);
  EXPECT_EQ(item(e(), *id)->result, "kept a while");
  advance(2s);
  auto gone = item(e(), *id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(errc(gone.error()), Errc::kNoItem);
  EXPECT_EQ(info(e(), "q")->counts.done, 0u);
}

TEST_F(EngineTest, AnIdempotencyKeyIsForgottenAfterItsWindow) {
  open_memory();
  NewItem n;
  n.payload = "x";
  n.idempotency_key = "k";
  auto first = put(e(), "q", n);
  advance(29s);
  EXPECT_EQ(put(e(), "q", n).value(), *first);
  advance(2s);
  auto later = put(e(), "q", n);
  ASSERT_TRUE(later);
  EXPECT_NE(*later, *first);
}

// The memory journal, except that reading bodies fails (a disk error under a real store).
class UnreadableJournal final : public Journal {
 public:
  std::string describe() const override { return "unreadable"; }
  Result<Loaded> load() override { return inner_->load(); }
  std::optional<Result<>> write(std::vector<Mutation> m,
                                std::function<void(Result<>)> done) override {
    return inner_->write(std::move(m), std::move(done));
  }
  Result<std::vector<std::pair<std::uint64_t, Bodies>>> read(const std::vector<std::uint64_t>&,
                                                             bool) override {
    return Error(std::errc::io_error, "read failed");
  }
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<Journal> inner_ = memory_journal();
};

TEST_F(EngineTest, ALeaseWhosePayloadCannotBeReadIsAnErrorNotAnEmptyItem) {
  engine_ = make(std::make_unique<UnreadableJournal>());
  auto id = put(e(), "q", "the payload");
  ASSERT_TRUE(id);
  auto l = take(e(), "q", 1, 10s);
  ASSERT_FALSE(l);
  EXPECT_EQ(errc(l.error()), Errc::kUnavailable);
  // The lease runs out and the item comes back.
  advance(10s);
  EXPECT_EQ(info(e(), "q")->counts.ready, 1u);
}

TEST_F(EngineTest, TheSqliteStoreKeepsEveryStateAcrossARestart) {
  open_sqlite();
  auto a = put(e(), "q", "acked");
  auto b = put(e(), "q", "leased");
  NewItem dn;
  dn.payload = "dead";
  dn.max_attempts = 1;
  auto c = put(e(), "q", dn);
  NewItem later;
  later.payload = "delayed";
  later.delay = 100s;
  auto d = put(e(), "q", later);
  NewItem keyed;
  keyed.payload = "keyed";
  keyed.idempotency_key = "key-1";
  auto k = put(e(), "q", keyed);
  ASSERT_TRUE(a && b && c && d && k);
  auto l = take(e(), "q", 3, 60s);
  ASSERT_TRUE(l && l->size() == 3);
  ASSERT_TRUE(ack(e(), (*l)[0], "result a"));
  ASSERT_TRUE(nack(e(), (*l)[2], "failed once"));  // c: dead, max_attempts 1
  ASSERT_TRUE(call<QueueInfo>([&](auto done) { e().set_paused("q", true, done); }));
  const Leased held = (*l)[1];
  engine_.reset();
  clock_.advance(10s);
  open_sqlite();

  EXPECT_EQ(item(e(), *a)->state, State::kDone);
  EXPECT_EQ(item(e(), *a)->result, "result a");
  EXPECT_EQ(item(e(), *b)->state, State::kLeased);
  EXPECT_EQ(item(e(), *c)->state, State::kDead);
  EXPECT_EQ(item(e(), *c)->error, "failed once");
  EXPECT_EQ(item(e(), *d)->state, State::kDelayed);
  EXPECT_EQ(item(e(), *d)->payload.value_or(""), "delayed");
  EXPECT_TRUE(info(e(), "q")->paused);
  EXPECT_EQ(put(e(), "q", keyed).value(), *k) << "the idempotency key survives";
  // The lease given before the restart still acks.
  auto done = ack(e(), held, "after restart");
  ASSERT_TRUE(done) << done.error().message();
  // Ids go on from the last one, even once the newest items are gone.
  auto purged = call<std::uint64_t>([&](auto cb) { e().purge_dead("q", std::nullopt, cb); });
  ASSERT_TRUE(purged);
  auto next = put(e(), "q", "next");
  ASSERT_TRUE(next);
  EXPECT_GT(*next, *k);
}

TEST_F(EngineTest, ALeaseIsWrittenBehindAndNotAtAllWhenItsItemIsAckedFirst) {
  open_sqlite();
  auto writes = [&] { return e().stats().committed_writes; };
  ASSERT_TRUE(put(e(), "q", "quick"));
  ASSERT_TRUE(put(e(), "q", "slow"));
  const auto before = writes();
  auto quick = take(e(), "q");
  ASSERT_TRUE(quick && quick->size() == 1);
  ASSERT_TRUE(ack(e(), quick->front()));
  advance(1s);  // past the lease's write delay: nothing left to write for it
  // Writes are committed in order: once a later enqueue is answered, any write queued before
  // it is counted.
  ASSERT_TRUE(put(e(), "q", "marker"));
  EXPECT_EQ(writes(), before + 2) << "the ack and the marker, not the lease";
  auto slow = take(e(), "q", 1, 60s);
  ASSERT_TRUE(slow && slow->size() == 1);
  EXPECT_EQ(slow->front().payload, "slow");
  advance(1s);
  ASSERT_TRUE(put(e(), "q", "marker"));
  EXPECT_EQ(writes(), before + 4) << "the lease, once due, then the marker";
  // And a lease written so survives a restart.
  engine_.reset();
  open_sqlite();
  EXPECT_EQ(item(e(), slow->front().id)->state, State::kLeased);
}

TEST_F(EngineTest, ALeaseExpiredWhileTheServerWasDownIsReadyAfterTheRestart) {
  open_sqlite();
  auto id = put(e(), "q", "x");
  ASSERT_TRUE(take(e(), "q", 1, 5s));
  engine_.reset();
  clock_.advance(6s);
  open_sqlite();
  e().tick();
  EXPECT_EQ(item(e(), *id)->state, State::kReady);
  auto l = take(e(), "q");
  ASSERT_TRUE(l && l->size() == 1);
  EXPECT_EQ(l->front().attempt, 2);
}

TEST_F(EngineTest, AFileThatIsNotAQueueStoreIsRefusedWithItsPath) {
  {
    std::ofstream f(db_path());
    f << "this is not a database, it is a text file with some words in it\n";
  }
  auto j = sqlite_journal(db_path());
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message().find(db_path()), std::string::npos) << j.error().message();

  const std::string other = dir_ + "/other.db";
  {
    auto db = sqlite::Database::open(other);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE mine(x)"));
  }
  j = sqlite_journal(other);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message().find("not a tender queue store"), std::string::npos)
      << j.error().message();

  j = sqlite_journal(dir_);  // a directory
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message().find(dir_), std::string::npos) << j.error().message();
  j = sqlite_journal(dir_ + "/missing/dir/q.db");
  ASSERT_FALSE(j);
}

TEST_F(EngineTest, AcknowledgedChurnDoesNotGrowTheFile) {
  settings_.retention = 1s;
  open_sqlite();
  const std::string payload(1024, 'p');
  auto churn = [&](int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<NewItem> batch(50);
      for (auto& b : batch) {
        b.payload = payload;
      }
      ASSERT_TRUE(call<std::vector<Enqueued>>([&](auto done) { e().enqueue("c", batch, done); }));
      auto l = take(e(), "c", 50);
      ASSERT_TRUE(l && l->size() == 50);
      for (const auto& x : *l) {
        ASSERT_TRUE(ack(e(), x));
      }
      advance(2s);  // past the retention: forgotten
    }
  };
  churn(40);
  engine_.reset();  // checkpoints the WAL into the file
  const auto after_first = std::filesystem::file_size(db_path());
  open_sqlite();
  churn(200);
  engine_.reset();
  const auto after_more = std::filesystem::file_size(db_path());
  EXPECT_LT(after_more, after_first * 3 / 2) << after_first << " -> " << after_more;
}

}  // namespace
}  // namespace tender::workqueue

// The etcd backend against a real etcd (tests/etcd_support.hpp) on loopback: several
// candidates in one io_context, each with a sink that records what it is told.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <map>

#include "core/http_client.hpp"
#include "election/backend.hpp"
#include "election/etcd_api.hpp"
#include "etcd_support.hpp"

namespace tender::election {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::EtcdCluster;

struct Recorder : BackendSink {
  void held(std::uint64_t token, SteadyTime sent_at) override {
    EXPECT_TRUE(!holding || *holding == token) << "held " << token << " while holding " << *holding;
    EXPECT_GT(token, last_lost) << "a token held again after it was lost";
    holding = token;
    last_held_at = sent_at;
    ++renewals;
  }
  void lost(std::uint64_t token, std::string_view why) override {
    EXPECT_EQ(holding, token) << "lost a term never held: " << why;
    holding.reset();
    last_lost = std::max(last_lost, token);
    losses.emplace_back(why);
  }
  void observed(const Observed& leader) override { seen = leader; }
  void contact(bool ok, std::string_view why) override {
    contacts.emplace_back(ok, std::string(why));
  }
  void renewed_in(std::chrono::steady_clock::duration) override {}

  std::optional<std::uint64_t> holding;
  std::uint64_t last_lost = 0;
  SteadyTime last_held_at{};
  int renewals = 0;
  std::vector<std::string> losses;
  Observed seen;
  std::vector<std::pair<bool, std::string>> contacts;
};

class EtcdBackendTest : public ::testing::Test {
 protected:
  struct Candidate {
    std::string id;
    Recorder sink;
    std::unique_ptr<Backend> backend;
    asio::cancellation_signal stop;
    bool running = false;
  };

  ~EtcdBackendTest() override { stop_all(); }

  // A candidate `id` on `url`, running.
  Candidate& add(const std::string& url, const std::string& id) {
    auto parsed = parse_backend_url(url);
    EXPECT_TRUE(parsed) << parsed.error().message();
    BackendOptions options{.election = "db", .id = id, .ttl = 2s};
    auto made = make_backend(*parsed, options, ioc_);
    EXPECT_TRUE(made) << made.error().message();
    auto& c = *candidates_.emplace_back(std::make_unique<Candidate>());
    c.id = id;
    c.backend = std::move(*made);
    c.running = true;
    asio::co_spawn(ioc_, c.backend->run(c.sink),
                   asio::bind_cancellation_slot(
                       c.stop.slot(), [&c](const std::exception_ptr&) { c.running = false; }));
    return c;
  }

  // Runs the io_context until `cond` holds (true) or 10 s pass (false). Checks after each
  // step that no two candidates hold a term at once.
  bool run_until(const std::function<bool()>& cond, std::chrono::seconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      ioc_.restart();  // it stops whenever it runs out of work
      ioc_.run_for(5ms);
      EXPECT_LE(holders().size(), 1u) << "two candidates hold a term at once";
      if (cond()) {
        return true;
      }
    }
    return cond();
  }

  // The running candidates that hold a term.
  std::vector<Candidate*> holders() {
    std::vector<Candidate*> out;
    for (auto& c : candidates_) {
      if (c->running && c->sink.holding) {
        out.push_back(c.get());
      }
    }
    return out;
  }
  Candidate* holder() {
    auto h = holders();
    return h.size() == 1 ? h[0] : nullptr;
  }

  // Cancels a candidate's run(), as a crash would: nothing is resigned.
  void crash(Candidate& c) {
    c.stop.emit(asio::cancellation_type::terminal);
    run_until([&] { return !c.running; }, 2s);
  }

  void stop_all() {
    for (auto& c : candidates_) {
      if (c->running) {
        c->stop.emit(asio::cancellation_type::terminal);
      }
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    auto any = [&] {
      for (auto& c : candidates_) {
        if (c->running) {
          return true;
        }
      }
      return false;
    };
    while (any() && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_for(5ms);
    }
    candidates_.clear();
  }

  // The create revision of `key` in etcd at `endpoint`, read directly; 0 if it is not there.
  static std::int64_t create_revision(const std::string& endpoint, const std::string& key) {
    auto r = fetch("http://" + endpoint + "/v3/kv/range", "POST",
                   etcd::range(etcd::Range::one(key)).body);
    if (!r) {
      return -1;
    }
    auto parsed = etcd::parse_range(r->status, r->body);
    return parsed && !parsed->kvs.empty() ? parsed->kvs[0].create_revision : 0;
  }

  void carries_on_without_the_member_in_use(bool pause);

  asio::io_context ioc_;
  std::vector<std::unique_ptr<Candidate>> candidates_;
};

TEST_F(EtcdBackendTest, OneOfThreeHoldsWithItsKeysCreateRevisionAsToken) {
  EtcdCluster etcd(1);
  for (const char* id : {"a", "b", "c"}) {
    add(etcd.url(), id);
  }
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  Candidate* leader = holder();
  auto status = leader->backend->status();
  EXPECT_EQ(status.at("backend"), "etcd");
  std::string key(status.at("key").as_string());
  EXPECT_EQ(status.at("predecessor"), nullptr);
  EXPECT_EQ(static_cast<std::uint64_t>(create_revision(etcd.member(0).endpoint(), key)),
            *leader->sink.holding);
  // Everyone observes the lowest key's candidate, and it keeps the term while renewing.
  int renewals = leader->sink.renewals;
  ASSERT_TRUE(run_until([&] {
    for (auto& c : candidates_) {
      if (c->sink.seen.name != leader->id || c->sink.seen.token != *leader->sink.holding) {
        return false;
      }
    }
    return leader->sink.renewals >= renewals + 4;
  }));
  EXPECT_EQ(holder(), leader);
  int successors = 0;
  for (auto& c : candidates_) {
    if (c.get() == leader) {
      continue;
    }
    auto predecessor = c->backend->status().at("predecessor");
    ASSERT_TRUE(predecessor.is_string());
    // The leader's successor times its beats, and can tell when its claim lapses.
    if (predecessor.as_string() == key) {
      ++successors;
      ASSERT_TRUE(c->sink.seen.expires.has_value());
      EXPECT_GT(*c->sink.seen.expires, std::chrono::steady_clock::now());
    } else {
      EXPECT_FALSE(c->sink.seen.expires.has_value());
    }
  }
  EXPECT_EQ(successors, 1);
}

TEST_F(EtcdBackendTest, ACrashedHolderIsTakenOverWithALargerToken) {
  EtcdCluster etcd(1);
  for (const char* id : {"a", "b", "c"}) {
    add(etcd.url(), id);
  }
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  Candidate* first = holder();
  std::uint64_t token = *first->sink.holding;
  crash(*first);
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }, 15s));
  Candidate* second = holder();
  EXPECT_NE(second, first);
  EXPECT_GT(*second->sink.holding, token);
  // The others see the new leader.
  ASSERT_TRUE(run_until([&] {
    for (auto& c : candidates_) {
      if (c->running && c->sink.seen.token != *second->sink.holding) {
        return false;
      }
    }
    return true;
  }));
}

TEST_F(EtcdBackendTest, ResignLeaveHandsOverAndReturns) {
  EtcdCluster etcd(1);
  for (const char* id : {"a", "b"}) {
    add(etcd.url(), id);
  }
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  Candidate* first = holder();
  std::uint64_t token = *first->sink.holding;
  first->backend->resign(Resign::kLeave);
  ASSERT_TRUE(run_until([&] { return !first->running; }));
  ASSERT_EQ(first->sink.losses, std::vector<std::string>{"resigned"});
  EXPECT_FALSE(first->sink.holding);
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  EXPECT_GT(*holder()->sink.holding, token);
  EXPECT_EQ(create_revision(etcd.member(0).endpoint(),
                            "/tender/elect/db/" +
                                std::string(first->backend->status().at("lease").as_string())),
            0);
}

TEST_F(EtcdBackendTest, AHolderWhoseLeaseIsRevokedLosesAndStandsAgain) {
  EtcdCluster etcd(1);
  Candidate* first = &add(etcd.url(), "a");
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  std::uint64_t token = *first->sink.holding;
  std::string lease(first->backend->status().at("lease").as_string());
  auto revoked =
      fetch("http://" + etcd.member(0).endpoint() + "/v3/lease/revoke", "POST",
            etcd::lease_revoke(static_cast<std::int64_t>(std::stoull(lease, nullptr, 16))).body);
  ASSERT_TRUE(revoked && revoked->status == 200);
  ASSERT_TRUE(run_until([&] { return !first->sink.losses.empty(); }));
  EXPECT_FALSE(first->sink.holding);
  // A new term with a new lease and a larger token.
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  EXPECT_GT(*first->sink.holding, token);
  EXPECT_NE(first->backend->status().at("lease").as_string(), lease);
}

TEST_F(EtcdBackendTest, AHolderWhoseKeyIsDeletedLosesAtItsNextBeat) {
  EtcdCluster etcd(1);
  Candidate& a = add(etcd.url(), "a");
  ASSERT_TRUE(run_until([&] { return a.sink.holding.has_value(); }));
  std::uint64_t token = *a.sink.holding;
  std::string key(a.backend->status().at("key").as_string());
  auto erased = fetch("http://" + etcd.member(0).endpoint() + "/v3/kv/deleterange", "POST",
                      R"({"key":")" + etcd::base64_encode(key) + R"("})");
  ASSERT_TRUE(erased && erased->status == 200);
  ASSERT_TRUE(run_until([&] { return !a.sink.losses.empty(); }));
  EXPECT_EQ(a.sink.losses[0], "key deleted");
  ASSERT_TRUE(run_until([&] { return a.sink.holding.has_value(); }));
  EXPECT_GT(*a.sink.holding, token);
}

TEST_F(EtcdBackendTest, ARunAfterACancelledOneStandsAfresh) {
  EtcdCluster etcd(1);
  Candidate& a = add(etcd.url(), "a");
  ASSERT_TRUE(run_until([&] { return a.sink.holding.has_value(); }));
  std::uint64_t token = *a.sink.holding;
  crash(a);
  ASSERT_FALSE(a.running);
  a.sink.holding.reset();  // the elector lets the crashed term lapse
  a.sink.last_lost = token;
  a.running = true;
  asio::co_spawn(ioc_, a.backend->run(a.sink),
                 asio::bind_cancellation_slot(
                     a.stop.slot(), [&a](const std::exception_ptr&) { a.running = false; }));
  // Its old key is left to its lease; the new one, behind it, leads once that is gone.
  ASSERT_TRUE(run_until([&] { return a.sink.holding.has_value(); }, 15s));
  EXPECT_GT(*a.sink.holding, token);
}

TEST_F(EtcdBackendTest, ResignRejoinStandsAgainAfterAnotherLeads) {
  EtcdCluster etcd(1);
  for (const char* id : {"a", "b"}) {
    add(etcd.url(), id);
  }
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  Candidate* first = holder();
  first->backend->resign(Resign::kRejoin);
  ASSERT_TRUE(run_until([&] { return holder() != nullptr && holder() != first; }));
  Candidate* second = holder();
  // The first stands again, behind the second.
  ASSERT_TRUE(run_until([&] {
    auto s = first->backend->status();
    return s.at("predecessor").is_string() && first->sink.seen.name == second->id;
  }));
  EXPECT_TRUE(first->running);
}

TEST_F(EtcdBackendTest, NoContactUntilEtcdStartsThenATerm) {
  EtcdCluster etcd(1, /*start_now=*/false);
  Candidate& c = add(etcd.url(), "a");
  ASSERT_TRUE(run_until([&] { return !c.sink.contacts.empty(); }));
  EXPECT_FALSE(c.sink.contacts.front().first);
  EXPECT_FALSE(c.sink.holding);
  etcd.start();
  ASSERT_TRUE(run_until([&] { return c.sink.holding.has_value(); }, 20s));
  EXPECT_TRUE(c.sink.contacts.back().first);
  // It observes itself too (its watch of the leader retries on its own backoff).
  EXPECT_TRUE(run_until([&] { return c.sink.seen.name == "a"; }));
}

// Kills (or pauses) the member the candidates use, and checks that a term is renewed through
// another member afterwards.
void EtcdBackendTest::carries_on_without_the_member_in_use(bool pause) {
  EtcdCluster etcd(3);
  Candidate& a = add(etcd.url(), "a");
  Candidate& b = add(etcd.url(), "b");
  ASSERT_TRUE(run_until([&] { return holder() != nullptr; }));
  std::string used(a.backend->status().at("endpoint").as_string());
  for (std::size_t i = 0; i < etcd.size(); ++i) {
    if (etcd.member(i).endpoint() == used) {
      pause ? etcd.member(i).pause() : etcd.member(i).kill();
    }
  }
  auto gone_at = std::chrono::steady_clock::now();
  // Someone holds a term renewed after that, through another member.
  ASSERT_TRUE(run_until(
      [&] {
        Candidate* h = holder();
        return h != nullptr && h->sink.last_held_at > gone_at + 1s &&
               h->backend->status().at("endpoint").as_string() != used;
      },
      20s));
  EXPECT_NE(b.backend->status().at("endpoint").as_string(), used);
}

TEST_F(EtcdBackendTest, CarriesOnThroughAnotherMemberWhenTheOneInUseIsKilled) {
  carries_on_without_the_member_in_use(/*pause=*/false);
}

TEST_F(EtcdBackendTest, CarriesOnThroughAnotherMemberWhenTheOneInUseIsPaused) {
  carries_on_without_the_member_in_use(/*pause=*/true);
}

}  // namespace
}  // namespace tender::election

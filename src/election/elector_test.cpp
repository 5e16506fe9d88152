#include "election/elector.hpp"

#include <gtest/gtest.h>

namespace tender::election {
namespace {

using namespace std::chrono_literals;
using Outcome = Elector::Outcome;

class ElectorTest : public ::testing::Test {
 protected:
  // ttl 2 s, drift 1e-3, margin 200 ms: a claim lasts 1.796 s after a renewal's send.
  FakeClock clock;
  Elector elector{"pod-a", Timing{.ttl = 2s, .max_drift = 1e-3, .margin = 200ms}, clock};
};

TEST_F(ElectorTest, TheClaimIsTheTtlLessDriftBothWaysAndTheMargin) {
  EXPECT_EQ(Timing({.ttl = 2s, .max_drift = 1e-3, .margin = 200ms}).claim(), 1796ms);
  EXPECT_EQ(Timing({.ttl = 10s, .max_drift = 0, .margin = 0ms}).claim(), 10s);
}

TEST_F(ElectorTest, LeadsFromAnAcknowledgedTermUntilItsClaimRunsOut) {
  EXPECT_FALSE(elector.leading());
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_TRUE(elector.leading());
  View v = elector.view();
  EXPECT_TRUE(v.self);
  EXPECT_EQ(v.leader, "pod-a");
  EXPECT_EQ(v.token, 7U);
  EXPECT_EQ(v.valid_for, 1796ms);
  EXPECT_TRUE(v.term_started.has_value());
  clock.advance(1795ms);
  EXPECT_TRUE(elector.leading());
  clock.advance(1ms);
  // No timer has run (no tick): the answer comes from the clock.
  EXPECT_FALSE(elector.leading());
  EXPECT_FALSE(elector.view().self);
  EXPECT_EQ(elector.view().leader, "");
}

TEST_F(ElectorTest, TheClaimCountsFromTheSendNotTheAnswer) {
  SteadyTime sent = clock.now();
  clock.advance(1500ms);  // a slow answer
  EXPECT_EQ(elector.held(7, sent), Outcome::kGained);
  EXPECT_EQ(elector.view().valid_for, 296ms);
  clock.advance(296ms);
  EXPECT_FALSE(elector.leading());
}

TEST_F(ElectorTest, AnAnswerThatComesAfterItsClaimWouldEndClaimsNothing) {
  SteadyTime sent = clock.now();
  clock.advance(1796ms);
  EXPECT_EQ(elector.held(7, sent), Outcome::kNone);
  EXPECT_FALSE(elector.leading());
  // The next renewal, in time, begins the claim: the term was never claimed, so not stale.
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_TRUE(elector.leading());
}

TEST_F(ElectorTest, RenewalsExtendAndAnOlderSendNeverShortens) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  SteadyTime first = clock.now();
  clock.advance(600ms);
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kNone);
  EXPECT_EQ(*elector.deadline(), clock.now() + 1796ms);
  EXPECT_EQ(elector.held(7, first), Outcome::kNone);  // answers may arrive out of order
  EXPECT_EQ(*elector.deadline(), clock.now() + 1796ms);
  clock.advance(1795ms);
  EXPECT_TRUE(elector.leading());
}

TEST_F(ElectorTest, APausedLeaderResumesAsNotLeaderAndNeverClaimsTheOldTokenAgain) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  std::uint64_t version = elector.view().version;
  clock.advance(5s);  // SIGSTOP, then SIGCONT
  EXPECT_FALSE(elector.leading());
  // A renewal sent after the resume may even succeed at the backend: the term is over anyway.
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kStale);
  EXPECT_FALSE(elector.leading());
  EXPECT_GT(elector.view().version, version);
  EXPECT_EQ(elector.last_loss(), "claim ran out: no renewal acknowledged in time");
  // A new term, with a larger token, may be claimed.
  EXPECT_EQ(elector.held(9, clock.now()), Outcome::kGained);
  EXPECT_TRUE(elector.leading());
}

TEST_F(ElectorTest, TickEndsARunOutClaimAndBumpsTheVersion) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_EQ(elector.tick(), Outcome::kNone);
  std::uint64_t version = elector.view().version;
  clock.set(*elector.deadline());
  EXPECT_EQ(elector.tick(), Outcome::kLost);
  EXPECT_EQ(elector.deadline(), std::nullopt);
  EXPECT_EQ(elector.view().version, version + 1);
  EXPECT_EQ(elector.tick(), Outcome::kNone);
}

TEST_F(ElectorTest, WithoutContactNoRenewalSoTheClaimEnds) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  elector.contact(false, "etcd: connection refused");
  EXPECT_FALSE(elector.view().backend_ok);
  EXPECT_EQ(elector.view().backend_error, "etcd: connection refused");
  clock.advance(1796ms);
  EXPECT_FALSE(elector.leading());
  elector.contact(true, "");
  EXPECT_TRUE(elector.view().backend_ok);
  EXPECT_FALSE(elector.leading());
}

TEST_F(ElectorTest, LostEndsTheClaimOnlyForItsOwnTerm) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_EQ(elector.lost(6, "old news"), Outcome::kNone);
  EXPECT_TRUE(elector.leading());
  EXPECT_EQ(elector.lost(7, "key deleted"), Outcome::kLost);
  EXPECT_FALSE(elector.leading());
  EXPECT_EQ(elector.last_loss(), "key deleted");
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kStale);
}

TEST_F(ElectorTest, ResignEndsTheClaimBeforeTheBackendKnows) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_EQ(elector.resign("resigned"), Outcome::kLost);
  EXPECT_FALSE(elector.leading());
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kStale);
  EXPECT_EQ(elector.resign("again"), Outcome::kNone);
}

TEST_F(ElectorTest, TokensOnlyGoUp) {
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  EXPECT_EQ(elector.held(5, clock.now()), Outcome::kStale);
  EXPECT_EQ(elector.view().token, 7U);
  // A new term reported while another is claimed replaces it.
  EXPECT_EQ(elector.held(8, clock.now()), Outcome::kGained);
  EXPECT_EQ(elector.view().token, 8U);
  EXPECT_EQ(elector.held(7, clock.now()), Outcome::kStale);
}

TEST_F(ElectorTest, ShowsTheObservedLeaderWithTheTimeLeftOnItsLease) {
  std::uint64_t version = elector.view().version;
  EXPECT_EQ(elector.observed({.name = "pod-b", .token = 4, .expires = clock.now() + 1500ms}),
            Outcome::kChanged);
  View v = elector.view();
  EXPECT_FALSE(v.self);
  EXPECT_EQ(v.leader, "pod-b");
  EXPECT_EQ(v.token, 4U);
  EXPECT_EQ(v.valid_for, 1500ms);
  EXPECT_EQ(v.version, version + 1);
  // The same leader seen again (a heartbeat moves its expiry): no change for the app.
  EXPECT_EQ(elector.observed({.name = "pod-b", .token = 4, .expires = clock.now() + 2s}),
            Outcome::kNone);
  EXPECT_EQ(elector.view().version, version + 1);
  EXPECT_EQ(elector.observed({}), Outcome::kChanged);
  EXPECT_EQ(elector.view().leader, "");
  EXPECT_EQ(elector.view().token, 0U);
}

TEST_F(ElectorTest, ItsOwnUnclaimedTermIsNeverShownAsLeader) {
  // The backend sees this replica's key first, before the term is acknowledged.
  elector.observed({.name = "pod-a", .token = 7});
  EXPECT_EQ(elector.view().leader, "");
  ASSERT_EQ(elector.held(7, clock.now()), Outcome::kGained);
  clock.advance(1796ms);
  // The claim ran out but the backend still shows term 7: nobody may be told pod-a leads.
  EXPECT_EQ(elector.view().leader, "");
  EXPECT_EQ(elector.view().token, 0U);
  elector.observed({.name = "pod-b", .token = 9});
  EXPECT_EQ(elector.view().leader, "pod-b");
}

TEST_F(ElectorTest, AnOlderTermObservedAfterANewerOneIsNotShown) {
  // Seen under chaos on etcd: this replica led term 120, lost it, and a watch that lagged
  // behind the cluster still named term 119's leader.
  ASSERT_EQ(elector.held(120, clock.now()), Outcome::kGained);
  ASSERT_EQ(elector.resign("partitioned"), Outcome::kLost);
  EXPECT_EQ(elector.observed({.name = "pod-b", .token = 119}), Outcome::kNone);
  EXPECT_EQ(elector.view().leader, "");
  EXPECT_EQ(elector.view().token, 0U);
  EXPECT_EQ(elector.observed({.name = "pod-c", .token = 121}), Outcome::kChanged);
  EXPECT_EQ(elector.view().leader, "pod-c");
  // Nor does an observer go back from a term it was told of.
  EXPECT_EQ(elector.observed({.name = "pod-b", .token = 119}), Outcome::kChanged);
  EXPECT_EQ(elector.view().token, 0U);
  EXPECT_EQ(elector.observed({.name = "pod-c", .token = 121}), Outcome::kChanged);
  EXPECT_EQ(elector.view().token, 121U);
}

TEST_F(ElectorTest, TheTermStartIsWhenThisReplicaFirstSawIt) {
  elector.observed({.name = "pod-b", .token = 4});
  auto seen = elector.view().term_started;
  ASSERT_TRUE(seen.has_value());
  clock.advance(1s);
  elector.observed({.name = "pod-b", .token = 4});
  EXPECT_EQ(elector.view().term_started, seen);
  elector.held(5, clock.now());
  EXPECT_EQ(elector.view().term_started, *seen + 1s);
}

}  // namespace
}  // namespace tender::election

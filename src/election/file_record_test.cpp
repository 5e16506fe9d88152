#include "election/file_record.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/clock.hpp"

namespace tender::election {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kPath = "/shared/leader.lock";
constexpr std::string_view kBoot = "boot-1";
constexpr milliseconds kTtl{2000};

std::int64_t ns(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

FileRecord held_by(std::string holder, std::string instance, std::uint64_t token,
                   SteadyTime expires, std::string boot = std::string(kBoot)) {
  return {.election = "db",
          .token = token,
          .holder = std::move(holder),
          .instance = std::move(instance),
          .expires_ns = ns(expires),
          .boot = std::move(boot)};
}

TEST(FileRecord, AnEmptyFileIsAFreshElection) {
  auto record = parse_record("", "db", kPath);
  ASSERT_TRUE(record) << record.error().message();
  EXPECT_EQ(record->election, "db");
  EXPECT_EQ(record->token, 0U);
  EXPECT_TRUE(record->holder.empty());
}

TEST(FileRecord, ReadsBackWhatItWrites) {
  FakeClock clock;
  FileRecord record = held_by("pod-a", "n0nce", 41, clock.now() + kTtl);
  auto text = format_record(record);
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_TRUE(text->starts_with("tender-elect 1\nelection=db\ntoken=41\nholder=pod-a\n")) << *text;
  auto back = parse_record(*text, "db", kPath);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, record);
  // Padded with blank lines (a shorter record written over a longer one) it reads the same.
  auto padded = parse_record(*text + "\n\n\n", "db", kPath);
  ASSERT_TRUE(padded) << padded.error().message();
  EXPECT_EQ(*padded, record);
  // A released record (nobody holds it) reads back too.
  auto free_text = format_record(released(record));
  ASSERT_TRUE(free_text);
  auto free_back = parse_record(*free_text, "db", kPath);
  ASSERT_TRUE(free_back) << free_back.error().message();
  EXPECT_EQ(free_back->token, 41U);
  EXPECT_TRUE(free_back->holder.empty());
}

void expect_refused(std::string_view text, std::string_view what) {
  auto record = parse_record(text, "db", kPath);
  ASSERT_FALSE(record) << "accepted: " << text;
  EXPECT_EQ(record.error().code(), std::errc::invalid_argument);
  const std::string message = record.error().message();
  EXPECT_NE(message.find(kPath), std::string::npos) << message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
}

TEST(FileRecord, RefusesWhatIsNotARecordNamingThePathAndTheFault) {
  const std::string good = *format_record(held_by("a", "i", 3, SteadyTime{}));
  expect_refused("#!/bin/sh\necho hello\n", "not a tender election record");
  expect_refused("\n", "not a tender election record");
  expect_refused("tender-elect x\n", "bad version line");
  expect_refused("tender-elect 2\nelection=db\n", "version 2");
  expect_refused(std::string(kMaxRecordBytes + 1, '\n'), "more than 4096");
  expect_refused(good.substr(0, good.find("holder=")), "'holder=' missing");
  std::string bad_token = good;
  bad_token.replace(bad_token.find("token=3"), 7, "token=-3");
  expect_refused(bad_token, "bad token");
  expect_refused(good + "color=blue\n", "unexpected text");
  std::string swapped = good;
  swapped.replace(swapped.find("token="), 5, "tokeN");
  expect_refused(swapped, "'token=' missing");
}

TEST(FileRecord, RefusesTheRecordOfAnotherElection) {
  const std::string text = *format_record(held_by("a", "i", 3, SteadyTime{}));
  auto record = parse_record(text, "cache", kPath);
  ASSERT_FALSE(record);
  EXPECT_NE(record.error().message().find("election 'db', not 'cache'"), std::string::npos)
      << record.error().message();
}

TEST(FileRecord, WillNotWriteWhatCannotBeReadBack) {
  FileRecord record = held_by("pod\na", "i", 1, SteadyTime{});
  EXPECT_FALSE(format_record(record));
  record.holder = "pod-a";
  record.election.clear();
  EXPECT_FALSE(format_record(record));
  EXPECT_TRUE(check_record_name("pod-a", "--id"));
  EXPECT_FALSE(check_record_name("", "--id"));
  EXPECT_FALSE(check_record_name("a\tb", "--id"));
  EXPECT_FALSE(check_record_name(std::string(300, 'x'), "--id"));
}

TEST(FileDecide, TakesAFreshElectionWithTokenOne) {
  FakeClock clock;
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 0};
  Decision d = decide(*parse_record("", "db", kPath), me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 1U);
  EXPECT_EQ(d.next.holder, "pod-a");
  EXPECT_EQ(d.next.instance, "i-a");
  EXPECT_EQ(d.next.expires(), clock.now() + kTtl);
  EXPECT_EQ(d.next.boot, kBoot);
}

TEST(FileDecide, TakesAReleasedRecordAtOnceWithTheNextToken) {
  FakeClock clock;
  FileRecord record = released(held_by("pod-b", "i-b", 7, clock.now() + kTtl));
  Decision d =
      decide(record, {.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 0},
             clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 8U);
}

TEST(FileDecide, WaitsForAnotherHolderUntilItsClaimExpiresThenTakes) {
  FakeClock clock;
  FileRecord record = held_by("pod-b", "i-b", 7, clock.now() + kTtl);
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 0};
  Decision d = decide(record, me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kWait);
  EXPECT_EQ(d.retry_at, record.expires());
  clock.advance(kTtl - milliseconds(1));
  EXPECT_EQ(decide(record, me, clock.now(), kTtl).action, Action::kWait);
  clock.advance(milliseconds(1));  // the expiry itself: the claim is over
  d = decide(record, me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 8U);
  EXPECT_EQ(d.next.expires(), clock.now() + kTtl);
}

TEST(FileDecide, TakesARecordOfAnotherBootAtOnce) {
  FakeClock clock;
  // Its expiry lies far ahead on the old boot's steady clock: it means nothing now.
  FileRecord record = held_by("pod-b", "i-b", 7, clock.now() + std::chrono::hours(1), "boot-0");
  Decision d =
      decide(record, {.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 0},
             clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 8U);
  EXPECT_EQ(d.next.boot, kBoot);
}

TEST(FileDecide, RenewsItsOwnTermKeepingTheToken) {
  FakeClock clock;
  FileRecord record = held_by("pod-a", "i-a", 7, clock.now() + kTtl);
  clock.advance(milliseconds(700));
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 7, .seen = 7};
  Decision d = decide(record, me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kRenew);
  EXPECT_EQ(d.next.token, 7U);
  EXPECT_EQ(d.next.holder, "pod-a");
  EXPECT_EQ(d.next.expires(), clock.now() + kTtl);
}

TEST(FileDecide, AnExpiredTermOfItsOwnIsNeverRenewedButTakenAnew) {
  FakeClock clock;
  FileRecord record = held_by("pod-a", "i-a", 7, clock.now() + kTtl);
  clock.advance(kTtl);
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 7, .seen = 7};
  Decision d = decide(record, me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 8U);
}

TEST(FileDecide, TheSameIdInAnotherInstanceIsAnotherCandidate) {
  FakeClock clock;
  FileRecord record = held_by("pod-a", "i-a", 7, clock.now() + kTtl);
  // Another replica started with the same --id, even claiming the same token: it waits.
  Candidate twin{.id = "pod-a", .instance = "i-a2", .boot = kBoot, .token = 7, .seen = 7};
  EXPECT_EQ(decide(record, twin, clock.now(), kTtl).action, Action::kWait);
}

TEST(FileDecide, AStaleTermOfThisInstanceIsTakenAnew) {
  FakeClock clock;
  // This instance wrote token 7 but never reported it (its fdatasync failed): it holds none.
  FileRecord record = held_by("pod-a", "i-a", 7, clock.now() + kTtl);
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 7};
  Decision d = decide(record, me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 8U);
  // Nor does a candidate holding another token renew this one.
  me.token = 6;
  EXPECT_EQ(decide(record, me, clock.now(), kTtl).action, Action::kTake);
}

TEST(FileDecide, NeverTakesATokenBelowOneItHasSeen) {
  FakeClock clock;
  // The file was deleted and recreated: it says token 0, but this instance saw token 9.
  Candidate me{.id = "pod-a", .instance = "i-a", .boot = kBoot, .token = 0, .seen = 9};
  Decision d = decide(*parse_record("", "db", kPath), me, clock.now(), kTtl);
  ASSERT_EQ(d.action, Action::kTake);
  EXPECT_EQ(d.next.token, 10U);
}

TEST(FileObserve, NamesTheHolderUntilItsClaimEnds) {
  FakeClock clock;
  FileRecord record = held_by("pod-b", "i-b", 7, clock.now() + kTtl);
  Observed seen = observe(record, clock.now(), kBoot);
  EXPECT_EQ(seen.name, "pod-b");
  EXPECT_EQ(seen.token, 7U);
  EXPECT_EQ(seen.expires, record.expires());
  EXPECT_EQ(observe(released(record), clock.now(), kBoot), Observed{});
  EXPECT_EQ(observe(record, clock.now(), "boot-0"), Observed{});
  clock.advance(kTtl);
  EXPECT_EQ(observe(record, clock.now(), kBoot), Observed{});
}

TEST(FileObserve, HoldsIsAboutOneInstancesOneTerm) {
  FakeClock clock;
  FileRecord record = held_by("pod-a", "i-a", 7, clock.now() + kTtl);
  EXPECT_TRUE(holds(record, "i-a", 7));
  EXPECT_FALSE(holds(record, "i-a", 6));
  EXPECT_FALSE(holds(record, "i-b", 7));
  EXPECT_FALSE(holds(released(record), "i-a", 7));
}

}  // namespace
}  // namespace tender::election

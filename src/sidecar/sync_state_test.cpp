#include "sidecar/sync_state.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

namespace tender::sidecar {
namespace {

using namespace std::chrono_literals;

FakeClock make_clock() {
  return FakeClock(std::chrono::steady_clock::time_point(1h),
                   std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
}

TEST(SyncState, NotReadyUntilTheFirstSuccessAndSaysWhy) {
  FakeClock clock = make_clock();
  SyncState s(0, clock);
  EXPECT_FALSE(s.ready());
  EXPECT_EQ(s.not_ready_reason(), "no successful sync yet");
  s.started();
  EXPECT_EQ(s.failed("git: no ref \"main\" in /srv/x.git"), SyncState::Verdict::kGoOn);
  EXPECT_FALSE(s.ready());
  EXPECT_NE(s.not_ready_reason().find("no ref \"main\""), std::string::npos);
  s.started();
  s.succeeded("abc", true);
  EXPECT_TRUE(s.ready());
  EXPECT_EQ(s.revision(), "abc");
  EXPECT_DOUBLE_EQ(s.last_success_seconds(), 1'700'000'000.0);
}

TEST(SyncState, GivesUpAfterMaxConsecutiveFailuresOnly) {
  FakeClock clock = make_clock();
  SyncState s(3, clock);
  EXPECT_EQ(s.failed("a"), SyncState::Verdict::kGoOn);
  EXPECT_EQ(s.failed("b"), SyncState::Verdict::kGoOn);
  s.succeeded("r1", true);  // a success in between starts the count again
  EXPECT_EQ(s.consecutive_failures(), 0);
  EXPECT_EQ(s.failed("c"), SyncState::Verdict::kGoOn);
  EXPECT_EQ(s.failed("d"), SyncState::Verdict::kGoOn);
  EXPECT_EQ(s.failed("e"), SyncState::Verdict::kGiveUp);
  SyncState never(0, clock);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(never.failed("x"), SyncState::Verdict::kGoOn);
  }
}

TEST(SyncState, StatusShowsRevisionLastSuccessAndLastError) {
  FakeClock clock = make_clock();
  SyncState s(0, clock);
  s.started();
  s.succeeded("r1", true);
  clock.advance(10s);
  s.started();
  (void)s.failed("HTTP 500");
  s.hook_result("exec", "r1", true, "exited 0");
  auto o = s.to_json();
  EXPECT_EQ(o.at("revision").as_string(), "r1");
  EXPECT_EQ(o.at("last_success").as_string(), "2023-11-14T22:13:20Z");
  EXPECT_EQ(o.at("last_error").at("reason").as_string(), "HTTP 500");
  EXPECT_EQ(o.at("last_error").at("at").as_string(), "2023-11-14T22:13:30Z");
  EXPECT_EQ(o.at("attempts").as_uint64(), 2u);
  EXPECT_EQ(o.at("publishes").as_uint64(), 1u);
  EXPECT_EQ(o.at("consecutive_failures").as_int64(), 1);
  EXPECT_TRUE(o.at("hooks").at("exec").at("ok").as_bool());
  EXPECT_TRUE(s.ready());  // a failure after a success leaves the last good tree served
}

TEST(HookEnvironment, AddsTheRevisionAndReplacesInheritedOnes) {
  Publication p{.revision = "r2",
                .previous = "r1",
                .source = "git:/srv/x.git#main",
                .path = "/shared/site/current",
                .tree = "/shared/site/.tender-sync/rev-r2",
                .at = {}};
  auto env = hook_environment({"PATH=/bin", "TENDER_SYNC_REVISION=stale"}, p);
  auto has = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  EXPECT_TRUE(has("PATH=/bin"));
  EXPECT_TRUE(has("TENDER_SYNC_REVISION=r2"));
  EXPECT_TRUE(has("TENDER_SYNC_PREVIOUS_REVISION=r1"));
  EXPECT_TRUE(has("TENDER_SYNC_PATH=/shared/site/current"));
  EXPECT_TRUE(has("TENDER_SYNC_TREE=/shared/site/.tender-sync/rev-r2"));
  EXPECT_TRUE(has("TENDER_SYNC_SOURCE=git:/srv/x.git#main"));
  EXPECT_FALSE(has("TENDER_SYNC_REVISION=stale"));
}

TEST(WebhookBody, IsJsonWithTheRevision) {
  Publication p{.revision = "r2",
                .previous = "",
                .source = "dir:/x",
                .path = "/d/current",
                .tree = "/d/.tender-sync/rev-r2",
                .at = {}};
  auto v = boost::json::parse(webhook_body(p)).as_object();
  EXPECT_EQ(v.at("event").as_string(), "published");
  EXPECT_EQ(v.at("revision").as_string(), "r2");
  EXPECT_EQ(v.at("path").as_string(), "/d/current");
}

TEST(InfoSample, EscapesTheLabelValue) {
  EXPECT_EQ(info_sample("abc"), "tender_sync_info{revision=\"abc\"} 1");
  EXPECT_EQ(info_sample("a\"b\\c"), "tender_sync_info{revision=\"a\\\"b\\\\c\"} 1");
}

}  // namespace
}  // namespace tender::sidecar

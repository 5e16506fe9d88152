#include "election/term_history.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::election {
namespace {

using namespace std::chrono_literals;

const std::chrono::system_clock::time_point kT0{std::chrono::seconds(1'800'000'000)};

TEST(TermHistory, ANewLeaderOrTokenIsANewTermAndARepeatIsNot) {
  TermHistory h(8);
  h.observe("pod-a", 7, kT0);
  h.observe("pod-a", 7, kT0 + 1s);  // renewed: the same term
  h.observe("", 0, kT0 + 2s);       // no leader
  h.observe("pod-b", 8, kT0 + 3s);
  h.observe("pod-b", 9, kT0 + 4s);  // the same leader, a new term
  ASSERT_EQ(h.terms().size(), 4U);
  EXPECT_EQ(h.terms()[0].leader, "pod-a");
  EXPECT_EQ(h.terms()[0].observed_at, kT0);
  EXPECT_EQ(h.terms()[1].leader, "");
  EXPECT_EQ(h.terms()[3].token, 9U);
  EXPECT_EQ(h.left_out(), 0U);
}

TEST(TermHistory, KeepsTheNewestWithinItsCapacityAndCountsTheRest) {
  TermHistory h(3);
  for (std::uint64_t token = 1; token <= 5; ++token) {
    h.observe("pod-a", token, kT0 + std::chrono::seconds(token));
  }
  ASSERT_EQ(h.terms().size(), 3U);
  EXPECT_EQ(h.terms().front().token, 3U);
  EXPECT_EQ(h.terms().back().token, 5U);
  EXPECT_EQ(h.left_out(), 2U);
}

TEST(TermHistory, ToJsonNamesLeaderTokenAndWhenItWasSeen) {
  TermHistory h(4);
  h.observe("pod-a", 7, kT0);
  auto arr = h.to_json();
  ASSERT_EQ(arr.size(), 1U);
  const auto& o = arr[0].as_object();
  EXPECT_EQ(o.at("leader").as_string(), "pod-a");
  EXPECT_EQ(o.at("token").to_number<std::uint64_t>(), 7U);
  EXPECT_EQ(o.at("observed_at").as_string(), "2027-01-15T08:00:00.000Z");
}

}  // namespace
}  // namespace tender::election

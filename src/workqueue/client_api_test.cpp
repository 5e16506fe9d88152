#include "workqueue/client_api.hpp"

#include <gtest/gtest.h>

namespace tender::workqueue {
namespace {

TEST(QueueUrl, TakesHttpHostAndPort) {
  auto u = parse_queue_url("http://127.0.0.1:7700");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 7700);
  EXPECT_EQ(u->str(), "http://127.0.0.1:7700");
  u = parse_queue_url("http://queue.local/");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->port, 80);
  u = parse_queue_url("http://[::1]:7700");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->str(), "http://[::1]:7700");
}

TEST(QueueUrl, RefusesWhatItCannotUseNamingTheUrl) {
  for (const char* bad : {"127.0.0.1:7700", "https://127.0.0.1:7700", "http://127.0.0.1:7700/v1",
                          "http://127.0.0.1:7700/?x=1", "http://:7700", "http://h:0", ""}) {
    auto u = parse_queue_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_EQ(u.error().code(), std::errc::invalid_argument);
    EXPECT_NE(u.error().message().find(std::string("\"") + bad + "\""), std::string::npos)
        << u.error().message();
  }
}

TEST(HttpStatusError, CarriesTheStatusAndTheServersReason) {
  Error e = http_status_error(409, "stale lease for item 7\nmore\n");
  EXPECT_EQ(http_status_of(e), 409);
  EXPECT_EQ(e.message(), "HTTP 409: stale lease for item 7");
  EXPECT_FALSE(is_transient(e));
  EXPECT_TRUE(is_transient(http_status_error(503, "closing")));
  EXPECT_TRUE(is_transient(http_status_error(429, "full")));
  EXPECT_FALSE(is_transient(http_status_error(404, "no queue")));
  EXPECT_EQ(http_status_error(500, std::string(1000, 'x')).message().size(), 300u + 10u);
  // Not reached at all: retried; an answer that is not the API's: not.
  Error refused(std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(http_status_of(refused), 0);
  EXPECT_TRUE(is_transient(refused));
  EXPECT_FALSE(is_transient(Error(std::errc::bad_message, "not JSON")));
}

TEST(LeaseAnswer, ItemsWithTextAndBinaryPayloads) {
  auto items = parse_lease_answer(
      R"({"items":[{"id":1,"queue":"q","lease_id":"9f2c","payload":"resize 1.png","attempt":2,)"
      R"("max_attempts":5},{"id":2,"lease_id":"aa","payload_base64":"AP8=","attempt":1}]})");
  ASSERT_TRUE(items) << items.error().message();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].id, 1u);
  EXPECT_EQ((*items)[0].lease_id, "9f2c");
  EXPECT_EQ((*items)[0].payload, "resize 1.png");
  EXPECT_EQ((*items)[0].attempt, 2);
  EXPECT_EQ((*items)[0].max_attempts, 5);
  EXPECT_EQ((*items)[1].payload, std::string("\0\xff", 2));
}

TEST(LeaseAnswer, BrokenAnswersAreErrorsNamingWhatIsWrong) {
  auto no_lease = parse_lease_answer(R"({"items":[{"id":1,"payload":"x"}]})");
  ASSERT_FALSE(no_lease);
  EXPECT_EQ(no_lease.error().code(), std::errc::bad_message);
  EXPECT_NE(no_lease.error().message().find("lease_id"), std::string::npos);
  EXPECT_FALSE(parse_lease_answer(R"({"items":[{"id":1,"lease_id":"a"}]})"));
  EXPECT_FALSE(parse_lease_answer(R"({"items":[{"id":1,"lease_id":"a","payload_base64":"!"}]})"));
  EXPECT_FALSE(parse_lease_answer("<html>"));
  EXPECT_FALSE(parse_lease_answer(R"({"things":[]})"));
  auto empty = parse_lease_answer(R"({"items":[]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(QueueAnswer, CountsAndWhatRemains) {
  auto q = parse_queue_answer(
      R"({"name":"images","paused":true,"counts":{"ready":10,"delayed":2,"leased":4,"done":120,)"
      R"("dead":1},"oldest_ready_age_ms":5300,"settings":{},"rates":{}})");
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_EQ(q->name, "images");
  EXPECT_TRUE(q->paused);
  EXPECT_EQ(q->unfinished(), 16u);
  EXPECT_EQ(q->done, 120u);
  EXPECT_EQ(q->dead, 1u);
  EXPECT_EQ(q->oldest_ready_age_ms, 5300);
  auto missing = parse_queue_answer(R"({"name":"q","counts":{"ready":1}})");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("delayed"), std::string::npos);
  auto all = parse_queues_answer(
      R"({"queues":[{"name":"a","counts":{"ready":1,"delayed":0,"leased":0,"done":0,"dead":0}}]})");
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_FALSE((*all)[0].oldest_ready_age_ms);
}

TEST(NackAnswer, TheItemsState) {
  auto s = parse_nack_answer(R"({"id":3,"state":"dead"})");
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "dead");
  EXPECT_FALSE(parse_nack_answer(R"({"id":3})"));
}

}  // namespace
}  // namespace tender::workqueue

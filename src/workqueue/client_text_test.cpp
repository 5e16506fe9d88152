#include "workqueue/client_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::workqueue {
namespace {

namespace json = boost::json;

TEST(BatchBuilder, TextPayloadsAreJsonStrings) {
  BatchBuilder b({});
  ASSERT_TRUE(b.add("a"));
  ASSERT_TRUE(b.add("say \"hi\"\t"));
  EXPECT_EQ(b.items(), 2u);
  auto v = json::parse(b.take());
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v.as_array().at(0).as_string(), "a");
  EXPECT_EQ(v.as_array().at(1).as_string(), "say \"hi\"\t");
  EXPECT_EQ(b.items(), 0u);
  EXPECT_EQ(b.take(), "[]");
}

TEST(BatchBuilder, BinaryPayloadsGoAsBase64AndOptionsAsFields) {
  BatchOptions o;
  o.priority = 5;
  o.delay_ms = 1000;
  o.max_attempts = 3;
  BatchBuilder b(o);
  ASSERT_TRUE(b.add("x"));
  ASSERT_TRUE(b.add(std::string("\xff\x00", 2)));
  auto v = json::parse(b.take()).as_array();
  const auto& first = v.at(0).as_object();
  EXPECT_EQ(first.at("payload").as_string(), "x");
  EXPECT_EQ(first.at("priority").as_int64(), 5);
  EXPECT_EQ(first.at("delay_ms").as_int64(), 1000);
  EXPECT_EQ(first.at("max_attempts").as_int64(), 3);
  EXPECT_EQ(v.at(1).as_object().at("payload_base64").as_string(), "/wA=");
}

TEST(BatchBuilder, FullAtMaxItemsOrMaxBytes) {
  BatchOptions two;
  two.max_items = 2;
  BatchBuilder by_count(two);
  EXPECT_TRUE(by_count.add("1"));
  EXPECT_TRUE(by_count.add("2"));
  EXPECT_FALSE(by_count.add("3"));
  EXPECT_EQ(by_count.items(), 2u);

  BatchOptions small;
  small.max_bytes = 20;
  BatchBuilder by_size(small);
  EXPECT_TRUE(by_size.add("0123456789"));
  EXPECT_FALSE(by_size.add("0123456789"));
  const std::string body = by_size.take();
  EXPECT_LE(body.size(), 20u);
  // A payload larger than the bound alone still goes, in a batch of its own.
  EXPECT_TRUE(by_size.add(std::string(100, 'x')));
  EXPECT_FALSE(by_size.add("y"));
}

TEST(SplitLines, SkipsEmptyLinesStripsCrAndKeepsTheUnfinishedLine) {
  std::string pending;
  std::vector<std::string> out;
  split_lines(pending, "a\r\n\nbb\nc", false, out);
  EXPECT_EQ(out, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(pending, "c");
  split_lines(pending, "c\n\n", false, out);
  EXPECT_EQ(out, (std::vector<std::string>{"a", "bb", "cc"}));
  split_lines(pending, "last", true, out);
  EXPECT_EQ(out.back(), "last");
  EXPECT_TRUE(pending.empty());
}

TEST(QueuesTable, AlignsColumnsUnderAHeader) {
  std::vector<QueueSummary> qs(2);
  qs[0].name = "images";
  qs[0].ready = 10;
  qs[0].leased = 4;
  qs[0].done = 120;
  qs[0].oldest_ready_age_ms = 5300;
  qs[1].name = "q";
  qs[1].dead = 1;
  qs[1].oldest_ready_age_ms = 0;  // what the server says with nothing ready
  qs[1].paused = true;
  EXPECT_EQ(format_queues_table(qs),
            "QUEUE   READY  DELAYED  LEASED  DONE  DEAD  OLDEST  PAUSED\n"
            "images     10        0       4   120     0    5.3s  no\n"
            "q           0        0       0     0     1       -  yes\n");
  EXPECT_EQ(format_queues_table({}), "no queues\n");
}

TEST(QueueDetail, CountsSettingsInUnitsAndRates) {
  auto v = json::parse(
      R"({"name":"images","paused":false,"counts":{"ready":10,"delayed":0,"leased":4,"done":120,)"
      R"("dead":1},"oldest_ready_age_ms":5300,"settings":{"max_attempts":5,"lease_ttl_ms":60000,)"
      R"("max_payload_bytes":1048576},"rates":{"enqueued":12.5,"acked":11.75}})");
  const std::string text = format_queue_detail(v);
  EXPECT_NE(text.find("queue         images\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ready         10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("oldest ready  5.3s\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lease_ttl     1m\n"), std::string::npos) << text;
  EXPECT_NE(text.find("max_payload   1MiB\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rates (/s)    enqueued 12.5  acked 11.8\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace tender::workqueue

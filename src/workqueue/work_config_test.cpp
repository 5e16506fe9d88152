#include "workqueue/work_config.hpp"

#include <gtest/gtest.h>

#include "core/cli.hpp"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;

WorkFlags minimal() {
  WorkFlags f;
  f.queue = "http://127.0.0.1:7700";
  f.queue_name = "images";
  f.command = {"./resize", "--fast"};
  return f;
}

TEST(WorkConfig, DefaultsWithTheRequiredFlags) {
  WorkConfig c = resolve_work(minimal(), {});
  EXPECT_EQ(c.queue.str(), "http://127.0.0.1:7700");
  EXPECT_EQ(c.queue_name, "images");
  EXPECT_EQ(c.command, (std::vector<std::string>{"./resize", "--fast"}));
  EXPECT_EQ(c.concurrency, 1);
  EXPECT_EQ(c.timeout, 0ms);
  EXPECT_EQ(c.lease_ttl, 60s);
  EXPECT_EQ(c.extend_every(), 20s);
  EXPECT_EQ(c.lease_wait, 30s);
  EXPECT_EQ(c.max_result, 64u << 10);
  EXPECT_FALSE(c.dead_exit_code);
  EXPECT_FALSE(c.nack_delay);
  EXPECT_FALSE(c.exit_when_empty);
  EXPECT_EQ(c.progress, ProgressMode::kAuto);
}

TEST(WorkConfig, QueueNameAndCommandAreRequired) {
  WorkFlags f = minimal();
  f.queue.clear();
  EXPECT_THROW((void)resolve_work(f, {}), UsageError);
  f = minimal();
  f.queue_name.clear();
  EXPECT_THROW((void)resolve_work(f, {}), UsageError);
  f = minimal();
  f.command.clear();
  try {
    (void)resolve_work(f, {});
    FAIL() << "no command accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("after --"), std::string::npos);
  }
}

TEST(WorkConfig, BadFlagsNameTheFlag) {
  auto message = [](auto change) {
    WorkFlags f = minimal();
    change(f);
    try {
      (void)resolve_work(f, {});
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message([](WorkFlags& f) { f.queue = "127.0.0.1:7700"; }).rfind("--queue:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.queue_name = "a b"; }).rfind("--queue-name:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.concurrency = 2000; }).rfind("--concurrency:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.timeout = "soon"; }).rfind("--timeout:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.lease_ttl = "100ms"; }).rfind("--lease-ttl:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.lease_wait = "10m"; }).rfind("--lease-wait:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.dead_exit_code = "0"; }).rfind("--dead-exit-code:", 0),
            0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.dead_exit_code = "x"; }).rfind("--dead-exit-code:", 0),
            0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.max_result = "lots"; }).rfind("--max-result:", 0), 0u);
  EXPECT_EQ(message([](WorkFlags& f) { f.progress = "maybe"; }).rfind("--progress:", 0), 0u);
}

TEST(WorkConfig, TheFileSetsWhatTheFlagsDoNotSay) {
  ConfigNode file = parse_config(R"(
queue: http://queue:7700
queue_name: from-file
concurrency: 8
command: [sh, -c, "cat"]
timeout: 5m
lease_ttl: 30s
lease_wait: 1s
nack_delay: 2s
max_result: 1MiB
dead_exit_code: 42
exit_when_empty: true
progress: never
)",
                                 "work.yaml");
  WorkFlags f;
  WorkConfig c = resolve_work(f, file);
  EXPECT_EQ(c.queue.str(), "http://queue:7700");
  EXPECT_EQ(c.queue_name, "from-file");
  EXPECT_EQ(c.concurrency, 8);
  EXPECT_EQ(c.command, (std::vector<std::string>{"sh", "-c", "cat"}));
  EXPECT_EQ(c.timeout, 5min);
  EXPECT_EQ(c.extend_every(), 10s);
  EXPECT_EQ(c.lease_wait, 1s);
  EXPECT_EQ(c.nack_delay, 2s);
  EXPECT_EQ(c.max_result, 1u << 20);
  EXPECT_EQ(c.dead_exit_code, 42);
  EXPECT_TRUE(c.exit_when_empty);
  EXPECT_EQ(c.progress, ProgressMode::kNever);

  f.queue_name = "from-flag";
  f.concurrency = 2;
  f.command = {"./other"};
  c = resolve_work(f, file);
  EXPECT_EQ(c.queue_name, "from-flag");
  EXPECT_EQ(c.concurrency, 2);
  EXPECT_EQ(c.command, (std::vector<std::string>{"./other"}));
}

TEST(WorkConfig, BadFileValuesNameFileLineAndField) {
  ConfigNode file = parse_config(
      "queue: http://q:1\nqueue_name: q\nlease_ttl: 1h\ndead_exit_code: 300\n", "work.yaml");
  try {
    (void)resolve_work(minimal(), file);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "work.yaml");
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.field(), "dead_exit_code");
  }
}

TEST(WorkConfig, ShownForConfigz) {
  WorkFlags f = minimal();
  f.dead_exit_code = "42";
  auto o = to_json(resolve_work(f, {}));
  EXPECT_EQ(o.at("queue").as_string(), "http://127.0.0.1:7700");
  EXPECT_EQ(o.at("dead_exit_code").as_int64(), 42);
  EXPECT_EQ(o.at("timeout").as_string(), "none");
  EXPECT_EQ(o.at("command").as_array().size(), 2u);
}

}  // namespace
}  // namespace tender::workqueue

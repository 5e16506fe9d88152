#include "election/leader_exec.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

namespace tender::election {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// Runs `ioc` until `done` or 10 s have passed; false on the timeout.
template <class Pred>
bool run_until(asio::io_context& ioc, Pred done) {
  auto limit = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) {
      return false;
    }
    ioc.run_for(5ms);
  }
  return true;
}

std::string temp_file(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string(name) + "." + std::to_string(::getpid())))
      .string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(LeaderExec, RunsTheCommandWithTheTokenAndStopsItWithSigterm) {
  asio::io_context ioc;
  std::string out = temp_file("exec-token");
  std::optional<ExitStatus> ended;
  LeaderExec exec(
      ioc,
      {.argv = {"/bin/sh", "-c",
                "echo $TENDER_ELECT_TOKEN $TENDER_ELECT_ID > " + out + "; exec sleep 30"},
       .grace = 5s},
      [&](const ExitStatus& st) { ended = st; });
  ASSERT_TRUE(exec.start(42, {"TENDER_ELECT_ID=pod-a"}));
  EXPECT_TRUE(exec.running());
  ASSERT_TRUE(run_until(ioc, [&] { return slurp(out) == "42 pod-a\n"; }));
  exec.stop();
  bool stopped = false;
  asio::co_spawn(ioc, exec.stopped(), [&](std::exception_ptr) { stopped = true; });
  ASSERT_TRUE(run_until(ioc, [&] { return stopped; }));
  EXPECT_FALSE(exec.running());
  EXPECT_FALSE(ended) << "a command that was asked to stop is not reported as ended on its own";
  std::filesystem::remove(out);
}

TEST(LeaderExec, ACommandThatIgnoresSigtermIsKilledAfterTheGrace) {
  asio::io_context ioc;
  std::string ready = temp_file("exec-trap");
  LeaderExec exec(
      ioc,
      {.argv = {"/bin/sh", "-c", "trap '' TERM; touch " + ready + "; while :; do sleep 0.05; done"},
       .grace = 200ms},
      [](const ExitStatus&) {});
  ASSERT_TRUE(exec.start(1, {}));
  ASSERT_TRUE(run_until(ioc, [&] { return std::filesystem::exists(ready); }));
  exec.stop();
  bool stopped = false;
  asio::co_spawn(ioc, exec.stopped(), [&](std::exception_ptr) { stopped = true; });
  ASSERT_TRUE(run_until(ioc, [&] { return stopped; }));
  EXPECT_FALSE(exec.running());
  std::filesystem::remove(ready);
}

TEST(LeaderExec, ACommandThatEndsOnItsOwnIsReported) {
  asio::io_context ioc;
  std::optional<ExitStatus> ended;
  LeaderExec exec(ioc, {.argv = {"/bin/sh", "-c", "exit 3"}, .grace = 1s},
                  [&](const ExitStatus& st) { ended = st; });
  ASSERT_TRUE(exec.start(1, {}));
  ASSERT_TRUE(run_until(ioc, [&] { return ended.has_value(); }));
  EXPECT_EQ(ended->describe(), "exited 3");
  EXPECT_FALSE(exec.running());
  // Another term may start it again.
  ASSERT_TRUE(exec.start(2, {}));
  EXPECT_EQ(exec.starts(), 2U);
}

TEST(LeaderExec, AMissingCommandIsAnErrorNamingIt) {
  asio::io_context ioc;
  LeaderExec exec(ioc, {.argv = {"/nonexistent/leader-job"}, .grace = 1s},
                  [](const ExitStatus&) {});
  auto started = exec.start(1, {});
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message().find("/nonexistent/leader-job"), std::string::npos);
  EXPECT_FALSE(exec.running());
}

}  // namespace
}  // namespace tender::election

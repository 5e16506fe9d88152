// run_command against real children: /bin/sh, cat, sleep, head.
#include "core/command.hpp"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace tender {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

Result<CommandOutcome> run(CommandOptions options) {
  asio::io_context ioc;
  std::optional<Result<CommandOutcome>> out;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> { out.emplace(co_await run_command(std::move(options))); },
      asio::detached);
  ioc.run();
  return std::move(*out);
}

CommandOptions shell(const std::string& script) {
  CommandOptions o;
  o.spawn.argv = {"/bin/sh", "-c", script};
  return o;
}

// A process that is gone: no such pid, or a zombie nobody has reaped yet.
bool gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return true;
  }
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "command_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = -1;
  in >> pid;
  return pid;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  return s;
}

TEST(RunCommand, CapturesStdoutStderrAndTheExitCode) {
  auto r = run(shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stdout_text, "out\n");
  EXPECT_EQ(r->stderr_text, "err\n");
  EXPECT_TRUE(r->exit.exited);
  EXPECT_EQ(r->exit.code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->success());
  EXPECT_EQ(r->describe(), "exited 3");
}

TEST(RunCommand, MergesStderrIntoStdout) {
  auto o = shell("echo out; echo err >&2");
  o.merge_stderr = true;
  auto r = run(std::move(o));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stdout_text.size(), 8u);
  EXPECT_NE(r->stdout_text.find("out\n"), std::string::npos);
  EXPECT_NE(r->stdout_text.find("err\n"), std::string::npos);
  EXPECT_EQ(r->stderr_text, "");
}

TEST(RunCommand, ReportsTheSignalThatKilledIt) {
  auto r = run(shell("kill -USR1 $$"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->exit.exited);
  EXPECT_EQ(r->exit.signal, SIGUSR1);
  EXPECT_EQ(r->describe(), "killed by SIGUSR1");
}

TEST(RunCommand, StdinBytesAreWrittenWhileOutputIsRead) {
  const std::string input = pattern(std::size_t{6} << 20);  // far more than a pipe holds
  CommandOptions o;
  o.spawn.argv = {"cat"};
  o.stdin_bytes = input;
  o.max_stdout_bytes = std::size_t{8} << 20;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success()) << r->describe();
  EXPECT_FALSE(r->stdout_truncated);
  EXPECT_TRUE(r->stdout_text == input) << r->stdout_text.size();

  o.max_stdout_bytes = std::size_t{1} << 20;  // the rest of the echo is read and dropped
  r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success()) << r->describe();
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_TRUE(r->stdout_text == input.substr(0, std::size_t{1} << 20));
}

TEST(RunCommand, ChildThatStopsReadingStdinEarlyIsNoError) {
  CommandOptions o;
  o.spawn.argv = {"head", "-c", "10"};
  o.stdin_bytes = pattern(std::size_t{4} << 20);
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success()) << r->describe();
  EXPECT_EQ(r->stdout_text, o.stdin_bytes.substr(0, 10));
}

TEST(RunCommand, StdinFromAFile) {
  TempDir dir;
  std::ofstream(dir.file("in")) << "from a file\n";
  CommandOptions o;
  o.spawn.argv = {"cat"};
  o.stdin_file = dir.file("in");
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stdout_text, "from a file\n");

  o.stdin_bytes = "both";
  r = run(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::invalid_argument);
}

TEST(RunCommand, NoStdinReadsEndOfFile) {
  CommandOptions o;
  o.spawn.argv = {"cat"};
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success());
  EXPECT_EQ(r->stdout_text, "");
}

TEST(RunCommand, EnvironmentAndWorkingDirectory) {
  TempDir dir;
  auto o = shell("echo \"$GREETING\"; pwd");
  o.spawn.env = std::vector<std::string>{"GREETING=hello", "PATH=/usr/bin:/bin"};
  o.spawn.cwd = dir.path();
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stdout_text, "hello\n" + std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(RunCommand, MissingBinaryIsAnErrorNamingIt) {
  CommandOptions o;
  o.spawn.argv = {"tender-no-such-binary", "x"};
  auto r = run(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(r.error().message().rfind("tender-no-such-binary: ", 0), 0u) << r.error().message();

  o.spawn.argv.clear();
  r = run(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "empty command");
}

TEST(RunCommand, OutputFarBeyondTheBoundIsDroppedAndTheChildFinishes) {
  auto o = shell("head -c 100000000 /dev/zero; head -c 50000000 /dev/zero >&2; echo done >&2");
  o.max_stdout_bytes = 1000;
  o.max_stderr_bytes = 10;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success()) << r->describe();
  EXPECT_EQ(r->stdout_text, std::string(1000, '\0'));
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_EQ(r->stderr_text, std::string(10, '\0'));
  EXPECT_TRUE(r->stderr_truncated);
}

TEST(RunCommand, KeepsTheTailOfStderrWhenAsked) {
  auto o = shell("head -c 100000 /dev/zero >&2; echo the last words >&2; echo out");
  o.max_stderr_bytes = 15;
  o.keep_stderr_tail = true;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stderr_text, "the last words\n");
  EXPECT_TRUE(r->stderr_truncated);
  EXPECT_EQ(r->stdout_text, "out\n");

  auto short_one = shell("echo short >&2");
  short_one.max_stderr_bytes = 15;
  short_one.keep_stderr_tail = true;
  r = run(short_one);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stderr_text, "short\n");
  EXPECT_FALSE(r->stderr_truncated);
}

TEST(RunCommand, TimeoutKillsTheWholeGroup) {
  TempDir dir;
  // A grandchild that ignores SIGTERM, holding the output pipes open.
  auto o = shell("sh -c 'trap \"\" TERM; echo $$ > " + dir.file("grandchild") +
                 "; exec sleep 1000' & echo started; wait");
  o.timeout = 300ms;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit.signal, SIGKILL);
  EXPECT_EQ(r->describe(), "timed out after 300ms");
  EXPECT_EQ(r->stdout_text, "started\n");
  const pid_t grandchild = read_pid(dir.file("grandchild"));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(eventually([&] { return gone(grandchild); }));
}

TEST(RunCommand, TimeoutWithGraceSendsSigtermFirst) {
  TempDir dir;
  // The shell exits 7 on SIGTERM; its grandchild ignores SIGTERM and must be killed anyway.
  auto o = shell("trap 'exit 7' TERM; sh -c 'trap \"\" TERM; echo $$ > " + dir.file("grandchild") +
                 "; exec sleep 1000' & wait");
  o.timeout = 300ms;
  o.kill_grace = 5s;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_TRUE(r->exit.exited);
  EXPECT_EQ(r->exit.code, 7);
  const pid_t grandchild = read_pid(dir.file("grandchild"));
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(eventually([&] { return gone(grandchild); }));
}

TEST(RunCommand, GraceEndsInSigkillForAChildIgnoringSigterm) {
  auto o = shell("trap '' TERM; sleep 1000");
  o.timeout = 200ms;
  o.kill_grace = 200ms;
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit.signal, SIGKILL);
}

TEST(RunCommand, WhatTheChildLeavesBehindIsKilled) {
  TempDir dir;
  auto o = shell("sleep 1000 & echo $! > " + dir.file("left") + "; echo done");
  auto r = run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->success()) << r->describe();
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->stdout_text, "done\n");
  const pid_t left = read_pid(dir.file("left"));
  ASSERT_GT(left, 0);
  EXPECT_TRUE(eventually([&] { return gone(left); }));
}

TEST(RunCommand, CancellationKillsAndReapsTheChild) {
  using asio::experimental::awaitable_operators::operator||;
  TempDir dir;
  asio::io_context ioc;
  bool cancelled = false;
  auto o = shell("echo $$ > " + dir.file("pid") + "; exec sleep 1000");
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(ioc);
        // Cancel once the child has written its pid.
        auto started = [&]() -> asio::awaitable<void> {
          while (read_pid(dir.file("pid")) <= 0) {
            timer.expires_after(5ms);
            co_await timer.async_wait(asio::use_awaitable);
          }
        };
        auto v = co_await (run_command(std::move(o)) || started());
        cancelled = v.index() == 1;
      },
      asio::detached);
  ioc.run();
  EXPECT_TRUE(cancelled);
  const pid_t pid = read_pid(dir.file("pid"));
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(gone(pid));  // reaped before run_command returned
}

TEST(RunCommand, DestroyingTheIoContextKillsTheChild) {
  TempDir dir;
  auto ioc = std::make_unique<asio::io_context>();
  asio::co_spawn(
      *ioc,
      [&]() -> asio::awaitable<void> {
        (void)co_await run_command(shell("echo $$ > " + dir.file("pid") + "; exec sleep 1000"));
      },
      asio::detached);
  ASSERT_TRUE(eventually([&] {
    ioc->run_for(5ms);
    return read_pid(dir.file("pid")) > 0;
  }));
  const pid_t pid = read_pid(dir.file("pid"));
  ioc.reset();
  EXPECT_TRUE(gone(pid));
}

}  // namespace
}  // namespace tender

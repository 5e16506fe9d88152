#include "core/process.hpp"
#include "core/process_test_support.hpp"

#include "core/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace tender {
namespace {

using namespace std::chrono_literals;

// Polls `done` until it holds or `timeout` passes; never a fixed sleep.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

std::string read_line(int fd) {
  std::string out;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') {
    out += c;
  }
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool proc_exists(pid_t pid) {
  return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

// True once `pid` no longer exists at all (not even as a zombie). Reaps our orphans while
// polling, for the cases where this process is their subreaper.
bool gone_eventually(pid_t pid) {
  return eventually([pid] {
    (void)reap_orphans();
    return ::kill(pid, 0) == -1 && errno == ESRCH;
  });
}

// Our direct children, from /proc/self/task/*/children; nullopt if the kernel lacks it.
std::optional<std::set<pid_t>> children() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) {
    return std::nullopt;
  }
  std::set<pid_t> result;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::ifstream in(std::string("/proc/self/task/") + entry->d_name + "/children");
    if (!in) {
      continue;
    }
    found = true;
    pid_t pid;
    while (in >> pid) {
      result.insert(pid);
    }
  }
  ::closedir(dir);
  if (!found) {
    return std::nullopt;
  }
  return result;
}

std::string proc_status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return {};
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/tender_process_test_XXXXXX";
    const char* made = ::mkdtemp(pattern);
    EXPECT_NE(made, nullptr);
    char resolved[PATH_MAX];
    path_ = ::realpath(made, resolved) != nullptr ? resolved : pattern;
  }
  ~TempDir() {
    const std::string command = "rm -rf '" + path_ + "'";
    EXPECT_EQ(std::system(command.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SpawnOptions command(std::vector<std::string> argv) {
  SpawnOptions options;
  options.argv = std::move(argv);
  return options;
}

Process spawn_ok(const SpawnOptions& options) {
  auto process = Process::spawn(options);
  if (!process) {
    ADD_FAILURE() << "spawn failed: " << process.error().message();
    std::abort();
  }
  return std::move(*process);
}

// --- exit status ---------------------------------------------------------------------------

TEST(ProcessTest, ExitCodes) {
  Process t = spawn_ok(command({"true"}));
  ExitStatus status = t.wait();
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 0);
  EXPECT_TRUE(status.success());
  EXPECT_EQ(status.describe(), "exited 0");

  Process f = spawn_ok(command({"false"}));
  EXPECT_EQ(f.wait().code, 1);

  Process three = spawn_ok(command({"/bin/sh", "-c", "exit 3"}));
  status = three.wait();
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 3);
  EXPECT_EQ(status.signal, 0);
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.describe(), "exited 3");
  EXPECT_EQ(three.wait(), status);  // stable once reaped
  EXPECT_EQ(three.try_wait(), status);
}

TEST(ProcessTest, KilledBySignal) {
  Process p = spawn_ok(command({"sleep", "60"}));
  EXPECT_EQ(p.try_wait(), std::nullopt);
  ASSERT_FALSE(p.kill(SIGTERM));
  const ExitStatus status = p.wait();
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGTERM);
  EXPECT_EQ(status.code, 128 + SIGTERM);
  EXPECT_EQ(status.describe(), "killed by SIGTERM");
  // Reaped: the pid may be someone else's now, so no signal is sent.
  EXPECT_EQ(p.kill(SIGTERM).value(), ESRCH);
}

TEST(ProcessTest, TryWaitPollsUntilExit) {
  Process p = spawn_ok(command({"sleep", "60"}));
  EXPECT_FALSE(p.try_wait().has_value());
  EXPECT_FALSE(p.reaped());
  ASSERT_FALSE(p.kill(SIGKILL));
  std::optional<ExitStatus> status;
  ASSERT_TRUE(eventually([&] { return (status = p.try_wait()).has_value(); }));
  EXPECT_EQ(status->signal, SIGKILL);
  EXPECT_EQ(status->describe(), "killed by SIGKILL");
  EXPECT_TRUE(p.reaped());
}

TEST(ProcessTest, PidfdBecomesReadableOnExit) {
  Process p = spawn_ok(command({"sleep", "60"}));
  if (p.pidfd() < 0) {
    GTEST_SKIP() << "kernel without pidfd_open";
  }
  pollfd pfd{p.pidfd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  ASSERT_FALSE(p.kill(SIGKILL));
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
  EXPECT_EQ(p.wait().signal, SIGKILL);
}

TEST(ProcessTest, NoZombieAfterWait) {
  Process p = spawn_ok(command({"true"}));
  const pid_t pid = p.pid();
  EXPECT_TRUE(p.wait().success());
  EXPECT_FALSE(proc_exists(pid));
}

// --- environment and working directory -----------------------------------------------------

TEST(ProcessTest, EnvReplaced) {
  SpawnOptions options = command({"env"});
  options.env = std::vector<std::string>{"A=1", "B=two words"};
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  EXPECT_EQ(read_all(p.stdout_fd()), "A=1\nB=two words\n");
  EXPECT_TRUE(p.wait().success());
}

TEST(ProcessTest, EnvInherited) {
  ASSERT_EQ(::setenv("TENDER_PROCESS_TEST", "inherited", 1), 0);
  SpawnOptions options = command({"env"});
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  const std::string out = read_all(p.stdout_fd());
  EXPECT_NE(out.find("TENDER_PROCESS_TEST=inherited\n"), std::string::npos) << out;
  EXPECT_TRUE(p.wait().success());
  ::unsetenv("TENDER_PROCESS_TEST");
}

TEST(ProcessTest, PathSearchUsesTheChildsPath) {
  SpawnOptions options = command({"env"});
  options.env = std::vector<std::string>{"PATH=/nonexistent"};
  auto p = Process::spawn(options);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().value(), ENOENT);

  options.env = std::vector<std::string>{"PATH=/nonexistent::/usr/bin:/bin", "X=y"};
  options.stdout_ = Stdio::pipe();
  Process ok = spawn_ok(options);
  EXPECT_EQ(read_all(ok.stdout_fd()), "PATH=/nonexistent::/usr/bin:/bin\nX=y\n");
  EXPECT_TRUE(ok.wait().success());
}

TEST(ProcessTest, Cwd) {
  TempDir dir;
  SpawnOptions options = command({"/bin/sh", "-c", "pwd -P"});
  options.cwd = dir.path();
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  EXPECT_EQ(read_all(p.stdout_fd()), dir.path() + "\n");
  EXPECT_TRUE(p.wait().success());
}

// --- stdio ---------------------------------------------------------------------------------

TEST(ProcessTest, StdoutAndStderrToFile) {
  TempDir dir;
  const std::string log = dir.path() + "/both.log";
  { std::ofstream(log) << "earlier\n"; }
  SpawnOptions options = command({"/bin/sh", "-c", "echo out; echo err >&2"});
  options.stdout_ = Stdio::file(log, Stdio::kAppend);
  options.stderr_ = Stdio::file(log, Stdio::kAppend);
  EXPECT_TRUE(spawn_ok(options).wait().success());
  EXPECT_EQ(slurp(log), "earlier\nout\nerr\n");

  const std::string truncated = dir.path() + "/truncated.log";
  { std::ofstream(truncated) << "a much longer line that must disappear\n"; }
  options = command({"echo", "hi"});
  options.stdout_ = Stdio::file(truncated, Stdio::kTruncate);
  EXPECT_TRUE(spawn_ok(options).wait().success());
  EXPECT_EQ(slurp(truncated), "hi\n");

  const std::string created = dir.path() + "/created.log";
  options.stdout_ = Stdio::file(created);
  EXPECT_TRUE(spawn_ok(options).wait().success());
  EXPECT_EQ(slurp(created), "hi\n");
}

TEST(ProcessTest, StdoutAndStderrToPipes) {
  SpawnOptions options = command({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"});
  options.stdout_ = Stdio::pipe();
  options.stderr_ = Stdio::pipe();
  Process p = spawn_ok(options);
  EXPECT_EQ(p.stdin_fd(), -1);
  ASSERT_GE(p.stdout_fd(), 0);
  ASSERT_GE(p.stderr_fd(), 0);
  EXPECT_TRUE(::fcntl(p.stdout_fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.stderr_fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(read_all(p.stdout_fd()), "out\n");
  EXPECT_EQ(read_all(p.stderr_fd()), "err\n");
  EXPECT_EQ(p.wait().code, 4);
}

TEST(ProcessTest, StdinFromPipe) {
  SpawnOptions options = command({"cat"});
  options.stdin_ = Stdio::pipe();
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  ASSERT_GE(p.stdin_fd(), 0);
  EXPECT_TRUE(::fcntl(p.stdin_fd(), F_GETFD) & FD_CLOEXEC);
  ASSERT_TRUE(write_all(p.stdin_fd(), "hello\nworld\n"));
  p.close_stdin();
  EXPECT_EQ(p.stdin_fd(), -1);
  EXPECT_EQ(read_all(p.stdout_fd()), "hello\nworld\n");
  EXPECT_TRUE(p.wait().success());
}

TEST(ProcessTest, StdinFromNullAndFile) {
  SpawnOptions options = command({"cat"});
  options.stdin_ = Stdio::null();
  options.stdout_ = Stdio::pipe();
  Process null_input = spawn_ok(options);
  EXPECT_EQ(read_all(null_input.stdout_fd()), "");
  EXPECT_TRUE(null_input.wait().success());

  TempDir dir;
  const std::string input = dir.path() + "/input";
  { std::ofstream(input) << "from a file\n"; }
  options.stdin_ = Stdio::file(input);
  Process file_input = spawn_ok(options);
  EXPECT_EQ(read_all(file_input.stdout_fd()), "from a file\n");
  EXPECT_TRUE(file_input.wait().success());

  options.stdin_ = Stdio::file(dir.path() + "/missing");
  auto missing = Process::spawn(options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().value(), ENOENT);
}

TEST(ProcessTest, ReleasedFdBelongsToCaller) {
  SpawnOptions options = command({"echo", "mine"});
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  const int fd = p.release_stdout_fd();
  EXPECT_EQ(p.stdout_fd(), -1);
  EXPECT_EQ(read_all(fd), "mine\n");
  EXPECT_EQ(::close(fd), 0);
  EXPECT_TRUE(p.wait().success());
}

// --- what the child does and does not inherit ----------------------------------------------

TEST(ProcessTest, InheritedFdsAreClosed) {
  // A descriptor deliberately left without close-on-exec.
  const int leaked = ::fcntl(STDERR_FILENO, F_DUPFD, 100);
  ASSERT_GE(leaked, 100);
  ASSERT_FALSE(::fcntl(leaked, F_GETFD) & FD_CLOEXEC);
  Process p = spawn_ok(command({"sleep", "60"}));
  ::close(leaked);

  const std::string fd_dir = "/proc/" + std::to_string(p.pid()) + "/fd";
  EXPECT_NE(::access((fd_dir + "/" + std::to_string(leaked)).c_str(), F_OK), 0);
  // Only 0, 1 and 2 once sleep has settled (its dynamic loader opens files briefly at start).
  const auto open_fds = [&] {
    std::set<std::string> fds;
    if (DIR* dir = ::opendir(fd_dir.c_str())) {
      while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') {
          fds.insert(entry->d_name);
        }
      }
      ::closedir(dir);
    }
    return fds;
  };
  EXPECT_TRUE(eventually([&] { return open_fds() == std::set<std::string>{"0", "1", "2"}; }));
}

TEST(ProcessTest, SignalMaskAndDispositionsAreReset) {
  sigset_t block;
  sigset_t saved_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &saved_mask), 0);
  struct sigaction ignore {};
  struct sigaction saved_int {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGINT, &ignore, &saved_int), 0);

  Process p = spawn_ok(command({"sleep", "60"}));

  ::sigaction(SIGINT, &saved_int, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);

  EXPECT_EQ(proc_status_field(p.pid(), "SigBlk"), "0000000000000000");
  EXPECT_EQ(proc_status_field(p.pid(), "SigIgn"), "0000000000000000");
  ASSERT_FALSE(p.kill(SIGINT));
  EXPECT_EQ(p.wait().signal, SIGINT);
}

TEST(ProcessTest, NewProcessGroup) {
  Process own = spawn_ok(command({"sleep", "60"}));
  EXPECT_EQ(own.pgid(), own.pid());
  EXPECT_EQ(::getpgid(own.pid()), own.pid());

  SpawnOptions options = command({"sleep", "60"});
  options.new_process_group = false;
  Process shared = spawn_ok(options);
  EXPECT_EQ(shared.pgid(), ::getpgrp());
  EXPECT_EQ(::getpgid(shared.pid()), ::getpgrp());
  // Signalling "its" group would signal ours.
  EXPECT_EQ(shared.kill_group(SIGKILL).value(), EINVAL);
}

// --- spawn errors ----------------------------------------------------------------------------

void expect_spawn_error(const SpawnOptions& options, int expected) {
  const auto before = children();
  auto p = Process::spawn(options);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().value(), expected) << p.error().message();
  EXPECT_EQ(p.error().category(), boost::system::system_category());
  if (before) {
    EXPECT_EQ(children(), before);  // no child left behind, not even a zombie
  }
}

TEST(ProcessTest, NonexistentBinaryIsAnError) {
  expect_spawn_error(command({"/nonexistent/tender-no-such-binary"}), ENOENT);
  expect_spawn_error(command({"tender-no-such-binary-in-path"}), ENOENT);
  expect_spawn_error(command({""}), ENOENT);
}

TEST(ProcessTest, NotExecutableIsAnError) {
  TempDir dir;
  const std::string file = dir.path() + "/not-executable";
  { std::ofstream(file) << "#!/bin/sh\nexit 0\n"; }
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  expect_spawn_error(command({file}), EACCES);

  // Not a valid executable format (and no shebang): no silent /bin/sh fallback.
  const std::string garbage = dir.path() + "/garbage";
  { std::ofstream(garbage) << "\x01\x02\x03 not an executable\n"; }
  ASSERT_EQ(::chmod(garbage.c_str(), 0755), 0);
  expect_spawn_error(command({garbage}), ENOEXEC);
}

TEST(ProcessTest, BadCwdIsAnError) {
  SpawnOptions options = command({"true"});
  options.cwd = "/nonexistent/tender-dir";
  expect_spawn_error(options, ENOENT);
}

TEST(ProcessTest, EmptyArgvIsAnError) { expect_spawn_error(SpawnOptions{}, EINVAL); }

// --- process groups, orphans and lifetimes -------------------------------------------------

TEST(ProcessTest, KillGroupKillsGrandchild) {
  ASSERT_FALSE(become_subreaper());  // the grandchild is reparented to us, so we can reap it
  SpawnOptions options = command({"/bin/sh", "-c", "sleep 60 & echo $!; wait"});
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  const pid_t grandchild = std::stoi(read_line(p.stdout_fd()));
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(::kill(grandchild, 0), 0);
  EXPECT_EQ(::getpgid(grandchild), p.pid());

  ASSERT_FALSE(p.kill_group(SIGKILL));
  EXPECT_EQ(p.wait().signal, SIGKILL);
  EXPECT_TRUE(gone_eventually(grandchild));
  EXPECT_EQ(read_all(p.stdout_fd()), "");           // every writer is gone: EOF
  EXPECT_EQ(p.kill_group(SIGKILL).value(), ESRCH);  // the group is empty
}

TEST(ProcessTest, KillGroupAfterLeaderExited) {
  ASSERT_FALSE(become_subreaper());
  // The leader exits at once, leaving its background child in the group.
  SpawnOptions options = command({"/bin/sh", "-c", "sleep 60 >/dev/null & echo $!"});
  options.stdout_ = Stdio::pipe();
  Process p = spawn_ok(options);
  const pid_t grandchild = std::stoi(read_line(p.stdout_fd()));
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(::kill(grandchild, 0), 0);
  ASSERT_FALSE(p.kill_group(SIGKILL));
  EXPECT_TRUE(gone_eventually(grandchild));
}

TEST(ProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    Process p = spawn_ok(command({"sleep", "60"}));
    pid = p.pid();
    EXPECT_TRUE(proc_exists(pid));
  }
  EXPECT_FALSE(proc_exists(pid));  // killed and reaped synchronously: not even a zombie

  ASSERT_FALSE(become_subreaper());
  pid_t grandchild;
  {
    SpawnOptions options = command({"/bin/sh", "-c", "sleep 60 & echo $!; wait"});
    options.stdout_ = Stdio::pipe();
    Process p = spawn_ok(options);
    grandchild = std::stoi(read_line(p.stdout_fd()));
    EXPECT_EQ(::kill(grandchild, 0), 0);
  }
  EXPECT_TRUE(gone_eventually(grandchild));
}

TEST(ProcessTest, MoveTransfersOwnership) {
  Process a = spawn_ok(command({"sleep", "60"}));
  const pid_t first = a.pid();
  Process b = std::move(a);
  EXPECT_EQ(b.pid(), first);
  EXPECT_EQ(a.pid(), -1);  // NOLINT(bugprone-use-after-move): checking the moved-from state

  // Assigning over a live Process kills and reaps the old child.
  Process c = spawn_ok(command({"sleep", "60"}));
  const pid_t second = c.pid();
  b = std::move(c);
  EXPECT_FALSE(proc_exists(first));
  EXPECT_EQ(b.pid(), second);
  ASSERT_FALSE(b.kill(SIGKILL));
  EXPECT_EQ(b.wait().signal, SIGKILL);
}

TEST(ProcessTest, DieWithParent) {
  ASSERT_FALSE(become_subreaper());  // orphans come to us, so we can reap them
  for (const bool die_with_parent : {true, false}) {
    SpawnOptions options = command({"sleep", "60"});
    options.die_with_parent = die_with_parent;
    const pid_t sleeper = testing::spawn_and_abandon(options);
    ASSERT_GT(sleeper, 0);

    if (die_with_parent) {
      EXPECT_TRUE(gone_eventually(sleeper));
    } else {
      // The control: without it the sleeper outlives its parent (reparented to us).
      ASSERT_TRUE(eventually([&] { return ::getpgid(sleeper) == sleeper; }));
      EXPECT_EQ(::kill(sleeper, 0), 0);
      EXPECT_EQ(::kill(sleeper, SIGKILL), 0);
      EXPECT_TRUE(gone_eventually(sleeper));
    }
  }
}

TEST(ProcessTest, ReapOrphansAlsoTakesOwnedChildren) {
  Process p = spawn_ok(command({"/bin/sh", "-c", "exit 7"}));
  bool seen = false;
  ASSERT_TRUE(eventually([&] {
    for (const auto& [pid, status] : reap_orphans()) {
      if (pid == p.pid()) {
        EXPECT_EQ(status.code, 7);
        seen = true;
      }
    }
    return seen;
  }));
  // The Process lost its status to reap_orphans(): callers must coordinate.
  const ExitStatus status = p.wait();
  EXPECT_TRUE(status.unknown());
  EXPECT_EQ(status.describe(), "status unknown");
}

// --- ExitStatus and signal names -----------------------------------------------------------

TEST(ExitStatusTest, FromWaitStatus) {
  EXPECT_EQ(ExitStatus::from_wait_status(3 << 8).describe(), "exited 3");
  const ExitStatus killed = ExitStatus::from_wait_status(SIGKILL);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_EQ(killed.code, 137);
  EXPECT_EQ(killed.describe(), "killed by SIGKILL");
  EXPECT_EQ(ExitStatus::from_wait_status(SIGSEGV | 0x80).describe(),
            "killed by SIGSEGV (core dumped)");
}

TEST(SignalNameTest, Names) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGHUP), "SIGHUP");
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMAX");
  EXPECT_EQ(signal_name(0), "SIG0");
}

TEST(SignalNameTest, Parse) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("sigterm"), SIGTERM);
  EXPECT_EQ(parse_signal("15"), 15);
  EXPECT_EQ(parse_signal("9"), SIGKILL);
  EXPECT_EQ(parse_signal("SIGIOT"), SIGABRT);
  EXPECT_EQ(parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("RTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("SIGRTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_signal(""), std::nullopt);
  EXPECT_EQ(parse_signal("0"), std::nullopt);
  EXPECT_EQ(parse_signal("-9"), std::nullopt);
  EXPECT_EQ(parse_signal("15x"), std::nullopt);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX + 1)), std::nullopt);
  EXPECT_EQ(parse_signal("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_signal("SIGBOGUS"), std::nullopt);
  EXPECT_EQ(parse_signal("SIG"), std::nullopt);
  EXPECT_EQ(parse_signal("RTMIN-1"), std::nullopt);
  EXPECT_EQ(parse_signal("RTMIN+99"), std::nullopt);
  EXPECT_EQ(parse_signal("RTMIN+"), std::nullopt);
}

TEST(SignalNameTest, RoundTrip) {
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    EXPECT_EQ(parse_signal(signal_name(sig)), sig) << signal_name(sig);
  }
}

}  // namespace
}  // namespace tender

namespace tender {
namespace {

TEST(ProcessNamespaces, BindMountsAreVisibleOnlyToTheChild) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "mount namespaces need root";
  }
  char tmpl[] = "/tmp/tender-mnt-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string base = tmpl;
  std::string src = base + "/src";
  std::string hidden = base + "/hidden";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(hidden.c_str(), 0755), 0);
  { std::ofstream(src + "/hello") << "from source"; }
  { std::ofstream(hidden + "/secret") << "x"; }
  SpawnOptions o;
  std::string target = base + "/deep/mount/point";
  o.argv = {"/bin/sh", "-c",
            "cat " + target + "/hello; echo; ls " + hidden +
                " | wc -l; "
                "touch " +
                target + "/w 2>/dev/null && echo writable || echo read-only"};
  o.mounts.push_back({src, target, true});
  o.hide.push_back(hidden);
  o.stdout_ = Stdio::pipe();
  auto p = Process::spawn(o);
  ASSERT_TRUE(p) << p.error().message();
  std::string out = read_all(p->stdout_fd());
  EXPECT_TRUE(p->wait().success());
  EXPECT_EQ(out, "from source\n0\nread-only\n");
  // Outside the child nothing changed: the hidden file is there, the target is empty.
  std::ifstream secret(hidden + "/secret");
  EXPECT_TRUE(secret.good());
  std::ifstream through(target + "/hello");
  EXPECT_FALSE(through.good());
  std::filesystem::remove_all(base);
}

TEST(ProcessNamespaces, NothingOutlivesPidOneOfANewPidNamespace) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "PID namespaces need root";
  }
  SpawnOptions o;
  // PID 1 starts a grandchild, reports its host pid through /proc, then exits.
  o.argv = {"/bin/sh", "-c", "sleep 60 & echo $$; wait"};
  o.new_pid_namespace = true;
  o.stdout_ = Stdio::pipe();
  auto p = Process::spawn(o);
  ASSERT_TRUE(p) << p.error().message();
  char buf[16] = {};
  ASSERT_GT(::read(p->stdout_fd(), buf, sizeof buf - 1), 0);
  EXPECT_EQ(std::string(buf), "1\n");  // it is PID 1 in its namespace
  // Find the grandchild (a child of p) on the host.
  pid_t grandchild = 0;
  for (int i = 0; i < 200 && grandchild == 0; ++i) {
    std::ifstream children("/proc/" + std::to_string(p->pid()) + "/task/" +
                           std::to_string(p->pid()) + "/children");
    children >> grandchild;
    if (grandchild == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(::kill(p->pid(), SIGKILL), 0);
  (void)p->wait();
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(grandchild, 0) != 0;
    if (!gone) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(gone) << "the grandchild outlived PID 1 of its namespace";
}

TEST(ProcessNamespaces, ChildJoinsANetworkNamespaceAndGetsAHostName) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "namespaces need root";
  }
  auto ns = create_netns();
  ASSERT_TRUE(ns) << ns.error().message();
  SpawnOptions o;
  // Only a loopback (down) in a fresh namespace; and the host name given.
  o.argv = {"/bin/sh", "-c",
            "ls /sys/class/net 2>/dev/null | tr '\\n' ' '; readlink /proc/self/ns/net; hostname"};
  o.netns_fd = ns->get();
  o.hostname = "pod-a";
  o.stdout_ = Stdio::pipe();
  auto p = Process::spawn(o);
  ASSERT_TRUE(p) << p.error().message();
  std::string out = read_all(p->stdout_fd());
  EXPECT_TRUE(p->wait().success());
  std::string want_ns = "net:[" + std::to_string(netns_inode(ns->get())) + "]";
  EXPECT_NE(out.find(want_ns), std::string::npos) << out;
  EXPECT_NE(out.find("\npod-a\n"), std::string::npos) << out;
  // Ours did not change.
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name), 0);
  EXPECT_NE(std::string(name), "pod-a");
  auto mine = current_netns();
  ASSERT_TRUE(mine);
  EXPECT_NE(netns_inode(mine->get()), netns_inode(ns->get()));
}

TEST(ProcessNamespaces, BadNetnsFdIsASpawnError) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "namespaces need root";
  }
  Fd not_a_namespace(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  SpawnOptions o;
  o.argv = {"/bin/true"};
  o.netns_fd = not_a_namespace.get();
  auto p = Process::spawn(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().value(), EINVAL);
}

TEST(Netns, ScopeEntersAndReturns) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "namespaces need root";
  }
  auto home = current_netns();
  auto other = create_netns();
  ASSERT_TRUE(home && other);
  // create_netns left this thread where it was.
  EXPECT_EQ(netns_inode(current_netns()->get()), netns_inode(home->get()));
  {
    NetnsScope in(other->get());
    ASSERT_FALSE(in.error());
    EXPECT_EQ(netns_inode(current_netns()->get()), netns_inode(other->get()));
  }
  EXPECT_EQ(netns_inode(current_netns()->get()), netns_inode(home->get()));
  auto mine = netns_of(::getpid());
  ASSERT_TRUE(mine);
  EXPECT_EQ(netns_inode(mine->get()), netns_inode(home->get()));
}

}  // namespace
}  // namespace tender

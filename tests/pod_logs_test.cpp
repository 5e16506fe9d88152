// `tender pod run`'s logs and run directory: rotation, the terminal view, `tender pod logs -f`
// across rotations and deletions, and where a run keeps them.
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "pod_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

TEST_F(PodTest, LogsRotateBySizeAndShowOnTheTerminalView) {
  std::string file = dir_.write("pod.yaml", R"Y(
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; echo done-talking; exec sleep 1000"]
)Y");
  // With the terminal view on (no --no-log-view).
  runner_.emplace(std::vector<std::string>{"pod", "run", file, "--admin", "127.0.0.1:0",
                                           "--run-dir", d() + "/run", "--log-max-bytes", "1KiB",
                                           "--log-keep", "2"});
  std::string view = runner_->stdout_until("chatty/app | done-talking");
  EXPECT_NE(view.find("chatty/app | line-0-padding"), std::string::npos) << view;
  std::string logs = d() + "/run/pods/chatty/logs/app.log";
  ASSERT_TRUE(eventually([&] { return slurp(logs).find("done-talking") != std::string::npos; }));
  EXPECT_TRUE(std::filesystem::exists(logs + ".1"));
  EXPECT_TRUE(std::filesystem::exists(logs + ".2"));
  EXPECT_FALSE(std::filesystem::exists(logs + ".3"));
  for (const auto& f : {logs, logs + ".1", logs + ".2"}) {
    EXPECT_LE(std::filesystem::file_size(f), 1024u) << f;
  }
  // The newest lines are all there, in order, across the kept files.
  std::string kept = slurp(logs + ".2") + slurp(logs + ".1") + slurp(logs);
  EXPECT_NE(kept.find("line-199-padding-padding-padding\ndone-talking\n"), std::string::npos);
}

TEST_F(PodTest, LogsFollowPrintsLinesAsTheyCome) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: later}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "echo first; while ! test -f )Y" +
      d() + R"Y(/go; do sleep 0.05; done; echo second; exec sleep 1000"]
)Y");
  std::string admin = "127.0.0.1:" + std::to_string(runner_->port("admin"));
  SpawnOptions o;
  o.argv = {TENDER_BINARY, "pod", "logs", "later", "-f", "--admin", admin};
  o.stdout_ = Stdio::pipe();
  auto follow = Process::spawn(o);
  ASSERT_TRUE(follow) << follow.error().message();
  std::string seen;
  auto read_until = [&](const std::string& needle) {
    return eventually([&] {
      pollfd pfd{follow->stdout_fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) {
        char buf[4096];
        ssize_t n = ::read(follow->stdout_fd(), buf, sizeof buf);
        if (n > 0) {
          seen.append(buf, static_cast<std::size_t>(n));
        }
      }
      return seen.find(needle) != std::string::npos;
    });
  };
  ASSERT_TRUE(read_until("first\n")) << seen;
  EXPECT_EQ(seen.find("second"), std::string::npos);
  dir_.write("go", "");
  EXPECT_TRUE(read_until("second\n")) << seen;
  EXPECT_FALSE(follow->try_wait().has_value()) << "logs -f stopped following";
}

// Runs a pod whose container logs "ready", then, once the test creates `go`, the file `burst`
// at once, with the log rotated at 1KiB and `keep` rotated files kept; follows it with
// `tender pod logs -f` from before the burst, and returns what that printed by the time the
// last line of the burst came out (or everything after 20 s).
std::string follow_through_rotation(PodTest& t, const TempDir& dir, int keep,
                                    const std::string& burst) {
  std::string burst_file = dir.write("burst", burst);
  t.run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: rot}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "echo ready; while ! test -f )Y" +
            dir.path() + R"Y(/go; do sleep 0.05; done; cat )Y" + burst_file +
            R"Y(; exec sleep 1000"]
)Y",
        {"--log-max-bytes", "1KiB", "--log-keep", std::to_string(keep)});
  std::string admin = "127.0.0.1:" + std::to_string(t.admin_port());
  SpawnOptions o;
  o.argv = {TENDER_BINARY, "pod", "logs", "rot", "-f", "--admin", admin};
  o.stdout_ = Stdio::pipe();
  auto follow = Process::spawn(o);
  EXPECT_TRUE(follow) << follow.error().message();
  if (!follow) {
    return "";
  }
  std::string seen;
  auto read_until = [&](const std::string& needle) {
    return eventually(
        [&] {
          pollfd pfd{follow->stdout_fd(), POLLIN, 0};
          if (::poll(&pfd, 1, 20) > 0) {
            char buf[65536];
            ssize_t n = ::read(follow->stdout_fd(), buf, sizeof buf);
            if (n > 0) {
              seen.append(buf, static_cast<std::size_t>(n));
            }
          }
          return seen.find(needle) != std::string::npos;
        },
        20s);
  };
  EXPECT_TRUE(read_until("ready\n")) << seen;
  dir.write("go", "");
  std::string last = burst.substr(burst.rfind('\n', burst.size() - 2) + 1);
  EXPECT_TRUE(read_until(last)) << "the last line never came; got " << seen.size() << " bytes";
  EXPECT_FALSE(follow->try_wait().has_value()) << "logs -f stopped following";
  return seen;
}

TEST_F(PodTest, LogsFollowPrintsEveryLineOnceAcrossManyRotationsByRename) {
  // ~40 rotations in one burst, faster than any poll: every rotated file (app.log.40 ...
  // app.log.1, then app.log) must be read in turn, each line printed once, in order.
  std::string burst;
  for (int i = 1; i <= 4000; ++i) {
    burst += "line-" + std::to_string(i) + "\n";
  }
  std::string seen = follow_through_rotation(*this, dir_, 100, burst);
  EXPECT_TRUE(seen == "ready\n" + burst)
      << "printed " << seen.size() << " bytes instead of " << burst.size() + 6;
}

TEST_F(PodTest, LogsFollowReadsANewFileLargerThanTheOldOffsetAfterDeletion) {
  // --log-keep 0: rotation deletes app.log and starts a new one. The old file ends at 900
  // bytes (a 200-byte line does not fit in 1KiB), and the new one reaches 1000 bytes: larger
  // than where reading stopped, which a follower comparing sizes takes for the same file.
  std::string burst;
  auto line = [](const std::string& tag, std::size_t len) {
    return tag + std::string(len - 1 - tag.size(), 'x') + "\n";
  };
  for (int i = 0; i < 9; ++i) {
    burst += line("old-" + std::to_string(i) + "-", 100);
  }
  burst += line("long-", 200);
  for (int i = 0; i < 8; ++i) {
    burst += line("new-" + std::to_string(i) + "-", 100);
  }
  std::string seen = follow_through_rotation(*this, dir_, 0, burst);
  EXPECT_EQ(seen, "ready\n" + burst);
  EXPECT_FALSE(std::filesystem::exists(d() + "/run/pods/rot/logs/app.log.1"));
}

// Without --run-dir, the run directory is $TMPDIR/tender-pod-PORT for the admin port: a run's
// logs stay there to read after it has exited, the next run on that port takes it over, and
// nothing piles up. With admin port 0 the directory is a new one, removed at the exit.
TEST(PodRunDir, TheDefaultIsOnePerAdminPortAndNothingPilesUp) {
  TempDir tmp;
  TempDir dir;
  // A pod whose one container writes `line` and runs until SIGTERM. The trap is set before the
  // line is written: as PID 1 of its namespace (as root), sh would ignore SIGTERM until then.
  auto manifest = [&](const std::string& line) {
    return dir.write("pod.yaml",
                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                     "    - name: a\n      command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; echo " +
                         line + "; while :; do sleep 0.05; done\"]\n");
  };
  auto slurp = [](const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  auto entries = [&] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
      out.push_back(e.path().filename().string());
    }
    return out;
  };
  // Runs the pod with `admin` until it has written `line`, then stops it; its run directory.
  auto run = [&](const std::string& admin, const std::string& line) {
    Tender runner(
        {"pod", "run", manifest(line), "--admin", admin, "--no-log-view", "--network", "host"},
        {"env", "TMPDIR=" + tmp.path(), TENDER_BINARY});
    auto st = json::parse(http(runner.port("admin"), "GET", "/statusz").body);
    std::string run_dir(st.at("status").at("run_dir").as_string());
    std::string log = run_dir + "/pods/p/logs/a.log";
    EXPECT_TRUE(eventually([&] { return slurp(log) == line + "\n"; })) << slurp(log);
    runner.signal(SIGTERM);
    auto exit = runner.wait_exit(30s);
    EXPECT_TRUE(exit && exit->success()) << (exit ? exit->describe() : "still running");
    return run_dir;
  };
  std::uint16_t port = free_port();
  ASSERT_NE(port, 0);
  std::string named = "tender-pod-" + std::to_string(port);
  std::string admin = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(run(admin, "first"), tmp.path() + "/" + named);
  // Kept after the exit, to be read (after the line, what sh says of its sleep killed by the
  // SIGTERM to its process group).
  std::string log = tmp.path() + "/" + named + "/pods/p/logs/a.log";
  EXPECT_EQ(slurp(log).rfind("first\n", 0), 0U) << slurp(log);
  EXPECT_EQ(entries(), std::vector<std::string>{named});
  // The next run on the port takes it over: the last run's log is replaced by its own (run()
  // waits for exactly "second\n").
  EXPECT_EQ(run(admin, "second"), tmp.path() + "/" + named);
  EXPECT_EQ(slurp(log).rfind("second\n", 0), 0U) << slurp(log);
  EXPECT_EQ(entries(), std::vector<std::string>{named});
  // Port 0: a directory of its own, gone when the runner has exited.
  std::string temporary = run("127.0.0.1:0", "third");
  EXPECT_EQ(temporary.rfind(tmp.path() + "/tender-pod-", 0), 0U) << temporary;
  EXPECT_NE(temporary, tmp.path() + "/" + named);
  EXPECT_FALSE(std::filesystem::exists(temporary));
  EXPECT_EQ(entries(), std::vector<std::string>{named});
}

}  // namespace
}  // namespace tender::testing

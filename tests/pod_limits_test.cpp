// `tender pod` under load: what a manifest may hold, file descriptors, and an admin API that
// answers while many pods start.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// A Deployment of `replicas` pods, each one container running `command` (sh -c) with POD_NAME.
std::string deployment(int replicas, const std::string& command) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: many}\nspec:\n  replicas: " +
         std::to_string(replicas) +
         "\n  template:\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n"
         "        - name: app\n          command: [\"sh\", \"-c\", \"" +
         command +
         "\"]\n          env:\n"
         "            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n";
}

class PodLoadTest : public ::testing::Test {
 protected:
  // Runs `manifest` on the host network with a fast restart backoff; `program` wraps tender
  // (e.g. prlimit).
  void run(const std::string& manifest, std::vector<std::string> program = {}) {
    std::string file = dir_.write("pods.yaml", manifest);
    if (!program.empty()) {
      program.push_back(TENDER_BINARY);
    }
    runner_.emplace(
        std::vector<std::string>{"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view",
                                 "--run-dir", dir_.path() + "/run", "--restart-backoff",
                                 "100ms:400ms", "--network", "host"},
        program);
  }
  // The containers of every pod, by state ("running", "waiting", "terminated"); nullopt when
  // /v1/pods does not answer.
  std::optional<std::vector<json::object>> containers() {
    auto r = http(runner_->port("admin"), "GET", "/v1/pods");
    if (r.status != 200) {
      return std::nullopt;
    }
    std::vector<json::object> out;
    const json::value pods = json::parse(r.body);
    for (const auto& p : pods.at("pods").as_array()) {
      for (const auto& c : p.at("containers").as_array()) {
        out.push_back(c.as_object());
      }
    }
    return out;
  }
  static bool running(const json::object& c) {
    return c.at("state").as_object().contains("running");
  }
  int count_running() {
    auto all = containers();
    return all ? static_cast<int>(std::count_if(all->begin(), all->end(), running)) : -1;
  }

  TempDir dir_;
  std::optional<Tender> runner_;
};

TEST_F(PodLoadTest, ManifestLimitsAreConfigErrorsThatNameTheFlag) {
  std::string env;
  for (int i = 0; i < 1001; ++i) {
    env += "            - {name: V" + std::to_string(i) + ", value: x}\n";
  }
  std::string file = dir_.write("env.yaml", deployment(1, "true") + env);
  auto r = run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view"});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_NE(r.err.find(file + ":1013: spec.template.spec.containers[0].env[1000]"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--max-env"), std::string::npos) << r.err;
  auto raised = run_tender({"pod", "validate", file, "--max-env", "2000"});
  EXPECT_EQ(raised.status.code, 0) << raised.err;

  std::string big =
      dir_.write("big.yaml", deployment(1, "true") + "# " + std::string(4 << 20, 'x') + "\n");
  r = run_tender({"pod", "validate", big});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_NE(r.err.find(big + ": larger than 4MiB"), std::string::npos) << r.err;
  EXPECT_EQ(run_tender({"pod", "validate", big, "--max-manifest-bytes", "8MiB"}).status.code, 0);

  r = run_tender(
      {"pod", "validate", dir_.write("p2.yaml", deployment(3, "true")), "--max-pods", "2"});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_NE(r.err.find("--max-pods"), std::string::npos) << r.err;
}

TEST_F(PodLoadTest, ScalingPastMaxPodsIsRefused) {
  std::string file = dir_.write("pods.yaml", deployment(2, "exec sleep 1000"));
  runner_.emplace(std::vector<std::string>{"pod", "run", file, "--admin", "127.0.0.1:0",
                                           "--no-log-view", "--run-dir", dir_.path() + "/run",
                                           "--network", "host", "--max-pods", "3"});
  auto r =
      http(runner_->port("admin"), "POST", "/v1/deployments/many/scale", {}, R"({"replicas": 4})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("--max-pods"), std::string::npos) << r.body;
  EXPECT_EQ(
      http(runner_->port("admin"), "POST", "/v1/deployments/many/scale", {}, R"({"replicas": 3})")
          .status,
      200);
}

// The runner raises its own descriptor limit, so 60 containers (four descriptors each) fit in
// a soft limit of 128; the containers still get 128.
TEST_F(PodLoadTest, TheRunnerRaisesItsFdLimitAndContainersKeepTheOriginal) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < 4096) {
    GTEST_SKIP() << "needs a hard limit of at least 4096 descriptors";
  }
  std::string out = dir_.path() + "/out";
  std::filesystem::create_directories(out);
  run(deployment(60, "ulimit -n > " + out + "/$(POD_NAME).tmp; mv " + out + "/$(POD_NAME).tmp " +
                         out + "/$(POD_NAME); exec sleep 1000"),
      {"prlimit", "--nofile=128:4096", "--"});
  ASSERT_TRUE(eventually([&] { return count_running() == 60; }, 60s))
      << count_running() << " running; " << runner_->stderr_text().substr(0, 4000);
  for (int i = 0; i < 60; ++i) {
    const std::string file = out + "/many-" + std::to_string(i);
    EXPECT_TRUE(eventually([&] { return std::filesystem::exists(file); })) << file;
    EXPECT_EQ(slurp(file), "128\n") << file;
  }
}

// With no room to raise it, running out of descriptors fails the containers that do not fit,
// each with a message that says so, and the admin API keeps the descriptors it needs.
TEST_F(PodLoadTest, RunningOutOfDescriptorsFailsContainersNotTheApi) {
  run(deployment(80, "exec sleep 1000"), {"prlimit", "--nofile=200:200", "--"});
  std::optional<std::vector<json::object>> all;
  ASSERT_TRUE(eventually(
      [&] {
        all = containers();
        if (!all || all->size() != 80) {
          return false;
        }
        // Every container has been tried: it runs, or it said why it cannot.
        return std::all_of(all->begin(), all->end(), [](const json::object& c) {
          return running(c) || json::serialize(c).find("too many open files") != std::string::npos;
        });
      },
      60s))
      << (all ? json::serialize(json::value_from(*all)).substr(0, 2000) : "no answer");
  const auto up = std::count_if(all->begin(), all->end(), running);
  EXPECT_GT(up, 0);
  EXPECT_LT(up, 80);
  EXPECT_EQ(http(runner_->port("admin"), "GET", "/healthz").status, 200);
  runner_->signal(SIGTERM);
  auto st = runner_->wait_exit(30s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
}

// Pods start a few at a time between admin requests: polling /v1/pods during the start of 400
// sees it progress. (Before, starting every pod was one burst of work ahead of any request, so
// the first answer came once all of them were running.)
TEST_F(PodLoadTest, ThePodsApiAnswersWhilePodsStart) {
  constexpr int kPods = 400;
  run(deployment(kPods, "exec sleep 1000"));
  std::set<int> seen;  // running counts seen strictly between none and all
  const auto deadline = std::chrono::steady_clock::now() + 100s;
  for (;;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << count_running() << " running";
    int n = count_running();
    ASSERT_GE(n, 0) << "no answer from /v1/pods";
    if (n == kPods) {
      break;
    }
    if (n > 0) {
      seen.insert(n);
    }
  }
  EXPECT_GE(seen.size(), 10u) << "answers seen during the start: " << seen.size();
}

// A SIGTERM while pods start stops the starts: the runner exits 0 with nothing left running,
// without starting every container first.
TEST_F(PodLoadTest, SigtermWhilePodsStartEndsTheRun) {
  constexpr int kPods = 400;
  std::string out = dir_.path() + "/started";
  std::filesystem::create_directories(out);
  run(deployment(kPods, "touch " + out + "/$(POD_NAME); exec sleep 7357"));
  ASSERT_TRUE(eventually([&] {
    int n = count_running();
    return n > 0 && n < kPods;
  }));
  runner_->signal(SIGTERM);
  auto st = runner_->wait_exit(60s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
  const auto started = std::distance(std::filesystem::directory_iterator(out),
                                     std::filesystem::directory_iterator());
  EXPECT_LT(started, kPods);
  EXPECT_EQ(run_command({"pgrep", "-f", "sleep 7357"}).status.code, 1)
      << "a container outlived the runner";
}

}  // namespace
}  // namespace tender::testing

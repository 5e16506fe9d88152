// Jobs with the real runner: completions and parallelism, a run that ends with its Jobs and
// says in its exit code whether they completed, backoffLimit, and a work queue (no
// completions) that ends when its pods do, and activeDeadlineSeconds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace fs = std::filesystem;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

// Each pod notes how many pods were running when it started (at most parallelism), appends its
// name, and exits with EXIT.
constexpr const char* kJob = R"y(apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: COMPLETIONS
  parallelism: 2
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
        - name: work
          command: ["sh", "-c", "touch OUT/running-$POD; ls OUT | grep -c '^running-' >> OUT/seen; sleep 0.2; echo $POD >> OUT/done; rm OUT/running-$POD; exit EXIT"]
          env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
)y";

std::string job_yaml(const std::string& out, int completions, int exit_code) {
  std::string yaml = replace_all(kJob, "OUT", out);
  yaml = replace_all(yaml, "COMPLETIONS", std::to_string(completions));
  return replace_all(yaml, "EXIT", std::to_string(exit_code));
}

TEST(PodJobs, AJobRunsItsCompletionsAtMostParallelismAtATimeAndTheRunExits0) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  fs::create_directories(out);
  const std::string file = dir.write("job.yaml", job_yaml(out, 5, 0));
  RunResult r = run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view",
                            "--network", "host", "--restart-backoff", "50ms:200ms"},
                           60s);
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << r.err;
  std::vector<std::string> done = lines(slurp(out + "/done"));
  EXPECT_EQ(std::set<std::string>(done.begin(), done.end()),
            (std::set<std::string>{"count-0", "count-1", "count-2", "count-3", "count-4"}));
  for (const std::string& n : lines(slurp(out + "/seen"))) {
    EXPECT_LE(std::stoi(n), 2) << slurp(out + "/seen");
  }
  EXPECT_NE(r.err.find("job complete job=count succeeded=5"), std::string::npos) << r.err;
}

TEST(PodJobs, PastItsBackoffLimitTheJobFailsAndTheRunExits1) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  fs::create_directories(out);
  const std::string file = dir.write("job.yaml", job_yaml(out, 3, 3));
  RunResult r = run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view",
                            "--network", "host", "--restart-backoff", "50ms:200ms"},
                           60s);
  EXPECT_TRUE(r.status.exited && r.status.code == 1) << r.status.describe() << r.err;
  EXPECT_NE(r.err.find("job failed job=count reason=BackoffLimitExceeded"), std::string::npos)
      << r.err;
  // backoffLimit 1: the second failure ends it, and no pod starts after.
  EXPECT_LE(lines(slurp(out + "/done")).size(), 3U);
  EXPECT_GE(lines(slurp(out + "/done")).size(), 2U);
}

TEST(PodJobs, PastItsActiveDeadlineTheJobFailsItsPodsAreStoppedAndTheRunExits1) {
  TempDir dir;
  const std::string file = dir.write("slow.yaml", R"y(apiVersion: batch/v1
kind: Job
metadata: {name: slow}
spec:
  activeDeadlineSeconds: 1
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: work, command: [sleep, "1000"]}]
)y");
  RunResult r = run_tender(
      {"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--network", "host"}, 60s);
  EXPECT_TRUE(r.status.exited && r.status.code == 1) << r.status.describe() << r.err;
  EXPECT_NE(r.err.find("job failed job=slow reason=DeadlineExceeded"), std::string::npos) << r.err;
}

TEST(PodJobs, AWorkQueueEndsWhenItsPodsHaveAndOneSucceeded) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  fs::create_directories(out + "/queue");
  fs::create_directories(out + "/taken");
  // Two workers take items (files) until none is left; each exits 0 when the queue is empty.
  for (int i = 0; i < 6; ++i) {
    std::ofstream(out + "/queue/item-" + std::to_string(i)) << i;
  }
  const std::string file = dir.write("queue.yaml", replace_all(R"y(apiVersion: batch/v1
kind: Job
metadata: {name: queue}
spec:
  parallelism: 2
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: worker
          command: ["sh", "-c", "for f in OUT/queue/item-*; do mv $f OUT/taken/ 2>/dev/null && echo $f >> OUT/worked; done; exit 0"]
)y",
                                                               "OUT", out));
  RunResult r = run_tender(
      {"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--network", "host"}, 60s);
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << r.err;
  EXPECT_EQ(lines(slurp(out + "/worked")).size(), 6U);
  EXPECT_TRUE(fs::is_empty(out + "/queue"));
}

TEST(PodJobs, AJobBesideADeploymentLeavesTheRunServing) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  fs::create_directories(out);
  const std::string file = dir.write(
      "both.yaml", job_yaml(out, 1, 0) +
                       "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                       "spec:\n  replicas: 1\n  template:\n    spec:\n"
                       "      terminationGracePeriodSeconds: 1\n"
                       "      containers: [{name: app, command: [sleep, '1000']}]\n");
  Tender runner(
      {"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--network", "host"});
  ASSERT_TRUE(eventually(
      [&] {
        return http(runner.port("admin"), "GET", "/statusz").body.find("\"phase\":\"Complete\"") !=
               std::string::npos;
      },
      30s))
      << http(runner.port("admin"), "GET", "/statusz").body;
  // Still serving: not draining, the Deployment's pod still there.
  EXPECT_EQ(http(runner.port("admin"), "GET", "/readyz").status, 200);
  EXPECT_EQ(http(runner.port("admin"), "GET", "/v1/pods/web-0").status, 200);
  runner.signal(SIGTERM);
  ASSERT_TRUE(runner.wait_exit(20s));
}

}  // namespace
}  // namespace tender::testing

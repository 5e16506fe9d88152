// `tender pod run` with real processes: restarts, probes, ordering, termination, status API.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "pod_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

TEST_F(PodTest, CrashingContainerIsRestartedWithBackoff) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "echo run >> )Y" +
      d() + R"Y(/runs; exit 3"]
)Y");
  ASSERT_TRUE(wait_container("crashy", "app", [](const json::value& c) {
    return c.at("restartCount").as_int64() >= 2;
  })) << json::serialize(container("crashy", "app"));
  json::value c = container("crashy", "app");
  const auto& last = c.at("lastState").as_object().contains("terminated")
                         ? c.at("lastState").at("terminated")
                         : c.at("state").at("terminated");
  EXPECT_EQ(last.at("exitCode").as_int64(), 3);
  // The third run may not have written its line yet when its start is counted.
  EXPECT_TRUE(eventually([&] {
    std::string runs = slurp(d() + "/runs");
    return std::count(runs.begin(), runs.end(), '\n') >= 3;
  }));
  auto metrics = http(runner_->port("admin"), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("tender_pod_container_restarts_total{pod=\"crashy\",container=\"app\"}"),
            std::string::npos)
      << metrics;
}

TEST_F(PodTest, RestartPolicyNeverAndOnFailure) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
    - name: app
      command: ["sh", "-c", "exit 4"]
---
apiVersion: v1
kind: Pod
metadata: {name: retry}
spec:
  restartPolicy: OnFailure
  containers:
    - name: app
      command: ["sh", "-c", "n=$(cat )Y" +
      d() + R"Y(/n 2>/dev/null || echo 0); echo $((n+1)) > )Y" + d() + R"Y(/n; test $n -ge 2"]
)Y");
  ASSERT_TRUE(eventually([&] {
    auto p = pod("once");
    return !p.is_null() && p.at("phase").as_string() == "Failed";
  }));
  EXPECT_EQ(container("once", "app").at("restartCount").as_int64(), 0);
  ASSERT_TRUE(eventually([&] {
    auto p = pod("retry");
    return !p.is_null() && p.at("phase").as_string() == "Succeeded";
  }));
  EXPECT_EQ(container("retry", "app").at("restartCount").as_int64(), 2);
}

TEST_F(PodTest, FieldRefAndVarExpansionWithDeploymentReplicas) {
  run(R"Y(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers:
        - name: app
          command: ["sh", "-c"]
          args: ["echo $(POD_NAME) $(NS) $(TIER) $(GREETING) '$$(POD_NAME)' > )Y" +
      d() + R"Y(/$(POD_NAME).txt; exec sleep 1000"]
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: TIER, valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}}
            - {name: GREETING, value: "hi-$(POD_NAME)"}
)Y");
  for (int i = 0; i < 3; ++i) {
    std::string name = "web-" + std::to_string(i);
    ASSERT_TRUE(eventually([&] {
      return slurp(d() + "/" + name + ".txt").find('\n') != std::string::npos;
    })) << name;
    EXPECT_EQ(slurp(d() + "/" + name + ".txt"),
              name + " default front hi-" + name + " $(POD_NAME)\n");
  }
  auto list = json::parse(http(runner_->port("admin"), "GET", "/v1/pods").body);
  EXPECT_EQ(list.at("pods").as_array().size(), 3u);
}

TEST_F(PodTest, PreStopRunsBeforeSigtermAndSigkillEndsTheGracePeriod) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: polite}
spec:
  terminationGracePeriodSeconds: 10
  containers:
    - name: app
      command: ["sh", "-c", "trap 'echo term >> )Y" +
      d() + R"Y(/order; exit 0' TERM; touch )Y" + d() + R"Y(/armed; while :; do sleep 0.05; done"]
      lifecycle:
        preStop:
          exec:
            command: ["sh", "-c", "echo prestop >> )Y" +
      d() + R"Y(/order"]
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      command: ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]
)Y");
  pid_t stubborn = 0;
  ASSERT_TRUE(wait_container("stubborn", "app", [&](const json::value& c) {
    if (!c.as_object().contains("pid")) {
      return false;
    }
    stubborn = static_cast<pid_t>(c.at("pid").as_int64());
    return true;
  }));
  ASSERT_TRUE(wait_container("polite", "app",
                             [](const json::value& c) { return c.as_object().contains("pid"); }));
  // Its trap is set: as PID 1 of its namespace, before that it would ignore SIGTERM.
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(d() + "/armed"); }));
  runner_->signal(SIGTERM);
  auto st = runner_->wait_exit(20s);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code, 0);
  EXPECT_EQ(slurp(d() + "/order"), "prestop\nterm\n");
  EXPECT_FALSE(pid_alive(stubborn));
  EXPECT_NE(runner_->stderr_text().find("grace period over; killing"), std::string::npos);
}

TEST_F(PodTest, NativeSidecarStartsFirstAndStopsLast) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: sc}
spec:
  initContainers:
    - name: setup
      command: ["sh", "-c", "echo setup >> )Y" +
      d() + R"Y(/order"]
    - name: side
      restartPolicy: Always
      command: ["sh", "-c", "sleep 0.3; touch )Y" +
      d() + R"Y(/side-up; trap 'echo side-term >> )Y" + d() +
      R"Y(/order; exit 0' TERM; while :; do sleep 0.05; done"]
      startupProbe:
        exec: {command: ["test", "-f", ")Y" +
      d() + R"Y(/side-up"]}
        periodSeconds: 1
        failureThreshold: 30
  containers:
    - name: main
      command: ["sh", "-c", "test -f )Y" +
      d() + R"Y(/side-up && echo main-saw-side >> )Y" + d() +
      R"Y(/order; trap 'echo main-term >> )Y" + d() +
      R"Y(/order; exit 0' TERM; while :; do sleep 0.05; done"]
)Y");
  ASSERT_TRUE(eventually([&] {
    return slurp(d() + "/order").find("main-saw-side") != std::string::npos;
  })) << slurp(d() + "/order");
  ASSERT_TRUE(eventually([&] {
    auto p = pod("sc");
    return !p.is_null() && p.at("ready").as_bool();
  }));
  runner_->signal(SIGTERM);
  ASSERT_TRUE(runner_->wait_exit(20s).has_value());
  EXPECT_EQ(slurp(d() + "/order"), "setup\nmain-saw-side\nmain-term\nside-term\n");
}

TEST_F(PodTest, ReadinessFlipsTheReadyConditionBothWays) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: rd}
spec:
  containers:
    - name: app
      command: ["sleep", "1000"]
      readinessProbe:
        exec: {command: ["test", "-f", ")Y" +
      d() + R"Y(/ready"]}
        periodSeconds: 1
        failureThreshold: 1
)Y");
  auto ready = [&](bool want) {
    return eventually([&] {
      auto p = pod("rd");
      return !p.is_null() && p.at("ready").as_bool() == want &&
             p.at("conditions").at(0).at("status").as_string() == (want ? "True" : "False");
    });
  };
  EXPECT_TRUE(ready(false));
  dir_.write("ready", "");
  EXPECT_TRUE(ready(true));
  EXPECT_TRUE(
      eventually([&] { return http(runner_->port("admin"), "GET", "/readyz").status == 200; }));
  std::remove((d() + "/ready").c_str());
  EXPECT_TRUE(ready(false));
  // The runner's readiness follows within a few milliseconds (it is worked out at most every 20).
  EXPECT_TRUE(
      eventually([&] { return http(runner_->port("admin"), "GET", "/readyz").status == 503; }));
}

TEST_F(PodTest, LivenessFailureOnAHungProcessRestartsIt) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      command: [")Y" TENDER_BINARY
      R"Y(", "echo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
      livenessProbe:
        exec: {command: ["sh", "-c", "test ! -f )Y" +
      d() + R"Y(/hang"]}
        periodSeconds: 1
        failureThreshold: 2
)Y");
  ASSERT_TRUE(wait_container("live", "web", [](const json::value& c) {
    return c.at("probes").at("liveness").at("result").as_string() == "success";
  }));
  dir_.write("hang", "");
  // Freeze the process too, as a hung process would be.
  auto r = http(runner_->port("admin"), "POST", "/v1/pods/live/containers/web/signal?signal=STOP");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(wait_container(
      "live", "web", [](const json::value& c) { return c.at("restartCount").as_int64() >= 1; }));
  EXPECT_NE(runner_->stderr_text().find("liveness probe failed"), std::string::npos);
}

TEST_F(PodTest, StartupProbeGatesLiveness) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      command: ["sleep", "1000"]
      startupProbe:
        exec: {command: ["test", "-f", ")Y" +
      d() + R"Y(/started"]}
        periodSeconds: 1
        failureThreshold: 100
      livenessProbe:
        exec: {command: ["false"]}
        periodSeconds: 1
        failureThreshold: 1
)Y");
  // While the startup probe fails, liveness never runs, so the container is not restarted.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(wait_container("slow", "app", [&](const json::value& c) {
      return c.at("probes").at("startup").at("failures").as_int64() >= i + 1;
    }));
    json::value c = container("slow", "app");
    EXPECT_EQ(c.at("restartCount").as_int64(), 0);
    EXPECT_FALSE(c.at("started").as_bool());
    EXPECT_EQ(c.at("probes").at("liveness").at("result").as_string(), "pending");
  }
  dir_.write("started", "");
  ASSERT_TRUE(wait_container(
      "slow", "app", [](const json::value& c) { return c.at("restartCount").as_int64() >= 1; }));
}

// The host pid of the first child of container `c`'s main process (its grandchild).
pid_t grandchild_of(PodTest& t, const std::function<json::value()>& get) {
  pid_t gc = 0;
  eventually([&] {
    json::value c = get();
    if (c.is_null() || !c.as_object().contains("pid")) {
      return false;
    }
    auto pid = std::to_string(c.at("pid").as_int64());
    std::ifstream children("/proc/" + pid + "/task/" + pid + "/children");
    return static_cast<bool>(children >> gc);
  });
  (void)t;
  return gc;
}

TEST_F(PodTest, NothingSurvivesTermination) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: forker}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      command: ["sh", "-c", "sleep 1000 & wait"]
)Y");
  pid_t gc = grandchild_of(*this, [&] { return container("forker", "app"); });
  ASSERT_GT(gc, 0);
  ASSERT_TRUE(pid_alive(gc));
  runner_->signal(SIGTERM);
  ASSERT_TRUE(runner_->wait_exit(20s).has_value());
  EXPECT_TRUE(eventually([&] { return !pid_alive(gc); }));
}

TEST_F(PodTest, NothingSurvivesASigkilledRunner) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "a PID namespace per container needs root";
  }
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: orphan}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "sleep 1000 & wait"]
)Y");
  json::value c;
  ASSERT_TRUE(eventually([&] {
    c = container("orphan", "app");
    return !c.is_null() && c.as_object().contains("pid");
  }));
  pid_t child = static_cast<pid_t>(c.at("pid").as_int64());
  pid_t gc = grandchild_of(*this, [&] { return container("orphan", "app"); });
  ASSERT_GT(gc, 0);
  runner_->signal(SIGKILL);
  ASSERT_TRUE(runner_->wait_exit(20s).has_value());
  EXPECT_TRUE(eventually([&] { return !pid_alive(child) && !pid_alive(gc); }))
      << "a container process outlived the runner";
}

TEST_F(PodTest, SignalAndRestartEndpoints) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: sig}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      command: ["sleep", "1000"]
)Y");
  ASSERT_TRUE(wait_container("sig", "app",
                             [](const json::value& c) { return c.as_object().contains("pid"); }));
  auto port = runner_->port("admin");
  EXPECT_EQ(http(port, "POST", "/v1/pods/sig/containers/app/signal?signal=BOGUS").status, 400);
  EXPECT_EQ(http(port, "POST", "/v1/pods/nope/containers/app/signal").status, 404);
  EXPECT_EQ(http(port, "POST", "/v1/pods/sig/containers/app/restart").status, 202);
  ASSERT_TRUE(wait_container("sig", "app", [](const json::value& c) {
    return c.at("restartCount").as_int64() == 1 && c.as_object().contains("pid");
  }));
  EXPECT_EQ(
      http(port, "POST", "/v1/pods/sig/containers/app/signal", {}, R"Y({"signal":"KILL"})Y").status,
      200);
  ASSERT_TRUE(wait_container(
      "sig", "app", [](const json::value& c) { return c.at("restartCount").as_int64() == 2; }));
  auto last = container("sig", "app").at("lastState").at("terminated");
  EXPECT_EQ(last.at("signal").as_int64(), SIGKILL);
}

TEST_F(PodTest, ConfigFileUnknownKeysAreWarnedAndConfigzShowsTheFlags) {
  std::string cfg = dir_.write("runner.yaml", "log_level: info\nscrape_intervall: 2s\n");
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: idle}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      command: ["sleep", "1000"]
)Y",
      {"--config", cfg, "--scrape-interval", "2s"});
  auto configz = json::parse(http(runner_->port("admin"), "GET", "/configz").body);
  EXPECT_EQ(configz.at("common").at("config_file").as_string(), cfg);
  EXPECT_EQ(configz.at("config").at("scrape_interval").as_string(), "2s");
  std::string err = runner_->stderr_text();
  EXPECT_NE(err.find("unknown configuration field ignored"), std::string::npos) << err;
  EXPECT_NE(err.find("scrape_intervall"), std::string::npos) << err;
  EXPECT_EQ(err.find("log_level"), std::string::npos) << err;
}

TEST_F(PodTest, ScaleUpAndDownThroughTheApiAndTheCli) {
  run(R"Y(
apiVersion: apps/v1
kind: Deployment
metadata: {name: w}
spec:
  replicas: 1
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          command: ["sleep", "1000"]
)Y");
  auto port = runner_->port("admin");
  auto count = [&] {
    return json::parse(http(port, "GET", "/v1/pods").body).at("pods").as_array().size();
  };
  EXPECT_EQ(count(), 1u);
  auto r = http(port, "POST", "/v1/deployments/w/scale", {}, R"Y({"replicas": 3})Y");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(eventually([&] { return count() == 3; }));
  EXPECT_TRUE(wait_container("w-2", "app",
                             [](const json::value& c) { return c.as_object().contains("pid"); }));
  auto cli = run_tender({"pod", "scale", "w", "1", "--admin", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(cli.status.code, 0) << cli.err;
  EXPECT_TRUE(eventually([&] { return count() == 1; }));
  EXPECT_FALSE(pod("w-0").is_null());
  EXPECT_EQ(http(port, "POST", "/v1/deployments/w/scale", {}, "nope").status, 400);
  EXPECT_EQ(http(port, "POST", "/v1/deployments/none/scale", {}, R"Y({"replicas": 1})Y").status,
            404);
}

// A name the runner's own environment has and the manifest sets is defined once, with the
// manifest's value: with two definitions getenv() would take the runner's, the first.
TEST_F(PodTest, TheManifestsEnvReplacesTheRunnersOwn) {
  ::setenv("PODTEST_DUP", "runner", 1);
  ::setenv("PODTEST_KEPT", "kept", 1);
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: envs}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "printenv PODTEST_DUP PODTEST_KEPT; echo done; exec sleep 1000"]
      env: [{name: PODTEST_DUP, value: manifest}]
)Y");
  ::unsetenv("PODTEST_DUP");
  ::unsetenv("PODTEST_KEPT");
  std::string admin = "127.0.0.1:" + std::to_string(runner_->port("admin"));
  RunResult r;
  ASSERT_TRUE(eventually([&] {
    r = run_tender({"pod", "logs", "envs", "--admin", admin});
    return r.out.find("done") != std::string::npos;
  })) << r.out;
  // printenv prints every definition of a name, in order.
  EXPECT_EQ(r.out.find("runner"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("manifest\nkept\ndone"), std::string::npos) << r.out;
}

TEST_F(PodTest, StatusAndLogsCommands) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "echo hello out; echo hello err >&2; exec sleep 1000"]
)Y");
  std::string admin = "127.0.0.1:" + std::to_string(runner_->port("admin"));
  ASSERT_TRUE(eventually([&] {
    auto r = run_tender({"pod", "logs", "talk", "--admin", admin});
    return r.out.find("hello out") != std::string::npos &&
           r.out.find("hello err") != std::string::npos;
  }));
  auto st = run_tender({"pod", "status", "--admin", admin});
  EXPECT_EQ(st.status.code, 0);
  EXPECT_NE(st.out.find("talk"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("running"), std::string::npos) << st.out;
  auto missing = run_tender({"pod", "logs", "talk", "-c", "nope", "--admin", admin});
  EXPECT_EQ(missing.status.code, 2);
  // A pod that is not there (scaled away, deleted, mistyped): a message naming it and the pods
  // that are, not a bare 404.
  auto gone = run_tender({"pod", "logs", "talk-1", "--admin", admin});
  EXPECT_EQ(gone.status.code, 2);
  EXPECT_NE(gone.err.find("no pod talk-1"), std::string::npos) << gone.err;
  EXPECT_NE(gone.err.find("pods: talk"), std::string::npos) << gone.err;
  EXPECT_EQ(gone.err.find("404"), std::string::npos) << gone.err;
  // TENDER_POD_ADMIN names the runner when --admin is not given; a bad one is a usage error.
  auto by_env = run_command({"env", "TENDER_POD_ADMIN=" + admin, TENDER_BINARY, "pod", "status"});
  EXPECT_EQ(by_env.status.code, 0) << by_env.err;
  EXPECT_NE(by_env.out.find("talk"), std::string::npos) << by_env.out;
  auto bad = run_command({"env", "TENDER_POD_ADMIN=nowhere", TENDER_BINARY, "pod", "status"});
  EXPECT_EQ(bad.status.code, 2);
  EXPECT_NE(bad.err.find("TENDER_POD_ADMIN: not HOST:PORT: \"nowhere\""), std::string::npos)
      << bad.err;
}

TEST_F(PodTest, EmptyDirIsSharedWithinAPodAndPrivateToIt) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "volume mounts need root";
  }
  std::string m = d() + "/m";  // the mountPath (created inside the test's directory)
  std::string out = d() + "/out";
  std::filesystem::create_directories(out);
  std::filesystem::create_directories(d() + "/host");
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: shared, emptyDir: {}}
    - {name: host, hostPath: {path: ")Y" +
      d() + R"Y(/host"}}
  containers:
    - name: writer
      command: ["sh", "-c", "echo hi > )Y" +
      m + R"Y(/a; echo from-pod > )Y" + d() + R"Y(/h/file; exec sleep 1000"]
      volumeMounts:
        - {name: shared, mountPath: ")Y" +
      m + R"Y("}
        - {name: host, mountPath: ")Y" +
      d() + R"Y(/h"}
    - name: reader
      command: ["sh", "-c", "while ! test -f )Y" +
      m + R"Y(/a; do sleep 0.05; done; cat )Y" + m + R"Y(/a > )Y" + out + R"Y(/seen; touch )Y" + m +
      R"Y(/b 2>/dev/null || echo read-only > )Y" + out + R"Y(/ro; exec sleep 1000"]
      volumeMounts:
        - {name: shared, mountPath: ")Y" +
      m + R"Y(", readOnly: true}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: shared, emptyDir: {}}
  containers:
    - name: other
      command: ["sh", "-c", "while ! test -f )Y" +
      out + R"Y(/seen; do sleep 0.05; done; ls -A )Y" + m + R"Y( | wc -l > )Y" + out +
      R"Y(/b-count; exec sleep 1000"]
      volumeMounts:
        - {name: shared, mountPath: ")Y" +
      m + R"Y("}
)Y");
  ASSERT_TRUE(eventually([&] {
    return !slurp(out + "/b-count").empty() && !slurp(out + "/ro").empty();
  })) << runner_->stderr_text();
  EXPECT_EQ(slurp(out + "/seen"), "hi\n");             // both containers of pod a share it
  EXPECT_EQ(slurp(out + "/ro"), "read-only\n");        // readOnly holds
  EXPECT_EQ(slurp(out + "/b-count"), "0\n");           // pod b has its own, empty
  EXPECT_FALSE(std::filesystem::exists(m + "/a"));     // nothing leaks onto the host path
  EXPECT_EQ(slurp(d() + "/host/file"), "from-pod\n");  // hostPath writes reach the host
}

TEST_F(PodTest, HostPathTypesAreAppliedBeforeTheContainerStarts) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "volume mounts need root";
  }
  std::string made = d() + "/made/deeper";  // DirectoryOrCreate: made with its parents
  std::string out = d() + "/out";
  std::filesystem::create_directories(out);
  std::string target = d() + "/target.txt";  // a file mounted over a file
  std::ofstream(target).flush();
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: made, hostPath: {path: ")Y" +
      made + R"Y(", type: DirectoryOrCreate}}
    - {name: out, hostPath: {path: ")Y" +
      out + R"Y(", type: Directory}}
    - {name: missing, hostPath: {path: ")Y" +
      d() + R"Y(/nothing", type: Directory}}
    - {name: file, hostPath: {path: ")Y" +
      out + R"Y(/made.txt", type: FileOrCreate}}
  containers:
    - name: writer
      command: ["sh", "-c", "echo ok > /m/file; echo in-file > )Y" +
      target + R"Y(; exec sleep 1000"]
      volumeMounts: [{name: made, mountPath: /m}, {name: file, mountPath: ")Y" +
      target + R"Y("}]
    - name: strict
      command: ["sleep", "1000"]
      volumeMounts: [{name: missing, mountPath: /n}]
)Y");
  ASSERT_TRUE(eventually([&] { return slurp(made + "/file") == "ok\n"; }))
      << runner_->stderr_text();
  EXPECT_EQ(std::filesystem::status(made).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0755));
  // FileOrCreate: an empty file made first, then mounted.
  EXPECT_TRUE(eventually([&] { return slurp(out + "/made.txt") == "in-file\n"; }));
  // A Directory that is not there is not made: the container does not start, and says why.
  ASSERT_TRUE(eventually([&] {
    return runner_->stderr_text().find("hostPath volume missing: " + d() +
                                       "/nothing does not exist") != std::string::npos;
  })) << runner_->stderr_text();
  EXPECT_FALSE(std::filesystem::exists(d() + "/nothing"));
  EXPECT_TRUE(container("a", "strict").at("state").as_object().contains("waiting"))
      << json::serialize(container("a", "strict"));
}

TEST_F(PodTest, ContainerMetricsAreReexposedWithPodAndContainerLabels) {
  std::string manifest;
  for (const char* name : {"ma", "mb"}) {
    std::string port = std::to_string(free_port());
    manifest += R"Y(
---
apiVersion: v1
kind: Pod
metadata:
  name: )Y" + std::string(name) +
                R"Y(
  annotations: {prometheus.io/port: ")Y" +
                port +
                R"Y("}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: side
      command: ["sleep", "1000"]
    - name: echo
      command: [")Y" TENDER_BINARY
                R"Y(", "echo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:)Y" +
                port + R"Y("]
      ports: [{containerPort: )Y" +
                port + R"Y(}]
)Y";
  }
  run(manifest, {"--scrape-interval", "200ms"});
  std::string body;
  ASSERT_TRUE(eventually([&] {
    body = http(runner_->port("admin"), "GET", "/metrics").body;
    return body.find("tender_pod_scrape_up{pod=\"ma\",container=\"echo\"} 1") !=
               std::string::npos &&
           body.find("tender_pod_scrape_up{pod=\"mb\",container=\"echo\"} 1") != std::string::npos;
  })) << body;
  for (const char* name : {"ma", "mb"}) {
    EXPECT_NE(body.find("process_resident_memory_bytes{pod=\"" + std::string(name) +
                        "\",container=\"echo\"}"),
              std::string::npos)
        << body;
  }
  // One group per name: the runner's own process metrics and its containers' share a family.
  EXPECT_EQ(body.find("# TYPE process_resident_memory_bytes"),
            body.rfind("# TYPE process_resident_memory_bytes"));
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err;
}

TEST_F(PodTest, APauseWhileAContainerStopsIsUndoneSoItsSigtermIsNotHeld) {
  // On SIGTERM the app takes a second to finish, then exits 0.
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 20
  containers:
    - name: app
      command: ["bash", "-c", "trap 'sleep 1; exit 0' TERM; echo armed; while true; do sleep 0.1; done"]
)Y");
  // Once its handler is set (PID 1 of its namespace, it would ignore SIGTERM before that).
  ASSERT_TRUE(eventually([&] {
    return http(admin_port(), "GET", "/v1/pods/p/containers/app/logs").body.find("armed") !=
           std::string::npos;
  })) << runner_->stderr_text();
  auto restart = http(admin_port(), "POST", "/v1/pods/p/containers/app/restart");
  ASSERT_EQ(restart.status, 202) << restart.body;
  // The pause lands while the app runs its SIGTERM handler.
  auto pause = http(admin_port(), "POST", "/v1/pods/p/pause");
  ASSERT_EQ(pause.status, 200) << pause.body;
  ASSERT_TRUE(wait_container("p", "app", [](const json::value& c) {
    return c.at("restartCount").to_number<int>() == 1 &&
           c.at("state").as_object().contains("running");
  })) << runner_->stderr_text();
  // It finished its handler and exited 0, not SIGKILLed at the end of its grace; the pod is
  // not left saying it is paused.
  json::value last = container("p", "app").at("lastState").at("terminated");
  EXPECT_EQ(last.at("exitCode").to_number<int>(), 0) << json::serialize(last);
  EXPECT_FALSE(last.as_object().contains("signal")) << json::serialize(last);
  EXPECT_FALSE(pod("p").at("paused").as_bool());
}

TEST_F(PodTest, HttpAndTcpProbesAndPostStart) {
  std::string port = std::to_string(free_port());
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: net}
spec:
  containers:
    - name: web
      command: [")Y" TENDER_BINARY
      R"Y(", "echo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:)Y" +
      port + R"Y("]
      ports: [{name: admin, containerPort: )Y" +
      port + R"Y(}]
      readinessProbe:
        tcpSocket: {port: admin}
        periodSeconds: 1
      livenessProbe:
        httpGet: {path: /healthz, port: )Y" +
      port + R"Y(}
        periodSeconds: 1
      lifecycle:
        postStart:
          exec: {command: ["sh", "-c", "echo $(POD_NAME) > )Y" +
      d() + R"Y(/poststart"]}
      env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
)Y");
  ASSERT_TRUE(wait_container("net", "web", [](const json::value& c) {
    return c.at("ready").as_bool() &&
           c.at("probes").at("liveness").at("result").as_string() == "success" &&
           c.at("probes").at("readiness").at("message").as_string() == "connected";
  })) << json::serialize(container("net", "web"));
  EXPECT_EQ(container("net", "web").at("probes").at("liveness").at("message").as_string(),
            "HTTP 200");
  EXPECT_EQ(slurp(d() + "/poststart"), "net\n");
}

TEST_F(PodTest, APodScalesItsOwnDeploymentThroughTenderPodApi) {
  run(R"Y(
apiVersion: apps/v1
kind: Deployment
metadata: {name: self}
spec:
  replicas: 1
  selector: {matchLabels: {app: self}}
  template:
    metadata: {labels: {app: self}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          command: ["sh", "-c", "test $(POD_NAME) = self-0 && )Y" TENDER_BINARY
      R"Y( pod scale self 2 --admin ${TENDER_POD_API#http://}; exec sleep 1000"]
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
)Y");
  EXPECT_TRUE(eventually([&] {
    auto p = pod("self-1");
    return !p.is_null() && p.at("phase").as_string() == "Running";
  }));
  auto deps = json::parse(http(runner_->port("admin"), "GET", "/v1/deployments").body);
  EXPECT_EQ(deps.at("deployments").at("self").as_int64(), 2);
}

TEST(PodManifests, BadManifestsExit2NamingFileAndLineBeforeAnythingStarts) {
  TempDir dir;
  struct Case {
    std::string yaml;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n",
       "a Service without a selector"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
       "    - name: a\n      args: [x]\n",
       "command"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
       "    - name: a\n      command: [\"touch\", \"" +
           dir.path() + "/started\"]\n      volumeMounts:\n        - {name: data, mountPath: /d}\n",
       "data"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p\n", "invalid YAML"},
  };
  for (const auto& c : cases) {
    std::string file = dir.write("bad.yaml", c.yaml);
    auto r = run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view"});
    EXPECT_EQ(r.status.code, 2) << c.yaml << r.err;
    EXPECT_NE(r.err.find(file + ":"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::ifstream(dir.path() + "/started").good()) << "a container started";
}

}  // namespace
}  // namespace tender::testing

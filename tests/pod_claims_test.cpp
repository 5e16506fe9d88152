// PersistentVolumeClaims with the real runner (as root): a claim's directory under --state-dir
// outlives the pod and the runner, and the next run's pods find what the last one wrote; a
// StatefulSet starts its replicas in order, each with a claim of its own.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kClaimAndPod = R"y(apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: counter}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: count}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: counter}}
    - {name: out, hostPath: {path: OUT}}
  containers:
    - name: app
      command: ["sh", "-c", "n=$(cat /data/n 2>/dev/null || echo 0); echo $((n + 1)) > /data/n.tmp; mv /data/n.tmp /data/n; exec sleep 1000"]
      volumeMounts: [{name: data, mountPath: /data}]
    - name: reader
      command: ["sh", "-c", "(echo x > /data/ro) 2>/dev/null && echo writable > /out/reader || echo read-only > /out/reader; exec sleep 1000"]
      volumeMounts: [{name: data, mountPath: /data, readOnly: true}, {name: out, mountPath: /out}]
)y";

TEST(PodClaims, AClaimsDataOutlivesTheRunner) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "volumes are mounted as root";
  }
  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string out = dir.path() + "/out";
  fs::create_directories(out);
  std::string yaml = kClaimAndPod;
  yaml.replace(yaml.find("OUT"), 3, out);
  const std::string file = dir.write("count.yaml", yaml);
  const std::string counted = state + "/volumes/default/counter/n";
  for (const char* expected : {"1\n", "2\n"}) {
    Tender runner({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--state-dir",
                   state, "--network", "host"});
    ASSERT_TRUE(eventually([&] { return fs::exists(counted) && slurp(counted) == expected; }))
        << runner.stderr_text();
    ASSERT_TRUE(eventually([&] { return fs::exists(out + "/reader"); })) << runner.stderr_text();
    EXPECT_EQ(slurp(out + "/reader"), "read-only\n");
    runner.signal(SIGTERM);
    ASSERT_TRUE(runner.wait_exit(20s));
    fs::remove(out + "/reader");
  }
  struct stat st {};
  ASSERT_EQ(::stat((state + "/volumes/default/counter").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777U);  // as a local-path provisioner makes it
}

constexpr const char* kStatefulSet = R"y(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  template:
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: out, hostPath: {path: OUT}}]
      containers:
        - name: db
          command: ["sh", "-c", "echo $POD > /data/owner; touch /out/started-$POD; exec sleep 1000"]
          env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
          volumeMounts: [{name: data, mountPath: /data}, {name: out, mountPath: /out}]
          readinessProbe:
            exec: {command: ["test", "-f", "/out/ready-$(POD)"]}
            periodSeconds: 1
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 10Mi}}
)y";

TEST(PodClaims, AStatefulSetStartsEachReplicaOnceTheOneBeforeIsReady) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "volumes are mounted as root";
  }
  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string out = dir.path() + "/out";
  fs::create_directories(out);
  std::string yaml = kStatefulSet;
  yaml.replace(yaml.find("OUT"), 3, out);
  const std::string file = dir.write("db.yaml", yaml);
  Tender runner({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--state-dir",
                 state, "--network", "host"});
  const std::uint16_t port = runner.port("admin");
  for (int i = 0; i < 3; ++i) {
    const std::string pod = "db-" + std::to_string(i);
    ASSERT_TRUE(eventually([&] { return fs::exists(out + "/started-" + pod); }))
        << runner.stderr_text();
    // The next replica is not even made until this one is ready.
    if (i + 1 < 3) {
      EXPECT_EQ(http(port, "GET", "/v1/pods/db-" + std::to_string(i + 1)).status, 404);
    }
    std::ofstream(out + "/ready-" + pod).flush();
  }
  for (int i = 0; i < 3; ++i) {
    const std::string pod = "db-" + std::to_string(i);
    const std::string claim = state + "/volumes/default/data-" + pod + "/owner";
    ASSERT_TRUE(eventually([&] { return fs::exists(claim); }));
    EXPECT_EQ(slurp(claim), pod + "\n");
  }
  runner.signal(SIGTERM);
  ASSERT_TRUE(runner.wait_exit(20s));
}

}  // namespace
}  // namespace tender::testing

// PersistentVolumeClaims with the real runner (as root): a claim's directory under --state-dir
// outlives the pod and the runner, and the next run's pods find what the last one wrote.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace
}  // namespace tender::testing

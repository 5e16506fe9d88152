// Pods from images with the real runner (as root), without a registry: an OCI layout built
// here from Debian's busybox-static with umoci (src/pod/image_test_support.hpp), imported with
// `tender pod images import`, run without `command` (the image's entrypoint), with args and
// env over the image's, with --runtime oci and a command, two images in one pod sharing an
// emptyDir and localhost, exec and exec probes inside an image's root, and nothing left
// mounted or locked after the runner is SIGKILLed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "pod/image_test_support.hpp"
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

// Processes whose mounts mention `path` (an overlay on a container's root there).
int processes_mounting(const std::string& path) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::string mounts = slurp(entry.path().string() + "/mountinfo");
    n += mounts.find(path) != std::string::npos ? 1 : 0;
  }
  return n;
}

class PodImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "an image's root filesystem is an overlay, mounted as root";
    }
    const auto& images = pod::testing::test_images();
    if (!images.error.empty()) {
      GTEST_SKIP() << images.error;
    }
    fs::create_directories(out());
    for (const char* tag : {"busybox", "busybox-edited"}) {
      RunResult r = run_tender({"pod", "images", "import", images.source(tag), "--name",
                                std::string("localhost/") + tag + ":test", "--state-dir", state()},
                               120s);
      ASSERT_TRUE(r.status.success()) << r.err;
    }
  }
  std::string out() const { return dir_.path() + "/out"; }
  std::string state() const { return dir_.path() + "/state"; }
  std::string run_dir() const { return dir_.path() + "/run"; }
  void start(const std::string& yaml, std::vector<std::string> extra = {}) {
    const std::string file = dir_.write("pods.yaml", replace_all(yaml, "OUT", out()));
    std::vector<std::string> args = {
        "pod",       "run",     file,          "--admin", "127.0.0.1:0",       "--no-log-view",
        "--run-dir", run_dir(), "--state-dir", state(),   "--restart-backoff", "100ms:400ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    runner_.emplace(args);
  }
  std::string admin() const { return "127.0.0.1:" + std::to_string(runner_->port("admin")); }
  bool has(const std::string& file) const { return fs::exists(out() + "/" + file); }

  TempDir dir_;
  std::optional<Tender> runner_;
};

constexpr const char* kOnePod = R"y(apiVersion: v1
kind: Pod
metadata: {name: img}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  volumes:
    - {name: out, hostPath: {path: OUT}}
  containers:
    - name: defaults
      image: localhost/busybox:test
    - name: args
      image: localhost/busybox:test
      imagePullPolicy: Never
      args: ["echo GREETING=$GREETING EXTRA=$EXTRA PWD=$(pwd) $(cat /etc/motd) > /out/args.tmp; mv /out/args.tmp /out/args; exec sleep 1000"]
      env: [{name: EXTRA, value: from-manifest}]
      volumeMounts: [{name: out, mountPath: /out}]
    - name: edited
      image: localhost/busybox-edited:test
      workingDir: /work
      args: ["exec sleep 1000"]
      readinessProbe:
        exec: {command: ["test", "-f", "/etc/added"]}
        periodSeconds: 1
)y";

TEST_F(PodImageTest, RunsTheImagesEntrypointWithItsEnvironmentUnderTheManifests) {
  RunResult listed = run_tender({"pod", "images", "--state-dir", state()});
  EXPECT_NE(listed.out.find("localhost/busybox:test"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("localhost/busybox-edited:test"), std::string::npos) << listed.out;
  start(kOnePod);
  ASSERT_TRUE(eventually([&] { return has("args"); }, 30s)) << runner_->stderr_text();
  std::string args = slurp(out() + "/args");
  // The image's GREETING and WorkingDir; the manifest's EXTRA; the image's own /etc/motd.
  EXPECT_EQ(args, "GREETING=hello EXTRA=from-manifest PWD=/tmp busybox built for tender's tests\n");
  // The image's Cmd, with no command or args.
  ASSERT_TRUE(eventually([&] {
    RunResult logs = run_tender({"pod", "logs", "img", "-c", "defaults", "--admin", admin()});
    return logs.out.find("hello from the image") != std::string::npos;
  }));
  // An exec probe runs in the image's root: /etc/added is there only.
  auto edited_ready = [&] {
    auto pod = http(runner_->port("admin"), "GET", "/v1/pods/img");
    if (pod.status != 200) {
      return false;
    }
    const boost::json::value json = boost::json::parse(pod.body);
    for (const auto& c : json.at("containers").as_array()) {
      if (c.at("name") == "edited") {
        return c.at("ready") == true;
      }
    }
    return false;
  };
  ASSERT_TRUE(eventually(edited_ready, 20s))
      << http(runner_->port("admin"), "GET", "/v1/pods/img").body;
  // exec lands in the container's root: the layer above deleted /bin/cat, made /work.
  RunResult ls = run_tender({"pod", "exec", "img", "-c", "edited", "--admin", admin(), "--", "sh",
                             "-c", "pwd; test -e /bin/cat || echo no-cat; ls /etc"});
  EXPECT_EQ(ls.out.substr(0, ls.out.find("\n", 12) + 1), "/work\nno-cat\n") << ls.out << ls.err;
  EXPECT_NE(ls.out.find("added"), std::string::npos) << ls.out;
  runner_->signal(SIGTERM);
  ASSERT_TRUE(runner_->wait_exit(20s));
  EXPECT_FALSE(fs::exists(run_dir() + "/pods/img/rootfs"));
}

TEST_F(PodImageTest, RuntimeOciRunsACommandInTheImageAndTwoImagesShareAPod) {
  start(R"y(apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: out, hostPath: {path: OUT}}
    - {name: shared, emptyDir: {}}
  containers:
    - name: server
      image: localhost/busybox:test
      command: ["/bin/sh", "-c", "echo served > /shared/page; exec httpd -f -p 8080 -h /shared"]
      volumeMounts: [{name: shared, mountPath: /shared}]
    - name: client
      image: localhost/busybox-edited:test
      command: ["/bin/sh", "-c"]
      args: ["until wget -q -O /out/page.tmp http://127.0.0.1:8080/page; do sleep 0.1; done; mv /out/page.tmp /out/page; test -e /bin/cat || echo no-cat > /out/nocat; exec sleep 1000"]
      volumeMounts: [{name: shared, mountPath: /shared}, {name: out, mountPath: /out}]
)y",
        {"--runtime", "oci"});
  ASSERT_TRUE(eventually([&] { return has("page") && has("nocat"); }, 30s))
      << runner_->stderr_text();
  EXPECT_EQ(slurp(out() + "/page"), "served\n");
  EXPECT_EQ(slurp(out() + "/nocat"), "no-cat\n");
  // The runner dies without a word: its containers die with it, and with them their mounts;
  // the layers' locks go with the processes, so the images can be removed.
  const std::string rootfs = run_dir() + "/pods/two/rootfs";
  ASSERT_GT(processes_mounting(rootfs), 0);
  runner_->signal(SIGKILL);
  ASSERT_TRUE(runner_->wait_exit(10s));
  EXPECT_TRUE(eventually([&] { return processes_mounting(rootfs) == 0; }));
  RunResult rm = run_tender({"pod", "images", "rm", "localhost/busybox:test",
                             "localhost/busybox-edited:test", "--state-dir", state()});
  EXPECT_TRUE(rm.status.success()) << rm.err;
  std::size_t layers = 0;
  for (const auto& e : fs::directory_iterator(state() + "/images/layers")) {
    layers += e.is_directory() ? 1 : 0;
  }
  EXPECT_EQ(layers, 0U);
}

TEST_F(PodImageTest, AnImageThatIsNotThereWithPullPolicyNeverIsAClearError) {
  start(R"y(apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/nothing-here:1
      imagePullPolicy: Never
)y");
  ASSERT_TRUE(eventually([&] {
    auto pod = http(runner_->port("admin"), "GET", "/v1/pods/missing");
    return pod.body.find("ErrImageNeverPull") != std::string::npos ||
           pod.body.find("ImagePullBackOff") != std::string::npos;
  })) << http(runner_->port("admin"), "GET", "/v1/pods/missing").body;
  EXPECT_NE(runner_->stderr_text().find("imagePullPolicy is Never"), std::string::npos)
      << runner_->stderr_text();
}

}  // namespace
}  // namespace tender::testing

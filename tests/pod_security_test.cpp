// securityContext with the real runner (as root): what a container may do to its pod's
// isolation, its capabilities, its user and its root filesystem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// "Key:\tvalue" lines as a container wrote them from its /proc/self/status.
std::map<std::string, std::string> status_fields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto value = line.find_first_not_of(" \t", colon + 1);
      out[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
    }
  }
  return out;
}

std::uint64_t hex(const std::string& s) { return s.empty() ? 0 : std::stoull(s, nullptr, 16); }

// containerd's default set: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
constexpr std::uint64_t kDefault = 0xa80425fb;
constexpr std::uint64_t kNetAdmin = std::uint64_t{1} << 12;
constexpr std::uint64_t kSysAdmin = std::uint64_t{1} << 21;

class PodSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "the runner applies securityContext as root";
    }
    // Where containers write what they saw: a hostPath any user may write to.
    std::filesystem::create_directories(out());
    std::filesystem::permissions(out(), std::filesystem::perms::all);
  }
  void run(const std::string& manifest) {
    std::string file = dir_.write("pod.yaml", manifest);
    runner_.emplace(std::vector<std::string>{
        "pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir", run_dir(),
        "--restart-backoff", "100ms:400ms", "--network", "host"});
  }
  // What container `name` wrote to /out/`name`, once it has.
  std::string result(const std::string& name) {
    const std::string path = out() + "/" + name;
    EXPECT_TRUE(eventually([&] { return std::filesystem::exists(path); }))
        << name << "\n"
        << runner_->stderr_text().substr(0, 3000);
    return slurp(path);
  }
  std::string out() const { return dir_.path() + "/out"; }
  std::string run_dir() const { return dir_.path() + "/run"; }

  TempDir dir_;
  std::optional<Tender> runner_;
};

// Writes the container's status lines, then `then`, to /out/NAME (via a .tmp and a rename, so
// a reader never sees half of it), and sleeps.
std::string container(const std::string& name, const std::string& security,
                      const std::string& then = "true") {
  const std::string script =
      "{ grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' "
      "/proc/self/status; " +
      then + "; } > /out/" + name + ".tmp 2>&1; mv /out/" + name + ".tmp /out/" + name +
      "; exec sleep 1000";
  return "    - name: " + name + "\n      command: [\"sh\", \"-c\", \"" + script + "\"]\n" +
         (security.empty() ? "" : "      securityContext: " + security + "\n") +
         "      volumeMounts:\n        - {name: out, mountPath: /out}\n"
         "        - {name: scratch, mountPath: /scratch}\n";
}

std::string pod(const std::string& name, const std::string& containers,
                const std::string& pod_security = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n" +
         (pod_security.empty() ? "" : "  securityContext: " + pod_security + "\n") +
         "  volumes:\n    - {name: out, hostPath: {path: OUT}}\n"
         "    - {name: scratch, emptyDir: {}}\n  containers:\n" +
         containers;
}

std::string with_out(std::string manifest, const std::string& out) {
  for (auto at = manifest.find("OUT"); at != std::string::npos; at = manifest.find("OUT", at)) {
    manifest.replace(at, 3, out);
  }
  return manifest;
}

// The escape: a container unmounted the run directory's pods/ and read another pod's
// emptyDir. Without CAP_SYS_ADMIN it cannot, and its own /proc shows none of the other pod's
// processes (whose /proc/PID/root would lead to that volume too).
TEST_F(PodSecurityTest, AContainerCannotUncoverAnotherPodsVolume) {
  const std::string pods = run_dir() + "/pods";
  const std::string secret = pods + "/b/volumes/scratch/secret";
  run(with_out(pod("b", container("writer", "", "echo s3cret > /scratch/secret")) + "---\n" +
                   pod("a", container("prober", "",
                                      "until [ -e /out/writer ]; do sleep 0.05; done; umount " +
                                          pods + "; echo umount=$?; cat " + secret +
                                          " || echo unreadable; echo procs=$(ls /proc | grep -c "
                                          "'^[0-9]')")),
               out()));
  EXPECT_NE(result("writer").find("NoNewPrivs:\t1"), std::string::npos);
  std::string seen = result("prober");
  EXPECT_NE(seen.find("umount=32"), std::string::npos) << seen;  // umount(8): EPERM
  EXPECT_NE(seen.find("unreadable"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("s3cret"), std::string::npos) << seen;
  // sh, and the ls and grep of that line (and a subshell): no process of another container.
  const auto procs = seen.find("procs=");
  ASSERT_NE(procs, std::string::npos) << seen;
  EXPECT_LE(std::stoi(seen.substr(procs + 6)), 4) << seen;
  auto fields = status_fields(seen);
  EXPECT_EQ(hex(fields["CapEff"]) & kSysAdmin, 0u) << seen;
}

TEST_F(PodSecurityTest, CapabilitiesUserAndReadOnlyRootApply) {
  const std::string host_file = dir_.path() + "/written-from-a-container";
  const std::string try_root = "touch " + host_file + " && echo root=rw || echo root=ro";
  run(with_out(pod("p", container("plain", "") +
                            container("netadmin", "{capabilities: {add: [NET_ADMIN]}}") +
                            container("user", "{runAsUser: 1000, runAsGroup: 1000}",
                                      "echo x > /scratch/by-user && echo scratch=rw") +
                            container("readonly", "{readOnlyRootFilesystem: true}",
                                      try_root + "; echo x > /scratch/f && echo scratch=rw") +
                            container("privileged", "{privileged: true}")),
               out()));
  auto plain = status_fields(result("plain"));
  EXPECT_EQ(plain["Uid"], "0\t0\t0\t0");
  EXPECT_EQ(hex(plain["CapEff"]), kDefault);  // the runtime default set
  EXPECT_EQ(plain["NoNewPrivs"], "1");

  const std::string net = result("netadmin");
  EXPECT_EQ(hex(status_fields(net)["CapEff"]), kDefault | kNetAdmin) << net;

  const std::string user = result("user");
  auto u = status_fields(user);
  EXPECT_EQ(u["Uid"], "1000\t1000\t1000\t1000") << user;
  EXPECT_EQ(u["Gid"], "1000\t1000\t1000\t1000") << user;
  EXPECT_EQ(hex(u["CapEff"]), 0u) << user;  // as on Kubernetes: none after exec
  EXPECT_NE(user.find("scratch=rw"), std::string::npos) << user;  // emptyDir is 0777

  const std::string ro = result("readonly");
  EXPECT_NE(ro.find("root=ro"), std::string::npos) << ro;
  EXPECT_NE(ro.find("scratch=rw"), std::string::npos) << ro;
  EXPECT_FALSE(std::filesystem::exists(host_file));

  auto priv = status_fields(result("privileged"));
  EXPECT_EQ(priv["NoNewPrivs"], "0");
  EXPECT_NE(hex(priv["CapEff"]) & kSysAdmin, 0u);
}

// As kubectl exec: a command run in a container is its user, with its capabilities and
// no_new_privs; --root is the operator's own access.
TEST_F(PodSecurityTest, ExecRunsAsTheContainersUserWithItsCapabilities) {
  run(with_out(
      pod("p", container("plain", "") + container("user", "{runAsUser: 1000, runAsGroup: 1000}")),
      out()));
  (void)result("plain");
  (void)result("user");
  const std::string admin = "127.0.0.1:" + std::to_string(runner_->port("admin"));
  auto exec = [&](const std::string& c, bool root) {
    std::vector<std::string> args = {"pod", "exec", "p", "-c", c, "--admin", admin};
    if (root) {
      args.emplace_back("--root");
    }
    args.insert(args.end(),
                {"--", "grep", "-E", "^(Uid|Gid|CapEff|NoNewPrivs):", "/proc/self/status"});
    RunResult r = run_tender(args);
    EXPECT_EQ(r.status.code, 0) << r.err;
    return status_fields(r.out);
  };
  auto user = exec("user", false);
  EXPECT_EQ(user["Uid"], "1000\t1000\t1000\t1000");
  EXPECT_EQ(user["Gid"], "1000\t1000\t1000\t1000");
  EXPECT_EQ(hex(user["CapEff"]), 0u);
  EXPECT_EQ(user["NoNewPrivs"], "1");
  auto plain = exec("plain", false);
  EXPECT_EQ(plain["Uid"], "0\t0\t0\t0");
  EXPECT_EQ(hex(plain["CapEff"]), kDefault);
  auto root = exec("user", true);
  EXPECT_EQ(root["Uid"], "0\t0\t0\t0");
  EXPECT_NE(hex(root["CapEff"]) & kSysAdmin, 0u);
}

TEST_F(PodSecurityTest, RunAsNonRootRefusesToStartAsRoot) {
  run(with_out(pod("nr", container("app", "{runAsNonRoot: true}")), out()));
  ASSERT_TRUE(eventually([&] {
    auto r = http(runner_->port("admin"), "GET", "/v1/pods/nr");
    return r.status == 200 && r.body.find("runAsNonRoot") != std::string::npos;
  })) << http(runner_->port("admin"), "GET", "/v1/pods/nr").body;
  EXPECT_FALSE(std::filesystem::exists(out() + "/app"));
}

// Without root nothing of securityContext can be applied: the containers run as the runner's
// user, and the runner says so.
TEST(PodSecurityWithoutRoot, TheRunnerSaysSecurityContextIsNotApplied) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "runs the runner as another user through setpriv";
  }
  // A copy of the binary and a run directory that the unprivileged user can use.
  TempDir open_dir;
  std::filesystem::permissions(open_dir.path(), std::filesystem::perms::all);
  const std::string bin = open_dir.path() + "/tender";
  std::filesystem::copy_file(TENDER_BINARY, bin);
  const std::string out = open_dir.path() + "/id";
  const std::string file =
      open_dir.write("pod.yaml",
                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                     "    - name: app\n      command: [\"sh\", \"-c\", \"id -u > " +
                         out + "; exec sleep 1000\"]\n      securityContext: {runAsUser: 1000}\n");
  std::filesystem::permissions(file, std::filesystem::perms::all);
  Tender runner({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir",
                 open_dir.path() + "/run", "--network", "host"},
                {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin});
  ASSERT_TRUE(eventually([&] { return slurp(out) == "65534\n"; })) << runner.stderr_text();
  const std::string err = runner.stderr_text();
  EXPECT_NE(err.find("not running as root: securityContext is not applied"), std::string::npos)
      << err;
  EXPECT_NE(err.find("container=app"), std::string::npos) << err;
}

}  // namespace
}  // namespace tender::testing

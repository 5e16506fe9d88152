// Process::spawn's limits on a child: capabilities, user, no_new_privs, read-only mounts, its
// own /proc, and the descriptor limit. Most need root, as a pod runner does.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "core/capabilities.hpp"
#include "core/fd.hpp"
#include "core/process.hpp"
#include "core/process_test_support.hpp"

namespace tender {
namespace {

namespace fs = std::filesystem;

using testing::Output;
using testing::run;

// "Key:\tvalue" lines of /proc/self/status as the child sees itself.
std::map<std::string, std::string> child_status(SpawnOptions o) {
  o.argv = {"cat", "/proc/self/status"};
  std::map<std::string, std::string> fields;
  std::string text = run(std::move(o)).out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl - start);
    if (auto colon = line.find(':'); colon != std::string::npos) {
      const size_t value = line.find_first_not_of(" \t", colon + 1);
      fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
    }
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  return fields;
}

std::uint64_t hex(const std::string& s) { return std::stoull(s, nullptr, 16); }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tender-security-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

#define REQUIRE_ROOT()                                            \
  if (::geteuid() != 0) {                                         \
    GTEST_SKIP() << "changing capabilities and users needs root"; \
  }

constexpr std::uint64_t kSome = capability_bit(0) | capability_bit(5) | capability_bit(10);

TEST(Capabilities, NamesParseWithOrWithoutPrefixInAnyCase) {
  EXPECT_EQ(parse_capability("NET_ADMIN"), 12);
  EXPECT_EQ(parse_capability("CAP_NET_ADMIN"), 12);
  EXPECT_EQ(parse_capability("net_admin"), 12);
  EXPECT_EQ(parse_capability("CHECKPOINT_RESTORE"), 40);
  EXPECT_EQ(parse_capability("ALL"), std::nullopt);
  EXPECT_EQ(parse_capability("NET_ADMIN "), std::nullopt);
  EXPECT_EQ(parse_capability(""), std::nullopt);
  EXPECT_EQ(capability_name(21), "SYS_ADMIN");
  EXPECT_EQ(capability_name(50), "CAP_50");
  EXPECT_EQ(capability_names(kSome), "CHOWN,KILL,NET_BIND_SERVICE");
  EXPECT_EQ(capability_names(0), "");
  EXPECT_NE(all_capabilities() & capability_bit(21), 0u);
}

TEST(ProcessSecurity, CapabilitiesBecomeExactlyTheGivenSet) {
  REQUIRE_ROOT();
  SpawnOptions o;
  o.capabilities = kSome;
  auto st = child_status(o);
  EXPECT_EQ(hex(st["CapBnd"]), kSome);
  EXPECT_EQ(hex(st["CapPrm"]), kSome);
  EXPECT_EQ(hex(st["CapEff"]), kSome);
  EXPECT_EQ(hex(st["CapInh"]), 0u);
  EXPECT_EQ(hex(st["CapAmb"]), 0u);
  EXPECT_EQ(st["NoNewPrivs"], "0");
}

TEST(ProcessSecurity, AnotherUserHoldsNoCapabilitiesAfterExec) {
  REQUIRE_ROOT();
  SpawnOptions o;
  o.capabilities = kSome;
  o.user = SpawnOptions::User{1000, 1001, {2000, 2001}};
  o.no_new_privs = true;
  auto st = child_status(o);
  EXPECT_EQ(st["Uid"], "1000\t1000\t1000\t1000");
  EXPECT_EQ(st["Gid"], "1001\t1001\t1001\t1001");
  EXPECT_EQ(st["Groups"], "2000 2001 ");
  EXPECT_EQ(hex(st["CapBnd"]), kSome);
  EXPECT_EQ(hex(st["CapPrm"]), 0u);
  EXPECT_EQ(hex(st["CapEff"]), 0u);
  EXPECT_EQ(st["NoNewPrivs"], "1");
  // Its output pipe is its own: it can open /dev/stdout again, as nginx and others do.
  o.argv = {"sh", "-c", "echo again > /dev/stdout"};
  EXPECT_EQ(run(o).out, "again\n");
}

// The kernel forgets PR_SET_PDEATHSIG when a process changes its user: a container running as
// another user would outlive its runner.
TEST(ProcessSecurity, AnotherUserStillDiesWithItsParent) {
  REQUIRE_ROOT();
  ASSERT_FALSE(become_subreaper());  // the orphan, if any, comes to us to be reaped
  for (const bool new_pid_namespace : {false, true}) {
    SpawnOptions o;
    o.argv = {"sleep", "60"};
    o.user = SpawnOptions::User{1000, 1000, {}};
    o.new_pid_namespace = new_pid_namespace;
    const pid_t sleeper = testing::spawn_and_abandon(o);
    ASSERT_GT(sleeper, 0);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 2000 && !gone; ++i) {
      gone = ::waitpid(sleeper, &status, WNOHANG) == sleeper;
      if (!gone) {
        ::usleep(5000);
      }
    }
    EXPECT_TRUE(gone) << (new_pid_namespace ? "in a new PID namespace" : "");
    if (!gone) {
      ::kill(sleeper, SIGKILL);
      ::waitpid(sleeper, &status, 0);
    }
  }
}

TEST(ProcessSecurity, WithoutSysAdminAHiddenDirectoryCannotBeUnmounted) {
  REQUIRE_ROOT();
  TempDir d;
  std::ofstream(d.path() + "/secret") << "s";
  SpawnOptions o;
  o.hide = {d.path()};
  o.capabilities = kSome;
  o.argv = {"sh", "-c",
            "umount " + d.path() + " 2>/dev/null; echo $?; cat " + d.path() +
                "/secret 2>/dev/null || echo hidden"};
  EXPECT_EQ(run(o).out, "32\nhidden\n");  // umount(8): 32 is "mount failure" (EPERM)
  o.capabilities.reset();
  EXPECT_EQ(run(o).out, "0\ns");  // with every capability it could
}

TEST(ProcessSecurity, ReadOnlyRootLeavesVolumesAndDevicesWritable) {
  REQUIRE_ROOT();
  TempDir d;
  fs::create_directories(d.path() + "/vol");
  fs::create_directories(d.path() + "/ro-vol");
  SpawnOptions o;
  o.read_only_root = true;
  o.mounts = {{d.path() + "/vol", d.path() + "/mnt/rw", false},
              {d.path() + "/ro-vol", d.path() + "/mnt/ro", true}};
  auto try_write = [](const std::string& path) {
    return "(echo x > " + path + ") 2>/dev/null && echo yes || echo no; ";
  };
  o.argv = {"sh", "-c",
            try_write(d.path() + "/root-file") + try_write(d.path() + "/mnt/rw/file") +
                try_write(d.path() + "/mnt/ro/file") + try_write("/dev/null")};
  EXPECT_EQ(run(o).out, "no\nyes\nno\nyes\n");
  EXPECT_FALSE(fs::exists(d.path() + "/root-file"));
  EXPECT_TRUE(fs::exists(d.path() + "/vol/file"));
  // The mount targets were created before the root became read-only.
  EXPECT_TRUE(fs::is_directory(d.path() + "/mnt/rw"));
}

TEST(ProcessSecurity, ReadOnlyPathsCoverWhatIsMountedBeneathThem) {
  REQUIRE_ROOT();
  TempDir d;
  fs::create_directories(d.path() + "/top/sub");
  fs::create_directories(d.path() + "/elsewhere");
  SpawnOptions o;
  o.mounts = {{d.path() + "/elsewhere", d.path() + "/top/sub", false}};
  o.read_only_paths = {d.path() + "/top", "/no/such/path"};
  // Written through the UTS namespace's own host name, so a failure changes nothing here.
  o.hostname = "before";
  o.read_only_paths.push_back("/proc/sys");
  o.argv = {"sh", "-c",
            "(echo x > " + d.path() + "/top/file) 2>/dev/null && echo yes || echo no; (echo x > " +
                d.path() + "/top/sub/file) 2>/dev/null && echo yes || echo no; (echo after > " +
                "/proc/sys/kernel/hostname) 2>/dev/null && echo yes || echo no; hostname"};
  EXPECT_EQ(run(o).out, "no\nno\nno\nbefore\n");
}

TEST(ProcessSecurity, MountProcShowsOnlyTheChildsOwnPidNamespace) {
  REQUIRE_ROOT();
  SpawnOptions o;
  o.new_pid_namespace = true;
  o.mount_proc = true;
  o.argv = {"sh", "-c", "cat /proc/1/comm; ls /proc | grep -c '^[0-9]'"};
  // sh (PID 1), and ls and grep; nothing of ours.
  Output r = run(o);
  EXPECT_EQ(r.out.substr(0, 3), "sh\n") << r.out;
  EXPECT_LE(std::stoi(r.out.substr(3)), 3) << r.out;
}

TEST(ProcessSecurity, ChildJoinsAnotherPidNamespace) {
  REQUIRE_ROOT();
  SpawnOptions first;
  first.argv = {"sleep", "1000"};
  first.new_pid_namespace = true;
  auto sleeper = Process::spawn(first);
  ASSERT_TRUE(sleeper) << sleeper.error().message();
  Fd ns(::open(("/proc/" + std::to_string(sleeper->pid()) + "/ns/pid").c_str(), O_RDONLY));
  ASSERT_TRUE(ns);
  SpawnOptions o;
  o.pid_namespace_fd = ns.get();
  o.mount_proc = true;
  o.argv = {"cat", "/proc/1/comm"};
  EXPECT_EQ(run(o).out, "sleep\n");
  // This thread is back in its own namespace: the next child is too.
  struct stat ours {};
  ASSERT_EQ(::stat("/proc/self/ns/pid", &ours), 0);
  SpawnOptions plain;
  plain.argv = {"stat", "-L", "-c", "%i", "/proc/self/ns/pid"};
  EXPECT_EQ(run(plain).out, std::to_string(ours.st_ino) + "\n");
  o.new_pid_namespace = true;
  EXPECT_EQ(Process::spawn(o).error(),
            boost::system::error_code(EINVAL, boost::system::system_category()));
}

TEST(ProcessSecurity, WithoutPrivilegesChangingUsersIsASpawnError) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root may change users";
  }
  SpawnOptions o;
  o.argv = {"true"};
  o.user = SpawnOptions::User{::geteuid() + 1, ::getegid(), {}};
  EXPECT_EQ(Process::spawn(o).error(),
            boost::system::error_code(EPERM, boost::system::system_category()));
}

TEST(FdLimit, RaisedForUsButNotForChildren) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max <= 256) {
    GTEST_SKIP() << "hard limit too low to see a difference";
  }
  rlimit low = limit;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT_EQ(raise_fd_limit(), limit.rlim_max);
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, limit.rlim_max);
  SpawnOptions o;
  o.argv = {"sh", "-c", "ulimit -n; ulimit -Hn"};
  EXPECT_EQ(run(o).out, "256\n" + std::to_string(limit.rlim_max) + "\n");
  EXPECT_EQ(raise_fd_limit(), limit.rlim_max);  // again: the children's limit stays the first
  EXPECT_EQ(run(o).out, "256\n" + std::to_string(limit.rlim_max) + "\n");
}

TEST(FdLimit, UsageCountsOpenDescriptors) {
  auto before = fd_usage();
  ASSERT_TRUE(before) << before.error().message();
  std::vector<Fd> extra;
  for (int i = 0; i < 10; ++i) {
    extra.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  auto after = fd_usage();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->open, before->open + 10);
  EXPECT_GT(after->limit, after->open);
}

}  // namespace
}  // namespace tender

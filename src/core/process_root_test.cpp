// Process::spawn with a root of the child's own (SpawnOptions::root, as an image container
// runs) and joining another child's mount namespace (as exec into it does). They need root,
// overlayfs, and a static busybox (Debian's busybox-static) to run inside the new root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/fd.hpp"
#include "core/process.hpp"
#include "core/process_test_support.hpp"
#include "core/temp_dir.hpp"

namespace tender {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBusybox = "/bin/busybox";

using testing::Output;
using testing::run;

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// Two layers (busybox and /etc/os below, a newer /etc/os above), an upper and a work
// directory, and a mount point, in a temporary directory removed afterwards.
class ProcessRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "a root of the child's own needs root";
    }
    if (!fs::exists(kBusybox)) {
      GTEST_SKIP() << kBusybox << " is missing (tools/install-deps.sh installs busybox-static)";
    }
    auto made = make_temp_dir("tender-root.");
    ASSERT_TRUE(made) << made.error().message();
    dir = *made;
    for (const char* sub : {"/bottom/bin", "/top/etc", "/upper", "/work", "/mnt", "/volume"}) {
      fs::create_directories(dir + sub);
    }
    fs::copy_file(kBusybox, dir + "/bottom/bin/busybox");
    for (const char* applet : {"sh", "cat", "echo", "ls", "sleep", "test"}) {
      fs::create_symlink("busybox", dir + "/bottom/bin/" + applet);
    }
    write_file(dir + "/bottom/etc/os", "bottom\n");
    write_file(dir + "/top/etc/os", "top\n");
    fs::create_symlink("/inside", dir + "/bottom/data");  // absolute: means the new root's
    root = {.lower = {dir + "/top", dir + "/bottom"},
            .upper = dir + "/upper",
            .work = dir + "/work",
            .target = dir + "/mnt"};
  }
  void TearDown() override {
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  SpawnOptions in_root(std::string script) const {
    SpawnOptions o;
    o.root = root;
    o.env = std::vector<std::string>{"PATH=/bin"};
    o.argv = {"/bin/sh", "-c", std::move(script)};
    return o;
  }

  std::string dir;
  SpawnOptions::Root root;
};

TEST_F(ProcessRoot, RunsOnTheLayersTopFirstAndWritesOnlyToTheUpperDirectory) {
  SpawnOptions o = in_root("cat /etc/os; echo new > /written; echo gone > /dev/null && echo ok");
  o.new_pid_namespace = true;
  o.mount_proc = true;
  Output r = run(o);
  EXPECT_EQ(r.out, "top\nok\n");
  EXPECT_TRUE(r.status.success()) << r.status.describe();
  EXPECT_TRUE(fs::exists(dir + "/upper/written"));
  EXPECT_FALSE(fs::exists(dir + "/top/written"));
  EXPECT_FALSE(fs::exists(dir + "/bottom/written"));
  // The overlay was the child's mount namespace's: nothing is left mounted here.
  EXPECT_TRUE(fs::is_empty(dir + "/mnt"));
}

TEST_F(ProcessRoot, SeesItsOwnProcAndDevicesAndNothingOfTheHost) {
  SpawnOptions o = in_root(
      "cat /proc/1/comm; ls /dev | while read d; do echo -n \"$d \"; done; echo;"
      " test -e /.tender-host || echo no-host; test -e " +
      dir + " || echo no-tmp");
  o.new_pid_namespace = true;
  o.mount_proc = true;
  Output r = run(o);
  EXPECT_EQ(r.out,
            "sh\nfd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
            "no-host\nno-tmp\n");
}

TEST_F(ProcessRoot, MountTargetsResolveInsideTheNewRoot) {
  // /data is the image's link to /inside: the volume lands in the new root's /inside, not in
  // this machine's.
  SpawnOptions o = in_root("echo hi > /data/file && cat /inside/file");
  o.mounts = {{dir + "/volume", "/data", false}};
  Output r = run(o);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_TRUE(fs::exists(dir + "/volume/file"));
  EXPECT_TRUE(fs::is_directory(dir + "/upper/inside"));
  EXPECT_FALSE(fs::exists("/inside"));
}

TEST_F(ProcessRoot, ReadOnlyRootLeavesVolumesAndDevicesWritable) {
  SpawnOptions o = in_root(
      "(echo x > /file) 2>/dev/null && echo yes || echo no;"
      " (echo x > /vol/file) 2>/dev/null && echo yes || echo no;"
      " (echo x > /dev/null) 2>/dev/null && echo yes || echo no; ls /missing-cwd-made");
  o.mounts = {{dir + "/volume", "/vol", false}};
  o.read_only_root = true;
  o.cwd = "/missing-cwd-made";
  EXPECT_EQ(run(o).out, "no\nyes\nyes\n");
  EXPECT_TRUE(fs::exists(dir + "/volume/file"));
  EXPECT_TRUE(fs::is_directory(dir + "/upper/missing-cwd-made"));
}

TEST_F(ProcessRoot, AnotherChildJoinsItsMountNamespaceAndSoItsRoot) {
  SpawnOptions first = in_root("echo mark > /mark; echo ready; exec sleep 1000");
  first.stdout_ = Stdio::pipe();
  auto sleeper = Process::spawn(first);
  ASSERT_TRUE(sleeper) << sleeper.error().message();
  char ready[6] = {};
  ASSERT_EQ(::read(sleeper->stdout_fd(), ready, sizeof ready), 6);
  Fd ns(::open(("/proc/" + std::to_string(sleeper->pid()) + "/ns/mnt").c_str(),
               O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ns);
  SpawnOptions o;
  o.mount_namespace_fd = ns.get();
  o.env = std::vector<std::string>{"PATH=/bin"};
  o.cwd = "/etc";
  o.argv = {"sh", "-c", "cat /mark os"};
  EXPECT_EQ(run(o).out, "mark\ntop\n");
}

TEST_F(ProcessRoot, PathsThatWouldBreakTheOverlayOptionsAreRefused) {
  SpawnOptions o = in_root("true");
  o.root->lower.push_back(dir + "/a:b");
  EXPECT_EQ(Process::spawn(o).error(),
            boost::system::error_code(EINVAL, boost::system::system_category()));
  o = in_root("true");
  o.root->lower.assign(200, dir + "/bottom");
  EXPECT_EQ(Process::spawn(o).error(),
            boost::system::error_code(E2BIG, boost::system::system_category()));
}

}  // namespace
}  // namespace tender

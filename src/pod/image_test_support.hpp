#pragma once
// Test-only: OCI images built here, without a registry or the network, for the image store's
// unit tests and the pod runner's integration tests. Header-only.
//
//   const auto& images = tender::pod::testing::test_images();
//   if (!images.error.empty()) { GTEST_SKIP() << images.error; }
//   co_await store.copy_in(images.source("busybox"), *parse_image_ref("busybox:test"));
//
// The layout is made with umoci from Debian's busybox-static (/bin/busybox): once per test
// binary, in a temporary directory removed at exit. Its tags:
//   busybox        one layer: /bin/busybox and its applets as symlinks (sh, ls, cat, ...),
//                  /etc/motd, /tmp; Entrypoint ["/bin/sh", "-c"], Cmd ["echo hello from the
//                  image"], Env PATH=/bin and GREETING=hello, WorkingDir /tmp
//   busybox-edited busybox plus a layer made by umoci from a changed tree: /bin/cat deleted (a
//                  whiteout), /etc/added added
// add_layer and add_raw_layer make more, e.g. a layer holding a hostile member.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace tender::pod::testing {

// Runs argv (PATH searched) with stdout and stderr into `output`; "" if it exited 0, else what
// went wrong with its output.
inline std::string run_test_tool(const std::vector<std::string>& argv, const std::string& output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return argv[0] + ": cannot run it";
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return "";
  }
  std::ifstream in(output);
  std::stringstream said;
  said << in.rdbuf();
  std::string line;
  for (const std::string& a : argv) {
    line += a + " ";
  }
  return line + "failed: " + said.str();
}

struct TestImageLayout {
  std::string dir;    // the OCI layout
  std::string error;  // why it could not be built; empty when it was
  [[nodiscard]] std::string source(const std::string& tag) const {
    return "oci:" + dir + ":" + tag;
  }
};

// Makes tag `to` of the layout at `layout`: `from` plus one layer of what `edit` changes in an
// unpacked copy of `from`'s root (umoci unpack, edit, umoci repack). "" or what went wrong.
inline std::string add_layer(const std::string& layout, const std::string& from,
                             const std::string& to,
                             const std::function<void(const std::string& rootfs)>& edit) {
  std::string bundle = layout + ".bundle-" + to;
  std::string log = layout + ".log";
  std::string why = run_test_tool({"umoci", "unpack", "--image", layout + ":" + from, bundle}, log);
  if (why.empty()) {
    edit(bundle + "/rootfs");
    why = run_test_tool({"umoci", "repack", "--image", layout + ":" + to, bundle}, log);
  }
  std::error_code ec;
  std::filesystem::remove_all(bundle, ec);
  return why;
}

// Makes tag `to`: `from` plus the plain tar `tar_file` as it is, hostile or not (umoci raw
// add-layer). "" or what went wrong.
inline std::string add_raw_layer(const std::string& layout, const std::string& from,
                                 const std::string& to, const std::string& tar_file) {
  return run_test_tool(
      {"umoci", "raw", "add-layer", "--image", layout + ":" + from, "--tag", to, tar_file},
      layout + ".log");
}

namespace image_test_detail {

inline std::string build_busybox(const std::string& layout) {
  for (const char* tool : {"/bin/busybox", "/usr/bin/umoci"}) {
    if (::access(tool, X_OK) != 0) {
      return std::string(tool) +
             " is missing (tools/install-deps.sh installs busybox-static "
             "and umoci)";
    }
  }
  std::string log = layout + ".log";
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"umoci", "init", "--layout", layout}, {"umoci", "new", "--image", layout + ":empty"}}) {
    if (std::string why = run_test_tool(argv, log); !why.empty()) {
      return why;
    }
  }
  std::string why = add_layer(layout, "empty", "busybox", [](const std::string& root) {
    namespace fs = std::filesystem;
    for (const char* d : {"bin", "etc", "tmp", "root"}) {
      fs::create_directories(root + "/" + d);
    }
    fs::permissions(root + "/tmp", fs::perms::all | fs::perms::sticky_bit);
    fs::copy_file("/bin/busybox", root + "/bin/busybox");
    for (const char* applet : {"sh", "ls", "cat", "echo", "sleep", "env", "id", "pwd", "wget", "nc",
                               "httpd", "mkdir", "rm", "test", "true", "false"}) {
      fs::create_symlink("busybox", root + "/bin/" + applet);
    }
    std::ofstream(root + "/etc/motd") << "busybox built for tender's tests\n";
  });
  if (!why.empty()) {
    return why;
  }
  why = run_test_tool(
      {"umoci", "config", "--image", layout + ":busybox", "--config.entrypoint", "/bin/sh",
       "--config.entrypoint", "-c", "--config.cmd", "echo hello from the image", "--config.env",
       "PATH=/bin", "--config.env", "GREETING=hello", "--config.workingdir", "/tmp"},
      log);
  if (!why.empty()) {
    return why;
  }
  return add_layer(layout, "busybox", "busybox-edited", [](const std::string& root) {
    std::filesystem::remove(root + "/bin/cat");
    std::ofstream(root + "/etc/added") << "added by the second layer\n";
  });
}

struct BuiltLayout {
  TestImageLayout layout;
  std::string tmp;
  BuiltLayout() {
    char tmpl[] = "/tmp/tender-test-images-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      layout.error = "mkdtemp failed";
      return;
    }
    tmp = tmpl;
    layout.dir = tmp + "/layout";
    layout.error = build_busybox(layout.dir);
  }
  ~BuiltLayout() {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  }
  BuiltLayout(const BuiltLayout&) = delete;
  BuiltLayout& operator=(const BuiltLayout&) = delete;
};

}  // namespace image_test_detail

// The layout of this test binary, built on the first call.
inline const TestImageLayout& test_images() {
  static image_test_detail::BuiltLayout built;
  return built.layout;
}

}  // namespace tender::pod::testing

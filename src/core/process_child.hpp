#pragma once
// The child's side of Process::spawn: what happens between fork and exec. Not a public header.
//
// The parent builds a ChildPlan (allocating whatever it needs); the child reads only the plan's
// plain values and makes only async-signal-safe calls (raw system calls), so spawning from a
// multi-threaded program is safe.

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace tender::detail {

struct ChildPlan {
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* const* candidates = nullptr;
  size_t candidate_count = 0;
  const char* cwd = nullptr;
  int stdio[3] = {-1, -1, -1};
  int error_fd = -1;
  int max_fd = 0;
  pid_t parent_pid = 0;
  bool new_process_group = false;
  bool die_with_parent = false;
  bool new_pid_namespace = false;
  bool joins_pid_namespace = false;  // forked into another PID namespace: getppid() reads 0
  int netns_fd = -1;
  const char* hostname = nullptr;
  size_t hostname_len = 0;

  // --- the mount namespace (made when any of these is asked for) -----------------------------
  bool mount_namespace = false;
  bool mount_proc = false;
  // Mount points to make read-only (read_only_root): every writable one outside /dev and /proc.
  const char* const* read_only_mounts = nullptr;
  size_t read_only_mount_count = 0;
  // Bind mounts: sources, targets (writable copies, for mkdir -p), read-only flags, and whether
  // a writable mount must be made writable again (its source is writable, but it was copied
  // from a mount that read_only_root made read-only).
  const char* const* mount_sources = nullptr;
  char* const* mount_targets = nullptr;
  const bool* mount_read_only = nullptr;
  const bool* mount_writable_again = nullptr;
  size_t mount_count = 0;
  // Paths bound onto themselves read-only with everything beneath them; missing ones skipped.
  const char* const* read_only_paths = nullptr;
  size_t read_only_path_count = 0;
  const char* const* hide = nullptr;
  size_t hide_count = 0;
  // SpawnOptions::root: the overlay's mount point and options. The bind mounts' sources are
  // then under kHostRootName (where pivot_root leaves the old root until the mounts are made).
  const char* root_target = nullptr;
  const char* overlay_options = nullptr;
  char* root_cwd = nullptr;  // a writable copy of cwd, made in the new root if missing
  bool root_read_only = false;
  int mount_namespace_fd = -1;  // joined first

  // --- limits, identity and privileges, applied last ------------------------------------------
  bool set_nofile = false;
  rlimit nofile{};
  bool no_new_privs = false;
  bool set_capabilities = false;
  std::uint64_t capabilities = 0;
  bool set_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t group_count = 0;
};

// Where the host's root is seen, inside a new root, while the child makes its mounts.
inline constexpr const char* kHostRootName = "/.tender-host";  // also in make_dev()

// Runs in the child after fork: sets everything up and execs, or writes an errno to
// plan.error_fd and exits 127.
[[noreturn]] void run_child(const ChildPlan& plan);

}  // namespace tender::detail

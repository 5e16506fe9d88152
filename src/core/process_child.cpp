#include "core/process_child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/capabilities.hpp"

namespace tender::detail {
namespace {

[[noreturn]] void child_fail(const ChildPlan& plan, int error) {
  while (::write(plan.error_fd, &error, sizeof error) < 0 && errno == EINTR) {
  }
  ::_exit(127);
}

int make_dirs_within(char* path, int depth);

// The directory a dangling symbolic link at `link` names, made as make_dirs() makes it (an
// image's /var/run -> /run without /run): the mount then lands where the link points.
int make_link_target(const char* link, int depth) {
  char target[4096];
  ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n < 0) {
    return errno;
  }
  target[n] = '\0';
  if (target[0] == '/') {
    return make_dirs_within(target, depth + 1);
  }
  char joined[8192];  // the link's directory, then its relative target
  std::size_t len = 0;
  std::size_t dir_end = 0;
  for (; link[len] != '\0' && len < 4096; ++len) {
    joined[len] = link[len];
    dir_end = link[len] == '/' ? len : dir_end;
  }
  len = dir_end;
  joined[len++] = '/';
  for (ssize_t i = 0; i <= n; ++i) {
    joined[len++] = target[i];
  }
  return make_dirs_within(joined, depth + 1);
}

// mkdir -p on a writable path buffer, with async-signal-safe calls only. A component that is a
// dangling symbolic link has its target made (at most 8 links deep: ELOOP).
int make_dirs_within(char* path, int depth) {
  if (depth > 8) {
    return ELOOP;
  }
  auto make = [depth](char* prefix) -> int {
    if (::mkdir(prefix, 0755) == 0) {
      return 0;
    }
    if (errno != EEXIST) {
      return errno;
    }
    struct stat st {};
    if (::stat(prefix, &st) == 0 || errno != ENOENT) {
      return 0;  // there (the mount says if it is no directory)
    }
    return make_link_target(prefix, depth);
  };
  for (char* p = path + 1; *p != '\0'; ++p) {
    if (*p == '/') {
      *p = '\0';
      int rc = make(path);
      *p = '/';
      if (rc != 0) {
        return rc;
      }
    }
  }
  return make(path);
}

int make_dirs(char* path) { return make_dirs_within(path, 0); }

// An empty file at `path` (kept if something is there already), its directories made as
// make_dirs() makes them; async-signal-safe.
int make_file(char* path) {
  char* slash = nullptr;
  for (char* p = path; *p != '\0'; ++p) {
    slash = *p == '/' ? p : slash;
  }
  if (slash != nullptr && slash != path) {
    *slash = '\0';
    int e = make_dirs(path);
    *slash = '/';
    if (e != 0) {
      return e;
    }
  }
  int fd = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    // A directory or a symbolic link there: the mount says what is wrong, or follows the link.
    return errno == EISDIR || errno == EEXIST || errno == ELOOP ? 0 : errno;
  }
  ::close(fd);
  return 0;
}

// Makes the mount at `path` read-only or writable, keeping its other flags; with AT_RECURSIVE
// in `flags`, every mount beneath it too. Returns 0 or an errno.
int set_read_only(const char* path, bool read_only, unsigned flags) {
  mount_attr attr{};
  (read_only ? attr.attr_set : attr.attr_clr) = MOUNT_ATTR_RDONLY;
  if (::syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr) == 0) {
    return 0;
  }
  if (errno != ENOSYS) {
    return errno;
  }
  // Before Linux 5.12: a bind remount, which replaces the mount's flags, so the others are
  // carried over. It changes this mount only.
  struct statfs st {};
  if (::statfs(path, &st) != 0) {
    return errno;
  }
  unsigned long mount_flags = MS_BIND | MS_REMOUNT | (read_only ? MS_RDONLY : 0);
  constexpr std::pair<unsigned long, unsigned long> kKept[] = {
      {ST_NOSUID, MS_NOSUID},          {ST_NODEV, MS_NODEV},           {ST_NOEXEC, MS_NOEXEC},
      {ST_NOATIME, MS_NOATIME},        {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
      {ST_SYNCHRONOUS, MS_SYNCHRONOUS}};
  for (const auto& [st_flag, ms_flag] : kKept) {
    if ((static_cast<unsigned long>(st.f_flags) & st_flag) != 0) {
      mount_flags |= ms_flag;
    }
  }
  return ::mount(nullptr, path, nullptr, mount_flags, nullptr) == 0 ? 0 : errno;
}

// Bind mount targets are made first (once a root is read-only, they could not be). A file is
// bound onto a file: its target is an empty one, in directories made as for the others.
void make_mount_targets(const ChildPlan& plan) {
  for (size_t i = 0; i < plan.mount_count; ++i) {
    struct stat source {};
    if (::stat(plan.mount_sources[i], &source) == 0 && !S_ISDIR(source.st_mode)) {
      if (int e = make_file(plan.mount_targets[i]); e != 0) {
        child_fail(plan, e);
      }
    } else if (int e = make_dirs(plan.mount_targets[i]); e != 0) {
      child_fail(plan, e);
    }
  }
}

void bind_mounts(const ChildPlan& plan) {
  for (size_t i = 0; i < plan.mount_count; ++i) {
    if (::mount(plan.mount_sources[i], plan.mount_targets[i], nullptr, MS_BIND | MS_REC, nullptr) !=
        0) {
      child_fail(plan, errno);
    }
    if (plan.mount_read_only[i] &&
        ::mount(nullptr, plan.mount_targets[i], nullptr,
                MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
      child_fail(plan, errno);
    }
    if (!plan.mount_read_only[i] && plan.mount_writable_again[i]) {
      if (int e = set_read_only(plan.mount_targets[i], false, 0); e != 0) {
        child_fail(plan, e);
      }
    }
  }
}

void protect_paths(const ChildPlan& plan) {
  for (size_t i = 0; i < plan.read_only_path_count; ++i) {
    const char* path = plan.read_only_paths[i];
    struct stat st {};
    if (::lstat(path, &st) != 0) {
      if (errno == ENOENT) {
        continue;
      }
      child_fail(plan, errno);
    }
    if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      child_fail(plan, errno);
    }
    if (int e = set_read_only(path, true, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW); e != 0) {
      child_fail(plan, e);
    }
  }
}

void mount_proc(const ChildPlan& plan) {
  if (plan.mount_proc &&
      ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    child_fail(plan, errno);
  }
}

// A directory the new root may lack: made (in the overlay's upper directory) or failed.
void make_dir(const ChildPlan& plan, const char* path, mode_t mode) {
  if (::mkdir(path, mode) != 0 && errno != EEXIST) {
    child_fail(plan, errno);
  }
}

// The new root's /dev, as container runtimes make it: a tmpfs, the harmless devices bound
// from ours (under kHostRootName), a devpts of its own, /dev/shm and the usual links.
void make_dev(const ChildPlan& plan) {
  make_dir(plan, "/dev", 0755);
  if (::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0) {
    child_fail(plan, errno);
  }
  // (Sources under kHostRootName, written out: no string is built after fork.)
  constexpr std::pair<const char*, const char*> kDevices[] = {
      {"/.tender-host/dev/null", "/dev/null"},       {"/.tender-host/dev/zero", "/dev/zero"},
      {"/.tender-host/dev/full", "/dev/full"},       {"/.tender-host/dev/random", "/dev/random"},
      {"/.tender-host/dev/urandom", "/dev/urandom"}, {"/.tender-host/dev/tty", "/dev/tty"}};
  for (const auto& [source, target] : kDevices) {
    int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
      child_fail(plan, errno);
    }
    ::close(fd);
    if (::mount(source, target, nullptr, MS_BIND, nullptr) != 0) {
      child_fail(plan, errno);
    }
  }
  make_dir(plan, "/dev/pts", 0755);
  if (::mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") != 0) {
    child_fail(plan, errno);
  }
  make_dir(plan, "/dev/shm", 01777);
  if (::mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=1777,size=65536k") != 0) {
    child_fail(plan, errno);
  }
  constexpr std::pair<const char*, const char*> kLinks[] = {{"pts/ptmx", "/dev/ptmx"},
                                                            {"/proc/self/fd", "/dev/fd"},
                                                            {"/proc/self/fd/0", "/dev/stdin"},
                                                            {"/proc/self/fd/1", "/dev/stdout"},
                                                            {"/proc/self/fd/2", "/dev/stderr"}};
  for (const auto& [to, link] : kLinks) {
    if (::symlink(to, link) != 0) {
      child_fail(plan, errno);
    }
  }
}

// An image's root: the overlay, pivot_root into it, then /proc, /dev, /sys and the bind
// mounts resolved inside it; the old root is detached last.
void make_root(const ChildPlan& plan) {
  if (::mount("overlay", plan.root_target, "overlay", 0, plan.overlay_options) != 0 ||
      ::chdir(plan.root_target) != 0) {
    child_fail(plan, errno);
  }
  make_dir(plan, kHostRootName + 1, 0700);
  if (::syscall(SYS_pivot_root, ".", kHostRootName + 1) != 0 || ::chdir("/") != 0) {
    child_fail(plan, errno);
  }
  make_dir(plan, "/proc", 0555);
  mount_proc(plan);
  make_dev(plan);
  make_dir(plan, "/sys", 0555);
  constexpr unsigned long kSysFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount("sysfs", "/sys", "sysfs", kSysFlags, nullptr) != 0) {
    child_fail(plan, errno);
  }
  make_mount_targets(plan);
  if (plan.root_cwd != nullptr) {
    (void)make_dirs(plan.root_cwd);  // as container engines do; chdir says what is wrong
  }
  bind_mounts(plan);
  protect_paths(plan);
  if (::umount2(kHostRootName, MNT_DETACH) != 0 || ::rmdir(kHostRootName) != 0) {
    child_fail(plan, errno);
  }
  if (plan.root_read_only) {
    if (int e = set_read_only("/", true, 0); e != 0) {
      child_fail(plan, e);
    }
  }
}

// The mount namespace: a fresh /proc, the read-only root, volumes, read-only paths, hidden
// directories, in that order; or, with a root of its own, make_root().
void make_mounts(const ChildPlan& plan) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    child_fail(plan, errno);
  }
  if (plan.root_target != nullptr) {
    make_root(plan);
    return;
  }
  mount_proc(plan);
  make_mount_targets(plan);
  for (size_t i = 0; i < plan.read_only_mount_count; ++i) {
    if (int e = set_read_only(plan.read_only_mounts[i], true, AT_SYMLINK_NOFOLLOW); e != 0) {
      child_fail(plan, e);
    }
  }
  bind_mounts(plan);
  protect_paths(plan);
  for (size_t i = 0; i < plan.hide_count; ++i) {
    if (::mount("tmpfs", plan.hide[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=4k,mode=755") != 0) {
      child_fail(plan, errno);
    }
  }
}

// As runc does it: the bounding set first (which needs CAP_SETPCAP, still held), then the user
// (keeping the permitted set across setuid), then the remaining sets. Inheritable and ambient
// end up empty, so a non-root user holds no capability after exec unless the program file
// grants it, and root holds exactly `plan.capabilities`.
void apply_identity(const ChildPlan& plan) {
  std::uint64_t keep = 0;
  if (plan.set_capabilities) {
    CapabilitySets held;
    if (int e = get_capability_sets(held); e != 0) {
      child_fail(plan, e);
    }
    keep = plan.capabilities & held.permitted;
    if (int e = drop_bounding_set(keep); e != 0) {
      child_fail(plan, e);
    }
  }
  if (plan.set_user) {
    if (plan.set_capabilities && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
      child_fail(plan, errno);
    }
    // Pipes of its standard streams become the user's, so that it can open /dev/stdout again
    // (as many programs do for their logs); nobody else holds their other ends but us.
    for (int fd = 0; fd < 3; ++fd) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && ::fchown(fd, plan.uid, plan.gid) != 0) {
        child_fail(plan, errno);
      }
    }
    // Raw system calls: they change this thread only, which is all there is.
    if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0 ||
        ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0 ||
        ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      child_fail(plan, errno);
    }
    if (plan.set_capabilities && ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
      child_fail(plan, errno);
    }
    // Changing the user cleared the parent-death signal: set it again.
    if (plan.die_with_parent && ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
      child_fail(plan, errno);
    }
    if (plan.die_with_parent && !plan.new_pid_namespace && !plan.joins_pid_namespace &&
        ::getppid() != plan.parent_pid) {
      ::kill(::getpid(), SIGKILL);
      ::_exit(127);
    }
  }
  if (plan.set_capabilities) {
    if (int e = set_capability_sets({.effective = keep, .permitted = keep, .inheritable = 0});
        e != 0) {
      child_fail(plan, e);
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
      child_fail(plan, errno);  // EINVAL: a kernel without ambient capabilities (< 4.3)
    }
  }
  if (plan.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    child_fail(plan, errno);
  }
}

void close_inherited_fds(const ChildPlan& plan) {
  const int keep = plan.error_fd;  // >= 3, close-on-exec
#ifdef SYS_close_range
  bool ok = true;
  if (keep > 3) {
    ok = ::syscall(SYS_close_range, 3U, static_cast<unsigned>(keep - 1), 0U) == 0;
  }
  if (ok && ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0U, 0U) == 0) {
    return;
  }
#endif
  for (int fd = 3; fd < plan.max_fd; ++fd) {
    if (fd != keep) {
      ::close(fd);
    }
  }
}

[[noreturn]] void exec_candidates(const ChildPlan& plan) {
  // execvp's search rules: skip directories where the file is missing, remember EACCES,
  // stop at any other error.
  bool saw_eacces = false;
  for (size_t i = 0; i < plan.candidate_count; ++i) {
    ::execve(plan.candidates[i], plan.argv, plan.envp);
    const int error = errno;
    if (plan.candidate_count == 1) {
      child_fail(plan, error);
    }
    switch (error) {
      case EACCES:
        saw_eacces = true;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
      case ENAMETOOLONG:
      case ELOOP:
        break;
      default:
        child_fail(plan, error);
    }
  }
  child_fail(plan, saw_eacces ? EACCES : ENOENT);
}

}  // namespace

[[noreturn]] void run_child(const ChildPlan& plan) {
  // Signals are all blocked (by the parent, before fork). Restore default dispositions first,
  // so that no handler of the parent's ever runs here.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      ::sigaction(sig, &dfl, nullptr);  // fails harmlessly for the ones libc reserves
    }
  }

  if (plan.die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
      child_fail(plan, errno);
    }
    // The parent may have died before prctl: then we have been reparented already. (In another
    // PID namespace the parent is outside it and getppid() reads 0.)
    if (!plan.new_pid_namespace && !plan.joins_pid_namespace && ::getppid() != plan.parent_pid) {
      ::kill(::getpid(), SIGKILL);
      ::_exit(127);
    }
  }
  if (plan.new_process_group && ::setpgid(0, 0) != 0) {
    child_fail(plan, errno);
  }
  if (plan.netns_fd >= 0 && ::setns(plan.netns_fd, CLONE_NEWNET) != 0) {
    child_fail(plan, errno);
  }
  if (plan.mount_namespace_fd >= 0 && ::setns(plan.mount_namespace_fd, CLONE_NEWNS) != 0) {
    child_fail(plan, errno);
  }
  if (plan.hostname != nullptr &&
      (::unshare(CLONE_NEWUTS) != 0 || ::sethostname(plan.hostname, plan.hostname_len) != 0)) {
    child_fail(plan, errno);
  }
  for (int target = 0; target < 3; ++target) {
    if (plan.stdio[target] >= 0 && ::dup2(plan.stdio[target], target) < 0) {
      child_fail(plan, errno);
    }
  }
  if (plan.mount_namespace) {
    make_mounts(plan);
  }
  // The soft limit this process had before raise_fd_limit(): programs that use select(), or
  // walk every possible descriptor, break with a huge one.
  if (plan.set_nofile && ::setrlimit(RLIMIT_NOFILE, &plan.nofile) != 0) {
    child_fail(plan, errno);
  }
  apply_identity(plan);
  // After the user is set, so that the directory is checked as that user sees it.
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) {
    child_fail(plan, errno);
  }
  close_inherited_fds(plan);

  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  exec_candidates(plan);
}

}  // namespace tender::detail

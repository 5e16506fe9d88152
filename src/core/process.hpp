// The one way tender spawns a process: pod containers, work items, exec probes and hooks all go
// through `Process::spawn`. Linux only.
//
// Commands are executed from argv, never through a shell (pass {"/bin/sh", "-c", ...} yourself
// when a shell is wanted). All allocation happens before fork; the child only makes
// async-signal-safe calls, so spawning from a multi-threaded program is safe. A failed exec
// (missing binary, no permission, bad cwd) is returned by `spawn` as an error, not as a child
// that exits 127.
//
// Usage:
//
//   tender::SpawnOptions options;
//   options.argv = {"redis-server", "--port", "0"};
//   options.stdout_ = tender::Stdio::file("/var/log/redis.log", tender::Stdio::kAppend);
//   options.stderr_ = tender::Stdio::pipe();
//   auto process = tender::Process::spawn(options);
//   if (!process) {
//     log("spawn failed: " + process.error().message());  // e.g. "No such file or directory"
//     return;
//   }
//   // An event loop can wait for exit on process->pidfd() and read process->stderr_fd().
//   (void)process->kill_group(SIGTERM);
//   tender::ExitStatus status = process->wait();
//   log(status.describe());  // "killed by SIGTERM"
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace tender {

// Where one of the child's standard streams goes.
class Stdio {
 public:
  enum class Kind { kInherit, kNull, kFile, kPipe };
  enum FileMode { kTruncate, kAppend };

  // The parent's own fd (the default).
  static Stdio inherit() { return Stdio(Kind::kInherit); }
  // /dev/null.
  static Stdio null() { return Stdio(Kind::kNull); }
  // A file, created (mode 0666 minus umask) if missing. For stdin it is opened read-only and
  // `mode` is ignored. When stdout and stderr share one file, use kAppend for both: with
  // kTruncate each stream has its own offset and they overwrite each other.
  static Stdio file(std::string path, FileMode mode = kAppend) {
    Stdio stdio(Kind::kFile);
    stdio.path_ = std::move(path);
    stdio.mode_ = mode;
    return stdio;
  }
  // A pipe: the child gets one end as the stream, the parent keeps the other (close-on-exec,
  // blocking), reachable through Process::stdin_fd() / stdout_fd() / stderr_fd().
  static Stdio pipe() { return Stdio(Kind::kPipe); }

  Stdio() = default;
  Kind kind() const { return kind_; }
  const std::string& path() const { return path_; }
  FileMode mode() const { return mode_; }

 private:
  explicit Stdio(Kind kind) : kind_(kind) {}

  Kind kind_ = Kind::kInherit;
  std::string path_;
  FileMode mode_ = kAppend;
};

struct SpawnOptions {
  // The program and its arguments; must not be empty. An argv[0] without a slash is searched
  // in PATH as execvp does: the PATH of `env` if given and set there, else this process's
  // PATH, else "/usr/local/bin:/usr/bin:/bin". Unlike execvp, a file without a valid executable
  // format fails with ENOEXEC instead of being retried with /bin/sh.
  std::vector<std::string> argv;
  // The child's whole environment as "K=V" strings; nullopt inherits this process's.
  std::optional<std::vector<std::string>> env;
  // The child's working directory; empty keeps this process's.
  std::string cwd;
  Stdio stdin_;
  Stdio stdout_;
  Stdio stderr_;
  // Put the child in a new process group (pgid == pid), so kill_group() reaches everything it
  // starts, and a terminal's Ctrl-C does not.
  bool new_process_group = true;
  // PR_SET_PDEATHSIG SIGKILL: the child is killed when this process dies, even by SIGKILL.
  // Caveat (Linux): "parent" means the *thread* that called spawn(), so spawn from a thread
  // that outlives the child (e.g. the main thread or a long-lived loop thread).
  bool die_with_parent = true;
  // Bind mounts made in a mount namespace of the child's own, before it changes directory:
  // each `source` appears at `target` (created like mkdir -p when missing, or as an empty file
  // when `source` is not a directory), read-only if asked.
  // Needs CAP_SYS_ADMIN: without it spawn fails with EPERM.
  struct BindMount {
    std::string source;
    std::string target;
    bool read_only = false;
  };
  std::vector<BindMount> mounts;
  // Directories covered, in that mount namespace, by an empty read-only tmpfs (after the bind
  // mounts are made, so a mount's source may lie inside one). Needs CAP_SYS_ADMIN too.
  std::vector<std::string> hide;
  // The child becomes PID 1 of a new PID namespace: when it exits, the kernel kills every
  // process it started, so with die_with_parent nothing it started can outlive us. Like any
  // PID 1 it ignores signals it installs no handler for (SIGTERM included; SIGKILL from here
  // still works). Needs CAP_SYS_ADMIN: without it spawn fails with EPERM.
  bool new_pid_namespace = false;
  // The child joins this network namespace (an fd of /proc/PID/ns/net, or one made by
  // tender::create_netns) before anything else; -1 keeps ours. Needs CAP_SYS_ADMIN.
  int netns_fd = -1;
  // Non-empty: the child gets a UTS namespace of its own with this host name (as a pod's
  // containers see the pod's name). Needs CAP_SYS_ADMIN.
  std::string hostname;
  // The child joins the PID namespace of this fd (of /proc/PID/ns/pid) instead of ours, as a
  // process of another container would; -1 keeps ours. Not with new_pid_namespace. Needs
  // CAP_SYS_ADMIN.
  int pid_namespace_fd = -1;

  // --- what the child sees of the filesystems (each makes a mount namespace of its own) --------
  // A /proc of the child's own PID namespace (with new_pid_namespace or pid_namespace_fd), so
  // it sees its own processes only, and none of ours.
  bool mount_proc = false;
  // Every mount the child sees becomes read-only, except /dev and /proc and the mounts beneath
  // them (devices, shared memory and the process table stay usable) and the `mounts` above,
  // which keep their own mode. Mount targets are created before.
  bool read_only_root = false;
  // Each existing path is bound onto itself read-only, with every mount beneath it (as runc
  // protects /proc/sys and /sys); missing paths are skipped.
  std::vector<std::string> read_only_paths;
  // A root filesystem of the child's own (an image's): an overlay of `lower` (directories, the
  // top layer first) with its writes in `upper` (and `work`, overlayfs' scratch directory on
  // the same filesystem), mounted at `target`; the child pivots its root there. Its /dev is a
  // tmpfs with null, zero, full, random, urandom and tty bound from ours, a new devpts and
  // /dev/shm; /sys is a sysfs of its network namespace, read-only; /proc as mount_proc says.
  // Then `mounts` are made with their targets resolved inside the new root (a symbolic link
  // in the image cannot send one outside it), `read_only_paths` too, and a missing
  // working directory is made; `hide` is not needed (nothing of ours is left in view) and
  // read_only_root makes the new root read-only. The overlay goes when the mount namespace
  // does: with the last process in it. The caller makes target, upper and work. Paths must
  // not contain ',' or ':' (EINVAL); all of lower must fit the kernel's option page (E2BIG).
  // Needs CAP_SYS_ADMIN.
  struct Root {
    std::vector<std::string> lower;
    std::string upper;
    std::string work;
    std::string target;
  };
  std::optional<Root> root;
  // The child joins this mount namespace (an fd of /proc/PID/ns/mnt), and with it that
  // namespace's root and mounts, before any mount of its own: how a command runs inside a
  // container that has a root of its own. -1 keeps ours. Needs CAP_SYS_ADMIN and
  // CAP_SYS_CHROOT.
  int mount_namespace_fd = -1;

  // --- who the child is and what it may do: applied after the mounts, before cwd and exec ----
  // The child's user, group and supplementary groups (setgroups, setresgid, setresuid); its
  // standard streams that are pipes become that user's, so it can reopen /dev/stdout. Needs
  // CAP_SETUID, CAP_SETGID and CAP_CHOWN: without them spawn fails with EPERM.
  struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };
  std::optional<User> user;
  // The capabilities the child keeps (a mask, core/capabilities.hpp): its bounding, permitted
  // and effective sets become this set (less what we do not hold ourselves); inheritable and
  // ambient are cleared. As with runc, a child that runs as root holds exactly these after
  // exec, and one that runs as another user holds none, unless its program file grants some.
  // nullopt keeps ours. Needs CAP_SETPCAP to drop: without it spawn fails with EPERM.
  std::optional<std::uint64_t> capabilities;
  // PR_SET_NO_NEW_PRIVS: exec can never grant privileges again (setuid programs and file
  // capabilities have no effect), for the child and everything it starts.
  bool no_new_privs = false;
};

// How a child ended.
struct ExitStatus {
  bool exited = false;       // true: returned from main or called exit; `code` is its status
  int code = 0;              // exit status if `exited`; 128 + signal if killed (as shells do)
  int signal = 0;            // the terminating signal if killed, else 0
  bool core_dumped = false;  // killed and left a core dump

  // Neither exited nor signal: the child was reaped by someone else (see reap_orphans()) or
  // SIGCHLD is ignored, so its status is lost.
  bool unknown() const { return !exited && signal == 0; }
  bool success() const { return exited && code == 0; }

  // "exited 3", "killed by SIGKILL", "killed by SIGSEGV (core dumped)", or "status unknown".
  std::string describe() const;

  // Decodes a waitpid() status word.
  static ExitStatus from_wait_status(int status);

  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

// A spawned child process. Move-only.
//
// Lifetime: the destructor of a Process that has not been waited for (whether still running or
// already a zombie) kills it with SIGKILL — its whole process group if it has its own — and
// reaps it, so a Process never leaks a running child or a zombie. Destruction therefore blocks
// until the child is gone, which SIGKILL makes quick (unless it is stuck in uninterruptible
// sleep). To stop a child gracefully, kill_group(SIGTERM) and wait() before destroying it.
//
// Thread-safety: none; one owner at a time.
class Process {
 public:
  // Starts a child as described. Errors (system_category errno values): EINVAL for an empty
  // argv, or new_pid_namespace with pid_namespace_fd; from setting up stdio (e.g. ENOENT for a
  // missing stdin file) and the pipes (EMFILE when out of descriptors); from fork; from the
  // child before exec (namespaces, mounts, user and capabilities: EPERM without the privilege;
  // chdir: ENOENT, ENOTDIR, EACCES) and from exec (ENOENT, EACCES, ENOEXEC, E2BIG, ...). On
  // error no child is left behind: it has been reaped.
  [[nodiscard]] static boost::system::result<Process> spawn(const SpawnOptions& options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  // The child's process group: its own pid if spawned with new_process_group, else ours.
  pid_t pgid() const { return pgid_; }
  // A pidfd for the child (readable once it exits), or -1 if the kernel lacks pidfd_open
  // (< 5.3). Owned by the Process and valid until it is destroyed, also after wait().
  int pidfd() const { return pidfd_; }

  // The parent's end of each piped stream, or -1 if that stream is not a pipe (or released).
  // Owned by the Process. Writing to stdin_fd() after the child closed it raises SIGPIPE
  // unless this process ignores SIGPIPE.
  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  // Hands the fd over to the caller (e.g. to an event loop's stream), who must close it.
  // Returns -1 if there is none.
  [[nodiscard]] int release_stdin_fd() { return std::exchange(stdin_fd_, -1); }
  [[nodiscard]] int release_stdout_fd() { return std::exchange(stdout_fd_, -1); }
  [[nodiscard]] int release_stderr_fd() { return std::exchange(stderr_fd_, -1); }
  // Closes our end of the child's stdin, so it reads end-of-file.
  void close_stdin();

  // Sends `sig` to the child alone (through the pidfd when there is one). Fails with ESRCH once
  // the child has been reaped: its pid may belong to someone else by then.
  [[nodiscard]] boost::system::error_code kill(int sig);

  // Sends `sig` to the child's whole process group, including grandchildren that have not
  // left it. Valid also after wait(): the group's id cannot be reused while any member lives,
  // so this is how a supervisor cleans up after a leader that exited first. ESRCH if the group
  // is empty; EINVAL if the child was spawned without new_process_group (it would hit us).
  [[nodiscard]] boost::system::error_code kill_group(int sig);

  // The exit status if the child has ended (reaping it), nullopt if it is still running.
  // Once reaped, returns the same status every time.
  [[nodiscard]] std::optional<ExitStatus> try_wait();

  // Blocks until the child ends and reaps it (EINTR-safe). Returns at once if already reaped.
  ExitStatus wait();

  // Whether try_wait() or wait() has reaped the child.
  bool reaped() const { return status_.has_value(); }

 private:
  Process() = default;
  void close_fds();
  void destroy();

  pid_t pid_ = -1;
  pid_t pgid_ = -1;
  bool own_group_ = false;
  int pidfd_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::optional<ExitStatus> status_;
};

// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned descendants are
// reparented to it instead of to init, so a supervisor sees, and must reap, its grandchildren.
[[nodiscard]] boost::system::error_code become_subreaper();

// Reaps every child that has already ended, without blocking, and returns their pids and
// statuses. It skips nothing: a child owned by a Process is reaped too, after which that
// Process reports ExitStatus::unknown(). A caller that owns Process objects must therefore
// coordinate, e.g. look up returned pids among its own Processes, or only call this once they
// are all waited for.
std::vector<std::pair<pid_t, ExitStatus>> reap_orphans();

// Raises this process's RLIMIT_NOFILE soft limit to its hard limit, so a supervisor of many
// children does not run out of descriptors. Every child spawned afterwards gets the soft limit
// found at the first call back (programs that use select() break with a huge one). Call it
// early, before other threads spawn. Returns the soft limit now in force (the old one if it
// could not be raised).
std::uint64_t raise_fd_limit();

// How many file descriptors this process has open (counted in /proc/self/fd), and its soft
// limit. Counting costs a directory read, so call it now and then, not per descriptor.
struct FdUsage {
  std::uint64_t open = 0;
  std::uint64_t limit = 0;
};
[[nodiscard]] boost::system::result<FdUsage> fd_usage();

// Names the calling thread as `ps -L`, `top -H` and /proc/PID/task/TID/comm show it (the
// kernel keeps 15 bytes).
void name_this_thread(const std::string& name);

// "SIGTERM", "SIGRTMIN+3", or "SIG<n>" for a number without a name.
std::string signal_name(int sig);

// Parses "TERM", "SIGTERM", "sigterm", "15", "SIGRTMIN+3" or "RTMAX-1". nullopt if unknown or
// out of range (valid: 1..SIGRTMAX).
std::optional<int> parse_signal(std::string_view text);

}  // namespace tender

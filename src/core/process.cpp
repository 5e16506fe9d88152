#include "core/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/process_child.hpp"

namespace tender {

namespace {

using boost::system::error_code;
using detail::ChildPlan;
using detail::run_child;

// Ensures `fd` is >= 3 (and close-on-exec), so that the child's dup2() onto 0, 1 and 2 can
// never overwrite a descriptor it still needs. Returns 0 or an errno.
int move_above_stdio(Fd& fd) {
  if (fd.get() > STDERR_FILENO) {
    return 0;
  }
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) {
    return errno;
  }
  fd.reset(moved);
  return 0;
}

// What the parent sets up for one of the child's standard streams.
struct StreamSetup {
  Fd child;   // becomes fd 0, 1 or 2 in the child; -1 to inherit
  Fd parent;  // our end of a pipe, else -1
};

int setup_stream(const Stdio& stdio, int target, StreamSetup& out) {
  switch (stdio.kind()) {
    case Stdio::Kind::kInherit:
      return 0;
    case Stdio::Kind::kNull:
      out.child.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
      break;
    case Stdio::Kind::kFile: {
      int flags = O_CLOEXEC | O_NOCTTY;
      if (target == STDIN_FILENO) {
        flags |= O_RDONLY;
      } else {
        flags |= O_WRONLY | O_CREAT | (stdio.mode() == Stdio::kAppend ? O_APPEND : O_TRUNC);
      }
      out.child.reset(::open(stdio.path().c_str(), flags, 0666));
      break;
    }
    case Stdio::Kind::kPipe: {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) {
        return errno;
      }
      Fd read_end(fds[0]);
      Fd write_end(fds[1]);
      if (target == STDIN_FILENO) {
        out.child = std::move(read_end);
        out.parent = std::move(write_end);
      } else {
        out.child = std::move(write_end);
        out.parent = std::move(read_end);
      }
      break;
    }
  }
  if (out.child.get() < 0) {
    return errno;
  }
  return move_above_stdio(out.child);
}

// Candidate paths for argv[0], in execvp's order.
std::vector<std::string> exec_candidates(const SpawnOptions& options) {
  const std::string& name = options.argv[0];
  if (name.find('/') != std::string::npos) {
    return {name};
  }
  if (name.empty()) {
    return {};
  }
  std::optional<std::string> path;
  if (options.env) {
    for (const std::string& entry : *options.env) {
      if (entry.rfind("PATH=", 0) == 0) {
        path = entry.substr(5);  // the last one wins, as getenv would see it
      }
    }
  }
  if (!path) {
    if (const char* inherited = ::getenv("PATH")) {
      path = inherited;
    }
  }
  if (!path) {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  std::vector<std::string> candidates;
  std::string_view rest = *path;
  for (;;) {
    const size_t colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    if (dir.empty()) {
      dir = ".";  // POSIX: an empty PATH element is the current directory
    }
    std::string candidate(dir);
    candidate += '/';
    candidate += name;
    candidates.push_back(std::move(candidate));
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  return candidates;
}

// The soft RLIMIT_NOFILE found by the first raise_fd_limit(), given back to children; 0 until
// then.
std::atomic<rlim_t> g_child_nofile{0};

// A mount point as /proc/self/mountinfo writes it: space, tab, newline and backslash are octal
// escapes.
std::string unescape_mount_point(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int value = 0;
      const auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 4, value, 8);
      if (ec == std::errc() && end == s.data() + i + 4) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool is_under(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

// Every writable mount point we see, except /dev, /proc and what lies beneath them, in the
// order of /proc/self/mountinfo (parents before their children).
int writable_mounts(std::vector<std::string>& out) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) {
    return errno != 0 ? errno : EIO;
  }
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options ...
    std::string_view rest = line;
    std::string_view fields[6];
    for (auto& field : fields) {
      const size_t space = rest.find(' ');
      field = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
    const std::string point = unescape_mount_point(fields[4]);
    const bool read_only = fields[5] == "ro" || fields[5].substr(0, 3) == "ro,";
    if (!read_only && !is_under(point, "/dev") && !is_under(point, "/proc")) {
      out.push_back(point);
    }
  }
  return 0;
}

// Whatever the child's plan points into, kept alive by the parent until the child has exec'd.
struct ChildStorage {
  std::vector<std::string> mount_source_copies;  // under kHostRootName, with a root
  std::vector<const char*> mount_sources;
  std::vector<std::string> mount_target_copies;
  std::vector<char*> mount_targets;
  std::unique_ptr<bool[]> mount_read_only;
  std::unique_ptr<bool[]> mount_writable_again;
  std::vector<std::string> read_only_mount_points;
  std::vector<const char*> read_only_mounts;
  std::vector<const char*> read_only_paths;
  std::vector<const char*> hide;
  std::string overlay_options;
  std::string root_cwd;
};

// The overlay's options for SpawnOptions::root: EINVAL for a path that would break them,
// E2BIG past what the kernel reads (one page).
int prepare_root(const SpawnOptions& options, ChildStorage& st, ChildPlan& plan) {
  const SpawnOptions::Root& root = *options.root;
  auto bad = [](const std::string& path) {
    return path.empty() || path.front() != '/' || path.find_first_of(",:") != std::string::npos;
  };
  if (root.lower.empty() || bad(root.upper) || bad(root.work) || bad(root.target)) {
    return EINVAL;
  }
  std::string& o = st.overlay_options;
  o = "lowerdir=";
  for (const std::string& dir : root.lower) {
    if (bad(dir)) {
      return EINVAL;
    }
    o += dir;
    o += ':';
  }
  o.back() = ',';
  o += "upperdir=" + root.upper + ",workdir=" + root.work;
  if (o.size() >= 4096) {
    return E2BIG;
  }
  plan.root_target = root.target.c_str();
  plan.overlay_options = o.c_str();
  plan.root_read_only = options.read_only_root;
  if (!options.cwd.empty()) {
    st.root_cwd = options.cwd;
    plan.root_cwd = st.root_cwd.data();
  }
  return 0;
}

int prepare_mounts(const SpawnOptions& options, ChildStorage& st, ChildPlan& plan) {
  const size_t n = options.mounts.size();
  st.mount_read_only.reset(new bool[n + 1]);
  st.mount_writable_again.reset(new bool[n + 1]);
  for (size_t i = 0; i < n; ++i) {
    const auto& m = options.mounts[i];
    st.mount_source_copies.push_back(options.root ? detail::kHostRootName + m.source : m.source);
    st.mount_target_copies.push_back(m.target);
    st.mount_read_only[i] = m.read_only;
    // Bound from a mount that read_only_root makes read-only, a writable volume would be too.
    struct statvfs source {};
    st.mount_writable_again[i] = options.read_only_root && !m.read_only &&
                                 ::statvfs(m.source.c_str(), &source) == 0 &&
                                 (source.f_flag & ST_RDONLY) == 0;
  }
  for (size_t i = 0; i < n; ++i) {
    st.mount_sources.push_back(st.mount_source_copies[i].c_str());
    st.mount_targets.push_back(st.mount_target_copies[i].data());
  }
  if (options.root) {
    if (int error = prepare_root(options, st, plan); error != 0) {
      return error;
    }
  } else if (options.read_only_root) {
    if (int error = writable_mounts(st.read_only_mount_points); error != 0) {
      return error;
    }
    for (const auto& point : st.read_only_mount_points) {
      st.read_only_mounts.push_back(point.c_str());
    }
  }
  for (const auto& path : options.read_only_paths) {
    st.read_only_paths.push_back(path.c_str());
  }
  for (const auto& h : options.hide) {
    st.hide.push_back(h.c_str());
  }
  plan.mount_namespace = n > 0 || !options.hide.empty() || options.read_only_root ||
                         !options.read_only_paths.empty() || options.mount_proc ||
                         options.root.has_value();
  plan.mount_proc = options.mount_proc;
  plan.mount_sources = st.mount_sources.data();
  plan.mount_targets = st.mount_targets.data();
  plan.mount_read_only = st.mount_read_only.get();
  plan.mount_writable_again = st.mount_writable_again.get();
  plan.mount_count = n;
  plan.read_only_mounts = st.read_only_mounts.data();
  plan.read_only_mount_count = st.read_only_mounts.size();
  plan.read_only_paths = st.read_only_paths.data();
  plan.read_only_path_count = st.read_only_paths.size();
  plan.hide = st.hide.data();
  plan.hide_count = st.hide.size();
  return 0;
}

// Everything but the stdio and error descriptors. Returns 0 or an errno.
int prepare_plan(const SpawnOptions& options, std::vector<char*>& argv, std::vector<char*>& envp,
                 const std::vector<const char*>& candidates, ChildStorage& storage,
                 ChildPlan& plan) {
  if (options.new_pid_namespace && options.pid_namespace_fd >= 0) {
    return EINVAL;
  }
  rlimit limit{};
  int max_fd = 65536;
  const bool have_limit = ::getrlimit(RLIMIT_NOFILE, &limit) == 0;
  if (have_limit && limit.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
  }
  if (const rlim_t original = g_child_nofile.load(); have_limit && original != 0) {
    plan.set_nofile = true;
    plan.nofile.rlim_cur = std::min(original, limit.rlim_max);
    plan.nofile.rlim_max = limit.rlim_max;
  }
  plan.argv = argv.data();
  plan.envp = options.env ? envp.data() : environ;
  plan.candidates = candidates.data();
  plan.candidate_count = candidates.size();
  plan.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  plan.max_fd = max_fd;
  plan.parent_pid = ::getpid();
  plan.new_process_group = options.new_process_group;
  plan.die_with_parent = options.die_with_parent;
  plan.new_pid_namespace = options.new_pid_namespace;
  plan.joins_pid_namespace = options.pid_namespace_fd >= 0;
  plan.netns_fd = options.netns_fd;
  plan.mount_namespace_fd = options.mount_namespace_fd;
  if (!options.hostname.empty()) {
    plan.hostname = options.hostname.c_str();
    plan.hostname_len = options.hostname.size();
  }
  if (int error = prepare_mounts(options, storage, plan); error != 0) {
    return error;
  }
  plan.no_new_privs = options.no_new_privs;
  if (options.capabilities) {
    plan.set_capabilities = true;
    plan.capabilities = *options.capabilities;
  }
  if (options.user) {
    plan.set_user = true;
    plan.uid = options.user->uid;
    plan.gid = options.user->gid;
    plan.groups = options.user->groups.data();
    plan.group_count = options.user->groups.size();
  }
  return 0;
}

// Forks (or clones into a new PID namespace, or forks into another one) and runs the plan in
// the child. Returns 0 with `pid` set, or an errno.
// Each string's characters, for execve (which does not write to them), then a null pointer.
std::vector<char*> exec_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) {
    out.push_back(const_cast<char*>(s.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

// What the child wrote on its error pipe (`fd`) before it could exec: 0 when exec closed the
// pipe without a word.
int exec_error(int fd) {
  int child_error = 0;
  ssize_t n;
  do {
    n = ::read(fd, &child_error, sizeof child_error);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    return child_error != 0 ? child_error : EIO;
  }
  return 0;
}

int fork_child(const SpawnOptions& options, const ChildPlan& plan, pid_t& pid) {
  // To fork into another PID namespace, this thread enters it for its children, and returns.
  Fd own_pid_namespace;
  if (options.pid_namespace_fd >= 0) {
    own_pid_namespace.reset(::open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (!own_pid_namespace) {
      return errno;
    }
    if (::setns(options.pid_namespace_fd, CLONE_NEWPID) != 0) {
      return errno;
    }
  }
  // Block every signal across fork so no handler of ours runs in the child before it resets
  // the dispositions (a handler there could, e.g., write into an event loop's wake-up pipe).
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  // A raw clone with CLONE_NEWPID behaves like fork (the child runs on a copy of this stack)
  // but makes the child PID 1 of a new PID namespace.
  pid = options.new_pid_namespace
            ? static_cast<pid_t>(
                  ::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr))
            : ::fork();
  if (pid == 0) {
    run_child(plan);
  }
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (own_pid_namespace && ::setns(own_pid_namespace.get(), CLONE_NEWPID) != 0) {
    // Returning to the namespace this thread lives in is always allowed: if the kernel says
    // otherwise, every later child would land in a container.
    std::abort();
  }
  return pid < 0 ? fork_error : 0;
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0U);  // close-on-exec by default
  return fd >= 0 ? static_cast<int>(fd) : -1;
#else
  (void)pid;
  return -1;
#endif
}

pid_t waitpid_eintr(pid_t pid, int* status, int flags) {
  for (;;) {
    const pid_t result = ::waitpid(pid, status, flags);
    if (result >= 0 || errno != EINTR) {
      return result;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ExitStatus

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.code = 128 + result.signal;
    result.core_dumped = WCOREDUMP(status);
  }
  return result;
}

std::string ExitStatus::describe() const {
  if (exited) {
    return "exited " + std::to_string(code);
  }
  if (signal != 0) {
    return "killed by " + signal_name(signal) + (core_dumped ? " (core dumped)" : "");
  }
  return "status unknown";
}

// ---------------------------------------------------------------------------------------------
// Process

boost::system::result<Process> Process::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) {
    return errno_code(EINVAL);
  }

  // Everything the child will read is built here, before fork.
  std::vector<char*> argv = exec_strings(options.argv);
  std::vector<char*> envp;
  if (options.env) {
    envp = exec_strings(*options.env);
  }

  const std::vector<std::string> candidates = exec_candidates(options);
  if (candidates.empty()) {
    return errno_code(ENOENT);
  }
  std::vector<const char*> candidate_ptrs(candidates.size());
  std::transform(candidates.begin(), candidates.end(), candidate_ptrs.begin(),
                 [](const std::string& c) { return c.c_str(); });

  StreamSetup streams[3];
  const Stdio* stdio[3] = {&options.stdin_, &options.stdout_, &options.stderr_};
  for (int target = 0; target < 3; ++target) {
    if (int error = setup_stream(*stdio[target], target, streams[target]); error != 0) {
      return errno_code(error);
    }
  }

  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    return errno_code(errno);
  }
  Fd error_read(error_pipe[0]);
  Fd error_write(error_pipe[1]);
  if (int error = move_above_stdio(error_write); error != 0) {
    return errno_code(error);
  }

  ChildPlan plan;
  ChildStorage storage;
  if (int error = prepare_plan(options, argv, envp, candidate_ptrs, storage, plan); error != 0) {
    return errno_code(error);
  }
  for (int target = 0; target < 3; ++target) {
    plan.stdio[target] = streams[target].child.get();
  }
  plan.error_fd = error_write.get();

  pid_t pid = -1;
  if (int error = fork_child(options, plan, pid); error != 0) {
    return errno_code(error);
  }

  error_write.reset();
  for (StreamSetup& stream : streams) {
    stream.child.reset();
  }
  if (options.new_process_group) {
    // Also from the parent, so the group exists whichever side runs first; EACCES once the
    // child has exec'd is expected.
    ::setpgid(pid, pid);
  }

  if (int child_error = exec_error(error_read.get()); child_error != 0) {
    int status;
    waitpid_eintr(pid, &status, 0);
    return errno_code(child_error);
  }

  Process process;
  process.pid_ = pid;
  process.own_group_ = options.new_process_group;
  process.pgid_ = options.new_process_group ? pid : ::getpgrp();
  process.pidfd_ = open_pidfd(pid);
  process.stdin_fd_ = streams[0].parent.release();
  process.stdout_fd_ = streams[1].parent.release();
  process.stderr_fd_ = streams[2].parent.release();
  return process;
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pgid_(std::exchange(other.pgid_, -1)),
      own_group_(std::exchange(other.own_group_, false)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      status_(std::exchange(other.status_, std::nullopt)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    destroy();
    pid_ = std::exchange(other.pid_, -1);
    pgid_ = std::exchange(other.pgid_, -1);
    own_group_ = std::exchange(other.own_group_, false);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdin_fd_ = std::exchange(other.stdin_fd_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    stderr_fd_ = std::exchange(other.stderr_fd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

Process::~Process() { destroy(); }

void Process::destroy() {
  if (pid_ > 0 && !status_) {
    if (own_group_) {
      ::killpg(pgid_, SIGKILL);
    }
    (void)kill(SIGKILL);
    wait();
  }
  close_fds();
  pid_ = -1;
  pgid_ = -1;
  status_.reset();
}

void Process::close_fds() {
  for (int* fd : {&pidfd_, &stdin_fd_, &stdout_fd_, &stderr_fd_}) {
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  }
}

void Process::close_stdin() {
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
}

error_code Process::kill(int sig) {
  if (pid_ <= 0 || status_) {
    return errno_code(ESRCH);
  }
#ifdef SYS_pidfd_send_signal
  if (pidfd_ >= 0) {
    if (::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0U) == 0) {
      return {};
    }
    if (errno != ENOSYS) {
      return errno_code(errno);
    }
  }
#endif
  if (::kill(pid_, sig) != 0) {
    return errno_code(errno);
  }
  return {};
}

error_code Process::kill_group(int sig) {
  if (pid_ <= 0) {
    return errno_code(ESRCH);
  }
  if (!own_group_) {
    return errno_code(EINVAL);
  }
  if (::killpg(pgid_, sig) != 0) {
    return errno_code(errno);
  }
  return {};
}

std::optional<ExitStatus> Process::try_wait() {
  if (status_ || pid_ <= 0) {
    return status_;
  }
  int status = 0;
  const pid_t result = waitpid_eintr(pid_, &status, WNOHANG);
  if (result == 0) {
    return std::nullopt;
  }
  // result < 0 (ECHILD): someone else reaped it; the status is lost.
  status_ = result == pid_ ? ExitStatus::from_wait_status(status) : ExitStatus{};
  return status_;
}

ExitStatus Process::wait() {
  if (status_ || pid_ <= 0) {
    return status_.value_or(ExitStatus{});
  }
  int status = 0;
  const pid_t result = waitpid_eintr(pid_, &status, 0);
  status_ = result == pid_ ? ExitStatus::from_wait_status(status) : ExitStatus{};
  return *status_;
}

// ---------------------------------------------------------------------------------------------
// Supervisors

error_code become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return errno_code(errno);
  }
  return {};
}

std::uint64_t raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  rlim_t expected = 0;
  g_child_nofile.compare_exchange_strong(expected, limit.rlim_cur);  // the first call's only
  if (limit.rlim_cur == limit.rlim_max) {
    return limit.rlim_cur;
  }
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    return limit.rlim_cur;
  }
  return raised.rlim_cur;
}

boost::system::result<FdUsage> fd_usage() {
  FdUsage usage;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return errno_code(errno);
  }
  usage.limit = limit.rlim_cur;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) {
    return errno_code(errno);
  }
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') {
      ++usage.open;
    }
  }
  ::closedir(dir);
  if (usage.open > 0) {
    --usage.open;  // the directory's own descriptor
  }
  return usage;
}

std::vector<std::pair<pid_t, ExitStatus>> reap_orphans() {
  std::vector<std::pair<pid_t, ExitStatus>> reaped;
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid_eintr(-1, &status, WNOHANG);
    if (pid <= 0) {
      return reaped;
    }
    reaped.emplace_back(pid, ExitStatus::from_wait_status(status));
  }
}

}  // namespace tender

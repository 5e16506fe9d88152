#include "core/process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <memory>
#include <tuple>

#include "core/fd.hpp"

namespace tender {

namespace {

using boost::system::error_code;

error_code errno_code(int error) { return error_code(error, boost::system::system_category()); }

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

// Everything the child needs, prepared by the parent: the child touches only these plain
// values and makes only async-signal-safe calls.
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
  int netns_fd = -1;
  const char* hostname = nullptr;
  size_t hostname_len = 0;
  // Bind mounts: sources, targets (writable copies, for mkdir -p), read-only flags.
  const char* const* mount_sources = nullptr;
  char* const* mount_targets = nullptr;
  const bool* mount_read_only = nullptr;
  size_t mount_count = 0;
  const char* const* hide = nullptr;
  size_t hide_count = 0;
};

// mkdir -p on a writable path buffer, with async-signal-safe calls only.
int make_dirs(char* path) {
  for (char* p = path + 1; *p != '\0'; ++p) {
    if (*p == '/') {
      *p = '\0';
      int rc = ::mkdir(path, 0755);
      *p = '/';
      if (rc != 0 && errno != EEXIST) {
        return errno;
      }
    }
  }
  if (::mkdir(path, 0755) != 0 && errno != EEXIST) {
    return errno;
  }
  return 0;
}

[[noreturn]] void child_fail(const ChildPlan& plan, int error) {
  while (::write(plan.error_fd, &error, sizeof error) < 0 && errno == EINTR) {
  }
  ::_exit(127);
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
    // The parent may have died before prctl: then we have been reparented already. (In a new
    // PID namespace the parent is outside it and getppid() reads 0.)
    if (!plan.new_pid_namespace && ::getppid() != plan.parent_pid) {
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
  if (plan.hostname != nullptr &&
      (::unshare(CLONE_NEWUTS) != 0 || ::sethostname(plan.hostname, plan.hostname_len) != 0)) {
    child_fail(plan, errno);
  }
  for (int target = 0; target < 3; ++target) {
    if (plan.stdio[target] >= 0 && ::dup2(plan.stdio[target], target) < 0) {
      child_fail(plan, errno);
    }
  }
  if (plan.mount_count > 0 || plan.hide_count > 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      child_fail(plan, errno);
    }
    for (size_t i = 0; i < plan.mount_count; ++i) {
      if (int e = make_dirs(plan.mount_targets[i]); e != 0) {
        child_fail(plan, e);
      }
      if (::mount(plan.mount_sources[i], plan.mount_targets[i], nullptr, MS_BIND | MS_REC,
                  nullptr) != 0) {
        child_fail(plan, errno);
      }
      if (plan.mount_read_only[i] &&
          ::mount(nullptr, plan.mount_targets[i], nullptr,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
        child_fail(plan, errno);
      }
    }
    for (size_t i = 0; i < plan.hide_count; ++i) {
      if (::mount("tmpfs", plan.hide[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,mode=755") != 0) {
        child_fail(plan, errno);
      }
    }
  }
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) {
    child_fail(plan, errno);
  }
  close_inherited_fds(plan);

  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

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
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const std::string& arg : options.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));  // execve does not write to them
  }
  argv.push_back(nullptr);

  std::vector<char*> envp;
  if (options.env) {
    envp.reserve(options.env->size() + 1);
    for (const std::string& entry : *options.env) {
      envp.push_back(const_cast<char*>(entry.c_str()));
    }
    envp.push_back(nullptr);
  }

  const std::vector<std::string> candidates = exec_candidates(options);
  if (candidates.empty()) {
    return errno_code(ENOENT);
  }
  std::vector<const char*> candidate_ptrs;
  candidate_ptrs.reserve(candidates.size());
  for (const std::string& candidate : candidates) {
    candidate_ptrs.push_back(candidate.c_str());
  }

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

  rlimit limit{};
  int max_fd = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
  }

  ChildPlan plan;
  plan.argv = argv.data();
  plan.envp = options.env ? envp.data() : environ;
  plan.candidates = candidate_ptrs.data();
  plan.candidate_count = candidate_ptrs.size();
  plan.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  for (int target = 0; target < 3; ++target) {
    plan.stdio[target] = streams[target].child.get();
  }
  plan.error_fd = error_write.get();
  plan.max_fd = max_fd;
  plan.parent_pid = ::getpid();
  plan.new_process_group = options.new_process_group;
  plan.die_with_parent = options.die_with_parent;
  plan.new_pid_namespace = options.new_pid_namespace;
  plan.netns_fd = options.netns_fd;
  if (!options.hostname.empty()) {
    plan.hostname = options.hostname.c_str();
    plan.hostname_len = options.hostname.size();
  }
  std::vector<const char*> mount_sources;
  std::vector<std::string> mount_target_copies;
  std::vector<char*> mount_targets;
  std::unique_ptr<bool[]> mount_read_only(new bool[options.mounts.size() + 1]);
  for (const auto& m : options.mounts) {
    mount_sources.push_back(m.source.c_str());
    mount_target_copies.push_back(m.target);
  }
  for (size_t i = 0; i < options.mounts.size(); ++i) {
    mount_targets.push_back(mount_target_copies[i].data());
    mount_read_only[i] = options.mounts[i].read_only;
  }
  std::vector<const char*> hide;
  for (const auto& h : options.hide) {
    hide.push_back(h.c_str());
  }
  plan.mount_sources = mount_sources.data();
  plan.mount_targets = mount_targets.data();
  plan.mount_read_only = mount_read_only.get();
  plan.mount_count = options.mounts.size();
  plan.hide = hide.data();
  plan.hide_count = hide.size();

  // Block every signal across fork so no handler of ours runs in the child before it resets
  // the dispositions (a handler there could, e.g., write into an event loop's wake-up pipe).
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  // A raw clone with CLONE_NEWPID behaves like fork (the child runs on a copy of this stack)
  // but makes the child PID 1 of a new PID namespace.
  const pid_t pid = options.new_pid_namespace
                        ? static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr,
                                                       nullptr, nullptr, nullptr))
                        : ::fork();
  if (pid == 0) {
    run_child(plan);
  }
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    return errno_code(fork_error);
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

  int child_error = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &child_error, sizeof child_error);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int status;
    waitpid_eintr(pid, &status, 0);
    return errno_code(child_error != 0 ? child_error : EIO);
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

// ---------------------------------------------------------------------------------------------
// Signal names

namespace {

struct SignalEntry {
  int number;
  const char* name;  // without "SIG"
};

constexpr SignalEntry kSignals[] = {
    {SIGHUP, "HUP"},       {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"},     {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"},     {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"},     {SIGALRM, "ALRM"},     {SIGTERM, "TERM"},
#ifdef SIGSTKFLT
    {SIGSTKFLT, "STKFLT"},
#endif
    {SIGCHLD, "CHLD"},     {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"},     {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"},     {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGIO, "IO"},
#ifdef SIGPWR
    {SIGPWR, "PWR"},
#endif
    {SIGSYS, "SYS"},
};

// Accepted by parse_signal() only; signal_name() prints the names above.
constexpr SignalEntry kSignalAliases[] = {
    {SIGABRT, "IOT"},
    {SIGIO, "POLL"},
    {SIGCHLD, "CLD"},
};

std::optional<int> parse_number(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

void name_this_thread(const std::string& name) {
  ::prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0);
}

std::string signal_name(int sig) {
  for (const SignalEntry& entry : kSignals) {
    if (entry.number == sig) {
      return std::string("SIG") + entry.name;
    }
  }
  if (sig == SIGRTMAX) {
    return "SIGRTMAX";
  }
  if (sig == SIGRTMIN) {
    return "SIGRTMIN";
  }
  if (sig > SIGRTMIN && sig < SIGRTMAX) {
    return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  return "SIG" + std::to_string(sig);
}

std::optional<int> parse_signal(std::string_view text) {
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string_view name = upper;

  const auto in_range = [](int sig) -> std::optional<int> {
    if (sig >= 1 && sig <= SIGRTMAX) {
      return sig;
    }
    return std::nullopt;
  };
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name.front()))) {
    if (auto number = parse_number(name)) {
      return in_range(*number);
    }
    return std::nullopt;
  }
  if (name.substr(0, 3) == "SIG") {
    name.remove_prefix(3);
    if (auto number = parse_number(name)) {  // "SIG40", as signal_name() prints unnamed ones
      return in_range(*number);
    }
  }
  for (const SignalEntry& entry : kSignals) {
    if (name == entry.name) {
      return entry.number;
    }
  }
  for (const SignalEntry& entry : kSignalAliases) {
    if (name == entry.name) {
      return entry.number;
    }
  }
  // SIGRTMIN, SIGRTMIN+n, SIGRTMAX, SIGRTMAX-n; the result must stay within the real-time range.
  for (const auto& [prefix, base, sign] : {std::tuple{std::string_view("RTMIN"), SIGRTMIN, 1},
                                           std::tuple{std::string_view("RTMAX"), SIGRTMAX, -1}}) {
    if (name.substr(0, prefix.size()) != prefix) {
      continue;
    }
    std::string_view offset_text = name.substr(prefix.size());
    if (offset_text.empty()) {
      return base;
    }
    if (offset_text.front() != (sign > 0 ? '+' : '-')) {
      return std::nullopt;
    }
    offset_text.remove_prefix(1);
    const std::optional<int> offset = parse_number(offset_text);
    if (!offset || *offset < 0 || *offset > SIGRTMAX - SIGRTMIN) {
      return std::nullopt;
    }
    return base + sign * *offset;
  }
  return std::nullopt;
}

}  // namespace tender

#include "core/command.hpp"
#include "core/asio_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <optional>

#include "core/units.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using asio::experimental::awaitable_operators::operator&&;
using Steady = std::chrono::steady_clock;

// Where one stream's output goes: up to `limit` bytes kept, the rest counted as dropped. With
// `tail`, the last `limit` bytes are kept and the earlier ones dropped.
struct Capture {
  std::string* text = nullptr;
  bool* truncated = nullptr;
  std::size_t limit = 0;
  bool tail = false;

  void add(const char* data, std::size_t n) const {
    if (tail) {
      text->append(data, n);
      if (text->size() > limit) {
        text->erase(0, text->size() - limit);
        *truncated = true;
      }
      return;
    }
    const std::size_t room = limit - std::min(limit, text->size());
    text->append(data, std::min(n, room));
    if (n > room) {
      *truncated = true;
    }
  }
};

// write(2) that reports a reader gone as EPIPE instead of raising SIGPIPE, whatever this
// process does with SIGPIPE: the signal is blocked on this thread for the call, and one it
// raised is taken off the thread's pending set before unblocking.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t n) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t saved;
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &saved);
  const ssize_t written = ::write(fd, data, n);
  const int error = errno;
  if (written < 0 && error == EPIPE && !was_pending) {
    const timespec zero{};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  errno = error;
  return written;
}

// The parent's ends of the child's pipes, and its pidfd. A stream is closed once finished.
struct Streams {
  explicit Streams(const asio::any_io_executor& ex) : in(ex), out(ex), err(ex), exit(ex) {}

  asio::posix::stream_descriptor in;
  asio::posix::stream_descriptor out;
  asio::posix::stream_descriptor err;
  asio::posix::stream_descriptor exit;  // a duplicate of the Process's pidfd
  std::string input;
  std::size_t written = 0;
  Capture out_capture;
  Capture err_capture;

  [[nodiscard]] bool busy() const { return in.is_open() || out.is_open() || err.is_open(); }

  void close_all() {
    boost::system::error_code ignored;
    in.close(ignored);
    out.close(ignored);
    err.close(ignored);
  }

  // Writes what is left of `input` as the pipe takes it; closes it at the end, or when the
  // child has closed its end. Returns early, resumable, when cancelled.
  asio::awaitable<void> write_input() {
    boost::system::error_code ignored;
    while (in.is_open()) {
      if (written == input.size()) {
        in.close(ignored);
        co_return;
      }
      auto [ec] = co_await in.async_wait(asio::posix::descriptor_base::wait_write, kTuple);
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      const ssize_t n = ec ? -1
                           : write_without_sigpipe(in.native_handle(), input.data() + written,
                                                   input.size() - written);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      } else if (ec || (errno != EAGAIN && errno != EINTR)) {
        in.close(ignored);  // EPIPE: the child does not want the rest
      }
    }
  }

  // Reads `sd` to its end into `capture`. Returns early, resumable, when cancelled.
  static asio::awaitable<void> read_output(asio::posix::stream_descriptor& sd, Capture capture) {
    std::array<char, 16384> buf{};
    while (sd.is_open()) {
      auto [ec, n] = co_await sd.async_read_some(asio::buffer(buf), kTuple);
      capture.add(buf.data(), n);
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      if (ec) {
        boost::system::error_code ignored;
        sd.close(ignored);  // end of file: every writer has closed it
      }
    }
  }

  // Ends when every pipe is finished.
  asio::awaitable<void> pump() {
    co_await (write_input() && read_output(out, out_capture) && read_output(err, err_capture));
  }

  // Ends when the child has exited (or the wait was cancelled).
  asio::awaitable<void> wait_exit(Process& process) {
    if (exit.is_open()) {
      co_await exit.async_wait(asio::posix::descriptor_base::wait_read, kTuple);
      co_return;
    }
    // Kernels before 5.3 have no pidfd: look every 10 ms.
    asio::steady_timer timer(exit.get_executor());
    while (!process.try_wait()) {
      timer.expires_after(std::chrono::milliseconds(10));
      if (auto [ec] = co_await timer.async_wait(kTuple); ec) {
        co_return;
      }
    }
  }
};

// Sends `sig` to the child's group, or to the child alone if it shares ours.
void signal_child(Process& process, int sig) {
  if (process.pgid() == process.pid()) {
    (void)process.kill_group(sig);
  } else if (!process.reaped()) {
    (void)process.kill(sig);
  }
}

// Sets up the child's standard streams as `options` asks.
void set_stdio(CommandOptions& options) {
  SpawnOptions& spawn = options.spawn;
  if (!options.stdin_file.empty()) {
    spawn.stdin_ = Stdio::file(options.stdin_file);
  } else if (!options.stdin_bytes.empty()) {
    spawn.stdin_ = Stdio::pipe();
  } else {
    spawn.stdin_ = Stdio::null();
  }
  spawn.stdout_ = Stdio::pipe();
  spawn.stderr_ = Stdio::pipe();
}

// Hands the child's pipes and a duplicate of its pidfd to `streams`, with where their output
// goes in `outcome`.
void attach_streams(Process& process, CommandOptions& options, CommandOutcome& outcome,
                    Streams& streams) {
  if (process.stdin_fd() >= 0) {
    streams.in.assign(process.release_stdin_fd());
    ::fcntl(streams.in.native_handle(), F_SETFL, O_NONBLOCK);  // our end only: written by us
    streams.input = std::move(options.stdin_bytes);
  }
  streams.out.assign(process.release_stdout_fd());
  streams.err.assign(process.release_stderr_fd());
  if (process.pidfd() >= 0) {
    const int pidfd = ::fcntl(process.pidfd(), F_DUPFD_CLOEXEC, 3);
    if (pidfd >= 0) {
      streams.exit.assign(pidfd);
    }
  }
  streams.out_capture = {&outcome.stdout_text, &outcome.stdout_truncated, options.max_stdout_bytes};
  streams.err_capture = options.merge_stderr
                            ? streams.out_capture
                            : Capture{&outcome.stderr_text, &outcome.stderr_truncated,
                                      options.max_stderr_bytes, options.keep_stderr_tail};
}

// Where a run stands towards its deadlines: the timeout, the grace after SIGTERM, and the time
// its output may take to drain once it has exited.
struct Watch {
  Steady::time_point started;
  bool exited = false;
  bool killed = false;
  Steady::time_point exited_at;
  Steady::time_point termed_at;

  // The next moment something must be done without the child's doing; none while it runs
  // without a timeout.
  [[nodiscard]] std::optional<Steady::time_point> next_deadline(
      const CommandOptions& options, const CommandOutcome& outcome) const {
    if (exited) {
      return exited_at + options.drain_after_exit;
    }
    if (!outcome.timed_out && options.timeout.count() > 0) {
      return started + options.timeout;
    }
    if (outcome.timed_out && !killed) {
      return termed_at + options.kill_grace;
    }
    return std::nullopt;
  }
};

}  // namespace

std::string CommandOutcome::describe() const {
  if (timed_out) {
    return "timed out after " + format_duration(timeout);
  }
  return exit.describe();
}

asio::awaitable<Result<CommandOutcome>> run_command(CommandOptions options) {
  co_await asio::this_coro::throw_if_cancelled(false);
  if (options.spawn.argv.empty()) {
    co_return Error(std::errc::invalid_argument, "empty command");
  }
  const std::string name = options.spawn.argv[0];
  if (!options.stdin_file.empty() && !options.stdin_bytes.empty()) {
    co_return Error(std::errc::invalid_argument, name + ": stdin is either bytes or a file");
  }
  set_stdio(options);
  auto spawned = Process::spawn(options.spawn);
  if (!spawned) {
    co_return Error(spawned.error(), name + ": " + spawned.error().message());
  }
  // Declared first, so destroyed last: a frame destroyed with its io_context kills the group
  // and reaps the child after the streams are closed.
  Process process = std::move(*spawned);
  const auto started = Steady::now();
  CommandOutcome outcome;
  outcome.timeout = options.timeout;

  const auto ex = co_await asio::this_coro::executor;
  Streams streams(ex);
  attach_streams(process, options, outcome, streams);

  Watch watch;
  watch.started = started;
  asio::steady_timer timer(ex);
  for (;;) {
    const bool busy = streams.busy();
    if (watch.exited && !busy) {
      break;
    }
    const std::optional<Steady::time_point> deadline = watch.next_deadline(options, outcome);
    timer.expires_at(deadline.value_or(Steady::time_point::max()));
    if (busy && !watch.exited) {
      co_await (streams.pump() || streams.wait_exit(process) || timer.async_wait(kTuple));
    } else if (busy) {
      co_await (streams.pump() || timer.async_wait(kTuple));
    } else {
      co_await (streams.wait_exit(process) || timer.async_wait(kTuple));
    }
    if ((co_await asio::this_coro::cancellation_state).cancelled() !=
        asio::cancellation_type::none) {
      signal_child(process, SIGKILL);
      (void)process.wait();
      co_return Error(asio::error::operation_aborted, name + ": cancelled");
    }
    if (!watch.exited) {
      if (auto status = process.try_wait()) {
        watch.exited = true;
        watch.exited_at = Steady::now();
        outcome.exit = *status;
      }
    }
    if (!deadline || Steady::now() < *deadline) {
      continue;
    }
    if (watch.exited) {
      // Something it started holds its output open: it goes, and so does the rest.
      signal_child(process, SIGKILL);
      streams.close_all();
      break;
    }
    if (!outcome.timed_out) {
      outcome.timed_out = true;
      watch.termed_at = Steady::now();
      watch.killed = options.kill_grace.count() <= 0;
      signal_child(process, watch.killed ? SIGKILL : SIGTERM);
    } else {
      watch.killed = true;
      signal_child(process, SIGKILL);
    }
  }
  signal_child(process, SIGKILL);  // whatever it left behind in its group
  outcome.elapsed = watch.exited_at - started;
  co_return outcome;
}

}  // namespace tender

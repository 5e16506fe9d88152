#pragma once
// Running a command to its end from a coroutine: a timeout that kills its process group, bounded
// capture of stdout and stderr, stdin from bytes or a file, and the exit awaited on a pidfd.
// Exec probes, hooks and helper commands (nft, tc) of the pod runner use it; so do the work
// runner, git in `tender sync` and `tender elect --exec`.
//
// Usage (inside a coroutine):
//
//   tender::CommandOptions options;
//   options.spawn.argv = {"git", "-C", dir, "pull", "--ff-only"};
//   options.timeout = std::chrono::seconds(30);
//   options.kill_grace = std::chrono::seconds(2);  // SIGTERM first, SIGKILL 2s later
//   auto run = co_await tender::run_command(std::move(options));
//   if (!run) {
//     log::warn(run.error().message());            // "git: No such file or directory"
//   } else if (!run->success()) {
//     log::warn(run->describe(), {{"stderr", run->stderr_text}});  // "timed out after 30s"
//   }
//
// The child runs in a process group of its own (unless spawn.new_process_group is false, when
// only the child itself is signalled). Whatever it leaves in its group when it has exited and
// its output has been read is killed with SIGKILL.
//
// Cancellation (of the awaiting coroutine, e.g. raced with asio's `||`) and destruction of the
// io_context both kill the child's group with SIGKILL and reap the child before returning.
//
// The awaiting coroutine's executor must not run handlers concurrently (one thread, or a
// strand), as everywhere in tender.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <string>

#include "core/error.hpp"
#include "core/process.hpp"

namespace tender {

struct CommandOptions {
  // argv, env, cwd, process group and any isolation (namespaces, mounts, user, capabilities).
  // Its stdin_, stdout_ and stderr_ are ignored: run_command sets them.
  SpawnOptions spawn;
  // The child's stdin: the file at stdin_file if non-empty, else stdin_bytes (written by the
  // coroutine as the child reads them, without blocking the loop; the pipe is closed after the
  // last byte, or when the child closes its end). Empty both: the child reads /dev/null.
  std::string stdin_bytes;
  std::string stdin_file;
  // How long the child may run, from its start; zero: no limit.
  std::chrono::milliseconds timeout{0};
  // At the timeout: zero sends SIGKILL to the group at once; otherwise SIGTERM first, then
  // SIGKILL if the child has not exited this long after.
  std::chrono::milliseconds kill_grace{0};
  // Bytes kept of stdout and of stderr, each; the rest is read and dropped (a child writing
  // gigabytes neither fills memory nor blocks on a full pipe).
  std::size_t max_stdout_bytes = std::size_t{64} << 10;
  std::size_t max_stderr_bytes = std::size_t{64} << 10;
  // Keep the last max_stderr_bytes of stderr rather than the first (an error message is
  // usually at the end), e.g. for the work runner's nack errors.
  bool keep_stderr_tail = false;
  // Capture stderr into stdout_text, interleaved in the order the chunks arrive (the bound is
  // max_stdout_bytes; stderr_text stays empty).
  bool merge_stderr = false;
  // Once the child has exited, how long to go on reading output that something it started
  // still holds open; then the group is killed and reading stops.
  std::chrono::milliseconds drain_after_exit{200};
};

struct CommandOutcome {
  ExitStatus exit;         // "killed by SIGKILL" after a timeout
  bool timed_out = false;  // it was still running at the timeout and was killed
  std::string stdout_text;
  std::string stderr_text;
  bool stdout_truncated = false;  // more than max_stdout_bytes came (and were dropped)
  bool stderr_truncated = false;
  std::chrono::milliseconds timeout{0};           // as asked, for describe()
  std::chrono::steady_clock::duration elapsed{};  // from spawn to exit

  // Exited 0 within the timeout.
  [[nodiscard]] bool success() const { return !timed_out && exit.success(); }
  // "exited 0", "exited 3", "killed by SIGSEGV", or "timed out after 1s".
  [[nodiscard]] std::string describe() const;
};

// Runs the command to its end. An Error means it never ran: spawn's error, its message naming
// argv[0] ("nft: No such file or directory"; "empty command" for an empty argv), or EINVAL for
// stdin_bytes with stdin_file; or the awaiting coroutine was cancelled (operation_aborted;
// the child has been killed and reaped). Anything the child did, including a timeout, is an
// outcome.
[[nodiscard]] boost::asio::awaitable<Result<CommandOutcome>> run_command(CommandOptions options);

}  // namespace tender

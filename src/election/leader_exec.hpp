#pragma once
// `tender elect --exec -- CMD ARGS...`: runs the command only while this replica leads.
//
//   LeaderExec exec(ioc, {.argv = {"./migrate"}, .grace = 5s}, [](const ExitStatus& st) {
//     ... the command ended on its own while leading: resign, let another replica try ...
//   });
//   exec.start(token, {"TENDER_ELECT_ELECTION=db"});  // on gaining leadership
//   exec.stop();                                       // the moment leadership is in doubt
//   co_await exec.stopped();                           // before resigning, on SIGTERM
//
// The command runs in a process group of its own with TENDER_ELECT_TOKEN set to the term's
// fencing token; stop() sends SIGTERM to the group, then SIGKILL `grace` later. Its output goes
// where the elector's goes. All calls on the io_context's thread.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/process.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::election {

struct ExecOptions {
  std::vector<std::string> argv;  // empty: no command
  std::chrono::milliseconds grace{5'000};
};

class LeaderExec {
 public:
  // `on_exit` hears of a command that ended without being stopped.
  LeaderExec(boost::asio::io_context& ioc, ExecOptions options,
             std::function<void(const ExitStatus&)> on_exit);
  ~LeaderExec();  // kills the group with SIGKILL if it still runs
  LeaderExec(const LeaderExec&) = delete;
  LeaderExec& operator=(const LeaderExec&) = delete;

  // Starts the command for term `token`, with `env` ("K=V") added to the elector's own. A
  // command still stopping from an earlier term is waited for first. Fails when the command
  // cannot be spawned (its argv[0] named in the message).
  [[nodiscard]] Result<> start(std::uint64_t token, std::vector<std::string> env);
  // Asks the command to stop (SIGTERM to its group, SIGKILL after the grace). Idempotent.
  void stop();
  // Completes once no command runs.
  [[nodiscard]] boost::asio::awaitable<void> stopped();
  [[nodiscard]] bool running() const;
  // The pid of the running command, or 0.
  [[nodiscard]] std::int64_t pid() const;
  [[nodiscard]] std::uint64_t starts() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tender::election

#pragma once
// Helpers for whole-binary tests: start the real `tender`, find its addresses, and talk raw
// HTTP/1.1 to it over blocking sockets on 127.0.0.1 (so malformed requests can be sent too).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/process.hpp"
#include "free_port.hpp"

namespace tender::testing {

using namespace std::chrono_literals;

// The contents of the file at `path` ("" if it cannot be read).
std::string slurp(const std::string& path);

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s);

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A running `tender` process started with `args`, stdout piped (for the "listening" line) and
// stderr captured in a file.
class Tender {
 public:
  // Starts tender and waits for its "listening k=v ..." line. Throws std::runtime_error with
  // the captured stderr when it exits or stays silent instead.
  // `program` replaces the built binary, e.g. {"setpriv", ..., "/path/to/tender"}.
  explicit Tender(std::vector<std::string> args, std::vector<std::string> program = {});
  ~Tender();

  [[nodiscard]] std::uint16_t port(const std::string& name) const;  // e.g. "admin", "listen"
  [[nodiscard]] pid_t pid() const { return process_->pid(); }
  void signal(int sig);
  // The exit status once the process has ended, or nullopt if it still runs after `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout = 10s);
  [[nodiscard]] std::string stderr_text() const;
  // Reads stdout (after the "listening" line) until it contains `needle` or `timeout` passes;
  // returns everything read so far.
  std::string stdout_until(const std::string& needle, std::chrono::milliseconds timeout = 10s);

 private:
  std::string stdout_;  // read past the "listening" line
  TempDir dir_;
  std::optional<Process> process_;
  std::optional<ExitStatus> status_;
  std::map<std::string, std::uint16_t> ports_;
};

// A metric's samples a test reads: the name, and labels a sample must have (others may differ).
struct MetricRef {
  std::string name;
  std::map<std::string, std::string> labels;  // a sample counts when it has all of these
};

// The sum of the samples of `ref` in Prometheus text `exposition` (-1 when there is none).
double metric_sum(const std::string& exposition, const MetricRef& ref);
// `ref` read from the admin listener's /metrics of `t` (-1 when there is no such sample).
double admin_metric(const Tender& t, const MetricRef& ref);

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
};
// Runs tender to completion (killed after `timeout`).
RunResult run_tender(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s);

// Runs any command to completion with `input` on stdin.
RunResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                      std::chrono::milliseconds timeout = 20s);

struct HttpResult {
  int status = 0;                              // 0: no response (connection closed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  [[nodiscard]] std::string header(const std::string& lower_name) const;
};

// A blocking client connection to 127.0.0.1:port. Receives time out after 15 s.
class Connection {
 public:
  explicit Connection(std::uint16_t port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Half-closes: the peer reads the end of the stream; receiving goes on.
  void shutdown_send();
  // Reads one response (Content-Length framed). status 0 if the peer closed first.
  HttpResult read_response(bool head = false);
  // Bytes up to and including `marker` (or all read before the peer closed), taken from what
  // was received.
  std::string read_until(const std::string& marker);
  // True once the peer has closed the connection (recv returns 0 or an error) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);
  // True if response bytes are waiting to be read right now.
  [[nodiscard]] bool readable_now() const;

 private:
  int fd_ = -1;
  std::string buffer_;
};

// Builds "METHOD target HTTP/1.1" with the headers given (and Host: 127.0.0.1 unless one of them
// is Host), and Content-Length for a body.
std::string request_bytes(const std::string& method, const std::string& target,
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          const std::string& body = "");

// One request on a new connection.
HttpResult http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers = {},
                const std::string& body = "");

// A TCP port of 127.0.0.1 that was free a moment ago (bound to 0, read, released).

// True if a TCP connect to 127.0.0.1:port is refused.
bool connect_refused(std::uint16_t port);

// A blocking TCP connection to 127.0.0.1:port whose receives time out after `receive_timeout`,
// with a receive buffer of `receive_buffer` bytes unless 0 (the kernel's default); -1 if the
// connect failed.
int connect_loopback(std::uint16_t port, std::chrono::seconds receive_timeout,
                     int receive_buffer = 0);

// `tender echo` on free ports of 127.0.0.1, plus `extra` flags.
std::vector<std::string> echo_args(const std::vector<std::string>& extra = {});

// Polls the admin /statusz of `t` until the role reports `n` requests in flight.
bool wait_in_flight(const Tender& t, std::int64_t n);

}  // namespace tender::testing

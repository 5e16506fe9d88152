#pragma once
// Probes: one check action (HTTP GET, TCP connect, a command, redis PING, gRPC health Check),
// and a pure tracker
// (core/probe_tracker.hpp) that turns a run of results into a verdict with success and failure
// thresholds, counted as Kubernetes counts them. Pod probes use both; so will the proxy's and
// the adapter's health checks.
//
// Usage (inside a coroutine):
//
//   tender::ProbeTracker ready(tender::ProbeTracker::kStartFailing, 1, 3);  // as a readiness probe
//   tender::HttpProbe get{.host = "127.0.0.1", .port = 8080, .path = "/healthz"};
//   for (;;) {
//     tender::ProbeVerdict v = co_await tender::check(get, std::chrono::seconds(1), client);
//     if (ready.record(v.passed, v.message)) {
//       log::info(ready.passing() ? "ready" : "not ready", {{"result", v.message}});
//     }
//     co_await tender::sleep_for(period);
//   }
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/http_client.hpp"
#include "core/probe_tracker.hpp"
#include "core/process.hpp"
#include "core/text_fields.hpp"

namespace tender {

// GET http://host:port/path; a status of 200 to 399 passes, as in Kubernetes, unless
// `statuses` says which do; with `body`, the body must also have a match of it.
struct HttpProbe {
  std::string host;  // name or address
  std::uint16_t port = 0;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  // Statuses that pass, each a [first, last] range; empty: 200 to 399.
  std::vector<std::pair<int, int>> statuses{};
  // A pattern the body must match somewhere (core/text_fields.hpp: Perl syntax, matching
  // bounded, so a hostile body cannot hang or crash the check); null: any body. The body is
  // read up to the client's max_response_body_bytes (a larger one fails the probe).
  std::shared_ptr<const CompiledRegex> body{};
  std::string body_pattern{};  // `body` as written, for the verdict's message
};

// A TCP connection that opens passes.
struct TcpProbe {
  std::string host;  // an address literal (no name lookup)
  std::uint16_t port = 0;
};

// A command that exits 0 within the timeout passes (run by core/command.hpp's run_command).
struct ExecProbe {
  // argv, env, cwd and any isolation (namespaces, user, capabilities); its stdio is replaced.
  SpawnOptions spawn;
};

// PING answered +PONG passes; with a password, AUTH is sent first and must answer +OK.
struct RedisProbe {
  std::string host;  // an address literal (no name lookup)
  std::uint16_t port = 0;
  std::string password;  // empty: no AUTH
  std::string user;      // with a password: the ACL user it logs in as; empty: "default"
};

// grpc.health.v1.Health/Check over HTTP/2 without TLS (core/grpc_health.hpp), as Kubernetes'
// grpc probes call it: passes when the call ends with grpc-status 0 and status SERVING.
struct GrpcProbe {
  std::string host;  // an address literal (no name lookup)
  std::uint16_t port = 0;
  std::string service;  // HealthCheckRequest.service; empty: the server as a whole
};

using ProbeAction = std::variant<HttpProbe, TcpProbe, ExecProbe, RedisProbe, GrpcProbe>;

struct ProbeVerdict {
  bool passed = false;
  // One line: "HTTP 200", "connected", "exited 0", "PONG", "SERVING" when passed; otherwise why
  // not: "HTTP 503", "Connection refused", "connect timed out", "exited 1", "timed out after 1s",
  // "PING answered -NOAUTH Authentication required.", "health status NOT_SERVING",
  // "grpc-status 12 (UNIMPLEMENTED)", "Check timed out", ...
  std::string message;
};

// Runs `action` once, giving up after `timeout`. Never fails otherwise: every failure is a
// verdict. An HTTP probe goes through `client` (pooled connections); the others ignore it.
// Run on the client's executor.
[[nodiscard]] boost::asio::awaitable<ProbeVerdict> check(const ProbeAction& action,
                                                         std::chrono::milliseconds timeout,
                                                         HttpClient& client);
// The same with a client of its own, for callers that probe rarely.
[[nodiscard]] boost::asio::awaitable<ProbeVerdict> check(const ProbeAction& action,
                                                         std::chrono::milliseconds timeout);

}  // namespace tender

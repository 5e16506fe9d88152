#pragma once
// The lifecycle and management interface every role shares.
//
// A role implements `Role`; `run_role` gives it the admin listener (/healthz, /readyz, /metrics,
// /configz, /statusz, /drain, /quitquitquit, the web view at /ui), signal handling (SIGTERM/SIGINT
// drain and exit 0 within the grace period, a second signal exits at once, SIGHUP reloads), logging
// and the metrics registry:
//
//   class EchoRole : public Role { ... };
//   EchoRole role(cfg);
//   return run_role("echo", role, common_options);
//
// On start it prints one line to stdout with every bound address, for scripts and tests:
//   listening admin=127.0.0.1:9901 listen=127.0.0.1:8080

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/host_port.hpp"
#include "core/log.hpp"
#include "core/router.hpp"
#include "core/webui.hpp"

namespace tender {

class Registry;

struct CommonOptions {
  HostPort admin{"127.0.0.1", 0};
  std::chrono::milliseconds grace{30'000};
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kText;
  std::string config_file;  // empty: none
  // Host names the admin listener answers to besides its addresses and localhost; "*": any
  // (core/admin_access.hpp). The host of --admin, when it is a name, is added to them.
  std::vector<std::string> admin_allow_hosts;
};

// A verdict for /healthz and /readyz: ok, or not ok and why.
struct Health {
  bool ok = true;
  std::string reason;
  [[nodiscard]] static Health failing(std::string why) { return {false, std::move(why)}; }
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  [[nodiscard]] virtual Registry& metrics() = 0;
  [[nodiscard]] virtual std::string_view role() const = 0;
  [[nodiscard]] virtual const CommonOptions& options() const = 0;
  // Adds `name=address` to the line printed once start() returns.
  virtual void announce(std::string name, const HostPort& address) = 0;
  // An address announced so far ("admin" is announced before start()), or nullopt.
  [[nodiscard]] virtual std::optional<HostPort> address(std::string_view name) const = 0;
  // Drains and exits with `code`, as if SIGTERM had arrived. Thread-safe.
  virtual void shutdown(int code) = 0;
};

// What every role provides. All methods but start() may be called from the admin thread while
// the role's own threads run, so they must be thread-safe.
class Role {
 public:
  virtual ~Role() = default;
  // Binds listeners and starts serving. Throws ConfigError (exit 2) or another exception (exit 1).
  virtual void start(Runtime& runtime) = 0;
  // Stops taking new work; work in flight carries on. Idempotent.
  virtual void drain() = 0;
  // True once draining has finished all work in flight.
  [[nodiscard]] virtual bool drained() const = 0;
  // Stops at once and releases every resource; the last call the role receives.
  virtual void stop() = 0;
  // Liveness beyond "the process answers": e.g. a wedged worker.
  [[nodiscard]] virtual Health health() const { return {}; }
  // Readiness beyond "started and not draining": e.g. no healthy upstream.
  [[nodiscard]] virtual Health ready() const { return {}; }
  // The role's live state for /statusz.
  [[nodiscard]] virtual boost::json::object status() const { return {}; }
  // The role's effective configuration for /configz; secrets are redacted by the caller.
  [[nodiscard]] virtual boost::json::object config() const = 0;
  // SIGHUP: re-reads configuration; an error says why the running one was kept. Roles that
  // cannot reload fail with operation_not_supported.
  [[nodiscard]] virtual Result<> reload() {
    return Error(std::errc::operation_not_supported, "reload not supported");
  }
  // Called on every GET /metrics before the registry renders, on the admin thread: a role whose
  // metrics come from elsewhere at scrape time (the adapter's sources) gathers them into the
  // registry (Registry::set_external) and then calls `ready` exactly once, from any thread.
  // The default calls it at once. Must not throw.
  virtual void collect_metrics(std::function<void()> ready) { ready(); }
  // Adds the role's own endpoints (e.g. /v1/pods) to the admin listener. Called once, before
  // start(); the handlers run on the admin thread.
  virtual void add_admin_routes(Router& router) { (void)router; }
  // The role's panel of the web view at GET /ui (core/webui.hpp): its panel.js (and
  // panel.css), embedded with tender_embed_assets. None: the page shows only what every role
  // has.
  [[nodiscard]] virtual std::span<const UiAsset> ui_assets() const { return {}; }
};

// Runs `role` until a signal, /quitquitquit or Runtime::shutdown. Returns the process exit code:
// 0 after a graceful stop, 1 when start() failed, 2 on a configuration error.
int run_role(std::string_view name, Role& role, const CommonOptions& options);

// Replaces the values of secret-looking keys (password, secret, token, ...) with "<redacted>".
void redact_secrets(boost::json::object& obj);

}  // namespace tender

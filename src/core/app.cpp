#include "core/app.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "core/admin_access.hpp"
#include "core/ascii.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"
#include "core/version.hpp"

namespace tender {
namespace {

// Whether the "listening" line goes to the log at info besides the plain line on stdout: in the
// JSON log, always; in the text log, only when stderr is a terminal that stdout does not also
// print to (e.g. `tender echo > addresses`), as where stderr is a file or pipe (a pod's log,
// `2>&1`, systemd) or the terminal shows stdout too, the plain line already says it.
bool listening_worth_logging() {
  if (log::settings().format == log::Format::kJson) {
    return true;
  }
  if (::isatty(STDERR_FILENO) != 1) {
    return false;
  }
  struct stat out {};
  struct stat err {};
  return ::fstat(STDOUT_FILENO, &out) != 0 || ::fstat(STDERR_FILENO, &err) != 0 ||
         out.st_dev != err.st_dev || out.st_ino != err.st_ino;
}

namespace asio = boost::asio;
namespace json = boost::json;

enum class State { kStarting, kRunning, kDraining, kStopping };

std::string_view state_name(State s) {
  switch (s) {
    case State::kStarting:
      return "starting";
    case State::kRunning:
      return "running";
    case State::kDraining:
      return "draining";
    case State::kStopping:
      return "stopping";
  }
  return "unknown";
}

bool is_secret_key(std::string_view key) {
  const std::string k = ascii_lower(key);
  // "auth" also covers authorization and Proxy-Authorization; headers (X-Api-Key, Cookie) are
  // keys too where a role shows the headers it sends.
  for (std::string_view word : {"password", "passwd", "secret", "token", "credential", "apikey",
                                "api_key", "api-key", "auth", "private_key", "cookie", "session"}) {
    if (k.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void redact_value(json::value& v) {
  if (v.is_object()) {
    redact_secrets(v.as_object());
  } else if (v.is_array()) {
    for (auto& e : v.as_array()) {
      redact_value(e);
    }
  }
}

class RuntimeImpl final : public Runtime {
 public:
  RuntimeImpl(std::string_view name, Role& role, const CommonOptions& options)
      : name_(name), role_(role), options_(options), signals_(ctl_, SIGTERM, SIGINT, SIGHUP) {}

  Registry& metrics() override { return registry_; }
  std::string_view role() const override { return name_; }
  const CommonOptions& options() const override { return options_; }

  void announce(std::string name, const HostPort& address) override {
    std::lock_guard lock(mu_);
    announced_.emplace_back(std::move(name), address.str());
  }

  std::optional<HostPort> address(std::string_view name) const override {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : announced_) {
      if (k == name) {
        return parse_host_port(v);
      }
    }
    return std::nullopt;
  }

  void shutdown(int code) override {
    asio::post(ctl_, [this, code] { begin_shutdown(code, "requested by the role"); });
  }

  int run();
  // Answers being written (the 200 of /quitquitquit among them) go out first: the admin
  // server drains, and stops once its connections are closed, or after a second.
  void stop_admin() {
    if (admin_) {
      admin_->drain();
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (admin_->connections() > 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      admin_->stop();
    }
  }

 private:
  Router admin_router();
  [[nodiscard]] Response configz() const;  // GET /configz
  [[nodiscard]] Response statusz() const;  // GET /statusz
  void begin_drain(std::string_view why);
  void begin_shutdown(int code, std::string_view why);
  void poll_drained();
  void wait_signal();
  void finish();

  std::string name_;
  Role& role_;
  CommonOptions options_;
  Registry registry_;
  asio::io_context ctl_{1};
  asio::signal_set signals_;
  asio::steady_timer poll_timer_{ctl_};
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  std::atomic<State> state_{State::kStarting};
  bool shutting_down_ = false;  // control thread only
  int exit_code_ = 0;
  std::unique_ptr<HttpServer> admin_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> announced_;
  Counter* reloads_ok_ = nullptr;
  Counter* reloads_failed_ = nullptr;
};

Response RuntimeImpl::configz() const {
  json::object common;
  common["admin"] = options_.admin.str();
  json::array allowed;
  for (const auto& h : options_.admin_allow_hosts) {
    allowed.emplace_back(h);
  }
  common["admin_allow_hosts"] = std::move(allowed);
  common["grace"] = format_duration(options_.grace);
  common["log_level"] = log::level_name(options_.log_level);
  common["log_format"] = options_.log_format == log::Format::kJson ? "json" : "text";
  common["config_file"] = options_.config_file;
  json::object out;
  out["role"] = name_;
  out["common"] = std::move(common);
  json::object cfg = role_.config();
  redact_secrets(cfg);
  out["config"] = std::move(cfg);
  return Response::json(200, out);
}

Response RuntimeImpl::statusz() const {
  json::object out;
  out["role"] = name_;
  out["version"] = version();
  out["commit"] = commit();
  out["build_type"] = build_type();
  out["pid"] = static_cast<std::int64_t>(::getpid());
  out["state"] = state_name(state_.load());
  out["uptime_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  out["started_at"] =
      std::chrono::duration_cast<std::chrono::seconds>(started_wall_.time_since_epoch()).count();
  {
    std::lock_guard lock(mu_);
    json::object addrs;
    for (const auto& [k, v] : announced_) {
      addrs[k] = v;
    }
    out["addresses"] = std::move(addrs);
  }
  out["status"] = role_.status();
  return Response::json(200, out);
}

Router RuntimeImpl::admin_router() {
  Router r;
  r.get("/healthz", [this](Request&) {
    Health h = role_.health();
    return h.ok ? Response::text(200, "ok\n") : Response::error(503, h.reason);
  });
  r.get("/readyz", [this](Request&) {
    State s = state_.load();
    if (s != State::kRunning) {
      return Response::error(503, state_name(s));
    }
    Health h = role_.ready();
    return h.ok ? Response::text(200, "ok\n") : Response::error(503, h.reason);
  });
  r.add_async("GET", "/metrics", [this](Request& req, Reply reply) {
    Format f = Registry::negotiate(req.headers.get("Accept").value_or(""));
    role_.collect_metrics([this, f, reply = std::move(reply)] {
      Response resp;
      resp.headers.add("Content-Type", std::string(Registry::content_type(f)));
      resp.body = registry_.render(f);
      reply(std::move(resp));
    });
  });
  r.get("/configz", [this](Request&) { return configz(); });
  r.get("/statusz", [this](Request&) { return statusz(); });
  r.post("/drain", [this](Request&) {
    asio::post(ctl_, [this] { begin_drain("POST /drain"); });
    return Response::text(200, "draining\n");
  });
  r.post("/quitquitquit", [this](Request&) {
    asio::post(ctl_, [this] { begin_shutdown(0, "POST /quitquitquit"); });
    return Response::text(200, "shutting down\n");
  });
  role_.add_admin_routes(r);
  add_ui_routes(r, {name_, role_.ui_assets(), [this] { return registry_.render(); }});
  // No web page the operator visits may drive or read this listener (core/admin_access.hpp).
  AdminAccess access{options_.admin_allow_hosts};
  const std::string& host = options_.admin.host;
  if (!host.empty() && !is_ip_literal_host(host) && !is_ip_literal_host("[" + host + "]")) {
    access.allowed_hosts.push_back(host);  // --admin named this host: it answers to the name
  }
  r.guard([access = std::move(access)](const Request& req) { return access.check(req); });
  return r;
}

void RuntimeImpl::begin_drain(std::string_view why) {
  State expected = State::kRunning;
  if (state_.compare_exchange_strong(expected, State::kDraining)) {
    log::info("draining", {{"reason", why}});
    role_.drain();
  }
}

void RuntimeImpl::begin_shutdown(int code, std::string_view why) {
  if (shutting_down_) {
    return;
  }
  shutting_down_ = true;
  exit_code_ = code;
  log::info("shutting down", {{"reason", why}, {"grace", format_duration(options_.grace)}});
  if (state_.load() != State::kDraining) {
    state_ = State::kDraining;
    role_.drain();
  }
  deadline_ = std::chrono::steady_clock::now() + options_.grace;
  poll_drained();
}

void RuntimeImpl::poll_drained() {
  if (role_.drained()) {
    finish();
    return;
  }
  if (std::chrono::steady_clock::now() >= deadline_) {
    log::warn("grace period over with work still in flight; stopping anyway");
    finish();
    return;
  }
  poll_timer_.expires_after(std::chrono::milliseconds(10));
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      poll_drained();
    }
  });
}

void RuntimeImpl::finish() {
  state_ = State::kStopping;
  // From here a signal takes its default action: a stop that hangs can still be interrupted.
  signals_.clear();
  poll_timer_.cancel();
  stop_admin();  // it calls into the role, so it stops first: role_.stop() is the last call
  role_.stop();
  ctl_.stop();
}

void RuntimeImpl::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) {
      return;
    }
    if (sig == SIGHUP) {
      if (Result<> reloaded = role_.reload()) {
        reloads_ok_->inc();
        log::info("configuration reloaded");
      } else {
        reloads_failed_->inc();
        log::warn("reload failed; keeping the running configuration",
                  {{"error", reloaded.error().message()}});
      }
    } else if (shutting_down_) {
      log::warn("second signal: exiting at once", {{"signal", sig}});
      std::_Exit(128 + sig);
    } else {
      begin_shutdown(0, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    wait_signal();
  });
}

int RuntimeImpl::run() {
  add_process_metrics(registry_);
  registry_
      .gauge_family("tender_build_info", "Version and commit of the running binary (always 1).",
                    {"role", "version", "commit"})
      .with({name_, std::string(version()), std::string(commit())})
      .set(1);
  auto& reloads =
      registry_.counter_family("tender_" + name_ + "_config_reloads_total",
                               "Configuration reloads on SIGHUP, by result.", {"result"});
  reloads_ok_ = &reloads.with({"ok"});
  reloads_failed_ = &reloads.with({"error"});

  ServerOptions admin_opts;
  admin_opts.listen = options_.admin;
  admin_opts.threads = 1;
  admin_opts.limits.max_body_bytes = std::size_t{64} << 10;
  admin_ = std::make_unique<HttpServer>(admin_router(), admin_opts);
  HostPort admin_addr = admin_->bind();
  if (!is_loopback_address(admin_addr.host)) {
    log::warn(
        "the admin listener is reachable beyond loopback (from other machines or pods), and "
        "whoever connects can drain and stop this process",
        {{"address", admin_addr.str()}});
  }
  announce("admin", admin_addr);
  admin_->start();

  role_.start(*this);
  state_ = State::kRunning;

  std::string line = "listening";
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : announced_) {
      line.append(" ").append(k).append("=").append(v);
    }
  }
  // The plain line on stdout is for scripts and always printed. In the text log it would say
  // the same again where both streams end up together (a terminal showing both, a pod's log,
  // `2>&1`), so there it is logged at debug; the JSON log always carries it at info.
  if (listening_worth_logging()) {
    log::info(line);
  } else {
    log::debug(line);
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);

  wait_signal();
  ctl_.run();
  log::info("stopped", {{"exit_code", exit_code_}});
  return exit_code_;
}

}  // namespace

void redact_secrets(json::object& obj) {
  for (auto& kv : obj) {
    if (is_secret_key(kv.key()) && !(kv.value().is_string() && kv.value().as_string().empty())) {
      if (!kv.value().is_object() && !kv.value().is_array()) {
        kv.value() = "<redacted>";
        continue;
      }
    }
    redact_value(kv.value());
  }
}

int run_role(std::string_view name, Role& role, const CommonOptions& options) {
  log::Settings ls;
  ls.level = options.log_level;
  ls.format = options.log_format;
  ls.role = std::string(name);
  log::configure(ls);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that hangs up is an error code, not a death
  // Descriptors are what a role holds per connection or child: the soft limit (often 1024)
  // goes up to the hard one, before any thread starts. Children get the old one back.
  rlimit before{};
  ::getrlimit(RLIMIT_NOFILE, &before);
  if (std::uint64_t now = raise_fd_limit(); now != before.rlim_cur) {
    log::debug("file descriptor limit raised; children keep the old one",
               {{"limit", static_cast<std::int64_t>(now)},
                {"children", static_cast<std::int64_t>(before.rlim_cur)}});
  }
  RuntimeImpl rt(name, role, options);
  try {
    return rt.run();
  } catch (const ConfigError& e) {
    log::error("configuration error", {{"error", e.what()}});
    std::fprintf(stderr, "tender %.*s: %s\n", static_cast<int>(name.size()), name.data(), e.what());
    rt.stop_admin();
    role.stop();
    return 2;
  } catch (const std::exception& e) {
    log::error("failed to start", {{"error", e.what()}});
    rt.stop_admin();
    role.stop();
    return 1;
  }
}

}  // namespace tender

// `tender elect`: the role around the elector. One thread (its io_context) runs the backend,
// the claim's deadline timer, the exec child and the webhook; the HTTP API answers on the
// server's thread from the elector's thread-safe view.
#include "election/elect_role.hpp"

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "core/admin_access.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"
#include "core/webhook.hpp"
#include "election/api.hpp"
#include "election/leader_exec.hpp"
#include "election/term_history.hpp"

namespace tender::election {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Terms kept for /statusz's timeline.
constexpr std::size_t kTermsKept = 32;

constexpr std::array<double, 12> kRenewBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};

}  // namespace

struct ElectRole::Impl final : BackendSink {
  explicit Impl(ElectConfig c)
      : cfg(std::move(c)), elector(cfg.id, cfg.timing), deadline(ioc), keepalive(ioc) {}

  ElectConfig cfg;
  asio::io_context ioc;
  Elector elector;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LeaderApi> api;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<LeaderExec> exec;
  std::unique_ptr<Webhook> webhook;
  asio::steady_timer deadline;
  asio::steady_timer keepalive;
  asio::cancellation_signal stop_backend;
  std::thread thread;
  std::atomic<bool> backend_done{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> looping{false};  // the io_context's thread runs (start() to stop())
  // What the app was last told (on the io_context's thread).
  bool told_self = false;
  std::uint64_t told_token = 0;
  std::uint64_t seen_version = 0;
  bool told_backend_ok = false;
  bool change_pending = false;
  SteadyTime drain_started{};
  // The backend's own status, refreshed on its thread for /statusz on the admin thread.
  mutable std::mutex status_mu;
  json::object backend_status;
  TermHistory terms{kTermsKept};
  // Metrics.
  Counter* term_changes = nullptr;
  Counter* gains = nullptr;
  Counter* losses = nullptr;
  Counter* backend_errors = nullptr;
  Counter* webhook_failures = nullptr;
  Histogram* renew_seconds = nullptr;

  // --- BackendSink, on the io_context's thread ---------------------------------------------
  // The elector learns at once; the rest (the API's waiters, the command, the webhook, logs)
  // runs after the backend's call returns, so that nothing slow runs inside its critical
  // section (the file backend holds its lock) and the backend is never re-entered.
  void held(std::uint64_t token, SteadyTime sent_at) override {
    if (elector.held(token, sent_at) == Elector::Outcome::kStale) {
      asio::post(ioc, [this] { stand_again(); });
    }
    change_soon();
  }
  void lost(std::uint64_t token, std::string_view why) override {
    elector.lost(token, why);
    change_soon();
  }
  void observed(const Observed& leader) override {
    elector.observed(leader);
    change_soon();
  }
  void contact(bool ok, std::string_view why) override {
    elector.contact(ok, why);
    if (!ok) {
      backend_errors->inc();
    }
    change_soon();
  }
  void renewed_in(std::chrono::steady_clock::duration rt) override {
    renew_seconds->observe(std::chrono::duration<double>(rt).count());
  }

  // The backend still holds a term that is over here: it must stand again, for a new token.
  void stand_again() { backend->resign(draining ? Resign::kLeave : Resign::kRejoin); }
  void start_loop();
  void register_metrics(Registry& m);
  void change_soon() {
    if (!change_pending) {
      change_pending = true;
      asio::post(ioc, [this] {
        change_pending = false;
        changed();
      });
    }
  }
  void changed();
  void arm_deadline();
  void arm_keepalive();
  void gained(std::uint64_t token);
  void lost_claim(std::uint64_t token);
  void notify(std::string_view event, std::uint64_t token);
  asio::awaitable<void> start_exec(std::uint64_t token);
  asio::awaitable<void> resign(Resign how, std::string reason);
  asio::awaitable<void> run_backend();
  // POST /v1/resign, on --listen and on the admin listener: resigns and stands again.
  void resign_on_request(const Reply& reply);
};

void ElectRole::Impl::resign_on_request(const Reply& reply) {
  if (!looping) {
    return reply(Response::error(503, "not standing for election (starting or stopped)"));
  }
  asio::post(ioc, [this, reply] {
    if (!elector.leading()) {
      return reply(Response::error(409, "not leader: nothing to resign"));
    }
    std::uint64_t token = elector.own_token();
    asio::co_spawn(ioc, resign(Resign::kRejoin, "resigned through the API"),
                   [reply, token](std::exception_ptr) {
                     reply(Response::json(200, json::object{{"resigned", true}, {"token", token}}));
                   });
  });
}

void ElectRole::Impl::register_metrics(Registry& m) {
  m.gauge_callback("tender_elect_is_leader", "1 while this replica leads, else 0.",
                   [this] { return elector.leading() ? 1.0 : 0.0; });
  m.gauge_callback("tender_elect_token",
                   "The fencing token of the current term as this replica sees it (0: none).",
                   [this] { return static_cast<double>(elector.view().token); });
  m.gauge_callback("tender_elect_backend_up", "1 while the backend answers, else 0.",
                   [this] { return elector.view().backend_ok ? 1.0 : 0.0; });
  term_changes = &m.counter("tender_elect_term_changes_total",
                            "Changes of the leader or its term seen by this replica.");
  gains = &m.counter("tender_elect_leadership_gained_total", "Terms this replica began to lead.");
  losses = &m.counter("tender_elect_leadership_lost_total", "Terms this replica stopped leading.");
  backend_errors = &m.counter("tender_elect_backend_errors_total",
                              "Backend requests that failed on every endpoint.");
  webhook_failures = &m.counter("tender_elect_webhook_failures_total",
                                "Webhook events not delivered after every attempt, or dropped.");
  renew_seconds = &m.histogram("tender_elect_renew_seconds",
                               "Round trip of an acknowledged renewal of the term.",
                               std::span<const double>(kRenewBuckets));
}

void ElectRole::Impl::changed() {
  View v = elector.view();
  api->publish();
  {
    std::lock_guard lock(status_mu);
    backend_status = backend->status();
  }
  if (v.backend_ok != told_backend_ok) {
    told_backend_ok = v.backend_ok;
    if (v.backend_ok) {
      log::info("backend reachable", {{"backend", cfg.backend}});
    } else {
      log::warn("backend unreachable", {{"backend", cfg.backend}, {"reason", v.backend_error}});
    }
  }
  if (v.version != seen_version) {
    seen_version = v.version;
    term_changes->inc();
    std::lock_guard lock(status_mu);
    terms.observe(v.leader, v.token, v.term_started.value_or(std::chrono::system_clock::now()));
  }
  if (v.self && (!told_self || v.token != told_token)) {
    if (told_self) {
      lost_claim(told_token);
    }
    gained(v.token);
  } else if (!v.self && told_self) {
    lost_claim(told_token);
  }
  arm_deadline();
}

void ElectRole::Impl::gained(std::uint64_t token) {
  told_self = true;
  told_token = token;
  gains->inc();
  log::info("leading", {{"election", cfg.election}, {"token", static_cast<std::int64_t>(token)}});
  notify("gained", token);
  if (exec) {
    asio::co_spawn(ioc, start_exec(token), asio::detached);
  }
}

void ElectRole::Impl::lost_claim(std::uint64_t token) {
  told_self = false;
  losses->inc();
  std::string why = elector.last_loss();
  log::info(
      "not leading",
      {{"election", cfg.election}, {"token", static_cast<std::int64_t>(token)}, {"reason", why}});
  if (exec) {
    exec->stop();
  }
  notify("lost", token);
}

void ElectRole::Impl::notify(std::string_view event, std::uint64_t token) {
  if (!webhook) {
    return;
  }
  View v = elector.view();
  json::object o{{"event", event}, {"election", cfg.election}, {"id", cfg.id},
                 {"token", token}, {"leader", v.leader},       {"leader_token", v.token}};
  if (event == "lost") {
    o["reason"] = elector.last_loss();
  }
  webhook->send(json::serialize(o));
}

asio::awaitable<void> ElectRole::Impl::start_exec(std::uint64_t token) {
  co_await exec->stopped();  // the previous term's command, if it is still stopping
  View v = elector.view();
  if (!v.self || v.token != token || exec->running()) {
    co_return;
  }
  auto started =
      exec->start(token, {"TENDER_ELECT_ELECTION=" + cfg.election, "TENDER_ELECT_ID=" + cfg.id});
  if (!started) {
    log::error("cannot start the leader command; resigning",
               {{"error", started.error().message()}});
    co_await resign(Resign::kRejoin, "the leader command could not start");
  }
}

asio::awaitable<void> ElectRole::Impl::resign(Resign how, std::string reason) {
  elector.resign(reason);
  changed();  // the API says "not leader" and the command is asked to stop before anything else
  if (exec) {
    co_await exec->stopped();  // so that no new leader's command overlaps this one
  }
  backend->resign(how);
}

void ElectRole::Impl::arm_deadline() {
  auto when = elector.deadline();
  deadline.expires_at(when.value_or(SteadyTime::max()));
  deadline.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      if (elector.tick() == Elector::Outcome::kLost) {
        stand_again();  // the claim ran out with the backend still holding the term
      }
      changed();
    }
  });
}

void ElectRole::Impl::arm_keepalive() {
  keepalive.expires_after(std::chrono::seconds(15));
  keepalive.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      api->keepalive();
      arm_keepalive();
    }
  });
}

asio::awaitable<void> ElectRole::Impl::run_backend() {
  co_await backend->run(*this);
  backend_done = true;
  log::info("left the election", {{"election", cfg.election}});
}

void ElectRole::Impl::start_loop() {
  asio::co_spawn(ioc, run_backend(),
                 asio::bind_cancellation_slot(stop_backend.slot(), asio::detached));
  arm_keepalive();
  thread = std::thread([this] {
    name_this_thread("elector");
    ioc.run();
  });
}

ElectRole::ElectRole(ElectConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

ElectRole::~ElectRole() { stop(); }

void ElectRole::start(Runtime& rt) {
  Impl& m = *impl_;
  BackendOptions bo{.election = m.cfg.election,
                    .id = m.cfg.id,
                    .ttl = m.cfg.timing.ttl,
                    .renew_every = m.cfg.timing.ttl / 3,
                    .clock = &system_clock()};
  auto backend = make_backend(m.cfg.backend_url, bo, m.ioc);
  if (!backend) {
    throw std::runtime_error("backend " + m.cfg.backend + ": " + backend.error().message());
  }
  m.backend = std::move(*backend);
  m.register_metrics(rt.metrics());
  m.api = std::make_unique<LeaderApi>(
      m.elector, m.cfg.election, [this](const Reply& reply) { impl_->resign_on_request(reply); });
  if (!m.cfg.exec.empty()) {
    m.exec = std::make_unique<LeaderExec>(
        m.ioc, ExecOptions{.argv = m.cfg.exec, .grace = m.cfg.exec_grace},
        [this](const ExitStatus& st) {
          asio::co_spawn(
              impl_->ioc,
              impl_->resign(Resign::kRejoin, "the leader command ended: " + st.describe()),
              asio::detached);
        });
  }
  if (!m.cfg.webhook.empty()) {
    // 3 attempts of 2 s each, 200 ms then 400 ms apart: what the app was told before.
    m.webhook = std::make_unique<Webhook>(m.ioc, *parse_http_url(m.cfg.webhook), WebhookOptions{},
                                          [this](bool ok) {
                                            if (!ok) {
                                              impl_->webhook_failures->inc();
                                            }
                                          });
  }
  Router router;
  AdminAccess access{rt.options().admin_allow_hosts};
  router.guard([access](const Request& req) { return access.check(req); });
  m.api->add_routes(router);
  ServerOptions so;
  so.listen = m.cfg.listen;
  so.threads = 1;
  so.metrics = &rt.metrics();
  so.metrics_prefix = "tender_elect";
  m.server = std::make_unique<HttpServer>(std::move(router), so);
  rt.announce("listen", m.server->bind());
  m.server->start();
  m.start_loop();
  m.looping = true;
  log::info("standing for election",
            {{"election", m.cfg.election}, {"id", m.cfg.id}, {"backend", m.cfg.backend}});
}

void ElectRole::drain() {
  Impl& m = *impl_;
  if (m.draining.exchange(true) || !m.thread.joinable()) {
    return;
  }
  m.drain_started = std::chrono::steady_clock::now();
  // Resign before exiting, so that another replica leads at once instead of after the ttl.
  asio::post(m.ioc, [&m] {
    asio::co_spawn(m.ioc, m.resign(Resign::kLeave, "shutting down"), asio::detached);
  });
}

bool ElectRole::drained() const {
  const Impl& m = *impl_;
  if (m.backend_done || !m.thread.joinable()) {
    return true;
  }
  // A backend that cannot be reached cannot be told either: give up after a bound, which
  // leaves the command its grace to stop first.
  std::chrono::steady_clock::duration bound =
      std::max<std::chrono::steady_clock::duration>(m.cfg.timing.ttl, std::chrono::seconds(5));
  if (m.exec) {
    bound += m.cfg.exec_grace;
  }
  return m.draining && std::chrono::steady_clock::now() - m.drain_started > bound;
}

void ElectRole::stop() {
  Impl& m = *impl_;
  m.looping = false;
  if (m.thread.joinable()) {
    if (m.api) {
      m.api->close();
    }
    m.ioc.stop();
    m.thread.join();
    // No thread runs the loop now: cancel what waits on it here, and let it unwind.
    m.ioc.restart();
    m.stop_backend.emit(asio::cancellation_type::terminal);
    m.deadline.cancel();
    m.keepalive.cancel();
    m.ioc.poll();
  }
  if (m.server) {
    m.server->stop();
    m.server.reset();
  }
  m.exec.reset();  // kills the command's group if it still runs
}

Health ElectRole::ready() const {
  View v = impl_->elector.view();
  if (!v.backend_ok) {
    return Health::failing("backend " + impl_->cfg.backend + ": " + v.backend_error);
  }
  return {};
}

json::object ElectRole::status() const {
  const Impl& m = *impl_;
  View v = m.elector.view();
  json::object o{{"election", m.cfg.election},
                 {"id", m.cfg.id},
                 {"state", v.self ? "leader" : (v.leader.empty() ? "no leader" : "follower")},
                 {"leader", leader_json(v, m.cfg.election)},
                 {"backend_ok", v.backend_ok}};
  if (!v.backend_ok) {
    o["backend_error"] = v.backend_error;
  }
  if (v.self && v.valid_for) {
    o["lease_left_ms"] = v.valid_for->count();
  }
  if (std::string loss = m.elector.last_loss(); !loss.empty()) {
    o["last_loss"] = loss;
  }
  {
    std::lock_guard lock(m.status_mu);
    o["backend"] = m.backend_status;
    o["terms"] = m.terms.to_json();
    o["terms_left_out"] = m.terms.left_out();
  }
  o["long_polls"] = m.api ? m.api->waiters() : 0;
  o["watchers"] = m.api ? m.api->watchers() : 0;
  return o;
}

void ElectRole::add_admin_routes(Router& router) {
  add_resign_route(router, [this](const Reply& reply) { impl_->resign_on_request(reply); });
}

json::object ElectRole::config() const { return impl_->cfg.to_json(); }

std::span<const UiAsset> ElectRole::ui_assets() const { return election::ui_assets(); }

}  // namespace tender::election

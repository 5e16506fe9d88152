// `tender sync`: the sync loop, the publication, the hook and the webhook, on one io_context.
#include "sidecar/sync_role.hpp"

#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "core/asio_util.hpp"
#include "core/backoff.hpp"
#include "core/command.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"
#include "core/units.hpp"
#include "core/webhook.hpp"
#include "sidecar/sync_fetch.hpp"
#include "sidecar/sync_state.hpp"
#include "sidecar/sync_tree.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace tender::sidecar {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::array<double, 12> kSyncBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10,  30};

BackoffPolicy hook_backoff() {
  return BackoffPolicy{.initial = milliseconds(1'000),
                       .max = milliseconds(30'000),
                       .multiplier = 2.0,
                       .jitter = 0.0,
                       .reset_after = std::nullopt};
}

std::vector<std::string> process_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    out.emplace_back(*e);
  }
  return out;
}

}  // namespace

// One sync at a time, and what follows a publication. Everything on the io_context's thread
// but `state`, which the admin thread reads.
struct Syncer {
  struct Round {
    bool ok = false;
    bool published = false;
    Publication publication;
    SyncState::Verdict verdict = SyncState::Verdict::kGoOn;
  };

  Syncer(asio::io_context& io, const SyncConfig& c, Registry& metrics)
      : ioc(io),
        cfg(c),
        layout{cfg.dest, cfg.link},
        state(cfg.max_failures, system_clock()),
        fetcher(make_fetcher(cfg, layout, io.get_executor())) {
    syncs =
        &metrics.counter("tender_sync_syncs_total", "Syncs attempted (each period, and --once).");
    failures = &metrics.counter("tender_sync_failures_total",
                                "Syncs that failed (fetch, unpack, publish or the timeout).");
    publishes = &metrics.counter("tender_sync_publishes_total",
                                 "New revisions published (the link swapped to a new tree).");
    duration = &metrics.histogram("tender_sync_duration_seconds",
                                  "Time of a sync, from its start to its publication or end.",
                                  std::span<const double>(kSyncBuckets));
    hook_runs = &metrics.counter_family(
        "tender_sync_hook_runs_total",
        "Exec hook outcomes per revision: success, failure (every attempt failed) or superseded.",
        {"result"});
    webhooks = &metrics.counter_family(
        "tender_sync_webhook_deliveries_total",
        "Webhook outcomes per revision: delivered, or failed (every attempt failed, or dropped).",
        {"result"});
    metrics.gauge_callback(
        "tender_sync_last_success_timestamp_seconds",
        "When the last sync succeeded (published or unchanged), Unix time; 0: never.",
        [this] { return state.last_success_seconds(); });
    metrics.gauge_callback("tender_sync_consecutive_failures",
                           "Syncs failed in a row since the last success.",
                           [this] { return static_cast<double>(state.consecutive_failures()); });
    metrics.gauge_callback("tender_sync_ready", "1 once a sync has succeeded, else 0.",
                           [this] { return state.ready() ? 1.0 : 0.0; });
    metrics.set_external([this] {
      std::vector<ExternalFamily> out;
      std::string rev = state.revision();
      if (!rev.empty()) {
        out.push_back(ExternalFamily{"tender_sync_info",
                                     "gauge",
                                     "The revision published now, as a label; always 1.",
                                     {info_sample(rev)}});
      }
      return out;
    });
    make_webhook();
  }

  void make_webhook() {
    webhook.reset();  // what it still holds is abandoned
    if (cfg.webhook.empty()) {
      return;
    }
    WebhookOptions wo;
    wo.attempts = cfg.hook_attempts;
    wo.timeout = cfg.hook_timeout;
    wo.backoff = hook_backoff();
    webhook = std::make_unique<Webhook>(ioc, *parse_http_url(cfg.webhook), wo, [this](bool ok) {
      webhooks->with({ok ? "delivered" : "failed"}).inc();
      state.hook_result("webhook", last_webhook_revision, ok, ok ? "delivered" : "not delivered");
      if (!ok) {
        webhook_all_ok = false;
      }
      --webhook_outstanding;
    });
  }

  // A reloaded configuration (same source, dest, link and max_bytes), on the loop's thread.
  void apply(const SyncConfig& next) {
    bool new_webhook = next.webhook != cfg.webhook || next.hook_attempts != cfg.hook_attempts ||
                       next.hook_timeout != cfg.hook_timeout;
    cfg = next;
    state.set_max_failures(cfg.max_failures);
    if (new_webhook) {
      make_webhook();
    }
  }

  asio::io_context& ioc;
  SyncConfig cfg;
  TreeLayout layout;
  SyncState state;
  std::unique_ptr<Fetcher> fetcher;
  std::unique_ptr<Webhook> webhook;
  Counter* syncs = nullptr;
  Counter* failures = nullptr;
  Counter* publishes = nullptr;
  Histogram* duration = nullptr;
  CounterFamily* hook_runs = nullptr;
  CounterFamily* webhooks = nullptr;
  // The exec hook: the newest publication not yet handed to it, and whether it runs.
  std::optional<Publication> hook_pending;
  bool hook_running = false;
  std::string last_webhook_revision;
  int webhook_outstanding = 0;
  bool webhook_all_ok = true;

  Round fail(const std::string& reason) {
    failures->inc();
    Round r;
    r.verdict = state.failed(reason);
    log::warn("sync failed", {{"source", cfg.source.text},
                              {"reason", reason},
                              {"consecutive_failures", state.consecutive_failures()}});
    return r;
  }

  asio::awaitable<Round> round() {
    using namespace asio::experimental::awaitable_operators;
    state.started();
    syncs->inc();
    auto t0 = std::chrono::steady_clock::now();
    auto published = published_revision(layout);
    if (!published) {
      co_return fail(published.error().message());
    }
    auto deadline = t0 + cfg.timeout;
    asio::steady_timer timer(ioc, deadline + milliseconds(500));
    auto raced = co_await (fetcher->fetch(*published, deadline) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    auto observe = [&] {
      duration->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
    if (raced.index() == 1) {
      observe();
      co_return fail("timed out after " + format_duration(cfg.timeout) + " (--timeout)");
    }
    auto& got = std::get<0>(raced);
    if (!got) {
      observe();
      co_return fail(got.error().message());
    }
    if (got->unchanged) {
      observe();
      state.succeeded(got->revision, false);
      log::debug("unchanged", {{"revision", got->revision}});
      co_return Round{.ok = true, .published = false, .publication = {}, .verdict = {}};
    }
    std::string previous_tree = published_tree_name(layout);
    auto tree = publish(layout, got->staging, got->revision);
    if (!tree) {
      (void)remove_tree(got->staging);
      observe();
      co_return fail("publish: " + tree.error().message());
    }
    state.succeeded(got->revision, true);  // what readers see now
    if (auto removed = remove_old_trees(layout, previous_tree); !removed) {
      log::warn("old trees not all removed", {{"error", removed.error().message()}});
    }
    observe();
    publishes->inc();
    Publication p{.revision = got->revision,
                  .previous = *published,
                  .source = cfg.source.text,
                  .path = layout.link_path(),
                  .tree = *tree,
                  .at = std::chrono::system_clock::now()};
    log::info("published",
              {{"revision", p.revision},
               {"previous", p.previous},
               {"path", p.path},
               {"ms", static_cast<std::int64_t>(std::chrono::duration_cast<milliseconds>(
                                                    std::chrono::steady_clock::now() - t0)
                                                    .count())}});
    co_return Round{.ok = true, .published = true, .publication = std::move(p), .verdict = {}};
  }

  // round(), with anything it throws (std::bad_alloc, a filesystem_error) made a failure
  // rather than the end of the loop's thread.
  asio::awaitable<Round> safe_round() {
    std::string what;
    try {
      co_return co_await round();
    } catch (const std::exception& e) {
      what = e.what();
    }
    co_return fail(what);
  }

  // Runs the exec hook for `p` with its retries. Returns "success", "failure" or "superseded"
  // (a newer publication came while it was failing).
  asio::awaitable<std::string> run_hook(const Publication& p) {
    Backoff backoff(hook_backoff(), system_clock());
    std::string detail;
    for (int attempt = 1; attempt <= cfg.hook_attempts; ++attempt) {
      if (attempt > 1) {
        co_await sleep_for(std::chrono::duration_cast<milliseconds>(backoff.next()));
        if (hook_pending) {
          state.hook_result("exec", p.revision, false, "superseded: " + detail);
          co_return "superseded";
        }
      }
      CommandOptions o;
      o.spawn.argv = cfg.exec;
      o.spawn.env = hook_environment(process_environment(), p);
      o.spawn.cwd = p.tree;
      o.timeout = cfg.hook_timeout;
      o.kill_grace = milliseconds(2'000);
      o.merge_stderr = true;
      o.max_stdout_bytes = 4096;
      auto run = co_await run_command(std::move(o));
      if (run && run->success()) {
        state.hook_result("exec", p.revision, true, "exited 0");
        log::info("hook ran", {{"revision", p.revision}, {"attempt", attempt}});
        co_return "success";
      }
      detail = run ? run->describe() : run.error().message();
      log::warn("hook failed", {{"revision", p.revision},
                                {"attempt", attempt},
                                {"error", detail},
                                {"output", run ? run->stdout_text : std::string()}});
    }
    state.hook_result("exec", p.revision, false, detail);
    co_return "failure";
  }

  // The service's hook: the newest publication waiting goes next; older ones are skipped.
  void queue_hook(Publication p) {
    if (cfg.exec.empty()) {
      return;
    }
    if (hook_pending) {
      hook_runs->with({"superseded"}).inc();
    }
    hook_pending = std::move(p);
    if (!hook_running) {
      hook_running = true;
      asio::co_spawn(ioc, hook_loop(), asio::detached);
    }
  }

  asio::awaitable<void> hook_loop() {
    while (hook_pending) {
      Publication p = std::move(*hook_pending);
      hook_pending.reset();
      std::string result = co_await run_hook(p);
      hook_runs->with({result}).inc();
    }
    hook_running = false;
  }

  void send_webhook(const Publication& p) {
    if (webhook) {
      last_webhook_revision = p.revision;
      ++webhook_outstanding;
      webhook->send(webhook_body(p));
    }
  }
};

// --- the service ----------------------------------------------------------------------------

struct SyncRole::Impl {
  Impl(SyncConfig c, std::function<SyncConfig()> r)
      : cfg(std::move(c)), reread(std::move(r)), period_timer(ioc) {}

  SyncConfig cfg;  // written on the loop's thread (a reload) under cfg_mu
  mutable std::mutex cfg_mu;
  std::function<SyncConfig()> reread;
  asio::io_context ioc;
  asio::steady_timer period_timer;
  std::unique_ptr<Syncer> syncer;
  std::atomic<const Syncer*> live{nullptr};  // syncer, for the admin thread once it exists
  std::thread thread;
  Runtime* runtime = nullptr;
  std::atomic<bool> draining{false};
  std::atomic<bool> loop_done{false};
  // When the next sync is due (system_clock, in ms since the epoch), for /statusz; 0 while a
  // sync runs or after the loop ended.
  std::atomic<std::int64_t> next_attempt_ms{0};

  asio::awaitable<void> loop() {
    while (!draining) {
      auto start = std::chrono::steady_clock::now();
      Syncer::Round r = co_await syncer->safe_round();
      if (r.published) {
        syncer->queue_hook(r.publication);
        syncer->send_webhook(r.publication);
      }
      if (r.verdict == SyncState::Verdict::kGiveUp) {
        log::error("giving up: too many consecutive failures (--max-failures)",
                   {{"max_failures", cfg.max_failures}});
        runtime->shutdown(1);
        break;
      }
      if (draining) {
        break;
      }
      period_timer.expires_at(start + cfg.period);
      auto due = std::chrono::system_clock::now() +
                 (period_timer.expiry() - std::chrono::steady_clock::now());
      next_attempt_ms = std::chrono::duration_cast<milliseconds>(due.time_since_epoch()).count();
      co_await period_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      next_attempt_ms = 0;
    }
    next_attempt_ms = 0;
    loop_done = true;
  }
};

SyncRole::SyncRole(SyncConfig cfg, std::function<SyncConfig()> reread)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(reread))) {}

SyncRole::~SyncRole() { stop(); }

void SyncRole::start(Runtime& rt) {
  Impl& m = *impl_;
  m.runtime = &rt;
  m.syncer = std::make_unique<Syncer>(m.ioc, m.cfg, rt.metrics());
  m.live = m.syncer.get();
  log::info("syncing", {{"source", m.cfg.source.text},
                        {"path", m.syncer->layout.link_path()},
                        {"period", format_duration(m.cfg.period)}});
  asio::co_spawn(m.ioc, m.loop(), asio::detached);
  m.thread = std::thread([&m] {
    name_this_thread("sync");
    m.ioc.run();
  });
}

void SyncRole::drain() {
  Impl& m = *impl_;
  if (m.draining.exchange(true) || !m.thread.joinable()) {
    return;
  }
  asio::post(m.ioc, [&m] { m.period_timer.cancel(); });
}

bool SyncRole::drained() const { return impl_->loop_done || !impl_->thread.joinable(); }

void SyncRole::stop() {
  Impl& m = *impl_;
  if (m.thread.joinable()) {
    m.ioc.stop();
    m.thread.join();
  }
  // The syncer stays until the role is destroyed: the registry's callbacks read its state, and
  // /metrics may still be scraped while the admin listener drains.
}

Health SyncRole::ready() const {
  const Syncer* syncer = impl_->live.load();
  if (syncer == nullptr) {
    return Health::failing("starting");
  }
  if (!syncer->state.ready()) {
    return Health::failing(syncer->state.not_ready_reason());
  }
  return {};
}

json::object SyncRole::status() const {
  const Impl& m = *impl_;
  json::object o;
  {
    std::lock_guard lock(m.cfg_mu);
    o = {{"source", m.cfg.source.text},
         {"source_kind", kind_name(m.cfg.source.kind)},
         {"path", m.cfg.dest + "/" + m.cfg.link}};
  }
  if (const Syncer* syncer = m.live.load(); syncer != nullptr) {
    for (auto& [k, v] : syncer->state.to_json()) {
      o[k] = v;
    }
  }
  std::int64_t next = m.next_attempt_ms.load();
  o["next_attempt"] = next == 0 ? json::value(nullptr)
                                : json::value(format_utc(std::chrono::system_clock::time_point(
                                      std::chrono::milliseconds(next))));
  return o;
}

json::object SyncRole::config() const {
  std::lock_guard lock(impl_->cfg_mu);
  return impl_->cfg.to_json();
}

Result<> SyncRole::reload() {
  Impl& m = *impl_;
  if (!m.reread) {
    return Error(std::errc::operation_not_supported, "reload not supported");
  }
  SyncConfig next;
  try {
    next = m.reread();
  } catch (const std::exception& e) {
    return Error(std::errc::invalid_argument, e.what());
  }
  {
    std::lock_guard lock(m.cfg_mu);
    if (next.source.text != m.cfg.source.text || next.dest != m.cfg.dest ||
        next.link != m.cfg.link || next.max_bytes != m.cfg.max_bytes) {
      return Error(std::errc::invalid_argument,
                   "source, dest, link and max_bytes cannot change on reload: restart for them");
    }
  }
  if (!m.thread.joinable()) {  // not started, or stopped: nothing runs the loop
    std::lock_guard lock(m.cfg_mu);
    m.cfg = next;
    return {};
  }
  // Applied on the loop's thread, between two of its handlers; the handler owns what it uses,
  // so a loop that stopped meanwhile leaves nothing dangling.
  auto applied = std::make_shared<std::promise<void>>();
  auto done = applied->get_future();
  auto shared = std::make_shared<SyncConfig>(std::move(next));
  asio::post(m.ioc, [&m, shared, applied] {
    {
      std::lock_guard lock(m.cfg_mu);
      m.cfg = *shared;
    }
    if (m.syncer) {
      m.syncer->apply(*shared);
    }
    m.period_timer.cancel();  // a sync now, then the new period
    applied->set_value();
  });
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Error(std::errc::timed_out, "the sync loop did not take the new configuration");
  }
  return {};
}

// --- --once -----------------------------------------------------------------------------------

int run_sync_once(const SyncConfig& cfg, const CommonOptions& common) {
  log::Settings ls;
  ls.level = common.log_level;
  ls.format = common.log_format;
  ls.role = "sync";
  log::configure(ls);
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context ioc;
  Registry metrics;
  Syncer syncer(ioc, cfg, metrics);
  int code = 1;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        Syncer::Round r = co_await syncer.safe_round();
        if (!r.ok) {
          co_return;
        }
        bool ok = true;
        if (r.published && !cfg.exec.empty()) {
          std::string result = co_await syncer.run_hook(r.publication);
          ok = result == "success";
        }
        if (r.published && syncer.webhook) {
          syncer.send_webhook(r.publication);
          while (syncer.webhook_outstanding > 0) {
            co_await sleep_for(milliseconds(20));
          }
          ok = ok && syncer.webhook_all_ok;
        }
        code = ok ? 0 : 1;
      },
      asio::detached);
  ioc.run();
  return code;
}

}  // namespace tender::sidecar

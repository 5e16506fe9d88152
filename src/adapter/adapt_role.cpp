#include "adapter/adapt_role.hpp"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "adapter/exposition.hpp"
#include "core/cli.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/units.hpp"

namespace tender::adapter {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kUpName = "tender_adapt_source_up";
constexpr std::string_view kUpHelp = "1 if the source's last collection succeeded, else 0.";

// What the last collection of one source found.
struct SourceState {
  std::string kind;
  bool up = false;
  std::string reason;       // why it is down
  double collected_at = 0;  // Unix seconds; 0: never
  double collect_seconds = 0;
  std::size_t series = 0;
  ExpositionDrops drops;  // of the last collection
};

// A source that has not answered a collection this long after it began is left out of that
// scrape as down: a source's own timeout should come first, this bounds what a scrape waits.
constexpr std::chrono::seconds kCollectDeadline{10};

// One scrape's collection of every source.
struct Gather {
  explicit Gather(asio::io_context& io) : deadline(io) {}
  std::size_t left = 0;
  bool finished = false;
  std::vector<SourceFamilies> got;
  std::vector<std::string> kinds;
  std::vector<bool> answered;
  std::vector<std::optional<Error>> failed;
  std::vector<double> seconds;
  std::function<void()> done;
  asio::steady_timer deadline;
};

}  // namespace

struct AdaptRole::Impl {
  AdaptConfig cfg;
  std::function<AdaptConfig()> reread;
  const Clock& clock = system_clock();
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread;
  std::atomic<bool> running{false};
  Runtime* runtime = nullptr;
  std::unique_ptr<HttpServer> metrics_server;
  Registry adapted;  // what --metrics-listen serves: the exposition and each source's up
  asio::steady_timer finish_timer{io};

  GaugeFamily* up = nullptr;
  HistogramFamily* collect_duration = nullptr;
  CounterFamily* collect_failures = nullptr;
  CounterFamily* dropped = nullptr;
  GaugeFamily* series = nullptr;

  // Read by the admin thread; written on the io thread (and by reload on the control thread,
  // while the io thread waits).
  mutable std::mutex mu;
  std::vector<ExternalFamily> snapshot;
  std::map<std::string, SourceState, std::less<>> states;
  json::object config_json;

  Impl(AdaptConfig c, std::function<AdaptConfig()> r) : cfg(std::move(c)), reread(std::move(r)) {
    config_json = cfg.to_json();
  }

  SourceContext context() {
    return SourceContext{.io = io,
                         .metrics = runtime->metrics(),
                         .clock = clock,
                         .announce = [this](std::string name, const HostPort& address) {
                           runtime->announce(std::move(name), address);
                         }};
  }

  void register_metrics(Registry& m) {
    up = &m.gauge_family(kUpName, kUpHelp, {"source"});
    collect_duration = &m.histogram_family(
        "tender_adapt_collect_duration_seconds",
        "Time to collect a source for a scrape (a fetch, or a cached answer).", {"source"});
    collect_failures = &m.counter_family("tender_adapt_collect_failures_total",
                                         "Collections of a source that failed.", {"source"});
    dropped = &m.counter_family(
        "tender_adapt_series_dropped_total",
        "Series left out of the exposition: over_cap (max_series_per_metric), duplicate, "
        "invalid, conflict (a name held by another family).",
        {"source", "reason"});
    series =
        &m.gauge_family("tender_adapt_series",
                        "Series (label sets) each source put in the last exposition.", {"source"});
    // The admin /metrics shows the exposition beside tender's own metrics, unless
    // --metrics-listen gives it a port of its own.
    Registry& target = cfg.metrics_listen ? adapted : m;
    target.set_external([this] {
      std::lock_guard lock(mu);
      return snapshot;
    });
  }

  void start_metrics_server() {
    Router r;
    r.add_async("GET", "/metrics", [this](Request& req, Reply reply) {
      Format f = Registry::negotiate(req.headers.get("Accept").value_or(""));
      collect([this, f, reply = std::move(reply)] {
        Response resp;
        resp.headers.add("Content-Type", std::string(Registry::content_type(f)));
        resp.body = adapted.render(f);
        reply(std::move(resp));
      });
    });
    metrics_server =
        std::make_unique<HttpServer>(std::move(r), ServerOptions{.listen = *cfg.metrics_listen,
                                                                 .threads = 1,
                                                                 .limits = {},
                                                                 .metrics = nullptr,
                                                                 .metrics_prefix = {}});
    HostPort bound = metrics_server->bind();
    runtime->announce("metrics", bound);
    metrics_server->start();
  }

  // Collects every source, builds the exposition and calls `done` (from the io thread, or at
  // once when the role is not running).
  void collect(std::function<void()> done) {
    if (!running.load()) {
      done();
      return;
    }
    asio::post(io, [this, done = std::move(done)]() mutable { collect_now(std::move(done)); });
  }

  void collect_now(std::function<void()> done) {
    const std::size_t n = cfg.sources.size();
    auto g = std::make_shared<Gather>(io);
    g->done = std::move(done);
    g->left = n + 1;  // + 1 for this loop, so that answers given at once cannot finish early
    g->got.resize(n);
    g->kinds.resize(n);
    g->answered.resize(n);
    g->failed.resize(n);
    g->seconds.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      Source& s = *cfg.sources[i];
      g->got[i].source = s.name();
      g->kinds[i] = std::string(s.kind());
      auto started = clock.now();
      s.collect([this, g, i, started, &s](Result<std::vector<Family>> r) {
        if (g->finished || g->answered[i]) {
          return;  // after the deadline, or a second answer
        }
        g->answered[i] = true;
        g->seconds[i] = std::chrono::duration<double>(clock.now() - started).count();
        if (r) {
          g->got[i].families = std::move(*r);
        } else {
          g->failed[i] = r.error();
          g->got[i].families = s.families_when_down();  // called while `s` is alive
        }
        if (--g->left == 0) {
          finish(*g);
        }
      });
    }
    if (--g->left == 0) {
      finish(*g);
      return;
    }
    g->deadline.expires_after(kCollectDeadline);
    g->deadline.async_wait([this, g](const boost::system::error_code& ec) {
      if (ec || g->finished) {
        return;
      }
      for (std::size_t i = 0; i < g->answered.size(); ++i) {
        if (!g->answered[i]) {
          g->failed[i] =
              Error(std::errc::timed_out, "no answer within " + format_duration(kCollectDeadline));
          g->seconds[i] = std::chrono::duration<double>(kCollectDeadline).count();
        }
      }
      finish(*g);
    });
  }

  void finish(Gather& g) {
    g.finished = true;
    g.deadline.cancel();
    std::vector<std::string> taken = cfg.metrics_listen
                                         ? std::vector<std::string>{std::string(kUpName)}
                                         : runtime->metrics().names_in_use();
    std::vector<std::string> names;
    names.reserve(g.got.size());
    for (const auto& s : g.got) {
      names.push_back(s.source);
    }
    Exposition out = build_exposition(std::move(g.got), {cfg.max_series_per_metric}, taken);
    ExternalFamily up_family{std::string(kUpName), "gauge", std::string(kUpHelp), {}};
    const double now = std::chrono::duration<double>(clock.wall().time_since_epoch()).count();
    {
      std::lock_guard lock(mu);  // released before done(), which renders and reads the snapshot
      for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        SourceState& st = states[name];
        st.kind = g.kinds[i];
        st.up = !g.failed[i];
        st.reason = st.up ? "" : g.failed[i]->message();
        st.collected_at = now;
        st.collect_seconds = g.seconds[i];
        auto s = out.series.find(name);
        st.series = s == out.series.end() ? 0 : s->second;
        auto d = out.drops.find(name);
        st.drops = d == out.drops.end() ? ExpositionDrops{} : d->second;
        record(name, st);
        std::string line = std::string(kUpName) + "{source=";
        append_label_value(line, name);
        line += st.up ? "} 1" : "} 0";
        up_family.samples.push_back(std::move(line));
      }
      snapshot = std::move(out.families);
      if (cfg.metrics_listen && !up_family.samples.empty()) {
        snapshot.push_back(std::move(up_family));
      }
    }
    g.done();
  }

  void record(const std::string& name, const SourceState& st) {
    up->with({name}).set(st.up ? 1 : 0);
    series->with({name}).set(static_cast<double>(st.series));
    collect_duration->with({name}).observe(st.collect_seconds);
    if (!st.up) {
      collect_failures->with({name}).inc();
      log::debug("source down", {{"source", name}, {"reason", st.reason}});
    }
    const std::pair<std::string_view, std::uint64_t> drops[] = {{"over_cap", st.drops.over_cap},
                                                                {"duplicate", st.drops.duplicate},
                                                                {"invalid", st.drops.invalid},
                                                                {"conflict", st.drops.conflict}};
    for (const auto& [reason, n] : drops) {
      if (n > 0) {
        dropped->with({name, reason}).inc(n);
      }
    }
  }

  // `tender adapt` reading only finite inputs (stdin, a pipe) exits once they are written.
  void watch_finish() {
    finish_timer.expires_after(std::chrono::milliseconds(100));
    finish_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      if (cfg.sources.empty() && cfg.health->size() == 0 && cfg.metrics_listen == std::nullopt &&
          cfg.logs->size() > 0 && cfg.logs->finished()) {
        log::info("every log input has ended");
        runtime->shutdown(0);
        return;
      }
      watch_finish();
    });
  }

  json::object status() const;
  Result<> apply(AdaptConfig next);
};

json::object AdaptRole::Impl::status() const {
  json::object out;
  json::array sources;
  std::lock_guard lock(mu);
  for (const auto& s : cfg.sources) {
    json::object o;
    o["name"] = s->name();
    o["kind"] = s->kind();
    if (auto st = states.find(s->name()); st != states.end()) {
      o["up"] = st->second.up;
      o["reason"] = st->second.reason;
      o["collected_at"] = st->second.collected_at;
      o["collect_seconds"] = st->second.collect_seconds;
      o["series"] = st->second.series;
      json::object d;
      d["over_cap"] = st->second.drops.over_cap;
      d["duplicate"] = st->second.drops.duplicate;
      d["invalid"] = st->second.drops.invalid;
      d["conflict"] = st->second.drops.conflict;
      d["last_reason"] = st->second.drops.last_reason;
      o["dropped"] = std::move(d);
    } else {
      o["up"] = nullptr;  // not collected yet: no scrape has come
    }
    o["detail"] = s->status();
    sources.push_back(std::move(o));
  }
  out["sources"] = std::move(sources);
  out["health"] = cfg.health->status();
  out["logs"] = cfg.logs->status();
  return out;
}

// A re-read configuration, on the io thread.
Result<> AdaptRole::Impl::apply(AdaptConfig next) {
  std::map<std::string, std::unique_ptr<Source>, std::less<>> old;
  for (auto& s : cfg.sources) {
    std::string name = s->name();
    old.emplace(std::move(name), std::move(s));
  }
  std::vector<std::unique_ptr<Source>> sources;
  std::vector<std::string> failures;
  SourceContext ctx = context();
  for (auto& s : next.sources) {
    auto o = old.find(s->name());
    if (o != old.end() && o->second->kind() == s->kind() && o->second->config() == s->config()) {
      sources.push_back(std::move(o->second));  // unchanged: keeps its state
      old.erase(o);
      continue;
    }
    if (o != old.end()) {
      o->second->stop();  // changed: its listeners go before the new ones bind
      old.erase(o);
    }
    try {
      s->start(ctx);
      sources.push_back(std::move(s));
    } catch (const std::exception& e) {
      failures.push_back(s->name() + ": " + e.what());
    }
  }
  for (auto& [name, s] : old) {
    s->stop();
  }
  if (next.health->config() != cfg.health->config()) {
    cfg.health->stop();
    next.health->start(ctx);
  } else {
    next.health = cfg.health;
  }
  if (next.logs->config() != cfg.logs->config()) {
    cfg.logs->stop();
    next.logs->start(ctx);
  } else {
    next.logs = std::move(cfg.logs);
  }
  {
    std::lock_guard lock(mu);
    next.sources = std::move(sources);
    cfg = std::move(next);
    config_json = cfg.to_json();
    std::erase_if(states, [this](const auto& st) {
      return std::none_of(cfg.sources.begin(), cfg.sources.end(),
                          [&](const auto& s) { return s->name() == st.first; });
    });
  }
  if (!failures.empty()) {
    std::string why = "sources not started:";
    for (const auto& f : failures) {
      why += " " + f + ";";
    }
    why.pop_back();
    return Error(std::errc::address_in_use, why);
  }
  return {};
}

AdaptRole::AdaptRole(AdaptConfig cfg, std::function<AdaptConfig()> reread)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(reread))) {}

AdaptRole::~AdaptRole() { stop(); }

void AdaptRole::start(Runtime& runtime) {
  Impl& d = *impl_;
  d.runtime = &runtime;
  d.register_metrics(runtime.metrics());
  SourceContext ctx = d.context();
  for (auto& s : d.cfg.sources) {
    s->start(ctx);
  }
  d.cfg.health->start(ctx);
  d.cfg.logs->start(ctx);
  if (d.cfg.metrics_listen) {
    d.start_metrics_server();
  }
  d.running = true;
  d.watch_finish();
  d.thread = std::thread([&d] { d.io.run(); });
}

void AdaptRole::drain() { impl_->cfg.logs->drain(); }

bool AdaptRole::drained() const { return impl_->cfg.logs->drained(); }

void AdaptRole::stop() {
  Impl& d = *impl_;
  if (d.metrics_server) {
    d.metrics_server->stop();
  }
  if (d.running.exchange(false)) {
    asio::post(d.io, [&d] {
      d.finish_timer.cancel();
      for (auto& s : d.cfg.sources) {
        s->stop();
      }
      d.cfg.health->stop();
      d.cfg.logs->stop();
      d.work.reset();
    });
  }
  if (d.thread.joinable()) {
    d.thread.join();
  }
}

json::object AdaptRole::status() const { return impl_->status(); }

json::object AdaptRole::config() const {
  std::lock_guard lock(impl_->mu);
  return impl_->config_json;
}

Result<> AdaptRole::reload() {
  Impl& d = *impl_;
  if (!d.reread) {
    return Error(std::errc::operation_not_supported, "reload not supported");
  }
  AdaptConfig next;
  try {
    next = d.reread();
  } catch (const std::exception& e) {  // ConfigError, UsageError
    return Error(std::errc::invalid_argument, e.what());
  }
  auto listen = [](const AdaptConfig& c) {
    return c.metrics_listen ? c.metrics_listen->str() : "";
  };
  if (listen(next) != listen(d.cfg)) {
    return Error(std::errc::invalid_argument, "metrics.listen changes only with a restart");
  }
  if (!d.running.load()) {
    return Error(std::errc::operation_canceled, "not running");
  }
  std::promise<Result<>> applied;
  auto result = applied.get_future();
  asio::post(d.io, [&d, &applied, next = std::move(next)]() mutable {
    applied.set_value(d.apply(std::move(next)));
  });
  return result.get();
}

void AdaptRole::add_admin_routes(Router& router) {
  Impl& d = *impl_;
  router.add_async("GET", "/healthz/{name}", [&d](Request& req, Reply reply) {
    std::shared_ptr<HealthChecks> health;
    {
      std::lock_guard lock(d.mu);
      health = d.cfg.health;
    }
    if (!d.running.load()) {
      reply(Response::error(503, "not running"));
      return;
    }
    health->answer(std::string(req.param("name")), std::move(reply));
  });
}

void AdaptRole::collect_metrics(std::function<void()> ready) {
  if (impl_->cfg.metrics_listen) {
    ready();  // the adapted metrics have a port of their own
    return;
  }
  impl_->collect(std::move(ready));
}

}  // namespace tender::adapter

// `tender queue`: the queue server role (flags, config, lifecycle, metrics) around the store
// (store.hpp) and the HTTP API (server.hpp).
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/admin_access.hpp"
#include "core/app.hpp"
#include "core/cli.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"
#include "core/units.hpp"
#include "workqueue/client.hpp"
#include "workqueue/server.hpp"
#include "workqueue/store.hpp"
#include "workqueue/ui_assets.hpp"
#include "workqueue/workqueue.hpp"

namespace tender::workqueue {
namespace {

namespace json = boost::json;

struct Config {
  HostPort listen{"127.0.0.1", 7700};
  int threads = 1;
  std::string store = "sqlite:/var/lib/tender/queue.db";
  StoreSettings settings;
  ServerLimits limits;
};

struct Flags {
  std::string listen;
  std::string store;
  int threads = 0;
};

// Store URLs are checked before starting, so a typo is a usage error (exit 2).
void check_store_url(const std::string& url, const std::function<void(const std::string&)>& bad) {
  if (url == "memory" || (url.starts_with("sqlite:") && url.size() > 7) ||
      url.starts_with("redis://")) {
    return;
  }
  bad("\"" + url + "\" is none of memory, sqlite:PATH, redis://HOST:PORT[/DB]");
}

QueueSettings queue_settings(const ConfigNode& node, QueueSettings s) {
  node.warn_unknown({"max_attempts", "lease_ttl", "retry_backoff", "retry_backoff_max",
                     "max_payload", "max_items"});
  if (auto v = node.integer("max_attempts", 1, 1000)) {
    s.max_attempts = static_cast<int>(*v);
  }
  auto positive = [&](std::string_view key, Millis& out, Millis max) {
    if (auto v = node.duration(key)) {
      if (v->count() < 1 || *v > max) {
        node.fail(key, "must be from 1ms to " + format_duration(max));
      }
      out = *v;
    }
  };
  positive("lease_ttl", s.lease_ttl, Millis(12LL * 3600 * 1000));
  positive("retry_backoff", s.retry_backoff, Millis(30LL * 24 * 3600 * 1000));
  positive("retry_backoff_max", s.retry_backoff_max, Millis(30LL * 24 * 3600 * 1000));
  if (s.retry_backoff_max < s.retry_backoff) {
    node.fail("retry_backoff_max", "is shorter than retry_backoff");
  }
  if (auto v = node.bytes("max_payload")) {
    if (*v < 1 || *v > (std::uint64_t{64} << 20)) {
      node.fail("max_payload", "must be from 1B to 64MiB");
    }
    s.max_payload_bytes = *v;
  }
  if (auto v = node.integer("max_items", 1, 1'000'000'000)) {
    s.max_items = static_cast<std::size_t>(*v);
  }
  return s;
}

Config resolve(const Flags& f, const ConfigNode& file) {
  Config c;
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "listen",
                     "threads", "store", "auto_create", "max_queues", "retention",
                     "idempotency_window", "max_result", "max_request", "queue_defaults",
                     "queues"});
  if (auto v = file.string("listen")) {
    auto hp = parse_host_port(*v);
    if (!hp) {
      file.fail("listen", "not HOST:PORT: \"" + *v + "\"");
    }
    c.listen = *hp;
  }
  if (auto v = file.integer("threads", 1, 64)) {
    c.threads = static_cast<int>(*v);
  }
  if (auto v = file.string("store")) {
    check_store_url(*v, [&](const std::string& why) { file.fail("store", why); });
    c.store = *v;
  }
  StoreSettings& s = c.settings;
  s.auto_create = file.boolean("auto_create").value_or(true);
  if (auto v = file.integer("max_queues", 1, 1'000'000)) {
    s.max_queues = static_cast<std::size_t>(*v);
  }
  s.retention = file.duration("retention").value_or(s.retention);
  s.idempotency_window = file.duration("idempotency_window").value_or(s.idempotency_window);
  if (auto v = file.bytes("max_result")) {
    if (*v > (std::uint64_t{16} << 20)) {
      file.fail("max_result", "must be at most 16MiB");
    }
    s.max_result_bytes = *v;
  }
  s.defaults = queue_settings(file.child("queue_defaults"), s.defaults);
  ConfigNode queues = file.child("queues");
  for (const auto& name : queues.keys()) {
    if (auto ok = check_queue_name(name); !ok) {
      queues.fail(name, ok.error().message());
    }
    s.declared[name] = queue_settings(queues.child(name), s.defaults);
  }
  std::uint64_t largest_payload = s.defaults.max_payload_bytes;
  for (const auto& [name, qs] : s.declared) {
    largest_payload = std::max<std::uint64_t>(largest_payload, qs.max_payload_bytes);
  }
  // A batch carries many payloads, base64 costs a third more: room for both by default.
  c.limits.max_body_bytes = std::max<std::uint64_t>(std::uint64_t{16} << 20, largest_payload * 2);
  if (auto v = file.bytes("max_request")) {
    c.limits.max_body_bytes = *v;
  }

  if (!f.listen.empty()) {
    c.listen = flag_host_port("listen", f.listen);
  }
  if (!f.store.empty()) {
    check_store_url(f.store, [](const std::string& why) { throw UsageError("--store: " + why); });
    c.store = f.store;
  }
  if (f.threads != 0) {
    if (f.threads < 1 || f.threads > 64) {
      throw UsageError("--threads: must be from 1 to 64");
    }
    c.threads = f.threads;
  }
  return c;
}

constexpr std::array<double, 12> kBatchBuckets = {1,  2,   4,   8,   16,   32,
                                                  64, 128, 256, 512, 1024, 4096};
constexpr std::array<double, 12> kFsyncBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.25,   1};

class QueueRole final : public Role {
 public:
  explicit QueueRole(Config cfg) : cfg_(std::move(cfg)) {}
  ~QueueRole() override { stop(); }

  void start(Runtime& rt) override {
    auto store = open_store(cfg_.store, cfg_.settings);
    if (!store) {
      throw std::runtime_error("cannot open the store: " + store.error().message());
    }
    store_ = std::move(*store);
    open_store_.store(store_.get());
    Registry& m = rt.metrics();
    auto& batch = m.histogram("tender_queue_commit_batch_size",
                              "Operations made durable by one commit of the store.", kBatchBuckets);
    auto& fsync =
        m.histogram("tender_queue_commit_seconds",
                    "Time of one durable commit of the store (its fsync, mostly).", kFsyncBuckets);
    store_->set_commit_observer([&batch, &fsync](std::size_t n, std::chrono::nanoseconds took) {
      batch.observe(static_cast<double>(n));
      fsync.observe(std::chrono::duration<double>(took).count());
    });
    Store* s = store_.get();
    m.counter_callback("tender_queue_store_commits_total",
                       "Durable commits (each one fsync) of the store.",
                       [s] { return static_cast<double>(s->stats().commits); });
    m.counter_callback("tender_queue_store_writes_total",
                       "Operations made durable by the store's commits.",
                       [s] { return static_cast<double>(s->stats().committed_writes); });
    m.counter_callback("tender_queue_expired_leases_total",
                       "Leases that expired before an ack, nack or bury.",
                       [s] { return static_cast<double>(s->stats().expired_leases); });
    items_ = &m.gauge_family("tender_queue_items", "Items by queue and state.", {"queue", "state"});
    activity_ = std::make_unique<Activity>(m);

    Router router;
    // Workers reach the queue by whatever name the network gives it, so any Host is served;
    // but a web page the operator visits may not enqueue, ack or delete through the
    // operator's browser: a state-changing request from another origin is 403
    // (core/admin_access.hpp). Workers and curl send no Origin.
    AdminAccess access{{"*"}};
    router.guard([access](const Request& req) { return access.check(req); });
    add_api_routes(router, *store_, *activity_);
    ServerOptions so;
    so.listen = cfg_.listen;
    so.threads = cfg_.threads;
    so.limits = cfg_.limits;
    so.metrics = &m;
    so.metrics_prefix = "tender_queue";
    server_ = std::make_unique<HttpServer>(std::move(router), so);
    bound_ = server_->bind();
    rt.announce("listen", bound_);
    server_->start();
    ticker_ = std::thread([this] { tick_loop(); });
    log::info("queue store open", {{"store", store_->describe()}});
  }

  void drain() override {
    if (server_) {
      server_->drain();
    }
  }
  bool drained() const override { return !server_ || server_->in_flight() == 0; }

  void stop() override {
    {
      std::lock_guard lk(tick_mu_);
      stopping_ = true;
    }
    tick_cv_.notify_all();
    if (ticker_.joinable()) {
      ticker_.join();
    }
    if (server_) {
      server_->stop();
    }
    open_store_.store(nullptr);
    if (store_) {
      store_->close();
    }
  }

  // The dead letters on the admin listener too, for the web view's Requeue buttons (the admin
  // guard refuses a POST from another origin). 503 until the store is open.
  void add_admin_routes(Router& router) override {
    add_dead_routes(router, [this] { return open_store_.load(); });
  }

  Health ready() const override {
    if (!store_) {
      return Health::failing("the store is not open");
    }
    return {};
  }

  json::object status() const override {
    json::object o;
    o["listen"] = bound_.str();
    o["store"] = store_ ? store_->describe() : cfg_.store;
    if (store_) {
      auto st = store_->stats();
      o["commits"] = st.commits;
      o["committed_writes"] = st.committed_writes;
      o["largest_batch"] = st.largest_batch;
      o["expired_leases"] = st.expired_leases;
      std::lock_guard lk(tick_mu_);
      o["queues"] = last_counts_;
    }
    if (server_) {
      o["connections"] = server_->connections();
      o["in_flight"] = server_->in_flight();
    }
    return o;
  }

  std::span<const UiAsset> ui_assets() const override { return panel_asset("queue.js"); }

  json::object config() const override {
    json::object o;
    o["listen"] = cfg_.listen.str();
    o["threads"] = cfg_.threads;
    o["store"] = cfg_.store;
    const StoreSettings& s = cfg_.settings;
    o["auto_create"] = s.auto_create;
    o["max_queues"] = s.max_queues;
    o["retention"] = format_duration(s.retention);
    o["idempotency_window"] = format_duration(s.idempotency_window);
    o["max_result"] = format_bytes(s.max_result_bytes);
    o["max_request"] = format_bytes(cfg_.limits.max_body_bytes);
    auto settings = [](const QueueSettings& q) {
      json::object so;
      so["max_attempts"] = q.max_attempts;
      so["lease_ttl"] = format_duration(q.lease_ttl);
      so["retry_backoff"] = format_duration(q.retry_backoff);
      so["retry_backoff_max"] = format_duration(q.retry_backoff_max);
      so["max_payload"] = format_bytes(q.max_payload_bytes);
      so["max_items"] = q.max_items;
      return so;
    };
    o["queue_defaults"] = settings(s.defaults);
    json::object declared;
    for (const auto& [name, q] : s.declared) {
      declared[name] = settings(q);
    }
    o["queues"] = std::move(declared);
    return o;
  }

 private:
  // Once a second: the rates' sample, and the items gauges and /statusz counts.
  void tick_loop() {
    name_this_thread("queue-ticker");
    std::unique_lock lk(tick_mu_);
    while (!stopping_) {
      lk.unlock();
      activity_->tick();
      store_->queues([this](Result<std::vector<QueueInfo>> r) {
        if (!r) {
          return;
        }
        json::object counts;
        for (const auto& q : *r) {
          const std::array<std::pair<std::string_view, std::uint64_t>, 5> by_state = {
              {{"ready", q.counts.ready},
               {"delayed", q.counts.delayed},
               {"leased", q.counts.leased},
               {"done", q.counts.done},
               {"dead", q.counts.dead}}};
          json::object c;
          for (const auto& [state, n] : by_state) {
            items_->with({q.name, std::string(state)}).set(static_cast<double>(n));
            c[state] = n;
          }
          c["paused"] = q.paused;
          counts[q.name] = std::move(c);
        }
        std::lock_guard lk2(tick_mu_);
        last_counts_ = std::move(counts);
      });
      lk.lock();
      tick_cv_.wait_for(lk, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }

  Config cfg_;
  HostPort bound_;
  std::unique_ptr<Store> store_;
  std::atomic<Store*> open_store_{nullptr};  // store_ while open, for the admin thread
  std::unique_ptr<Activity> activity_;
  GaugeFamily* items_ = nullptr;
  std::unique_ptr<HttpServer> server_;
  mutable std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  json::object last_counts_;
  std::thread ticker_;
};

}  // namespace

CLI::App* add_queue_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "queue", "Work queue server: named queues with leases, retries and dead letters");
  auto common = std::make_shared<CommonFlags>();
  auto flags = std::make_shared<Flags>();
  add_common_flags(*cmd, *common, kQueueAdminPort);
  cmd->add_option("--listen", flags->listen, "Serve the API on HOST:PORT (default 127.0.0.1:7700)");
  cmd->add_option("--store", flags->store,
                  "memory, sqlite:PATH or redis://HOST:PORT[/DB] "
                  "(default sqlite:/var/lib/tender/queue.db)");
  cmd->add_option("--threads", flags->threads, "HTTP worker threads (default 1)");
  add_push_command(*cmd, exit_code);
  add_stats_command(*cmd, exit_code);
  cmd->require_subcommand(0, 1);
  cmd->callback([cmd, common, flags, &exit_code] {
    if (!cmd->get_subcommands().empty()) {
      return;  // push or stats ran
    }
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kQueueAdminPort);
    QueueRole role(resolve(*flags, file));
    exit_code = run_role("queue", role, opts);
  });
  return cmd;
}

}  // namespace tender::workqueue

// The root's shards: a cluster per shard with its discovery and health checks, and the shard
// set's own discovery (shard_set dns or file) on the control loop.
#include "scatter/shards.hpp"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <map>
#include <optional>

#include "core/asio_util.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/file_watch.hpp"
#include "core/file_watch_asio.hpp"
#include "core/log.hpp"
#include "scatter/hedge.hpp"

namespace tender::scatter {

namespace asio = boost::asio;
namespace json = boost::json;

struct ShardDirectory::Impl {
  Impl(const ScatterConfig& c, Registry& r, asio::io_context& ioc)
      : config(c), metrics(r), control(ioc), slow(system_clock(), SlowOptions{}) {}

  ScatterConfig config;
  Registry& metrics;
  asio::io_context& control;
  mutable std::mutex mu;
  std::shared_ptr<const ShardSet> set = std::make_shared<ShardSet>();  // guarded by mu
  std::map<std::string, std::unique_ptr<upstream::Upkeep>> upkeeps;    // by shard; control only
  std::uint32_t next_id = 0;
  SlowShards slow;  // control loop only
  std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
  // shard_set file: its watch, driven by the control loop (the watch outlives its driver).
  std::optional<FileWatch> watch;
  std::unique_ptr<AsyncFileWatch> async_watch;

  void publish(std::vector<std::shared_ptr<Shard>> shards) {
    std::lock_guard lock(mu);
    auto next = std::make_shared<ShardSet>();
    next->shards = std::move(shards);
    next->version = set->version + 1;
    set = std::move(next);
  }
};

ShardDirectory::ShardDirectory(const ScatterConfig& config, Registry& metrics,
                               asio::io_context& control)
    : impl_(std::make_unique<Impl>(config, metrics, control)) {
  std::vector<std::shared_ptr<Shard>> shards;
  for (const auto& c : config.shards) {
    auto shard = make_shard(c);
    auto named = upstream::initial_endpoints(c);
    if (!named) {
      throw ConfigError(config.path, c.line, "shards",
                        "shard " + c.name + ": " + named.error().message());
    }
    if (*named) {
      shard->cluster->set_endpoints(**named);
    }
    shards.push_back(std::move(shard));
  }
  impl_->publish(std::move(shards));
}

ShardDirectory::~ShardDirectory() { stop(); }

std::shared_ptr<Shard> ShardDirectory::make_shard(const upstream::ClusterConfig& c) {
  auto& m = impl_->metrics;
  auto s = std::make_shared<Shard>();
  s->name = c.name;
  s->id = impl_->next_id++;
  s->cluster = std::make_shared<upstream::Cluster>(c, m, "tender_scatter");
  s->latency = &m.histogram_family("tender_scatter_shard_duration_seconds",
                                   "Time until a shard's answer (hedged or not), by shard.",
                                   {"shard"}, kLatencyBuckets)
                    .with({s->name});
  s->requests =
      &m.counter_family("tender_scatter_shard_requests_total",
                        "Client requests sent to a shard (first tries), by shard.", {"shard"})
           .with({s->name});
  s->answered = &m.counter_family("tender_scatter_shard_answers_total", "Answers merged, by shard.",
                                  {"shard"})
                     .with({s->name});
  auto& hedges = m.counter_family(
      "tender_scatter_hedges_total",
      "Hedged requests by shard and outcome: sent, won (the hedge answered first), refused "
      "(over the budget).",
      {"shard", "outcome"});
  s->hedges_sent = &hedges.with({s->name, "sent"});
  s->hedges_won = &hedges.with({s->name, "won"});
  s->hedges_refused = &hedges.with({s->name, "refused"});
  s->retries = &m.counter_family("tender_scatter_shard_retries_total",
                                 "Tries sent again to another replica after a connection "
                                 "failure, by shard.",
                                 {"shard"})
                    .with({s->name});
  s->errors = &m.counter_family("tender_scatter_shard_errors_total",
                                "Shards that did not answer usefully, by shard and kind "
                                "(timeout, connect, status, invalid_json, merge, no_replica).",
                                {"shard", "kind"});
  s->slow = &m.gauge_family("tender_scatter_shard_slow",
                            "1 while a shard's p95 stays far above its peers'.", {"shard"})
                 .with({s->name});
  return s;
}

namespace {

using Wanted = std::vector<std::pair<std::string, upstream::NamedEndpoints>>;

// The shards a shard file lists: one per line ("a1|a2": its replicas), blank lines and '#'
// comments skipped, each replica resolved now (blocking) to its first address.
Result<Wanted> read_shard_file(const std::string& path) {
  std::string text;
  try {
    text = read_config_text(path);
  } catch (const ConfigError& e) {
    return Error(std::errc::io_error, e.what());
  }
  Wanted out;
  int line_no = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    auto nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) {
      line.erase(hash);
    }
    std::string_view t = trim_ows(line);
    if (t.empty()) {
      continue;
    }
    auto shards = parse_leaves(t);
    if (!shards || shards->size() != 1) {
      return Error(std::errc::invalid_argument,
                   path + ":" + std::to_string(line_no) + ": expected one shard (HOST:PORT|...), " +
                       (shards ? "not several" : shards.error().message()));
    }
    upstream::NamedEndpoints replicas;
    for (const auto& hp : shards->front()) {
      upstream::ClusterConfig c;
      c.name = std::string(t);
      c.endpoints = {hp};
      auto named = upstream::initial_endpoints(c);
      if (!named || !*named) {
        return Error(std::errc::invalid_argument,
                     path + ":" + std::to_string(line_no) + ": " +
                         (named ? "no address" : named.error().message()));
      }
      replicas.insert(replicas.end(), (*named)->begin(), (*named)->end());
    }
    out.emplace_back(std::string(t), std::move(replicas));
  }
  return out;
}

bool same_shards(const ShardSet& now, const Wanted& wanted) {
  if (now.shards.size() != wanted.size()) {
    return false;
  }
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (now.shards[i]->name != wanted[i].first) {
      return false;
    }
    auto eps = now.shards[i]->cluster->endpoints();
    if (eps->size() != wanted[i].second.size()) {
      return false;
    }
    for (std::size_t j = 0; j < eps->size(); ++j) {
      if ((*eps)[j].name != wanted[i].second[j].first) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

asio::awaitable<void> ShardDirectory::follow_dns(std::shared_ptr<std::atomic<bool>> stopped) {
  const auto& cfg = impl_->config;
  while (!stopped->load()) {
    auto resolved = co_await upstream::resolve_all(cfg.shard_dns);
    if (stopped->load()) {
      co_return;
    }
    if (!resolved) {
      log::warn("shard set: dns lookup failed; keeping the shards",
                {{"name", cfg.shard_dns.host}, {"error", resolved.error().message()}});
    } else {
      Wanted wanted;  // each address a shard of one replica, named by it
      for (auto& named : *resolved) {
        wanted.push_back({named.first, {named}});
      }
      if (!same_shards(*current(), wanted)) {
        set_shards(wanted);
      }
    }
    co_await sleep_for(cfg.dns_refresh);
  }
}

void ShardDirectory::reload_shard_file() {
  auto wanted = read_shard_file(impl_->config.shard_file);
  if (!wanted) {
    log::warn("shard set: keeping the shards", {{"error", wanted.error().message()}});
  } else if (!same_shards(*current(), *wanted)) {
    set_shards(*wanted);
  }
}

void ShardDirectory::follow_file() {
  auto& s = *impl_;
  reload_shard_file();  // as it is now
  auto watch = FileWatch::create({.rescan_interval = std::chrono::milliseconds(1'000)});
  Result<> added = watch ? watch->add_file(s.config.shard_file) : Result<>(watch.error());
  if (!added) {
    // No inotify (out of instances, or the directory cannot be watched): the file is read
    // again every second instead.
    log::warn("shard file not watched; reading it every second",
              {{"file", s.config.shard_file}, {"error", added.error().message()}});
    asio::co_spawn(
        s.control,
        [this, stopped = s.stopped]() -> asio::awaitable<void> {
          while (!stopped->load()) {
            co_await sleep_for(std::chrono::milliseconds(1'000));
            if (!stopped->load()) {
              reload_shard_file();
            }
          }
        },
        asio::detached);
    return;
  }
  s.watch = std::move(*watch);
  s.async_watch = std::make_unique<AsyncFileWatch>(
      s.control, *s.watch, [this, stopped = s.stopped](const std::vector<FileEvent>&) {
        if (!stopped->load()) {
          reload_shard_file();
        }
      });
}

void ShardDirectory::start() {
  auto set = current();
  for (const auto& s : set->shards) {
    auto up = std::make_unique<upstream::Upkeep>(impl_->control, s->cluster,
                                                 upstream::probe_checker(impl_->control));
    up->start();
    impl_->upkeeps[s->name] = std::move(up);
  }
  auto stopped = impl_->stopped;
  if (impl_->config.shard_set == ScatterConfig::ShardSet::kDns) {
    asio::co_spawn(impl_->control, follow_dns(stopped), asio::detached);
  } else if (impl_->config.shard_set == ScatterConfig::ShardSet::kFile) {
    follow_file();
  }
  asio::co_spawn(
      impl_->control,
      [this, stopped]() -> asio::awaitable<void> {
        while (!stopped->load()) {
          co_await sleep_for(std::chrono::milliseconds(1'000));
          if (!stopped->load()) {
            update_slow();
          }
        }
      },
      asio::detached);
}

void ShardDirectory::stop() {
  impl_->stopped->store(true);
  for (auto& [_, up] : impl_->upkeeps) {
    up->stop();
  }
}

std::shared_ptr<const ShardSet> ShardDirectory::current() const {
  std::lock_guard lock(impl_->mu);
  return impl_->set;
}

void ShardDirectory::set_shards(
    const std::vector<std::pair<std::string, upstream::NamedEndpoints>>& wanted) {
  auto now = current();
  std::vector<std::shared_ptr<Shard>> next;
  for (const auto& w : wanted) {
    const std::string& name = w.first;
    const upstream::NamedEndpoints& replicas = w.second;
    auto it = std::find_if(now->shards.begin(), now->shards.end(),
                           [&](const auto& s) { return s->name == name; });
    std::shared_ptr<Shard> s;
    if (it != now->shards.end()) {
      s = *it;
    } else {
      upstream::ClusterConfig c = impl_->config.replicas;
      c.name = name;
      c.source = upstream::ClusterConfig::Source::kStatic;
      s = make_shard(c);
      auto up = std::make_unique<upstream::Upkeep>(impl_->control, s->cluster,
                                                   upstream::probe_checker(impl_->control));
      up->start();
      impl_->upkeeps[name] = std::move(up);
    }
    s->cluster->set_endpoints(replicas);
    next.push_back(std::move(s));
  }
  for (const auto& s : now->shards) {
    if (std::none_of(wanted.begin(), wanted.end(),
                     [&](const auto& w) { return w.first == s->name; })) {
      if (auto it = impl_->upkeeps.find(s->name); it != impl_->upkeeps.end()) {
        it->second->stop();
        impl_->upkeeps.erase(it);
      }
    }
  }
  log::info("shard set changed", {{"shards", static_cast<std::int64_t>(next.size())}});
  impl_->publish(std::move(next));
}

void ShardDirectory::update_slow() {
  auto set = current();
  std::vector<std::optional<microseconds>> p95;
  p95.reserve(set->shards.size());
  for (const auto& s : set->shards) {
    auto v = s->p95_us.load(std::memory_order_relaxed);
    p95.push_back(v < 0 ? std::nullopt : std::optional<microseconds>(microseconds(v)));
  }
  impl_->slow.update(p95);
  for (std::size_t i = 0; i < set->shards.size(); ++i) {
    auto& s = *set->shards[i];
    bool slow = impl_->slow.slow(i);
    if (slow != s.is_slow.exchange(slow)) {
      if (slow) {
        log::warn("shard is consistently slow",
                  {{"shard", s.name}, {"p95_ms", static_cast<double>(p95[i]->count()) / 1000}});
      } else {
        log::info("shard is no longer slow", {{"shard", s.name}});
      }
    }
    s.slow->set(slow ? 1 : 0);
  }
}

std::size_t ShardDirectory::serving() const {
  auto set = current();
  std::size_t n = 0;
  for (const auto& s : set->shards) {
    auto eps = s->cluster->endpoints();
    n += std::any_of(eps->begin(), eps->end(),
                     [&](const upstream::Endpoint& e) { return s->cluster->serving(e); })
             ? 1
             : 0;
  }
  return n;
}

json::array ShardDirectory::to_json() const {
  auto set = current();
  json::array out;
  for (const auto& s : set->shards) {
    json::object o;
    o["shard"] = s->name;
    auto p = s->p95_us.load(std::memory_order_relaxed);
    o["p95_ms"] = p < 0 ? json::value(nullptr) : json::value(static_cast<double>(p) / 1000);
    o["slow"] = s->is_slow.load();
    {
      std::lock_guard lock(s->mu);
      o["last_error"] = s->last_error;
    }
    o["cluster"] = s->cluster->to_json();
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tender::scatter

#include "scatter/scatter_role.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <thread>

#include "core/http_server.hpp"
#include "core/log.hpp"
#include "scatter/fanout.hpp"
#include "scatter/gather.hpp"
#include "scatter/shards.hpp"

namespace tender::scatter {

namespace asio = boost::asio;
namespace json = boost::json;

struct ScatterRole::Impl {
  explicit Impl(ScatterConfig c) : cfg(std::move(c)) {}
  ScatterConfig cfg;
  HostPort bound;
  // Destroyed in reverse: the server (and the coroutines its loops hold) first, then the root
  // they use, then the shards, then the control loop.
  asio::io_context control;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread control_thread;
  std::unique_ptr<ShardDirectory> shards;
  std::unique_ptr<Root> root;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;
};

ScatterRole::ScatterRole(ScatterConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

ScatterRole::~ScatterRole() { stop(); }

void ScatterRole::start(Runtime& rt) {
  auto& s = *impl_;
  s.shards = std::make_unique<ShardDirectory>(s.cfg, rt.metrics(), s.control);
  s.root = std::make_unique<Root>(s.cfg, *s.shards, rt.metrics());
  Router router;
  Root* root = s.root.get();
  router.add_async("*", "/*",
                   [root](Request& req, Reply reply) { root->handle(req, std::move(reply)); });
  ServerOptions so;
  so.listen = s.cfg.listen;
  so.threads = s.cfg.threads;
  so.limits = s.cfg.limits;
  so.metrics = &rt.metrics();
  so.metrics_prefix = "tender_scatter";
  s.server = std::make_unique<HttpServer>(std::move(router), so);
  s.bound = s.server->bind();
  rt.announce("listen", s.bound);
  s.shards->start();
  s.work.emplace(s.control.get_executor());
  s.control_thread = std::thread([&s] {
    try {
      s.control.run();
    } catch (const std::exception& e) {
      log::error("scatter control loop failed", {{"error", e.what()}});
    }
  });
  s.server->start();
}

void ScatterRole::drain() {
  if (impl_->server) {
    impl_->server->drain();
  }
}

bool ScatterRole::drained() const {
  const auto& s = *impl_;
  return !s.server || (s.server->in_flight() == 0 && s.root->in_flight() == 0);
}

void ScatterRole::stop() {
  auto& s = *impl_;
  if (s.stopped) {
    return;
  }
  s.stopped = true;
  if (s.server) {
    s.server->stop();  // its loops go, and with them the root's pooled leaf connections
  }
  s.server.reset();
  if (s.shards) {
    s.shards->stop();
  }
  s.work.reset();
  s.control.stop();
  if (s.control_thread.joinable()) {
    s.control_thread.join();
  }
}

Health ScatterRole::ready() const {
  const auto& s = *impl_;
  if (!s.shards) {
    return Health::failing("starting");
  }
  auto set = s.shards->current();
  std::size_t serving = s.shards->serving();
  std::size_t need = answers_needed(s.cfg.min_fraction, set->shards.size());
  if (set->shards.empty()) {
    return Health::failing("no shards yet");
  }
  if (serving < need) {
    return Health::failing(std::to_string(serving) + " of " + std::to_string(set->shards.size()) +
                           " shards have a replica taking traffic; " + std::to_string(need) +
                           " needed");
  }
  return {};
}

json::object ScatterRole::status() const {
  const auto& s = *impl_;
  json::object o;
  o["listen"] = s.bound.str();
  o["merge"] = s.cfg.merge.str();
  o["split"] = s.cfg.split.str();
  o["hedge"] = s.cfg.hedge.str();
  if (s.server) {
    o["requests_served"] = s.server->requests_served();
    o["connections"] = s.server->connections();
  }
  if (s.root) {
    o["root"] = s.root->status();
  }
  if (s.shards) {
    o["shards"] = s.shards->to_json();
    json::array slow;
    for (const auto& sh : s.shards->current()->shards) {
      if (sh->is_slow.load()) {
        slow.emplace_back(sh->name);
      }
    }
    o["slow_shards"] = std::move(slow);
  }
  return o;
}

json::object ScatterRole::config() const { return impl_->cfg.to_json(); }

}  // namespace tender::scatter

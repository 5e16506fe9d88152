#pragma once
// The proxy role inside `tender proxy` (private to src/ambassador; its public header is
// ambassador.hpp): the ambassador. Listeners (tcp, http, redis) in front of clusters of
// endpoints, with balancing, sharding, health checks, outlier ejection and circuit breakers,
// on N worker threads. See docs/proxy.md.
//
//   ProxyOptions o;
//   o.config = load_proxy_config("proxy.yaml");
//   o.config_file = "proxy.yaml";                  // SIGHUP re-reads it
//   Proxy proxy(std::move(o));
//   return run_role("proxy", proxy, common);

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <CLI/CLI.hpp>

#include "ambassador/config.hpp"
#include "core/app.hpp"

namespace tender::ambassador {

// The web view's panel (ui/panel.js), embedded at build time (CMakeLists.txt). Does not fail.
std::span<const UiAsset> ui_assets();

struct ProxyOptions {
  ProxyConfig config;
  std::string config_file;  // empty: built from flags, and SIGHUP has nothing to re-read
  // --busy-poll, which a reload keeps over the file's busy_poll.
  std::optional<std::chrono::microseconds> busy_poll_flag;
};

class Proxy final : public Role {
 public:
  explicit Proxy(ProxyOptions options);
  ~Proxy() override;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] Health ready() const override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  Result<> reload() override;
  void add_admin_routes(Router& router) override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::ambassador

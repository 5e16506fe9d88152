#pragma once
// `tender adapt` as a running role under run_role's management interface.
//
//   AdaptRole role(std::move(cfg), [&] { return resolve_adapt(flags, common.load_config()); });
//   return run_role("adapt", role, common_options);
//
// One thread runs an io_context on which every source, health check and log adapter lives.
// A scrape of /metrics (the admin listener's, or --metrics-listen's) collects every source at
// once, builds one exposition (exposition.hpp) and renders it.
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <span>

#include "adapter/adapt_config.hpp"
#include "core/app.hpp"

namespace tender::adapter {

// The web view's Sources panel (ui/panel.js), embedded by CMakeLists.txt.
[[nodiscard]] std::span<const UiAsset> ui_assets();

class AdaptRole final : public Role {
 public:
  // `reread` (for SIGHUP) resolves the configuration again; it throws UsageError or
  // ConfigError as resolve_adapt does. Empty: reload is not supported.
  explicit AdaptRole(AdaptConfig cfg, std::function<AdaptConfig()> reread = {});
  ~AdaptRole() override;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  // Sources whose settings did not change keep running (statsd keeps its series); changed,
  // added and removed ones are stopped and started; health checks and log adapters are
  // replaced when their settings changed. Fails, keeping the running configuration, when the
  // file is bad or metrics.listen would change; fails naming the source when a new one cannot
  // bind (the others are applied).
  [[nodiscard]] Result<> reload() override;
  void add_admin_routes(Router& router) override;
  void collect_metrics(std::function<void()> ready) override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override { return adapter::ui_assets(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::adapter

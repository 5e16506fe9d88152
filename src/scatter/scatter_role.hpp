#pragma once
// The `tender scatter` role (private to src/scatter): the client listener and its fan-out, the
// shards' discovery and health checks on a control thread, under core's lifecycle and
// management interface.

#include <memory>
#include <span>

#include "core/app.hpp"
#include "scatter/scatter_config.hpp"

namespace tender::scatter {

// The web view's panel (ui/panel.js), embedded at build time (CMakeLists.txt). Does not fail.
std::span<const UiAsset> ui_assets();

class ScatterRole final : public Role {
 public:
  explicit ScatterRole(ScatterConfig config);
  ~ScatterRole() override;
  ScatterRole(const ScatterRole&) = delete;
  ScatterRole& operator=(const ScatterRole&) = delete;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  // Ready while enough shards (min_fraction) have a replica taking traffic.
  [[nodiscard]] Health ready() const override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override { return scatter::ui_assets(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::scatter

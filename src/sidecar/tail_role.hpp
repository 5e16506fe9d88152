#pragma once
// The `tender tail` role (private to src/sidecar): the followed files, one delivery pipeline per
// sink and the checkpoint, on one I/O thread, under core's lifecycle and management interface.

#include <memory>
#include <span>

#include "core/app.hpp"
#include "sidecar/tail_config.hpp"

namespace tender::sidecar {

// The web view's Files panel (ui/tail.js), embedded by CMakeLists.txt.
[[nodiscard]] std::span<const UiAsset> tail_ui_assets();

class TailRole final : public Role {
 public:
  explicit TailRole(TailConfig config);
  ~TailRole() override;
  TailRole(const TailRole&) = delete;
  TailRole& operator=(const TailRole&) = delete;

  // Opens the checkpoint and the sinks (ConfigError when one cannot be opened), finds the
  // checkpointed files again, and starts following.
  void start(Runtime& runtime) override;
  // Stops reading; the batch each sink has in flight is delivered and committed.
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override { return tail_ui_assets(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::sidecar

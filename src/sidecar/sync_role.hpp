#pragma once
// `tender sync` as a running role (under run_role's management interface), and its --once mode.
//
//   SyncRole role(cfg);                         // the service: a sync every period
//   return run_role("sync", role, common);
//
//   return run_sync_once(cfg, common);          // an init container: 0 published, 1 failed
//
// One thread runs an io_context with the sync loop, the hook and the webhook; the admin thread
// reads the state (SyncState is thread-safe).

#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <span>

#include "core/app.hpp"
#include "sidecar/sync_config.hpp"

namespace tender::sidecar {

// The web view's Sync panel (ui/sync.js), embedded by CMakeLists.txt.
[[nodiscard]] std::span<const UiAsset> sync_ui_assets();

class SyncRole final : public Role {
 public:
  // `reread` (for SIGHUP) resolves the configuration again from the flags and the file; it
  // throws UsageError or ConfigError as resolve_sync does. Empty: reload is not supported.
  explicit SyncRole(SyncConfig cfg, std::function<SyncConfig()> reread = {});
  ~SyncRole() override;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] Health ready() const override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  // Applies a re-read configuration: period, timeout, max_failures, the hook and the webhook
  // (from the next sync or publication on). Fails, keeping the running configuration, when the
  // file or a value is bad, or when source, dest, link or max_bytes would change (restart for
  // those).
  [[nodiscard]] Result<> reload() override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override { return sync_ui_assets(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Syncs once, runs the hook and the webhook for what it published (each with its retries),
// and returns 0 if all of it succeeded, 1 otherwise. No admin listener.
[[nodiscard]] int run_sync_once(const SyncConfig& cfg, const CommonOptions& common);

}  // namespace tender::sidecar

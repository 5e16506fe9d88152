#pragma once
// The `tender elect` role (private to src/election): the elector, its backend, the HTTP API,
// the exec child and the webhook, under core's lifecycle and management interface.

#include <memory>

#include "core/app.hpp"
#include "election/elect_config.hpp"

namespace tender::election {

// The web view's panel (ui/panel.js), embedded by CMakeLists.txt.
std::span<const UiAsset> ui_assets();

class ElectRole final : public Role {
 public:
  explicit ElectRole(ElectConfig config);
  ~ElectRole() override;
  ElectRole(const ElectRole&) = delete;
  ElectRole& operator=(const ElectRole&) = delete;

  void start(Runtime& runtime) override;
  // Resigns (the exec child stopped first), so another replica leads at once.
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  // Ready while the backend answers.
  [[nodiscard]] Health ready() const override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override;
  // POST /v1/resign on the admin listener too, for the web view's Resign button.
  void add_admin_routes(Router& router) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::election

#pragma once
// `tender work`'s Role: leases items from a queue server and runs the user's command once per
// item, `concurrency` at a time, on one io_context thread of its own; docs/work.md says what
// the command sees and what each outcome does to the item.
//
//   WorkRunner role(resolve_work(flags, file));
//   return run_role("work", role, common);   // SIGTERM drains: no new leases, running items
//                                            // finish within --grace; stop() nacks the rest
//
// Exits (through Runtime::shutdown) on its own only with exit_when_empty: 0 once the queue
// has nothing ready, delayed or leased and no command runs, 1 if an item it ran went dead.

#include <memory>

#include "core/app.hpp"
#include "workqueue/work_config.hpp"

namespace tender::workqueue {

class WorkRunner final : public Role {
 public:
  explicit WorkRunner(WorkConfig cfg);
  ~WorkRunner() override;
  WorkRunner(const WorkRunner&) = delete;
  WorkRunner& operator=(const WorkRunner&) = delete;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] Health ready() const override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::workqueue

#pragma once
// `tender sync`'s record of its attempts, for /readyz, /statusz, the metrics and --max-failures.
// Pure logic over a Clock; thread-safe (the sync loop writes, the admin thread reads).
//
//   SyncState state(cfg.max_failures, clock);
//   state.started();
//   if (published) state.succeeded(revision, true); else if (unchanged) state.succeeded(rev,
//   false); if (state.failed("git ls-remote: exited 128: repository not found") ==
//   Verdict::kGiveUp) ... state.ready();          // false until the first success state.to_json();
//   // revision, last success, last error and reason, counts

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace tender::sidecar {

// A new revision made visible: what the hook's environment and the webhook's body say.
struct Publication {
  std::string revision;
  std::string previous;  // "" for the first
  std::string source;    // as configured
  std::string path;      // the published link, DEST/LINK
  std::string tree;      // the tree it points at now, DEST/.tender-sync/rev-...
  std::chrono::system_clock::time_point at{};
};

// `base` (the process's environment, "K=V") without any TENDER_SYNC_* of its own, plus
// TENDER_SYNC_REVISION, TENDER_SYNC_PREVIOUS_REVISION, TENDER_SYNC_SOURCE, TENDER_SYNC_PATH and
// TENDER_SYNC_TREE.
[[nodiscard]] std::vector<std::string> hook_environment(const std::vector<std::string>& base,
                                                        const Publication& p);
// The webhook's JSON: {"event":"published","revision":...,"previous_revision":...,"source":...,
// "path":...,"tree":...,"published_at":"RFC 3339"}.
[[nodiscard]] std::string webhook_body(const Publication& p);
// `tender_sync_info{revision="..."} 1`, the label value escaped as the text format wants.
[[nodiscard]] std::string info_sample(const std::string& revision);

class SyncState {
 public:
  enum class Verdict { kGoOn, kGiveUp };

  // `max_failures`: consecutive failures after which failed() says kGiveUp; 0: never.
  SyncState(int max_failures, const Clock& clock);

  // A new bound for failed(), from the next failure on (a reload).
  void set_max_failures(int max_failures);

  // An attempt begins.
  void started();
  // The attempt ended well: `revision` is what readers see now; `published` if it was new.
  void succeeded(const std::string& revision, bool published);
  // The attempt failed for `reason`. kGiveUp once max_failures consecutive failures are reached.
  Verdict failed(const std::string& reason);

  // A hook (or the webhook) ran for `revision`: ok or not, and why.
  void hook_result(const std::string& what, const std::string& revision, bool ok,
                   const std::string& detail);

  [[nodiscard]] bool ready() const;
  // The reason /readyz gives while not ready: "no successful sync yet" and the last error.
  [[nodiscard]] std::string not_ready_reason() const;
  [[nodiscard]] std::string revision() const;
  [[nodiscard]] int consecutive_failures() const;
  // Wall time of the last success in seconds since the epoch; 0 if none.
  [[nodiscard]] double last_success_seconds() const;
  [[nodiscard]] boost::json::object to_json() const;

 private:
  const Clock* clock_;
  int max_failures_;
  mutable std::mutex mu_;
  std::string revision_;
  std::chrono::system_clock::time_point last_success_{};
  std::chrono::system_clock::time_point last_publish_{};
  std::chrono::system_clock::time_point last_attempt_{};
  std::chrono::system_clock::time_point last_failure_{};
  std::string last_error_;
  bool succeeded_once_ = false;
  bool in_progress_ = false;
  int consecutive_failures_ = 0;
  std::uint64_t attempts_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t publishes_ = 0;
  boost::json::object hooks_;
};

}  // namespace tender::sidecar

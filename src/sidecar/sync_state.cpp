#include "sidecar/sync_state.hpp"

#include <boost/json.hpp>

#include "core/units.hpp"

namespace tender::sidecar {

namespace {

boost::json::value when(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) {
    return nullptr;
  }
  return boost::json::value(format_utc(t));
}

}  // namespace

std::vector<std::string> hook_environment(const std::vector<std::string>& base,
                                          const Publication& p) {
  std::vector<std::string> env;
  env.reserve(base.size() + 5);
  for (const auto& kv : base) {
    if (!kv.starts_with("TENDER_SYNC_")) {
      env.push_back(kv);
    }
  }
  env.push_back("TENDER_SYNC_REVISION=" + p.revision);
  env.push_back("TENDER_SYNC_PREVIOUS_REVISION=" + p.previous);
  env.push_back("TENDER_SYNC_SOURCE=" + p.source);
  env.push_back("TENDER_SYNC_PATH=" + p.path);
  env.push_back("TENDER_SYNC_TREE=" + p.tree);
  return env;
}

std::string webhook_body(const Publication& p) {
  boost::json::object o{{"event", "published"},
                        {"revision", p.revision},
                        {"previous_revision", p.previous},
                        {"source", p.source},
                        {"path", p.path},
                        {"tree", p.tree},
                        {"published_at", format_utc(p.at, true)}};
  return boost::json::serialize(o);
}

std::string info_sample(const std::string& revision) {
  std::string out = "tender_sync_info{revision=\"";
  for (char c : revision) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\"} 1";
  return out;
}

SyncState::SyncState(int max_failures, const Clock& clock)
    : clock_(&clock), max_failures_(max_failures) {}

void SyncState::set_max_failures(int max_failures) {
  std::lock_guard lock(mu_);
  max_failures_ = max_failures;
}

void SyncState::started() {
  std::lock_guard lock(mu_);
  in_progress_ = true;
  last_attempt_ = clock_->wall();
  ++attempts_;
}

void SyncState::succeeded(const std::string& revision, bool published) {
  std::lock_guard lock(mu_);
  in_progress_ = false;
  revision_ = revision;
  last_success_ = clock_->wall();
  if (published) {
    last_publish_ = last_success_;
    ++publishes_;
  }
  succeeded_once_ = true;
  consecutive_failures_ = 0;
}

SyncState::Verdict SyncState::failed(const std::string& reason) {
  std::lock_guard lock(mu_);
  in_progress_ = false;
  last_error_ = reason;
  last_failure_ = clock_->wall();
  ++failures_;
  if (consecutive_failures_ < INT32_MAX) {
    ++consecutive_failures_;
  }
  return max_failures_ > 0 && consecutive_failures_ >= max_failures_ ? Verdict::kGiveUp
                                                                     : Verdict::kGoOn;
}

void SyncState::hook_result(const std::string& what, const std::string& revision, bool ok,
                            const std::string& detail) {
  std::lock_guard lock(mu_);
  hooks_[what] = boost::json::object{
      {"revision", revision}, {"ok", ok}, {"detail", detail}, {"at", when(clock_->wall())}};
}

bool SyncState::ready() const {
  std::lock_guard lock(mu_);
  return succeeded_once_;
}

std::string SyncState::not_ready_reason() const {
  std::lock_guard lock(mu_);
  if (succeeded_once_) {
    return "";
  }
  if (last_error_.empty()) {
    return "no successful sync yet";
  }
  return "no successful sync yet; last error: " + last_error_;
}

std::string SyncState::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

int SyncState::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return consecutive_failures_;
}

double SyncState::last_success_seconds() const {
  std::lock_guard lock(mu_);
  if (!succeeded_once_) {
    return 0;
  }
  return std::chrono::duration<double>(last_success_.time_since_epoch()).count();
}

boost::json::object SyncState::to_json() const {
  std::lock_guard lock(mu_);
  boost::json::object o{
      {"revision", revision_.empty() ? boost::json::value(nullptr) : boost::json::value(revision_)},
      {"synced", succeeded_once_},
      {"in_progress", in_progress_},
      {"last_attempt", when(last_attempt_)},
      {"last_success", when(last_success_)},
      {"last_publish", when(last_publish_)},
      {"attempts", attempts_},
      {"failures", failures_},
      {"publishes", publishes_},
      {"consecutive_failures", consecutive_failures_},
      {"max_failures", max_failures_}};
  if (!last_error_.empty()) {
    o["last_error"] = boost::json::object{{"reason", last_error_}, {"at", when(last_failure_)}};
  } else {
    o["last_error"] = nullptr;
  }
  o["hooks"] = hooks_;
  return o;
}

}  // namespace tender::sidecar

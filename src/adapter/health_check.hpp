#pragma once
// The health adapter's pieces that need no sockets: a check as configured, and the cache that
// makes a storm of requests one check per cache period. health.cpp runs them (health.hpp).
//
//   std::vector<CheckSpec> specs = parse_checks(root.child("health"));   // ConfigError
//   VerdictCache cache(clock, specs[0].cache);
//   if (cache.request([](const Verdict& v) { answer(v); })) {   // no fresh verdict, none running
//     start_check(specs[0], [&](Verdict v) { cache.finish(std::move(v)); });
//   }
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/probe.hpp"

namespace tender::adapter {

struct CheckSpec {
  std::string name;
  ProbeAction action;
  std::chrono::milliseconds timeout{1000};
  std::chrono::milliseconds cache{1000};
  boost::json::object config;  // as /configz shows it (its password redacted there)
};

// The `health:` section: {timeout, cache, checks: [...]}; undefined: no checks. Throws
// ConfigError at the line of what is wrong: a check without a name, a name that is not
// [A-Za-z0-9_.-]+, "all", or taken twice; not exactly one of tcp, exec, redis, http; a bad
// address, URL, status, body pattern or duration; password or user on a check that is not redis.
[[nodiscard]] std::vector<CheckSpec> parse_checks(const ConfigNode& health);

struct Verdict {
  bool passed = false;
  std::string message;  // "connected", "HTTP 200", "timed out after 300ms", ...
  std::chrono::system_clock::time_point checked_at{};
};

// One check's last verdict and the requests waiting for the run in flight. Not thread-safe:
// used on the io thread.
class VerdictCache {
 public:
  using Waiter = std::function<void(const Verdict&)>;
  VerdictCache(const Clock& clock, std::chrono::milliseconds ttl) : clock_(clock), ttl_(ttl) {}

  // Answers `w` at once from a verdict younger than the TTL, or keeps it for the run in flight
  // (false), or keeps it and returns true: the caller starts a run and calls finish() after.
  [[nodiscard]] bool request(Waiter w);
  // Records a run's verdict and answers everyone waiting for it.
  void finish(Verdict v);
  // Answers everyone waiting with `v` (not recorded), e.g. "stopping".
  void abandon(const Verdict& v);
  [[nodiscard]] const std::optional<Verdict>& last() const { return last_; }

 private:
  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::optional<Verdict> last_;
  std::chrono::steady_clock::time_point last_at_{};
  bool running_ = false;
  std::vector<Waiter> waiting_;
};

}  // namespace tender::adapter

#pragma once
// The settings of `tender work`, from its flags and its --config file (a flag beats the file,
// which beats the default), checked at start-up: docs/work.md lists them.
//
//   WorkFlags flags;                                   // filled by CLI11
//   WorkConfig cfg = resolve_work(flags, common.load_config());  // throws UsageError/ConfigError
//   boost::json::object shown = to_json(cfg);          // for /configz

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "workqueue/client_api.hpp"

namespace tender::workqueue {

enum class ProgressMode { kAuto, kAlways, kNever };

struct WorkConfig {
  QueueUrl queue;                                       // --queue: the queue server
  std::string queue_name;                               // --queue-name
  int concurrency = 1;                                  // commands running at once (1..1024)
  std::vector<std::string> command;                     // after --: argv, run without a shell
  std::chrono::milliseconds timeout{0};                 // per item; 0: none
  std::chrono::milliseconds lease_ttl{60'000};          // asked of each lease, extended every ttl/3
  std::chrono::milliseconds lease_wait{30'000};         // a lease's long poll (0..5m)
  std::optional<std::chrono::milliseconds> nack_delay;  // none: the queue's backoff
  std::size_t max_result = std::size_t{64} << 10;       // bytes of a result kept
  std::optional<int> dead_exit_code;  // the command's exit code that buries the item
  bool exit_when_empty = false;
  ProgressMode progress = ProgressMode::kAuto;  // the progress line on stderr

  // How often a running item's lease is extended: a third of its TTL.
  [[nodiscard]] std::chrono::milliseconds extend_every() const { return lease_ttl / 3; }
};

// The flags as CLI11 fills them: empty (or 0) when not given.
struct WorkFlags {
  std::string queue;
  std::string queue_name;
  int concurrency = 0;
  std::vector<std::string> command;
  std::string timeout;
  std::string lease_ttl;
  std::string lease_wait;
  std::string nack_delay;
  std::string max_result;
  std::string dead_exit_code;
  bool exit_when_empty = false;
  std::string progress;
};

// Merges flags, file and defaults. Throws UsageError for a bad flag, ConfigError for a bad key
// (with file, line and field), naming the value and what it must be; the queue, the queue name
// and the command are required.
[[nodiscard]] WorkConfig resolve_work(const WorkFlags& flags, const ConfigNode& file);

[[nodiscard]] boost::json::object to_json(const WorkConfig& cfg);

}  // namespace tender::workqueue

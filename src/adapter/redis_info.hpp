#pragma once
// What a Redis server says (INFO ALL, a few CONFIG GET values, SLOWLOG) as metric families
// named as prometheus-redis-exporter 1.45 names them, so that its dashboards and alerts keep
// working (docs/adapt.md lists the rules and what is left out). Pure: no I/O.
//
//   RedisReport r{.info = info_text, .maxclients = 10000, .databases = 16};
//   std::vector<Family> fams = redis_families(r, now_unix_seconds);   // redis_up 1, ...
//   std::vector<Family> down = redis_down_families();                  // redis_up 0
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/family.hpp"

namespace tender::adapter {

struct RedisReport {
  std::string info{};  // the INFO ALL reply, "# Section" headers and "key:value" lines
  // CONFIG GET answers; nullopt where the server refused (CONFIG renamed or not allowed).
  std::optional<double> maxmemory{};
  std::optional<double> maxclients{};
  std::optional<double> io_threads{};
  std::optional<int> databases{};  // db_keys / db_keys_expiring are 0 for databases not in INFO
  // SLOWLOG LEN, and the id and duration (microseconds) of SLOWLOG GET 1's entry.
  std::optional<double> slowlog_length{};
  std::optional<double> slowlog_last_id{};
  std::optional<double> slowlog_last_usec{};
};

// The families of one report. Never fails: a line that is not "key:value", a value that is not
// a number where one is needed, or a field it does not know is skipped. `now_unix` (seconds)
// gives redis_start_time_seconds (now - uptime).
[[nodiscard]] std::vector<Family> redis_families(const RedisReport& report, double now_unix);

// What is exposed while the server cannot be reached: redis_up 0, as the exporter does, so that
// alerts on `redis_up == 0` fire.
[[nodiscard]] std::vector<Family> redis_down_families();

}  // namespace tender::adapter

#include "adapter/redis_info.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <utility>

namespace tender::adapter {
namespace {

constexpr MetricType kG = MetricType::kGauge;
constexpr MetricType kC = MetricType::kCounter;
constexpr MetricType kU = MetricType::kUntyped;

// An INFO field exposed as one unlabelled sample: its exporter name (without "redis_"), type,
// and the factor its value is multiplied by.
struct FieldRule {
  std::string_view field;
  std::string_view name;
  MetricType type;
  double scale = 1;
};

// The fields prometheus-redis-exporter 1.45 exposes by default, by section. Fields not listed
// are not exposed (the exporter skips them too).
constexpr std::array kFields{
    // Server
    FieldRule{"uptime_in_seconds", "uptime_in_seconds", kG},
    FieldRule{"process_id", "process_id", kG},
    FieldRule{"io_threads_active", "io_threads_active", kG},
    // Clients
    FieldRule{"connected_clients", "connected_clients", kG},
    FieldRule{"blocked_clients", "blocked_clients", kG},
    FieldRule{"tracking_clients", "tracking_clients", kG},
    FieldRule{"clients_in_timeout_table", "clients_in_timeout_table", kG},
    FieldRule{"cluster_connections", "cluster_connections", kG},
    FieldRule{"client_recent_max_input_buffer", "client_recent_max_input_buffer_bytes", kG},
    FieldRule{"client_recent_max_output_buffer", "client_recent_max_output_buffer_bytes", kG},
    FieldRule{"client_longest_output_list", "client_longest_output_list", kG},  // redis < 5
    FieldRule{"client_biggest_input_buf", "client_biggest_input_buf", kG},      // redis < 5
    // Memory
    FieldRule{"used_memory", "memory_used_bytes", kG},
    FieldRule{"used_memory_rss", "memory_used_rss_bytes", kG},
    FieldRule{"used_memory_peak", "memory_used_peak_bytes", kG},
    FieldRule{"used_memory_lua", "memory_used_lua_bytes", kG},
    FieldRule{"used_memory_overhead", "memory_used_overhead_bytes", kG},
    FieldRule{"used_memory_startup", "memory_used_startup_bytes", kG},
    FieldRule{"used_memory_dataset", "memory_used_dataset_bytes", kG},
    FieldRule{"used_memory_scripts", "memory_used_scripts_bytes", kG},
    FieldRule{"number_of_cached_scripts", "number_of_cached_scripts", kG},
    FieldRule{"maxmemory", "memory_max_bytes", kG},
    FieldRule{"allocator_active", "allocator_active_bytes", kG},
    FieldRule{"allocator_allocated", "allocator_allocated_bytes", kG},
    FieldRule{"allocator_resident", "allocator_resident_bytes", kG},
    FieldRule{"allocator_frag_ratio", "allocator_frag_ratio", kG},
    FieldRule{"allocator_frag_bytes", "allocator_frag_bytes", kG},
    FieldRule{"allocator_rss_ratio", "allocator_rss_ratio", kG},
    FieldRule{"allocator_rss_bytes", "allocator_rss_bytes", kG},
    FieldRule{"mem_fragmentation_ratio", "mem_fragmentation_ratio", kG},
    FieldRule{"mem_fragmentation_bytes", "mem_fragmentation_bytes", kG},
    FieldRule{"mem_clients_slaves", "mem_clients_slaves", kG},
    FieldRule{"mem_clients_normal", "mem_clients_normal", kG},
    FieldRule{"mem_not_counted_for_evict", "mem_not_counted_for_eviction_bytes", kG},
    FieldRule{"lazyfree_pending_objects", "lazyfree_pending_objects", kG},
    FieldRule{"active_defrag_running", "active_defrag_running", kG},
    // Persistence ("ok" is 1, "err" 0)
    FieldRule{"loading", "loading_dump_file", kG},
    FieldRule{"rdb_changes_since_last_save", "rdb_changes_since_last_save", kG},
    FieldRule{"rdb_bgsave_in_progress", "rdb_bgsave_in_progress", kG},
    FieldRule{"rdb_last_save_time", "rdb_last_save_timestamp_seconds", kG},
    FieldRule{"rdb_last_bgsave_status", "rdb_last_bgsave_status", kG},
    FieldRule{"rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_sec", kG},
    FieldRule{"rdb_current_bgsave_time_sec", "rdb_current_bgsave_duration_sec", kG},
    FieldRule{"rdb_last_cow_size", "rdb_last_cow_size_bytes", kG},
    FieldRule{"aof_enabled", "aof_enabled", kG},
    FieldRule{"aof_rewrite_in_progress", "aof_rewrite_in_progress", kG},
    FieldRule{"aof_rewrite_scheduled", "aof_rewrite_scheduled", kG},
    FieldRule{"aof_last_rewrite_time_sec", "aof_last_rewrite_duration_sec", kG},
    FieldRule{"aof_current_rewrite_time_sec", "aof_current_rewrite_duration_sec", kG},
    FieldRule{"aof_last_cow_size", "aof_last_cow_size_bytes", kG},
    FieldRule{"aof_current_size", "aof_current_size_bytes", kG},
    FieldRule{"aof_base_size", "aof_base_size_bytes", kG},
    FieldRule{"aof_pending_rewrite", "aof_pending_rewrite", kG},
    FieldRule{"aof_buffer_length", "aof_buffer_length", kG},
    FieldRule{"aof_rewrite_buffer_length", "aof_rewrite_buffer_length", kG},
    FieldRule{"aof_pending_bio_fsync", "aof_pending_bio_fsync", kG},
    FieldRule{"aof_delayed_fsync", "aof_delayed_fsync", kG},
    FieldRule{"aof_last_bgrewrite_status", "aof_last_bgrewrite_status", kG},
    FieldRule{"aof_last_write_status", "aof_last_write_status", kG},
    FieldRule{"module_fork_in_progress", "module_fork_in_progress", kG},
    FieldRule{"module_fork_last_cow_size", "module_fork_last_cow_size", kG},
    // Stats
    FieldRule{"total_connections_received", "connections_received_total", kC},
    FieldRule{"total_commands_processed", "commands_processed_total", kC},
    FieldRule{"total_net_input_bytes", "net_input_bytes_total", kC},
    FieldRule{"total_net_output_bytes", "net_output_bytes_total", kC},
    FieldRule{"rejected_connections", "rejected_connections_total", kC},
    FieldRule{"expired_keys", "expired_keys_total", kC},
    FieldRule{"evicted_keys", "evicted_keys_total", kC},
    FieldRule{"keyspace_hits", "keyspace_hits_total", kC},
    FieldRule{"keyspace_misses", "keyspace_misses_total", kC},
    FieldRule{"expired_stale_perc", "expired_stale_percentage", kG},
    FieldRule{"expired_time_cap_reached_count", "expired_time_cap_reached_total", kG},
    FieldRule{"sync_full", "replica_resyncs_full", kG},
    FieldRule{"sync_partial_ok", "replica_partial_resync_accepted", kG},
    FieldRule{"sync_partial_err", "replica_partial_resync_denied", kG},
    FieldRule{"pubsub_channels", "pubsub_channels", kG},
    FieldRule{"pubsub_patterns", "pubsub_patterns", kG},
    FieldRule{"latest_fork_usec", "latest_fork_seconds", kG, 1e-6},
    FieldRule{"migrate_cached_sockets", "migrate_cached_sockets_total", kG},
    FieldRule{"slave_expires_tracked_keys", "slave_expires_tracked_keys", kG},
    FieldRule{"active_defrag_hits", "defrag_hits", kG},
    FieldRule{"active_defrag_misses", "defrag_misses", kG},
    FieldRule{"active_defrag_key_hits", "defrag_key_hits", kG},
    FieldRule{"active_defrag_key_misses", "defrag_key_misses", kG},
    FieldRule{"tracking_total_keys", "tracking_total_keys", kG},
    FieldRule{"tracking_total_items", "tracking_total_items", kG},
    FieldRule{"tracking_total_prefixes", "tracking_total_prefixes", kG},
    // The exporter keeps these INFO names and types them counters; a counter's name ends in
    // _total in our exposition, so they keep the name and go untyped (rate() works the same).
    FieldRule{"unexpected_error_replies", "unexpected_error_replies", kU},
    FieldRule{"total_error_replies", "total_error_replies", kU},
    FieldRule{"dump_payload_sanitizations", "dump_payload_sanitizations", kU},
    FieldRule{"total_reads_processed", "total_reads_processed", kU},
    FieldRule{"total_writes_processed", "total_writes_processed", kU},
    FieldRule{"io_threaded_reads_processed", "io_threaded_reads_processed", kU},
    FieldRule{"io_threaded_writes_processed", "io_threaded_writes_processed", kU},
    // Replication
    FieldRule{"connected_slaves", "connected_slaves", kG},
    FieldRule{"repl_backlog_size", "replication_backlog_bytes", kG},
    FieldRule{"repl_backlog_active", "repl_backlog_is_active", kG},
    FieldRule{"repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset", kG},
    FieldRule{"repl_backlog_histlen", "repl_backlog_history_bytes", kG},
    FieldRule{"master_repl_offset", "master_repl_offset", kG},
    FieldRule{"second_repl_offset", "second_repl_offset", kG},
    FieldRule{"slave_priority", "slave_priority", kG},
    // CPU
    FieldRule{"used_cpu_sys", "cpu_sys_seconds_total", kC},
    FieldRule{"used_cpu_user", "cpu_user_seconds_total", kC},
    FieldRule{"used_cpu_sys_children", "cpu_sys_children_seconds_total", kC},
    FieldRule{"used_cpu_user_children", "cpu_user_children_seconds_total", kC},
    FieldRule{"used_cpu_sys_main_thread", "cpu_sys_main_thread_seconds_total", kC},
    FieldRule{"used_cpu_user_main_thread", "cpu_user_main_thread_seconds_total", kC},
    // Cluster
    FieldRule{"cluster_enabled", "cluster_enabled", kG},
};

// The labels of redis_instance_info, from INFO fields of the same names.
constexpr std::array<std::string_view, 9> kInstanceLabels{
    "role",     "redis_version", "redis_build_id", "redis_mode", "os", "maxmemory_policy",
    "tcp_port", "run_id",        "process_id"};

std::optional<double> number(std::string_view s) {
  if (s == "ok" || s == "true") {
    return 1.0;
  }
  if (s == "err" || s == "fail" || s == "false") {
    return 0.0;
  }
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// "calls=3,usec=20,usec_per_call=6.67" -> {calls: 3, usec: 20, ...}; pairs that are not
// key=number are left out.
std::map<std::string, double, std::less<>> pairs(std::string_view s) {
  std::map<std::string, double, std::less<>> out;
  while (!s.empty()) {
    std::size_t comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    if (auto v = number(part.substr(eq + 1))) {
      out.emplace(std::string(part.substr(0, eq)), *v);
    }
  }
  return out;
}

std::string shortest(double v) {
  std::array<char, 32> buf{};
  auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), p);
}

class InfoBuilder {
 public:
  void add(std::string_view name, MetricType type, std::string_view help, Labels labels,
           double value, std::string_view suffix = "") {
    std::string full = "redis_" + std::string(name);
    auto [it, fresh] = families_.try_emplace(full);
    Family& f = it->second;
    if (fresh) {
      f.name = full;
      f.type = type;
      f.help = help;
    }
    f.samples.push_back(
        {.name = full + std::string(suffix), .labels = std::move(labels), .value = value});
  }

  std::vector<Family> take() {
    std::vector<Family> out;
    out.reserve(families_.size());
    for (auto& [name, f] : families_) {
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::map<std::string, Family, std::less<>> families_;
};

const FieldRule* rule_for(std::string_view field) {
  for (const auto& r : kFields) {
    if (r.field == field) {
      return &r;
    }
  }
  return nullptr;
}

struct CommandStat {
  std::optional<double> calls;
  std::optional<double> usec;
};

void command_stats(InfoBuilder& b, std::string_view cmd, std::string_view value,
                   std::map<std::string, CommandStat, std::less<>>& stats) {
  auto p = pairs(value);
  auto calls = p.find("calls");
  auto usec = p.find("usec");
  if (calls == p.end() || usec == p.end()) {
    return;
  }
  Labels l{{"cmd", std::string(cmd)}};
  b.add("commands_total", kC, "Calls of each command (INFO commandstats).", l, calls->second);
  b.add("commands_duration_seconds_total", kC,
        "Time spent in each command, in seconds (INFO commandstats).", l, usec->second / 1e6);
  if (auto r = p.find("rejected_calls"); r != p.end()) {
    b.add("commands_rejected_calls_total", kC,
          "Calls of each command rejected before it ran (INFO commandstats).", l, r->second);
  }
  if (auto f = p.find("failed_calls"); f != p.end()) {
    b.add("commands_failed_calls_total", kC,
          "Calls of each command that failed as it ran (INFO commandstats).", l, f->second);
  }
  stats[std::string(cmd)] = CommandStat{calls->second, usec->second};
}

void keyspace(InfoBuilder& b, std::string_view db, std::string_view value,
              std::set<std::string, std::less<>>& seen) {
  auto p = pairs(value);
  auto keys = p.find("keys");
  auto expires = p.find("expires");
  if (keys == p.end() || expires == p.end()) {
    return;
  }
  Labels l{{"db", std::string(db)}};
  b.add("db_keys", kG, "Keys in each database.", l, keys->second);
  b.add("db_keys_expiring", kG, "Keys with a time to live in each database.", l, expires->second);
  if (auto ttl = p.find("avg_ttl"); ttl != p.end()) {
    b.add("db_avg_ttl_seconds", kG, "Average time to live of the keys that have one, in seconds.",
          l, ttl->second / 1000);
  }
  seen.emplace(db);
}

// "master_host", "master_1_host" (KeyDB's multi-master): the field `what` of a master.
bool master_field(std::string_view key, std::string_view what) {
  if (!key.starts_with("master_") || !key.ends_with(what)) {
    return false;
  }
  std::string_view mid = key.substr(7, key.size() - 7 - what.size());
  if (mid.empty()) {
    return true;
  }
  // "_N_" between: master_1_host
  return mid.size() >= 2 && mid.back() == '_' &&
         std::all_of(mid.begin(), mid.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

// Replication fields that carry labels: a replica's link to its master (labelled by the
// master's host and port, which come first in INFO), and a master's "slaveN:ip=..,port=..,
// state=..,offset=..,lag=.." lines. False for the other fields.
bool replication(InfoBuilder& b, std::string_view key, std::string_view value, std::string& host,
                 std::string& port) {
  if (master_field(key, "host")) {
    host = value;
    return true;
  }
  if (master_field(key, "port")) {
    port = value;
    return true;
  }
  Labels master{{"master_host", host}, {"master_port", port}};
  if (master_field(key, "link_status")) {
    b.add("master_link_up", kG, "1 if the replica's link to its master is up, else 0.", master,
          value == "up" ? 1 : 0);
    return true;
  }
  for (std::string_view what : {"last_io_seconds_ago", "sync_in_progress"}) {
    if (master_field(key, what)) {
      if (auto v = number(value)) {
        b.add("master_" + std::string(what), kG, "INFO " + std::string(key) + ".", master, *v);
      }
      return true;
    }
  }
  if (key == "slave_repl_offset") {
    if (auto v = number(value)) {
      b.add("slave_repl_offset", kG, "INFO slave_repl_offset.", master, *v);
    }
    return true;
  }
  if (key.size() > 5 && key.starts_with("slave") &&
      std::all_of(key.begin() + 5, key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::map<std::string, std::string, std::less<>> f;
    for (std::string_view rest = value; !rest.empty();) {
      std::size_t comma = rest.find(',');
      std::string_view part = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (std::size_t eq = part.find('='); eq != std::string_view::npos) {
        f.emplace(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
      }
    }
    auto offset = number(f["offset"]);
    if (!offset) {
      return true;
    }
    Labels l{{"slave_ip", f["ip"]}, {"slave_port", f["port"]}, {"slave_state", f["state"]}};
    b.add("connected_slave_offset_bytes", kG, "Replication offset of each connected replica.", l,
          *offset);
    if (auto lag = f.find("lag"); lag != f.end()) {
      if (auto v = number(lag->second)) {
        b.add("connected_slave_lag_seconds", kG, "Lag of each connected replica, in seconds.", l,
              *v);
      }
    }
    return true;
  }
  return false;
}

// The rest of a report: what is not in INFO's plain fields.
void extras(InfoBuilder& b, const RedisReport& r) {
  auto one = [&](std::string_view name, std::string_view help, const std::optional<double>& v) {
    if (v) {
      b.add(name, kG, help, {}, *v);
    }
  };
  one("config_maxmemory", "CONFIG GET maxmemory, in bytes.", r.maxmemory);
  one("config_maxclients", "CONFIG GET maxclients.", r.maxclients);
  one("config_io_threads", "CONFIG GET io-threads.", r.io_threads);
  one("slowlog_length", "Entries in the slow log (SLOWLOG LEN).", r.slowlog_length);
  if (r.slowlog_length) {
    b.add("slowlog_last_id", kG, "Id of the latest slow log entry.", {},
          r.slowlog_last_id.value_or(0));
    b.add("last_slow_execution_duration_seconds", kG,
          "Duration of the latest slow log entry, in seconds.", {},
          r.slowlog_last_usec.value_or(0) / 1e6);
  }
}

// What a walk over INFO gathers for the series made after it.
struct InfoSeen {
  std::map<std::string, std::string, std::less<>> fields;
  std::map<std::string, CommandStat, std::less<>> stats;
  std::map<std::string, std::map<double, double>, std::less<>> latencies;
  std::set<std::string, std::less<>> dbs;
  std::string master_host;
  std::string master_port;
};

// One `key:value` line of INFO's `section`.
void info_field(InfoBuilder& b, std::string_view section, std::string_view key,
                std::string_view value, double now_unix, InfoSeen& seen) {
  seen.fields.emplace(std::string(key), std::string(value));
  if (section == "Commandstats" && key.starts_with("cmdstat_")) {
    command_stats(b, key.substr(8), value, seen.stats);
    return;
  }
  if (section == "Latencystats" && key.starts_with("latency_percentiles_usec_")) {
    auto& q = seen.latencies[std::string(key.substr(25))];
    for (const auto& [p, v] : pairs(value)) {
      if (p.starts_with("p")) {
        if (auto at = number(std::string_view(p).substr(1))) {
          q[*at] = v;
        }
      }
    }
    return;
  }
  if (section == "Errorstats" && key.starts_with("errorstat_")) {
    auto p = pairs(value);
    if (auto c = p.find("count"); c != p.end()) {
      b.add("errors_total", kC, "Error replies of each error prefix (INFO errorstats).",
            {{"err", std::string(key.substr(10))}}, c->second);
    }
    return;
  }
  if (section == "Replication" && replication(b, key, value, seen.master_host, seen.master_port)) {
    return;
  }
  if (section == "Keyspace" && key.starts_with("db")) {
    keyspace(b, key, value, seen.dbs);
    return;
  }
  const FieldRule* rule = rule_for(key);
  if (rule == nullptr) {
    return;
  }
  if (auto v = number(value)) {
    b.add(rule->name, rule->type, "INFO " + std::string(key) + ".", {}, *v * rule->scale);
    if (key == "uptime_in_seconds") {
      b.add("start_time_seconds", kG, "When the server started, in Unix seconds.", {},
            std::floor(now_unix) - *v);
    }
  }
}

// Every line of INFO's text, section by section.
void walk_info(InfoBuilder& b, std::string_view info, double now_unix, InfoSeen& seen) {
  std::string_view section;
  while (!info.empty()) {
    std::size_t nl = info.find('\n');
    std::string_view line = info.substr(0, nl);
    info = nl == std::string_view::npos ? std::string_view() : info.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.starts_with("# ")) {
      section = line.substr(2);
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    info_field(b, section, line.substr(0, colon), line.substr(colon + 1), now_unix, seen);
  }
}

// The latency percentiles of each command, as a summary with commandstats' count and sum.
void latency_summaries(InfoBuilder& b, const InfoSeen& seen) {
  for (const auto& [cmd, q] : seen.latencies) {
    auto s = seen.stats.find(cmd);
    if (s == seen.stats.end()) {
      continue;  // a summary needs its count and sum, which commandstats has
    }
    Labels l{{"cmd", cmd}};
    constexpr std::string_view kHelp = "Latency percentiles of each command, in microseconds.";
    for (const auto& [at, v] : q) {
      b.add("latency_percentiles_usec", MetricType::kSummary, kHelp,
            {{"cmd", cmd}, {"quantile", shortest(at)}}, v);
    }
    b.add("latency_percentiles_usec", MetricType::kSummary, kHelp, l, *s->second.usec, "_sum");
    b.add("latency_percentiles_usec", MetricType::kSummary, kHelp, l, *s->second.calls, "_count");
  }
}

// Zeros for the databases INFO's keyspace leaves out (empty ones), as the exporter gives them.
void empty_databases(InfoBuilder& b, const RedisReport& report, const InfoSeen& seen) {
  if (!report.databases) {
    return;
  }
  for (int i = 0; i < *report.databases; ++i) {
    std::string db = "db" + std::to_string(i);
    if (!seen.dbs.contains(db)) {
      b.add("db_keys", kG, "Keys in each database.", {{"db", db}}, 0);
      b.add("db_keys_expiring", kG, "Keys with a time to live in each database.", {{"db", db}}, 0);
    }
  }
}

// redis_instance_info, and redis_slave_info on a replica.
void instance_series(InfoBuilder& b, const InfoSeen& seen) {
  Labels instance;
  for (std::string_view l : kInstanceLabels) {
    auto f = seen.fields.find(l);
    instance.emplace_back(std::string(l), f == seen.fields.end() ? "" : f->second);
  }
  b.add("instance_info", kG, "Information about the Redis instance.", std::move(instance), 1);
  if (auto role = seen.fields.find("role"); role != seen.fields.end() && role->second == "slave") {
    auto ro = seen.fields.find("slave_read_only");
    b.add("slave_info", kG, "Information about a replica: its master and whether it is read-only.",
          {{"master_host", seen.master_host},
           {"master_port", seen.master_port},
           {"read_only", ro == seen.fields.end() ? "" : ro->second}},
          1);
  }
}

}  // namespace

std::vector<Family> redis_families(const RedisReport& report, double now_unix) {
  InfoBuilder b;
  b.add("up", kG, "1 if the Redis server answered the last collection, else 0.", {}, 1);
  InfoSeen seen;
  walk_info(b, report.info, now_unix, seen);
  latency_summaries(b, seen);
  empty_databases(b, report, seen);
  instance_series(b, seen);
  extras(b, report);
  return b.take();
}

std::vector<Family> redis_down_families() {
  InfoBuilder b;
  b.add("up", kG, "1 if the Redis server answered the last collection, else 0.", {}, 0);
  return b.take();
}

}  // namespace tender::adapter

#include "adapter/redis_info.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace tender::adapter {
namespace {

const Family* find(const std::vector<Family>& fams, std::string_view name) {
  auto it = std::find_if(fams.begin(), fams.end(), [&](const Family& f) { return f.name == name; });
  return it == fams.end() ? nullptr : &*it;
}

// The value of the sample `sample` with `labels` (all of them), or NaN.
double value(const std::vector<Family>& fams, std::string_view family, std::string_view sample,
             const Labels& labels = {}) {
  if (const Family* f = find(fams, family)) {
    for (const auto& s : f->samples) {
      if (s.name == sample && s.labels == labels) {
        return s.value;
      }
    }
  }
  return std::nan("");
}
double value(const std::vector<Family>& fams, std::string_view name, const Labels& labels = {}) {
  return value(fams, name, name, labels);
}

// Hand-written sections in INFO's layout (CRLF lines, "# Section" headers).
std::string info(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view l : lines) {
    out += l;
    out += "\r\n";
  }
  return out;
}

TEST(RedisInfo, PlainFieldsGetTheExportersNamesTypesAndUnits) {
  RedisReport r{
      .info = info({"# Server", "uptime_in_seconds:120", "# Memory", "used_memory:4096",
                    "maxmemory:0", "# Stats", "total_commands_processed:77", "keyspace_hits:5",
                    "latest_fork_usec:2500", "# Persistence", "rdb_last_bgsave_status:ok",
                    "aof_last_write_status:err", "# CPU", "used_cpu_sys:1.5"})};
  auto fams = redis_families(r, 1000.7);
  EXPECT_EQ(value(fams, "redis_up"), 1);
  EXPECT_EQ(value(fams, "redis_uptime_in_seconds"), 120);
  EXPECT_EQ(value(fams, "redis_start_time_seconds"), 880);
  EXPECT_EQ(value(fams, "redis_memory_used_bytes"), 4096);
  EXPECT_EQ(value(fams, "redis_memory_max_bytes"), 0);
  EXPECT_EQ(value(fams, "redis_commands_processed_total"), 77);
  EXPECT_EQ(find(fams, "redis_commands_processed_total")->type, MetricType::kCounter);
  EXPECT_EQ(find(fams, "redis_memory_used_bytes")->type, MetricType::kGauge);
  EXPECT_EQ(value(fams, "redis_keyspace_hits_total"), 5);
  EXPECT_DOUBLE_EQ(value(fams, "redis_latest_fork_seconds"), 0.0025);
  EXPECT_EQ(value(fams, "redis_rdb_last_bgsave_status"), 1);
  EXPECT_EQ(value(fams, "redis_aof_last_write_status"), 0);
  EXPECT_EQ(value(fams, "redis_cpu_sys_seconds_total"), 1.5);
}

TEST(RedisInfo, FieldsItDoesNotKnowAndMalformedLinesAreSkipped) {
  RedisReport r{.info = info({"# Server", "used_memory_human:1.09M", "garbage", ":5",
                              "connected_clients:many", "connected_clients", "blocked_clients:2",
                              "used_memory:1e999"})};
  auto fams = redis_families(r, 0);
  EXPECT_EQ(find(fams, "redis_used_memory_human"), nullptr);
  EXPECT_EQ(find(fams, "redis_connected_clients"), nullptr);
  EXPECT_EQ(find(fams, "redis_memory_used_bytes"), nullptr);  // not finite
  EXPECT_EQ(value(fams, "redis_blocked_clients"), 2);
  EXPECT_NE(find(fams, "redis_instance_info"), nullptr);  // with empty labels: still there
}

TEST(RedisInfo, KeyspaceGivesKeysPerDbAndZerosForTheEmptyOnes) {
  RedisReport r{.info = info({"# Keyspace", "db0:keys=3,expires=1,avg_ttl=2500",
                              "db2:keys=7,expires=0,avg_ttl=0", "db5:keys=x"}),
                .databases = 4};
  auto fams = redis_families(r, 0);
  EXPECT_EQ(value(fams, "redis_db_keys", {{"db", "db0"}}), 3);
  EXPECT_EQ(value(fams, "redis_db_keys_expiring", {{"db", "db0"}}), 1);
  EXPECT_DOUBLE_EQ(value(fams, "redis_db_avg_ttl_seconds", {{"db", "db0"}}), 2.5);
  EXPECT_EQ(value(fams, "redis_db_keys", {{"db", "db2"}}), 7);
  EXPECT_EQ(value(fams, "redis_db_keys", {{"db", "db1"}}), 0);
  EXPECT_EQ(value(fams, "redis_db_keys_expiring", {{"db", "db3"}}), 0);
  EXPECT_TRUE(std::isnan(value(fams, "redis_db_avg_ttl_seconds", {{"db", "db1"}})));
  EXPECT_TRUE(std::isnan(value(fams, "redis_db_keys", {{"db", "db5"}})));  // malformed
  EXPECT_EQ(find(fams, "redis_db_keys")->samples.size(), 4U);
}

TEST(RedisInfo, CommandstatsAndLatencystatsGivePerCommandCountersAndASummary) {
  RedisReport r{.info =
                    info({"# Commandstats",
                          "cmdstat_get:calls=4,usec=20,usec_per_call=5.00,rejected_calls=1,"
                          "failed_calls=2",
                          "cmdstat_client|setname:calls=1,usec=3,usec_per_call=3.00",
                          "# Latencystats", "latency_percentiles_usec_get:p50=4.007,p99.9=9.023",
                          "latency_percentiles_usec_nope:p50=1", "# Errorstats",
                          "errorstat_WRONGTYPE:count=3"})};
  auto fams = redis_families(r, 0);
  EXPECT_EQ(value(fams, "redis_commands_total", {{"cmd", "get"}}), 4);
  EXPECT_DOUBLE_EQ(value(fams, "redis_commands_duration_seconds_total", {{"cmd", "get"}}), 20e-6);
  EXPECT_EQ(value(fams, "redis_commands_rejected_calls_total", {{"cmd", "get"}}), 1);
  EXPECT_EQ(value(fams, "redis_commands_failed_calls_total", {{"cmd", "get"}}), 2);
  EXPECT_EQ(value(fams, "redis_commands_total", {{"cmd", "client|setname"}}), 1);
  EXPECT_TRUE(
      std::isnan(value(fams, "redis_commands_failed_calls_total", {{"cmd", "client|setname"}})));
  const Family* lat = find(fams, "redis_latency_percentiles_usec");
  ASSERT_NE(lat, nullptr);
  EXPECT_EQ(lat->type, MetricType::kSummary);
  EXPECT_DOUBLE_EQ(value(fams, "redis_latency_percentiles_usec", "redis_latency_percentiles_usec",
                         {{"cmd", "get"}, {"quantile", "99.9"}}),
                   9.023);
  EXPECT_EQ(value(fams, "redis_latency_percentiles_usec", "redis_latency_percentiles_usec_count",
                  {{"cmd", "get"}}),
            4);
  EXPECT_EQ(value(fams, "redis_latency_percentiles_usec", "redis_latency_percentiles_usec_sum",
                  {{"cmd", "get"}}),
            20);
  EXPECT_EQ(lat->samples.size(), 4U);  // "nope" has no commandstats: no summary
  EXPECT_EQ(value(fams, "redis_errors_total", {{"err", "WRONGTYPE"}}), 3);
}

TEST(RedisInfo, InstanceInfoCarriesTheServersIdentity) {
  RedisReport r{.info = info({"# Server", "redis_version:7.0.15", "redis_mode:standalone",
                              "os:Linux 6.1 x86_64", "tcp_port:6379", "run_id:abc", "process_id:42",
                              "redis_build_id:b1", "# Memory", "maxmemory_policy:noeviction",
                              "# Replication", "role:master"})};
  auto fams = redis_families(r, 0);
  const Family* f = find(fams, "redis_instance_info");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->samples.size(), 1U);
  Labels want{
      {"role", "master"},           {"redis_version", "7.0.15"}, {"redis_build_id", "b1"},
      {"redis_mode", "standalone"}, {"os", "Linux 6.1 x86_64"},  {"maxmemory_policy", "noeviction"},
      {"tcp_port", "6379"},         {"run_id", "abc"},           {"process_id", "42"}};
  EXPECT_EQ(f->samples[0].labels, want);
}

TEST(RedisInfo, ConfigAndSlowlogAnswersAreGaugesAndMissingOnesAreLeftOut) {
  RedisReport r{
      .maxclients = 10000, .slowlog_length = 2, .slowlog_last_id = 9, .slowlog_last_usec = 15000};
  auto fams = redis_families(r, 0);
  EXPECT_EQ(value(fams, "redis_config_maxclients"), 10000);
  EXPECT_EQ(find(fams, "redis_config_maxmemory"), nullptr);
  EXPECT_EQ(value(fams, "redis_slowlog_length"), 2);
  EXPECT_EQ(value(fams, "redis_slowlog_last_id"), 9);
  EXPECT_DOUBLE_EQ(value(fams, "redis_last_slow_execution_duration_seconds"), 0.015);
}

TEST(RedisInfo, AReplicaIsLabelledByItsMasterAndAMasterByItsReplicas) {
  RedisReport replica{
      .info = info({"# Replication", "role:slave", "master_host:10.0.0.1", "master_port:6379",
                    "master_link_status:up", "master_last_io_seconds_ago:3",
                    "master_sync_in_progress:0", "slave_repl_offset:1234", "slave_priority:100",
                    "slave_read_only:1"})};
  auto fams = redis_families(replica, 0);
  Labels master{{"master_host", "10.0.0.1"}, {"master_port", "6379"}};
  EXPECT_EQ(value(fams, "redis_master_link_up", master), 1);
  EXPECT_EQ(value(fams, "redis_master_last_io_seconds_ago", master), 3);
  EXPECT_EQ(value(fams, "redis_master_sync_in_progress", master), 0);
  EXPECT_EQ(value(fams, "redis_slave_repl_offset", master), 1234);
  EXPECT_EQ(value(fams, "redis_slave_priority"), 100);
  EXPECT_EQ(value(fams, "redis_slave_info",
                  {{"master_host", "10.0.0.1"}, {"master_port", "6379"}, {"read_only", "1"}}),
            1);
  RedisReport primary{.info = info({"# Replication", "role:master", "connected_slaves:1",
                                    "slave0:ip=10.0.0.2,port=6380,state=online,offset=99,lag=1"})};
  fams = redis_families(primary, 0);
  Labels slave{{"slave_ip", "10.0.0.2"}, {"slave_port", "6380"}, {"slave_state", "online"}};
  EXPECT_EQ(value(fams, "redis_connected_slave_offset_bytes", slave), 99);
  EXPECT_EQ(value(fams, "redis_connected_slave_lag_seconds", slave), 1);
  EXPECT_EQ(find(fams, "redis_slave_info"), nullptr);
  EXPECT_EQ(find(fams, "redis_master_link_up"), nullptr);
}

TEST(RedisInfo, DownIsRedisUpZeroAlone) {
  auto fams = redis_down_families();
  ASSERT_EQ(fams.size(), 1U);
  EXPECT_EQ(value(fams, "redis_up"), 0);
}

}  // namespace
}  // namespace tender::adapter

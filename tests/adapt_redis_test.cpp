// `tender adapt --redis` against a real redis-server, side by side with the real
// prometheus-redis-exporter scraping the same server: the series both expose agree in labels
// and values. And the failures: a server that is down, a password that is wrong.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "free_port.hpp"
#include "proxy_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

// name -> (labels as printed, sorted) -> value, for the samples whose name starts "redis_".
using Samples = std::map<std::string, std::map<std::string, double>>;

// Splits `{a="x",b="y"}` into sorted `a="x",b="y"` (values have no '",' in these tests except
// where escaped; os="Linux ..." has none).
std::string sorted_labels(const std::string& inside) {
  std::vector<std::string> parts;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < inside.size(); ++i) {
    char c = inside[i];
    if (c == '\\' && i + 1 < inside.size()) {
      cur += c;
      cur += inside[++i];
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
    }
    if (c == ',' && !quoted) {
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) {
    parts.push_back(cur);
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) {
    out += (out.empty() ? "" : ",") + p;
  }
  return out;
}

Samples parse(const std::string& text) {
  Samples out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || !line.starts_with("redis_")) {
      continue;
    }
    std::size_t brace = line.find('{');
    std::size_t space = line.rfind(' ');
    std::string name;
    std::string labels;
    if (brace != std::string::npos && brace < space) {
      name = line.substr(0, brace);
      labels = sorted_labels(line.substr(brace + 1, line.rfind('}') - brace - 1));
    } else {
      name = line.substr(0, space);
    }
    out[name][labels] = std::stod(line.substr(space + 1));
  }
  return out;
}

// GET /metrics (with curl: the exporter answers chunked).
std::string get_metrics(std::uint16_t port) {
  RunResult r = run_command(
      {"curl", "-sf", "-m", "10", "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  return r.status.code == 0 ? r.out : "";
}

// The real exporter, scraping `redis_port`.
class Exporter {
 public:
  explicit Exporter(std::uint16_t redis_port) {
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) {
      port_ = free_port();
      SpawnOptions o;
      o.argv = {"prometheus-redis-exporter", "--redis.addr",
                "redis://127.0.0.1:" + std::to_string(redis_port), "--web.listen-address",
                "127.0.0.1:" + std::to_string(port_)};
      o.stdout_ = Stdio::null();
      o.stderr_ = Stdio::null();
      auto p = Process::spawn(o);
      if (!p) {
        throw std::runtime_error("cannot start the exporter: " + p.error().message());
      }
      process_.emplace(std::move(*p));
      ready_ = eventually([&] { return !get_metrics(port_).empty(); }, 5s);
    }
    if (!ready_) {
      throw std::runtime_error("prometheus-redis-exporter did not start");
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_ = 0;
  bool ready_ = false;
  std::optional<Process> process_;
};

// Families whose `cmd` label names the commands each scraper itself sends (they differ: the
// exporter sends CLIENT SETNAME, CONFIG GET *, ...): compared on the commands the test sent.
bool per_command(const std::string& name) {
  return name.starts_with("redis_commands_") || name.starts_with("redis_latency_percentiles");
}

// Series whose value cannot move between two scrapes of an idle server.
const std::set<std::string> kStable = {"redis_up",
                                       "redis_db_keys",
                                       "redis_db_keys_expiring",
                                       "redis_config_maxclients",
                                       "redis_config_maxmemory",
                                       "redis_memory_max_bytes",
                                       "redis_instance_info",
                                       "redis_process_id",
                                       "redis_cluster_enabled",
                                       "redis_aof_enabled",
                                       "redis_connected_slaves",
                                       "redis_replication_backlog_bytes",
                                       "redis_rdb_last_bgsave_status",
                                       "redis_config_io_threads",
                                       "redis_loading_dump_file",
                                       "redis_keyspace_hits_total",
                                       "redis_keyspace_misses_total",
                                       "redis_expired_keys_total",
                                       "redis_evicted_keys_total",
                                       "redis_pubsub_channels",
                                       "redis_rdb_changes_since_last_save"};

// Scrapes the server at `redis_port` through tender, the exporter, and tender again, and
// checks that every series name both expose has the same label sets and agreeing values.
// Returns our first scrape.
Samples expect_agreement(std::uint16_t redis_port) {
  TempDir dir;  // cache 0s: each of our scrapes asks the server
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config",
            dir.write("adapt.yaml",
                      "metrics:\n  sources:\n    - name: redis\n      redis: "
                      "{address: '127.0.0.1:" +
                          std::to_string(redis_port) + "', cache: 0s}\n")});
  Exporter exporter(redis_port);
  // Ours, the exporter's, ours: what moves only up lies between our two.
  Samples before = parse(get_metrics(t.port("admin")));
  Samples theirs = parse(get_metrics(exporter.port()));
  Samples after = parse(get_metrics(t.port("admin")));
  EXPECT_EQ(before["redis_up"][""], 1);
  EXPECT_EQ(theirs["redis_up"][""], 1);
  std::vector<std::string> compared;
  for (const auto& [name, ours] : before) {
    auto other = theirs.find(name);
    if (other == theirs.end()) {
      continue;
    }
    compared.push_back(name);
    const auto& later = after[name];
    for (const auto& [labels, v] : other->second) {
      if (per_command(name) && !(labels.find("cmd=\"set\"") != std::string::npos ||
                                 labels.find("cmd=\"get\"") != std::string::npos)) {
        continue;
      }
      auto mine = ours.find(labels);
      if (mine == ours.end()) {
        ADD_FAILURE() << name << "{" << labels << "} only in the exporter's";
        continue;
      }
      const double a = mine->second;
      const double b = later.count(labels) ? later.at(labels) : NAN;
      const bool monotonic = name.ends_with("_total") || name == "redis_uptime_in_seconds" ||
                             name.ends_with("_offset") || name.ends_with("_offset_bytes") ||
                             name.ends_with("_processed") || name.ends_with("_replies") ||
                             name.ends_with("_count") || name.ends_with("_sum");
      if (kStable.contains(name) || (per_command(name) && name.ends_with("calls_total"))) {
        EXPECT_EQ(a, v) << name << "{" << labels << "}";
      } else if (monotonic) {
        EXPECT_LE(a, v) << name << "{" << labels << "}";
        EXPECT_LE(v, b) << name << "{" << labels << "}";
      } else if (name.starts_with("redis_memory_used") || name.starts_with("redis_allocator") ||
                 name.starts_with("redis_mem_")) {
        EXPECT_LE(std::abs(a - v), std::max(std::abs(v), 1.0) * 0.5 + 1e6) << name;
      } else if (name == "redis_db_avg_ttl_seconds") {
        // An estimate Redis's expire cycle updates every 100 ms, 0 until it has first sampled
        // the keys: ours agrees with the exporter's before or after it read it.
        EXPECT_TRUE(std::abs(a - v) <= 5 || std::abs(b - v) <= 5)
            << name << "{" << labels << "}: " << a << ", " << v << ", " << b;
      } else if (name == "redis_start_time_seconds") {
        EXPECT_NEAR(a, v, 5) << name << "{" << labels << "}";
      } else {
        EXPECT_TRUE(std::isfinite(a)) << name;
      }
    }
    if (!per_command(name)) {
      for (const auto& [labels, v] : ours) {
        EXPECT_TRUE(other->second.count(labels)) << name << "{" << labels << "} only in ours";
      }
    }
  }
  EXPECT_GT(compared.size(), 100U);
  std::string missing;
  for (const auto& [name, s] : theirs) {
    if (!before.count(name) && !name.starts_with("redis_exporter_")) {
      missing += " " + name;
    }
  }
  std::cout << "exposed by the exporter only:" << missing << "\n";
  return before;
}

TEST(AdaptRedis, SeriesAgreeWithPrometheusRedisExporter) {
  RedisServer redis;
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"SET", "a", "1"},
                                                               {"SET", "b", "2", "EX", "1000"},
                                                               {"SET", "c", "3", "EX", "2000"},
                                                               {"GET", "a"},
                                                               {"GET", "missing"}}) {
    ASSERT_FALSE(redis.command(cmd).starts_with("-"));
  }
  // db3: two keys, one expiring (a script, so that SELECT and the SETs share one connection)
  std::string r = redis.command({"EVAL",
                                 "redis.call('SELECT', 3); redis.call('SET', 'x', 1); "
                                 "redis.call('SET', 'y', 2, 'PX', 900000); return 1",
                                 "0"});
  ASSERT_EQ(r, ":1\r\n") << r;
  Samples ours = expect_agreement(redis.port());
  EXPECT_EQ(ours["redis_db_keys"]["db=\"db0\""], 3);
  EXPECT_EQ(ours["redis_db_keys_expiring"]["db=\"db3\""], 1);
  EXPECT_EQ(ours["redis_db_keys"]["db=\"db7\""], 0);
}

TEST(AdaptRedis, ReplicationSeriesAgreeWithPrometheusRedisExporter) {
  RedisServer primary("", {"--repl-diskless-sync-delay", "0"});
  RedisServer replica("", {"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  ASSERT_TRUE(eventually([&] {
    return primary.command({"INFO", "replication"}).find("state=online") != std::string::npos &&
           replica.command({"INFO", "replication"}).find("master_link_status:up") !=
               std::string::npos;
  }));
  Samples p = expect_agreement(primary.port());
  EXPECT_EQ(p["redis_connected_slaves"][""], 1);
  EXPECT_EQ(p["redis_connected_slave_offset_bytes"].size(), 1U);
  Samples r = expect_agreement(replica.port());
  std::string master =
      "master_host=\"127.0.0.1\",master_port=\"" + std::to_string(primary.port()) + "\"";
  EXPECT_EQ(r["redis_master_link_up"][master], 1);
  EXPECT_EQ(r["redis_slave_info"][master + ",read_only=\"1\""], 1);
}

TEST(AdaptRedis, ScrapesWithinTheCacheShareOneFetch) {
  RedisServer redis;
  TempDir dir;
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config",
            dir.write("adapt.yaml",
                      "metrics:\n  sources:\n    - name: redis\n      redis: "
                      "{address: '127.0.0.1:" +
                          std::to_string(redis.port()) + "', cache: 30s}\n")});
  std::vector<std::thread> scrapers;
  std::atomic<int> up{0};
  for (int i = 0; i < 50; ++i) {
    scrapers.emplace_back([&] {
      HttpResult r = http(t.port("admin"), "GET", "/metrics");
      if (r.body.find("\nredis_up 1\n") != std::string::npos) {
        ++up;
      }
    });
  }
  for (auto& s : scrapers) {
    s.join();
  }
  EXPECT_EQ(up.load(), 50);
  // The server saw one INFO ALL (this INFO is counted after it answers).
  std::string stats = redis.command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_info:calls=1,"), std::string::npos) << stats;
}

TEST(AdaptRedis, OutputPassesPromtool) {
  RedisServer redis;
  ASSERT_EQ(redis.command({"SET", "k", "v"}), "+OK\r\n");
  Tender t(
      {"adapt", "--admin", "127.0.0.1:0", "--redis", "127.0.0.1:" + std::to_string(redis.port())});
  std::string body = get_metrics(t.port("admin"));
  ASSERT_NE(body.find("redis_up 1"), std::string::npos) << body;
  // Exit 3 is lint only; the lint promtool has is about names the exporter chose (which are
  // kept for its dashboards: *_duration_sec, gauges named *_total), never about ours.
  RunResult check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_TRUE(check.status.code == 0 || check.status.code == 3) << check.out << check.err;
  std::istringstream lint(check.out + check.err);
  std::string line;
  while (std::getline(lint, line)) {
    EXPECT_TRUE(line.starts_with("redis_")) << line;
  }
}

TEST(AdaptRedis, ServerDownIsSourceDownWithTheReasonAndRedisUpZero) {
  std::uint16_t closed = free_port();
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--redis", "127.0.0.1:" + std::to_string(closed)});
  std::string body = get_metrics(t.port("admin"));
  EXPECT_NE(body.find("tender_adapt_source_up{source=\"redis\"} 0"), std::string::npos) << body;
  EXPECT_NE(body.find("\nredis_up 0"), std::string::npos) << body;
  HttpResult status = http(t.port("admin"), "GET", "/statusz");
  EXPECT_NE(status.body.find("connect: Connection refused"), std::string::npos) << status.body;
}

TEST(AdaptRedis, ReconnectsWhenTheServerComesBack) {
  RedisServer redis;
  Tender t(
      {"adapt", "--admin", "127.0.0.1:0", "--redis", "127.0.0.1:" + std::to_string(redis.port())});
  EXPECT_EQ(admin_metric(t, {"redis_up", {}}), 1);
  redis.command({"CLIENT", "KILL", "TYPE", "normal"});  // drops the kept connection
  EXPECT_TRUE(eventually([&] { return admin_metric(t, {"redis_up", {}}) == 1; }));
}

TEST(AdaptRedis, PasswordsAreSentAndAWrongOneIsTheReason) {
  RedisServer redis("s3cret");
  TempDir dir;
  auto config = [&](const std::string& password) {
    return dir.write(password == "s3cret" ? "good.yaml" : "bad.yaml",
                     "metrics:\n  sources:\n    - name: cache\n      redis:\n        address: "
                     "127.0.0.1:" +
                         std::to_string(redis.port()) + "\n        password: " + password + "\n");
  };
  Tender good({"adapt", "--admin", "127.0.0.1:0", "--config", config("s3cret")});
  EXPECT_EQ(admin_metric(good, {"redis_up", {}}), 1);
  EXPECT_EQ(admin_metric(good, {"tender_adapt_source_up", {{"source", "cache"}}}), 1);
  Tender bad({"adapt", "--admin", "127.0.0.1:0", "--config", config("wrong")});
  EXPECT_EQ(admin_metric(bad, {"tender_adapt_source_up", {{"source", "cache"}}}), 0);
  HttpResult status = http(bad.port("admin"), "GET", "/statusz");
  EXPECT_NE(status.body.find("AUTH answered -WRONGPASS"), std::string::npos) << status.body;
  HttpResult configz = http(good.port("admin"), "GET", "/configz");
  EXPECT_EQ(configz.body.find("s3cret"), std::string::npos) << configz.body;
}

}  // namespace
}  // namespace tender::testing

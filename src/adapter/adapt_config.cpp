#include "adapter/adapt_config.hpp"

#include <charconv>
#include <set>
#include <utility>

#include "core/cli.hpp"
#include "core/http.hpp"
#include "core/log.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

// A settings map made from flags; errors in it name the flag.
ConfigNode flag_node(YAML::Node node, const std::string& flag) {
  return ConfigNode(std::move(node), std::make_shared<const std::string>(flag), "");
}

// The --map file's root (a map), to which the one-liner adds its address.
YAML::Node map_root(const std::string& path) {
  ConfigNode root = load_config_file(path);
  if (root.defined() && !root.is_map()) {
    root.fail("",
              "a mapping file is a map (metrics: [...] for --json, mappings: [...] for "
              "--statsd)");
  }
  return root.defined() ? root.yaml() : YAML::Node(YAML::NodeType::Map);
}

void check_url(std::string_view flag, const std::string& url) {
  if (auto u = parse_http_url(url); !u) {
    throw UsageError(std::string(flag) + ": " + u.error().message());
  }
}

// The sources the one-liner flags ask for, each named after its kind.
std::vector<std::unique_ptr<Source>> flag_sources(const AdaptFlags& f,
                                                  const SourceDefaults& defaults) {
  if (!f.map.empty() && f.json.empty() && f.statsd.empty()) {
    throw UsageError("--map: goes with --json or --statsd");
  }
  if (!f.map.empty() && !f.json.empty() && !f.statsd.empty()) {
    throw UsageError("--map: one mapping file for --json or --statsd, not both");
  }
  if (!f.json.empty() && f.map.empty()) {
    throw UsageError("--json: needs --map FILE saying which values become which metrics");
  }
  std::vector<std::unique_ptr<Source>> out;
  if (!f.statsd.empty()) {
    (void)flag_host_port("--statsd", f.statsd);
    YAML::Node n = f.map.empty() ? YAML::Node(YAML::NodeType::Map) : map_root(f.map);
    n["udp"] = f.statsd;
    n["tcp"] = f.statsd;
    out.push_back(
        make_statsd_source("statsd", flag_node(n, f.map.empty() ? "--statsd" : f.map), defaults));
  }
  if (!f.json.empty()) {
    check_url("--json", f.json);
    YAML::Node n = map_root(f.map);
    n["url"] = f.json;
    out.push_back(make_json_source("json", flag_node(n, f.map), defaults));
  }
  if (!f.text.empty()) {
    check_url("--text", f.text);
    YAML::Node n(YAML::NodeType::Map);
    n["url"] = f.text;
    out.push_back(make_text_source("text", flag_node(n, "--text"), defaults));
  }
  if (!f.redis.empty()) {
    (void)flag_host_port("--redis", f.redis);
    YAML::Node n(YAML::NodeType::Map);
    n["address"] = f.redis;
    out.push_back(make_redis_source("redis", flag_node(n, "--redis"), defaults));
  }
  return out;
}

// The `logs:` section, with the --logs one-liner's adapter added.
ConfigNode logs_section(const AdaptFlags& f, const ConfigNode& file) {
  ConfigNode logs = file.child("logs");
  if (f.logs.empty()) {
    if (!f.logs_input.empty() || !f.logs_output.empty()) {
      throw UsageError("--logs-input and --logs-output go with --logs FORMAT");
    }
    return logs;
  }
  if (logs.defined() && !logs.is_sequence()) {
    logs.fail("", "logs is a list of log adapters");
  }
  YAML::Node seq = logs.defined() ? YAML::Clone(logs.yaml()) : YAML::Node(YAML::NodeType::Sequence);
  YAML::Node one(YAML::NodeType::Map);
  one["name"] = "logs";
  one["format"] = f.logs;
  one["input"] = f.logs_input.empty() ? "-" : f.logs_input;
  one["output"] = f.logs_output.empty() ? "-" : f.logs_output;
  seq.push_back(one);
  return ConfigNode(
      seq,
      std::make_shared<const std::string>(logs.defined() ? logs.file() : std::string("--logs")),
      "logs");
}

}  // namespace

json::object AdaptConfig::to_json() const {
  json::object metrics;
  metrics["listen"] = metrics_listen ? metrics_listen->str() : "";
  metrics["max_series_per_metric"] = max_series_per_metric;
  json::array srcs;
  for (const auto& s : sources) {
    json::object o;
    o["name"] = s->name();
    o[s->kind()] = s->config();
    srcs.push_back(std::move(o));
  }
  metrics["sources"] = std::move(srcs);
  json::object out;
  out["metrics"] = std::move(metrics);
  out["health"] = health->config();
  out["logs"] = logs->config();
  return out;
}

AdaptConfig resolve_adapt(const AdaptFlags& flags, const ConfigNode& file) {
  if (file.defined()) {
    file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "metrics",
                       "health", "logs"});
  }
  ConfigNode metrics = file.child("metrics");
  if (metrics.defined()) {
    metrics.warn_unknown({"listen", "max_series_per_metric", "sources"});
  }
  AdaptConfig cfg;
  if (!flags.max_series.empty()) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(flags.max_series.data(),
                                     flags.max_series.data() + flags.max_series.size(), n);
    if (ec != std::errc() || end != flags.max_series.data() + flags.max_series.size() || n == 0 ||
        n > 10'000'000) {
      throw UsageError("--max-series: a number from 1 to 10000000, not \"" + flags.max_series +
                       "\"");
    }
    cfg.max_series_per_metric = n;
  } else if (auto n = metrics.integer("max_series_per_metric", 1, 10'000'000)) {
    cfg.max_series_per_metric = static_cast<std::size_t>(*n);
  }
  if (!flags.metrics_listen.empty()) {
    cfg.metrics_listen = flag_host_port("--metrics-listen", flags.metrics_listen);
  } else if (auto l = metrics.string("listen")) {
    auto hp = parse_host_port(*l);
    if (!hp) {
      metrics.fail("listen", "not HOST:PORT: \"" + *l + "\"");
    }
    cfg.metrics_listen = *hp;
  }
  SourceDefaults defaults{.max_series_per_metric = cfg.max_series_per_metric};
  std::set<std::string, std::less<>> names;
  ConfigNode list = metrics.child("sources");
  if (list.defined() && !list.is_sequence()) {
    list.fail("", "sources is a list");
  }
  for (const auto& entry : list.items()) {
    auto source = make_source(entry, defaults);
    if (!names.insert(source->name()).second) {
      entry.fail("name", "two sources are named " + source->name());
    }
    cfg.sources.push_back(std::move(source));
  }
  for (auto& source : flag_sources(flags, defaults)) {
    if (!names.insert(source->name()).second) {
      throw UsageError("--" + std::string(source->kind()) +
                       ": the file already has a source named " + source->name());
    }
    cfg.sources.push_back(std::move(source));
  }
  cfg.health = HealthChecks::parse(file.child("health"));
  cfg.logs = LogAdapters::parse(logs_section(flags, file));
  if (cfg.empty()) {
    if (file.defined()) {
      file.fail("", "nothing to adapt: no metrics source, health check or log adapter");
    }
    throw UsageError(
        "nothing to adapt: give --config FILE, or a one-liner (--statsd ADDR, --json URL --map "
        "FILE, --text URL, --redis ADDR, --logs FORMAT)");
  }
  return cfg;
}

}  // namespace tender::adapter

#include "scatter/scatter_config.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

#include "core/ascii.hpp"
#include "core/cli.hpp"
#include "core/units.hpp"
#include "scatter/gather.hpp"
#include "scatter/shard_config.hpp"

namespace tender::scatter {
namespace {

using upstream::ClusterConfig;

// "50%" or "0.5".
std::optional<double> parse_fraction(std::string_view text) {
  bool percent = !text.empty() && text.back() == '%';
  if (percent) {
    text.remove_suffix(1);
  }
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return percent ? v / 100 : v;
}

// One setting, from its flag when that was given, else from the file (or absent); a failure
// names the flag (UsageError) or the file's line and key (ConfigError).
struct Setting {
  std::optional<std::string> text;
  const ConfigNode* node = nullptr;  // the map holding `key`
  std::string_view key;
  std::string_view flag;  // set when `text` is the flag's

  [[noreturn]] void fail(const std::string& why) const {
    if (!flag.empty()) {
      throw UsageError("--" + std::string(flag) + ": " + why);
    }
    node->fail(key, why);
  }
};

Setting pick(const std::string& flag_value, std::string_view flag, const ConfigNode& node,
             std::string_view key) {
  if (!flag_value.empty()) {
    return {flag_value, &node, key, flag};
  }
  return {node.string(key), &node, key, ""};
}

std::optional<milliseconds> pick_duration(const Setting& s) {
  if (!s.text) {
    return std::nullopt;
  }
  auto d = parse_duration(*s.text);
  if (!d) {
    s.fail("not a duration (like 250ms, 10s, 2m): \"" + *s.text + "\"");
  }
  return d;
}

void resolve_server(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  if (!f.listen.empty()) {
    c.listen = flag_host_port("listen", f.listen);
  } else if (auto v = file.string("listen")) {
    auto hp = parse_host_port(*v);
    if (!hp) {
      file.fail("listen", "not HOST:PORT: \"" + *v + "\"");
    }
    c.listen = *hp;
  }
  if (f.threads != 0) {
    if (f.threads < 1 || f.threads > 256) {
      throw UsageError("--threads: must be from 1 to 256");
    }
    c.threads = f.threads;
  } else if (auto v = file.integer("threads", 1, 256)) {
    c.threads = static_cast<int>(*v);
  }
  ServerLimits& l = c.limits;
  l.max_body_bytes = file.bytes("max_body_bytes").value_or(l.max_body_bytes);
  l.max_header_bytes = file.bytes("max_header_bytes").value_or(l.max_header_bytes);
  if (l.max_header_bytes < 1024 || l.max_header_bytes > std::size_t{1} << 20) {
    file.fail("max_header_bytes", "must be from 1KiB to 1MiB");
  }
  l.header_timeout = file.duration("header_timeout").value_or(l.header_timeout);
  l.body_timeout = file.duration("body_timeout").value_or(l.body_timeout);
  l.idle_timeout = file.duration("idle_timeout").value_or(l.idle_timeout);
}

void resolve_merging(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  Setting merge = pick(f.merge, "merge", file, "merge");
  if (merge.text) {
    auto spec = parse_merge(*merge.text);
    if (!spec) {
      merge.fail(spec.error().message());
    }
    c.merge = *spec;
  }
  Setting split = pick(f.split, "split", file, "split");
  if (split.text) {
    auto spec = parse_split(*split.text);
    if (!spec) {
      split.fail(spec.error().message());
    }
    c.split = *spec;
  }
}

void resolve_deadlines(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  c.max_deadline = file.duration("max_deadline").value_or(c.max_deadline);
  if (c.max_deadline < milliseconds(1) || c.max_deadline > milliseconds(3'600'000)) {
    file.fail("max_deadline", "must be from 1ms to 1h");
  }
  Setting deadline = pick(f.deadline, "deadline", file, "deadline");
  c.deadline = pick_duration(deadline).value_or(c.deadline);
  if (c.deadline < milliseconds(1)) {
    deadline.fail("must be at least 1ms");
  }
  if (c.deadline > c.max_deadline) {
    deadline.fail(format_duration(c.deadline) + " is longer than max_deadline (" +
                  format_duration(c.max_deadline) + ")");
  }
  Setting fraction = pick(f.min_fraction, "min-fraction", file, "min_fraction");
  if (fraction.text) {
    auto v = parse_fraction(*fraction.text);
    if (!v) {
      fraction.fail("not a fraction (like 0.5 or 50%): \"" + *fraction.text + "\"");
    }
    if (*v <= 0 || *v > 1) {
      fraction.fail("must be more than 0 and at most 1 (100%): \"" + *fraction.text + "\"");
    }
    c.min_fraction = *v;
  }
}

// --hedge's value: "off", "p95", "20ms".
void parse_hedge_after(const Setting& s, HedgeConfig& h) {
  const std::string& text = *s.text;
  if (text == "off") {
    h.mode = HedgeConfig::Mode::kOff;
  } else if (text.starts_with('p')) {
    auto q = parse_quantile(text);
    if (!q) {
      s.fail(q.error().message());
    }
    h.mode = HedgeConfig::Mode::kQuantile;
    h.quantile = *q;
  } else if (auto d = parse_duration(text)) {
    if (d->count() <= 0) {
      s.fail("a hedge after 0ms doubles every request: give a delay, a quantile or off");
    }
    h.mode = HedgeConfig::Mode::kFixed;
    h.delay = *d;
  } else {
    s.fail("not off, a quantile (like p95, p99.9) or a delay (like 20ms): \"" + text + "\"");
  }
}

// hedge: {after, budget, burst, min_samples}, or `hedge: p95` for `after` alone.
void resolve_hedge(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  ConfigNode n = file.child("hedge");
  bool short_form = n.is_scalar();
  if (n.defined() && !short_form && !n.is_map()) {
    file.fail("hedge", "expected off, p95, 20ms or {after, budget, burst, min_samples}");
  }
  if (!short_form) {
    n.warn_unknown({"after", "budget", "burst", "min_samples"});
  }
  Setting after =
      short_form ? pick(f.hedge, "hedge", file, "hedge") : pick(f.hedge, "hedge", n, "after");
  HedgeConfig& h = c.hedge;
  if (after.text) {
    parse_hedge_after(after, h);
  }
  Setting budget{std::nullopt, &n, "budget", ""};  // `hedge: p95` keeps the default budget
  if (!short_form || !f.hedge_budget.empty()) {
    budget = pick(f.hedge_budget, "hedge-budget", n, "budget");
  }
  if (budget.text) {
    auto v = parse_fraction(*budget.text);
    if (!v) {
      budget.fail("not a share (like 0.05 or 5%): \"" + *budget.text + "\"");
    }
    if (*v < 0 || *v > 1) {
      budget.fail("must be from 0 to 1 (100%): \"" + *budget.text + "\"");
    }
    h.budget = *v;
  }
  if (!f.hedge_burst.empty()) {
    double b = 0;
    auto [p, ec] =
        std::from_chars(f.hedge_burst.data(), f.hedge_burst.data() + f.hedge_burst.size(), b);
    if (ec != std::errc() || p != f.hedge_burst.data() + f.hedge_burst.size() || b < 1 || b > 1e6) {
      throw UsageError("--hedge-burst: must be a number from 1 to 1000000, not \"" + f.hedge_burst +
                       "\"");
    }
    h.burst = b;
  }
  if (!short_form) {
    if (auto b = n.number("burst"); b && f.hedge_burst.empty()) {
      if (*b < 1 || *b > 1e6) {
        n.fail("burst", "must be from 1 to 1000000");
      }
      h.burst = *b;
    }
    // The latency window of a shard holds 1024 answers (hedge.hpp).
    h.min_samples =
        static_cast<std::size_t>(n.integer("min_samples", 1, 1024).value_or(h.min_samples));
  }
}

// Headers the root sets itself, or that frame the message: never copied from the client.
bool managed_header(std::string_view name) {
  static constexpr std::string_view kManaged[] = {
      "host", "content-length", "transfer-encoding",    "connection",  "keep-alive", "upgrade",
      "te",   "trailer",        "x-tender-deadline-ms", "content-type"};
  const std::string lower = ascii_lower(name);
  return std::find(std::begin(kManaged), std::end(kManaged), lower) != std::end(kManaged);
}

// An empty optional when `name` is fine; otherwise why not.
std::optional<std::string> bad_header(std::string_view name) {
  static constexpr std::string_view kTokenChars = "!#$%&'*+-.^_`|~";
  bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
           kTokenChars.find(ch) != std::string_view::npos;
  });
  if (!token) {
    return "not a header name: \"" + std::string(name) + "\"";
  }
  if (managed_header(name)) {
    return std::string(name) +
           " is not passed on: the root sets it (Content-Type and the deadline always go)";
  }
  return std::nullopt;
}

void add_header(std::vector<std::string>& list, const std::string& name) {
  auto same = [&](const std::string& h) {
    return std::equal(h.begin(), h.end(), name.begin(), name.end(),
                      [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
  };
  if (std::none_of(list.begin(), list.end(), same)) {
    list.push_back(name);
  }
}

void resolve_leaf_requests(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  c.retries = static_cast<int>(file.integer("retries", 0, 5).value_or(c.retries));
  Setting timing = pick(f.timing, "timing", file, "timing");
  if (timing.text) {
    if (*timing.text == "off") {
      c.timing = Timing::kOff;
    } else if (*timing.text == "header") {
      c.timing = Timing::kHeader;
    } else if (*timing.text == "wrapper") {
      c.timing = Timing::kWrapper;
    } else {
      timing.fail("not one of off, header, wrapper: \"" + *timing.text + "\"");
    }
  }
  // A list given replaces the default one.
  if (!f.pass_headers.empty()) {
    c.pass_headers.clear();
    for (const auto& h : f.pass_headers) {
      if (auto why = bad_header(h)) {
        throw UsageError("--pass-header: " + *why);
      }
      add_header(c.pass_headers, h);
    }
  } else if (file.has("pass_headers")) {
    ConfigNode n = file.child("pass_headers");
    std::vector<ConfigNode> items = n.is_scalar() ? std::vector<ConfigNode>{n} : n.items();
    c.pass_headers.clear();
    for (const auto& item : items) {
      std::string h = item.as_string();
      if (auto why = bad_header(h)) {
        item.fail("", *why);
      }
      add_header(c.pass_headers, h);
    }
  }
  c.max_answer_bytes = file.bytes("max_answer_bytes").value_or(c.max_answer_bytes);
  if (f.max_leaf_requests >= 0) {
    if (f.max_leaf_requests > 1'000'000) {
      throw UsageError("--max-leaf-requests: must be from 0 (no limit) to 1000000");
    }
    c.max_leaf_requests = static_cast<std::uint32_t>(f.max_leaf_requests);
  } else if (auto v = file.integer("max_leaf_requests", 0, 1'000'000)) {
    c.max_leaf_requests = static_cast<std::uint32_t>(*v);
  }
  if (c.max_answer_bytes < 1024 || c.max_answer_bytes > std::size_t{1} << 30) {
    file.fail("max_answer_bytes", "must be from 1KiB to 1GiB");
  }
}

boost::json::object shard_json(const ClusterConfig& c, const boost::json::object& replicas) {
  boost::json::object o{{"name", c.name}};
  for (auto& kv : upstream::source_json(c)) {
    o[kv.key()] = std::move(kv.value());
  }
  boost::json::object own = upstream::settings_json(c);
  if (own != replicas) {  // only a shard that sets its own says so
    o["settings"] = std::move(own);
  }
  return o;
}

}  // namespace

Result<double> parse_quantile(std::string_view text) {
  auto bad = [&] {
    return invalid_argument("not a quantile (like p50, p95, p99.9): \"" + std::string(text) + "\"");
  };
  if (text.size() < 2 || text[0] != 'p') {
    return bad();
  }
  std::string_view digits = text.substr(1);
  if (!std::all_of(digits.begin(), digits.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.';
      })) {
    return bad();
  }
  double v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) {
    return bad();
  }
  if (v <= 0 || v >= 100) {
    return invalid_argument("a quantile is above p0 and below p100: \"" + std::string(text) + "\"");
  }
  return v / 100;
}

std::string HedgeConfig::str() const {
  switch (mode) {
    case Mode::kOff:
      return "off";
    case Mode::kFixed:
      return format_duration(delay);
    case Mode::kQuantile: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "p%.6g", quantile * 100);
      return buf;
    }
  }
  return "off";
}

ScatterConfig resolve_scatter(const ScatterFlags& flags, const ConfigNode& file) {
  file.warn_unknown({"admin",
                     "admin_allow_hosts",
                     "grace",
                     "log_level",
                     "log_format",
                     "listen",
                     "threads",
                     "max_body_bytes",
                     "max_header_bytes",
                     "header_timeout",
                     "body_timeout",
                     "idle_timeout",
                     "leaves",
                     "shards",
                     "shard_set",
                     "replicas",
                     "merge",
                     "split",
                     "deadline",
                     "max_deadline",
                     "min_fraction",
                     "hedge",
                     "retries",
                     "timing",
                     "pass_headers",
                     "max_answer_bytes",
                     "max_leaf_requests"});
  ScatterConfig c;
  c.path = file.defined() ? file.file() : "";
  resolve_server(flags, file, c);
  resolve_shards(flags, file, c);
  resolve_merging(flags, file, c);
  resolve_deadlines(flags, file, c);
  resolve_hedge(flags, file, c);
  resolve_leaf_requests(flags, file, c);
  return c;
}

boost::json::object ScatterConfig::to_json() const {
  boost::json::object replicas_json = upstream::settings_json(replicas);
  boost::json::array shard_list;
  for (const auto& s : shards) {
    shard_list.push_back(shard_json(s, replicas_json));
  }
  boost::json::value set;
  switch (shard_set) {
    case ShardSet::kList:
      set = "list";
      break;
    case ShardSet::kDns:
      set = {{"dns", shard_dns.str()}, {"dns_refresh", format_duration(dns_refresh)}};
      break;
    case ShardSet::kFile:
      set = {{"file", shard_file}};
      break;
  }
  boost::json::array headers;
  for (const auto& h : pass_headers) {
    headers.emplace_back(h);
  }
  return {{"listen", listen.str()},
          {"threads", threads},
          {"max_body_bytes", limits.max_body_bytes},
          {"max_header_bytes", limits.max_header_bytes},
          {"header_timeout", format_duration(limits.header_timeout)},
          {"body_timeout", format_duration(limits.body_timeout)},
          {"idle_timeout", format_duration(limits.idle_timeout)},
          {"shard_set", std::move(set)},
          {"shards", std::move(shard_list)},
          {"replicas", std::move(replicas_json)},
          {"merge", merge.str()},
          {"split", split.str()},
          {"deadline", format_duration(deadline)},
          {"max_deadline", format_duration(max_deadline)},
          {"min_fraction", min_fraction},
          {"hedge",
           {{"after", hedge.str()},
            {"budget", hedge.budget},
            {"burst", hedge.burst},
            {"min_samples", hedge.min_samples}}},
          {"retries", retries},
          {"timing", timing_name(timing)},
          {"pass_headers", std::move(headers)},
          {"max_answer_bytes", max_answer_bytes},
          {"max_leaf_requests", max_leaf_requests},
          {"config", path}};
}

}  // namespace tender::scatter

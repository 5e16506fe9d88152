#include "adapter/statsd_mapping.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <charconv>
#include <cmath>
#include <regex>

#include "core/metrics.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

bool metric_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

bool digit(char c) { return c >= '0' && c <= '9'; }

// A template: literal text and group references ($1, ${1}; $$ is a '$').
struct Template {
  struct Piece {
    std::string literal;
    int group = -1;
  };
  std::vector<Piece> pieces;

  void expand(const std::vector<std::string_view>& groups, std::string& out) const {
    for (const auto& p : pieces) {
      if (p.group < 0) {
        out += p.literal;
      } else if (static_cast<std::size_t>(p.group) < groups.size()) {
        out += groups[static_cast<std::size_t>(p.group)];
      }
    }
  }
};

Template parse_template(const ConfigNode& at, std::string_view key, const std::string& text,
                        int groups) {
  Template t;
  std::string lit;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      lit += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      lit += '$';
      ++i;
      continue;
    }
    std::size_t start = i + 1;
    bool braced = start < text.size() && text[start] == '{';
    if (braced) {
      ++start;
    }
    std::size_t end = start;
    while (end < text.size() && digit(text[end])) {
      ++end;
    }
    if (end == start || (braced && (end >= text.size() || text[end] != '}'))) {
      at.fail(key, "\"" + text + "\": '$' is followed by a group number ($1, ${1}) or '$'");
    }
    int n = 0;
    std::from_chars(text.data() + start, text.data() + end, n);
    if (n < 1 || n > groups) {
      at.fail(key, "\"" + text + "\": $" + std::to_string(n) +
                       " is not a group of the match (it has " + std::to_string(groups) + ")");
    }
    if (!lit.empty()) {
      t.pieces.push_back({std::move(lit), -1});
      lit.clear();
    }
    t.pieces.push_back({"", n - 1});
    i = braced ? end : end - 1;
  }
  if (!lit.empty()) {
    t.pieces.push_back({std::move(lit), -1});
  }
  return t;
}

// A glob: components split by '.', each literal pieces around '*'s.
struct Glob {
  std::vector<std::vector<std::string>> components;
  int stars = 0;

  static Glob parse(const ConfigNode& at, const std::string& text) {
    Glob g;
    if (text.empty()) {
      at.fail("match", "an empty glob");
    }
    for (char c : text) {
      if (!(metric_char(c) || c == '.' || c == '*' || c == '-')) {
        at.fail("match", "\"" + text +
                             "\": a glob holds [a-zA-Z0-9_:-], '.' and '*' (for a "
                             "pattern, match_type: regex)");
      }
    }
    std::string_view rest = text;
    for (;;) {
      std::size_t dot = rest.find('.');
      std::string_view comp = rest.substr(0, dot);
      std::vector<std::string> pieces(1);
      for (char c : comp) {
        if (c == '*') {
          pieces.emplace_back();
          ++g.stars;
        } else {
          pieces.back() += c;
        }
      }
      g.components.push_back(std::move(pieces));
      if (dot == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(dot + 1);
    }
    return g;
  }

  static bool match_component(const std::vector<std::string>& pieces, std::string_view text,
                              std::vector<std::string_view>& groups) {
    if (pieces.size() == 1) {
      return text == pieces[0];
    }
    const std::string& first = pieces.front();
    const std::string& last = pieces.back();
    if (text.size() < first.size() + last.size() || text.substr(0, first.size()) != first ||
        text.substr(text.size() - last.size()) != last) {
      return false;
    }
    std::size_t pos = first.size();
    const std::size_t end = text.size() - last.size();
    for (std::size_t i = 1; i + 1 < pieces.size(); ++i) {
      std::size_t at = text.substr(0, end).find(pieces[i], pos);
      if (at == std::string_view::npos) {
        return false;
      }
      groups.push_back(text.substr(pos, at - pos));
      pos = at + pieces[i].size();
    }
    groups.push_back(text.substr(pos, end - pos));
    return true;
  }

  bool match(std::string_view name, std::vector<std::string_view>& groups) const {
    groups.clear();
    for (std::size_t i = 0; i < components.size(); ++i) {
      std::size_t dot = name.find('.');
      bool last = i + 1 == components.size();
      if (last != (dot == std::string_view::npos)) {
        return false;
      }
      if (!match_component(components[i], name.substr(0, dot), groups)) {
        return false;
      }
      if (!last) {
        name.remove_prefix(dot + 1);
      }
    }
    return true;
  }
};

double number_of(const ConfigNode& n) {
  std::string s = n.as_string();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    if (s == "+Inf" || s == "+inf" || s == "inf" || s == ".inf") {
      return INFINITY;
    }
    n.fail("", "not a number: \"" + s + "\"");
  }
  return v;
}

std::vector<double> parse_buckets(const ConfigNode& parent, std::string_view key) {
  ConfigNode list = parent.child(key);
  if (!list.is_sequence() || list.items().empty()) {
    parent.fail(key, "buckets are a non-empty list of increasing upper bounds");
  }
  std::vector<double> out;
  for (const auto& item : list.items()) {
    double v = number_of(item);
    if (std::isnan(v) || (!out.empty() && v <= out.back())) {
      item.fail("", "bucket bounds must be strictly increasing numbers");
    }
    out.push_back(v);
  }
  if (std::isinf(out.back()) && out.back() > 0) {
    out.pop_back();  // +Inf is always there
  }
  if (out.empty() || std::any_of(out.begin(), out.end(), [](double v) { return std::isinf(v); })) {
    parent.fail(key, "buckets need at least one finite bound");
  }
  return out;
}

std::vector<Quantile> parse_quantiles(const ConfigNode& parent, std::string_view key) {
  ConfigNode list = parent.child(key);
  if (!list.is_sequence() || list.items().empty()) {
    parent.fail(key, "quantiles are a non-empty list of {quantile: 0.5, error: 0.05}");
  }
  std::vector<Quantile> out;
  for (const auto& item : list.items()) {
    if (!item.is_map()) {
      item.fail("", "a quantile is {quantile: 0.5, error: 0.05}");
    }
    item.warn_unknown({"quantile", "error"});
    auto q = item.number("quantile");
    if (!q || *q < 0 || *q > 1) {
      item.fail("quantile", "a quantile between 0 and 1 is required");
    }
    double e = item.number("error").value_or(0);
    if (e < 0 || e >= 1) {
      item.fail("error", "an error between 0 and 1");
    }
    out.push_back({*q, e});
  }
  std::sort(out.begin(), out.end(),
            [](const Quantile& a, const Quantile& b) { return a.quantile < b.quantile; });
  return out;
}

bool parse_observer_type(const ConfigNode& n, std::string_view key, bool fallback) {
  auto s = n.string(key);
  if (!s || s->empty() || *s == "default") {
    return fallback;
  }
  if (*s == "summary") {
    return true;
  }
  if (*s == "histogram") {
    return false;
  }
  n.fail(key, "observer_type is histogram or summary, not \"" + *s + "\"");
}

// The options keys common to a rule and `defaults:`, over `out` (which holds the inherited).
void parse_options(const ConfigNode& n, MetricOptions& out) {
  out.summary = parse_observer_type(n, "timer_type", out.summary);
  out.summary = parse_observer_type(n, "observer_type", out.summary);
  if (n.has("buckets")) {
    out.buckets = parse_buckets(n, "buckets");
  }
  if (n.has("quantiles")) {
    out.quantiles = parse_quantiles(n, "quantiles");
  }
  if (ConfigNode h = n.child("histogram_options"); h.defined()) {
    h.warn_unknown({"buckets"});
    if (h.has("buckets")) {
      out.buckets = parse_buckets(h, "buckets");
    }
  }
  if (ConfigNode s = n.child("summary_options"); s.defined()) {
    s.warn_unknown({"quantiles", "max_age", "age_buckets", "buf_cap"});
    if (s.has("quantiles")) {
      out.quantiles = parse_quantiles(s, "quantiles");
    }
    if (auto a = s.duration("max_age")) {
      if (a->count() <= 0) {
        s.fail("max_age", "max_age is a positive duration");
      }
      out.max_age = *a;
    }
    if (auto b = s.integer("age_buckets", 1, 60)) {
      out.age_buckets = static_cast<std::size_t>(*b);
    }
    if (auto c = s.integer("buf_cap", 1, 10'000)) {
      out.buf_cap = static_cast<std::size_t>(*c);
    }
  }
  if (auto t = n.duration("ttl")) {
    out.ttl = *t;
  }
}

bool parse_match_type(const ConfigNode& n, bool fallback) {
  auto s = n.string("match_type");
  if (!s) {
    return fallback;
  }
  if (*s == "regex") {
    return true;
  }
  if (*s == "glob" || s->empty() || *s == "default") {
    return false;
  }
  n.fail("match_type", "match_type is glob or regex, not \"" + *s + "\"");
}

json::value yaml_to_json(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) {
    return nullptr;
  }
  if (n.IsScalar()) {
    return json::string(n.Scalar());
  }
  if (n.IsSequence()) {
    json::array a;
    for (const auto& e : n) {
      a.push_back(yaml_to_json(e));
    }
    return a;
  }
  json::object o;
  for (auto it = n.begin(); it != n.end(); ++it) {
    o[it->first.as<std::string>()] = yaml_to_json(it->second);
  }
  return o;
}

}  // namespace

struct StatsdMapper::Rule {
  bool regex = false;
  Glob glob;
  std::regex re;
  std::optional<StatsdKind> kind;
  bool drop = false;
  Template name;
  std::vector<std::pair<std::string, Template>> labels;
  MetricOptions options;
};

std::string sanitize_metric_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (!name.empty() && digit(name.front())) {
    out += '_';
  }
  for (char c : name) {
    out += metric_char(c) ? c : '_';
  }
  return out;
}

std::string sanitize_label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 3);
  if (!name.empty() && digit(name.front())) {
    out += '_';
  }
  for (char c : name) {
    out += (metric_char(c) && c != ':') ? c : '_';
  }
  // Reserved, whether it was sent so or became so ("..x", bytes that are not ASCII).
  if (out.starts_with("__")) {
    out.insert(0, "tag");
  }
  return out;
}

std::unique_ptr<StatsdMapper::Rule> StatsdMapper::parse_rule(const ConfigNode& m,
                                                             bool default_regex) const {
  if (!m.is_map()) {
    m.fail("", "a mapping is a map with match and name");
  }
  m.warn_unknown({"match", "name", "labels", "match_type", "match_metric_type", "observer_type",
                  "timer_type", "histogram_options", "summary_options", "buckets", "quantiles",
                  "action", "ttl", "help"});
  auto r = std::make_unique<Rule>();
  auto match = m.string("match");
  if (!match || match->empty()) {
    m.fail("match", "every mapping needs a match");
  }
  r->regex = parse_match_type(m, default_regex);
  int groups = 0;
  if (r->regex) {
    try {
      r->re = std::regex(*match, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      m.fail("match", "\"" + *match + "\": not a regular expression: " + e.what());
    }
    groups = static_cast<int>(r->re.mark_count());
  } else {
    r->glob = Glob::parse(m, *match);
    groups = r->glob.stars;
  }
  if (auto t = m.string("match_metric_type")) {
    if (*t == "counter") {
      r->kind = StatsdKind::kCounter;
    } else if (*t == "gauge") {
      r->kind = StatsdKind::kGauge;
    } else if (*t == "observer" || *t == "timer") {
      r->kind = StatsdKind::kObserver;
    } else {
      m.fail("match_metric_type", "counter, gauge or observer, not \"" + *t + "\"");
    }
  }
  auto action = m.string("action").value_or("map");
  if (action == "drop") {
    r->drop = true;
  } else if (action != "map") {
    m.fail("action", "action is map or drop, not \"" + action + "\"");
  }
  auto name = m.string("name");
  if (!r->drop) {
    if (!name || name->empty()) {
      m.fail("name", "a mapping needs a name (or action: drop)");
    }
    r->name = parse_template(m, "name", *name, groups);
    bool first = true;
    for (const auto& p : r->name.pieces) {
      if (p.group < 0) {
        bool bad =
            std::any_of(p.literal.begin(), p.literal.end(), [](char c) { return !metric_char(c); });
        if (bad || (first && digit(p.literal.front()))) {
          m.fail("name", "\"" + *name + "\" cannot be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
        }
      }
      first = false;
    }
  }
  if (ConfigNode labels = m.child("labels"); labels.defined()) {
    if (!labels.is_map()) {
      m.fail("labels", "labels is a map of label name to value");
    }
    for (const auto& k : labels.keys()) {
      if (!is_valid_label_name(k) || k == "le" || k == "quantile") {
        labels.fail(k, "\"" + k + "\" is not a label name a mapping can set");
      }
      auto v = labels.string(k).value_or("");
      r->labels.emplace_back(k, parse_template(labels, k, v, groups));
    }
    std::sort(r->labels.begin(), r->labels.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  r->options = defaults_;
  parse_options(m, r->options);
  r->options.help = m.string("help").value_or("");
  return r;
}

StatsdMapper::StatsdMapper(const ConfigNode& mappings, const ConfigNode& defaults) {
  defaults_.buckets.assign(std::begin(kStatsdDefaultBuckets), std::end(kStatsdDefaultBuckets));
  defaults_.quantiles = {{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}};
  bool default_regex = false;
  if (defaults.defined()) {
    if (!defaults.is_map()) {
      defaults.fail("", "defaults is a map");
    }
    defaults.warn_unknown({"observer_type", "timer_type", "match_type", "glob_disable_ordering",
                           "buckets", "quantiles", "histogram_options", "summary_options", "ttl"});
    parse_options(defaults, defaults_);
    default_regex = parse_match_type(defaults, false);
  }
  if (mappings.defined() && !mappings.is_sequence()) {
    mappings.fail("", "mappings is a list");
  }
  for (const auto& m : mappings.items()) {
    rules_.push_back(parse_rule(m, default_regex));
    expires_ = expires_ || rules_.back()->options.ttl.count() > 0;
  }
  expires_ = expires_ || defaults_.ttl.count() > 0;
}

StatsdMapper::~StatsdMapper() = default;

void StatsdMapper::map(std::string_view name, StatsdKind kind, MapOutcome& out) const {
  out.drop = false;
  out.name.clear();
  out.labels.clear();
  out.options = &defaults_;
  std::vector<std::string_view> groups;
  std::match_results<std::string_view::const_iterator> m;
  for (const auto& r : rules_) {
    if (r->kind && *r->kind != kind) {
      continue;
    }
    if (r->regex) {
      if (!std::regex_search(name.begin(), name.end(), m, r->re)) {
        continue;
      }
      groups.clear();
      for (std::size_t i = 1; i < m.size(); ++i) {
        groups.emplace_back(m[static_cast<int>(i)].first, m[static_cast<int>(i)].second);
      }
    } else if (!r->glob.match(name, groups)) {
      continue;
    }
    if (r->drop) {
      out.drop = true;
      return;
    }
    std::string raw;
    r->name.expand(groups, raw);
    out.name = sanitize_metric_name(raw);
    for (const auto& [k, t] : r->labels) {
      std::string v;
      t.expand(groups, v);
      out.labels.emplace_back(k, std::move(v));
    }
    out.options = &r->options;
    return;
  }
  out.name = sanitize_metric_name(name);
}

StatsdSettings parse_statsd_settings(const ConfigNode& settings, const SourceDefaults& defaults) {
  settings.warn_unknown({"udp", "tcp", "read_buffer", "max_line_bytes", "max_connections",
                         "max_series", "set_window", "max_set_members", "mappings", "defaults"});
  StatsdSettings s;
  s.max_series_per_metric = defaults.max_series_per_metric;
  auto address = [&](std::string_view key) -> std::optional<HostPort> {
    auto v = settings.string(key);
    if (!v || v->empty()) {
      return std::nullopt;
    }
    auto hp = parse_host_port(*v);
    if (!hp) {
      settings.fail(key, "not HOST:PORT: \"" + *v + "\"");
    }
    return hp;
  };
  s.udp = address("udp");
  s.tcp = address("tcp");
  if (!s.udp && !s.tcp) {
    settings.fail("", "a statsd source listens on udp, tcp or both (HOST:PORT)");
  }
  if (auto b = settings.bytes("read_buffer")) {
    if (*b < 4096 || *b > (std::uint64_t{1} << 30)) {
      settings.fail("read_buffer", "read_buffer is between 4KiB and 1GiB");
    }
    s.read_buffer = *b;
  }
  if (auto b = settings.bytes("max_line_bytes")) {
    if (*b < 64 || *b > (std::uint64_t{16} << 20)) {
      settings.fail("max_line_bytes", "max_line_bytes is between 64 and 16MiB");
    }
    s.max_line_bytes = *b;
  }
  if (auto n = settings.integer("max_connections", 1, 65'536)) {
    s.max_connections = static_cast<std::size_t>(*n);
  }
  if (auto n = settings.integer("max_series", 1, 100'000'000)) {
    s.max_series = static_cast<std::size_t>(*n);
  }
  if (auto d = settings.duration("set_window")) {
    if (d->count() <= 0) {
      settings.fail("set_window", "set_window is a positive duration");
    }
    s.set_window = *d;
  }
  if (auto n = settings.integer("max_set_members", 1, 10'000'000)) {
    s.max_set_members = static_cast<std::size_t>(*n);
  }
  s.mapper =
      std::make_shared<const StatsdMapper>(settings.child("mappings"), settings.child("defaults"));
  json::object& j = s.json;
  j["udp"] = s.udp ? s.udp->str() : "";
  j["tcp"] = s.tcp ? s.tcp->str() : "";
  j["read_buffer"] = s.read_buffer;
  j["max_line_bytes"] = s.max_line_bytes;
  j["max_connections"] = s.max_connections;
  j["max_series_per_metric"] = s.max_series_per_metric;
  j["max_series"] = s.max_series;
  j["set_window"] = format_duration(s.set_window);
  j["max_set_members"] = s.max_set_members;
  j["mappings"] = yaml_to_json(settings.child("mappings").yaml());
  j["defaults"] = yaml_to_json(settings.child("defaults").yaml());
  return s;
}

}  // namespace tender::adapter

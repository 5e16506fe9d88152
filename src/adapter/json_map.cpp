#include "adapter/json_map.hpp"

#include <boost/json/parser.hpp>
#include <boost/json/stream_parser.hpp>
#include <charconv>
#include <set>

#include "core/metrics.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

JsonPath path_at(const ConfigNode& node, std::string_view key, const std::string& text) {
  auto p = JsonPath::parse(text);
  if (!p) {
    node.fail(key, "not a path: \"" + text + "\": " + p.error().message());
  }
  return std::move(*p);
}

std::map<std::string, double, std::less<>> number_map(const ConfigNode& node) {
  std::map<std::string, double, std::less<>> out;
  for (const auto& k : node.keys()) {
    auto n = node.number(k);
    if (!n) {
      node.fail(k, "a number");
    }
    out[k] = *n;
  }
  return out;
}

std::vector<JsonLabel> parse_labels(const ConfigNode& m, const Labels& static_labels) {
  std::vector<JsonLabel> out;
  ConfigNode labels = m.child("labels");
  if (!labels.defined()) {
    return out;
  }
  if (!labels.is_map()) {
    m.fail("labels", "a map of label names to values: a literal, '{.field}' or '{$.path}'");
  }
  for (const auto& name : labels.keys()) {
    if (!is_valid_label_name(name)) {
      labels.fail(name, "not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no __)");
    }
    for (const auto& [s, v] : static_labels) {
      if (s == name) {
        labels.fail(name, "the source's labels already set " + name);
      }
    }
    if (labels.child(name).defined() && !labels.child(name).is_scalar()) {
      labels.fail(name, "a string: a literal, '{.field}' or '{$.path}'");
    }
    JsonLabel l;
    l.name = name;
    std::string text = labels.string(name).value_or("");
    if (text == "{@key}") {
      l.kind = JsonLabel::Kind::kKey;
    } else if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
      l.kind = JsonLabel::Kind::kPath;
      l.path = path_at(labels, name, text);
    } else {
      l.literal = std::move(text);
    }
    out.push_back(std::move(l));
  }
  return out;
}

// A metric or sample name suffix: [a-zA-Z0-9_:]+.
bool suffix_ok(std::string_view s) {
  return !s.empty() && is_valid_metric_name("a" + std::string(s));
}

// The values of a `type: object` metric, with their converters.
void parse_object_values(const ConfigNode& m, const ConfigNode& conv, const ConfigNode& values,
                         JsonMetric& out) {
  if (!values.is_map() || values.keys().empty()) {
    m.fail("values",
           "type: object needs values: a map of name suffixes to relative paths, e.g. "
           "{active: .active}");
  }
  std::map<std::string, double, std::less<>> common;
  std::map<std::string, ConfigNode, std::less<>> per_value;
  for (const auto& k : conv.keys()) {
    if (conv.child(k).is_map()) {
      per_value.emplace(k, conv.child(k));
    } else if (auto n = conv.number(k)) {
      common[k] = *n;
    }
  }
  for (const auto& suffix : values.keys()) {
    if (!suffix_ok(suffix)) {
      values.fail(suffix, "not a metric name suffix ([a-zA-Z0-9_:]+)");
    }
    auto text = values.string(suffix);
    if (!text) {
      values.fail(suffix, "a relative path, e.g. .active");
    }
    JsonValue v{.family = out.name + "_" + suffix,
                .path = path_at(values, suffix, *text),
                .converter = common};
    if (auto p = per_value.find(suffix); p != per_value.end()) {
      for (auto& [s, n] : number_map(p->second)) {
        v.converter[s] = n;
      }
      per_value.erase(p);
    }
    out.values.push_back(std::move(v));
  }
  if (!per_value.empty()) {
    conv.fail(per_value.begin()->first, "not one of this metric's values");
  }
}

JsonMetric parse_metric(const ConfigNode& m, const Labels& static_labels) {
  if (!m.is_map()) {
    m.fail("", "a metric is a map: name, path, and optionally help, type, labels, values");
  }
  m.warn_unknown(
      {"name", "help", "type", "path", "labels", "values", "value_converter", "value_type"});
  JsonMetric out;
  out.line = m.line();
  auto name = m.string("name");
  if (!name || !is_valid_metric_name(*name)) {
    m.fail("name", name ? "not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*): \"" + *name + "\""
                        : "every metric needs a name");
  }
  out.name = *name;
  out.help = m.string("help").value_or("");
  if (out.help.empty()) {  // Prometheus's linters want one
    out.help = "From " + m.string("path").value_or("") + " of the app's JSON.";
  }
  const std::string type = m.string("type").value_or("gauge");
  if (type == "object") {
    out.object = true;
  } else if (type == "counter") {
    out.type = MetricType::kCounter;
  } else if (type != "gauge") {
    m.fail("type", "not a type: \"" + type + "\" (gauge, counter or object)");
  }
  if (auto vt = m.string("value_type")) {
    if (!out.object) {
      m.fail("value_type", "goes with type: object (the type of its values)");
    }
    if (*vt != "gauge" && *vt != "counter") {
      m.fail("value_type", "not a value type: \"" + *vt + "\" (gauge or counter)");
    }
    out.type = *vt == "counter" ? MetricType::kCounter : MetricType::kGauge;
  }
  auto path = m.string("path");
  if (!path) {
    m.fail("path", "every metric needs a path, e.g. $.stats.requests");
  }
  out.path = path_at(m, "path", *path);
  out.labels = parse_labels(m, static_labels);
  ConfigNode conv = m.child("value_converter");
  if (conv.defined() && !conv.is_map()) {
    m.fail("value_converter", "a map of strings to numbers, e.g. {up: 1, down: 0}");
  }
  ConfigNode values = m.child("values");
  if (!out.object) {
    if (values.defined()) {
      m.fail("values", "values go with type: object");
    }
    out.values.push_back(JsonValue{.family = out.name, .path = {}, .converter = number_map(conv)});
    return out;
  }
  parse_object_values(m, conv, values, out);
  return out;
}

// A JSON scalar as a label value; nullopt for an object or array.
std::optional<std::string> label_text(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::int64:
      return std::to_string(v.get_int64());
    case json::kind::uint64:
      return std::to_string(v.get_uint64());
    case json::kind::double_: {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
      return std::string(buf, ec == std::errc() ? end : buf);
    }
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::null:
      return std::string();
    case json::kind::object:
    case json::kind::array:
      break;
  }
  return std::nullopt;
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::string:
      return "a string";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::null:
      return "null";
    default:
      return "a number";
  }
}

class Mapper {
 public:
  Mapper(const JsonMapping& mapping, const json::value& doc) : mapping_(mapping), doc_(doc) {}

  JsonMapped run() && {
    for (const auto& m : mapping_.metrics) {
      if (m.object) {
        map_object(m);
      } else {
        map_values(m);
      }
    }
    for (auto& f : out_.families) {
      drop_ambiguous(f);
    }
    std::erase_if(out_.families, [](const Family& f) { return f.samples.empty(); });
    return std::move(out_);
  }

 private:
  void problem(const JsonMetric& m, std::uint64_t n, const std::string& why) {
    out_.invalid += n;
    out_.last_problem = m.name + " (line " + std::to_string(m.line) + "): " + why;
  }

  Family& family(const JsonMetric& m, const std::string& name) {
    auto [it, added] = index_.emplace(name, out_.families.size());
    if (added) {
      out_.families.push_back(Family{.name = name, .type = m.type, .help = m.help});
    }
    return out_.families[it->second];
  }

  // The labels of a series whose context is `context` (key `key`); nullopt when one cannot be
  // read (counted).
  std::optional<Labels> labels(const JsonMetric& m, const json::value& context,
                               const std::string& key) {
    Labels out;
    std::vector<JsonMatch> got;
    for (const auto& l : m.labels) {
      switch (l.kind) {
        case JsonLabel::Kind::kLiteral:
          out.emplace_back(l.name, l.literal);
          break;
        case JsonLabel::Kind::kKey:
          out.emplace_back(l.name, key);
          break;
        case JsonLabel::Kind::kPath: {
          got.clear();
          l.path.select(doc_, context, got);
          if (got.size() > 1) {
            problem(m, 1,
                    "label " + l.name + ": " + l.path.text() + " selects " +
                        std::to_string(got.size()) + " values");
            return std::nullopt;
          }
          std::optional<std::string> text =
              got.empty() ? std::string() : label_text(*got.front().value);
          if (!text) {
            problem(m, 1,
                    "label " + l.name + ": " + l.path.text() + " is " +
                        std::string(kind_name(*got.front().value)));
            return std::nullopt;
          }
          out.emplace_back(l.name, std::move(*text));
          break;
        }
      }
    }
    out.insert(out.end(), mapping_.static_labels.begin(), mapping_.static_labels.end());
    return out;
  }

  // Adds a sample of `v`'s family from `value`, or counts why not.
  void sample(const JsonMetric& m, const JsonValue& v, const json::value* value,
              const Labels& labels) {
    if (value == nullptr || value->is_null()) {
      ++out_.missing;
      return;
    }
    double number = 0;
    switch (value->kind()) {
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_:
        number = value->to_number<double>();
        break;
      case json::kind::bool_:
        number = value->get_bool() ? 1 : 0;
        break;
      case json::kind::string: {
        const std::string_view s = value->get_string();
        if (auto c = v.converter.find(s); c != v.converter.end()) {
          number = c->second;
          break;
        }
        std::string_view digits = s.starts_with('+') ? s.substr(1) : s;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
          problem(m, 1,
                  v.family + ": \"" + std::string(s.substr(0, 64)) +
                      "\" is not a number and value_converter has no entry for it");
          return;
        }
        break;
      }
      default:
        problem(m, 1, v.family + ": the value is " + std::string(kind_name(*value)));
        return;
    }
    family(m, v.family)
        .samples.push_back(Sample{.name = v.family, .labels = labels, .value = number});
  }

  void map_values(const JsonMetric& m) {
    std::vector<JsonMatch> got;
    m.path.select(doc_, doc_, got);
    if (got.empty()) {
      ++out_.missing;
      return;
    }
    for (const auto& g : got) {
      auto l = labels(m, g.parent != nullptr ? *g.parent : doc_, g.key);
      if (l) {
        sample(m, m.values.front(), g.value, *l);
      }
    }
  }

  void map_object(const JsonMetric& m) {
    std::vector<JsonMatch> got;
    m.path.select(doc_, doc_, got);
    if (got.empty()) {
      out_.missing += m.values.size();
      return;
    }
    std::vector<JsonMatch> elements;
    for (const auto& g : got) {
      if (const auto* a = g.value->if_array()) {
        for (std::size_t i = 0; i < a->size(); ++i) {
          elements.push_back({&(*a)[i], g.value, std::to_string(i)});
        }
      } else if (g.value->is_object()) {
        elements.push_back(g);
      } else if (!g.value->is_null()) {
        problem(m, m.values.size(),
                m.path.text() + " selects " + std::string(kind_name(*g.value)) +
                    ", not an array or object");
      } else {
        out_.missing += m.values.size();
      }
    }
    std::vector<JsonMatch> value;
    for (const auto& e : elements) {
      auto l = labels(m, *e.value, e.key);
      if (!l) {
        continue;
      }
      for (const auto& v : m.values) {
        value.clear();
        v.path.select(doc_, *e.value, value);
        if (value.size() > 1) {
          problem(m, 1,
                  v.family + ": " + v.path.text() + " selects " + std::to_string(value.size()) +
                      " values in one element");
          continue;
        }
        sample(m, v, value.empty() ? nullptr : value.front().value, *l);
      }
    }
  }

  // Samples of one family with the same labels cannot be told apart: none of them is kept.
  void drop_ambiguous(Family& f) {
    if (f.samples.size() < 2) {
      return;
    }
    std::map<Labels, std::size_t> count;
    for (const auto& s : f.samples) {
      Labels key = s.labels;
      std::sort(key.begin(), key.end());
      ++count[key];
    }
    std::size_t dropped = 0;
    std::erase_if(f.samples, [&](const Sample& s) {
      Labels key = s.labels;
      std::sort(key.begin(), key.end());
      const bool twice = count[key] > 1;
      dropped += twice ? 1 : 0;
      return twice;
    });
    if (dropped > 0) {
      out_.invalid += dropped;
      out_.last_problem = f.name + ": " + std::to_string(dropped) +
                          " values with the same labels (give labels that tell them apart)";
    }
  }

  const JsonMapping& mapping_;
  const json::value& doc_;
  JsonMapped out_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace

JsonMapping parse_json_mapping(const ConfigNode& settings, Labels static_labels) {
  JsonMapping out;
  out.static_labels = std::move(static_labels);
  ConfigNode metrics = settings.child("metrics");
  if (!metrics.is_sequence() || metrics.items().empty()) {
    settings.fail("metrics", "a json source needs metrics: a list of {name, path, ...}");
  }
  std::map<std::string, MetricType, std::less<>> types;
  for (const auto& m : metrics.items()) {
    JsonMetric metric = parse_metric(m, out.static_labels);
    for (const auto& v : metric.values) {
      auto [it, added] = types.emplace(v.family, metric.type);
      if (!added && it->second != metric.type) {
        m.fail("name",
               "another metric named " + v.family + " is a " + std::string(type_name(it->second)));
      }
    }
    out.metrics.push_back(std::move(metric));
  }
  return out;
}

JsonMapped map_json(const JsonMapping& mapping, const json::value& doc) {
  return Mapper(mapping, doc).run();
}

Result<json::value> parse_json_document(std::string_view body) {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  json::stream_parser p(json::storage_ptr(), options);
  boost::system::error_code ec;
  std::size_t used = p.write_some(body.data(), body.size(), ec);
  if (!ec && used < body.size()) {
    ec = json::error::extra_data;
  }
  if (!ec) {
    p.finish(ec);
  }
  if (ec) {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < used && i < body.size(); ++i) {
      if (body[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return Error(std::errc::bad_message, "json: line " + std::to_string(line) + ", column " +
                                             std::to_string(column) + ": " + ec.message());
  }
  json::value doc = p.release();
  if (!doc.is_object() && !doc.is_array()) {
    return Error(std::errc::bad_message, "json: the document is " + std::string(kind_name(doc)) +
                                             ", not an object or array");
  }
  return doc;
}

}  // namespace tender::adapter

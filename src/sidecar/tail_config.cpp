#include "sidecar/tail_config.hpp"

#include <set>

#include "core/cli.hpp"
#include "core/file_watch.hpp"

namespace tender::sidecar {

namespace {

bool has_wildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// validate()'s message names the option it is about ("regex: ...", "multiline_start: ..."):
// the config key to report it at, and the reason without the name.
std::pair<std::string, std::string> invalid_option(const std::string& message) {
  for (std::string_view key : {"multiline_start", "max_record_bytes", "max_lines", "regex"}) {
    std::string prefix = std::string(key) + ": ";
    if (message.starts_with(prefix)) {
      std::string config_key = key == "regex"       ? "parse"
                               : key == "max_lines" ? "multiline_max_lines"
                                                    : std::string(key);
      return {config_key, message.substr(prefix.size())};
    }
  }
  return {"parse", message};
}

Labels parse_label_flags(const std::vector<std::string>& flags) {
  Labels labels;
  for (const std::string& f : flags) {
    auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--label " + f + ": expected KEY=VALUE");
    }
    labels[f.substr(0, eq)] = f.substr(eq + 1);
  }
  return labels;
}

Labels parse_labels(const ConfigNode& node, std::string_view key) {
  Labels labels;
  ConfigNode map = node.child(key);
  if (!map.defined()) {
    return labels;
  }
  if (!map.is_map()) {
    node.fail(key, "expected a map of label names to values");
  }
  for (const std::string& name : map.keys()) {
    labels[name] = map.string(name).value_or("");
  }
  return labels;
}

bool parse_read_from(const std::string& text, const std::function<void(const std::string&)>& bad) {
  if (text == "head" || text.empty()) {
    return false;
  }
  if (text == "tail") {
    return true;
  }
  bad("expected head or tail, not \"" + text + "\"");
  return false;
}

RecordFormat parse_format(const std::string& text,
                          const std::function<void(const std::string&)>& bad) {
  if (text == "raw") {
    return RecordFormat::kRaw;
  }
  if (text != "json") {
    bad("expected raw or json, not \"" + text + "\"");
  }
  return RecordFormat::kJson;
}

// One input from a config file's `inputs` entry (or the flags' input, `node` undefined).
Input input_from(const ConfigNode& node, const TailConfig& cfg, std::size_t index) {
  node.warn_unknown({"name", "paths", "path", "read_from", "parse", "multiline_start",
                     "multiline_max_lines", "multiline_wait", "max_record_bytes", "labels",
                     "sinks"});
  Input in;
  in.name = node.string("name").value_or("input" + std::to_string(index));
  std::vector<std::string> paths = node.strings("paths").value_or(std::vector<std::string>{});
  if (auto one = node.string("path")) {
    paths.push_back(*one);
  }
  if (paths.empty()) {
    node.fail("paths", "an input needs at least one path (a file or a glob)");
  }
  for (const std::string& p : paths) {
    auto glob = parse_glob(p);
    if (!glob) {
      node.fail("paths", glob.error().message());
    }
    in.paths.push_back(std::move(*glob));
  }
  in.from_end = parse_read_from(node.string("read_from").value_or("head"),
                                [&](const std::string& m) { node.fail("read_from", m); });
  in.parse_text = node.string("parse").value_or("raw");
  if (auto ok = parse_mode(in.parse_text, in.records); !ok) {
    node.fail("parse", ok.error().message());
  }
  in.records.multiline_start = node.string("multiline_start").value_or("");
  if (auto n = node.integer("multiline_max_lines", 1, 1'000'000)) {
    in.records.max_lines = static_cast<std::size_t>(*n);
  }
  if (auto wait = node.duration("multiline_wait")) {
    in.records.multiline_wait_ns = std::chrono::nanoseconds(*wait).count();
  }
  if (auto max = node.bytes("max_record_bytes")) {
    in.records.max_record_bytes = static_cast<std::size_t>(*max);
  }
  if (auto ok = validate(in.records); !ok) {
    auto [key, why] = invalid_option(ok.error().message());
    node.fail(key, why);
  }
  in.labels = parse_labels(node, "labels");
  if (auto names = node.strings("sinks")) {
    for (const std::string& name : *names) {
      std::size_t i = 0;
      while (i < cfg.sinks.size() && cfg.sinks[i].name != name) {
        ++i;
      }
      if (i == cfg.sinks.size()) {
        node.fail("sinks", "no sink is named \"" + name + "\"");
      }
      in.sinks.push_back(i);
    }
  } else {
    for (std::size_t i = 0; i < cfg.sinks.size(); ++i) {
      in.sinks.push_back(i);
    }
  }
  return in;
}

void apply_file(TailConfig& cfg, const ConfigNode& file) {
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "checkpoint",
                     "inputs", "sinks", "rotate_wait", "rescan", "max_held_bytes", "max_files",
                     "retry"});
  cfg.path = file.file();
  cfg.checkpoint = file.string("checkpoint").value_or("");
  std::set<std::string> names;
  for (const ConfigNode& s : file.child("sinks").items()) {
    cfg.sinks.push_back(parse_sink(s));
    if (!names.insert(cfg.sinks.back().name).second) {
      s.fail("name", "two sinks are named \"" + cfg.sinks.back().name + "\"");
    }
  }
  std::size_t index = 0;
  for (const ConfigNode& in : file.child("inputs").items()) {
    cfg.inputs.push_back(input_from(in, cfg, index++));
  }
  if (auto d = file.duration("rotate_wait")) {
    cfg.rotate_wait = *d;
  }
  if (auto d = file.duration("rescan")) {
    if (d->count() <= 0) {
      file.fail("rescan", "must be positive");
    }
    cfg.rescan = *d;
  }
  if (auto b = file.bytes("max_held_bytes")) {
    cfg.max_held_bytes = *b;
  }
  if (auto n = file.integer("max_files", 1, 1'000'000)) {
    cfg.max_files = static_cast<std::size_t>(*n);
  }
  ConfigNode retry = file.child("retry");
  retry.warn_unknown({"initial", "max"});
  if (auto d = retry.duration("initial")) {
    cfg.retry.initial = *d;
  }
  if (auto d = retry.duration("max")) {
    cfg.retry.max = *d;
  }
  if (std::string bad = cfg.retry.validate(); !bad.empty()) {
    retry.fail("", bad);
  }
}

// The flags' one input: every --path, shipped to every sink.
void apply_flags(TailConfig& cfg, const TailFlags& f) {
  if (!f.checkpoint.empty()) {
    cfg.checkpoint = f.checkpoint;
  }
  for (const std::string& url : f.sinks) {
    cfg.sinks.push_back(parse_sink_url(url));
  }
  if (!f.format.empty()) {
    RecordFormat format =
        parse_format(f.format, [&](const std::string& m) { throw UsageError("--format: " + m); });
    for (SinkConfig& s : cfg.sinks) {
      s.format = format;
    }
  }
  Labels labels = parse_label_flags(f.labels);
  bool record_flags = !f.parse.empty() || !f.multiline_start.empty() ||
                      !f.max_record_bytes.empty() || !f.read_from.empty();
  if (f.paths.empty()) {
    if (record_flags && cfg.inputs.empty()) {
      throw UsageError(
          "--parse, --multiline-start, --max-record-bytes and --read-from need --path");
    }
    for (Input& in : cfg.inputs) {  // the flags then apply to the file's inputs
      in.labels.insert(labels.begin(), labels.end());
    }
    return;
  }
  Input in;
  in.name = "default";
  for (const std::string& p : f.paths) {
    auto glob = parse_glob(p);
    if (!glob) {
      throw UsageError("--path " + p + ": " + glob.error().message());
    }
    in.paths.push_back(std::move(*glob));
  }
  in.from_end = parse_read_from(
      f.read_from, [](const std::string& m) { throw UsageError("--read-from: " + m); });
  in.parse_text = f.parse.empty() ? "raw" : f.parse;
  if (auto ok = parse_mode(in.parse_text, in.records); !ok) {
    throw UsageError("--parse: " + ok.error().message());
  }
  in.records.multiline_start = f.multiline_start;
  if (!f.max_record_bytes.empty()) {
    in.records.max_record_bytes =
        static_cast<std::size_t>(flag_bytes("max-record-bytes", f.max_record_bytes));
  }
  if (auto ok = validate(in.records); !ok) {
    auto [key, why] = invalid_option(ok.error().message());
    std::string flag = key == "multiline_start"    ? "--multiline-start"
                       : key == "max_record_bytes" ? "--max-record-bytes"
                                                   : "--parse";
    throw UsageError(flag + ": " + why);
  }
  in.labels = std::move(labels);
  for (std::size_t i = 0; i < cfg.sinks.size(); ++i) {
    in.sinks.push_back(i);
  }
  cfg.inputs.push_back(std::move(in));
}

}  // namespace

Result<Glob> parse_glob(const std::string& text) {
  if (text.empty() || text.front() != '/') {
    return Error(std::errc::invalid_argument, "expected an absolute path, not \"" + text + "\"");
  }
  auto [dir, pattern] = split_path(text);
  Glob g{.text = text, .dir = std::move(dir), .pattern = std::move(pattern)};
  if (g.pattern.empty()) {
    return Error(std::errc::invalid_argument,
                 "\"" + text + "\" names a directory; add a file name or a glob (dir/*.log)");
  }
  if (has_wildcard(g.dir)) {
    return Error(
        std::errc::invalid_argument,
        "\"" + text + "\": wildcards may only be in the file name, not in \"" + g.dir + "\"");
  }
  return g;
}

Result<> parse_mode(const std::string& text, RecordOptions& options) {
  if (text == "raw") {
    options.parse = ParseMode::kRaw;
  } else if (text == "json") {
    options.parse = ParseMode::kJson;
  } else if (text == "logfmt") {
    options.parse = ParseMode::kLogfmt;
  } else if (text.starts_with("regex:")) {
    options.parse = ParseMode::kRegex;
    options.regex = text.substr(6);
  } else {
    return Error(std::errc::invalid_argument,
                 "expected raw, json, logfmt or regex:RE, not \"" + text + "\"");
  }
  return {};
}

TailConfig resolve_tail(const TailFlags& flags, const ConfigNode& file) {
  TailConfig cfg;
  if (file.defined()) {
    apply_file(cfg, file);
  }
  apply_flags(cfg, flags);
  if (!flags.rotate_wait.empty()) {
    cfg.rotate_wait = flag_duration("rotate-wait", flags.rotate_wait);
  }
  if (!flags.rescan.empty()) {
    cfg.rescan = flag_duration("rescan", flags.rescan);
    if (cfg.rescan.count() <= 0) {
      throw UsageError("--rescan: must be positive");
    }
  }
  if (!flags.max_held_bytes.empty()) {
    cfg.max_held_bytes = flag_bytes("max-held-bytes", flags.max_held_bytes);
  }
  if (cfg.inputs.empty()) {
    throw UsageError("nothing to follow: give --path GLOB (or inputs: in --config)");
  }
  if (cfg.sinks.empty()) {
    throw UsageError(
        "nowhere to ship: give --sink URL (stdout, file:PATH, http://..., loki://...)");
  }
  if (cfg.checkpoint.empty()) {
    throw UsageError(
        "--checkpoint FILE is required: the SQLite file where shipped offsets are kept");
  }
  return cfg;
}

boost::json::object TailConfig::json() const {
  boost::json::object o;
  o["checkpoint"] = checkpoint;
  boost::json::array ins;
  for (const Input& in : inputs) {
    boost::json::object j;
    j["name"] = in.name;
    boost::json::array paths;
    for (const Glob& g : in.paths) {
      paths.emplace_back(g.text);
    }
    j["paths"] = std::move(paths);
    j["read_from"] = in.from_end ? "tail" : "head";
    j["parse"] = in.parse_text;
    j["multiline_start"] = in.records.multiline_start;
    j["max_record_bytes"] = in.records.max_record_bytes;
    boost::json::object labels;
    for (const auto& [k, v] : in.labels) {
      labels[k] = v;
    }
    j["labels"] = std::move(labels);
    boost::json::array sink_names;
    for (std::size_t i : in.sinks) {
      sink_names.emplace_back(sinks[i].name);
    }
    j["sinks"] = std::move(sink_names);
    ins.emplace_back(std::move(j));
  }
  o["inputs"] = std::move(ins);
  boost::json::array ss;
  for (const SinkConfig& s : sinks) {
    ss.emplace_back(sink_json(s));
  }
  o["sinks"] = std::move(ss);
  o["rotate_wait_ms"] = rotate_wait.count();
  o["rescan_ms"] = rescan.count();
  o["max_held_bytes"] = max_held_bytes;
  o["max_files"] = max_files;
  return o;
}

}  // namespace tender::sidecar

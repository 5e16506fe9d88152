#include "core/config.hpp"

#include <array>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.hpp"

namespace tender {
namespace {

std::string locate(const std::string& file, int line, const std::string& field,
                   const std::string& message) {
  std::string s = file;
  if (line > 0) {
    s += ":" + std::to_string(line);
  }
  s += ": ";
  if (!field.empty()) {
    s += field + ": ";
  }
  return s + message;
}

}  // namespace

std::string read_config_text(const std::string& path, std::uint64_t max_bytes,
                             std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path, 0, "", std::string("cannot read file: ") + std::strerror(errno));
  }
  std::string text;
  std::array<char, 65536> chunk{};
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      throw ConfigError(path, 0, "",
                        "larger than " + format_bytes(max_bytes) + ", " + std::string(what));
    }
  }
  if (in.bad()) {
    throw ConfigError(path, 0, "", std::string("cannot read file: ") + std::strerror(errno));
  }
  return text;
}

ConfigError::ConfigError(std::string file, int line, std::string field, const std::string& message)
    : std::runtime_error(locate(file, line, field, message)),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)) {}

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

const std::string& ConfigNode::file() const {
  static const std::string none = "<config>";
  return file_ ? *file_ : none;
}

int ConfigNode::line() const {
  if (!node_.IsDefined()) {
    return 0;
  }
  auto m = node_.Mark();
  return m.line < 0 ? 0 : m.line + 1;
}

std::string ConfigNode::child_path(std::string_view key) const {
  if (path_.empty()) {
    return std::string(key);
  }
  if (!key.empty() && key.front() == '[') {
    return path_ + std::string(key);
  }
  return path_ + "." + std::string(key);
}

void ConfigNode::fail(std::string_view key, const std::string& message) const {
  ConfigLocation at = location(key);
  throw ConfigError(file(), at.line, at.field, message);
}

ConfigLocation ConfigNode::location(std::string_view key) const {
  if (key.empty()) {
    return {line(), path_};
  }
  int at = line();
  if (node_.IsMap()) {
    // Point at the key itself where we can.
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) {
        at = it->first.Mark().line + 1;
        break;
      }
    }
  }
  return {at, child_path(key)};
}

bool ConfigNode::has(std::string_view key) const {
  return is_map() && node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

ConfigNode ConfigNode::child(std::string_view key) const {
  if (!defined()) {
    return ConfigNode(YAML::Node(YAML::NodeType::Undefined), file_, child_path(key));
  }
  if (!node_.IsMap()) {
    fail("", "expected a mapping with key '" + std::string(key) + "'");
  }
  const YAML::Node& c = node_;
  return ConfigNode(c[std::string(key)], file_, child_path(key));
}

std::vector<ConfigNode> ConfigNode::items() const {
  std::vector<ConfigNode> out;
  if (!defined()) {
    return out;
  }
  if (!node_.IsSequence()) {
    fail("", "expected a list");
  }
  std::size_t i = 0;
  for (const auto& n : node_) {
    out.emplace_back(n, file_, child_path("[" + std::to_string(i++) + "]"));
  }
  return out;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!defined()) {
    return out;
  }
  if (!node_.IsMap()) {
    fail("", "expected a mapping");
  }
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    out.push_back(it->first.as<std::string>());
  }
  return out;
}

std::optional<ConfigNode> ConfigNode::scalar(std::string_view key) const {
  ConfigNode c = child(key);
  if (!c.defined()) {
    return std::nullopt;
  }
  if (!c.node_.IsScalar()) {
    fail(key, "expected a single value, not a list or mapping");
  }
  return c;
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar()) {
    fail("", "expected a single value, not a list or mapping");
  }
  return node_.Scalar();
}

std::optional<std::string> ConfigNode::string(std::string_view key) const {
  auto c = scalar(key);
  if (!c) {
    return std::nullopt;
  }
  return c->node_.Scalar();
}

std::optional<std::int64_t> ConfigNode::integer(std::string_view key, std::int64_t min,
                                                std::int64_t max) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) {
    fail(key, "not an integer: \"" + *s + "\"");
  }
  if (v < min || v > max) {
    fail(key, std::to_string(v) + " is out of range [" + std::to_string(min) + ", " +
                  std::to_string(max) + "]");
  }
  return v;
}

std::optional<double> ConfigNode::number(std::string_view key) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  double v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || !std::isfinite(v)) {
    fail(key, "not a number: \"" + *s + "\"");
  }
  return v;
}

std::optional<bool> ConfigNode::boolean(std::string_view key) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  if (*s == "true" || *s == "True" || *s == "yes" || *s == "on") {
    return true;
  }
  if (*s == "false" || *s == "False" || *s == "no" || *s == "off") {
    return false;
  }
  fail(key, "not a boolean (true or false): \"" + *s + "\"");
}

std::optional<std::chrono::milliseconds> ConfigNode::duration(std::string_view key) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  auto d = parse_duration(*s);
  if (!d) {
    fail(key, "not a duration (like 250ms, 10s, 2m): \"" + *s + "\"");
  }
  return d;
}

std::optional<std::chrono::microseconds> ConfigNode::duration_us(std::string_view key) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  auto d = parse_duration_us(*s);
  if (!d) {
    fail(key, "not a duration (like 50us, 250ms, 10s): \"" + *s + "\"");
  }
  return d;
}

std::optional<std::uint64_t> ConfigNode::bytes(std::string_view key) const {
  auto s = string(key);
  if (!s) {
    return std::nullopt;
  }
  auto b = parse_bytes(*s);
  if (!b) {
    fail(key, "not a size (like 512, 64KiB, 8MiB): \"" + *s + "\"");
  }
  return b;
}

std::optional<std::vector<std::string>> ConfigNode::strings(std::string_view key) const {
  ConfigNode c = child(key);
  if (!c.defined()) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  if (c.is_scalar()) {
    out.push_back(c.node_.Scalar());
    return out;
  }
  for (const auto& item : c.items()) {
    out.push_back(item.as_string());
  }
  return out;
}

int ConfigNode::warn_unknown(std::initializer_list<std::string_view> known) const {
  int unknown = 0;
  if (!is_map()) {
    return 0;
  }
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string k = it->first.as<std::string>();
    bool ok = false;
    for (auto kn : known) {
      ok = ok || kn == k;
    }
    if (!ok) {
      ++unknown;
      log::warn("unknown configuration field ignored",
                {{"file", file()}, {"line", it->first.Mark().line + 1}, {"field", child_path(k)}});
    }
  }
  return unknown;
}

ConfigNode parse_config(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  try {
    return ConfigNode(YAML::Load(text), file, "");
  } catch (const YAML::Exception& e) {
    throw ConfigError(name, e.mark.line + 1, "", "invalid YAML: " + e.msg);
  }
}

ConfigNode load_config_file(const std::string& path) {
  return parse_config(read_config_text(path), path);
}

std::vector<ConfigNode> parse_config_documents(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  std::vector<ConfigNode> out;
  try {
    for (auto& doc : YAML::LoadAll(text)) {
      if (doc.IsDefined() && !doc.IsNull()) {
        out.emplace_back(doc, file, "");
      }
    }
  } catch (const YAML::Exception& e) {
    throw ConfigError(name, e.mark.line + 1, "", "invalid YAML: " + e.msg);
  }
  return out;
}

std::vector<ConfigNode> load_config_documents(const std::string& path) {
  return parse_config_documents(read_config_text(path), path);
}

}  // namespace tender

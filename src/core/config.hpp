#pragma once
// Configuration from YAML files, with errors that name the file, line and field.
//
//   ConfigNode root = load_config_file("/etc/tender/echo.yaml");   // throws ConfigError
//   root.warn_unknown({"listen", "threads", "limits"});
//   std::string listen = root.string("listen").value_or("127.0.0.1:8080");
//   auto threads = root.integer("threads", 1, 256);                  // range-checked
//   auto idle = root.child("limits").duration("idle_timeout");       // "60s", "250ms", "2m"
//
// A ConfigError prints as "echo.yaml:7: limits.idle_timeout: not a duration: \"sixty\"" and the
// entry point turns it into exit code 2.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_port.hpp"
#include "core/units.hpp"

namespace tender {

class ConfigError : public std::runtime_error {
 public:
  // `line` is 1-based; 0 means "the file as a whole".
  ConfigError(std::string file, int line, std::string field, const std::string& message);
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] int line() const { return line_; }
  [[nodiscard]] const std::string& field() const { return field_; }

 private:
  std::string file_;
  int line_;
  std::string field_;
};

// Where a field is: its line (1-based, 0 if unknown) and dotted path ("listeners[0].cluster"). A
// check made after parsing (a name that refers to something defined elsewhere) keeps one to
// point its ConfigError at the field that is wrong.
struct ConfigLocation {
  int line = 0;
  std::string field;
};

// A node of a loaded YAML document that remembers its file and its dotted field path.
// Accessors return nullopt when the key is absent (or null) and throw ConfigError when the value
// is present but wrong.
class ConfigNode {
 public:
  ConfigNode() = default;
  ConfigNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path);

  [[nodiscard]] bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  [[nodiscard]] bool is_map() const { return node_.IsDefined() && node_.IsMap(); }
  [[nodiscard]] bool is_sequence() const { return node_.IsDefined() && node_.IsSequence(); }
  [[nodiscard]] bool is_scalar() const { return node_.IsDefined() && node_.IsScalar(); }
  [[nodiscard]] bool has(std::string_view key) const;

  // The child at `key` (undefined if absent). Throws if this node is neither null nor a map.
  [[nodiscard]] ConfigNode child(std::string_view key) const;
  // Elements of a sequence (empty if undefined). Throws if this node is not a sequence.
  [[nodiscard]] std::vector<ConfigNode> items() const;
  // Keys of a map, in file order (empty if undefined).
  [[nodiscard]] std::vector<std::string> keys() const;

  [[nodiscard]] std::optional<std::string> string(std::string_view key) const;
  [[nodiscard]] std::optional<std::int64_t> integer(std::string_view key, std::int64_t min,
                                                    std::int64_t max) const;
  [[nodiscard]] std::optional<double> number(std::string_view key) const;
  [[nodiscard]] std::optional<bool> boolean(std::string_view key) const;
  [[nodiscard]] std::optional<std::chrono::milliseconds> duration(std::string_view key) const;
  // The same to the microsecond, for the few settings that need it ("50us").
  [[nodiscard]] std::optional<std::chrono::microseconds> duration_us(std::string_view key) const;
  [[nodiscard]] std::optional<std::uint64_t> bytes(std::string_view key) const;
  [[nodiscard]] std::optional<std::vector<std::string>> strings(std::string_view key) const;
  // This node itself as a scalar string; throws if it is not a scalar.
  [[nodiscard]] std::string as_string() const;

  // Logs one warning per key of this map that is not in `known`; returns how many.
  int warn_unknown(std::initializer_list<std::string_view> known) const;

  // Throws a ConfigError located at `key` (or at this node when `key` is empty).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  // Where `key` of this map is: the line of the key itself where the file has it (else this
  // node's), and its path. `key` empty: this node.
  [[nodiscard]] ConfigLocation location(std::string_view key) const;

  [[nodiscard]] int line() const;  // 1-based, 0 if unknown
  [[nodiscard]] const std::string& file() const;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const YAML::Node& yaml() const { return node_; }

 private:
  [[nodiscard]] std::string child_path(std::string_view key) const;
  [[nodiscard]] std::optional<ConfigNode> scalar(std::string_view key) const;

  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

// Configuration files are read up to this size (ConfigError beyond it): a file that is not
// what it should be (a pipe that never ends, a log) cannot take the process's memory.
inline constexpr std::uint64_t kMaxConfigBytes = std::uint64_t{4} << 20;
// The text of the file at `path`, read no further than `max_bytes` (it may be a pipe, or
// growing). Throws ConfigError naming the file when it cannot be read, or when it is larger:
// "larger than 4MiB, " + `what` (which limit, and how to raise it).
[[nodiscard]] std::string read_config_text(
    const std::string& path, std::uint64_t max_bytes = kMaxConfigBytes,
    std::string_view what = "the limit for a configuration file");

// Loads one YAML document. Throws ConfigError if the file cannot be read or parsed.
[[nodiscard]] ConfigNode load_config_file(const std::string& path);
// Parses text; `name` is used in errors.
[[nodiscard]] ConfigNode parse_config(const std::string& text, const std::string& name);
// Every document of a multi-document stream ("---" separated); null documents are skipped.
[[nodiscard]] std::vector<ConfigNode> load_config_documents(const std::string& path);
[[nodiscard]] std::vector<ConfigNode> parse_config_documents(const std::string& text,
                                                             const std::string& name);

}  // namespace tender

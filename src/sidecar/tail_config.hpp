#pragma once
// `tender tail`'s settings: flags over the --config file over defaults, checked at start so that
// a mistake is exit code 2 naming the flag, or the file's line and key. (Private.)
//
//   TailConfig cfg = resolve_tail(flags, file);     // throws UsageError / ConfigError
//
// From flags there is one input ("default": every --path, one record mode) shipped to every
// --sink. A config file may name several:
//
//   checkpoint: /var/lib/tender/tail.db
//   inputs:
//     - name: web
//       paths: ["/var/log/nginx/*.log"]
//       parse: regex:^(?<ip>\S+) ...
//       labels: {app: web}
//       sinks: [archive]            # default: every sink
//   sinks:
//     - {name: archive, url: "file:/out/all.log", max_file_bytes: 100MiB}

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/config.hpp"
#include "sidecar/records.hpp"
#include "sidecar/sink.hpp"

namespace tender::sidecar {

struct TailFlags {
  std::vector<std::string> paths;
  std::string checkpoint;
  std::vector<std::string> sinks;
  std::vector<std::string> labels;  // K=V
  std::string read_from;
  std::string parse;
  std::string multiline_start;
  std::string max_record_bytes;
  std::string format;
  std::string rotate_wait;
  std::string rescan;
  std::string max_held_bytes;
  bool check = false;
};

// One glob: the directory (literal) and the pattern of file names in it.
struct Glob {
  std::string text;  // as given
  std::string dir;
  std::string pattern;
};

struct Input {
  std::string name;
  std::vector<Glob> paths;
  // Files found at the very first start (an empty checkpoint for this input) are read from
  // their start (head) or only from their end on (tail). Later files are always read whole.
  bool from_end = false;
  RecordOptions records;
  std::string parse_text;  // "raw", "json", "logfmt", "regex:..." for /configz
  Labels labels;
  std::vector<std::size_t> sinks;  // indices into TailConfig::sinks
};

struct TailConfig {
  std::string path;  // the config file, or empty
  std::string checkpoint;
  std::vector<Input> inputs;
  std::vector<SinkConfig> sinks;
  // A file whose name no longer matches (renamed away, deleted) is read to its end and let go
  // once it has not grown for this long: the writer may still append to it until it reopens.
  std::chrono::milliseconds rotate_wait{5'000};
  // Every watched directory is stat()ed this often whatever inotify says.
  std::chrono::milliseconds rescan{1'000};
  // The most bytes of deleted files held open while a sink lags (their disk space is not
  // freed): past it the oldest is let go and its unread bytes are counted as dropped.
  std::uint64_t max_held_bytes = std::uint64_t{1} << 30;
  // The most files followed at once; more are left out with a warning until some are let go.
  std::size_t max_files = 1024;
  // Retries of a failed sink write.
  BackoffPolicy retry{.initial = std::chrono::milliseconds(100),
                      .max = std::chrono::seconds(10),
                      .multiplier = 2.0,
                      .jitter = 0.2,
                      .reset_after = std::nullopt};

  [[nodiscard]] boost::json::object json() const;
};

// Throws UsageError (flags) or ConfigError (file) naming what is wrong: no path, no checkpoint,
// a relative path or a glob in a directory name, an invalid regex, an unknown sink scheme, a
// sink name an input refers to that does not exist.
[[nodiscard]] TailConfig resolve_tail(const TailFlags& flags, const ConfigNode& file);

// "/var/log/app/*.log" -> {dir "/var/log/app", pattern "*.log"}. Fails (EINVAL) for a relative
// path, a trailing '/', or a wildcard in a directory name.
[[nodiscard]] Result<Glob> parse_glob(const std::string& text);
// "raw", "json", "logfmt", "regex:RE" into `options`. Fails (EINVAL) for anything else.
[[nodiscard]] Result<> parse_mode(const std::string& text, RecordOptions& options);

}  // namespace tender::sidecar

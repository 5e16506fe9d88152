#pragma once
// The settings of one log adapter (an entry of `logs:`), parsed from the configuration. No I/O:
// inputs and outputs are opened by LogAdapters::start, so `tender adapt --check` parses them.
//
//   logs:
//     - name: app
//       input: /var/log/app.log          # "-" stdin (default), a file (followed), a FIFO
//       format: regex                    # regex | logfmt | json | common | combined
//       pattern: '^(?<time>\S+) (?<level>\w+) (?<msg>.*)$'
//       output: /var/log/app.jsonl       # "-" stdout (default), or a file (appended)
//       read_from: tail                  # head | tail: where a file that exists at start is read
//       max_line_bytes: 64KiB
//       time_field: time                 # regex/logfmt/json: the first present of these
//       time_format: auto                # auto | rfc3339 | common | unix | unix_ms
//       level_field: level
//       message_field: msg
//       static_fields: {service: app}
//
//   LogSettings s = parse_log_settings(entry);   // ConfigError at the line of what is wrong
#include <boost/json/object.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapter/log_time.hpp"
#include "core/config.hpp"

namespace tender::adapter {

enum class LogFormat { kRegex, kLogfmt, kJson, kCommon, kCombined };

[[nodiscard]] std::string_view to_string(LogFormat format);

struct LogSettings {
  std::string name;
  std::string input = "-";
  LogFormat format = LogFormat::kLogfmt;
  std::string pattern;  // kRegex: named groups become fields
  std::string output = "-";
  bool read_from_head = false;  // a file input that exists at start: from its start, not its end
  std::size_t max_line_bytes = std::size_t{64} << 10;
  // regex, logfmt, json: where time, level and message come from (the first name present).
  std::vector<std::string> time_fields{"time", "ts", "timestamp"};
  TimeFormat time_format = TimeFormat::kAuto;
  std::vector<std::string> level_fields{"level", "lvl", "severity"};
  std::vector<std::string> message_fields{"msg", "message"};
  std::vector<std::pair<std::string, std::string>> static_fields;  // in the file's order
  // Where the entry is, for errors found at start: "adapt.yaml:7: logs[0].input: ...".
  int line = 0;
  std::string file;
  std::string path;

  // For /configz.
  [[nodiscard]] boost::json::object to_json() const;
};

// One entry of `logs:`. Throws ConfigError at the key's line: no name, an unknown format, a
// regex without `pattern` or with a bad one (compiled here, so --check finds it), a pattern
// for another format, max_line_bytes outside 256B..64MiB, a static field named like an output
// key (time, level, message, cut, parse_error, fields). Unknown keys are warned about.
[[nodiscard]] LogSettings parse_log_settings(const ConfigNode& entry);

}  // namespace tender::adapter

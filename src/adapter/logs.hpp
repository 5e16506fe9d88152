#pragma once
// The log adapter: an application's log lines (stdin, a file it writes, or a named pipe) in a
// known format (a regex with named groups, logfmt, JSON, common or combined access log)
// rewritten as JSON lines of one shape: `time` (RFC 3339), `level`, `message`, and the parsed
// fields, so every collector receives the same thing.
//
//   # adapt.yaml
//   logs:
//     - name: access
//       input: /var/log/nginx/access.log     # "-" for stdin; a FIFO works too
//       format: combined
//       output: "-"                          # stdout (default), or a file
//
//   auto logs = LogAdapters::parse(root.child("logs"));   // ConfigError at its line
//   logs->start(ctx);              // one thread of its own reads, parses and writes them all
//   logs->drain();                 // read what the inputs hold now, write it, then stop
//   while (!logs->drained()) { ... }
//   logs->stop();
//
// docs/adapt.md has the contract (settings, the output shape, inputs, metrics).
#include <boost/json/object.hpp>
#include <memory>

#include "adapter/source.hpp"
#include "core/config.hpp"

namespace tender::adapter {

class LogAdapters {
 public:
  virtual ~LogAdapters() = default;

  // The `logs:` section (may be undefined: none). Throws ConfigError.
  [[nodiscard]] static std::unique_ptr<LogAdapters> parse(const ConfigNode& logs);

  [[nodiscard]] virtual std::size_t size() const = 0;
  // Opens the inputs and outputs, registers metrics (tender_adapt_log_*), starts reading.
  // Throws ConfigError (exit 2) when an input or output cannot be opened.
  virtual void start(const SourceContext& ctx) = 0;
  // Stops reading new input once what has been read is written. Thread-safe; idempotent.
  virtual void drain() = 0;
  // True once draining has written everything it read. Thread-safe.
  [[nodiscard]] virtual bool drained() const = 0;
  // Stops at once and closes everything; the last call. Thread-safe.
  virtual void stop() = 0;
  // True once every input has ended (stdin at its end; a FIFO, reopened for its next writer,
  // and a file never end) and all it gave is written: `cat x.log | tender adapt --logs
  // combined` then exits 0. Thread-safe.
  [[nodiscard]] virtual bool finished() const = 0;

  [[nodiscard]] virtual boost::json::object status() const = 0;
  [[nodiscard]] virtual boost::json::object config() const = 0;
};

}  // namespace tender::adapter

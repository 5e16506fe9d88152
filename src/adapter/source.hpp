#pragma once
// A metrics source of `tender adapt`: json, statsd, text or redis (docs/adapt.md). The role
// owns one io_context run by one thread; every source lives on it.
//
//   std::unique_ptr<Source> s = make_source(entry, defaults);  // sources.hpp; ConfigError
//   s->start({.io = io, .metrics = registry, .clock = clock});  // binds, starts timers
//   s->collect([](Result<std::vector<Family>> got) { ... });     // on every scrape
//   s->stop();
//
// A source whose data is fetched (json, text, redis) fetches in collect() unless what it
// fetched last is younger than its cache TTL; concurrent collects share one fetch. A source
// that is fed (statsd) answers at once from what it holds.
#include <boost/json/object.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/family.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/host_port.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender {
class Registry;
}  // namespace tender

namespace tender::adapter {

// What a source is given when it starts.
struct SourceContext {
  boost::asio::io_context& io;  // run by the role's one source thread
  Registry& metrics;            // tender's own metrics (tender_adapt_*), not the adapted ones
  const Clock& clock;
  // Adds `name=address` to the line printed at start (tests find port-0 listeners there):
  // a source announces its listeners as "<source name>_udp", "<source name>_tcp".
  std::function<void(std::string name, const HostPort& address)> announce;
};

class Source {
 public:
  virtual ~Source() = default;
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // The name the configuration gave it (the `source` label of tender_adapt_* metrics).
  [[nodiscard]] virtual const std::string& name() const = 0;
  // "json", "statsd", "text" or "redis".
  [[nodiscard]] virtual std::string_view kind() const = 0;

  // Binds listeners and starts timers. Called once, on any thread, before ctx.io runs. Throws
  // std::system_error when an address cannot be bound (exit 1).
  virtual void start(const SourceContext& ctx) = 0;
  // The source's current families, delivered by calling `done` exactly once on the io thread
  // (possibly before collect returns). Called on the io thread. An Error is a source that is
  // down, with a one-line reason for /statusz ("connect: Connection refused", "json: line 1,
  // column 4: syntax error", "timed out after 2s"); its families are then left out.
  virtual void collect(std::function<void(Result<std::vector<Family>>)> done) = 0;
  // What to expose in place of the source's families while it is down (collect failed), e.g.
  // redis_up 0 for alerts written against the exporter it replaces; nothing by default.
  [[nodiscard]] virtual std::vector<Family> families_when_down() const { return {}; }
  // Closes listeners, cancels fetches and timers; `done`s pending are still called (with
  // operation_aborted). Called on the io thread; the last call the source receives.
  virtual void stop() = 0;

  // Live counters for /statusz (packets, lines, series, last fetch...). Thread-safe: called
  // from the admin thread.
  [[nodiscard]] virtual boost::json::object status() const { return {}; }
  // The effective settings for /configz (secrets are redacted by the caller). Thread-safe.
  [[nodiscard]] virtual boost::json::object config() const = 0;
};

}  // namespace tender::adapter

#pragma once
// The health adapter: checks that are not HTTP (a TCP connect, a command's exit code, Redis
// PING) and HTTP checks with an expected status and body, served as HTTP on the admin
// listener, so that a kubelet's httpGet probe (or any monitor) can watch what only a script
// could. Each check has a timeout and a cache: a storm of probes is one check per cache period.
//
//   # adapt.yaml
//   health:
//     checks:
//       - {name: db, tcp: 127.0.0.1:5432, timeout: 1s, cache: 2s}
//       - {name: queue, redis: 127.0.0.1:6379}
//       - {name: script, exec: [/bin/check-disk, --min, 10%], timeout: 5s}
//       - {name: web, http: {url: "http://127.0.0.1:8080/", status: 200, body: "ok"}}
//
//   auto health = HealthChecks::parse(root.child("health"));  // ConfigError at its line
//   health->start(ctx);           // checks run on ctx.io
//   health->answer("db", reply);  // GET /healthz/db; the role routes /healthz/{name} here
//   ...
//   health->stop();               // on ctx.io's thread
//
// docs/adapt.md has the contract.
#include <boost/json/object.hpp>
#include <memory>

#include "adapter/source.hpp"
#include "core/config.hpp"
#include "core/http.hpp"

namespace tender::adapter {

class HealthChecks {
 public:
  virtual ~HealthChecks() = default;

  // The `health:` section (may be undefined: no checks). Throws ConfigError. Shared: answers
  // in flight keep the checks alive after a reload has replaced them.
  [[nodiscard]] static std::shared_ptr<HealthChecks> parse(const ConfigNode& health);

  // How many checks are configured.
  [[nodiscard]] virtual std::size_t size() const = 0;
  // Answers GET /healthz/NAME (`name` "all": the aggregate): for a check, 200 "ok: <message>"
  // or 503 "<why>", 404 for a name no check has; for "all", 200 if every check passes, else
  // 503, with a JSON body of each check's verdict. Called on the admin thread (after start());
  // runs the checks (or takes their cached verdicts) on the io thread and replies from there.
  virtual void answer(const std::string& name, Reply reply) = 0;
  // Registers metrics (tender_adapt_check_*) and starts; called once.
  virtual void start(const SourceContext& ctx) = 0;
  // Cancels checks in flight (their probes answer 503 "stopping"); on the io thread.
  virtual void stop() = 0;

  // Each check's last verdict and when, for /statusz. Thread-safe.
  [[nodiscard]] virtual boost::json::object status() const = 0;
  // The checks as configured, for /configz. Thread-safe.
  [[nodiscard]] virtual boost::json::object config() const = 0;
};

}  // namespace tender::adapter

// `tender adapt`: the flags, then --check or the service (run_role).
#include <cstdio>
#include <memory>

#include "adapter/adapt_config.hpp"
#include "adapter/adapt_role.hpp"
#include "adapter/adapter.hpp"
#include "core/cli.hpp"

namespace tender::adapter {

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "adapt", "Adapter: an app's metrics, health and logs in standard forms (docs/adapt.md)");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<AdaptFlags>();
  add_common_flags(*cmd, *common, kAdaptAdminPort);
  cmd->add_option("--statsd", f->statsd,
                  "Listen for statsd/DogStatsD lines on this UDP and TCP HOST:PORT");
  cmd->add_option("--json", f->json, "Scrape this http:// URL's JSON at each scrape (with --map)");
  cmd->add_option("--text", f->text, "Scrape this http:// URL's Prometheus text at each scrape");
  cmd->add_option("--redis", f->redis, "Turn this Redis server's INFO into metrics (HOST:PORT)");
  cmd->add_option("--map", f->map, "The mapping file of --json (metrics:) or --statsd (mappings:)");
  cmd->add_option("--metrics-listen", f->metrics_listen,
                  "Serve the adapted metrics on this HOST:PORT (default: the admin /metrics)");
  cmd->add_option("--max-series", f->max_series,
                  "Series (label sets) kept per metric name (default 10000)");
  cmd->add_option(
      "--logs", f->logs,
      "Rewrite log lines of this format (common, combined, logfmt, json) as JSON lines");
  cmd->add_option("--logs-input", f->logs_input, "With --logs: a file or FIFO (default - : stdin)");
  cmd->add_option("--logs-output", f->logs_output, "With --logs: a file (default - : stdout)");
  cmd->add_flag("--check", f->check, "Check the configuration and exit: 0 good, 2 bad");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kAdaptAdminPort);
    AdaptConfig cfg = resolve_adapt(*f, file);
    if (f->check) {
      std::printf("%s: ok: %zu metrics sources, %zu health checks, %zu log adapters\n",
                  common->config.empty() ? "flags" : common->config.c_str(), cfg.sources.size(),
                  cfg.health->size(), cfg.logs->size());
      exit_code = 0;
      return;
    }
    AdaptRole role(std::move(cfg),
                   [common, f] { return resolve_adapt(*f, common->load_config()); });
    exit_code = run_role("adapt", role, opts);
  });
  return cmd;
}

}  // namespace tender::adapter

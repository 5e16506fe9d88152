#include "scatter/scatter.hpp"

#include <cstdio>
#include <memory>

#include "core/cli.hpp"
#include "scatter/scatter_config.hpp"
#include "scatter/scatter_role.hpp"

namespace tender::scatter {

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "scatter",
      "Scatter/gather root: send each request to every shard (or split it), merge the answers");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<ScatterFlags>();
  add_common_flags(*cmd, *common, kScatterAdminPort);
  cmd->add_option("--listen", f->listen, "Serve clients on HOST:PORT (default 127.0.0.1:8100)");
  cmd->add_option("--threads", f->threads, "Worker threads serving clients (default 1)");
  cmd->add_option("--leaves", f->leaves,
                  "The shards: commas separate shards, '|' the replicas of one "
                  "(a1|a2,b1|b2)");
  cmd->add_option("--merge", f->merge,
                  "concat, object, sum:F, min:F, max:F, avg:F, topk:F:K[:asc], count "
                  "[@PATH], or a merge service's http:// URL (default concat)");
  cmd->add_option("--split", f->split,
                  "none (broadcast), hash:FIELD, roundrobin [@PATH], or a split service's "
                  "http:// URL (default none)");
  cmd->add_option("--hedge", f->hedge,
                  "Hedge a shard's request to another replica after: off, pNN (its observed "
                  "quantile, e.g. p95) or a fixed delay (20ms) (default off)");
  cmd->add_option("--hedge-budget", f->hedge_budget,
                  "At most this share of extra requests for hedges (5% or 0.05; default 5%)");
  cmd->add_option("--hedge-burst", f->hedge_burst,
                  "Hedges the budget may allow at once above its share (default 100)");
  cmd->add_option("--deadline", f->deadline,
                  "A request's deadline when it does not send X-Tender-Deadline-Ms (default 1s)");
  cmd->add_option("--min-fraction", f->min_fraction,
                  "Answer 200 only when this share of the shards answered, else 504 (default 1)");
  cmd->add_option("--timing", f->timing,
                  "Report where the time went: off, header (X-Tender-Shards) or wrapper "
                  "(default off; a request may ask with X-Tender-Timing)");
  cmd->add_option("--pass-header", f->pass_headers,
                  "A request header passed on to the leaves (repeatable; Content-Type always is)");
  cmd->add_option("--max-leaf-requests", f->max_leaf_requests,
                  "Requests in flight to one leaf per worker thread; a full leaf's shard uses "
                  "another replica (default 0: no limit)");
  cmd->add_flag("--check", f->check, "Check the configuration, print it, and exit (0 or 2)");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kScatterAdminPort);
    ScatterConfig cfg = resolve_scatter(*f, file);
    if (f->check) {
      std::printf("%s: ok (%zu shards)\n", cfg.path.empty() ? "flags" : cfg.path.c_str(),
                  cfg.shards.size());
      exit_code = 0;
      return;
    }
    ScatterRole role(std::move(cfg));
    exit_code = run_role("scatter", role, opts);
  });
  return cmd;
}

}  // namespace tender::scatter

// `tender work`: its flags, resolved with the config file, and the runner run as a role.
#include <cstdlib>
#include <memory>

#include "core/cli.hpp"
#include "workqueue/work_config.hpp"
#include "workqueue/work_item.hpp"
#include "workqueue/work_runner.hpp"
#include "workqueue/workqueue.hpp"

namespace tender::workqueue {

CLI::App* add_work_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "work", "Lease items from a queue server and run a command on each one (-- CMD ARGS...)");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<WorkFlags>();
  add_common_flags(*cmd, *common, kWorkAdminPort);
  cmd->add_option("--queue", f->queue, "The queue server, e.g. http://127.0.0.1:7700");
  cmd->add_option("--queue-name", f->queue_name, "The queue to take items from");
  cmd->add_option("--concurrency", f->concurrency, "Commands running at once (default 1)");
  cmd->add_option("--timeout", f->timeout,
                  "Longest run of the command for one item, e.g. 5m (default: none)");
  cmd->add_option("--lease-ttl", f->lease_ttl,
                  "Lease asked for each item, extended every third of it (default 60s)");
  cmd->add_option("--lease-wait", f->lease_wait,
                  "Long poll of a lease when nothing is ready (default 30s, at most 5m)");
  cmd->add_option("--nack-delay", f->nack_delay,
                  "Wait before a failed item is retried (default: the queue's backoff)");
  cmd->add_option("--max-result", f->max_result, "Largest result kept (default 64KiB)");
  cmd->add_option("--dead-exit-code", f->dead_exit_code,
                  "The command's exit code (1..255) that sends the item to the dead list at once");
  cmd->add_flag("--exit-when-empty", f->exit_when_empty,
                "Exit once the queue has nothing ready, delayed or leased: 0, or 1 if an item "
                "went dead");
  cmd->add_option("--progress", f->progress,
                  "Progress line on stderr: auto (on a terminal), always or never");
  cmd->add_option("command", f->command, "The command and its arguments, after --");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kWorkAdminPort);
    WorkConfig cfg = resolve_work(*f, file);
    // A mistyped command would fail every item until each went dead: stop here instead.
    const char* path = std::getenv("PATH");
    if (auto found = find_program(cfg.command.front(), path != nullptr ? path : ""); !found) {
      throw UsageError(found.error().message());
    }
    WorkRunner role(std::move(cfg));
    exit_code = run_role("work", role, opts);
  });
  return cmd;
}

}  // namespace tender::workqueue

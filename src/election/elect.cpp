#include "election/election.hpp"

#include <memory>

#include "core/cli.hpp"
#include "election/elect_config.hpp"
#include "election/elect_role.hpp"

namespace tender::election {

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "elect", "Leader election as a sidecar: one leader among replicas, over a lock file or etcd");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<ElectFlags>();
  add_common_flags(*cmd, *common, kElectAdminPort);
  cmd->add_option("--election", f->election, "The election's name (required)");
  cmd->add_option("--id", f->id, "This replica's name (default: the host name)");
  cmd->add_option(
      "--backend", f->backend,
      "file:/shared/leader.lock or etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (required)");
  cmd->add_option("--ttl", f->ttl,
                  "A term lapses this long after its last acknowledged renewal (default 2s)");
  cmd->add_option("--margin", f->margin,
                  "Stop claiming this long before the ttl runs out (default ttl/10)");
  cmd->add_option("--listen", f->listen, "Serve the API on HOST:PORT (default 127.0.0.1:4040)");
  cmd->add_option("--webhook", f->webhook,
                  "POST a JSON event to this http:// URL on every gain and loss");
  cmd->add_flag("--exec", f->exec, "Run the command after -- only while this replica leads");
  cmd->add_option("--exec-grace", f->exec_grace,
                  "SIGKILL the command this long after SIGTERM (default 5s)");
  cmd->add_option("command", f->command, "The command and its arguments, after --");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kElectAdminPort);
    ElectRole role(resolve_elect(*f, file));
    exit_code = run_role("elect", role, opts);
  });
  return cmd;
}

}  // namespace tender::election

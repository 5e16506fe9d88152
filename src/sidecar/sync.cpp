// `tender sync`: the flags, then the service (run_role) or --once.
#include <memory>

#include "core/cli.hpp"
#include "sidecar/sidecar.hpp"
#include "sidecar/sync_config.hpp"
#include "sidecar/sync_role.hpp"
#include "sidecar/sync_tree.hpp"

namespace tender::sidecar {

CLI::App* add_sync_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "sync", "Content syncer: keep a directory equal to a git ref, a tar archive or a directory");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<SyncFlags>();
  add_common_flags(*cmd, *common, kSyncAdminPort);
  cmd->add_option("--source", f->source,
                  "git:REPO[#REF], http://HOST[:PORT]/x.tar.gz, https://..., or dir:/PATH "
                  "(required)");
  cmd->add_option("--dest", f->dest, "The directory sync owns; readers use DEST/LINK (required)");
  cmd->add_option("--link", f->link, "The published symlink's name in DEST (default current)");
  cmd->add_option("--period", f->period, "From the start of one sync to the next (default 10s)");
  cmd->add_option("--timeout", f->timeout, "A sync taking longer fails (default 2m)");
  cmd->add_option("--max-failures", f->max_failures,
                  "Exit 1 after this many consecutive failed syncs (default 0: never)");
  cmd->add_option("--max-bytes", f->max_bytes,
                  "Largest download, unpacked archive or copied tree (default 1GiB)");
  cmd->add_flag("--once", f->once, "Sync once and exit: 0 on success, 1 on failure");
  cmd->add_option("--webhook", f->webhook, "POST each new revision as JSON to this http:// URL");
  cmd->add_option("--hook-attempts", f->hook_attempts,
                  "Tries of the hook and of the webhook per revision (default 3)");
  cmd->add_option("--hook-timeout", f->hook_timeout,
                  "Each try of the hook or the webhook may take this long (default 30s)");
  cmd->add_flag("--exec", f->exec,
                "Run the command after -- after each publication, in the new tree");
  cmd->add_option("command", f->command, "The hook command and its arguments, after --");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kSyncAdminPort);
    SyncConfig cfg = resolve_sync(*f, file);
    if (auto ok = prepare_dest(TreeLayout{cfg.dest, cfg.link}); !ok) {
      throw UsageError("--dest: " + ok.error().message());
    }
    if (cfg.once) {
      exit_code = run_sync_once(cfg, opts);
      return;
    }
    SyncRole role(std::move(cfg), [common, f] { return resolve_sync(*f, common->load_config()); });
    exit_code = run_role("sync", role, opts);
  });
  return cmd;
}

}  // namespace tender::sidecar

#include <cstdio>
#include <memory>

#include "core/cli.hpp"
#include "sidecar/sidecar.hpp"
#include "sidecar/tail_config.hpp"
#include "sidecar/tail_role.hpp"

namespace tender::sidecar {

CLI::App* add_tail_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "tail", "Log shipper: follow files by glob, ship every line at least once, lose none");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<TailFlags>();
  add_common_flags(*cmd, *common, kTailAdminPort);
  cmd->add_option("--path", f->paths,
                  "Files to follow: an absolute path, wildcards in the file name "
                  "('/var/log/app/*.log'; repeatable)");
  cmd->add_option("--checkpoint", f->checkpoint,
                  "The SQLite file keeping each file's shipped offset (required)");
  cmd->add_option("--sink", f->sinks,
                  "Where records go: stdout, file:PATH, http://HOST:PORT/PATH (JSON lines), "
                  "loki://HOST:PORT (repeatable)");
  cmd->add_option("--label", f->labels, "A label KEY=VALUE sent with every record (repeatable)");
  cmd->add_option("--read-from", f->read_from,
                  "Files present at the very first start: head (read them whole) or tail "
                  "(only what is written from now on) (default head)");
  cmd->add_option("--parse", f->parse,
                  "raw, json, logfmt or regex:RE with named groups (default raw)");
  cmd->add_option("--multiline-start", f->multiline_start,
                  "A regex matching a record's first line; other lines join the record before "
                  "them (stack traces)");
  cmd->add_option("--max-record-bytes", f->max_record_bytes,
                  "Longer records are cut to this and counted (default 1MiB)");
  cmd->add_option("--format", f->format,
                  "How file, stdout and http sinks write records: raw or json (default: raw for "
                  "file and stdout, json for http)");
  cmd->add_option("--rotate-wait", f->rotate_wait,
                  "A file renamed away or deleted is let go once read to its end and quiet this "
                  "long (default 5s)");
  cmd->add_option("--rescan", f->rescan,
                  "Look at every watched directory this often whatever inotify says (default 1s)");
  cmd->add_option("--max-held-bytes", f->max_held_bytes,
                  "The most bytes of deleted files held open while a sink lags (default 1GiB)");
  cmd->add_flag("--check", f->check, "Check the configuration, print it, and exit (0 or 2)");
  cmd->callback([common, f, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kTailAdminPort);
    TailConfig cfg = resolve_tail(*f, file);
    if (f->check) {
      std::printf("%s: ok (%zu inputs, %zu sinks)\n", cfg.path.empty() ? "flags" : cfg.path.c_str(),
                  cfg.inputs.size(), cfg.sinks.size());
      exit_code = 0;
      return;
    }
    TailRole role(std::move(cfg));
    exit_code = run_role("tail", role, opts);
  });
  return cmd;
}

}  // namespace tender::sidecar

#pragma once
// The sidecar pattern: containers that extend the main one through a shared volume.
//
//   $ tender tail --path '/var/log/app/*.log' --checkpoint /var/lib/tender/tail.db
//                 --sink file:/out/all.log                  # ship logs, losing nothing
//   $ tender tail --config tail.yaml                        # several inputs and sinks
//   $ tender sync --source git:/srv/site.git#main --dest /shared/site --period 1s
//
// docs/tail.md and docs/sync.md have the whole contract.

#include <CLI/CLI.hpp>

namespace tender::sidecar {

// Registers the `tail` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_tail_command(CLI::App& root, int& exit_code);
// Registers the `sync` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_sync_command(CLI::App& root, int& exit_code);

}  // namespace tender::sidecar

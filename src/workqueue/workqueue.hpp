#pragma once
// The work-queue pattern: `tender queue` (the queue server, with its `push` and `stats`
// client subcommands) and `tender work` (the runner that leases items and runs the user's
// command on each one).
//
//   $ tender queue --listen 127.0.0.1:7700 --store sqlite:/var/lib/tender/queue.db &
//   $ seq 1000 | tender queue push --queue http://127.0.0.1:7700 numbers
//   $ tender work --queue http://127.0.0.1:7700 --queue-name numbers --concurrency 4 -- ./double
//
// docs/queue.md and docs/work.md describe both.

#include <CLI/CLI.hpp>

namespace tender::workqueue {

// Registers `queue` (and its `push` and `stats` subcommands); when it runs, its exit code is
// stored in `exit_code`.
CLI::App* add_queue_command(CLI::App& root, int& exit_code);
// Registers `work`.
CLI::App* add_work_command(CLI::App& root, int& exit_code);

}  // namespace tender::workqueue

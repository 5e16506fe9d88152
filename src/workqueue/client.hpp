#pragma once
// The queue's command-line clients: `tender queue push` and `tender queue stats`, added under
// the `queue` command by add_queue_command.

#include <CLI/CLI.hpp>

namespace tender::workqueue {

CLI::App* add_push_command(CLI::App& queue, int& exit_code);
CLI::App* add_stats_command(CLI::App& queue, int& exit_code);

}  // namespace tender::workqueue

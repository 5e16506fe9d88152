#pragma once
// `tender proxy`, the ambassador: tcp, http and redis listeners in front of balanced, sharded,
// health-checked clusters of endpoints. The role's whole public surface; docs/proxy.md has its
// flags, configuration, endpoints and metrics.

#include <CLI/CLI.hpp>

namespace tender::ambassador {

// Registers `tender proxy`; the exit code lands in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::ambassador

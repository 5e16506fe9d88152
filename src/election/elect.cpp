#include "election/election.hpp"

namespace tender::election {

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand("elect", "Leader election as a sidecar (file lock or etcd)");
  cmd->callback([&exit_code] { exit_code = 1; });
  return cmd;
}

}  // namespace tender::election

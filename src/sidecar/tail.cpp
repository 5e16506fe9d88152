#include "sidecar/sidecar.hpp"

namespace tender::sidecar {

CLI::App* add_tail_command(CLI::App& root, int& exit_code) {
  (void)exit_code;
  return root.add_subcommand("tail", "Log shipper: follow files, ship every line, lose none");
}

}  // namespace tender::sidecar

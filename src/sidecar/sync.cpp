#include "sidecar/sidecar.hpp"

namespace tender::sidecar {

CLI::App* add_sync_command(CLI::App& root, int& exit_code) {
  (void)exit_code;
  return root.add_subcommand("sync", "Content syncer: keep a directory equal to a source");
}

}  // namespace tender::sidecar

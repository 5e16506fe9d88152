#pragma once
// The leader-election pattern: `tender elect`, a sidecar beside each replica. The electors
// elect one leader among themselves through a backend (a lock file on a shared volume on one
// machine, etcd across machines) and tell their app on localhost:
//
//   $ tender elect --election db --id pod-a --backend file:/shared/leader.lock &
//   $ curl -s 127.0.0.1:4040/              # {"name":"pod-a"}  (the Kubernetes leader-elector's
//   API) $ curl -s 127.0.0.1:4040/v1/leader     # name, fencing token, term start, time left, self
//   $ tender elect ... --exec -- ./run-migrations   # run a command only while leading
//
// docs/elect.md says what is guaranteed and what is not.

#include <CLI/CLI.hpp>

namespace tender::election {

// Registers the `elect` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::election

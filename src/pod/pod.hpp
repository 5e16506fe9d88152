#pragma once
// `tender pod`: runs Kubernetes pod manifests on one machine (see docs/pod.md).
//
//   tender pod run web.yaml           # run until SIGTERM/SIGINT, then terminate every pod
//   tender pod status                 # table of pods and containers (from the admin API)
//   tender pod logs web-0 -c app -f   # a container's log
//   tender pod scale web 5            # replicas of a Deployment
//   tender pod partition web-0 web-1  # cut the network between pods; `heal` undoes it
//   tender pod exec web-0 -- sh       # a command inside a pod

#include <CLI/CLI.hpp>

namespace tender::pod {

// Registers the `pod` subcommand and its own subcommands; the exit code lands in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::pod

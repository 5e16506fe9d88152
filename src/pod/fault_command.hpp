#pragma once
// The pod's fault subcommands, registered under `tender pod` by command.cpp. Private to
// src/pod.

#include <CLI/CLI.hpp>

namespace tender::pod {

// kill, pause, resume, partition, heal, delay, exec (fault_command.cpp).
void add_fault_commands(CLI::App& pod_command, int& exit_code);

}  // namespace tender::pod

#pragma once
// The adapter pattern: an app's metrics, health and logs presented in standard forms, without
// changing the app.
//
//   $ tender adapt --statsd 127.0.0.1:9125                       # statsd -> /metrics
//   $ tender adapt --json http://127.0.0.1:8080/stats --map stats.yaml
//   $ tender adapt --redis 127.0.0.1:6379                        # INFO -> redis_exporter names
//   $ tender adapt --config adapt.yaml [--check]                 # all of it, one file
//
// docs/adapt.md has the whole contract.

#include <CLI/CLI.hpp>

namespace tender::adapter {

// Registers the `adapt` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::adapter

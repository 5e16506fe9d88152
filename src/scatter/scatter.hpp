#pragma once
// The scatter/gather pattern: `tender scatter`, a generic root. Each request is sent to every
// shard (or split across them), the answers are gathered until the deadline and merged into
// one; slow replicas are hedged. The user writes only the leaf, and maybe a merge service.
//
//   $ tender scatter --listen 127.0.0.1:8100 --leaves 127.0.0.1:9001,127.0.0.1:9002 --merge concat
//   $ tender scatter --leaves a1|a2,b1|b2 --merge topk:score:10 --hedge p95
//   $ tender scatter --config scatter.yaml [--check]
//
// docs/scatter.md has the whole contract.

#include <CLI/CLI.hpp>

namespace tender::scatter {

// Registers the `scatter` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::scatter

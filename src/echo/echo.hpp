#pragma once
// `tender echo`: an HTTP server that answers every request with the request itself, as JSON.
//
// A permanent test utility: the backend of proxy and scatter/gather tests and benchmarks.
// `?delay_ms=N` answers after N ms, `?status=N` answers with status N, and `--id` is echoed so a
// test can tell backends apart. `--delay 100ms --delay-fraction 0.01` makes 1% of requests
// (drawn at random, each on its own) 100 ms late, as a leaf with a tail would be.
//
//   $ tender echo --listen 127.0.0.1:8080 --id a &
//   $ curl -s '127.0.0.1:8080/x?status=503'
//   {"id":"a","method":"GET","path":"/x","query":{"status":"503"},"headers":{...},"body":""}

#include <CLI/CLI.hpp>

namespace tender::echo {

// Registers the `echo` subcommand; when it runs, its exit code is stored in `exit_code`.
CLI::App* add_command(CLI::App& root, int& exit_code);

}  // namespace tender::echo

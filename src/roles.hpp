#pragma once
// The roles a tender binary carries. tender_add_binary (cmake/TenderRole.cmake) generates the
// source that defines these for each binary: build/src/tender has every role,
// build/quickstart/tender only those the quickstart runs (tools/quickstart.sh).

#include <string_view>

namespace CLI {
class App;
}  // namespace CLI

namespace tender {

// Adds each role's subcommands to the root command: `tender pod`, `tender proxy`, ...
void add_roles(CLI::App& app, int& exit_code);

// The roles this binary was built without, as "echo, election" ("" when it has them all).
[[nodiscard]] std::string_view roles_left_out();

}  // namespace tender

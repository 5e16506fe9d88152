// tender: one binary, every role a subcommand (`tender <role> ...`).
// This file only wires subcommands; each role lives in its own folder.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/version.hpp"
#include "roles.hpp"

namespace {

std::string role_list(const CLI::App& app) {
  std::string out;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!out.empty()) {
      out += ", ";
    }
    out += sub->get_name();
  }
  return out;
}

bool is_role(const CLI::App& app, const char* name) {
  return !app.get_subcommands([&](const CLI::App* sub) { return sub->get_name() == name; }).empty();
}

// `tender frobnicate ...`, and `tender elect --help` in a binary without elect: exit 2 saying
// which roles there are, before CLI11 would answer --help with the root's help.
int unknown_role(const CLI::App& app, const char* name) {
  std::fprintf(stderr, "tender: unknown role '%s'; roles: %s\n", name, role_list(app).c_str());
  if (!tender::roles_left_out().empty()) {
    // The quickstart's binary (tools/quickstart.sh) carries only the roles it runs.
    std::fprintf(stderr,
                 "tender: this binary was built without the roles %.*s; tools/build.sh "
                 "builds build/src/tender with every role\n",
                 static_cast<int>(tender::roles_left_out().size()),
                 tender::roles_left_out().data());
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "tender: reusable containers for distributed systems, in one binary.\n"
      "Every role keeps one management interface: /healthz /readyz /metrics /configz "
      "/statusz /drain /quitquitquit.",
      "tender");
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);
  int exit_code = 0;

  auto* ver = app.add_subcommand("version", "Print version, commit and build type");
  ver->callback([] {
    std::printf("tender %.*s (commit %.*s, %.*s build)\n",
                static_cast<int>(tender::version().size()), tender::version().data(),
                static_cast<int>(tender::commit().size()), tender::commit().data(),
                static_cast<int>(tender::build_type().size()), tender::build_type().data());
    if (!tender::roles_left_out().empty()) {
      std::printf("built without the roles %.*s\n",
                  static_cast<int>(tender::roles_left_out().size()),
                  tender::roles_left_out().data());
    }
  });
  tender::add_roles(app, exit_code);
  if (argc >= 2 && argv[1][0] != '-' && !is_role(app, argv[1])) {
    return unknown_role(app, argv[1]);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const tender::UsageError& e) {
    std::fprintf(stderr, "tender: %s\n", e.what());
    return 2;
  } catch (const tender::ConfigError& e) {
    std::fprintf(stderr, "tender: %s\n", e.what());
    return 2;
  }
  return exit_code;
}

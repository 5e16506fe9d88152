// tender: one binary, every role a subcommand (`tender <role> ...`).
// This file only wires subcommands; each role lives in its own folder.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "adapter/adapter.hpp"
#include "ambassador/ambassador.hpp"
#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/version.hpp"
#include "echo/echo.hpp"
#include "election/election.hpp"
#include "pod/pod.hpp"
#include "scatter/scatter.hpp"
#include "sidecar/sidecar.hpp"
#include "workqueue/workqueue.hpp"

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
  });
  tender::echo::add_command(app, exit_code);
  tender::ambassador::add_command(app, exit_code);
  tender::pod::add_command(app, exit_code);
  tender::election::add_command(app, exit_code);
  tender::workqueue::add_queue_command(app, exit_code);
  tender::workqueue::add_work_command(app, exit_code);
  tender::scatter::add_command(app, exit_code);
  tender::sidecar::add_tail_command(app, exit_code);
  tender::sidecar::add_sync_command(app, exit_code);
  tender::adapter::add_command(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (argc >= 2 && argv[1][0] != '-' && app.get_subcommands().empty()) {
      std::fprintf(stderr, "tender: unknown role '%s'; roles: %s\n", argv[1],
                   role_list(app).c_str());
      return 2;
    }
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

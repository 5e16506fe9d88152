#pragma once
// Which containers run a tender role, and where their admin listener is: the runner links to
// their own web view and proxies to it (/v1/pods/{name}/containers/{c}/admin/...). Pure logic.
//
//   // argv as the container was started: ["/usr/bin/tender", "echo", "--admin", "10.217.0.5:9901"]
//   auto admin = tender_admin_address(argv, "/usr/local/bin/tender", pod_ip);
//   if (admin) { ... admin->str() == "10.217.0.5:9901" ... }

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_port.hpp"

namespace tender::pod {

// The admin address of a process started with `argv` (after $(VAR) expansion) when it runs a
// tender role: argv[0]'s base name is `tender` or that of `self_exe` (the runner's own
// binary), and argv[1] is a role. It is the last `--admin ADDR` (or `--admin=ADDR`) given,
// else the role's default port on 127.0.0.1. An empty host is 127.0.0.1, as the roles read it;
// a wildcard host (0.0.0.0, ::) is `pod_ip`, where the listener is reachable. nullopt for
// anything else, including an --admin value that is not HOST:PORT or has port 0.
[[nodiscard]] std::optional<HostPort> tender_admin_address(const std::vector<std::string>& argv,
                                                           std::string_view self_exe,
                                                           std::string_view pod_ip);

}  // namespace tender::pod

#include "pod/admin_target.hpp"

#include <array>
#include <utility>

#include "core/cli.hpp"

namespace tender::pod {
namespace {

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::optional<std::uint16_t> default_admin_port(std::string_view role) {
  static constexpr std::array<std::pair<std::string_view, std::uint16_t>, 10> kPorts = {{
      {"pod", kPodAdminPort},
      {"echo", kEchoAdminPort},
      {"proxy", kProxyAdminPort},
      {"tail", kTailAdminPort},
      {"sync", kSyncAdminPort},
      {"adapt", kAdaptAdminPort},
      {"elect", kElectAdminPort},
      {"queue", kQueueAdminPort},
      {"work", kWorkAdminPort},
      {"scatter", kScatterAdminPort},
  }};
  for (const auto& [name, port] : kPorts) {
    if (name == role) {
      return port;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<HostPort> tender_admin_address(const std::vector<std::string>& argv,
                                             std::string_view self_exe, std::string_view pod_ip) {
  if (argv.size() < 2) {
    return std::nullopt;
  }
  std::string_view exe = base_name(argv[0]);
  if (exe != "tender" && (self_exe.empty() || exe != base_name(self_exe))) {
    return std::nullopt;
  }
  auto port = default_admin_port(argv[1]);
  if (!port) {
    return std::nullopt;
  }
  HostPort admin{"127.0.0.1", *port};
  for (std::size_t i = 2; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> value;
    if (arg == "--admin" && i + 1 < argv.size()) {
      value = argv[++i];
    } else if (arg.starts_with("--admin=")) {
      value = arg.substr(8);
    } else if (arg == "--") {
      break;  // what follows is a command the role runs, not its flags
    }
    if (value) {
      auto hp = parse_host_port(*value);
      if (!hp || hp->port == 0) {
        return std::nullopt;
      }
      admin = *hp;
    }
  }
  if (admin.host == "0.0.0.0" || admin.host == "::") {
    admin.host = std::string(pod_ip);
  } else if (admin.host == "localhost") {
    admin.host = "127.0.0.1";
  }
  return admin;
}

}  // namespace tender::pod

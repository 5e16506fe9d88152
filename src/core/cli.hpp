#pragma once
// Command-line plumbing shared by every role: the common flags and their precedence.
//
//   CommonFlags flags;
//   CLI::App* sub = root.add_subcommand("echo", "HTTP echo server");
//   add_common_flags(*sub, flags);
//   ...
//   ConfigNode file = flags.load_config();                // undefined node when no --config
//   CommonOptions common = resolve_common(flags, file, kEchoAdminPort);
//
// Precedence: a flag beats the config file, which beats the default. Bad values throw
// UsageError (flags) or ConfigError (file); the entry point turns both into exit code 2.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/config.hpp"

namespace tender {

// A bad command line: printed as "tender: <message>", exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommonFlags {
  std::string config;
  std::string admin;
  std::string grace;
  std::string log_level;
  std::string log_format;
  std::vector<std::string> admin_allow_hosts;

  // The --config file's root, or an undefined node. Throws ConfigError.
  [[nodiscard]] ConfigNode load_config() const;
};

void add_common_flags(CLI::App& app, CommonFlags& flags, std::uint16_t default_admin_port);

// Merges flags, the file's common keys (admin, admin_allow_hosts, grace, log_level, log_format)
// and defaults.
[[nodiscard]] CommonOptions resolve_common(const CommonFlags& flags, const ConfigNode& file,
                                           std::uint16_t default_admin_port);

// Helpers for role flags: parse or throw UsageError naming the flag.
[[nodiscard]] HostPort flag_host_port(std::string_view flag, const std::string& value);
[[nodiscard]] std::chrono::milliseconds flag_duration(std::string_view flag,
                                                      const std::string& value);
[[nodiscard]] std::uint64_t flag_bytes(std::string_view flag, const std::string& value);

// Default admin ports, one per role, so every role of a pod can run with its defaults.
inline constexpr std::uint16_t kPodAdminPort = 9900;
inline constexpr std::uint16_t kEchoAdminPort = 9901;
inline constexpr std::uint16_t kProxyAdminPort = 9902;
inline constexpr std::uint16_t kTailAdminPort = 9903;
inline constexpr std::uint16_t kSyncAdminPort = 9904;
inline constexpr std::uint16_t kAdaptAdminPort = 9905;
inline constexpr std::uint16_t kElectAdminPort = 9906;
inline constexpr std::uint16_t kQueueAdminPort = 9907;
inline constexpr std::uint16_t kWorkAdminPort = 9908;
inline constexpr std::uint16_t kScatterAdminPort = 9909;

}  // namespace tender

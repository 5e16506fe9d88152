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
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// Restricts a numeric option to [lo, hi] (CLI11 refuses anything else, exit 2) and says so in
// --help as "an integer from 1 to 256" (or "a number from 0 to 100") rather than CLI11's
// "INT:INT in [1 - 256]". Returns the option.
//   in_range(cmd->add_option("--workers", n, "Worker threads"), 1, 256);
template <typename T>
CLI::Option* in_range(CLI::Option* opt, T lo, T hi) {
  std::ostringstream name;
  name << (std::is_integral_v<T> ? "an integer" : "a number") << " from " << lo << " to " << hi;
  return opt->check(CLI::Range(lo, hi).description(""))->type_name(name.str());
}

// Restricts an integer option to values above 0; --help reads "a positive integer" rather than
// CLI11's "INT:POSITIVE". Returns the option.
CLI::Option* positive(CLI::Option* opt);

// Helpers for role flags: parse or throw UsageError naming the flag.
[[nodiscard]] HostPort flag_host_port(std::string_view flag, const std::string& value);
[[nodiscard]] std::chrono::milliseconds flag_duration(std::string_view flag,
                                                      const std::string& value);
[[nodiscard]] std::uint64_t flag_bytes(std::string_view flag, const std::string& value);

// Where a setting came from, so that a mistake in it is reported as the user wrote it: a flag
// (UsageError "--exec-grace: ...", the key's '_' as '-') or the config file (ConfigError at the
// key's line).
struct SettingSource {
  const ConfigNode& file;
  bool from_flag = false;
  [[noreturn]] void fail(std::string_view key, const std::string& why) const;
};

// A string setting: the flag's value when given, else the file's `key` ("" when absent);
// `from_flag` says which.
[[nodiscard]] std::string pick_setting(const std::string& flag, const ConfigNode& file,
                                       std::string_view key, bool& from_flag);
// A duration setting: the flag (as flag_duration parses it, named after `key` with '-' for
// '_'), else the file's `key`, else `fallback`. Throws UsageError / ConfigError.
[[nodiscard]] std::chrono::milliseconds pick_duration_setting(const std::string& flag,
                                                              const ConfigNode& file,
                                                              std::string_view key,
                                                              std::chrono::milliseconds fallback,
                                                              bool& from_flag);
// The command of `--exec -- CMD ARGS`, else the file's `exec: [CMD, ARGS...]`; empty when
// neither. Throws UsageError for --exec without a command or a command without --exec (naming
// `role` in the hint), ConfigError for an `exec:` that names no command.
[[nodiscard]] std::vector<std::string> resolve_exec_command(bool exec,
                                                            const std::vector<std::string>& command,
                                                            const ConfigNode& file,
                                                            std::string_view role);

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

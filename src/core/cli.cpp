#include "core/cli.hpp"

#include <algorithm>

namespace tender {

ConfigNode CommonFlags::load_config() const {
  if (config.empty()) {
    return {};
  }
  ConfigNode root = load_config_file(config);
  if (root.defined() && !root.is_map()) {
    root.fail("", "the configuration file must be a mapping of keys to values");
  }
  return root;
}

void add_common_flags(CLI::App& app, CommonFlags& flags, std::uint16_t default_admin_port) {
  app.add_option("-c,--config", flags.config, "YAML configuration file (flags override it)");
  app.add_option("--admin", flags.admin,
                 "Admin listener HOST:PORT (default 127.0.0.1:" +
                     std::to_string(default_admin_port) + "; port 0 picks a free port)");
  app.add_option("--admin-allow-host", flags.admin_allow_hosts,
                 "A host name the admin listener answers to besides its addresses and "
                 "localhost (repeatable; * allows any)")
      ->delimiter(',');
  app.add_option("--grace", flags.grace,
                 "Longest drain on SIGTERM before exiting, e.g. 30s (default 30s)");
  app.add_option("--log-level", flags.log_level, "debug, info, warn or error (default info)");
  app.add_option("--log-format", flags.log_format, "text or json (default text)");
}

CLI::Option* positive(CLI::Option* opt) {
  return opt->check(CLI::PositiveNumber.description(""))->type_name("a positive integer");
}

HostPort flag_host_port(std::string_view flag, const std::string& value) {
  auto hp = parse_host_port(value);
  if (!hp) {
    throw UsageError("--" + std::string(flag) + ": not HOST:PORT: \"" + value + "\"");
  }
  return *hp;
}

std::chrono::milliseconds flag_duration(std::string_view flag, const std::string& value) {
  auto d = parse_duration(value);
  if (!d) {
    throw UsageError("--" + std::string(flag) + ": not a duration (like 250ms, 10s, 2m): \"" +
                     value + "\"");
  }
  return *d;
}

std::uint64_t flag_bytes(std::string_view flag, const std::string& value) {
  auto b = parse_bytes(value);
  if (!b) {
    throw UsageError("--" + std::string(flag) + ": not a size (like 512, 64KiB, 8MiB): \"" + value +
                     "\"");
  }
  return *b;
}

void SettingSource::fail(std::string_view key, const std::string& why) const {
  if (from_flag) {
    std::string flag(key);
    std::replace(flag.begin(), flag.end(), '_', '-');
    throw UsageError("--" + flag + ": " + why);
  }
  file.fail(key, why);
}

std::string pick_setting(const std::string& flag, const ConfigNode& file, std::string_view key,
                         bool& from_flag) {
  from_flag = !flag.empty();
  return from_flag ? flag : file.string(key).value_or("");
}

std::chrono::milliseconds pick_duration_setting(const std::string& flag, const ConfigNode& file,
                                                std::string_view key,
                                                std::chrono::milliseconds fallback,
                                                bool& from_flag) {
  from_flag = !flag.empty();
  if (from_flag) {
    std::string name(key);
    std::replace(name.begin(), name.end(), '_', '-');
    return flag_duration(name, flag);
  }
  return file.duration(key).value_or(fallback);
}

std::vector<std::string> resolve_exec_command(bool exec, const std::vector<std::string>& command,
                                              const ConfigNode& file, std::string_view role) {
  if (exec && command.empty()) {
    throw UsageError("--exec: needs a command after -- (tender " + std::string(role) +
                     " ... --exec -- CMD ARGS)");
  }
  if (!exec && !command.empty()) {
    throw UsageError("a command was given without --exec: \"" + command[0] + "\"");
  }
  std::vector<std::string> out =
      exec ? command : file.strings("exec").value_or(std::vector<std::string>{});
  if (!exec && file.has("exec") && out.empty()) {
    file.fail("exec", "must name a command: [CMD, ARGS...]");
  }
  return out;
}

CommonOptions resolve_common(const CommonFlags& flags, const ConfigNode& file,
                             std::uint16_t default_admin_port) {
  CommonOptions o;
  o.admin = HostPort{"127.0.0.1", default_admin_port};
  o.config_file = flags.config;

  if (auto v = file.string("admin")) {
    auto hp = parse_host_port(*v);
    if (!hp) {
      file.fail("admin", "not HOST:PORT: \"" + *v + "\"");
    }
    o.admin = *hp;
  }
  if (auto hosts = file.strings("admin_allow_hosts")) {
    o.admin_allow_hosts = *hosts;
  }
  if (auto d = file.duration("grace")) {
    o.grace = *d;
  }
  if (auto v = file.string("log_level")) {
    auto l = log::parse_level(*v);
    if (!l) {
      file.fail("log_level", "must be debug, info, warn or error, not \"" + *v + "\"");
    }
    o.log_level = *l;
  }
  if (auto v = file.string("log_format")) {
    auto f = log::parse_format(*v);
    if (!f) {
      file.fail("log_format", "must be text or json, not \"" + *v + "\"");
    }
    o.log_format = *f;
  }

  if (!flags.admin.empty()) {
    o.admin = flag_host_port("admin", flags.admin);
  }
  if (!flags.admin_allow_hosts.empty()) {
    o.admin_allow_hosts = flags.admin_allow_hosts;
  }
  for (const auto& h : o.admin_allow_hosts) {
    if (h.empty() || h.find_first_of(" :/\t") != std::string::npos) {
      throw UsageError("--admin-allow-host: not a host name: \"" + h + "\"");
    }
  }
  if (!flags.grace.empty()) {
    o.grace = flag_duration("grace", flags.grace);
  }
  if (!flags.log_level.empty()) {
    auto l = log::parse_level(flags.log_level);
    if (!l) {
      throw UsageError("--log-level: must be debug, info, warn or error, not \"" + flags.log_level +
                       "\"");
    }
    o.log_level = *l;
  }
  if (!flags.log_format.empty()) {
    auto f = log::parse_format(flags.log_format);
    if (!f) {
      throw UsageError("--log-format: must be text or json, not \"" + flags.log_format + "\"");
    }
    o.log_format = *f;
  }
  return o;
}

}  // namespace tender

#include "election/elect_config.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <climits>

#include "core/cli.hpp"
#include "core/http.hpp"
#include "core/units.hpp"

namespace tender::election {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinTtl{200};
constexpr milliseconds kMaxTtl{3'600'000};

// A failure of a setting, as a flag's (UsageError) or as the file's (ConfigError at its line).
struct Source {
  const ConfigNode& file;
  bool from_flag;
  [[noreturn]] void fail(std::string_view key, const std::string& why) const {
    if (from_flag) {
      std::string flag(key);
      std::replace(flag.begin(), flag.end(), '_', '-');
      throw UsageError("--" + flag + ": " + why);
    }
    file.fail(key, why);
  }
};

bool valid_election(std::string_view s) {
  if (s.empty() || s.size() > 128) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;  // printable, no spaces: it is a line of the lock file
  });
}

std::string pick(const std::string& flag, const ConfigNode& file, std::string_view key,
                 bool& from_flag) {
  from_flag = !flag.empty();
  if (from_flag) {
    return flag;
  }
  return file.string(key).value_or("");
}

milliseconds pick_duration(const std::string& flag, const ConfigNode& file, std::string_view key,
                           milliseconds fallback, bool& from_flag) {
  from_flag = !flag.empty();
  if (from_flag) {
    return flag_duration(key, flag);
  }
  return file.duration(key).value_or(fallback);
}

void resolve_timing(const ElectFlags& f, const ConfigNode& file, ElectConfig& c) {
  bool ff = false;
  c.timing.ttl = pick_duration(f.ttl, file, "ttl", milliseconds(2'000), ff);
  if (c.timing.ttl < kMinTtl || c.timing.ttl > kMaxTtl) {
    Source{file, ff}.fail("ttl", "must be from 200ms to 1h, not " + format_duration(c.timing.ttl));
  }
  c.timing.margin = pick_duration(f.margin, file, "margin", c.timing.ttl / 10, ff);
  if (c.timing.margin > c.timing.ttl / 2) {
    Source{file, ff}.fail("margin", "must be at most half the ttl (" +
                                        format_duration(c.timing.ttl / 2) + "), not " +
                                        format_duration(c.timing.margin));
  }
}

void resolve_exec(const ElectFlags& f, const ConfigNode& file, ElectConfig& c) {
  if (f.exec && f.command.empty()) {
    throw UsageError("--exec: needs a command after -- (tender elect ... --exec -- CMD ARGS)");
  }
  if (!f.exec && !f.command.empty()) {
    throw UsageError("a command was given without --exec: \"" + f.command[0] + "\"");
  }
  c.exec = f.exec ? f.command : file.strings("exec").value_or(std::vector<std::string>{});
  if (!f.exec && file.has("exec") && c.exec.empty()) {
    file.fail("exec", "must name a command: [CMD, ARGS...]");
  }
  bool ff = false;
  c.exec_grace = pick_duration(f.exec_grace, file, "exec_grace", c.exec_grace, ff);
  if (c.exec_grace > milliseconds(600'000)) {
    Source{file, ff}.fail("exec_grace", "must be at most 10m");
  }
}

}  // namespace

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) {
    return "";
  }
  return buf;
}

ElectConfig resolve_elect(const ElectFlags& f, const ConfigNode& file) {
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "election",
                     "id", "backend", "ttl", "margin", "listen", "webhook", "exec", "exec_grace"});
  ElectConfig c;
  bool ff = false;
  c.election = pick(f.election, file, "election", ff);
  if (c.election.empty()) {
    throw UsageError("--election: required (the election's name, e.g. --election db)");
  }
  if (!valid_election(c.election)) {
    Source{file, ff}.fail("election",
                          "\"" + c.election + "\" must be 1-128 letters, digits, '-', '_' or '.'");
  }
  c.id = pick(f.id, file, "id", ff);
  if (c.id.empty()) {
    c.id = host_name();
  }
  if (!valid_id(c.id)) {
    Source{file, ff}.fail("id", "\"" + c.id + "\" must be 1-253 printable characters, no spaces");
  }
  c.backend = pick(f.backend, file, "backend", ff);
  if (c.backend.empty()) {
    throw UsageError("--backend: required (file:/shared/leader.lock or etcd://HOST:PORT,...)");
  }
  auto url = parse_backend_url(c.backend);
  if (!url) {
    Source{file, ff}.fail("backend", url.error().message());
  }
  c.backend_url = *url;
  resolve_timing(f, file, c);
  std::string listen = pick(f.listen, file, "listen", ff);
  if (!listen.empty()) {
    auto hp = parse_host_port(listen);
    if (!hp) {
      Source{file, ff}.fail("listen", "not HOST:PORT: \"" + listen + "\"");
    }
    c.listen = *hp;
  }
  c.webhook = pick(f.webhook, file, "webhook", ff);
  if (!c.webhook.empty()) {
    if (auto w = parse_http_url(c.webhook); !w) {
      Source{file, ff}.fail("webhook", w.error().message());
    }
  }
  resolve_exec(f, file, c);
  return c;
}

boost::json::object ElectConfig::to_json() const {
  boost::json::array argv;
  for (const auto& a : exec) {
    argv.emplace_back(a);
  }
  return {{"election", election},
          {"id", id},
          {"backend", backend},
          {"ttl", format_duration(timing.ttl)},
          {"margin", format_duration(timing.margin)},
          {"max_drift", timing.max_drift},
          {"listen", listen.str()},
          {"webhook", webhook},
          {"exec", std::move(argv)},
          {"exec_grace", format_duration(exec_grace)}};
}

}  // namespace tender::election

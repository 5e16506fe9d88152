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

void resolve_timing(const ElectFlags& f, const ConfigNode& file, ElectConfig& c) {
  bool ff = false;
  c.timing.ttl = pick_duration_setting(f.ttl, file, "ttl", milliseconds(2'000), ff);
  if (c.timing.ttl < kMinTtl || c.timing.ttl > kMaxTtl) {
    SettingSource{file, ff}.fail("ttl",
                                 "must be from 200ms to 1h, not " + format_duration(c.timing.ttl));
  }
  c.timing.margin = pick_duration_setting(f.margin, file, "margin", c.timing.ttl / 10, ff);
  if (c.timing.margin > c.timing.ttl / 2) {
    SettingSource{file, ff}.fail("margin", "must be at most half the ttl (" +
                                               format_duration(c.timing.ttl / 2) + "), not " +
                                               format_duration(c.timing.margin));
  }
}

void resolve_exec(const ElectFlags& f, const ConfigNode& file, ElectConfig& c) {
  c.exec = resolve_exec_command(f.exec, f.command, file, "elect");
  bool ff = false;
  c.exec_grace = pick_duration_setting(f.exec_grace, file, "exec_grace", c.exec_grace, ff);
  if (c.exec_grace > milliseconds(600'000)) {
    SettingSource{file, ff}.fail("exec_grace", "must be at most 10m");
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
  c.election = pick_setting(f.election, file, "election", ff);
  if (c.election.empty()) {
    throw UsageError("--election: required (the election's name, e.g. --election db)");
  }
  if (!valid_election(c.election)) {
    SettingSource{file, ff}.fail(
        "election", "\"" + c.election + "\" must be 1-128 letters, digits, '-', '_' or '.'");
  }
  c.id = pick_setting(f.id, file, "id", ff);
  if (c.id.empty()) {
    c.id = host_name();
  }
  if (!valid_id(c.id)) {
    SettingSource{file, ff}.fail("id",
                                 "\"" + c.id + "\" must be 1-253 printable characters, no spaces");
  }
  c.backend = pick_setting(f.backend, file, "backend", ff);
  if (c.backend.empty()) {
    throw UsageError("--backend: required (file:/shared/leader.lock or etcd://HOST:PORT,...)");
  }
  auto url = parse_backend_url(c.backend);
  if (!url) {
    SettingSource{file, ff}.fail("backend", url.error().message());
  }
  c.backend_url = *url;
  resolve_timing(f, file, c);
  std::string listen = pick_setting(f.listen, file, "listen", ff);
  if (!listen.empty()) {
    auto hp = parse_host_port(listen);
    if (!hp) {
      SettingSource{file, ff}.fail("listen", "not HOST:PORT: \"" + listen + "\"");
    }
    c.listen = *hp;
  }
  c.webhook = pick_setting(f.webhook, file, "webhook", ff);
  if (!c.webhook.empty()) {
    if (auto w = parse_http_url(c.webhook); !w) {
      SettingSource{file, ff}.fail("webhook", w.error().message());
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

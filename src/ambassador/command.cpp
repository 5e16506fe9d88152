// `tender proxy`: run from --config FILE, or the one-liner flags; --check validates only.
#include <cstdio>

#include "ambassador/ambassador.hpp"
#include "ambassador/proxy.hpp"
#include "core/cli.hpp"

namespace tender::ambassador {
namespace {

struct ProxyFlags {
  std::string check;
  std::string listen;
  std::string to;
  std::string policy;
  bool redis = false;
  bool http = false;
  bool tcp = false;
  int workers = 0;
  std::string busy_poll;
};

int run(const CommonFlags& common, const ProxyFlags& f) {
  if (!f.check.empty()) {
    ProxyConfig c = load_proxy_config(f.check);  // ConfigError: exit 2 with file:line
    std::printf("ok: %zu listener(s), %zu cluster(s)\n", c.listeners.size(), c.clusters.size());
    return 0;
  }
  ConfigNode file = common.load_config();
  CommonOptions opts = resolve_common(common, file, kProxyAdminPort);
  ProxyOptions po;
  bool one_liner = !f.listen.empty() || !f.to.empty();
  if (one_liner && !common.config.empty()) {
    throw UsageError("use either --config FILE or --listen/--to, not both");
  }
  if (one_liner) {
    if (f.listen.empty() || f.to.empty()) {
      throw UsageError("the one-liner needs both --listen HOST:PORT and --to HOST:PORT,...");
    }
    if (static_cast<int>(f.redis) + static_cast<int>(f.http) + static_cast<int>(f.tcp) > 1) {
      throw UsageError("choose one of --redis, --http, --tcp");
    }
    Protocol p = f.redis ? Protocol::kRedis : f.http ? Protocol::kHttp : Protocol::kTcp;
    po.config = one_liner_config(f.listen, p, f.to, f.policy);
  } else if (!common.config.empty()) {
    po.config = parse_proxy_config(file);
    po.config_file = common.config;
  } else {
    throw UsageError(
        "nothing to proxy: give --config FILE, or --listen HOST:PORT --to HOST:PORT,... "
        "(see tender proxy --help)");
  }
  if (f.workers > 0) {
    po.config.workers = f.workers;
  }
  if (!f.busy_poll.empty()) {
    auto d = parse_duration_us(f.busy_poll);
    if (!d || *d > kMaxBusyPoll) {
      throw UsageError("--busy-poll: not a duration from 0 to " +
                       std::to_string(kMaxBusyPoll.count()) + "us: \"" + f.busy_poll + "\"");
    }
    po.config.busy_poll = *d;
    po.busy_poll_flag = *d;
  }
  Proxy proxy(std::move(po));
  return run_role("proxy", proxy, opts);
}

}  // namespace

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "proxy",
      "The ambassador: tcp, http and redis listeners in front of balanced, health-checked "
      "clusters");
  auto common = std::make_shared<CommonFlags>();
  auto f = std::make_shared<ProxyFlags>();
  add_common_flags(*cmd, *common, kProxyAdminPort);
  cmd->add_option("--check", f->check, "Validate a config file and exit (0 ok, 2 with file:line)");
  cmd->add_option("--listen", f->listen, "One-liner: the listener's HOST:PORT");
  cmd->add_option("--to", f->to, "One-liner: the endpoints, HOST:PORT,HOST:PORT,...");
  cmd->add_flag("--redis", f->redis, "One-liner: a redis listener sharding by key");
  cmd->add_flag("--http", f->http, "One-liner: an http listener");
  cmd->add_flag("--tcp", f->tcp, "One-liner: a tcp listener (the default)");
  cmd->add_option("--policy", f->policy,
                  "One-liner: round_robin, random, least_request, ring_hash, maglev, jump");
  in_range(cmd->add_option("--workers", f->workers,
                           "Worker threads (default: the config's, or one per core)"),
           1, 256);
  cmd->add_option("--busy-poll", f->busy_poll,
                  "How long at most a worker out of work looks for more before sleeping, "
                  "like 20us (default: the config's, or 0: sleep at once)");
  cmd->callback([common, f, &exit_code] { exit_code = run(*common, *f); });
  return cmd;
}

}  // namespace tender::ambassador

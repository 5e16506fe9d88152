#include "scatter/shard_config.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>

#include "core/cli.hpp"

namespace tender::scatter {
namespace {

using upstream::ClusterConfig;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

// "a1|a2": the replicas of one shard.
Result<std::vector<HostPort>> parse_replicas(std::string_view text) {
  std::vector<HostPort> out;
  std::size_t start = 0;
  while (true) {
    std::size_t bar = text.find('|', start);
    std::string piece(trim(text.substr(start, bar == std::string_view::npos ? bar : bar - start)));
    if (piece.empty()) {
      return invalid_argument("an empty replica (HOST:PORT between the '|'s)");
    }
    auto hp = parse_host_port(piece);
    if (!hp || hp->host.empty()) {
      return invalid_argument("expected HOST:PORT, not \"" + piece + "\"");
    }
    if (hp->port == 0) {
      return invalid_argument("port 0 in \"" + piece + "\": a leaf needs its port");
    }
    out.push_back(*hp);
    if (bar == std::string_view::npos) {
      return out;
    }
    start = bar + 1;
  }
}

// `replicas:`, a cluster block without a name or a source. parse_cluster wants both, so it reads
// a copy that has them, made of the block's own key and value nodes: a mistake is still reported
// at the block's line and key ("scatter.yaml:9: replicas.policy: ...").
ClusterConfig parse_replicas_block(const ConfigNode& n) {
  ClusterConfig c;
  if (!n.defined()) {
    return c;
  }
  if (!n.is_map()) {
    n.fail("", "expected a mapping (policy, health_check, outlier, limits, connect_timeout)");
  }
  for (std::string_view key : {"name", "endpoints", "dns", "dns_refresh", "file"}) {
    if (n.has(key)) {
      n.fail(key, "replicas has no name or source: leaves, shards or shard_set give the shards");
    }
  }
  YAML::Node copy(YAML::NodeType::Map);
  for (auto it = n.yaml().begin(); it != n.yaml().end(); ++it) {
    copy.force_insert(it->first, it->second);
  }
  copy.force_insert("name", "replicas");
  YAML::Node endpoints(YAML::NodeType::Sequence);
  endpoints.push_back("127.0.0.1:1");
  copy.force_insert("endpoints", endpoints);
  c = upstream::parse_cluster(
      ConfigNode(copy, std::make_shared<const std::string>(n.file()), n.path()));
  c.name.clear();
  c.endpoints.clear();
  c.line = n.line();
  return c;
}

// Shard names appear in headers (X-Tender-Missing: s3,s7) and metric labels.
bool valid_shard_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_' || ch == '.';
  });
}

// A `shards:` block: its own source, and `replicas:`'s settings except those it sets itself.
ClusterConfig parse_shard_block(const ConfigNode& n, const ClusterConfig& replicas) {
  ClusterConfig own = upstream::parse_cluster(n);
  if (!valid_shard_name(own.name)) {
    n.fail("name",
           "a shard's name is 1-64 letters, digits, '-', '_' or '.' (it appears in "
           "headers and metrics): \"" +
               own.name + "\"");
  }
  ClusterConfig c = replicas;
  c.name = own.name;
  c.line = own.line;
  c.source = own.source;
  c.endpoints = own.endpoints;
  c.dns = own.dns;
  c.dns_refresh = own.dns_refresh;
  c.file = own.file;
  if (n.has("policy")) {
    c.policy = own.policy;
    c.policy_set = true;
  }
  if (n.has("hash")) {
    c.hash = own.hash;
  }
  if (n.has("hash_on")) {
    c.hash_on = own.hash_on;
  }
  if (n.has("auto_eject")) {
    c.auto_eject = own.auto_eject;
    c.auto_eject_set = true;
  }
  if (n.has("connect_timeout")) {
    c.connect_timeout = own.connect_timeout;
  }
  if (n.has("health_check")) {
    c.health = own.health;
  }
  if (n.has("outlier")) {
    c.outlier = own.outlier;
  }
  if (n.has("limits")) {
    c.limits = own.limits;
  }
  if (c.hash_on.keyed() && !upstream::is_hash_policy(c.policy)) {
    n.fail("policy", "shard " + c.name + " hashes on " + c.hash_on.str() + " (from replicas) " +
                         "but has policy " + std::string(upstream::policy_name(c.policy)) +
                         ": use ring_hash, maglev or jump");
  }
  return c;
}

std::vector<ClusterConfig> from_leaves(const std::vector<std::vector<HostPort>>& leaves,
                                       const ClusterConfig& replicas, int line) {
  std::vector<ClusterConfig> out;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    ClusterConfig c = replicas;
    c.name = "s" + std::to_string(i);
    c.line = line;
    c.source = ClusterConfig::Source::kStatic;
    c.endpoints = leaves[i];
    out.push_back(std::move(c));
  }
  return out;
}

// `leaves:` in the file: "a1|a2,b1|b2", or a list with one shard ("a1|a2") per item.
std::vector<ClusterConfig> file_leaves(const ConfigNode& file, const ClusterConfig& replicas) {
  ConfigNode n = file.child("leaves");
  if (n.is_scalar()) {
    auto leaves = parse_leaves(n.as_string());
    if (!leaves) {
      file.fail("leaves", leaves.error().message());
    }
    return from_leaves(*leaves, replicas, n.line());
  }
  std::vector<ClusterConfig> out;
  for (const auto& item : n.items()) {
    std::string text = item.as_string();
    if (text.find(',') != std::string::npos) {
      item.fail("", "one shard per item, its replicas separated by '|', not ','");
    }
    auto replicas_of = parse_replicas(text);
    if (!replicas_of) {
      item.fail("", replicas_of.error().message());
    }
    ClusterConfig shard = from_leaves({*replicas_of}, replicas, item.line()).front();
    shard.name = "s" + std::to_string(out.size());
    out.push_back(std::move(shard));
  }
  if (out.empty()) {
    file.fail("leaves", "empty");
  }
  return out;
}

void file_shard_set(const ConfigNode& n, ScatterConfig& c) {
  if (!n.is_map()) {
    n.fail("", "expected a mapping: {dns: HOST:PORT} or {file: PATH}");
  }
  n.warn_unknown({"dns", "dns_refresh", "file"});
  if (n.has("dns") == n.has("file")) {
    n.fail("", "needs exactly one of dns, file");
  }
  if (auto dns = n.string("dns")) {
    auto hp = parse_host_port(*dns);
    if (!hp || hp->host.empty() || hp->port == 0) {
      n.fail("dns",
             "expected HOST:PORT (the name to resolve, the leaves' port), not \"" + *dns + "\"");
    }
    c.shard_set = ScatterConfig::ShardSet::kDns;
    c.shard_dns = *hp;
    c.dns_refresh = n.duration("dns_refresh").value_or(c.dns_refresh);
    if (c.dns_refresh.count() < 100) {
      n.fail("dns_refresh", "at least 100ms");
    }
    return;
  }
  if (n.has("dns_refresh")) {
    n.fail("dns_refresh", "only with dns");
  }
  c.shard_set = ScatterConfig::ShardSet::kFile;
  c.shard_file = *n.string("file");
  if (c.shard_file.empty()) {
    n.fail("file", "empty");
  }
}

}  // namespace

Result<std::vector<std::vector<HostPort>>> parse_leaves(std::string_view text) {
  if (trim(text).empty()) {
    return invalid_argument("no shards");
  }
  std::vector<std::vector<HostPort>> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string_view piece =
        trim(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    std::string shard = "shard " + std::to_string(out.size() + 1);
    if (piece.empty()) {
      return invalid_argument(shard + " is empty");
    }
    auto replicas = parse_replicas(piece);
    if (!replicas) {
      return replicas.error().with_context(shard);
    }
    out.push_back(std::move(*replicas));
    if (comma == std::string_view::npos) {
      return out;
    }
    start = comma + 1;
  }
}

void resolve_shards(const ScatterFlags& f, const ConfigNode& file, ScatterConfig& c) {
  c.replicas = parse_replicas_block(file.child("replicas"));
  std::vector<std::string> given;
  for (const auto& key : file.keys()) {
    if (key == "leaves" || key == "shards" || key == "shard_set") {
      given.push_back(key);
    }
  }
  if (given.size() > 1) {
    file.fail(given[1], "give one of leaves, shards, shard_set (" + given[0] + " is given too)");
  }
  if (file.has("leaves")) {
    c.shards = file_leaves(file, c.replicas);
  } else if (file.has("shards")) {
    ConfigNode list = file.child("shards");
    std::set<std::string> names;
    for (const auto& n : list.items()) {
      ClusterConfig shard = parse_shard_block(n, c.replicas);
      if (!names.insert(shard.name).second) {
        n.fail("name", "two shards named " + shard.name);
      }
      c.shards.push_back(std::move(shard));
    }
    if (c.shards.empty()) {
      file.fail("shards", "empty");
    }
  } else if (file.has("shard_set")) {
    file_shard_set(file.child("shard_set"), c);
  }
  if (!f.leaves.empty()) {  // the flag replaces whatever the file said
    auto leaves = parse_leaves(f.leaves);
    if (!leaves) {
      throw UsageError("--leaves: " + leaves.error().message());
    }
    c.shards = from_leaves(*leaves, c.replicas, 0);
    c.shard_set = ScatterConfig::ShardSet::kList;
  }
  if (c.shard_set == ScatterConfig::ShardSet::kList && c.shards.empty()) {
    throw UsageError("no shards: give --leaves, or shards or shard_set in the config file");
  }
}

}  // namespace tender::scatter

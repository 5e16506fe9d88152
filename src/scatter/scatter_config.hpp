#pragma once
// `tender scatter`'s settings: flags over the --config file over defaults, checked at start so
// that a mistake is exit code 2 naming the flag, or the file's line and key. (Private.)
//
//   ScatterConfig cfg = resolve_scatter(flags, file);    // throws UsageError / ConfigError
//
// The shards, three ways:
//   --leaves a1|a2,b1|b2        commas separate shards, '|' the replicas of one shard (a static
//                               list; in the file: `leaves: "a1|a2,b1|b2"` or a list of strings)
//   shards: [{name, endpoints | dns | file, ...cluster keys}]   one cluster block per shard
//                               (core/upstream/config.hpp): its replicas from a static list, a
//                               DNS name re-resolved, or a watched file
//   shard_set: {dns: HOST:PORT} each address the name resolves to is a shard (re-resolved every
//              {file: PATH}     dns_refresh); or a watched file, one shard per line ("a1|a2")
// Replicas of every shard share `replicas:` (policy, health_check, outlier, limits, as a
// cluster block without a source).

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/host_port.hpp"
#include "core/http_server.hpp"
#include "core/upstream/config.hpp"
#include "scatter/merge.hpp"
#include "scatter/split.hpp"

namespace tender::scatter {

using std::chrono::milliseconds;

struct ScatterFlags {
  std::string listen;
  int threads = 0;
  std::string leaves;
  std::string merge;
  std::string split;
  std::string hedge;
  std::string hedge_budget;
  std::string hedge_burst;
  std::string deadline;
  std::string min_fraction;
  std::string timing;
  std::vector<std::string> pass_headers;
  int max_leaf_requests = -1;
  bool check = false;
};

// When a hedge goes to another replica of a shard that has not answered.
struct HedgeConfig {
  enum class Mode { kOff, kQuantile, kFixed };
  Mode mode = Mode::kOff;
  double quantile = 0.95;  // kQuantile: after this quantile of the shard's latency ("p95")
  milliseconds delay{0};   // kFixed ("20ms"); kQuantile: the delay until enough samples
  double budget = 0.05;    // at most this share of extra requests
  // Hedges allowed at once above the share: a request may want one per shard at once when
  // many shards are slow together (a leaf machine stalls), and a burst smaller than the fan-out
  // then refuses the very hedges the tail needs. Over a long run it is negligible.
  double burst = 100;
  std::size_t min_samples = 100;  // kQuantile: answers seen before the quantile is trusted
  // "off", "p95", "p99.9", "20ms"; nullopt-like errors are UsageError/ConfigError.
  [[nodiscard]] std::string str() const;
};

// How a request's answer says where its time went (opt-in).
enum class Timing {
  kOff,      // nothing
  kHeader,   // X-Tender-Shards: s0;ms=1.2;hedged, s1;ms=0.8, s2;missing
  kWrapper,  // {"result": <merged>, "partial": false, "missing": [], "shards": [...]}
};

// Parses "a1|a2,b1|b2": shards of replicas, each HOST:PORT. Errors (invalid_argument): "shard 2
// is empty", "shard 1: expected HOST:PORT, not \"x\"".
[[nodiscard]] Result<std::vector<std::vector<HostPort>>> parse_leaves(std::string_view text);
// "p95" -> 0.95, "p99.9" -> 0.999; errors for anything else.
[[nodiscard]] Result<double> parse_quantile(std::string_view text);

struct ScatterConfig {
  HostPort listen{"127.0.0.1", 8100};
  int threads = 1;
  ServerLimits limits;  // of the client side (request size, timeouts)

  // The shards: either a fixed list (each a cluster of replicas, named by `name`: "s0", "s1"...
  // for --leaves, or the block's name), or a shard set discovered at run time.
  std::vector<upstream::ClusterConfig> shards;
  enum class ShardSet { kList, kDns, kFile };
  ShardSet shard_set = ShardSet::kList;
  HostPort shard_dns;      // kDns
  std::string shard_file;  // kFile
  milliseconds dns_refresh{5'000};
  // What every shard's cluster takes besides its endpoints (policy, health check, outlier
  // ejection, limits: max_requests is the per-leaf concurrency limit).
  upstream::ClusterConfig replicas;

  MergeSpec merge;
  SplitSpec split;
  milliseconds deadline{1'000};       // when the request does not say (X-Tender-Deadline-Ms)
  milliseconds max_deadline{60'000};  // a request cannot ask for longer
  double min_fraction = 1.0;          // answers needed (of the shards sent to) for a 200
  HedgeConfig hedge;
  int retries = 1;               // more tries on another replica after a connect failure
  Timing timing = Timing::kOff;  // the default; a request may ask (X-Tender-Timing)
  // Request headers passed on to the leaves (besides Content-Type, and the deadline).
  std::vector<std::string> pass_headers{"Accept", "Authorization", "X-Request-Id", "traceparent",
                                        "tracestate"};
  std::size_t max_answer_bytes = std::size_t{16} << 20;  // a leaf's answer body
  // Requests in flight to one leaf (one replica) from this root; a request that finds it full
  // goes to another replica of the shard, else that try fails at once. 0: no limit.
  std::uint32_t max_leaf_requests = 0;
  std::string path;  // where the file came from (for reload), "" for flags only

  [[nodiscard]] boost::json::object to_json() const;
};

// Throws UsageError (a flag) or ConfigError (the file: "scatter.yaml:7: merge: unknown merge
// ..."), naming what is wrong. Needs at least one shard (or a shard set).
[[nodiscard]] ScatterConfig resolve_scatter(const ScatterFlags& flags, const ConfigNode& file);

}  // namespace tender::scatter

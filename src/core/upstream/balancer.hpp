// Load-balancing policies for the roles that send to upstreams (`tender proxy`, `tender
// scatter`): which upstream host takes the next request (or which shard owns a key). Pure logic:
// no sockets, no clock, no locks. Each worker thread owns its own balancers and rebuilds one
// whenever the set of hosts that may take traffic changes (membership, health, outlier
// ejection); building is O(table), picking is O(1) or O(log n) (round robin with unequal weights
// is O(n)).
//
// Usage:
//
//   std::vector<Host> hosts = {{"10.0.0.1:6379", 1}, {"10.0.0.2:6379", 1}, {"10.0.0.3:6379", 2}};
//   auto balancer = Balancer::make(Policy::kRingHash, hosts);
//   std::uint64_t h = hash_key("user:1000");
//   if (std::optional<std::size_t> i = balancer->pick(h, {})) {
//     forward_to(hosts[*i]);
//   }
//
// Hash-based policies (ring_hash, maglev, jump) send a key to the same host for as long as the
// host set does not change, and move few keys when it does. The others ignore the hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tender::upstream {

// Key hashing for hash-based policies and for sharding.
enum class HashFunction {
  kFnv1a64,  // FNV-1a, 64-bit (twemproxy's fnv1a_64); fast, weak in its high bits
  kMurmur3,  // MurmurHash3 x64_128 with seed 0, the low 64 bits (the first word of the digest)
};

// The 64-bit hash of `key`. Stable across builds and platforms: it may be persisted or shared
// with other implementations of the same function.
[[nodiscard]] std::uint64_t hash_key(std::string_view key, HashFunction f = HashFunction::kFnv1a64);

// "fnv1a_64" or "murmur3"; nullopt for anything else (names are case-sensitive).
[[nodiscard]] std::optional<HashFunction> parse_hash_function(std::string_view name);
// The name parse_hash_function() accepts.
[[nodiscard]] std::string_view hash_function_name(HashFunction f);

// Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014): a bucket in
// [0, buckets) for `key`. Growing `buckets` by one moves only keys that land in the new bucket.
// Requires buckets >= 1. The hash is used as given (no extra mixing), so results match other
// implementations of the paper's function.
[[nodiscard]] std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets);

enum class Policy { kRoundRobin, kRandom, kLeastRequest, kRingHash, kMaglev, kJump };

// round_robin, random, least_request, ring_hash, maglev, jump; nullopt for anything else.
[[nodiscard]] std::optional<Policy> parse_policy(std::string_view name);
// The name parse_policy() accepts.
[[nodiscard]] std::string_view policy_name(Policy p);
// True for ring_hash, maglev and jump: the policies that use the key's hash.
[[nodiscard]] bool is_hash_policy(Policy p);

struct Host {
  std::string name;          // stable identity, e.g. "10.0.0.1:6379"; ring_hash and maglev hash it
  std::uint32_t weight = 1;  // >= 1; relative share of traffic (jump ignores it)
};

struct BalancerOptions {
  // Seeds random and least_request. Any value is valid (0 included) and gives a reproducible
  // sequence; give each worker its own seed so that workers do not draw in lockstep.
  std::uint64_t seed = 0;
  // ring_hash: points on the ring per unit of weight (ketama uses 160 per server). If the ring
  // would exceed kMaxRingPoints (65536), every host's count is scaled down in proportion (at
  // least 1 each), which bounds a rebuild to a few milliseconds.
  std::uint32_t ring_points_per_weight = 160;
  // maglev: lookup table size M. make() uses the smallest prime >= max(this, 100 x hosts), so
  // with equal weights every host owns floor or ceil of M / hosts slots: within 1% of its fair
  // share. Weighted hosts own slots in proportion to weight. 4 bytes per slot.
  std::uint32_t maglev_table_size = 65537;
  // least_request: hosts drawn (weighted, with replacement) per pick; the least busy wins.
  std::uint32_t least_request_choices = 2;
  // ring_hash and maglev: hashes host names to place ring points and table permutations.
  HashFunction ring_hash = HashFunction::kFnv1a64;

  static constexpr std::uint32_t kMaxRingPointsPerWeight = 1u << 16;
  static constexpr std::uint64_t kMaxRingPoints = 1u << 16;
  static constexpr std::uint32_t kMaxMaglevTableSize = 1u << 24;

  // Empty if usable, otherwise a one-line message naming the offending field (for
  // configuration errors at start-up).
  [[nodiscard]] std::string validate() const;
};

// Maglev's lookup table for `hosts` under `o`: slot -> index into `hosts`, of the prime size
// described at BalancerOptions::maglev_table_size; empty if `hosts` is. What the maglev policy
// uses; exposed for tests and diagnostics. Same preconditions as Balancer::make().
[[nodiscard]] std::vector<std::uint32_t> maglev_table(const std::vector<Host>& hosts,
                                                      const BalancerOptions& o = {});

// Chooses among the hosts that may take traffic now. Not thread-safe: one owner (a worker
// thread) calls it. Rebuild it with make() whenever that set changes.
class Balancer {
 public:
  // Throws std::invalid_argument if `o.validate()` is not empty or a host has weight 0: both are
  // configuration errors, to be caught at start-up. Host names should be unique; ring_hash and
  // maglev give duplicates identical placements. An empty `hosts` is fine (pick() is nullopt).
  [[nodiscard]] static std::unique_ptr<Balancer> make(Policy policy, const std::vector<Host>& hosts,
                                                      const BalancerOptions& o = {});

  virtual ~Balancer() = default;

  // An index into the hosts given to make(), or nullopt when there are none.
  //
  // `hash` is the key's hash (see hash_key) for ring_hash, maglev and jump; the others ignore
  // it. ring_hash and maglev pass it through a 64-bit finalizer first, so a hash with weak high
  // bits (FNV-1a of "key:1", "key:2", ...) still spreads over the whole ring.
  //
  // `active` has one entry per host: its requests in flight, used by least_request (a missing
  // entry counts as 0). The others ignore it, so it may be empty for them.
  [[nodiscard]] virtual std::optional<std::size_t> pick(std::uint64_t hash,
                                                        std::span<const std::uint32_t> active) = 0;

  [[nodiscard]] virtual Policy policy() const = 0;
  // The number of hosts given to make().
  [[nodiscard]] virtual std::size_t size() const = 0;
};

}  // namespace tender::upstream

#include "core/upstream/balancer.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <numeric>
#include <random>
#include <stdexcept>

namespace tender::upstream {

namespace {

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a_64(std::string_view key) {
  std::uint64_t h = kFnvOffsetBasis;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// MurmurHash3's 64-bit finalizer: a bijection in which every input bit affects every output bit.
std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Little-endian load of up to 8 bytes, whatever the host's byte order.
std::uint64_t load_le(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

// MurmurHash3_x64_128 (Austin Appleby, public domain) with seed 0; returns h1, the low 64 bits.
std::uint64_t murmur3_x64_128_low(std::string_view key) {
  constexpr std::uint64_t kC1 = 0x87c37b91114253d5ULL;
  constexpr std::uint64_t kC2 = 0x4cf5ad432745937fULL;
  auto mix_k1 = [](std::uint64_t k) { return std::rotl(k * kC1, 31) * kC2; };
  auto mix_k2 = [](std::uint64_t k) { return std::rotl(k * kC2, 33) * kC1; };

  std::uint64_t h1 = 0;
  std::uint64_t h2 = 0;
  const char* p = key.data();
  const std::size_t blocks = key.size() / 16;
  for (std::size_t i = 0; i < blocks; ++i, p += 16) {
    h1 ^= mix_k1(load_le(p, 8));
    h1 = (std::rotl(h1, 27) + h2) * 5 + 0x52dce729;
    h2 ^= mix_k2(load_le(p + 8, 8));
    h2 = (std::rotl(h2, 31) + h1) * 5 + 0x38495ab5;
  }
  const std::size_t tail = key.size() % 16;
  if (tail > 8) {
    h2 ^= mix_k2(load_le(p + 8, tail - 8));
  }
  if (tail > 0) {
    h1 ^= mix_k1(load_le(p, std::min<std::size_t>(tail, 8)));
  }
  h1 ^= key.size();
  h2 ^= key.size();
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  return h1 + h2;
}

// Weighted sampling over hosts: prefix sums of the weights and a binary search, O(log n).
// Draws are reproducible for a seed: mt19937_64 is specified exactly, while
// std::uniform_int_distribution is not. The modulo bias is below total / 2^64: nothing.
class WeightedSampler {
 public:
  WeightedSampler(const std::vector<Host>& hosts, std::uint64_t seed) : rng_(seed) {
    cumulative_.reserve(hosts.size());
    std::uint64_t total = 0;
    for (const Host& host : hosts) {
      total += host.weight;
      cumulative_.push_back(total);
    }
  }

  // Requires at least one host.
  std::size_t sample() {
    const std::uint64_t r = rng_() % cumulative_.back();
    return static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), r) -
                                    cumulative_.begin());
  }

 private:
  std::vector<std::uint64_t> cumulative_;
  std::mt19937_64 rng_;
};

// What every policy shares: its name, its host count, and nullopt when there are no hosts.
class PolicyBase : public Balancer {
 public:
  PolicyBase(Policy policy, std::size_t size) : policy_(policy), size_(size) {}

  std::optional<std::size_t> pick(std::uint64_t hash, std::span<const std::uint32_t> active) final {
    if (size_ == 0) {
      return std::nullopt;
    }
    return choose(hash, active);
  }

  Policy policy() const final { return policy_; }
  std::size_t size() const final { return size_; }

 protected:
  // Only called with at least one host.
  virtual std::size_t choose(std::uint64_t hash, std::span<const std::uint32_t> active) = 0;

 private:
  Policy policy_;
  std::size_t size_;
};

// Smooth weighted round robin, as nginx does it: every pick, each host's `current` grows by its
// weight; the largest wins (ties: the first) and pays back the total. Weights 5,1,1 give
// a a b a c a a. O(n) per pick; with equal weights it is a plain O(1) rotation, same order.
class RoundRobin final : public PolicyBase {
 public:
  explicit RoundRobin(const std::vector<Host>& hosts)
      : PolicyBase(Policy::kRoundRobin, hosts.size()), current_(hosts.size(), 0) {
    weights_.reserve(hosts.size());
    for (const Host& host : hosts) {
      weights_.push_back(host.weight);
      total_ += host.weight;
    }
    equal_ = std::adjacent_find(weights_.begin(), weights_.end(), std::not_equal_to<>()) ==
             weights_.end();
  }

  std::size_t choose(std::uint64_t, std::span<const std::uint32_t>) override {
    const std::size_t n = weights_.size();
    if (equal_) {
      const std::size_t i = next_;
      next_ = (next_ + 1) % n;
      return i;
    }
    std::size_t best = 0;
    for (std::size_t i = 0; i < n; ++i) {
      current_[i] += weights_[i];
      if (current_[i] > current_[best]) {
        best = i;
      }
    }
    current_[best] -= total_;
    return best;
  }

 private:
  std::vector<std::int64_t> weights_;
  std::vector<std::int64_t> current_;
  std::int64_t total_ = 0;
  bool equal_ = true;
  std::size_t next_ = 0;
};

class Random final : public PolicyBase {
 public:
  Random(const std::vector<Host>& hosts, std::uint64_t seed)
      : PolicyBase(Policy::kRandom, hosts.size()), sampler_(hosts, seed) {}

  std::size_t choose(std::uint64_t, std::span<const std::uint32_t>) override {
    return sampler_.sample();
  }

 private:
  WeightedSampler sampler_;
};

// "Power of two choices" (Mitzenmacher): draw `choices` hosts by weight, with replacement, and
// take the one with the fewest requests in flight; on a tie the first drawn wins.
class LeastRequest final : public PolicyBase {
 public:
  LeastRequest(const std::vector<Host>& hosts, const BalancerOptions& o)
      : PolicyBase(Policy::kLeastRequest, hosts.size()),
        choices_(o.least_request_choices),
        sampler_(hosts, o.seed) {}

  std::size_t choose(std::uint64_t, std::span<const std::uint32_t> active) override {
    auto load = [&](std::size_t i) { return i < active.size() ? active[i] : 0u; };
    std::size_t best = sampler_.sample();
    for (std::uint32_t c = 1; c < choices_; ++c) {
      const std::size_t candidate = sampler_.sample();
      if (load(candidate) < load(best)) {
        best = candidate;
      }
    }
    return best;
  }

 private:
  std::uint32_t choices_;
  WeightedSampler sampler_;
};

// Ketama in the spirit of twemproxy: each host owns points on a 64-bit ring at the hashes of
// "<name>-0", "<name>-1", ...; a key belongs to the first point at or after its hash, wrapping
// around. Removing a host moves only the keys it owned.
class RingHash final : public PolicyBase {
 public:
  RingHash(const std::vector<Host>& hosts, const BalancerOptions& o)
      : PolicyBase(Policy::kRingHash, hosts.size()) {
    const std::uint64_t total_weight =
        std::accumulate(hosts.begin(), hosts.end(), std::uint64_t{0},
                        [](std::uint64_t sum, const Host& h) { return sum + h.weight; });
    const double wanted = static_cast<double>(total_weight) * o.ring_points_per_weight;
    const double scale =
        std::min(1.0, static_cast<double>(BalancerOptions::kMaxRingPoints) / std::max(wanted, 1.0));

    ring_.reserve(static_cast<std::size_t>(wanted * scale) + hosts.size());
    for (std::uint32_t i = 0; i < hosts.size(); ++i) {
      const double points = static_cast<double>(hosts[i].weight) * o.ring_points_per_weight;
      const auto count = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(points * scale));
      std::string label = hosts[i].name + "-";
      const std::size_t prefix = label.size();
      label.resize(prefix + 20);  // room for any uint64 in decimal
      for (std::uint64_t p = 0; p < count; ++p) {
        char* end = std::to_chars(label.data() + prefix, label.data() + label.size(), p).ptr;
        const std::string_view point_label(label.data(),
                                           static_cast<std::size_t>(end - label.data()));
        ring_.emplace_back(fmix64(hash_key(point_label, o.ring_hash)), i);
      }
    }
    // Ties (equal 64-bit points) are astronomically rare; ordering them by host index only
    // keeps the ring deterministic.
    std::sort(ring_.begin(), ring_.end());
    points_.reserve(ring_.size());
    owners_.reserve(ring_.size());
    for (const auto& [point, owner] : ring_) {
      points_.push_back(point);
      owners_.push_back(owner);
    }
    ring_ = {};
    // The index: for each value of a point's top `bits`, the first point with those bits or
    // higher ones. About one point per bucket, so that a lookup reads a few words instead of
    // searching the ring (with a branch mispredicted at each step).
    std::uint32_t bits = 1;
    while (bits < 20 && (std::size_t{1} << bits) < points_.size()) {
      ++bits;
    }
    shift_ = 64 - bits;
    index_.resize((std::size_t{1} << bits) + 1);
    std::size_t at = 0;
    for (std::size_t b = 0; b + 1 < index_.size(); ++b) {
      while (at < points_.size() && (points_[at] >> shift_) < b) {
        ++at;
      }
      index_[b] = static_cast<std::uint32_t>(at);
    }
    index_.back() = static_cast<std::uint32_t>(points_.size());
  }

  std::size_t choose(std::uint64_t hash, std::span<const std::uint32_t>) override {
    // The first point >= the key's (the first of equal points: the lowest host index), or the
    // ring's first when the key is past the last point.
    const std::uint64_t h = fmix64(hash);
    const std::size_t b = static_cast<std::size_t>(h >> shift_);
    std::size_t i = index_[b];
    const std::size_t end = index_[b + 1];
    while (i < end && points_[i] < h) {
      ++i;
    }
    return owners_[i == points_.size() ? 0 : i];
  }

 private:
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ring_;  // while building: {point, host}
  std::vector<std::uint64_t> points_;                          // sorted
  std::vector<std::uint32_t> owners_;                          // host index of points_[i]
  std::vector<std::uint32_t> index_;  // top bits of a point -> first position in points_
  std::uint32_t shift_ = 63;
};

// The smallest prime >= n, by trial division: table sizes are small enough for that.
std::uint64_t next_prime(std::uint64_t n) {
  auto is_prime = [](std::uint64_t m) {
    for (std::uint64_t d = 2; d * d <= m; ++d) {
      if (m % d == 0) {
        return false;
      }
    }
    return m >= 2;
  };
  while (!is_prime(n)) {
    ++n;
  }
  return n;
}

// Maglev (Eisenbud et al., NSDI 2016, section 3.4): a key's host is table[hash mod M].
class Maglev final : public PolicyBase {
 public:
  Maglev(const std::vector<Host>& hosts, const BalancerOptions& o)
      : PolicyBase(Policy::kMaglev, hosts.size()), table_(maglev_table(hosts, o)) {}

  std::size_t choose(std::uint64_t hash, std::span<const std::uint32_t>) override {
    return table_[fmix64(hash) % table_.size()];
  }

 private:
  std::vector<std::uint32_t> table_;  // slot -> host index
};

class Jump final : public PolicyBase {
 public:
  explicit Jump(std::size_t size) : PolicyBase(Policy::kJump, size) {}

  std::size_t choose(std::uint64_t hash, std::span<const std::uint32_t>) override {
    return jump_consistent_hash(hash, static_cast<std::uint32_t>(size()));
  }
};

constexpr std::pair<Policy, std::string_view> kPolicyNames[] = {
    {Policy::kRoundRobin, "round_robin"},
    {Policy::kRandom, "random"},
    {Policy::kLeastRequest, "least_request"},
    {Policy::kRingHash, "ring_hash"},
    {Policy::kMaglev, "maglev"},
    {Policy::kJump, "jump"},
};

constexpr std::pair<HashFunction, std::string_view> kHashFunctionNames[] = {
    {HashFunction::kFnv1a64, "fnv1a_64"},
    {HashFunction::kMurmur3, "murmur3"},
};

template <typename Enum, std::size_t N>
std::optional<Enum> find_value(const std::pair<Enum, std::string_view> (&names)[N],
                               std::string_view name) {
  for (const auto& [value, n] : names) {
    if (n == name) {
      return value;
    }
  }
  return std::nullopt;
}

template <typename Enum, std::size_t N>
std::string_view find_name(const std::pair<Enum, std::string_view> (&names)[N], Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) {
      return name;
    }
  }
  return "unknown";
}

}  // namespace

std::uint64_t hash_key(std::string_view key, HashFunction f) {
  switch (f) {
    case HashFunction::kFnv1a64:
      return fnv1a_64(key);
    case HashFunction::kMurmur3:
      return murmur3_x64_128_low(key);
  }
  return fnv1a_64(key);
}

std::optional<HashFunction> parse_hash_function(std::string_view name) {
  return find_value(kHashFunctionNames, name);
}

std::string_view hash_function_name(HashFunction f) { return find_name(kHashFunctionNames, f); }

std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets) {
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < static_cast<std::int64_t>(buckets)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        static_cast<double>(b + 1) *
        (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::uint32_t>(std::max<std::int64_t>(b, 0));
}

std::optional<Policy> parse_policy(std::string_view name) { return find_value(kPolicyNames, name); }

std::string_view policy_name(Policy p) { return find_name(kPolicyNames, p); }

bool is_hash_policy(Policy p) {
  return p == Policy::kRingHash || p == Policy::kMaglev || p == Policy::kJump;
}

std::string BalancerOptions::validate() const {
  if (ring_points_per_weight < 1 || ring_points_per_weight > kMaxRingPointsPerWeight) {
    return "balancer: ring_points_per_weight must be between 1 and " +
           std::to_string(kMaxRingPointsPerWeight);
  }
  if (maglev_table_size > kMaxMaglevTableSize) {
    return "balancer: maglev_table_size must be at most " + std::to_string(kMaxMaglevTableSize);
  }
  if (least_request_choices < 1) {
    return "balancer: least_request_choices must be at least 1";
  }
  return {};
}

// Each host has a permutation of the table's slots, (offset + j * skip) mod M with M prime,
// from two hashes of its name; hosts take turns claiming their next preferred free slot until
// the table is full.
//
// Weights, as Envoy does it: by proportional filling turns, not by repeated entries. In round t
// a host takes a turn if t * weight >= its target, and then raises its target by the largest
// weight; so the heaviest host takes a turn every round and one with a third of that weight
// every third round, and slot counts come out in proportion to weight.
std::vector<std::uint32_t> maglev_table(const std::vector<Host>& hosts, const BalancerOptions& o) {
  if (hosts.empty()) {
    return {};
  }
  const std::uint64_t m =
      next_prime(std::max<std::uint64_t>(o.maglev_table_size, 100 * hosts.size()));

  struct Builder {
    std::uint64_t offset;
    std::uint64_t skip;
    std::uint64_t weight;
    std::uint64_t next = 0;    // j: how far along its permutation the host has got
    std::uint64_t target = 0;  // takes a turn in round t once t * weight >= target
  };
  std::vector<Builder> builders;
  builders.reserve(hosts.size());
  std::uint64_t max_weight = 0;
  for (const Host& host : hosts) {
    const std::uint64_t h = hash_key(host.name, o.ring_hash);
    builders.push_back({.offset = fmix64(h) % m,
                        .skip = fmix64(h ^ 0x9e3779b97f4a7c15ULL) % (m - 1) + 1,
                        .weight = host.weight});
    max_weight = std::max<std::uint64_t>(max_weight, host.weight);
  }

  constexpr std::uint32_t kEmpty = UINT32_MAX;
  std::vector<std::uint32_t> table(m, kEmpty);
  std::uint64_t filled = 0;
  for (std::uint64_t round = 1; filled < m; ++round) {
    for (std::uint32_t i = 0; i < builders.size() && filled < m; ++i) {
      Builder& b = builders[i];
      if (round * b.weight < b.target) {
        continue;
      }
      b.target += max_weight;
      std::uint64_t slot = 0;
      do {  // a permutation of all M slots, and one is still free: this ends
        slot = (b.offset + b.next * b.skip) % m;
        ++b.next;
      } while (table[slot] != kEmpty);
      table[slot] = i;
      ++filled;
    }
  }
  return table;
}

std::unique_ptr<Balancer> Balancer::make(Policy policy, const std::vector<Host>& hosts,
                                         const BalancerOptions& o) {
  if (std::string error = o.validate(); !error.empty()) {
    throw std::invalid_argument(error);
  }
  for (const Host& host : hosts) {
    if (host.weight == 0) {
      throw std::invalid_argument("balancer: host " + host.name + " has weight 0");
    }
  }
  switch (policy) {
    case Policy::kRoundRobin:
      return std::make_unique<RoundRobin>(hosts);
    case Policy::kRandom:
      return std::make_unique<Random>(hosts, o.seed);
    case Policy::kLeastRequest:
      return std::make_unique<LeastRequest>(hosts, o);
    case Policy::kRingHash:
      return std::make_unique<RingHash>(hosts, o);
    case Policy::kMaglev:
      return std::make_unique<Maglev>(hosts, o);
    case Policy::kJump:
      return std::make_unique<Jump>(hosts.size());
  }
  throw std::invalid_argument("balancer: unknown policy");
}

}  // namespace tender::upstream

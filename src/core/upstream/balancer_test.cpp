#include "core/upstream/balancer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tender::upstream {
namespace {

constexpr std::uint32_t kKeys = 100'000;

std::vector<Host> make_hosts(std::size_t n) {
  std::vector<Host> hosts;
  for (std::size_t i = 0; i < n; ++i) {
    hosts.push_back({"10.0.0." + std::to_string(i + 1) + ":6379", 1});
  }
  return hosts;
}

std::vector<std::uint64_t> key_hashes(HashFunction f = HashFunction::kFnv1a64) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(kKeys);
  for (std::uint32_t i = 0; i < kKeys; ++i) {
    hashes.push_back(hash_key("key:" + std::to_string(i), f));
  }
  return hashes;
}

// The name of the host each key goes to: names, not indices, stay comparable across rebuilds.
std::vector<std::string> assign(Policy policy, const std::vector<Host>& hosts,
                                const std::vector<std::uint64_t>& hashes,
                                const BalancerOptions& o = {}) {
  auto balancer = Balancer::make(policy, hosts, o);
  std::vector<std::string> owners;
  owners.reserve(hashes.size());
  for (std::uint64_t h : hashes) {
    owners.push_back(hosts.at(balancer->pick(h, {}).value()).name);
  }
  return owners;
}

std::map<std::string, std::uint32_t> count(const std::vector<std::string>& owners) {
  std::map<std::string, std::uint32_t> counts;
  for (const std::string& owner : owners) {
    ++counts[owner];
  }
  return counts;
}

std::vector<std::uint32_t> pick_counts(Balancer& balancer, std::uint32_t picks,
                                       std::span<const std::uint32_t> active = {}) {
  std::vector<std::uint32_t> counts(balancer.size(), 0);
  for (std::uint32_t i = 0; i < picks; ++i) {
    ++counts.at(balancer.pick(i, active).value());
  }
  return counts;
}

// --- Hash functions ---

TEST(HashKeyTest, Fnv1a64KnownVectors) {
  EXPECT_EQ(hash_key(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(hash_key("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(hash_key("a", HashFunction::kFnv1a64), 0xaf63dc4c8601ec8cULL);
}

TEST(HashKeyTest, Murmur3KnownVectors) {
  EXPECT_EQ(hash_key("", HashFunction::kMurmur3), 0u);
  // Published MurmurHash3_x64_128 digests, seed 0 (as used by Guava and Boost.Hash2's tests):
  // "6c1b07bc7bbc4be347939ac4a93c437a" and "9a2685ff70a98c653e5c8ea6eae3fe43". The low 64 bits
  // are the first 8 bytes, little-endian. 43 bytes: two full blocks and an 11-byte tail.
  EXPECT_EQ(hash_key("The quick brown fox jumps over the lazy dog", HashFunction::kMurmur3),
            0xe34bbc7bbc071b6cULL);
  EXPECT_EQ(hash_key("The quick brown fox jumps over the lazy cog", HashFunction::kMurmur3),
            0x658ca970ff85269aULL);
}

TEST(HashKeyTest, Murmur3EveryTailLengthIsDeterministicAndDistinct) {
  std::string key;
  std::vector<std::uint64_t> seen;
  for (int len = 0; len <= 40; ++len) {
    const std::uint64_t h = hash_key(key, HashFunction::kMurmur3);
    EXPECT_EQ(h, hash_key(key, HashFunction::kMurmur3));
    EXPECT_EQ(std::count(seen.begin(), seen.end(), h), 0) << "length " << len;
    seen.push_back(h);
    key += static_cast<char>('a' + len % 26);
  }
}

TEST(HashKeyTest, ParseAndNameRoundTrip) {
  for (HashFunction f : {HashFunction::kFnv1a64, HashFunction::kMurmur3}) {
    EXPECT_EQ(parse_hash_function(hash_function_name(f)), f);
  }
  EXPECT_EQ(parse_hash_function("fnv1a_64"), HashFunction::kFnv1a64);
  EXPECT_EQ(parse_hash_function("murmur3"), HashFunction::kMurmur3);
  EXPECT_EQ(parse_hash_function(""), std::nullopt);
  EXPECT_EQ(parse_hash_function("md5"), std::nullopt);
  EXPECT_EQ(parse_hash_function("FNV1A_64"), std::nullopt);
}

// --- Policy names and construction ---

TEST(BalancerTest, ParsePolicyRoundTrip) {
  for (Policy p : {Policy::kRoundRobin, Policy::kRandom, Policy::kLeastRequest, Policy::kRingHash,
                   Policy::kMaglev, Policy::kJump}) {
    EXPECT_EQ(parse_policy(policy_name(p)), p);
    EXPECT_EQ(Balancer::make(p, make_hosts(2))->policy(), p);
  }
  EXPECT_EQ(parse_policy("ketama"), std::nullopt);
  EXPECT_EQ(parse_policy("Round_Robin"), std::nullopt);
  EXPECT_EQ(parse_policy(""), std::nullopt);
  EXPECT_TRUE(is_hash_policy(Policy::kRingHash));
  EXPECT_TRUE(is_hash_policy(Policy::kMaglev));
  EXPECT_TRUE(is_hash_policy(Policy::kJump));
  EXPECT_FALSE(is_hash_policy(Policy::kRoundRobin));
  EXPECT_FALSE(is_hash_policy(Policy::kRandom));
  EXPECT_FALSE(is_hash_policy(Policy::kLeastRequest));
}

TEST(BalancerTest, EmptyHostListPicksNothing) {
  for (Policy p : {Policy::kRoundRobin, Policy::kRandom, Policy::kLeastRequest, Policy::kRingHash,
                   Policy::kMaglev, Policy::kJump}) {
    auto balancer = Balancer::make(p, {});
    EXPECT_EQ(balancer->size(), 0u);
    EXPECT_EQ(balancer->pick(42, {}), std::nullopt) << policy_name(p);
  }
}

TEST(BalancerTest, OneHostAlwaysPicksIt) {
  for (Policy p : {Policy::kRoundRobin, Policy::kRandom, Policy::kLeastRequest, Policy::kRingHash,
                   Policy::kMaglev, Policy::kJump}) {
    auto balancer = Balancer::make(p, {{"only", 3}});
    EXPECT_EQ(balancer->size(), 1u);
    for (std::uint64_t h = 0; h < 1000; ++h) {
      ASSERT_EQ(balancer->pick(h * 0x9e3779b97f4a7c15ULL, {}), 0u) << policy_name(p);
    }
  }
}

TEST(BalancerTest, RejectsBadOptionsAndZeroWeight) {
  EXPECT_EQ(BalancerOptions{}.validate(), "");
  BalancerOptions o;
  o.least_request_choices = 0;
  EXPECT_NE(o.validate(), "");
  EXPECT_THROW((void)Balancer::make(Policy::kLeastRequest, make_hosts(2), o),
               std::invalid_argument);
  o = {};
  o.ring_points_per_weight = 0;
  EXPECT_NE(o.validate(), "");
  o = {};
  o.maglev_table_size = BalancerOptions::kMaxMaglevTableSize + 1;
  EXPECT_NE(o.validate(), "");
  EXPECT_THROW((void)Balancer::make(Policy::kRoundRobin, {{"a", 1}, {"b", 0}}),
               std::invalid_argument);
}

// --- round_robin ---

TEST(BalancerRoundRobinTest, EqualWeightsCycleExactly) {
  auto balancer = Balancer::make(Policy::kRoundRobin, make_hosts(4));
  for (std::size_t i = 0; i < 40; ++i) {
    ASSERT_EQ(balancer->pick(0, {}), i % 4);
  }
}

TEST(BalancerRoundRobinTest, SmoothWeightedSequence) {
  auto balancer = Balancer::make(Policy::kRoundRobin, {{"a", 5}, {"b", 1}, {"c", 1}});
  const std::string want = "aabacaa";
  std::string got;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < want.size(); ++i) {
      got += static_cast<char>('a' + balancer->pick(0, {}).value());
    }
  }
  EXPECT_EQ(got, want + want + want);
}

TEST(BalancerRoundRobinTest, SharesAreExact) {
  auto equal = Balancer::make(Policy::kRoundRobin, make_hosts(3));
  EXPECT_EQ(pick_counts(*equal, 3000), (std::vector<std::uint32_t>{1000, 1000, 1000}));
  auto weighted = Balancer::make(Policy::kRoundRobin, {{"a", 3}, {"b", 2}, {"c", 1}});
  EXPECT_EQ(pick_counts(*weighted, 6000), (std::vector<std::uint32_t>{3000, 2000, 1000}));
}

// --- random ---

TEST(BalancerRandomTest, WeightedShares) {
  BalancerOptions o;
  o.seed = 7;
  auto balancer = Balancer::make(Policy::kRandom, {{"a", 1}, {"b", 2}, {"c", 7}}, o);
  const auto counts = pick_counts(*balancer, kKeys);
  EXPECT_NEAR(counts[0] / double{kKeys}, 0.1, 0.01);
  EXPECT_NEAR(counts[1] / double{kKeys}, 0.2, 0.01);
  EXPECT_NEAR(counts[2] / double{kKeys}, 0.7, 0.01);
}

TEST(BalancerRandomTest, SameSeedSameSequence) {
  BalancerOptions o;
  o.seed = 99;
  auto a = Balancer::make(Policy::kRandom, make_hosts(5), o);
  auto b = Balancer::make(Policy::kRandom, make_hosts(5), o);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(a->pick(0, {}), b->pick(0, {}));
  }
}

// --- least_request ---

TEST(BalancerLeastRequestTest, PrefersTheIdleHost) {
  BalancerOptions o;
  o.seed = 3;
  auto balancer = Balancer::make(Policy::kLeastRequest, make_hosts(3), o);
  const std::vector<std::uint32_t> active = {10, 0, 10};
  const auto counts = pick_counts(*balancer, 30'000, active);
  // Two draws miss host 1 with probability (2/3)^2, so it gets 5/9 of picks, not 1/3.
  EXPECT_NEAR(counts[1] / 30'000.0, 5.0 / 9, 0.02);
}

TEST(BalancerLeastRequestTest, MoreChoicesConcentrateMore) {
  BalancerOptions o;
  o.seed = 3;
  o.least_request_choices = 5;
  auto balancer = Balancer::make(Policy::kLeastRequest, make_hosts(3), o);
  const std::vector<std::uint32_t> active = {10, 0, 10};
  const auto counts = pick_counts(*balancer, 30'000, active);
  EXPECT_NEAR(counts[1] / 30'000.0, 1 - std::pow(2.0 / 3, 5), 0.02);  // ~0.87
}

TEST(BalancerLeastRequestTest, EqualLoadSpreadsByWeight) {
  BalancerOptions o;
  o.seed = 11;
  auto equal = Balancer::make(Policy::kLeastRequest, make_hosts(3), o);
  for (std::uint32_t c : pick_counts(*equal, 30'000, std::vector<std::uint32_t>{4, 4, 4})) {
    EXPECT_NEAR(c / 30'000.0, 1.0 / 3, 0.02);
  }
  // A missing `active` counts as all idle: weighted random.
  auto weighted = Balancer::make(Policy::kLeastRequest, {{"a", 1}, {"b", 3}}, o);
  const auto counts = pick_counts(*weighted, 30'000);
  EXPECT_NEAR(counts[1] / 30'000.0, 0.75, 0.02);
}

// --- ring_hash ---

TEST(RingHashTest, BalancedAcrossHosts) {
  for (HashFunction f : {HashFunction::kFnv1a64, HashFunction::kMurmur3}) {
    BalancerOptions o;
    o.ring_hash = f;
    const auto counts = count(assign(Policy::kRingHash, make_hosts(10), key_hashes(f), o));
    ASSERT_EQ(counts.size(), 10u);
    for (const auto& [name, n] : counts) {
      EXPECT_LT(n, 1.3 * kKeys / 10) << name << " with " << hash_function_name(f);
      EXPECT_GT(n, 0.7 * kKeys / 10) << name << " with " << hash_function_name(f);
    }
  }
}

// The ring as Karger et al. and ketama define it, built here without the balancer's index:
// each host's points are the mixed hashes of "name-0", "name-1", ...; a key goes to the first
// point at or after its own mixed hash, wrapping past the last one.
std::uint64_t reference_mix(std::uint64_t k) {  // MurmurHash3's fmix64
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

TEST(RingHashTest, EveryKeyGoesToTheFirstPointAtOrAfterIt) {
  for (const std::vector<Host>& hosts :
       {std::vector<Host>{{"only:6379", 1}}, std::vector<Host>{{"a:1", 1}, {"b:1", 2}, {"c:1", 3}},
        make_hosts(7)}) {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ring;
    for (std::uint32_t i = 0; i < hosts.size(); ++i) {
      for (std::uint32_t p = 0; p < hosts[i].weight * 160; ++p) {
        ring.emplace_back(reference_mix(hash_key(hosts[i].name + "-" + std::to_string(p))), i);
      }
    }
    std::sort(ring.begin(), ring.end());
    auto balancer = Balancer::make(Policy::kRingHash, hosts);
    std::uint32_t wrapped = 0;
    for (std::uint64_t h : key_hashes()) {
      auto it = std::lower_bound(ring.begin(), ring.end(), std::pair{reference_mix(h), 0u});
      wrapped += it == ring.end() ? 1 : 0;
      const std::uint32_t want = it == ring.end() ? ring.front().second : it->second;
      ASSERT_EQ(balancer->pick(h, {}).value(), want) << "key hash " << h;
    }
    if (ring.size() > 1) {
      EXPECT_GT(wrapped, 0u) << "no key fell past the last point: the wrap went untested";
    }
  }
}

TEST(RingHashTest, RemovingAHostMovesOnlyItsKeys) {
  constexpr std::size_t kN = 10;
  const auto hashes = key_hashes();
  std::vector<Host> hosts = make_hosts(kN);
  const auto before = assign(Policy::kRingHash, hosts, hashes);

  const Host removed = hosts[4];
  hosts.erase(hosts.begin() + 4);
  const auto after = assign(Policy::kRingHash, hosts, hashes);
  std::uint32_t moved = 0;
  for (std::size_t k = 0; k < hashes.size(); ++k) {
    if (before[k] != after[k]) {
      ++moved;
      ASSERT_EQ(before[k], removed.name) << "key " << k << " moved off a host that stayed";
    }
  }
  EXPECT_GE(moved, 0.8 * kKeys / kN);
  EXPECT_LE(moved, 1.3 * kKeys / kN);

  // Adding it back (at another position in the list) restores every key's host.
  hosts.push_back(removed);
  EXPECT_EQ(assign(Policy::kRingHash, hosts, hashes), before);
}

TEST(RingHashTest, WeightsScaleShares) {
  const std::vector<Host> hosts = {{"a", 1}, {"b", 2}, {"c", 1}};
  const auto counts = count(assign(Policy::kRingHash, hosts, key_hashes()));
  EXPECT_NEAR(counts.at("b") / double{kKeys}, 0.5, 0.06);
  EXPECT_NEAR(counts.at("a") / double{kKeys}, 0.25, 0.06);
}

TEST(RingHashTest, HugeWeightsAreScaledToTheRingCap) {
  auto balancer = Balancer::make(Policy::kRingHash, {{"a", 4'000'000'000u}, {"b", 1}});
  std::uint32_t to_b = 0;
  for (std::uint64_t h : key_hashes()) {
    to_b += balancer->pick(h, {}).value() == 1 ? 1 : 0;
  }
  EXPECT_LT(to_b, kKeys / 100);  // b keeps its one point
}

// --- maglev ---

bool is_prime(std::size_t n) {
  for (std::size_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) {
      return false;
    }
  }
  return n >= 2;
}

TEST(MaglevTest, TableSizeIsAPrimeAtLeastHundredPerHost) {
  EXPECT_EQ(maglev_table(make_hosts(3)).size(), 65537u);  // the default, already prime
  BalancerOptions o;
  o.maglev_table_size = 1000;
  EXPECT_EQ(maglev_table(make_hosts(3), o).size(), 1009u);   // next prime
  EXPECT_EQ(maglev_table(make_hosts(31), o).size(), 3109u);  // next prime >= 100 x 31
  o.maglev_table_size = 0;
  EXPECT_EQ(maglev_table(make_hosts(1), o).size(), 101u);
  EXPECT_TRUE(maglev_table({}, o).empty());
}

TEST(MaglevTest, TableSharesWithinOnePercent) {
  for (std::size_t n : {3u, 10u, 31u}) {
    for (std::uint32_t size : {101u, 65537u}) {  // 101 is rounded up to a prime >= 100 x n
      BalancerOptions o;
      o.maglev_table_size = size;
      const auto table = maglev_table(make_hosts(n), o);
      ASSERT_TRUE(is_prime(table.size()));
      ASSERT_GE(table.size(), 100 * n);
      std::vector<std::size_t> slots(n, 0);
      for (std::uint32_t owner : table) {
        ++slots.at(owner);
      }
      const auto [min, max] = std::minmax_element(slots.begin(), slots.end());
      EXPECT_LE(*max - *min, 1u) << "equal weights take turns, so counts differ by at most 1";
      const double fair = static_cast<double>(table.size()) / static_cast<double>(n);
      EXPECT_LE((*max - fair) / fair, 0.01) << "n=" << n << " M=" << table.size();
      EXPECT_LE((fair - *min) / fair, 0.01) << "n=" << n << " M=" << table.size();
    }
  }
}

TEST(MaglevTest, KeysFollowTheTable) {
  const auto counts = count(assign(Policy::kMaglev, make_hosts(10), key_hashes()));
  ASSERT_EQ(counts.size(), 10u);
  for (const auto& [name, c] : counts) {
    EXPECT_NEAR(c / double{kKeys}, 0.1, 0.01) << name;
  }
}

TEST(MaglevTest, RemovingAHostMovesFewKeys) {
  constexpr std::size_t kN = 10;
  const auto hashes = key_hashes();
  std::vector<Host> hosts = make_hosts(kN);
  const auto before = assign(Policy::kMaglev, hosts, hashes);
  const Host removed = hosts[7];
  hosts.erase(hosts.begin() + 7);
  const auto after = assign(Policy::kMaglev, hosts, hashes);
  std::uint32_t moved = 0;
  std::uint32_t moved_from_removed = 0;
  for (std::size_t k = 0; k < hashes.size(); ++k) {
    if (before[k] != after[k]) {
      ++moved;
      moved_from_removed += before[k] == removed.name ? 1 : 0;
    }
  }
  EXPECT_GE(moved, 0.8 * kKeys / kN);
  EXPECT_LE(moved, 1.5 * kKeys / kN);
  EXPECT_GE(moved_from_removed, 0.8 * moved);
}

TEST(MaglevTest, WeightsScaleTableShares) {
  const auto table = maglev_table({{"a", 1}, {"b", 3}, {"c", 1}, {"d", 2}});
  std::vector<double> share(4, 0);
  for (std::uint32_t owner : table) {
    share.at(owner) += 1.0 / static_cast<double>(table.size());
  }
  EXPECT_NEAR(share[0], 1.0 / 7, 0.002);
  EXPECT_NEAR(share[1], 3.0 / 7, 0.002);
  EXPECT_NEAR(share[2], 1.0 / 7, 0.002);
  EXPECT_NEAR(share[3], 2.0 / 7, 0.002);
}

// --- jump ---

TEST(JumpTest, GrowingMovesKeysOnlyToTheNewBucket) {
  const auto hashes = key_hashes();
  for (std::uint32_t n = 1; n < 20; ++n) {
    std::uint32_t moved = 0;
    for (std::uint64_t h : hashes) {
      const std::uint32_t old_bucket = jump_consistent_hash(h, n);
      const std::uint32_t new_bucket = jump_consistent_hash(h, n + 1);
      ASSERT_LT(old_bucket, n);
      if (old_bucket != new_bucket) {
        ASSERT_EQ(new_bucket, n) << "a key moved between old buckets";
        ++moved;
      }
    }
    EXPECT_NEAR(moved / double{kKeys}, 1.0 / (n + 1), 0.2 / (n + 1)) << "n=" << n;
  }
}

TEST(JumpTest, BalancerUsesHostOrderAndIgnoresWeights) {
  const auto hashes = key_hashes();
  auto balancer = Balancer::make(Policy::kJump, {{"a", 1}, {"b", 100}, {"c", 1}});
  std::vector<std::uint32_t> counts(3, 0);
  for (std::uint64_t h : hashes) {
    const std::size_t i = balancer->pick(h, {}).value();
    ASSERT_EQ(i, jump_consistent_hash(h, 3));
    ++counts[i];
  }
  for (std::uint32_t c : counts) {
    EXPECT_NEAR(c / double{kKeys}, 1.0 / 3, 0.02);
  }
}

}  // namespace
}  // namespace tender::upstream

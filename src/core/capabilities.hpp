// Linux capabilities by name, as container runtimes and Kubernetes manifests write them, and the
// sets a process holds. A set is a bit mask: bit N is capability N (CAP_CHOWN is 0).
//
//   std::optional<int> cap = tender::parse_capability("NET_ADMIN");  // or "CAP_NET_ADMIN"
//   std::uint64_t set = tender::capability_bit(*cap) | tender::capability_bit(CAP_KILL);
//   tender::capability_name(12);             // "NET_ADMIN"
//   tender::capability_names(set);           // "KILL,NET_ADMIN"
//
// Process::spawn applies a set to a child (SpawnOptions::capabilities).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tender {

// The highest capability this table names (CAP_CHECKPOINT_RESTORE, Linux 5.9).
inline constexpr int kLastKnownCapability = 40;

constexpr std::uint64_t capability_bit(int cap) { return std::uint64_t{1} << cap; }

// "NET_ADMIN", "CAP_NET_ADMIN", "net_admin": the capability's number. nullopt for an unknown
// name (and for "ALL", which callers handle themselves).
[[nodiscard]] std::optional<int> parse_capability(std::string_view name);

// "NET_ADMIN" (without the CAP_ prefix, as Kubernetes writes them), or "CAP_<n>" for a number
// this table does not name.
[[nodiscard]] std::string capability_name(int cap);

// The names of every capability in `set`, comma-separated in numeric order ("" for none).
[[nodiscard]] std::string capability_names(std::uint64_t set);

// Every capability this kernel knows (0 .. /proc/sys/kernel/cap_last_cap; the table's last if
// that cannot be read).
[[nodiscard]] std::uint64_t all_capabilities();

// The calling thread's own capabilities, for a child between fork and exec (Process::spawn,
// `tender pod exec`): these allocate nothing and return 0 or an errno value.
struct CapabilitySets {
  std::uint64_t effective = 0;
  std::uint64_t permitted = 0;
  std::uint64_t inheritable = 0;
};
[[nodiscard]] int get_capability_sets(CapabilitySets& out);         // capget
[[nodiscard]] int set_capability_sets(const CapabilitySets& sets);  // capset
// Drops every capability outside `keep` from the bounding set (needs CAP_SETPCAP), up to the
// last one this kernel knows.
[[nodiscard]] int drop_bounding_set(std::uint64_t keep);

}  // namespace tender

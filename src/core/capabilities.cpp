#include "core/capabilities.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

namespace tender {
namespace {

// Indexed by capability number (linux/capability.h).
// clang-format off
constexpr std::string_view kNames[] = {
    "CHOWN",            "DAC_OVERRIDE",   "DAC_READ_SEARCH", "FOWNER",      "FSETID",
    "KILL",             "SETGID",         "SETUID",          "SETPCAP",     "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST",  "NET_ADMIN",       "NET_RAW",     "IPC_LOCK",
    "IPC_OWNER",        "SYS_MODULE",     "SYS_RAWIO",       "SYS_CHROOT",  "SYS_PTRACE",
    "SYS_PACCT",        "SYS_ADMIN",      "SYS_BOOT",        "SYS_NICE",    "SYS_RESOURCE",
    "SYS_TIME",         "SYS_TTY_CONFIG", "MKNOD",           "LEASE",       "AUDIT_WRITE",
    "AUDIT_CONTROL",    "SETFCAP",        "MAC_OVERRIDE",    "MAC_ADMIN",   "SYSLOG",
    "WAKE_ALARM",       "BLOCK_SUSPEND",  "AUDIT_READ",      "PERFMON",     "BPF",
    "CHECKPOINT_RESTORE",
};
// clang-format on
static_assert(std::size(kNames) == kLastKnownCapability + 1);

}  // namespace

std::optional<int> parse_capability(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string_view bare = upper;
  if (bare.substr(0, 4) == "CAP_") {
    bare.remove_prefix(4);
  }
  for (int cap = 0; cap <= kLastKnownCapability; ++cap) {
    if (kNames[cap] == bare) {
      return cap;
    }
  }
  return std::nullopt;
}

std::string capability_name(int cap) {
  if (cap >= 0 && cap <= kLastKnownCapability) {
    return std::string(kNames[cap]);
  }
  return "CAP_" + std::to_string(cap);
}

std::string capability_names(std::uint64_t set) {
  std::string out;
  for (int cap = 0; cap < 64; ++cap) {
    if ((set & capability_bit(cap)) != 0) {
      out += (out.empty() ? "" : ",") + capability_name(cap);
    }
  }
  return out;
}

std::uint64_t all_capabilities() {
  int last = kLastKnownCapability;
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  if (int read = -1; in >> read && read >= 0 && read < 64) {
    last = read;
  }
  return last == 63 ? ~std::uint64_t{0} : capability_bit(last + 1) - 1;
}

}  // namespace tender

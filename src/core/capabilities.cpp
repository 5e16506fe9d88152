#include "core/capabilities.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "core/ascii.hpp"

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
  const std::string upper = ascii_upper(name);
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

int get_capability_sets(CapabilitySets& out) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return errno;
  }
  const auto join = [](__u32 low, __u32 high) { return (std::uint64_t{high} << 32) | low; };
  out.effective = join(data[0].effective, data[1].effective);
  out.permitted = join(data[0].permitted, data[1].permitted);
  out.inheritable = join(data[0].inheritable, data[1].inheritable);
  return 0;
}

int set_capability_sets(const CapabilitySets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<__u32>(sets.effective >> (32 * i));
    data[i].permitted = static_cast<__u32>(sets.permitted >> (32 * i));
    data[i].inheritable = static_cast<__u32>(sets.inheritable >> (32 * i));
  }
  return ::syscall(SYS_capset, &header, data) == 0 ? 0 : errno;
}

int drop_bounding_set(std::uint64_t keep) {
  for (int cap = 0; cap < 64; ++cap) {
    if ((keep & capability_bit(cap)) == 0 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return errno == EINVAL ? 0 : errno;  // EINVAL: past the last capability this kernel knows
    }
  }
  return 0;
}

}  // namespace tender

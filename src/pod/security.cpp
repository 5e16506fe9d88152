// securityContext, at the pod's level and the container's, as Kubernetes validates and merges it.
#include <charconv>

#include "core/ascii.hpp"
#include "core/capabilities.hpp"
#include "core/log.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

constexpr std::int64_t kMaxId = 2'147'483'647;  // Kubernetes: user and group ids are int32 >= 0
constexpr std::uint64_t kAll = ~std::uint64_t{0};

// Fields Kubernetes knows that a local runner does not apply: said once each, since a reader
// might count on them.
void warn_not_applied(const ConfigNode& sc, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (sc.has(key)) {
      ConfigNode c = sc.child(key);
      log::warn("securityContext field not applied locally",
                {{"file", c.file()}, {"line", c.line()}, {"field", c.path()}});
    }
  }
}

std::optional<std::int64_t> id(const ConfigNode& sc, std::string_view key) {
  return sc.integer(key, 0, kMaxId);
}

// capabilities.add or .drop as written: "ALL", and single names.
struct CapabilityList {
  bool all = false;
  std::uint64_t names = 0;
};

CapabilityList capability_list(const ConfigNode& caps, std::string_view key) {
  ConfigNode list = caps.child(key);
  if (list.defined() && !list.is_sequence()) {
    caps.fail(key, "expected a list of capability names, like [\"NET_ADMIN\"]");
  }
  CapabilityList out;
  for (const auto& item : list.items()) {
    if (!item.is_scalar()) {
      item.fail("", "expected a capability name, like NET_ADMIN");
    }
    const std::string name = item.as_string();
    const std::string upper = ascii_upper(name);
    if (upper == "ALL") {
      out.all = true;
      continue;
    }
    auto cap = parse_capability(name);
    if (!cap) {
      item.fail("", "unknown capability \"" + name + "\" (names like NET_ADMIN or CAP_NET_ADMIN)");
    }
    out.names |= capability_bit(*cap);
  }
  return out;
}

}  // namespace

bool SecuritySpec::is_default() const {
  return !run_as_user && !run_as_group && !run_as_non_root && groups.empty() && !privileged &&
         !allow_privilege_escalation && !read_only_root_filesystem &&
         capabilities == kDefaultCapabilities;
}

PodSecurity parse_pod_security(const ConfigNode& sc) {
  PodSecurity out;
  if (!sc.defined()) {
    return out;
  }
  if (!sc.is_map()) {
    sc.fail("", "expected a mapping, like {runAsUser: 1000}");
  }
  sc.warn_unknown({"runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups", "fsGroup",
                   "seLinuxOptions", "seccompProfile", "appArmorProfile", "sysctls",
                   "fsGroupChangePolicy", "supplementalGroupsPolicy", "seLinuxChangePolicy",
                   "windowsOptions"});
  warn_not_applied(sc, {"seLinuxOptions", "seccompProfile", "appArmorProfile", "sysctls",
                        "fsGroupChangePolicy", "supplementalGroupsPolicy", "seLinuxChangePolicy"});
  out.run_as_user = id(sc, "runAsUser");
  out.run_as_group = id(sc, "runAsGroup");
  out.run_as_non_root = sc.boolean("runAsNonRoot");
  out.fs_group = id(sc, "fsGroup");
  ConfigNode groups = sc.child("supplementalGroups");
  if (groups.defined() && !groups.is_sequence()) {
    sc.fail("supplementalGroups", "expected a list of group ids, like [1000]");
  }
  for (const auto& item : groups.items()) {
    std::int64_t v = -1;
    const std::string text = item.is_scalar() ? item.as_string() : "";
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0 || v > kMaxId) {
      item.fail("", "not a group id (an integer from 0 to 2147483647): \"" + text + "\"");
    }
    out.supplemental_groups.push_back(v);
  }
  if (out.run_as_non_root.value_or(false) && out.run_as_user == 0) {
    sc.fail("runAsUser", "runAsNonRoot is true but runAsUser is 0 (root)");
  }
  return out;
}

SecuritySpec parse_container_security(const ConfigNode& sc, const PodSecurity& pod) {
  SecuritySpec out;
  out.run_as_user = pod.run_as_user;
  out.run_as_group = pod.run_as_group;
  out.run_as_non_root = pod.run_as_non_root.value_or(false);
  out.groups = pod.supplemental_groups;
  if (pod.fs_group) {
    out.groups.push_back(*pod.fs_group);
  }
  if (sc.defined()) {
    if (!sc.is_map()) {
      sc.fail("", "expected a mapping, like {runAsUser: 1000}");
    }
    sc.warn_unknown({"capabilities", "privileged", "runAsUser", "runAsGroup", "runAsNonRoot",
                     "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount",
                     "seLinuxOptions", "seccompProfile", "appArmorProfile", "windowsOptions"});
    warn_not_applied(sc, {"procMount", "seLinuxOptions", "seccompProfile", "appArmorProfile"});
    if (auto v = id(sc, "runAsUser")) {
      out.run_as_user = v;
    }
    if (auto v = id(sc, "runAsGroup")) {
      out.run_as_group = v;
    }
    if (auto v = sc.boolean("runAsNonRoot")) {
      out.run_as_non_root = *v;
    }
    out.privileged = sc.boolean("privileged").value_or(false);
    out.allow_privilege_escalation = sc.boolean("allowPrivilegeEscalation");
    out.read_only_root_filesystem = sc.boolean("readOnlyRootFilesystem").value_or(false);
    CapabilityList add;
    if (ConfigNode caps = sc.child("capabilities"); caps.defined()) {
      if (!caps.is_map()) {
        sc.fail("capabilities", "expected a mapping with add and drop lists");
      }
      caps.warn_unknown({"add", "drop"});
      add = capability_list(caps, "add");
      const CapabilityList drop = capability_list(caps, "drop");
      // containerd's order: add ALL, drop ALL, then single names added, then single names
      // dropped; so [ALL] dropped and NET_BIND_SERVICE added keeps that one alone.
      std::uint64_t set = add.all ? kAll : kDefaultCapabilities;
      set = drop.all ? 0 : set;
      out.capabilities = (set | add.names) & ~drop.names;
    }
    const bool adds_sys_admin = add.all || (add.names & capability_bit(21)) != 0;
    const bool no_escalation = out.allow_privilege_escalation == false;
    if (no_escalation && out.privileged) {
      sc.fail("allowPrivilegeEscalation", "cannot be false for a privileged container");
    }
    if (no_escalation && adds_sys_admin) {
      sc.fail("allowPrivilegeEscalation", "cannot be false when capabilities.add has SYS_ADMIN");
    }
  }
  if (out.privileged) {
    out.capabilities = kAll;
  }
  if (sc.defined() && out.run_as_non_root && out.run_as_user == 0) {
    sc.fail(sc.has("runAsUser") ? "runAsUser" : "runAsNonRoot",
            "runAsNonRoot is true but runAsUser is 0 (root)");
  }
  return out;
}

}  // namespace tender::pod

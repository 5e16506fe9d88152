// securityContext as the runner reads it: the container's over the pod's, capabilities added and
// dropped in containerd's order, and what the API server refuses.
#include <gtest/gtest.h>

#include "core/capabilities.hpp"
#include "core/config.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {
namespace {

// A pod with `pod_sc` as its securityContext (if not empty) and one container with
// `container_sc` (if not empty); each is YAML flow text like "{runAsUser: 1000}".
std::string pod(const std::string& pod_sc, const std::string& container_sc) {
  std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n";  // lines 1-4
  yaml += pod_sc.empty() ? "  restartPolicy: Always\n" : "  securityContext: " + pod_sc + "\n";
  yaml += "  containers:\n    - name: app\n      command: [app]\n";  // lines 6-8
  if (!container_sc.empty()) {
    yaml += "      securityContext: " + container_sc + "\n";  // line 9
  }
  return yaml;
}

SecuritySpec security(const std::string& pod_sc, const std::string& container_sc) {
  return parse_manifests(pod(pod_sc, container_sc), "p.yaml").pods.at(0).containers.at(0).security;
}

std::string error_of(const std::string& pod_sc, const std::string& container_sc) {
  try {
    (void)parse_manifests(pod(pod_sc, container_sc), "p.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::uint64_t caps(std::initializer_list<const char*> names) {
  std::uint64_t set = 0;
  for (const char* n : names) {
    set |= capability_bit(*parse_capability(n));
  }
  return set;
}

TEST(Security, DefaultsAreTheRuntimeDefaultSetWithNoNewPrivileges) {
  SecuritySpec s = security("", "");
  EXPECT_EQ(s.capabilities, kDefaultCapabilities);
  EXPECT_EQ(capability_names(kDefaultCapabilities),
            "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,"
            "NET_RAW,SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP");
  EXPECT_EQ(kDefaultCapabilities & caps({"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"}), 0u);
  EXPECT_TRUE(s.no_new_privs());
  EXPECT_FALSE(s.privileged || s.read_only_root_filesystem || s.run_as_non_root);
  EXPECT_FALSE(s.run_as_user || s.run_as_group);
  EXPECT_TRUE(s.is_default());
}

TEST(Security, CapabilitiesAreAddedAndDroppedInContainerdsOrder) {
  // Drop everything, then add back one: the usual hardened manifest.
  EXPECT_EQ(security("", "{capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}").capabilities,
            caps({"NET_BIND_SERVICE"}));
  // Add everything but one.
  SecuritySpec all_but = security("", "{capabilities: {add: [all], drop: [CHOWN]}}");
  EXPECT_EQ(all_but.capabilities & caps({"CHOWN"}), 0u);
  EXPECT_NE(all_but.capabilities & caps({"SYS_ADMIN", "BPF"}), 0u);
  // Names with or without CAP_, in any case; a name in both lists is dropped.
  EXPECT_EQ(
      security("", "{capabilities: {add: [NET_ADMIN, cap_sys_time, KILL], drop: [KILL, net_raw]}}")
          .capabilities,
      (kDefaultCapabilities | caps({"NET_ADMIN", "SYS_TIME"})) & ~caps({"KILL", "NET_RAW"}));
  EXPECT_FALSE(security("", "{capabilities: {add: [NET_ADMIN]}}").is_default());
}

TEST(Security, PrivilegedKeepsEveryCapabilityAndMayGainMore) {
  SecuritySpec s = security("", "{privileged: true, capabilities: {drop: [ALL]}}");
  EXPECT_EQ(s.capabilities, ~std::uint64_t{0});
  EXPECT_FALSE(s.no_new_privs());
  EXPECT_FALSE(security("", "{allowPrivilegeEscalation: true}").no_new_privs());
  EXPECT_TRUE(security("", "{allowPrivilegeEscalation: false}").no_new_privs());
}

TEST(Security, TheContainersFieldsWinOverThePods) {
  SecuritySpec s = security(
      "{runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000, 4001], "
      "fsGroup: 2000, runAsNonRoot: true}",
      "{runAsUser: 1001, readOnlyRootFilesystem: true}");
  EXPECT_EQ(s.run_as_user, 1001);
  EXPECT_EQ(s.run_as_group, 3000);
  EXPECT_EQ(s.groups, (std::vector<std::int64_t>{4000, 4001, 2000}));
  EXPECT_TRUE(s.run_as_non_root);
  EXPECT_TRUE(s.read_only_root_filesystem);
  Manifests m = parse_manifests(pod("{fsGroup: 2000}", ""), "p.yaml");
  EXPECT_EQ(m.pods[0].security.fs_group, 2000);
}

TEST(Security, WhatTheApiServerRefusesIsAnErrorAtItsLine) {
  EXPECT_EQ(error_of("", "{capabilities: {add: [NET_ADMN]}}"),
            "p.yaml:9: spec.containers[0].securityContext.capabilities.add[0]: unknown capability "
            "\"NET_ADMN\" (names like NET_ADMIN or CAP_NET_ADMIN)");
  EXPECT_EQ(error_of("", "{capabilities: {add: NET_ADMIN}}"),
            "p.yaml:9: spec.containers[0].securityContext.capabilities.add: expected a list of "
            "capability names, like [\"NET_ADMIN\"]");
  EXPECT_EQ(error_of("", "{privileged: true, allowPrivilegeEscalation: false}"),
            "p.yaml:9: spec.containers[0].securityContext.allowPrivilegeEscalation: cannot be "
            "false for a privileged container");
  EXPECT_EQ(error_of("", "{allowPrivilegeEscalation: false, capabilities: {add: [SYS_ADMIN]}}"),
            "p.yaml:9: spec.containers[0].securityContext.allowPrivilegeEscalation: cannot be "
            "false when capabilities.add has SYS_ADMIN");
  EXPECT_EQ(error_of("", "{runAsUser: -1}"),
            "p.yaml:9: spec.containers[0].securityContext.runAsUser: -1 is out of range [0, "
            "2147483647]");
  EXPECT_EQ(error_of("{runAsNonRoot: true, runAsUser: 0}", ""),
            "p.yaml:5: spec.securityContext.runAsUser: runAsNonRoot is true but runAsUser is 0 "
            "(root)");
  EXPECT_EQ(error_of("{runAsUser: 0}", "{runAsNonRoot: true}"),
            "p.yaml:9: spec.containers[0].securityContext.runAsNonRoot: runAsNonRoot is true but "
            "runAsUser is 0 (root)");
  EXPECT_EQ(error_of("{supplementalGroups: [1, x]}", ""),
            "p.yaml:5: spec.securityContext.supplementalGroups[1]: not a group id (an integer "
            "from 0 to 2147483647): \"x\"");
  EXPECT_EQ(error_of("", "{privileged: maybe}"),
            "p.yaml:9: spec.containers[0].securityContext.privileged: not a boolean (true or "
            "false): \"maybe\"");
}

}  // namespace
}  // namespace tender::pod

// PersistentVolumeClaims: the kind, and persistentVolumeClaim volumes that name one.
#include <gtest/gtest.h>

#include "core/config.hpp"
#include "pod/manifest.hpp"
#include "pod/manifest_test_support.hpp"

namespace tender::pod {
namespace {

Manifests parse(const std::string& yaml) { return parse_manifests(yaml, "run.yaml"); }

std::string error_of(const std::string& yaml) { return testing::manifest_error(yaml, "run.yaml"); }

// A claim (lines 1-9), then a pod (from line 10) mounting it; `spec` replaces the claim's spec.
std::string with_claim(const std::string& spec =
                           "  accessModes: [ReadWriteOnce]\n"
                           "  storageClassName: local-path\n"
                           "  resources: {requests: {storage: 1Gi}}\n",
                       const std::string& volume = "{claimName: data}") {
  return "apiVersion: v1\n"                           // 1
         "kind: PersistentVolumeClaim\n"              // 2
         "metadata: {name: data, namespace: shop}\n"  // 3
         "spec:\n" +                                  // 4
         spec +                                       // 5-7
         "---\n"
         "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n"
         "  volumes:\n    - name: d\n      persistentVolumeClaim: " +
         volume +
         "\n  containers:\n    - name: app\n      command: [app]\n"
         "      volumeMounts: [{name: d, mountPath: /data}]\n";
}

TEST(Claims, AClaimIsReadAndAVolumeNamesIt) {
  Manifests m = parse(with_claim());
  const ClaimSpec& c = m.objects->claims.at({"shop", "data"});
  EXPECT_EQ(c.access_modes, std::vector<std::string>{"ReadWriteOnce"});
  EXPECT_EQ(c.storage, std::uint64_t{1} << 30);
  EXPECT_EQ(c.storage_class, "local-path");
  EXPECT_EQ(c.line, 1);
  const Volume& v = m.pods.at(0).volumes.at(0);
  EXPECT_EQ(v.kind, Volume::Kind::kPersistentVolumeClaim);
  EXPECT_EQ(v.claim_name, "data");
  EXPECT_FALSE(v.read_only);
  EXPECT_FALSE(v.is_generated());
  EXPECT_TRUE(
      parse(with_claim("  accessModes: [ReadOnlyMany]\n", "{claimName: data, readOnly: true}"))
          .pods.at(0)
          .volumes.at(0)
          .read_only);
}

TEST(Claims, WhatADirectoryCannotBeIsRefusedSayingWhy) {
  EXPECT_EQ(error_of(with_claim("  resources: {requests: {storage: 1Gi}}\n")),
            "run.yaml:5: spec.accessModes: required: at least one of ReadWriteOnce, "
            "ReadOnlyMany, ReadWriteMany, ReadWriteOncePod");
  EXPECT_EQ(error_of(with_claim("  accessModes: [ReadWriteAlways]\n")),
            "run.yaml:5: spec.accessModes: unknown access mode \"ReadWriteAlways\" "
            "(ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod)");
  EXPECT_EQ(error_of(with_claim("  accessModes: [ReadWriteOnce]\n  volumeMode: Block\n")),
            "run.yaml:6: spec.volumeMode: only Filesystem is supported locally (a claim is a "
            "directory), not \"Block\"");
  EXPECT_EQ(error_of(with_claim("  accessModes: [ReadWriteOnce]\n"
                                "  dataSource: {kind: VolumeSnapshot, name: s}\n")),
            "run.yaml:6: spec.dataSource: not supported locally: a claim starts empty (no "
            "clones or snapshots)");
  EXPECT_EQ(error_of(with_claim("  accessModes: [ReadWriteOnce]\n"
                                "  resources: {requests: {storage: lots}}\n")),
            "run.yaml:6: spec.resources.requests.storage: not a quantity like 1Gi: \"lots\"");
  EXPECT_EQ(error_of(with_claim("  accessModes: [ReadWriteOnce]\n", "{claimName: other}")),
            "run.yaml:13: spec.volumes[0].persistentVolumeClaim.claimName: no "
            "PersistentVolumeClaim \"other\" in namespace \"shop\" in the files of the run (add "
            "it)");
  std::string twice = with_claim();
  twice = twice.substr(0, twice.find("---\n") + 4) + twice;
  EXPECT_EQ(error_of(twice),
            "run.yaml:11: metadata.name: PersistentVolumeClaim \"data\" in namespace \"shop\" is "
            "already defined at run.yaml:3");
}

}  // namespace
}  // namespace tender::pod

// What a run accepts (ManifestLimits): each limit is an error naming the file, line and field,
// and says how to raise it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/config.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {
namespace {

// The ConfigError parsing throws, or nullopt.
std::optional<ConfigError> error_of(const std::string& yaml, const ManifestLimits& limits = {}) {
  try {
    (void)parse_manifests(yaml, "big.yaml", limits);
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

std::string pod_with_env(int entries) {
  std::string yaml =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
      "    - name: app\n      command: [app]\n      env:\n";  // env entries from line 9
  for (int i = 0; i < entries; ++i) {
    yaml += "        - {name: V" + std::to_string(i) + ", value: x}\n";
  }
  return yaml;
}

TEST(ManifestLimits, DefaultsAreWhatTheDocsSay) {
  ManifestLimits l;
  EXPECT_EQ(l.max_file_bytes, 4u << 20);
  EXPECT_EQ(l.max_pods, 1000);
  EXPECT_EQ(l.max_containers, 100);
  EXPECT_EQ(l.max_env, 1000);
  EXPECT_EQ(format_bytes(l.max_file_bytes), "4MiB");
  EXPECT_EQ(format_bytes(1536), "1536 bytes");
}

TEST(ManifestLimits, AFileLargerThanTheLimitIsRefusedBeforeItIsParsed) {
  std::string path = std::filesystem::temp_directory_path() /
                     ("tender-limits-" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(path);
    out << pod_with_env(1);
    out << "# " << std::string(5 << 20, 'x') << "\n";  // valid YAML, past 4 MiB
  }
  try {
    (void)load_manifests({path});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.line(), 0);  // the file as a whole
    EXPECT_NE(std::string(e.what()).find("larger than 4MiB"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max-manifest-bytes"), std::string::npos) << e.what();
  }
  ManifestLimits bigger;
  bigger.max_file_bytes = 8 << 20;
  EXPECT_EQ(load_manifests({path}, bigger).pods.size(), 1u);
  std::filesystem::remove(path);
}

TEST(ManifestLimits, EnvEntriesPastTheLimitAreAnErrorAtTheFirstOneOver) {
  auto e = error_of(pod_with_env(1001));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 9 + 1000);
  EXPECT_EQ(e->field(), "spec.containers[0].env[1000]");
  EXPECT_NE(std::string(e->what()).find("--max-env"), std::string::npos) << e->what();
  EXPECT_FALSE(error_of(pod_with_env(1000)));
  ManifestLimits fewer;
  fewer.max_env = 10;
  e = error_of(pod_with_env(11), fewer);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "spec.containers[0].env[10]");
}

TEST(ManifestLimits, ContainersPastTheLimitCountInitContainers) {
  std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n";
  for (int i = 0; i < 3; ++i) {
    yaml += "    - {name: i" + std::to_string(i) + ", command: [x]}\n";  // lines 6-8
  }
  yaml += "  containers:\n";
  for (int i = 0; i < 3; ++i) {
    yaml += "    - {name: c" + std::to_string(i) + ", command: [x]}\n";  // lines 10-12
  }
  ManifestLimits l;
  l.max_containers = 5;
  auto e = error_of(yaml, l);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 12);
  EXPECT_EQ(e->field(), "spec.containers[2]");
  EXPECT_NE(std::string(e->what()).find("--max-containers"), std::string::npos) << e->what();
  l.max_containers = 6;
  EXPECT_FALSE(error_of(yaml, l));
}

TEST(ManifestLimits, PodsPastTheLimitCountEveryReplica) {
  std::string yaml =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
      "  containers: [{name: c, command: [x]}]\n"
      "---\n"
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
      "  replicas: 4\n"  // line 11
      "  template:\n    spec:\n      containers: [{name: c, command: [x]}]\n";
  ManifestLimits l;
  l.max_pods = 4;
  auto e = error_of(yaml, l);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 11);
  EXPECT_EQ(e->field(), "spec.replicas");
  EXPECT_NE(std::string(e->what()).find("--max-pods"), std::string::npos) << e->what();
  l.max_pods = 5;
  EXPECT_FALSE(error_of(yaml, l));
  l.max_pods = 1;
  e = error_of(yaml + "---\n" +
                   "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n"
                   "  containers: [{name: c, command: [x]}]\n",
               l);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 11);  // the Deployment already went over
}

TEST(ManifestLimits, ExpansionThatDoublesIsRefusedWithoutBeingCarriedOut) {
  // Each entry doubles the last: fully expanded, the last would be 2^60 bytes.
  std::string yaml = pod_with_env(0) + "        - {name: V0, value: xxxxxxxx}\n";
  for (int i = 1; i <= 60; ++i) {
    std::string prev = "$(V" + std::to_string(i - 1) + ")";
    yaml += "        - {name: V" + std::to_string(i) + ", value: \"" + prev + prev + "\"}\n";
  }
  auto e = error_of(yaml);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 8);  // env:
  EXPECT_EQ(e->field(), "spec.containers[0].env");
  EXPECT_NE(std::string(e->what()).find("1024 KiB"), std::string::npos) << e->what();
}

TEST(ManifestLimits, ExpansionIsCheckedWithTheLongestNameAReplicaCanGet) {
  // 250,000 references to the pod's name: 750 KB for a 3-letter name, 1.25 MB for 5 letters.
  std::string refs;
  for (int i = 0; i < 250'000; ++i) {
    refs += "$(N)";
  }
  const std::string containers =
      "      - name: c\n        command: [x]\n        env:\n"
      "          - {name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
      "          - {name: M, value: \"" +
      refs + "\"}\n";
  EXPECT_FALSE(
      error_of("apiVersion: v1\nkind: Pod\nmetadata: {name: d-0}\nspec:\n"
               "    containers:\n" +
               containers));
  // Replica 0 is "d-0" too, but scaling can make "d-999".
  auto e = error_of(
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1\n"
      "  template:\n    spec:\n     containers:\n" +
      containers);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field(), "spec.template.spec.containers[0].env");
}

TEST(ManifestLimits, ResolvingManyEnvEntriesKeepsKubernetesOrderAndOverrides) {
  ManifestLimits l;
  l.max_env = 100'000;
  std::string yaml = pod_with_env(20'000) + "        - {name: V7, value: last-$(V7)}\n";
  Manifests m = parse_manifests(yaml, "big.yaml", l);
  auto env = resolve_env(m.pods[0], m.pods[0].containers[0], "127.0.0.1");
  ASSERT_EQ(env.size(), 20'000u);
  EXPECT_EQ(env[7], (std::pair<std::string, std::string>{"V7", "last-x"}));
  EXPECT_EQ(env.back().first, "V19999");
}

}  // namespace
}  // namespace tender::pod

// Jobs and StatefulSets as the manifest parser reads them: their settings, their pod template,
// and what they cannot be locally.
#include <gtest/gtest.h>

#include "core/config.hpp"
#include "pod/manifest.hpp"
#include "pod/manifest_test_support.hpp"

namespace tender::pod {
namespace {

Manifests parse(const std::string& yaml) { return parse_manifests(yaml, "job.yaml"); }

std::string error_of(const std::string& yaml) { return testing::manifest_error(yaml, "job.yaml"); }

// `spec` (indented by 2) goes before the template, from line 5; the template's restartPolicy
// is `policy`.
std::string job(const std::string& spec, const std::string& policy = "OnFailure") {
  return "apiVersion: batch/v1\n"     // 1
         "kind: Job\n"                // 2
         "metadata: {name: count}\n"  // 3
         "spec:\n" +                  // 4
         spec +
         "  template:\n"
         "    spec:\n"
         "      restartPolicy: " +
         policy +
         "\n"
         "      containers:\n"
         "        - name: work\n"
         "          command: [work]\n";
}

TEST(Jobs, SettingsAndPodsAreRead) {
  Manifests m =
      parse(job("  completions: 5\n  parallelism: 2\n  backoffLimit: 3\n"
                "  activeDeadlineSeconds: 60\n  ttlSecondsAfterFinished: 100\n"));
  ASSERT_EQ(m.jobs.size(), 1U);
  const JobSpec& j = m.jobs[0];
  EXPECT_EQ(j.completions, 5);
  EXPECT_EQ(j.parallelism, 2);
  EXPECT_EQ(j.backoff_limit, 3);
  EXPECT_EQ(j.active_deadline, std::chrono::seconds(60));
  EXPECT_EQ(j.template_.restart_policy, RestartPolicy::kOnFailure);
  EXPECT_TRUE(m.all_pods().empty());  // made as the Job runs
  PodSpec pod = make_job_pod(j, 7);
  EXPECT_EQ(pod.name, "count-7");
  EXPECT_EQ(pod.job, "count");
  // Kubernetes' defaults; without completions, a work queue.
  const JobSpec& d = parse(job("")).jobs[0];
  EXPECT_EQ(d.completions, std::nullopt);
  EXPECT_EQ(d.parallelism, 1);
  EXPECT_EQ(d.backoff_limit, 6);
  EXPECT_FALSE(d.active_deadline.has_value());
}

TEST(Jobs, WhatAJobCannotBeIsRefusedSayingWhy) {
  EXPECT_EQ(error_of(job("", "Always")),
            "job.yaml:7: spec.template.spec.restartPolicy: a Job's pods must use OnFailure or "
            "Never, not \"Always\"");
  std::string no_policy = job("");
  no_policy.erase(no_policy.find("      restartPolicy: OnFailure\n"), 31);
  EXPECT_EQ(error_of(no_policy),
            "job.yaml:7: spec.template.spec.restartPolicy: required in a Job's pod template: "
            "OnFailure or Never");
  EXPECT_EQ(error_of(job("  completionMode: Indexed\n")),
            "job.yaml:5: spec.completionMode: only NonIndexed is supported locally, not "
            "\"Indexed\"");
  EXPECT_EQ(error_of(job("  podFailurePolicy: {rules: []}\n")),
            "job.yaml:5: spec.podFailurePolicy: not supported locally (it changes when the Job "
            "fails or succeeds)");
  EXPECT_NE(error_of(job("  completions: 0\n")).find("job.yaml:5: spec.completions: "),
            std::string::npos);
  // Its pods' names are its own.
  std::string clash = job("  completions: 2\n") +
                      "---\napiVersion: v1\nkind: Pod\nmetadata: {name: count-1}\nspec:\n"
                      "  containers: [{name: a, command: [a]}]\n";
  EXPECT_NE(error_of(clash).find("pod name \"count-1\" (Pod count-1) is already taken by pod 1 "
                                 "of Job count"),
            std::string::npos)
      << error_of(clash);
}

constexpr const char* kStatefulSet = R"y(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  template:
    spec:
      containers:
        - name: db
          command: [db]
          volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
)y";

TEST(StatefulSets, ReplicasHaveStableNamesAndClaimsOfTheirOwn) {
  Manifests m = parse(kStatefulSet);
  ASSERT_EQ(m.stateful_sets.size(), 1U);
  const StatefulSetSpec& set = m.stateful_sets[0];
  EXPECT_EQ(set.replicas, 3);
  EXPECT_FALSE(set.parallel);
  EXPECT_EQ(set.service_name, "db");
  ASSERT_EQ(set.claim_templates.size(), 1U);
  EXPECT_EQ(set.claim_templates[0].storage, std::uint64_t{1} << 30);
  EXPECT_EQ(m.pod_count(), 3U);
  EXPECT_TRUE(m.all_pods().empty());  // started in order by the runner
  PodSpec pod = make_stateful_pod(set, 2);
  EXPECT_EQ(pod.name, "db-2");
  EXPECT_EQ(pod.stateful_set, "db");
  ASSERT_EQ(pod.volumes.size(), 1U);
  EXPECT_EQ(pod.volumes[0].kind, Volume::Kind::kPersistentVolumeClaim);
  EXPECT_EQ(pod.volumes[0].claim_name, "data-db-2");  // as Kubernetes names it
  std::string parallel = kStatefulSet;
  parallel.replace(parallel.find("  replicas: 3\n"), 0, "  podManagementPolicy: Parallel\n");
  EXPECT_TRUE(parse(parallel).stateful_sets[0].parallel);
}

TEST(StatefulSets, WhatAStatefulSetCannotBeIsRefusedSayingWhy) {
  std::string policy = kStatefulSet;
  policy.replace(policy.find("    spec:\n      containers"), 10,
                 "    spec:\n      restartPolicy: Never\n");
  EXPECT_EQ(error_of(policy),
            "job.yaml:9: spec.template.spec.restartPolicy: a StatefulSet's pods must use Always, "
            "not \"Never\"");
  std::string clash = kStatefulSet;
  clash.replace(clash.find("      containers:"), 0,
                "      volumes: [{name: data, emptyDir: {}}]\n");
  EXPECT_EQ(error_of(clash),
            "job.yaml:9: spec.template.spec.volumes: volume \"data\" has the name of one of the "
            "StatefulSet's volumeClaimTemplates");
  std::string block = kStatefulSet + std::string("        volumeMode: Block\n");
  EXPECT_NE(error_of(block).find("spec.volumeClaimTemplates[0].spec.volumeMode: only Filesystem"),
            std::string::npos)
      << error_of(block);
  std::string unknown = kStatefulSet;
  unknown.replace(unknown.find("  replicas: 3\n"), 0, "  podManagementPolicy: Sometimes\n");
  EXPECT_EQ(error_of(unknown),
            "job.yaml:6: spec.podManagementPolicy: OrderedReady or Parallel, not \"Sometimes\"");
}

}  // namespace
}  // namespace tender::pod

// The manifest parser's Jobs and StatefulSets (Parser, manifest_parser.hpp).
#include <set>

#include "core/config.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {

void Parser::job(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
                 const ConfigNode& spec) {
  JobSpec j;
  j.name = meta.name;
  spec.warn_unknown({"template", "completions", "parallelism", "backoffLimit",
                     "activeDeadlineSeconds", "suspend", "completionMode", "podFailurePolicy",
                     "successPolicy", "backoffLimitPerIndex", "maxFailedIndexes",
                     // What a cluster does with Jobs after the fact, or how it matches its
                     // pods: nothing for one run. Ignored silently.
                     "ttlSecondsAfterFinished", "selector", "manualSelector",
                     "podReplacementPolicy", "managedBy"});
  for (const char* key :
       {"podFailurePolicy", "successPolicy", "backoffLimitPerIndex", "maxFailedIndexes"}) {
    if (spec.has(key)) {
      spec.fail(key, "not supported locally (it changes when the Job fails or succeeds)");
    }
  }
  if (auto mode = spec.string("completionMode"); mode && *mode != "NonIndexed") {
    spec.fail("completionMode", "only NonIndexed is supported locally, not " + quote(*mode));
  }
  if (auto completions = spec.integer("completions", 1, kMaxReplicas)) {  // null: unset
    j.completions = static_cast<int>(*completions);
  }
  j.parallelism = static_cast<int>(spec.integer("parallelism", 0, kMaxReplicas).value_or(1));
  j.backoff_limit = static_cast<int>(spec.integer("backoffLimit", 0, kMaxReplicas).value_or(6));
  if (auto deadline = spec.integer("activeDeadlineSeconds", 1, 365LL * 24 * 3600)) {
    j.active_deadline = std::chrono::seconds(*deadline);
  }
  j.suspend = spec.boolean("suspend").value_or(false);
  count_pods(meta_node, "name", j.max_pods());

  const std::string longest = j.name + "-" + std::to_string(j.max_pods() - 1);
  j.template_ = pod_template(doc, meta, spec, PodOwner::kJob, j.name, longest);
  if (longest.size() > 253) {
    meta_node.fail("name",
                   "too long: the Job's pod names \"<name>-<index>\" exceed 253 characters");
  }
  // Its pods' names, "<name>-0" up to the most it can make, are its own.
  for (int i = 0; i < j.max_pods(); ++i) {
    claim_pod_name(meta_node, j.name + "-" + std::to_string(i),
                   "pod " + std::to_string(i) + " of Job " + j.name);
  }
  out_.jobs.push_back(std::move(j));
}

void Parser::stateful_set(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
                          const ConfigNode& spec) {
  StatefulSetSpec out;
  out.name = meta.name;
  spec.warn_unknown({"replicas", "selector", "serviceName", "template", "volumeClaimTemplates",
                     "podManagementPolicy",
                     // How a cluster rolls out changes and keeps claims: nothing for one run.
                     // Ignored silently.
                     "updateStrategy", "revisionHistoryLimit",
                     "persistentVolumeClaimRetentionPolicy"});
  out.replicas = static_cast<int>(spec.integer("replicas", 0, kMaxReplicas).value_or(1));
  count_pods(spec.has("replicas") ? spec : meta_node, spec.has("replicas") ? "replicas" : "name",
             out.replicas);
  out.service_name = spec.string("serviceName").value_or("");
  if (auto policy = spec.string("podManagementPolicy")) {
    if (*policy != "OrderedReady" && *policy != "Parallel") {
      spec.fail("podManagementPolicy", "OrderedReady or Parallel, not " + quote(*policy));
    }
    out.parallel = *policy == "Parallel";
  }
  std::set<std::string> claim_names;
  for (const auto& t : spec.child("volumeClaimTemplates").items()) {
    t.warn_unknown({"apiVersion", "kind", "metadata", "spec"});
    ClaimSpec claim;
    claim.name = required_text(t.child("metadata"), "name");
    if (!is_dns_label(claim.name)) {
      t.child("metadata")
          .fail("name",
                "not a valid volume name (lowercase letters, digits and "
                "'-', at most 63): " +
                    quote(claim.name));
    }
    if (!claim_names.insert(claim.name).second) {
      t.child("metadata").fail("name", "duplicate claim template " + quote(claim.name));
    }
    claim.namespace_ = meta.namespace_;
    claim.file = t.file();
    claim.line = t.line();
    claim_spec(t, claim);
    Volume v;
    v.name = claim.name;
    v.kind = Volume::Kind::kPersistentVolumeClaim;
    v.claim_name = claim.name;
    v.per_pod_claim = true;
    claim_template_volumes_.push_back(std::move(v));
    out.claim_templates.push_back(std::move(claim));
  }
  out.template_ = pod_template(doc, meta, spec, PodOwner::kStatefulSet, out.name,
                               out.name + "-" + std::to_string(kMaxReplicas - 1));
  for (int i = 0; i < out.replicas; ++i) {
    claim_pod_name(meta_node, out.name + "-" + std::to_string(i),
                   "replica " + std::to_string(i) + " of StatefulSet " + out.name);
  }
  out_.stateful_sets.push_back(std::move(out));
}

}  // namespace tender::pod

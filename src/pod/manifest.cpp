#include "pod/manifest.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>

#include "core/config.hpp"
#include "core/log.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {
namespace {

// ---- kinds ------------------------------------------------------------------------------------

// What tender pod does with a kind: runs it, or refuses it, because leaving out a workload (or a
// Service or claim one depends on) would run something other than what the manifest says. Any
// kind not listed is ignored with one warning (RBAC, Ingress, NetworkPolicy, autoscalers, custom
// resources: what a cluster acts on, and one machine does without). To run a kind: make its row
// kRun and give it a branch in Parser::document().
enum class KindRule { kRun, kRefuse };

struct KindRow {
  std::string_view kind;
  std::string_view api_version;
  KindRule rule;
  std::string_view why;  // kRefuse: the reason and what to do instead
};

constexpr std::array<KindRow, 13> kKinds{{
    {"Pod", "v1", KindRule::kRun, ""},
    {"Deployment", "apps/v1", KindRule::kRun, ""},
    {"ConfigMap", "v1", KindRule::kRun, ""},
    {"Secret", "v1", KindRule::kRun, ""},
    {"List", "v1", KindRule::kRun, ""},
    {"Service", "v1", KindRule::kRun, ""},
    {"PersistentVolumeClaim", "v1", KindRule::kRun, ""},
    {"StatefulSet", "apps/v1", KindRule::kRun, ""},
    {"Job", "batch/v1", KindRule::kRun, ""},
    {"CronJob", "batch/v1", KindRule::kRefuse, "not run (no schedules locally; use a Pod)"},
    {"DaemonSet", "apps/v1", KindRule::kRefuse,
     "not run (on one machine it is one pod: use a Pod or a Deployment)"},
    {"ReplicaSet", "apps/v1", KindRule::kRefuse, "not run (use a Deployment)"},
    {"ReplicationController", "v1", KindRule::kRefuse, "not run (use a Deployment)"},
}};

const KindRow* find_kind(std::string_view kind) {
  for (const auto& row : kKinds) {
    if (row.kind == kind) {
      return &row;
    }
  }
  return nullptr;
}

}  // namespace

std::string site(const ConfigNode& n) { return n.file() + ":" + std::to_string(n.line()); }

// ---- documents --------------------------------------------------------------------------------

void Parser::document(const ConfigNode& doc) {
  if (!doc.is_map()) {
    doc.fail("", "expected a Kubernetes object (a mapping with apiVersion and kind)");
  }
  auto kind = doc.string("kind");
  if (!kind) {
    doc.fail("kind", "required (Pod, Deployment, ConfigMap, Secret, ...)");
  }
  const KindRow* row = find_kind(*kind);
  if (row == nullptr) {
    if (ignored_kinds_.insert(*kind).second) {
      log::warn("kind " + *kind + " is not run by tender pod; ignored",
                {{"file", doc.file()}, {"line", doc.line()}, {"kind", *kind}});
    }
    return;
  }
  if (row->rule == KindRule::kRefuse) {
    doc.fail("kind", "kind " + quote(*kind) + " is " + std::string(row->why));
  }
  auto api = doc.string("apiVersion");
  if (!api) {
    doc.fail("apiVersion", "required (" + std::string(row->api_version) + " for a " + *kind + ")");
  }
  if (*api != row->api_version) {
    doc.fail("apiVersion", "a " + *kind + " needs apiVersion " + std::string(row->api_version) +
                               ", not " + quote(*api));
  }
  if (*kind == "List") {
    list(doc);
  } else if (*kind == "ConfigMap" || *kind == "Secret") {
    config_object(doc, *kind == "Secret");
  } else if (*kind == "PersistentVolumeClaim") {
    claim(doc);
  } else if (*kind == "Service") {
    service(doc);
  } else {
    workloads_.push_back(doc);  // read by finish(), once every ConfigMap and Secret is known
  }
}

// What `kubectl get -o yaml` prints for several objects: each item is a document.
void Parser::list(const ConfigNode& doc) {
  doc.warn_unknown({"apiVersion", "kind", "metadata", "items"});
  for (const auto& item : doc.child("items").items()) {
    if (item.is_map() && item.string("kind") == "List") {
      item.fail("kind", "a List within a List is not allowed");
    }
    document(item);
  }
}

Manifests Parser::finish() {
  for (const auto& doc : workloads_) {
    workload(doc);
  }
  workloads_.clear();
  out_.objects = objects_;
  return std::move(out_);
}

void Parser::workload(const ConfigNode& doc) {
  doc.warn_unknown({"apiVersion", "kind", "metadata", "spec", "status"});
  const bool is_pod = doc.string("kind") == "Pod";
  ConfigNode meta_node = doc.child("metadata");
  if (!meta_node.defined()) {
    doc.fail("metadata", "required (with a name)");
  }
  Metadata meta = metadata(meta_node, false);
  ConfigNode spec = doc.child("spec");
  if (!spec.defined()) {
    doc.fail("spec", "required");
  }
  if (doc.string("kind") == "Job") {
    job(doc, meta_node, std::move(meta), spec);
    return;
  }
  if (doc.string("kind") == "StatefulSet") {
    stateful_set(doc, meta_node, std::move(meta), spec);
    return;
  }
  if (!is_pod) {
    deployment(doc, meta_node, std::move(meta), spec);
    return;
  }
  PodSpec pod;
  pod.name = meta.name;
  pod.namespace_ = meta.namespace_;
  pod.labels = std::move(meta.labels);
  pod.annotations = std::move(meta.annotations);
  pod.file = doc.file();
  pod.line = doc.line();
  count_pods(meta_node, "name", 1);
  pod_spec(spec, pod, PodOwner::kNone);
  check_expansion(pod, spec);
  claim_pod_name(meta_node, pod.name, "Pod " + pod.name);
  out_.pods.push_back(std::move(pod));
}

PodSpec Parser::pod_template(const ConfigNode& doc, const Metadata& meta, const ConfigNode& spec,
                             PodOwner owner, const std::string& owner_name,
                             const std::string& longest_name) {
  ConfigNode tmpl = spec.child("template");
  if (!tmpl.defined()) {
    spec.fail("template", "required (the pod template: metadata and spec)");
  }
  tmpl.warn_unknown({"metadata", "spec"});
  Metadata tmeta = metadata(tmpl.child("metadata"), true);
  PodSpec pod;
  pod.namespace_ = meta.namespace_;
  pod.labels = std::move(tmeta.labels);
  pod.annotations = std::move(tmeta.annotations);
  (owner == PodOwner::kJob           ? pod.job
   : owner == PodOwner::kStatefulSet ? pod.stateful_set
                                     : pod.deployment) = owner_name;
  pod.file = doc.file();
  pod.line = doc.line();
  ConfigNode tspec = tmpl.child("spec");
  if (!tspec.defined()) {
    tmpl.fail("spec", "required");
  }
  pod_spec(tspec, pod, owner);
  // Checked with the longest name one of its pods can get ($(POD_NAME) and the like).
  PodSpec longest = pod;
  longest.name = longest_name;
  check_expansion(longest, tspec);
  return pod;
}

void Parser::deployment(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
                        const ConfigNode& spec) {
  DeploymentSpec d;
  d.name = meta.name;
  spec.warn_unknown({"replicas", "selector", "template",
                     // Rollout settings that mean nothing to one local copy, ignored silently.
                     "strategy", "revisionHistoryLimit", "progressDeadlineSeconds"});
  d.replicas = static_cast<int>(spec.integer("replicas", 0, kMaxReplicas).value_or(1));
  count_pods(spec.has("replicas") ? spec : meta_node, spec.has("replicas") ? "replicas" : "name",
             d.replicas);
  d.template_ = pod_template(doc, meta, spec, PodOwner::kDeployment, d.name,
                             d.name + "-" + std::to_string(kMaxReplicas - 1));

  if (auto it = deployment_sites_.find(d.name); it != deployment_sites_.end()) {
    meta_node.fail("name", "Deployment " + quote(d.name) + " is already defined at " + it->second);
  }
  deployment_sites_.emplace(d.name, site(meta_node.child("name")));
  if (d.replicas > 0 && d.name.size() + 1 + std::to_string(d.replicas - 1).size() > 253) {
    meta_node.fail("name", "too long: replica pod names \"<name>-<index>\" exceed 253 characters");
  }
  for (int i = 0; i < d.replicas; ++i) {
    claim_pod_name(meta_node, d.name + "-" + std::to_string(i),
                   "replica " + std::to_string(i) + " of Deployment " + d.name);
  }
  out_.deployments.push_back(std::move(d));
}

void Parser::count_pods(const ConfigNode& at, std::string_view key, std::int64_t more) {
  pod_count_ += more;
  if (pod_count_ > limits_.max_pods) {
    at.fail(key, "more than " + std::to_string(limits_.max_pods) +
                     " pods in the run, counting every replica (the limit; raise it with "
                     "--max-pods)");
  }
}

// $(VAR) references can make a container's environment as large as exec refuses (E2BIG), or
// as large as memory allows: a chain of $(A)$(A) doubles at every entry.
void Parser::check_expansion(const PodSpec& pod, const ConfigNode& spec) {
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    const char* key = list == &pod.containers ? "containers" : "initContainers";
    auto items = spec.child(key).items();
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (!expands_within(pod, (*list)[i], kMaxExpandedBytes)) {
        items[i].fail("env", "command, args and environment take more than " +
                                 std::to_string(kMaxExpandedBytes >> 10) +
                                 " KiB once $(VAR) references are expanded");
      }
    }
  }
}

void Parser::claim_pod_name(const ConfigNode& meta, const std::string& name,
                            const std::string& what) {
  auto [it, fresh] = pod_sites_.emplace(name, what + " at " + site(meta.child("name")));
  if (!fresh) {
    meta.fail("name",
              "pod name " + quote(name) + " (" + what + ") is already taken by " + it->second);
  }
}

Metadata Parser::metadata(const ConfigNode& m, bool template_meta) {
  Metadata out;
  if (!m.defined()) {
    return out;  // a template without metadata
  }
  m.warn_unknown({"name", "namespace", "labels", "annotations",
                  // What `kubectl get -o yaml` adds; it describes an object, not what to run.
                  "generateName", "uid", "resourceVersion", "generation", "creationTimestamp",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
                  "finalizers", "managedFields", "selfLink"});
  if (!template_meta) {
    out.name = required_text(m, "name");
    if (!is_dns_subdomain(out.name)) {
      m.fail("name", "not a valid name (lowercase letters, digits, '-' and '.', at most 253): " +
                         quote(out.name));
    }
    out.namespace_ = m.string("namespace").value_or("default");
    if (!is_dns_label(out.namespace_)) {
      m.fail("namespace",
             "not a valid namespace (lowercase letters, digits and '-', at most "
             "63): " +
                 quote(out.namespace_));
    }
  }
  // A template's name and namespace are ignored, as Kubernetes does (the Deployment names pods).
  for (auto [key, map] :
       {std::pair{"labels", &out.labels}, std::pair{"annotations", &out.annotations}}) {
    ConfigNode c = m.child(key);
    const bool labels = std::string_view(key) == "labels";
    // Pair by pair: a lookup by key walks the whole map, which made many labels quadratic.
    for (const auto& [k, value] : entries(c)) {
      if (!is_qualified_name(k)) {
        c.fail(k,
               "not a valid key (an optional DNS prefix and '/', then at most 63 of "
               "letters, digits, '-', '_' and '.')");
      }
      if (value.defined() && !value.is_scalar()) {
        c.fail(k, "expected a single value, not a list or mapping");
      }
      std::string v = value.defined() ? value.as_string() : "";
      if (value.defined()) {
        warn_if_not_text(value);
      }
      if (labels && !is_label_value(v)) {
        c.fail(k,
               "not a valid label value (at most 63 of letters, digits, '-', '_' and '.', "
               "starting and ending with a letter or digit): " +
                   quote(v));
      }
      (*map)[k] = v;
    }
  }
  return out;
}

// The pod's own fields: restart policy, grace period, security context, service account.
void Parser::pod_settings(const ConfigNode& spec, PodSpec& pod, PodOwner owner) {
  if (auto rp = spec.string("restartPolicy")) {
    auto p = parse_restart_policy(*rp);
    if (!p) {
      spec.fail("restartPolicy", "not one of Always, OnFailure, Never: " + quote(*rp));
    }
    if (owner == PodOwner::kDeployment && *p != RestartPolicy::kAlways) {
      spec.fail("restartPolicy", "a Deployment's pods must use Always, not " + quote(*rp));
    }
    if (owner == PodOwner::kStatefulSet && *p != RestartPolicy::kAlways) {
      spec.fail("restartPolicy", "a StatefulSet's pods must use Always, not " + quote(*rp));
    }
    if (owner == PodOwner::kJob && *p == RestartPolicy::kAlways) {
      spec.fail("restartPolicy", "a Job's pods must use OnFailure or Never, not \"Always\"");
    }
    pod.restart_policy = *p;
  } else if (owner == PodOwner::kJob) {
    spec.fail("restartPolicy", "required in a Job's pod template: OnFailure or Never");
  }
  pod.termination_grace = seconds_field(spec, "terminationGracePeriodSeconds", 0, 30);
  pod.security = parse_pod_security(spec.child("securityContext"));
  // serviceAccount is the deprecated name of serviceAccountName.
  for (const char* key : {"serviceAccount", "serviceAccountName"}) {
    if (auto sa = spec.string(key); sa && !sa->empty()) {
      if (!is_dns_subdomain(*sa)) {
        spec.fail(key, "not a valid name (lowercase letters, digits, '-' and '.', at most 253): " +
                           quote(*sa));
      }
      pod.service_account = *sa;
    }
  }
  pod.service_links = spec.boolean("enableServiceLinks").value_or(true);
  // With a headless Service of that name, the pod is also NAME.SUBDOMAIN (a StatefulSet sets it
  // from serviceName).
  if (auto sub = spec.string("subdomain"); sub && !sub->empty()) {
    if (!is_dns_label(*sub)) {
      spec.fail("subdomain",
                "not a valid name (lowercase letters, digits and '-', at most 63): " + quote(*sub));
    }
    pod.subdomain = *sub;
  }
}

void Parser::pod_spec(const ConfigNode& spec, PodSpec& pod, PodOwner owner) {
  spec.warn_unknown(
      {"containers", "initContainers", "volumes", "restartPolicy", "terminationGracePeriodSeconds",
       "securityContext",
       // Scheduling and identity: nothing for one machine. Ignored silently (hostNetwork is
       // not: it would change what the pod can reach, so it is warned about).
       "nodeSelector", "nodeName", "affinity", "tolerations", "topologySpreadConstraints",
       "schedulerName", "priority", "priorityClassName", "preemptionPolicy", "runtimeClassName",
       "overhead", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
       "imagePullSecrets", "dnsPolicy", "dnsConfig", "hostname", "subdomain", "setHostnameAsFQDN",
       "enableServiceLinks", "hostPID", "hostIPC", "os", "readinessGates", "schedulingGates"});
  pod_settings(spec, pod, owner);
  pod.objects = objects_;
  namespace_ = pod.namespace_;
  volume_file_bytes_ = 0;
  container_refs_.clear();

  volume_names_.clear();
  for (const auto& v : spec.child("volumes").items()) {
    Volume vol = volume(v);
    if (!volume_names_.insert(vol.name).second) {
      v.fail("name", "duplicate volume name " + quote(vol.name));
    }
    pod.volumes.push_back(std::move(vol));
  }
  for (Volume& claim : claim_template_volumes_) {
    if (!volume_names_.insert(claim.name).second) {
      spec.fail("volumes", "volume " + quote(claim.name) +
                               " has the name of one of the StatefulSet's volumeClaimTemplates");
    }
    pod.volumes.push_back(std::move(claim));
  }
  claim_template_volumes_.clear();

  std::map<std::string, std::string> container_paths;  // name -> field path, for duplicates
  auto add = [&](const ConfigNode& c, bool init) {
    ContainerSpec cs = container(c, pod, init);
    auto [it, fresh] = container_paths.emplace(cs.name, c.path());
    if (!fresh) {
      c.fail("name", "duplicate container name " + quote(cs.name) + " (also " + it->second + ")");
    }
    (init ? pod.init_containers : pod.containers).push_back(std::move(cs));
  };
  auto init = spec.child("initContainers").items();
  auto containers = spec.child("containers").items();
  if (containers.empty()) {
    spec.fail("containers", "required: at least one container");
  }
  if (init.size() + containers.size() > static_cast<std::size_t>(limits_.max_containers)) {
    const std::size_t over = static_cast<std::size_t>(limits_.max_containers);
    const ConfigNode& at = over < init.size() ? init[over] : containers[over - init.size()];
    at.fail("", "more than " + std::to_string(limits_.max_containers) +
                    " containers in the pod, init containers included (the limit; raise it "
                    "with --max-containers)");
  }
  for (const auto& c : init) {
    add(c, true);
  }
  for (const auto& c : containers) {
    add(c, false);
  }
  // resourceFieldRefs may name any container of the pod, also one declared after them.
  for (const auto& ref : container_refs_) {
    std::string name = *ref.string("containerName");
    if (container_paths.count(name) == 0) {
      ref.fail("containerName", "no container named " + quote(name) + " in the pod");
    }
  }
}

std::size_t Manifests::pod_count() const {
  std::size_t n = pods.size();
  for (const auto& d : deployments) {
    n += static_cast<std::size_t>(d.replicas);
  }
  for (const auto& set : stateful_sets) {
    n += static_cast<std::size_t>(set.replicas);
  }
  return n;
}

std::vector<PodSpec> Manifests::all_pods() const {
  std::vector<PodSpec> out = pods;
  for (const auto& d : deployments) {
    for (int i = 0; i < d.replicas; ++i) {
      out.push_back(make_replica(d, i));
    }
  }
  return out;
}

Manifests load_manifests(const std::vector<std::string>& files, const ManifestLimits& limits) {
  Parser p(limits);
  for (const auto& f : files) {
    for (const auto& doc : parse_config_documents(
             read_config_text(f, limits.max_file_bytes,
                              "the limit for a manifest file (raise it with --max-manifest-bytes)"),
             f)) {
      p.document(doc);
    }
  }
  return p.finish();
}

Manifests parse_manifests(const std::string& text, const std::string& name,
                          const ManifestLimits& limits) {
  Parser p(limits);
  for (const auto& doc : parse_config_documents(text, name)) {
    p.document(doc);
  }
  return p.finish();
}

PodSpec make_stateful_pod(const StatefulSetSpec& s, int index) {
  PodSpec pod = s.template_;
  pod.name = s.name + "-" + std::to_string(index);
  pod.stateful_set = s.name;
  pod.subdomain = s.service_name;
  pod.replica_index = index;
  for (Volume& v : pod.volumes) {
    if (v.per_pod_claim) {
      v.claim_name += "-" + pod.name;  // Kubernetes' name: <template>-<set>-<index>
    }
  }
  return pod;
}

PodSpec make_job_pod(const JobSpec& j, int index) {
  PodSpec pod = j.template_;
  pod.name = j.name + "-" + std::to_string(index);
  pod.job = j.name;
  return pod;
}

PodSpec make_replica(const DeploymentSpec& d, int index) {
  PodSpec pod = d.template_;
  pod.name = d.name + "-" + std::to_string(index);
  pod.deployment = d.name;
  pod.replica_index = index;
  return pod;
}

const char* restart_policy_name(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::kAlways:
      return "Always";
    case RestartPolicy::kOnFailure:
      return "OnFailure";
    case RestartPolicy::kNever:
      return "Never";
  }
  return "Always";
}

}  // namespace tender::pod

#include "pod/manifest.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>

#include "core/config.hpp"
#include "core/log.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

using std::chrono::milliseconds;

constexpr const char* kCommandRequired = "required (tender runs processes, not images)";

// ---- the parser -------------------------------------------------------------------------------

struct Metadata {
  std::string name;
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

class Parser {
 public:
  explicit Parser(const ManifestLimits& limits) : limits_(limits) {}
  void document(const ConfigNode& doc);
  Manifests take() { return std::move(out_); }

 private:
  Metadata metadata(const ConfigNode& m, bool template_meta);
  void pod_spec(const ConfigNode& spec, PodSpec& pod, bool in_deployment);
  Volume volume(const ConfigNode& v);
  ContainerSpec container(const ConfigNode& c, const PodSpec& pod, bool init);
  EnvVar env_var(const ConfigNode& e);
  ContainerPort port(const ConfigNode& p);
  VolumeMount volume_mount(const ConfigNode& m);
  Probe probe(const ConfigNode& p, const ContainerSpec& c, std::string_view kind);
  Action action(const ConfigNode& a, const ContainerSpec& c, bool handler, milliseconds grace);
  HttpGetAction http_get(const ConfigNode& h, const ContainerSpec& c);
  std::uint16_t port_ref(const ConfigNode& n, const ContainerSpec& c);
  void claim_pod_name(const ConfigNode& meta, const std::string& name, const std::string& what);

  void check_expansion(const PodSpec& pod, const ConfigNode& spec);
  void count_pods(const ConfigNode& at, std::string_view key, std::int64_t more);

  ManifestLimits limits_;
  Manifests out_;
  std::int64_t pod_count_ = 0;                    // counting replicas
  std::set<std::string> volume_names_;            // of the pod being parsed
  std::map<std::string, std::string> pod_sites_;  // pod name -> where it is defined
  std::map<std::string, std::string> deployment_sites_;
};

std::string site(const ConfigNode& n) { return n.file() + ":" + std::to_string(n.line()); }

void Parser::document(const ConfigNode& doc) {
  if (!doc.is_map()) {
    doc.fail("", "expected a Kubernetes object (a mapping with apiVersion and kind)");
  }
  doc.warn_unknown({"apiVersion", "kind", "metadata", "spec", "status"});
  auto kind = doc.string("kind");
  if (!kind) {
    doc.fail("kind", "required (Pod or Deployment)");
  }
  const std::string want = *kind == "Pod" ? "v1" : *kind == "Deployment" ? "apps/v1" : "";
  if (want.empty()) {
    doc.fail("kind", "unknown kind " + quote(*kind) +
                         " (tender pod runs Pod (v1) and Deployment (apps/v1))");
  }
  auto api = doc.string("apiVersion");
  if (!api) {
    doc.fail("apiVersion", "required (" + want + " for a " + *kind + ")");
  }
  if (*api != want) {
    doc.fail("apiVersion", "a " + *kind + " needs apiVersion " + want + ", not " + quote(*api));
  }
  ConfigNode meta_node = doc.child("metadata");
  if (!meta_node.defined()) {
    doc.fail("metadata", "required (with a name)");
  }
  Metadata meta = metadata(meta_node, false);
  ConfigNode spec = doc.child("spec");
  if (!spec.defined()) {
    doc.fail("spec", "required");
  }

  if (*kind == "Pod") {
    PodSpec pod;
    pod.name = meta.name;
    pod.namespace_ = meta.namespace_;
    pod.labels = std::move(meta.labels);
    pod.annotations = std::move(meta.annotations);
    pod.file = doc.file();
    pod.line = doc.line();
    count_pods(meta_node, "name", 1);
    pod_spec(spec, pod, false);
    check_expansion(pod, spec);
    claim_pod_name(meta_node, pod.name, "Pod " + pod.name);
    out_.pods.push_back(std::move(pod));
    return;
  }

  DeploymentSpec d;
  d.name = meta.name;
  spec.warn_unknown({"replicas", "selector", "template",
                     // Rollout settings that mean nothing to one local copy, ignored silently.
                     "strategy", "revisionHistoryLimit", "progressDeadlineSeconds"});
  d.replicas = static_cast<int>(spec.integer("replicas", 0, kMaxReplicas).value_or(1));
  count_pods(spec.has("replicas") ? spec : meta_node, spec.has("replicas") ? "replicas" : "name",
             d.replicas);
  ConfigNode tmpl = spec.child("template");
  if (!tmpl.defined()) {
    spec.fail("template", "required (the pod template: metadata and spec)");
  }
  tmpl.warn_unknown({"metadata", "spec"});
  Metadata tmeta = metadata(tmpl.child("metadata"), true);
  PodSpec& pod = d.template_;
  pod.namespace_ = meta.namespace_;
  pod.labels = std::move(tmeta.labels);
  pod.annotations = std::move(tmeta.annotations);
  pod.deployment = d.name;
  pod.file = doc.file();
  pod.line = doc.line();
  ConfigNode tspec = tmpl.child("spec");
  if (!tspec.defined()) {
    tmpl.fail("spec", "required");
  }
  pod_spec(tspec, pod, true);
  // The longest name a replica can get (scaling goes up to kMaxReplicas).
  PodSpec longest = pod;
  longest.name = d.name + "-" + std::to_string(kMaxReplicas - 1);
  check_expansion(longest, tspec);

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

void Parser::pod_spec(const ConfigNode& spec, PodSpec& pod, bool in_deployment) {
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
  if (auto rp = spec.string("restartPolicy")) {
    auto p = parse_restart_policy(*rp);
    if (!p) {
      spec.fail("restartPolicy", "not one of Always, OnFailure, Never: " + quote(*rp));
    }
    if (in_deployment && *p != RestartPolicy::kAlways) {
      spec.fail("restartPolicy", "a Deployment's pods must use Always, not " + quote(*rp));
    }
    pod.restart_policy = *p;
  }
  pod.termination_grace = seconds_field(spec, "terminationGracePeriodSeconds", 0, 30);
  pod.security = parse_pod_security(spec.child("securityContext"));

  volume_names_.clear();
  for (const auto& v : spec.child("volumes").items()) {
    Volume vol = volume(v);
    if (!volume_names_.insert(vol.name).second) {
      v.fail("name", "duplicate volume name " + quote(vol.name));
    }
    pod.volumes.push_back(std::move(vol));
  }

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
}

Volume Parser::volume(const ConfigNode& v) {
  Volume out;
  out.name = required_text(v, "name");
  if (!is_dns_label(out.name)) {
    v.fail("name", "not a valid volume name (lowercase letters, digits and '-', at most 63): " +
                       quote(out.name));
  }
  std::vector<std::string> types;  // a volume is its name and its type
  for (auto& key : v.keys()) {
    if (key != "name") {
      types.push_back(std::move(key));
    }
  }
  for (const auto& key : types) {
    if (key != "emptyDir" && key != "hostPath") {
      v.fail(key, "volume type " + key + " not supported locally (use emptyDir or hostPath)");
    }
  }
  if (types.empty()) {
    v.fail("", "a volume type is required (emptyDir or hostPath)");
  }
  if (types.size() > 1) {
    v.fail(types[1],
           "only one volume type is allowed (found " + types[0] + " and " + types[1] + ")");
  }
  const std::string& type = types[0];
  if (!v.child(type).defined()) {
    v.fail(type, type == "emptyDir" ? "needs a value: write `emptyDir: {}`"
                                    : "needs a value: at least `path`");
  }
  if (type == "hostPath") {
    ConfigNode h = v.child("hostPath");
    h.warn_unknown({"path", "type"});
    out.kind = Volume::Kind::kHostPath;
    out.host_path = required_text(h, "path");
    if (out.host_path.front() != '/') {
      h.fail("path", "must be an absolute path: " + quote(out.host_path));
    }
    if (has_backstep(out.host_path)) {
      h.fail("path", "must not contain '..': " + quote(out.host_path));
    }
    out.host_path_type = h.string("type").value_or("");
    constexpr std::string_view kTypes[] = {
        "",       "DirectoryOrCreate", "Directory",  "FileOrCreate", "File",
        "Socket", "CharDevice",        "BlockDevice"};
    if (std::find(std::begin(kTypes), std::end(kTypes), out.host_path_type) == std::end(kTypes)) {
      h.fail("type",
             "not a hostPath type (DirectoryOrCreate, Directory, FileOrCreate, File, "
             "Socket, CharDevice, BlockDevice): " +
                 quote(out.host_path_type));
    }
    return out;
  }
  ConfigNode e = v.child("emptyDir");
  if (!e.is_map()) {
    v.fail("emptyDir", "expected a mapping, like {} or {sizeLimit: 1Gi}");
  }
  e.warn_unknown({"medium", "sizeLimit"});
  std::string medium = e.string("medium").value_or("");
  if (medium != "" && medium != "Memory") {
    e.fail("medium", "medium " + quote(medium) + " not supported locally (\"\" or Memory)");
  }
  if (auto s = e.string("sizeLimit")) {
    out.size_limit = parse_quantity(*s);
    if (!out.size_limit) {
      e.fail("sizeLimit", "not a quantity (like 500Mi, 1Gi, 2G): " + quote(*s));
    }
  }
  return out;
}

ContainerSpec Parser::container(const ConfigNode& c, const PodSpec& pod, bool init) {
  if (!c.is_map()) {
    c.fail("", "expected a container (a mapping with name and command)");
  }
  c.warn_unknown({"name", "image", "command", "args", "env", "workingDir", "ports", "volumeMounts",
                  "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "restartPolicy",
                  "securityContext",
                  // Images, resources and terminals: what a local process does without.
                  // Ignored silently.
                  "imagePullPolicy", "resources", "resizePolicy", "terminationMessagePath",
                  "terminationMessagePolicy", "stdin", "stdinOnce", "tty"});
  ContainerSpec out;
  out.line = c.line();
  out.name = required_text(c, "name");
  if (!is_dns_label(out.name)) {
    c.fail("name",
           "not a valid container name (lowercase letters, digits and '-', at most "
           "63): " +
               quote(out.name));
  }
  (void)c.string("image");  // accepted, ignored; still must be a string
  auto command = text_list(c, "command");
  if (!command) {
    c.fail("command", kCommandRequired);
  }
  if (command->empty()) {
    c.fail("command", "must not be empty (tender runs processes, not images)");
  }
  out.command = std::move(*command);
  out.args = text_list(c, "args").value_or(std::vector<std::string>{});
  out.working_dir = c.string("workingDir").value_or("");
  auto env = c.child("env").items();
  if (env.size() > static_cast<std::size_t>(limits_.max_env)) {
    env[static_cast<std::size_t>(limits_.max_env)].fail(
        "", "more than " + std::to_string(limits_.max_env) +
                " environment variables in a container (the limit; raise it with --max-env)");
  }
  out.env.reserve(env.size());
  for (const auto& e : env) {
    out.env.push_back(env_var(e));
  }
  out.security = parse_container_security(c.child("securityContext"), pod.security);

  std::set<std::string> port_names;
  for (const auto& p : c.child("ports").items()) {
    ContainerPort cp = port(p);
    if (!cp.name.empty() && !port_names.insert(cp.name).second) {
      p.fail("name", "duplicate port name " + quote(cp.name));
    }
    out.ports.push_back(std::move(cp));
  }

  std::set<std::string> mount_paths;
  for (const auto& m : c.child("volumeMounts").items()) {
    VolumeMount vm = volume_mount(m);
    if (!mount_paths.insert(vm.mount_path).second) {
      m.fail("mountPath", "duplicate mountPath " + quote(vm.mount_path));
    }
    out.volume_mounts.push_back(std::move(vm));
  }

  if (auto rp = c.string("restartPolicy")) {
    if (!init) {
      c.fail("restartPolicy",
             "only init containers may set restartPolicy (Always makes them sidecars)");
    }
    if (*rp != "Always") {
      c.fail("restartPolicy", "must be Always (a native sidecar), not " + quote(*rp));
    }
    out.restart_policy = RestartPolicy::kAlways;
  }
  const bool plain_init = init && !out.is_sidecar();
  for (const char* key : {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"}) {
    if (plain_init && c.has(key)) {
      c.fail(key, "not allowed on an init container unless restartPolicy is Always (a sidecar)");
    }
  }
  if (c.has("livenessProbe")) {
    out.liveness_probe = probe(c.child("livenessProbe"), out, "liveness");
  }
  if (c.has("readinessProbe")) {
    out.readiness_probe = probe(c.child("readinessProbe"), out, "readiness");
  }
  if (c.has("startupProbe")) {
    out.startup_probe = probe(c.child("startupProbe"), out, "startup");
  }
  // ConfigNode's has() and warn_unknown() need a node that is present.
  if (ConfigNode lc = c.child("lifecycle"); lc.defined()) {
    lc.warn_unknown({"postStart", "preStop"});
    if (lc.has("postStart")) {
      out.post_start = action(lc.child("postStart"), out, true, pod.termination_grace);
    }
    if (lc.has("preStop")) {
      out.pre_stop = action(lc.child("preStop"), out, true, pod.termination_grace);
    }
  }
  return out;
}

EnvVar Parser::env_var(const ConfigNode& e) {
  e.warn_unknown({"name", "value", "valueFrom"});
  EnvVar out;
  out.name = required_text(e, "name");
  if (!is_env_name(out.name)) {
    e.fail("name", "not a valid variable name (printable ASCII without '='): " + quote(out.name));
  }
  out.value = text(e, "value").value_or("");
  if (!e.has("valueFrom")) {
    return out;
  }
  if (!out.value.empty()) {
    e.fail("valueFrom", "not allowed together with a non-empty value");
  }
  ConfigNode from = e.child("valueFrom");
  for (const auto& key : from.keys()) {
    if (key == "resourceFieldRef" || key == "configMapKeyRef" || key == "secretKeyRef" ||
        key == "fileKeyRef") {
      from.fail(key, "not supported locally (only fieldRef)");
    }
  }
  from.warn_unknown({"fieldRef"});
  ConfigNode ref = from.child("fieldRef");
  if (!ref.defined()) {
    from.fail("fieldRef", "required (valueFrom supports fieldRef locally)");
  }
  ref.warn_unknown({"fieldPath", "apiVersion"});
  out.field_path = required_text(ref, "fieldPath");
  const std::string& p = out.field_path;
  bool ok = p == "metadata.name" || p == "metadata.namespace" || p == "status.podIP" ||
            subscript(p, "metadata.labels") || subscript(p, "metadata.annotations");
  if (!ok) {
    ref.fail("fieldPath", "unsupported fieldPath " + quote(p) +
                              " (metadata.name, metadata.namespace, metadata.labels['key'], "
                              "metadata.annotations['key'], status.podIP)");
  }
  return out;
}

ContainerPort Parser::port(const ConfigNode& p) {
  p.warn_unknown({"containerPort", "hostPort", "name", "protocol"});
  ContainerPort out;
  auto cp = p.integer("containerPort", 1, 65535);
  if (!cp) {
    p.fail("containerPort", "required (1-65535)");
  }
  out.container_port = static_cast<std::uint16_t>(*cp);
  out.host_port = static_cast<std::uint16_t>(p.integer("hostPort", 0, 65535).value_or(0));
  out.name = p.string("name").value_or("");
  if (!out.name.empty() && !is_port_name(out.name)) {
    p.fail("name",
           "not a valid port name (at most 15 of lowercase letters, digits and '-', "
           "with a letter): " +
               quote(out.name));
  }
  out.protocol = p.string("protocol").value_or("TCP");
  if (out.protocol != "TCP" && out.protocol != "UDP" && out.protocol != "SCTP") {
    p.fail("protocol", "not one of TCP, UDP, SCTP: " + quote(out.protocol));
  }
  return out;
}

VolumeMount Parser::volume_mount(const ConfigNode& m) {
  m.warn_unknown({"name", "mountPath", "readOnly", "subPath"});
  VolumeMount out;
  out.name = required_text(m, "name");
  if (volume_names_.count(out.name) == 0) {
    m.fail("name", "no volume named " + quote(out.name) + " in the pod's volumes");
  }
  out.mount_path = required_text(m, "mountPath");
  if (out.mount_path.front() != '/') {
    m.fail("mountPath", "must be an absolute path: " + quote(out.mount_path));
  }
  out.read_only = m.boolean("readOnly").value_or(false);
  out.sub_path = m.string("subPath").value_or("");
  if (!out.sub_path.empty() && (out.sub_path.front() == '/' || has_backstep(out.sub_path))) {
    m.fail("subPath", "must be a relative path without '..': " + quote(out.sub_path));
  }
  return out;
}

Probe Parser::probe(const ConfigNode& p, const ContainerSpec& c, std::string_view kind) {
  p.warn_unknown({"httpGet", "tcpSocket", "exec", "grpc", "initialDelaySeconds", "periodSeconds",
                  "timeoutSeconds", "successThreshold", "failureThreshold"});
  Probe out;
  out.action = action(p, c, false, milliseconds(0));
  // As in Kubernetes, 0 (the API's zero value) means the default.
  auto field = [&](std::string_view key, std::int64_t fallback) {
    std::int64_t v = p.integer(key, 0, kMaxSeconds).value_or(0);
    return v == 0 ? fallback : v;
  };
  out.initial_delay = seconds_field(p, "initialDelaySeconds", 0, 0);
  out.period = milliseconds(field("periodSeconds", 10) * 1000);
  out.timeout = milliseconds(field("timeoutSeconds", 1) * 1000);
  out.success_threshold = static_cast<int>(field("successThreshold", 1));
  out.failure_threshold = static_cast<int>(field("failureThreshold", 3));
  if (kind != "readiness" && out.success_threshold != 1) {
    p.fail("successThreshold", "must be 1 for a " + std::string(kind) + " probe");
  }
  return out;
}

Action Parser::action(const ConfigNode& a, const ContainerSpec& c, bool handler,
                      milliseconds grace) {
  if (!a.is_map()) {
    a.fail("", handler ? "expected a handler (exec, httpGet, tcpSocket or sleep)"
                       : "expected a probe (exec, httpGet or tcpSocket, and timings)");
  }
  if (handler) {
    a.warn_unknown({"exec", "httpGet", "tcpSocket", "sleep"});
  }
  if (!handler && a.has("grpc")) {
    a.fail("grpc", "grpc probes are not supported yet (use httpGet, tcpSocket or exec)");
  }
  std::vector<std::string> present;
  for (const char* key : {"exec", "httpGet", "tcpSocket", "sleep"}) {
    if ((handler || std::string_view(key) != "sleep") && a.has(key)) {
      present.emplace_back(key);
    }
  }
  if (present.empty()) {
    a.fail("", handler ? "one of exec, httpGet, tcpSocket or sleep is required"
                       : "one of exec, httpGet or tcpSocket is required");
  }
  if (present.size() > 1) {
    a.fail(present[1],
           "only one action is allowed (found " + present[0] + " and " + present[1] + ")");
  }
  Action out;
  const std::string& kind = present[0];
  ConfigNode n = a.child(kind);
  if (kind == "exec") {
    n.warn_unknown({"command"});
    auto cmd = text_list(n, "command");
    if (!cmd || cmd->empty()) {
      n.fail("command", "required: the command to run");
    }
    out.exec = ExecAction{std::move(*cmd)};
  } else if (kind == "httpGet") {
    out.http_get = http_get(n, c);
  } else if (kind == "tcpSocket") {
    n.warn_unknown({"port", "host"});
    TcpSocketAction t;
    t.port = port_ref(n, c);
    t.host = n.string("host").value_or("");
    out.tcp_socket = std::move(t);
  } else {
    // sleep: run sleep(1) for that long, which is what Kubernetes' sleep action amounts to.
    n.warn_unknown({"seconds"});
    auto s = n.integer("seconds", 0, kMaxSeconds);
    if (!s) {
      n.fail("seconds", "required");
    }
    if (*s * 1000 > grace.count()) {
      n.fail("seconds", "must not exceed terminationGracePeriodSeconds (" +
                            std::to_string(grace.count() / 1000) + ")");
    }
    out.exec = ExecAction{{"sleep", std::to_string(*s)}};
  }
  return out;
}

HttpGetAction Parser::http_get(const ConfigNode& h, const ContainerSpec& c) {
  h.warn_unknown({"path", "port", "host", "scheme", "httpHeaders"});
  HttpGetAction out;
  out.port = port_ref(h, c);
  out.host = h.string("host").value_or("");
  out.path = h.string("path").value_or("/");
  if (out.path.empty() || out.path.front() != '/') {
    out.path.insert(0, "/");  // as the kubelet builds the URL
  }
  out.scheme = h.string("scheme").value_or("HTTP");
  if (out.scheme == "HTTPS") {
    h.fail("scheme", "HTTPS is not supported locally (only HTTP)");
  }
  if (out.scheme != "HTTP") {
    h.fail("scheme", "not HTTP or HTTPS: " + quote(out.scheme));
  }
  for (const auto& hdr : h.child("httpHeaders").items()) {
    hdr.warn_unknown({"name", "value"});
    std::string name = required_text(hdr, "name");
    if (!is_http_token(name)) {
      hdr.fail("name", "not a valid header name: " + quote(name));
    }
    out.headers.emplace_back(std::move(name), hdr.string("value").value_or(""));
  }
  return out;
}

// `port` of an httpGet or tcpSocket: a number, or the name of one of the container's ports.
std::uint16_t Parser::port_ref(const ConfigNode& n, const ContainerSpec& c) {
  auto s = n.string("port");
  if (!s) {
    n.fail("port", "required (a number or the name of a container port)");
  }
  if (!s->empty() &&
      std::all_of(s->begin(), s->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return static_cast<std::uint16_t>(*n.integer("port", 1, 65535));
  }
  if (!is_port_name(*s)) {
    n.fail("port", "not a port number or port name: " + quote(*s));
  }
  for (const auto& p : c.ports) {
    if (p.name == *s) {
      return p.container_port;
    }
  }
  n.fail("port", "no port named " + quote(*s) + " in container " + quote(c.name) + "'s ports");
}

}  // namespace

std::size_t Manifests::pod_count() const {
  std::size_t n = pods.size();
  for (const auto& d : deployments) {
    n += static_cast<std::size_t>(d.replicas);
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
  return p.take();
}

Manifests parse_manifests(const std::string& text, const std::string& name,
                          const ManifestLimits& limits) {
  Parser p(limits);
  for (const auto& doc : parse_config_documents(text, name)) {
    p.document(doc);
  }
  return p.take();
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

#pragma once
// Kubernetes manifests as `tender pod` runs them: a subset of v1/Pod and apps/v1/Deployment,
// with the v1/ConfigMap and v1/Secret objects their environment and volumes read.
//
//   Manifests m = load_manifests({"web.yaml", "config.yaml"});   // throws ConfigError (exit 2)
//   for (const PodSpec& pod : m.all_pods()) { ... pod.containers[0].command ... }
//
// Parsing is complete before anything starts: every invalid value is a ConfigError naming the
// file, line and field, and so is a reference to a ConfigMap or Secret (or a key of one) that no
// file of the run defines; unknown fields are ignored with one warning each, kinds tender does
// not run with one warning per kind. No I/O beyond reading the files, so all of it is unit-tested
// without processes. docs/pod.md lists the subset.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pod/image_spec.hpp"

namespace tender::pod {

// valueFrom.configMapKeyRef or .secretKeyRef: one key of a ConfigMap or Secret of the pod's
// namespace. The parser has checked that it exists unless `optional`.
struct KeyRef {
  bool secret = false;
  std::string name;
  std::string key;
  bool optional = false;  // missing: the variable (or the file) is left out
};

// valueFrom.resourceFieldRef, and a downwardAPI file's: a container's limit or request, divided
// by `divisor` and rounded up, as the kubelet computes it.
struct ResourceRef {
  std::string container;      // empty: the container whose variable it is
  std::string resource;       // "limits.cpu", "requests.memory", "limits.hugepages-2Mi", ...
  std::uint64_t divisor = 1;  // in millicores for cpu, else in the resource's unit (bytes)
};

struct EnvVar {
  std::string name;
  std::string value;  // `value` as written; resolve_env() expands $(VAR) references
  // valueFrom.fieldRef.fieldPath: "metadata.name", "metadata.namespace",
  // "metadata.labels['key']", "metadata.annotations['key']", "status.podIP", "status.podIPs",
  // "status.hostIP", "status.hostIPs", "spec.nodeName", "spec.serviceAccountName".
  std::string field_path;
  std::optional<KeyRef> key_ref;            // configMapKeyRef, secretKeyRef
  std::optional<ResourceRef> resource_ref;  // resourceFieldRef
};

// An envFrom entry: every key of a ConfigMap or Secret, as a variable named prefix + key.
struct EnvFromSource {
  bool secret = false;
  std::string name;
  std::string prefix;
  bool optional = false;
};

// resources.limits and .requests: cpu in millicores, anything else (memory, ephemeral-storage,
// hugepages-*, extended resources) in its own unit (bytes for memory and storage).
struct Resources {
  std::map<std::string, std::uint64_t> limits;
  std::map<std::string, std::uint64_t> requests;
};

struct HttpGetAction {
  std::string host;  // empty: the pod's IP (127.0.0.1 locally)
  std::string path = "/";
  std::uint16_t port = 0;
  std::string scheme = "HTTP";  // only HTTP is supported locally
  std::vector<std::pair<std::string, std::string>> headers;
};

struct TcpSocketAction {
  std::string host;
  std::uint16_t port = 0;
};

struct ExecAction {
  std::vector<std::string> command;
};

// grpc.health.v1.Health/Check at the pod's IP (127.0.0.1 locally); probes only.
struct GrpcAction {
  std::uint16_t port = 0;  // a number: Kubernetes takes no port name here
  std::string service;     // HealthCheckRequest.service; empty: the server as a whole
};

// One of httpGet, tcpSocket, exec or (a probe's only) grpc: a handler or a probe's action.
struct Action {
  std::optional<HttpGetAction> http_get;
  std::optional<TcpSocketAction> tcp_socket;
  std::optional<ExecAction> exec;
  std::optional<GrpcAction> grpc;
  [[nodiscard]] bool defined() const { return http_get || tcp_socket || exec || grpc; }
};

struct Probe {
  Action action;
  std::chrono::milliseconds initial_delay{0};  // initialDelaySeconds, default 0
  std::chrono::milliseconds period{10'000};    // periodSeconds, default 10
  std::chrono::milliseconds timeout{1'000};    // timeoutSeconds, default 1
  int success_threshold = 1;
  int failure_threshold = 3;
};

struct ContainerPort {
  std::string name;
  std::uint16_t container_port = 0;
  std::uint16_t host_port = 0;  // 0: none
  std::string protocol = "TCP";
};

struct VolumeMount {
  std::string name;
  std::string mount_path;
  bool read_only = false;
  std::string sub_path;
};

enum class RestartPolicy { kAlways, kOnFailure, kNever };

// The capabilities a container keeps by default: containerd's and runc's default set (CHOWN,
// DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE), as a mask of core/capabilities.hpp.
inline constexpr std::uint64_t kDefaultCapabilities =
    (1ULL << 0) | (1ULL << 1) | (1ULL << 3) | (1ULL << 4) | (1ULL << 5) | (1ULL << 6) |
    (1ULL << 7) | (1ULL << 8) | (1ULL << 10) | (1ULL << 13) | (1ULL << 18) | (1ULL << 27) |
    (1ULL << 29) | (1ULL << 31);

// The pod's securityContext: what its containers inherit, and fsGroup for its volumes.
struct PodSecurity {
  std::optional<std::int64_t> run_as_user;
  std::optional<std::int64_t> run_as_group;
  std::optional<bool> run_as_non_root;
  std::vector<std::int64_t> supplemental_groups;
  std::optional<std::int64_t> fs_group;  // owns emptyDir volumes, and is a supplementary group
};

// A container's securityContext over its pod's, as Kubernetes merges them: what the runner
// applies (as root) to the container's processes.
struct SecuritySpec {
  std::optional<std::int64_t> run_as_user;   // nullopt: the runner's user
  std::optional<std::int64_t> run_as_group;  // nullopt: the user's group (0 when uid is unset)
  bool run_as_non_root = false;              // refuse to start as uid 0
  std::vector<std::int64_t> groups;          // supplementalGroups, then fsGroup
  bool privileged = false;
  std::optional<bool> allow_privilege_escalation;
  bool read_only_root_filesystem = false;
  // After capabilities.add and .drop over kDefaultCapabilities; every bit set for "ALL" (the
  // runner keeps those the kernel has). Privileged containers keep every capability.
  std::uint64_t capabilities = kDefaultCapabilities;

  // Set unless the container is privileged or says allowPrivilegeEscalation: true.
  [[nodiscard]] bool no_new_privs() const {
    return !privileged && !allow_privilege_escalation.value_or(false);
  }
  // Nothing asked beyond the defaults (for the warning when the runner cannot apply any).
  [[nodiscard]] bool is_default() const;
};

struct ContainerSpec {
  std::string name;
  // `command` empty: the container runs its image, with its entrypoint (or `command`) and its
  // cmd (or `args`), as Kubernetes does; otherwise a process of this machine, unless the
  // runner's --runtime oci runs every container from its image.
  std::vector<std::string> command;  // as written (see expand_argv)
  std::vector<std::string> args;     // as written
  std::string image;                 // as written; empty if not given
  std::optional<ImageRef> image_ref;
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;  // Kubernetes' default for the tag
  std::vector<EnvFromSource> env_from;                 // before `env`, which overrides it
  std::vector<EnvVar> env;
  Resources resources;  // informative, but for resourceFieldRef
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::vector<VolumeMount> volume_mounts;
  std::optional<Probe> liveness_probe;
  std::optional<Probe> readiness_probe;
  std::optional<Probe> startup_probe;
  std::optional<Action> post_start;
  std::optional<Action> pre_stop;
  // Init containers only: `Always` makes it a native sidecar.
  std::optional<RestartPolicy> restart_policy;
  SecuritySpec security;
  int line = 0;  // where the container is declared, for runtime messages

  [[nodiscard]] bool is_sidecar() const {
    return restart_policy && *restart_policy == RestartPolicy::kAlways;
  }
};

// A key of a ConfigMap or Secret as a file of a volume (`items[]`).
struct KeyToPath {
  std::string key;
  std::string path;         // relative, without ".."
  std::optional<int> mode;  // unset: the volume's defaultMode
};

// A downwardAPI item: a file holding a field of the pod or a container's resource.
struct DownwardFile {
  std::string path;
  // metadata.name, metadata.namespace, metadata.labels (every label, as key="value" lines),
  // metadata.annotations, metadata.labels['key'], metadata.annotations['key']; empty for
  // `resource`.
  std::string field_path;
  std::optional<ResourceRef> resource;  // container always set
  std::optional<int> mode;
};

// What a configMap, secret or downwardAPI volume holds, or one source of a projected volume.
struct VolumeSource {
  enum class Kind { kConfigMap, kSecret, kDownwardAPI } kind = Kind::kConfigMap;
  std::string name;                 // the ConfigMap's or Secret's
  std::vector<KeyToPath> items;     // empty: every key, as a file named after it
  bool optional = false;            // missing object or keys: left out
  std::vector<DownwardFile> files;  // kDownwardAPI
};

struct Volume {
  std::string name;
  enum class Kind {
    kEmptyDir,
    kHostPath,
    kPersistentVolumeClaim,  // a directory under the runner's --state-dir that outlives it
    // Files the runner writes before the pod's containers start, mounted read-only.
    kConfigMap,
    kSecret,
    kDownwardAPI,
    kProjected
  } kind = Kind::kEmptyDir;
  std::string host_path;   // kHostPath
  std::string claim_name;  // kPersistentVolumeClaim
  bool read_only = false;  // kPersistentVolumeClaim: every mount of it read-only
  // kPersistentVolumeClaim from a StatefulSet's volumeClaimTemplates: each pod's own claim,
  // claim_name + "-" + the pod's name (make_stateful_pod()).
  bool per_pod_claim = false;
  std::string host_path_type;  // hostPath.type as written ("", "Directory", ...), informative
  std::optional<std::uint64_t> size_limit;  // emptyDir.sizeLimit, informative
  std::vector<VolumeSource> sources;        // one, or a projected volume's in order
  int default_mode = 0644;                  // defaultMode

  // Whether the runner writes its files (configMap, secret, downwardAPI, projected).
  [[nodiscard]] bool is_generated() const { return kind >= Kind::kConfigMap; }
};

// A ConfigMap or a Secret, as environment and volumes read it.
struct ConfigObject {
  std::string name;
  std::string namespace_ = "default";
  std::string type;  // a Secret's type ("Opaque" unless given); empty for a ConfigMap
  bool immutable = false;
  // Key -> bytes: a ConfigMap's data and binaryData (decoded); a Secret's data (decoded) with
  // stringData over it, as the API server merges them.
  std::map<std::string, std::string> data;
  std::set<std::string> binary;  // a ConfigMap's binaryData keys: volumes have them, env not

  // The value of `key` for the environment (nullptr: none, or binaryData).
  [[nodiscard]] const std::string* env_value(const std::string& key) const {
    auto it = data.find(key);
    return it == data.end() || binary.count(key) > 0 ? nullptr : &it->second;
  }
  std::string file;  // where it is defined
  int line = 0;
};

// Every ConfigMap and Secret of a run, by namespace and name. Shared by every pod of the run.
// A PersistentVolumeClaim: locally, a directory of its own under the runner's --state-dir,
// made on first use and kept, as a local-path provisioner keeps one.
struct ClaimSpec {
  std::string name;
  std::string namespace_ = "default";
  std::vector<std::string> access_modes;  // informative locally
  std::optional<std::uint64_t> storage;   // resources.requests.storage, informative
  std::string storage_class;              // storageClassName, informative
  std::string file;
  int line = 0;
};

struct ConfigObjects {
  std::map<std::pair<std::string, std::string>, ConfigObject> config_maps;
  std::map<std::pair<std::string, std::string>, ConfigObject> secrets;
  std::map<std::pair<std::string, std::string>, ClaimSpec> claims;

  // The object, or nullptr.
  [[nodiscard]] const ConfigObject* find(bool secret, const std::string& namespace_,
                                         const std::string& name) const;
};

struct PodSpec {
  std::string name;  // metadata.name, or "<deployment>-<i>" for Deployment replicas
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<ContainerSpec> init_containers;
  std::vector<ContainerSpec> containers;
  std::vector<Volume> volumes;
  PodSecurity security;
  RestartPolicy restart_policy = RestartPolicy::kAlways;
  std::chrono::milliseconds termination_grace{30'000};  // terminationGracePeriodSeconds
  std::string service_account = "default";              // serviceAccountName, for fieldRef only
  // The run's ConfigMaps and Secrets (the same for every pod); null: none.
  std::shared_ptr<const ConfigObjects> objects;
  std::string deployment;     // owning Deployment's name, or empty for a bare Pod
  std::string job;            // owning Job's name, or empty
  std::string stateful_set;   // owning StatefulSet's name, or empty
  std::string subdomain;      // a StatefulSet's serviceName: the pod is also NAME.SUBDOMAIN
  bool service_links = true;  // enableServiceLinks: Services' variables in its environment
  int replica_index = -1;     // index within the Deployment, or -1
  std::string file;           // manifest file and line, for messages
  int line = 0;
};

// A Deployment as the runner keeps it, so it can scale it later.
struct DeploymentSpec {
  std::string name;
  int replicas = 1;
  PodSpec template_;  // name empty; per-replica pods are made by make_replica()
};

// A Job: pods made from its template until `completions` of them have succeeded, at most
// `parallelism` at a time, given up after more than `backoff_limit` failures.
struct JobSpec {
  std::string name;
  // Unset: a work queue, as Kubernetes has it: done once one pod has succeeded and every pod
  // has ended; no pod starts after the first success.
  std::optional<int> completions;
  int parallelism = 1;
  int backoff_limit = 6;  // failed pods, and container restarts under OnFailure, allowed
  std::optional<std::chrono::seconds> active_deadline;  // from the Job's start
  bool suspend = false;                                 // no pods until resumed
  PodSpec template_;  // name empty; its pods are made by make_job_pod()
  // The most pods it can make: completions (or parallelism) plus backoff_limit + 1 failed
  // ones, plus those running when it gives up.
  [[nodiscard]] int max_pods() const {
    return completions.value_or(1) + backoff_limit + parallelism;
  }
};

// A StatefulSet: replicas "<name>-0" ... started in order (each once the one before is ready,
// unless podManagementPolicy is Parallel), each with claims of its own from the
// volumeClaimTemplates.
struct StatefulSetSpec {
  std::string name;
  int replicas = 1;
  std::string service_name;  // informative
  bool parallel = false;     // podManagementPolicy: Parallel
  std::vector<ClaimSpec> claim_templates;
  PodSpec template_;  // name empty; its pods are made by make_stateful_pod()
};

// A Service: a virtual IP (or, headless, only names) in front of the ready pods its selector
// picks, as the runner's services.hpp serves it.
struct ServicePort {
  std::string name;
  std::string protocol = "TCP";  // TCP or UDP
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;  // 0: by name, target_port_name
  std::string target_port_name;
  std::uint16_t node_port = 0;  // 0: none given (a NodePort Service is given one at run time)
};

struct ServiceSpec {
  std::string name;
  std::string namespace_ = "default";
  enum class Type { kClusterIP, kNodePort, kLoadBalancer } type = Type::kClusterIP;
  bool headless = false;                        // clusterIP: None
  std::string cluster_ip;                       // asked for; empty: one is allocated
  std::map<std::string, std::string> selector;  // never empty
  std::vector<ServicePort> ports;
  bool publish_not_ready = false;  // publishNotReadyAddresses
  // sessionAffinity: ClientIP: a client's connections go to the pod its last one went to, for
  // up to this long after it (sessionAffinityConfig.clientIP.timeoutSeconds, 10800 if unset).
  std::optional<int> affinity_seconds;
  std::string file;
  int line = 0;
};

struct Manifests {
  std::vector<PodSpec> pods;  // bare Pods, in file order
  std::vector<DeploymentSpec> deployments;
  std::vector<JobSpec> jobs;                   // their pods are made as they run, not by all_pods()
  std::vector<StatefulSetSpec> stateful_sets;  // nor theirs
  std::vector<ServiceSpec> services;
  std::shared_ptr<const ConfigObjects> objects = std::make_shared<ConfigObjects>();
  // Every pod to run: bare pods, then each Deployment's replicas in index order.
  [[nodiscard]] std::vector<PodSpec> all_pods() const;
  // How many that is, without making them.
  [[nodiscard]] std::size_t pod_count() const;
};

// What one run accepts, so that no manifest can exhaust the runner: Kubernetes users never
// come near these defaults. docs/pod.md, "Limits", says how to change them.
struct ManifestLimits {
  std::uint64_t max_file_bytes = std::uint64_t{4} << 20;  // per manifest file
  int max_pods = 1000;       // per run, counting every Deployment replica
  int max_containers = 100;  // per pod, init containers and sidecars included
  int max_env = 1000;        // env entries per container
};

// The most a container's command, args and environment may hold once $(VAR) references are
// expanded: half of what Linux lets exec take with the usual 8 MiB stack.
inline constexpr std::size_t kMaxExpandedBytes = std::size_t{1} << 20;
// Deployment replicas, in the manifest and when scaled.
inline constexpr int kMaxReplicas = 1000;
// Services in a run, and ports in a Service: each Service is matched against every pod when
// readiness changes, and each port is a chain of the ruleset.
inline constexpr std::size_t kMaxServices = 1000;
inline constexpr std::size_t kMaxServicePorts = 100;
// The values of one ConfigMap or Secret, together: Kubernetes' limit.
inline constexpr std::uint64_t kMaxConfigObjectBytes = std::uint64_t{1} << 20;
// The files of one pod's configMap, secret and projected volumes, together, so that a pod
// mounting the same object many times cannot fill the disk.
inline constexpr std::uint64_t kMaxPodVolumeFileBytes = std::uint64_t{16} << 20;

// Reads and validates every document of every file: ConfigMaps and Secrets first, wherever they
// are, then pods and Deployments in file order. Throws ConfigError (file, line, field) on the
// first invalid value, a kind refused (docs/pod.md), a missing command, a volume mount naming
// no volume, a ConfigMap, Secret or key referred to but not defined (unless `optional`),
// duplicate names, a limit exceeded, or malformed YAML.
[[nodiscard]] Manifests load_manifests(const std::vector<std::string>& files,
                                       const ManifestLimits& limits = {});
// The same for text already in memory (`name` is used in messages; max_file_bytes is the
// caller's to check).
[[nodiscard]] Manifests parse_manifests(const std::string& text, const std::string& name,
                                        const ManifestLimits& limits = {});

// The pod for replica `index` of `d`: name "<d.name>-<index>", with fieldRef-dependent
// environment (metadata.name) resolved for that name.
[[nodiscard]] PodSpec make_replica(const DeploymentSpec& d, int index);
// Replica `index` of StatefulSet `s`: name "<s.name>-<index>", its claims its own.
[[nodiscard]] PodSpec make_stateful_pod(const StatefulSetSpec& s, int index);
// The pod a Job makes as its `index`th (from 0): name "<j.name>-<index>".
[[nodiscard]] PodSpec make_job_pod(const JobSpec& j, int index);

// Kubernetes' $(VAR) expansion: $(NAME) becomes the value of NAME when `vars` has it and stays
// as written when it does not; $$ becomes a single $ (so $$(NAME) yields the literal $(NAME)).
[[nodiscard]] std::string expand_vars(const std::string& s,
                                      const std::map<std::string, std::string>& vars);

// What fieldRef and resourceFieldRef read of the machine: spec.nodeName, status.hostIP, and
// what a container without limits may use (Kubernetes' node allocatable).
struct NodeInfo {
  std::string name = "localhost";
  std::string host_ip = "127.0.0.1";
  std::uint64_t cpu_millis = 1000;
  std::uint64_t memory_bytes = std::uint64_t{1} << 30;
  std::uint64_t ephemeral_storage_bytes = std::uint64_t{10} << 30;
};
// This machine: its host name, online CPUs, physical memory and root filesystem's size;
// host_ip 127.0.0.1 (pods reach this machine's services there, or through hostPort).
[[nodiscard]] NodeInfo this_node();

// The environment a container of `pod` gets, in order: envFrom's variables (sources in order,
// keys sorted), then `env`, a later definition replacing an earlier one in place; fieldRefs,
// resourceFieldRefs and key references resolved (an optional one that is missing left out),
// and $(VAR) references in `value`s to earlier entries expanded, or else to the variables of
// the Services (`services`: NAME_SERVICE_HOST, ...), as the kubelet expands them. `pod_ip`
// fills status.podIP.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> resolve_env(
    const PodSpec& pod, const ContainerSpec& container, const std::string& pod_ip,
    const NodeInfo& node = {},
    const std::vector<std::pair<std::string, std::string>>& services = {});

// The value of a resourceFieldRef for `container` of `pod` (ref.container, when set, names
// another), as the kubelet computes it: a limit not set is the machine's; a request not set is
// the limit when that is set, else 0. "" for a container the pod does not have.
[[nodiscard]] std::string resource_value(const PodSpec& pod, const ContainerSpec& container,
                                         const ResourceRef& ref, const NodeInfo& node);

// A value of a Secret that may reach a container's command (through its environment), with
// what to show instead of it: "secret NAME key KEY".
struct SecretValue {
  std::string value;
  std::string source;
};
// Every non-empty value of a Secret that `container`'s env or envFrom refers to.
[[nodiscard]] std::vector<SecretValue> secret_values(const PodSpec& pod,
                                                     const ContainerSpec& container);
// `text` (a message) with every occurrence of `expanded` (an argument after $(VAR) expansion)
// shown as `written` (as in the manifest) and "(from secret NAME key KEY)", when a value of
// `secrets` went into it; else `text` unchanged. Messages never show a Secret's value.
[[nodiscard]] std::string redact_expanded(std::string text, const std::string& expanded,
                                          const std::string& written,
                                          const std::vector<SecretValue>& secrets);

// command followed by args, with $(VAR) expanded from the container's resolved environment, or
// else from the Services' variables.
[[nodiscard]] std::vector<std::string> expand_argv(
    const ContainerSpec& container, const std::vector<std::pair<std::string, std::string>>& env,
    const std::vector<std::pair<std::string, std::string>>& services = {});

[[nodiscard]] const char* restart_policy_name(RestartPolicy p);

}  // namespace tender::pod

#pragma once
// The manifest parser, whose parts live in manifest.cpp (documents, kinds, pods, Deployments),
// manifest_config.cpp (ConfigMaps, Secrets, references to them), manifest_container.cpp
// (containers, environment, probes) and manifest_volumes.cpp (volumes and mounts). Not a public
// header: load_manifests() and parse_manifests() are its interface.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "pod/manifest.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {

struct Metadata {
  std::string name;
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

// Two passes, so that a pod may refer to a ConfigMap or Secret defined after it or in another
// file: document() reads ConfigMaps and Secrets at once and keeps pods and Deployments;
// finish() reads those, each reference checked against every object of the run.
class Parser {
 public:
  explicit Parser(const ManifestLimits& limits)
      : limits_(limits), objects_(std::make_shared<ConfigObjects>()) {}
  void document(const ConfigNode& doc);
  [[nodiscard]] Manifests finish();

 private:
  // --- manifest.cpp --------------------------------------------------------------------------
  void list(const ConfigNode& doc);
  void workload(const ConfigNode& doc);
  void deployment(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
                  const ConfigNode& spec);
  Metadata metadata(const ConfigNode& m, bool template_meta);
  // Who makes the pods of a template: a Deployment's must restart Always, a Job's must not.
  enum class PodOwner { kNone, kDeployment, kJob, kStatefulSet };
  void pod_spec(const ConfigNode& spec, PodSpec& pod, PodOwner owner);
  // `spec.template` of a Deployment or Job named `owner_name`: its metadata and pod spec,
  // checked as the pod named `longest_name` (the longest its pods can get).
  PodSpec pod_template(const ConfigNode& doc, const Metadata& meta, const ConfigNode& spec,
                       PodOwner owner, const std::string& owner_name,
                       const std::string& longest_name);
  void pod_settings(const ConfigNode& spec, PodSpec& pod, PodOwner owner);
  void claim_pod_name(const ConfigNode& meta, const std::string& name, const std::string& what);
  void check_expansion(const PodSpec& pod, const ConfigNode& spec);
  void count_pods(const ConfigNode& at, std::string_view key, std::int64_t more);

  // --- manifest_job.cpp ----------------------------------------------------------------------
  void job(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
           const ConfigNode& spec);
  void stateful_set(const ConfigNode& doc, const ConfigNode& meta_node, Metadata meta,
                    const ConfigNode& spec);
  // A StatefulSet's volumeClaimTemplates, as volumes pod_spec() adds to its template's.
  std::vector<Volume> claim_template_volumes_;

  // --- manifest_config.cpp -------------------------------------------------------------------
  void config_object(const ConfigNode& doc, bool secret);
  // The object `ref`'s `name_key` names in the pod's namespace. Missing: nullptr when
  // `optional`, else a ConfigError at that field.
  const ConfigObject* referred(const ConfigNode& ref, std::string_view name_key, bool secret,
                               bool optional);
  KeyRef key_ref(const ConfigNode& ref, bool secret);
  EnvFromSource env_from(const ConfigNode& e);

  // --- manifest_container.cpp ----------------------------------------------------------------
  // image, imagePullPolicy, command and args: a command, or an image to run, or both.
  void image_and_command(const ConfigNode& c, ContainerSpec& out);
  ContainerSpec container(const ConfigNode& c, const PodSpec& pod, bool init);
  // env and envFrom.
  void environment(const ConfigNode& c, ContainerSpec& out);
  EnvVar env_var(const ConfigNode& e);
  Resources resources(const ConfigNode& r);
  // resourceFieldRef; in a volume, containerName is required.
  ResourceRef resource_ref(const ConfigNode& ref, bool in_volume);
  ContainerPort port(const ConfigNode& p);
  Probe probe(const ConfigNode& p, const ContainerSpec& c, std::string_view kind);
  Action action(const ConfigNode& a, const ContainerSpec& c, bool handler,
                std::chrono::milliseconds grace);
  HttpGetAction http_get(const ConfigNode& h, const ContainerSpec& c);
  GrpcAction grpc(const ConfigNode& g);
  std::uint16_t port_ref(const ConfigNode& n, const ContainerSpec& c);

  // --- manifest_volumes.cpp ------------------------------------------------------------------
  Volume volume(const ConfigNode& v);
  void host_path(const ConfigNode& h, Volume& out);
  void empty_dir(const ConfigNode& e, Volume& out);
  // configMap or secret (a volume's, or a projected volume's source).
  VolumeSource object_source(const ConfigNode& n, bool secret, bool projected);
  VolumeSource downward_source(const ConfigNode& n);
  void projected(const ConfigNode& p, Volume& out);
  void key_files(const ConfigNode& n, std::string_view name_key, VolumeSource& out,
                 const ConfigObject* obj);
  // No two files of the volume at one path, nor one inside another.
  void check_volume_paths();
  // A PersistentVolumeClaim document, kept in objects_ for the pods' volumes.
  void claim(const ConfigNode& doc);
  // A claim's `spec` (of `doc`: a PersistentVolumeClaim, or a StatefulSet's claim template).
  void claim_spec(const ConfigNode& doc, ClaimSpec& out);
  void claim_volume(const ConfigNode& t, Volume& out);

  // --- manifest_service.cpp ------------------------------------------------------------------
  void service(const ConfigNode& doc);
  void service_ports(const ConfigNode& spec, ServiceSpec& svc);
  ServicePort service_port(const ConfigNode& p, const ServiceSpec& svc);
  VolumeMount volume_mount(const ConfigNode& m);

  ManifestLimits limits_;
  Manifests out_;
  std::shared_ptr<ConfigObjects> objects_;
  std::vector<ConfigNode> workloads_;    // pods and Deployments, for finish(), in file order
  std::set<std::string> ignored_kinds_;  // warned about once each
  std::int64_t pod_count_ = 0;           // counting replicas
  // Of the pod being parsed.
  std::string namespace_ = "default";
  std::set<std::string> volume_names_;
  std::uint64_t volume_file_bytes_ = 0;
  struct FileSite {
    std::string path;
    ConfigNode at;    // where the file comes from: an item, or a whole object's source
    std::string key;  // of `at`, for the message
  };
  std::vector<FileSite> volume_paths_;  // of the volume being parsed
  // resourceFieldRefs that name a container, checked once the pod's containers are known.
  std::vector<ConfigNode> container_refs_;
  std::map<std::string, std::string> pod_sites_;  // pod name -> where it is defined
  std::map<std::string, std::string> deployment_sites_;
  // namespace/name -> where each ConfigMap and Secret is defined.
  std::map<std::string, std::string> object_sites_;
};

std::string site(const ConfigNode& n);

}  // namespace tender::pod

// The manifest parser's volumes and volume mounts (Parser, manifest_parser.hpp).
#include <algorithm>
#include <string_view>

#include "core/config.hpp"
#include "core/log.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {
namespace {

constexpr std::string_view kVolumeTypes[] = {"emptyDir",  "hostPath", "persistentVolumeClaim",
                                             "configMap", "secret",   "downwardAPI",
                                             "projected"};
constexpr const char* kVolumeTypeList =
    "emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI or projected";
constexpr std::string_view kAccessModes[] = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                                             "ReadWriteOncePod"};

}  // namespace

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
    if (std::find(std::begin(kVolumeTypes), std::end(kVolumeTypes), key) ==
        std::end(kVolumeTypes)) {
      v.fail(key, "volume type " + key + " not supported locally (use " + kVolumeTypeList + ")");
    }
  }
  if (types.empty()) {
    v.fail("", std::string("a volume type is required (") + kVolumeTypeList + ")");
  }
  if (types.size() > 1) {
    v.fail(types[1],
           "only one volume type is allowed (found " + types[0] + " and " + types[1] + ")");
  }
  const std::string& type = types[0];
  ConfigNode t = v.child(type);
  if (!t.defined()) {
    v.fail(type, type == "emptyDir"   ? "needs a value: write `emptyDir: {}`"
                 : type == "hostPath" ? "needs a value: at least `path`"
                                      : "needs a value");
  }
  if (!t.is_map()) {
    v.fail(type, type == "emptyDir" ? "expected a mapping, like {} or {sizeLimit: 1Gi}"
                                    : "expected a mapping");
  }
  volume_paths_.clear();
  if (type == "hostPath") {
    host_path(t, out);
  } else if (type == "emptyDir") {
    empty_dir(t, out);
  } else if (type == "persistentVolumeClaim") {
    claim_volume(t, out);
  } else if (type == "projected") {
    projected(t, out);
  } else {
    out.kind = type == "configMap" ? Volume::Kind::kConfigMap
               : type == "secret"  ? Volume::Kind::kSecret
                                   : Volume::Kind::kDownwardAPI;
    out.default_mode = file_mode(t, "defaultMode").value_or(0644);
    out.sources.push_back(out.kind == Volume::Kind::kDownwardAPI
                              ? downward_source(t)
                              : object_source(t, out.kind == Volume::Kind::kSecret, false));
  }
  check_volume_paths();
  return out;
}

void Parser::host_path(const ConfigNode& h, Volume& out) {
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
}

void Parser::empty_dir(const ConfigNode& e, Volume& out) {
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
}

// configMap {name, items, defaultMode, optional}, secret {secretName, ...}; in a projected
// volume both take `name` and no defaultMode.
VolumeSource Parser::object_source(const ConfigNode& n, bool secret, bool projected) {
  const char* name_key = secret && !projected ? "secretName" : "name";
  if (projected) {
    n.warn_unknown({"name", "items", "optional"});
  } else {
    n.warn_unknown({name_key, "items", "defaultMode", "optional"});
  }
  VolumeSource out;
  out.kind = secret ? VolumeSource::Kind::kSecret : VolumeSource::Kind::kConfigMap;
  out.optional = n.boolean("optional").value_or(false);
  const ConfigObject* obj = referred(n, name_key, secret, out.optional);
  out.name = *n.string(name_key);
  key_files(n, name_key, out, obj);
  return out;
}

// The files of a configMap or secret source: its items, or every key of the object.
void Parser::key_files(const ConfigNode& n, std::string_view name_key, VolumeSource& out,
                       const ConfigObject* obj) {
  const char* kind = out.kind == VolumeSource::Kind::kSecret ? "Secret" : "ConfigMap";
  auto count = [&](const ConfigNode& at, std::string_view key, const std::string& value) {
    volume_file_bytes_ += value.size();
    if (volume_file_bytes_ > kMaxPodVolumeFileBytes) {
      at.fail(key, "the pod's configMap, secret and projected volumes hold more than " +
                       std::to_string(kMaxPodVolumeFileBytes >> 20) + " MiB of files");
    }
  };
  for (const auto& item : n.child("items").items()) {
    item.warn_unknown({"key", "path", "mode"});
    KeyToPath k;
    k.key = required_text(item, "key");
    if (!is_config_key(k.key)) {
      item.fail("key", "not a valid key: " + quote(k.key));
    }
    k.path = required_text(item, "path");
    if (!is_volume_file_path(k.path)) {
      item.fail("path", "must be a relative path without '..': " + quote(k.path));
    }
    k.mode = file_mode(item, "mode");
    if (obj != nullptr) {
      auto it = obj->data.find(k.key);
      if (it == obj->data.end() && !out.optional) {
        item.fail("key", std::string(kind) + " " + quote(out.name) + " (" + obj->file + ":" +
                             std::to_string(obj->line) + ") has no key " + quote(k.key) +
                             " (add it, or set optional: true)");
      }
      if (it != obj->data.end()) {
        count(item, "key", it->second);
        volume_paths_.push_back({k.path, item, "path"});
      }
    }
    out.items.push_back(std::move(k));
  }
  if (obj != nullptr && out.items.empty()) {
    for (const auto& [key, value] : obj->data) {
      count(n, name_key, value);
      volume_paths_.push_back({key, n, std::string(name_key)});
    }
  }
}

VolumeSource Parser::downward_source(const ConfigNode& n) {
  n.warn_unknown({"items", "defaultMode"});
  VolumeSource out;
  out.kind = VolumeSource::Kind::kDownwardAPI;
  for (const auto& item : n.child("items").items()) {
    item.warn_unknown({"path", "fieldRef", "resourceFieldRef", "mode"});
    DownwardFile f;
    f.path = required_text(item, "path");
    if (!is_volume_file_path(f.path)) {
      item.fail("path", "must be a relative path without '..': " + quote(f.path));
    }
    f.mode = file_mode(item, "mode");
    const bool field = item.has("fieldRef");
    if (field == item.has("resourceFieldRef")) {
      item.fail(field ? "resourceFieldRef" : "",
                field ? "only one of fieldRef and resourceFieldRef is allowed"
                      : "one of fieldRef or resourceFieldRef is required");
    }
    if (field) {
      ConfigNode ref = item.child("fieldRef");
      ref.warn_unknown({"fieldPath", "apiVersion"});
      f.field_path = required_text(ref, "fieldPath");
      if (!is_volume_field_path(f.field_path)) {
        ref.fail("fieldPath", "unsupported fieldPath " + quote(f.field_path) +
                                  " (metadata.name, metadata.namespace, metadata.labels, "
                                  "metadata.annotations, metadata.labels['key'], "
                                  "metadata.annotations['key'])");
      }
    } else {
      f.resource = resource_ref(item.child("resourceFieldRef"), true);
    }
    volume_paths_.push_back({f.path, item, "path"});
    out.files.push_back(std::move(f));
  }
  return out;
}

void Parser::projected(const ConfigNode& p, Volume& out) {
  p.warn_unknown({"sources", "defaultMode"});
  out.kind = Volume::Kind::kProjected;
  out.default_mode = file_mode(p, "defaultMode").value_or(0644);
  for (const auto& src : p.child("sources").items()) {
    std::vector<std::string> keys = src.keys();
    if (keys.size() != 1) {
      src.fail(keys.empty() ? "" : keys[1],
               "each source is one of configMap, secret, downwardAPI or serviceAccountToken");
    }
    const std::string& key = keys[0];
    ConfigNode n = src.child(key);
    if (!n.is_map()) {
      src.fail(key, "expected a mapping");
    }
    if (key == "configMap" || key == "secret") {
      out.sources.push_back(object_source(n, key == "secret", true));
    } else if (key == "downwardAPI") {
      out.sources.push_back(downward_source(n));
    } else if (key == "serviceAccountToken") {
      // A token is for an API server, and there is none locally: nothing is written.
      n.warn_unknown({"audience", "expirationSeconds", "path"});
      log::warn("projected serviceAccountToken is not written (there is no API server locally)",
                {{"file", n.file()}, {"line", n.line()}, {"field", n.path()}});
    } else {
      src.fail(key, "projected source " + key +
                        " not supported locally (configMap, secret, downwardAPI or "
                        "serviceAccountToken)");
    }
  }
}

void Parser::check_volume_paths() {
  // Sorted, a file and what would have to be inside it ("a" and "a/b") are neighbours, or
  // separated only by paths that also start with "a".
  std::vector<const FileSite*> sorted;
  sorted.reserve(volume_paths_.size());
  for (const auto& f : volume_paths_) {
    sorted.push_back(&f);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const FileSite* a, const FileSite* b) { return a->path < b->path; });
  for (std::size_t i = 0; i + 1 < sorted.size(); ++i) {
    const FileSite& a = *sorted[i];
    for (std::size_t j = i + 1; j < sorted.size() && sorted[j]->path.starts_with(a.path); ++j) {
      const FileSite& b = *sorted[j];
      if (b.path == a.path) {
        b.at.fail(b.key, "two files of the volume at " + quote(b.path) + " (also from " +
                             site(a.at) + ")");
      }
      if (b.path[a.path.size()] == '/') {
        b.at.fail(b.key, "file " + quote(b.path) + " would be inside the file " + quote(a.path) +
                             " (from " + site(a.at) + ")");
      }
    }
  }
  volume_paths_.clear();
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

void Parser::claim_spec(const ConfigNode& doc, ClaimSpec& out) {
  ConfigNode spec = doc.child("spec");
  if (!spec.is_map()) {
    doc.fail("spec", "required: a mapping with accessModes");
  }
  // Which volume binds it, and its selector, mean nothing locally: every claim is its own
  // directory. Ignored silently.
  spec.warn_unknown({"accessModes", "resources", "storageClassName", "volumeMode", "selector",
                     "volumeName", "volumeAttributesClassName", "dataSource", "dataSourceRef"});
  for (const char* key : {"dataSource", "dataSourceRef"}) {
    if (spec.has(key)) {
      spec.fail(key, "not supported locally: a claim starts empty (no clones or snapshots)");
    }
  }
  if (auto mode = spec.string("volumeMode"); mode && *mode != "Filesystem") {
    spec.fail("volumeMode",
              "only Filesystem is supported locally (a claim is a directory), not " + quote(*mode));
  }
  auto modes = text_list(spec, "accessModes");
  if (!modes || modes->empty()) {
    spec.fail("accessModes",
              "required: at least one of ReadWriteOnce, ReadOnlyMany, "
              "ReadWriteMany, ReadWriteOncePod");
  }
  for (const std::string& m : *modes) {
    if (std::find(std::begin(kAccessModes), std::end(kAccessModes), m) == std::end(kAccessModes)) {
      spec.fail("accessModes", "unknown access mode " + quote(m) +
                                   " (ReadWriteOnce, ReadOnlyMany, ReadWriteMany, "
                                   "ReadWriteOncePod)");
    }
  }
  out.access_modes = std::move(*modes);
  out.storage_class = spec.string("storageClassName").value_or("");
  ConfigNode resources = spec.child("resources");
  resources.warn_unknown({"requests", "limits"});
  if (auto storage = resources.child("requests").string("storage")) {
    out.storage = parse_quantity(*storage);
    if (!out.storage) {
      resources.child("requests").fail("storage", "not a quantity like 1Gi: " + quote(*storage));
    }
  }
}

void Parser::claim(const ConfigNode& doc) {
  doc.warn_unknown({"apiVersion", "kind", "metadata", "spec", "status"});
  ConfigNode meta_node = doc.child("metadata");
  if (!meta_node.defined()) {
    doc.fail("metadata", "required (with a name)");
  }
  Metadata meta = metadata(meta_node, false);
  ClaimSpec out;
  out.name = meta.name;
  out.namespace_ = meta.namespace_;
  out.file = doc.file();
  out.line = doc.line();
  claim_spec(doc, out);
  const std::string id = "PersistentVolumeClaim " + out.namespace_ + "/" + out.name;
  auto [it, fresh] = object_sites_.emplace(id, site(meta_node.child("name")));
  if (!fresh) {
    meta_node.fail("name", "PersistentVolumeClaim " + quote(out.name) + " in namespace " +
                               quote(out.namespace_) + " is already defined at " + it->second);
  }
  objects_->claims.emplace(std::pair{out.namespace_, out.name}, std::move(out));
}

void Parser::claim_volume(const ConfigNode& t, Volume& out) {
  t.warn_unknown({"claimName", "readOnly"});
  out.kind = Volume::Kind::kPersistentVolumeClaim;
  out.claim_name = required_text(t, "claimName");
  out.read_only = t.boolean("readOnly").value_or(false);
  if (objects_->claims.count({namespace_, out.claim_name}) == 0) {
    t.fail("claimName", "no PersistentVolumeClaim " + quote(out.claim_name) + " in namespace " +
                            quote(namespace_) + " in the files of the run (add it)");
  }
}

}  // namespace tender::pod

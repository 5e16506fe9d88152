// The manifest parser's ConfigMaps and Secrets, and the references pods make to them (Parser,
// manifest_parser.hpp). A Secret's values never reach a message or a log line.
#include <string_view>

#include "core/config.hpp"
#include "core/log.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {
namespace {

const char* object_kind(bool secret) { return secret ? "Secret" : "ConfigMap"; }

std::string object_key(const std::string& namespace_, const std::string& name) {
  return namespace_ + "/" + name;
}

// An object's data, binaryData and stringData into `out.data`. Never a value in a message.
void read_values(const ConfigNode& doc, bool secret, ConfigObject& out) {
  const char* kind = object_kind(secret);
  std::uint64_t bytes = 0;
  auto add = [&](const ConfigNode& map, const std::string& key, std::string value) {
    if (!is_config_key(key)) {
      map.fail(key,
               "not a valid key (at most 253 of letters, digits, '-', '_' and '.', not "
               "starting with \"..\")");
    }
    bytes += value.size();
    if (bytes > kMaxConfigObjectBytes) {
      map.fail(key, std::string("the ") + kind +
                        "'s values take more than 1 MiB (Kubernetes' limit for a " + kind + ")");
    }
    out.data[key] = std::move(value);
  };
  // data: text in a ConfigMap, base64 in a Secret; binaryData: base64 (a ConfigMap's).
  for (const char* field : {"data", "binaryData"}) {
    if (secret && std::string_view(field) == "binaryData") {
      continue;
    }
    ConfigNode map = doc.child(field);
    const bool base64 = secret || std::string_view(field) == "binaryData";
    for (const auto& [key, value] : entries(map)) {
      if (value.defined() && !value.is_scalar()) {
        map.fail(key, "expected a single value, not a list or mapping");
      }
      std::string text = value.defined() ? value.as_string() : "";
      if (!base64) {
        warn_if_not_text(value);
        add(map, key, std::move(text));
        continue;
      }
      if (!secret && out.data.count(key) > 0) {
        map.fail(key, "key " + quote(key) + " is in data too");
      }
      auto decoded = decode_base64(text);
      if (!decoded) {  // never the value: it is a secret, or may be
        map.fail(key, "not valid base64 (the standard alphabet, with = padding)");
      }
      add(map, key, std::move(*decoded));
      if (!secret) {
        out.binary.insert(key);
      }
    }
  }
  if (secret) {
    // stringData over data, as the API server merges them.
    ConfigNode map = doc.child("stringData");
    for (const auto& [key, value] : entries(map)) {
      if (value.defined() && !value.is_scalar()) {
        map.fail(key, "expected a single value, not a list or mapping");
      }
      if (value.defined()) {
        warn_if_not_text(value, true);
      }
      auto old = out.data.find(key);
      if (old != out.data.end()) {
        bytes -= old->second.size();
      }
      add(map, key, value.defined() ? value.as_string() : "");
    }
  }
}

}  // namespace

const ConfigObject* ConfigObjects::find(bool secret, const std::string& namespace_,
                                        const std::string& name) const {
  const auto& map = secret ? secrets : config_maps;
  auto it = map.find({namespace_, name});
  return it == map.end() ? nullptr : &it->second;
}

void Parser::config_object(const ConfigNode& doc, bool secret) {
  if (secret) {
    doc.warn_unknown({"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"});
  } else {
    doc.warn_unknown({"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"});
  }
  ConfigNode meta_node = doc.child("metadata");
  if (!meta_node.defined()) {
    doc.fail("metadata", "required (with a name)");
  }
  Metadata meta = metadata(meta_node, false);
  ConfigObject out;
  out.name = meta.name;
  out.namespace_ = meta.namespace_;
  out.file = doc.file();
  out.line = doc.line();
  out.immutable = doc.boolean("immutable").value_or(false);
  if (secret) {
    out.type = doc.string("type").value_or("");
    if (out.type.empty()) {
      out.type = "Opaque";
    }
  }
  read_values(doc, secret, out);
  const std::string id = object_key(out.namespace_, out.name);
  const std::string kind = object_kind(secret);
  auto [it, fresh] = object_sites_.emplace(kind + " " + id, site(meta_node.child("name")));
  if (!fresh) {
    meta_node.fail("name", kind + " " + quote(out.name) + " in namespace " + quote(out.namespace_) +
                               " is already defined at " + it->second);
  }
  auto& map = secret ? objects_->secrets : objects_->config_maps;
  map.emplace(std::pair{out.namespace_, out.name}, std::move(out));
}

const ConfigObject* Parser::referred(const ConfigNode& ref, std::string_view name_key, bool secret,
                                     bool optional) {
  std::string name = required_text(ref, name_key);
  if (!is_dns_subdomain(name)) {
    ref.fail(name_key, std::string("not a valid ") + object_kind(secret) + " name: " + quote(name));
  }
  const ConfigObject* found = objects_->find(secret, namespace_, name);
  if (found == nullptr && !optional) {
    ref.fail(name_key, std::string("no ") + object_kind(secret) + " " + quote(name) +
                           " in namespace " + quote(namespace_) +
                           " in the files of the run (add it, or set optional: true)");
  }
  return found;
}

KeyRef Parser::key_ref(const ConfigNode& ref, bool secret) {
  ref.warn_unknown({"name", "key", "optional"});
  KeyRef out;
  out.secret = secret;
  out.optional = ref.boolean("optional").value_or(false);
  const ConfigObject* obj = referred(ref, "name", secret, out.optional);
  out.name = *ref.string("name");
  out.key = required_text(ref, "key");
  if (!is_config_key(out.key)) {
    ref.fail("key", "not a valid key: " + quote(out.key));
  }
  if (obj != nullptr && obj->env_value(out.key) == nullptr && !out.optional) {
    ref.fail("key", std::string(object_kind(secret)) + " " + quote(out.name) + " (" + obj->file +
                        ":" + std::to_string(obj->line) + ") has no key " + quote(out.key) +
                        (obj->binary.count(out.key) > 0 ? " in data (binaryData is for volumes)"
                                                        : " (add it, or set optional: true)"));
  }
  return out;
}

EnvFromSource Parser::env_from(const ConfigNode& e) {
  if (!e.is_map()) {
    e.fail("", "expected a mapping with configMapRef or secretRef");
  }
  e.warn_unknown({"configMapRef", "secretRef", "prefix"});
  EnvFromSource out;
  const bool cm = e.has("configMapRef");
  out.secret = e.has("secretRef");
  if (cm == out.secret) {
    e.fail(cm ? "secretRef" : "", cm ? "only one of configMapRef and secretRef is allowed"
                                     : "one of configMapRef or secretRef is required");
  }
  const char* field = out.secret ? "secretRef" : "configMapRef";
  ConfigNode ref = e.child(field);
  if (!ref.is_map()) {
    e.fail(field, "expected a mapping with a name");
  }
  ref.warn_unknown({"name", "optional"});
  out.optional = ref.boolean("optional").value_or(false);
  (void)referred(ref, "name", out.secret, out.optional);
  out.name = *ref.string("name");
  out.prefix = text(e, "prefix").value_or("");
  if (!out.prefix.empty() && !is_env_name(out.prefix)) {
    e.fail("prefix",
           "not a valid variable name prefix (printable ASCII without '='): " + quote(out.prefix));
  }
  return out;
}

}  // namespace tender::pod

// A container's environment and argv: envFrom, fieldRefs, resourceFieldRefs, ConfigMap and
// Secret keys, and Kubernetes' $(VAR) expansion; what the downward API reads of a pod.
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <string_view>
#include <unordered_map>

#include "pod/manifest.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

// Go's %q, as the kubelet quotes label and annotation values in a downwardAPI file.
std::string go_quote(const std::string& v) {
  std::string out = "\"";
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          constexpr std::string_view kHex = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// key="value" lines, sorted by key, without a newline after the last (the kubelet's FormatMap).
std::string format_map(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    out += (out.empty() ? "" : "\n") + k + "=" + go_quote(v);
  }
  return out;
}

const ContainerSpec* find_container_spec(const PodSpec& pod, const std::string& name) {
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    for (const auto& c : *list) {
      if (c.name == name) {
        return &c;
      }
    }
  }
  return nullptr;
}

// Expansion that stops once the output would pass `budget` bytes (which it lowers by what it
// writes): a chain of $(A)$(A) references doubles with every entry. Returns false then.
template <class Lookup>
bool expand_within(const std::string& s, const Lookup& lookup, std::string& out,
                   std::size_t& budget) {
  auto append = [&](std::string_view piece) {
    if (piece.size() > budget) {
      return false;
    }
    budget -= piece.size();
    out.append(piece);
    return true;
  };
  std::size_t i = 0;
  while (i < s.size()) {
    // Runs of plain characters at once.
    std::size_t dollar = s.find('$', i);
    if (dollar == std::string::npos || dollar + 1 == s.size()) {
      return append(std::string_view(s).substr(i));
    }
    if (!append(std::string_view(s).substr(i, dollar - i))) {
      return false;
    }
    i = dollar;
    const char next = s[i + 1];
    bool ok = true;
    if (next == '$') {  // escaped operator
      ok = append("$");
      i += 2;
    } else if (next == '(') {
      const auto close = s.find(')', i + 2);
      if (close == std::string::npos) {  // incomplete reference: keep "$(" and go on
        ok = append("$(");
        i += 2;
      } else {
        std::string_view name = std::string_view(s).substr(i + 2, close - i - 2);
        const std::string* value = lookup(name);
        ok = value != nullptr ? append(*value)
                              : append(std::string_view(s).substr(i, close + 1 - i));
        i = close + 1;
      }
    } else {  // a '$' that starts nothing
      ok = append(std::string_view(s).substr(i, 2));
      i += 2;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

// The value an entry of `env` gets without $(VAR) expansion (all but a plain `value`); nullopt
// for an optional reference to a missing ConfigMap, Secret or key, which leaves it out.
std::optional<std::string> sourced_value(const PodSpec& pod, const ContainerSpec& container,
                                         const EnvVar& e, const std::string& pod_ip,
                                         const NodeInfo& node) {
  if (e.key_ref) {
    const ConfigObject* obj =
        pod.objects ? pod.objects->find(e.key_ref->secret, pod.namespace_, e.key_ref->name)
                    : nullptr;
    if (obj == nullptr) {
      return std::nullopt;
    }
    const std::string* value = obj->env_value(e.key_ref->key);
    if (value == nullptr) {
      return std::nullopt;
    }
    return *value;
  }
  if (e.resource_ref) {
    return resource_value(pod, container, *e.resource_ref, node);
  }
  return field_value(pod, e.field_path, pod_ip, node);
}

// The value of `name` in `vars`, the last definition of it, or nullptr.
const std::string* find_var(const std::vector<std::pair<std::string, std::string>>& vars,
                            std::string_view name) {
  for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
    if (it->first == name) {
      return &it->second;
    }
  }
  return nullptr;
}

// resolve_env() within `budget` bytes of names and values; false once past it.
bool resolve_within(const PodSpec& pod, const ContainerSpec& container, const std::string& pod_ip,
                    const NodeInfo& node,
                    const std::vector<std::pair<std::string, std::string>>& services,
                    std::vector<std::pair<std::string, std::string>>& out, std::size_t& budget) {
  // envFrom's objects that exist (the parser has refused missing ones that are not optional).
  std::vector<std::pair<const EnvFromSource*, const ConfigObject*>> sources;
  std::size_t count = container.env.size();
  for (const auto& src : container.env_from) {
    if (const ConfigObject* obj =
            pod.objects ? pod.objects->find(src.secret, pod.namespace_, src.name) : nullptr) {
      sources.emplace_back(&src, obj);
      count += obj->data.size() - obj->binary.size();
    }
  }
  // Where each name sits in `out`: a later definition replaces the value in place.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(count);
  out.reserve(count);
  auto lookup = [&](std::string_view name) -> const std::string* {
    auto it = index.find(name);
    return it == index.end() ? find_var(services, name) : &out[it->second].second;
  };
  auto define = [&](std::string name, std::string v) {
    if (name.size() + 2 > budget) {  // "NAME=" and the terminating NUL
      return false;
    }
    budget -= name.size() + 2;
    if (auto it = index.find(name); it != index.end()) {
      out[it->second].second = std::move(v);  // a later definition wins, as in Kubernetes
    } else {
      out.emplace_back(std::move(name), std::move(v));
      index.emplace(out.back().first, out.size() - 1);  // `out` never reallocates: reserved
    }
    return true;
  };
  auto take = [&](std::size_t n) {
    if (n > budget) {
      return false;
    }
    budget -= n;
    return true;
  };
  for (const auto& [src, obj] : sources) {
    for (const auto& [key, value] : obj->data) {
      if (obj->binary.count(key) > 0) {
        continue;  // the kubelet takes data only
      }
      // Every key is a valid name under Kubernetes' relaxed rule (printable ASCII but '='),
      // and so is the prefix: nothing is skipped, as the kubelet skips invalid names.
      if (!take(value.size()) || !define(src->prefix + key, value)) {
        return false;
      }
    }
  }
  for (const auto& e : container.env) {
    std::string v;
    if (e.field_path.empty() && !e.key_ref && !e.resource_ref) {
      if (!expand_within(e.value, lookup, v, budget)) {
        return false;
      }
    } else {
      auto sourced = sourced_value(pod, container, e, pod_ip, node);
      if (!sourced) {
        continue;
      }
      v = std::move(*sourced);
      if (!take(v.size())) {
        return false;
      }
    }
    if (!define(e.name, std::move(v))) {
      return false;
    }
  }
  return true;
}

// command followed by args, expanded, within `budget`.
bool expand_argv_within(const ContainerSpec& container,
                        const std::vector<std::pair<std::string, std::string>>& env,
                        const std::vector<std::pair<std::string, std::string>>& services,
                        std::vector<std::string>& argv, std::size_t& budget) {
  std::unordered_map<std::string_view, const std::string*> vars;
  vars.reserve(env.size() + services.size());
  for (const auto* list : {&services, &env}) {
    for (const auto& [k, v] : *list) {
      vars[k] = &v;  // the container's own definition of a name wins over a Service's
    }
  }
  auto lookup = [&](std::string_view name) -> const std::string* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second;
  };
  argv.reserve(container.command.size() + container.args.size());
  for (const auto* list : {&container.command, &container.args}) {
    for (const auto& a : *list) {
      std::string out;
      if (!expand_within(a, lookup, out, budget) || budget == 0) {
        return false;
      }
      --budget;  // the NUL
      argv.push_back(std::move(out));
    }
  }
  return true;
}

constexpr std::size_t kUnbounded = static_cast<std::size_t>(-1);

}  // namespace

// Kubernetes' third_party/forked/golang/expansion, byte for byte.
std::string expand_vars(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(s.size());
  std::size_t budget = kUnbounded;
  expand_within(
      s,
      [&](std::string_view name) -> const std::string* {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? nullptr : &it->second;
      },
      out, budget);
  return out;
}

std::vector<std::pair<std::string, std::string>> resolve_env(
    const PodSpec& pod, const ContainerSpec& container, const std::string& pod_ip,
    const NodeInfo& node, const std::vector<std::pair<std::string, std::string>>& services) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t budget = kUnbounded;
  resolve_within(pod, container, pod_ip, node, services, out, budget);
  return out;
}

std::vector<std::string> expand_argv(
    const ContainerSpec& container, const std::vector<std::pair<std::string, std::string>>& env,
    const std::vector<std::pair<std::string, std::string>>& services) {
  std::vector<std::string> argv;
  std::size_t budget = kUnbounded;
  expand_argv_within(container, env, services, argv, budget);
  return argv;
}

std::string field_value(const PodSpec& pod, const std::string& path, const std::string& pod_ip,
                        const NodeInfo& node) {
  if (path == "metadata.name") {
    return pod.name;
  }
  if (path == "metadata.namespace") {
    return pod.namespace_;
  }
  if (path == "status.podIP" || path == "status.podIPs") {
    return pod_ip;
  }
  if (path == "status.hostIP" || path == "status.hostIPs") {
    return node.host_ip;
  }
  if (path == "spec.nodeName") {
    return node.name;
  }
  if (path == "spec.serviceAccountName") {
    return pod.service_account;
  }
  if (path == "metadata.labels") {
    return format_map(pod.labels);
  }
  if (path == "metadata.annotations") {
    return format_map(pod.annotations);
  }
  for (const auto& [prefix, map] : {std::pair{"metadata.labels", &pod.labels},
                                    std::pair{"metadata.annotations", &pod.annotations}}) {
    if (auto key = subscript(path, prefix)) {
      auto it = map->find(*key);
      return it == map->end() ? "" : it->second;
    }
  }
  return "";
}

bool is_env_field_path(std::string_view p) {
  return p == "metadata.name" || p == "metadata.namespace" || p == "status.podIP" ||
         p == "status.podIPs" || p == "status.hostIP" || p == "status.hostIPs" ||
         p == "spec.nodeName" || p == "spec.serviceAccountName" ||
         subscript(p, "metadata.labels") || subscript(p, "metadata.annotations");
}

bool is_volume_field_path(std::string_view p) {
  return p == "metadata.name" || p == "metadata.namespace" || p == "metadata.labels" ||
         p == "metadata.annotations" || subscript(p, "metadata.labels") ||
         subscript(p, "metadata.annotations");
}

bool is_resource_field(std::string_view r) {
  for (std::string_view kind : {"limits.", "requests."}) {
    if (r.starts_with(kind)) {
      std::string_view name = r.substr(kind.size());
      if (name == "cpu" || name == "memory" || name == "ephemeral-storage") {
        return true;
      }
      return name.starts_with("hugepages-") &&
             parse_quantity(name.substr(std::string_view("hugepages-").size())).has_value();
    }
  }
  return false;
}

std::string resource_value(const PodSpec& pod, const ContainerSpec& container,
                           const ResourceRef& ref, const NodeInfo& node) {
  const ContainerSpec* c =
      ref.container.empty() ? &container : find_container_spec(pod, ref.container);
  const auto dot = ref.resource.find('.');
  if (c == nullptr || dot == std::string::npos || ref.divisor == 0) {
    return "";
  }
  const std::string name = ref.resource.substr(dot + 1);
  const auto& limits = c->resources.limits;
  std::uint64_t v = 0;
  if (auto it = limits.find(name); it != limits.end()) {
    v = it->second;
  } else if (name == "cpu") {
    v = node.cpu_millis;
  } else if (name == "memory") {
    v = node.memory_bytes;
  } else if (name == "ephemeral-storage") {
    v = node.ephemeral_storage_bytes;
  }
  if (ref.resource.starts_with("requests.")) {
    // A request not set is its limit when that is set (the API server's default), else 0.
    const auto& requests = c->resources.requests;
    auto it = requests.find(name);
    auto limit = limits.find(name);
    v = it != requests.end() ? it->second : limit != limits.end() ? limit->second : 0;
  }
  return std::to_string(v / ref.divisor + (v % ref.divisor != 0 ? 1 : 0));
}

std::vector<SecretValue> secret_values(const PodSpec& pod, const ContainerSpec& container) {
  std::vector<SecretValue> out;
  if (!pod.objects) {
    return out;
  }
  auto add = [&](const ConfigObject& s, const std::string& key, const std::string& value) {
    if (!value.empty()) {
      out.push_back({value, "secret " + s.name + " key " + key});
    }
  };
  for (const auto& e : container.env) {
    if (e.key_ref && e.key_ref->secret) {
      if (const auto* s = pod.objects->find(true, pod.namespace_, e.key_ref->name)) {
        if (auto it = s->data.find(e.key_ref->key); it != s->data.end()) {
          add(*s, it->first, it->second);
        }
      }
    }
  }
  for (const auto& src : container.env_from) {
    if (const auto* s = src.secret ? pod.objects->find(true, pod.namespace_, src.name) : nullptr) {
      for (const auto& [k, v] : s->data) {
        add(*s, k, v);
      }
    }
  }
  return out;
}

std::string redact_expanded(std::string text, const std::string& expanded,
                            const std::string& written, const std::vector<SecretValue>& secrets) {
  if (expanded == written || expanded.empty()) {
    return text;  // nothing was expanded into it: it is the manifest's own text
  }
  const SecretValue* in = nullptr;
  for (const auto& s : secrets) {
    if (expanded.find(s.value) != std::string::npos) {
      in = &s;
      break;
    }
  }
  if (in == nullptr) {
    return text;
  }
  const std::string shown = written + " (from " + in->source + ")";
  for (auto at = text.find(expanded); at != std::string::npos;
       at = text.find(expanded, at + shown.size())) {
    text.replace(at, expanded.size(), shown);
  }
  return text;
}

NodeInfo this_node() {
  NodeInfo n;
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) == 0) {
    n.name = host.data();
  }
  if (long cpus = ::sysconf(_SC_NPROCESSORS_ONLN); cpus > 0) {
    n.cpu_millis = static_cast<std::uint64_t>(cpus) * 1000;
  }
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) {
    n.memory_bytes = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  }
  struct statvfs fs {};
  if (::statvfs("/", &fs) == 0) {
    n.ephemeral_storage_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  }
  return n;
}

std::optional<std::string> subscript(std::string_view path, std::string_view prefix) {
  if (path.size() < prefix.size() + 4 || path.substr(0, prefix.size()) != prefix ||
      path.substr(prefix.size(), 2) != "['" || path.substr(path.size() - 2) != "']") {
    return std::nullopt;
  }
  std::string_view key = path.substr(prefix.size() + 2, path.size() - prefix.size() - 4);
  if (key.empty() || key.find('\'') != std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(key);
}

bool expands_within(const PodSpec& pod, const ContainerSpec& container, std::size_t max_bytes) {
  // The longest address a pod can get, and the longest machine: a host name of 64 characters,
  // 20-digit resources.
  const std::string pod_ip = "255.255.255.255";
  NodeInfo node;
  node.name = std::string(64, 'n');
  node.host_ip = pod_ip;
  node.cpu_millis = node.memory_bytes = node.ephemeral_storage_bytes = ~std::uint64_t{0};
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> argv;
  std::size_t budget = max_bytes;
  return resolve_within(pod, container, pod_ip, node, {}, env, budget) &&
         expand_argv_within(container, env, {}, argv, budget);
}

}  // namespace tender::pod

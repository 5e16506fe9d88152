// A container's environment and argv: fieldRefs and Kubernetes' $(VAR) expansion.
#include <string_view>
#include <unordered_map>

#include "pod/manifest.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

std::string field_value(const PodSpec& pod, const std::string& path, const std::string& pod_ip) {
  if (path == "metadata.name") {
    return pod.name;
  }
  if (path == "metadata.namespace") {
    return pod.namespace_;
  }
  if (path == "status.podIP") {
    return pod_ip;
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

// resolve_env() within `budget` bytes of names and values; false once past it.
bool resolve_within(const PodSpec& pod, const ContainerSpec& container, const std::string& pod_ip,
                    std::vector<std::pair<std::string, std::string>>& out, std::size_t& budget) {
  // Where each name sits in `out`: a later definition replaces the value in place.
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(container.env.size());
  auto lookup = [&](std::string_view name) -> const std::string* {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &out[it->second].second;
  };
  out.reserve(container.env.size());
  for (const auto& e : container.env) {
    std::string v;
    if (e.field_path.empty()) {
      if (!expand_within(e.value, lookup, v, budget)) {
        return false;
      }
    } else {
      v = field_value(pod, e.field_path, pod_ip);
      if (v.size() > budget) {
        return false;
      }
      budget -= v.size();
    }
    if (e.name.size() + 2 > budget) {  // "NAME=" and the terminating NUL
      return false;
    }
    budget -= e.name.size() + 2;
    if (auto it = index.find(e.name); it != index.end()) {
      out[it->second].second = std::move(v);  // a later definition wins, as in Kubernetes
    } else {
      out.emplace_back(e.name, std::move(v));
      index.emplace(out.back().first, out.size() - 1);  // `out` never reallocates: reserved
    }
  }
  return true;
}

// command followed by args, expanded, within `budget`.
bool expand_argv_within(const ContainerSpec& container,
                        const std::vector<std::pair<std::string, std::string>>& env,
                        std::vector<std::string>& argv, std::size_t& budget) {
  std::unordered_map<std::string_view, const std::string*> vars;
  vars.reserve(env.size());
  for (const auto& [k, v] : env) {
    vars[k] = &v;  // names are unique in a resolved environment
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

std::vector<std::pair<std::string, std::string>> resolve_env(const PodSpec& pod,
                                                             const ContainerSpec& container,
                                                             const std::string& pod_ip) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t budget = kUnbounded;
  resolve_within(pod, container, pod_ip, out, budget);
  return out;
}

std::vector<std::string> expand_argv(const ContainerSpec& container,
                                     const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> argv;
  std::size_t budget = kUnbounded;
  expand_argv_within(container, env, argv, budget);
  return argv;
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
  // The longest address a pod can get.
  const std::string pod_ip = "255.255.255.255";
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> argv;
  std::size_t budget = max_bytes;
  return resolve_within(pod, container, pod_ip, env, budget) &&
         expand_argv_within(container, env, argv, budget);
}

}  // namespace tender::pod

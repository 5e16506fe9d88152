#include "pod/services.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/ascii.hpp"
#include "core/config.hpp"

namespace tender::pod {
namespace {

bool overlaps(const Cidr& a, const Cidr& b) {
  const int prefix = std::min(a.prefix, b.prefix);
  const std::uint32_t mask = ~((std::uint32_t{1} << (32 - prefix)) - 1);
  return (a.base & mask) == (b.base & mask);
}

// The host index of `ip` in `cidr`, or nullopt when it is not an IPv4 address in it.
std::optional<std::uint32_t> host_in(const Cidr& cidr, const std::string& ip) {
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) {
    return std::nullopt;
  }
  std::uint32_t addr = ntohl(a.s_addr);
  if (addr - cidr.base >= cidr.size()) {
    return std::nullopt;
  }
  return addr - cidr.base;
}

// "redis-primary" -> "REDIS_PRIMARY", as Kubernetes names a Service's variables.
std::string env_prefix(const std::string& name) {
  std::string out;
  for (char ch : name) {
    out += ch == '-' ? '_' : ascii_upper(ch);
  }
  return out;
}

}  // namespace

std::vector<ServiceState> plan_services(const std::vector<ServiceSpec>& specs,
                                        const Cidr& service_cidr, const Cidr& pod_cidr) {
  std::vector<ServiceState> out;
  std::set<std::uint32_t> taken;
  for (const auto& spec : specs) {
    ServiceState s;
    s.spec = spec;
    s.node_ports.assign(spec.ports.size(), 0);
    s.endpoints.resize(spec.ports.size());
    if (!spec.headless && overlaps(service_cidr, pod_cidr)) {
      throw ConfigError(spec.file, spec.line, "spec.clusterIP",
                        "the service network " + service_cidr.str() + " overlaps the pod network " +
                            pod_cidr.str() + " (see --service-cidr and --pod-cidr)");
    }
    if (!spec.cluster_ip.empty()) {
      auto host = host_in(service_cidr, spec.cluster_ip);
      if (!host || *host == 0 || *host == service_cidr.size() - 1) {
        throw ConfigError(spec.file, spec.line, "spec.clusterIP",
                          "clusterIP " + spec.cluster_ip +
                              " is not an address of the service "
                              "network " +
                              service_cidr.str() + " (see --service-cidr)");
      }
      if (!taken.insert(*host).second) {
        throw ConfigError(spec.file, spec.line, "spec.clusterIP",
                          "clusterIP " + spec.cluster_ip + " is taken by another Service");
      }
      s.ip = service_cidr.address(*host);
    }
    out.push_back(std::move(s));
  }
  std::uint32_t next = 1;
  for (auto& s : out) {
    if (s.spec.headless || !s.ip.empty()) {
      continue;
    }
    while (taken.count(next) > 0) {
      ++next;
    }
    if (next >= service_cidr.size() - 1) {
      throw ConfigError(s.spec.file, s.spec.line, "spec.clusterIP",
                        "the service network " + service_cidr.str() + " has no address left");
    }
    taken.insert(next);
    s.ip = service_cidr.address(next);
  }
  return out;
}

bool selects(const ServiceSpec& svc, const PodSpec& pod) {
  if (svc.namespace_ != pod.namespace_ || svc.selector.empty()) {
    return false;
  }
  for (const auto& [key, value] : svc.selector) {
    auto it = pod.labels.find(key);
    if (it == pod.labels.end() || it->second != value) {
      return false;
    }
  }
  return true;
}

std::uint16_t target_port(const ServicePort& port, const PodSpec& pod) {
  if (port.target_port != 0) {
    return port.target_port;
  }
  for (const auto* list : {&pod.containers, &pod.init_containers}) {
    for (const auto& c : *list) {
      for (const auto& p : c.ports) {
        if (p.name == port.target_port_name && p.protocol == port.protocol) {
          return p.container_port;
        }
      }
    }
  }
  return 0;
}

bool update_endpoints(std::vector<ServiceState>& services,
                      const std::vector<EndpointCandidate>& pods) {
  bool changed = false;
  for (auto& s : services) {
    std::vector<Endpoint> selected;
    std::vector<std::vector<Endpoint>> endpoints(s.spec.ports.size());
    for (const auto& pod : pods) {
      if (pod.ip.empty() || pod.terminating || !selects(s.spec, *pod.spec)) {
        continue;
      }
      selected.push_back(Endpoint{pod.spec->name, pod.ip, 0, pod.ready});
      if (!pod.ready && !s.spec.publish_not_ready) {
        continue;
      }
      for (std::size_t i = 0; i < s.spec.ports.size(); ++i) {
        if (auto port = target_port(s.spec.ports[i], *pod.spec); port != 0) {
          endpoints[i].push_back(Endpoint{pod.spec->name, pod.ip, port, pod.ready});
        }
      }
    }
    if (selected != s.pods || endpoints != s.endpoints) {
      changed = true;
      s.pods = std::move(selected);
      s.endpoints = std::move(endpoints);
    }
  }
  return changed;
}

namespace {

// The chains that send port `p` of `svc` to its endpoints: one per endpoint that DNATs to it,
// and `chain`, which picks one at random. With session affinity, each endpoint has a set of the
// clients it had within the timeout (kube-proxy's nftables mode does the same): a client in one
// goes back to that endpoint, and every new connection renews its entry.
std::string port_chains(const ServiceState& svc, std::size_t p, const std::string& chain) {
  const auto& eps = svc.endpoints[p];
  const std::string proto = ascii_lower(svc.spec.ports[p].protocol);
  std::string out;
  std::string vmap;
  std::string sticky;
  for (std::size_t e = 0; e < eps.size(); ++e) {
    const std::string ep_chain = chain + "-" + std::to_string(e);
    vmap += (e == 0 ? "" : ", ") + std::to_string(e) + " : jump " + ep_chain;
    std::string remember;
    if (svc.spec.affinity_seconds) {
      const std::string set = "clients-" + ep_chain;
      out += "  set " + set + " {\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout " +
             std::to_string(*svc.spec.affinity_seconds) + "s\n  }\n";
      sticky += "    ip saddr @" + set + " goto " + ep_chain + "\n";
      remember = "    update @" + set + " { ip saddr }\n";
    }
    out += "  chain " + ep_chain + " {\n" + remember + "    meta l4proto " + proto + " dnat to " +
           eps[e].ip + ":" + std::to_string(eps[e].port) + "\n  }\n";
  }
  out += "  chain " + chain + " {\n" + sticky + "    numgen random mod " +
         std::to_string(eps.size()) + " vmap { " + vmap + " }\n  }\n";
  return out;
}

}  // namespace

std::string services_ruleset(const std::vector<ServiceState>& services, const Cidr& service_cidr) {
  // "add" then "delete" makes the delete succeed whether or not the table exists; the whole
  // file is one transaction. Chains are named by index: a name in a manifest never reaches nft
  // but in a comment, and names are DNS labels.
  std::string dispatch;
  std::string chains;
  for (std::size_t s = 0; s < services.size(); ++s) {
    const ServiceState& svc = services[s];
    if (svc.ip.empty()) {
      continue;
    }
    for (std::size_t p = 0; p < svc.spec.ports.size(); ++p) {
      const auto& eps = svc.endpoints[p];
      if (eps.empty()) {
        continue;  // rejected by the filter chains below
      }
      const ServicePort& port = svc.spec.ports[p];
      const std::string proto = ascii_lower(port.protocol);
      const std::string chain = "svc" + std::to_string(s) + "-" + std::to_string(p);
      dispatch += "    ip daddr " + svc.ip + " " + proto + " dport " + std::to_string(port.port) +
                  " jump " + chain + " comment \"" + svc.spec.namespace_ + "/" + svc.spec.name +
                  (port.name.empty() ? "" : ":" + port.name) + "\"\n";
      chains += port_chains(svc, p, chain);
    }
  }
  const std::string net = service_cidr.str();
  const std::string reject = "    ip daddr " + net + " meta l4proto tcp reject with tcp reset\n" +
                             "    ip daddr " + net + " reject\n";
  return "add table ip tender-services\n"
         "delete table ip tender-services\n"
         "table ip tender-services {\n"
         "  chain nat_prerouting {\n"
         "    type nat hook prerouting priority -100; policy accept;\n"
         "    jump services\n"
         "  }\n"
         "  chain nat_output {\n"
         "    type nat hook output priority -100; policy accept;\n"
         "    jump services\n"
         "  }\n"
         "  chain nat_postrouting {\n"
         "    type nat hook postrouting priority 100; policy accept;\n"
         "    ct status dnat masquerade\n"
         "  }\n"
         "  chain services {\n" +
         dispatch + "  }\n" + chains +
         "  chain filter_forward {\n"
         "    type filter hook forward priority 0; policy accept;\n" +
         reject +
         "  }\n"
         "  chain filter_output {\n"
         "    type filter hook output priority 0; policy accept;\n" +
         reject + "  }\n}\n";
}

std::vector<HostsEntry> service_hosts(const std::vector<ServiceState>& services) {
  std::map<std::string, int> namespaces_of;  // short name -> how many namespaces use it
  for (const auto& s : services) {
    ++namespaces_of[s.spec.name];
  }
  std::vector<HostsEntry> out;
  for (const auto& s : services) {
    const std::string ns_name = s.spec.name + "." + s.spec.namespace_;
    std::vector<std::string> names;
    if (namespaces_of[s.spec.name] == 1) {
      names.push_back(s.spec.name);
    }
    names.insert(names.end(), {ns_name, ns_name + ".svc", ns_name + ".svc.cluster.local"});
    if (!s.spec.headless) {
      out.push_back(HostsEntry{s.ip, std::move(names)});
      continue;
    }
    for (const auto& pod : s.pods) {
      if (pod.ready || s.spec.publish_not_ready) {
        out.push_back(HostsEntry{pod.ip, names});
      }
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> service_env(
    const std::vector<ServiceState>& services, const std::string& namespace_) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : services) {
    if (s.spec.namespace_ != namespace_ || s.ip.empty() || s.spec.ports.empty()) {
      continue;
    }
    const std::string name = env_prefix(s.spec.name);
    const ServicePort& first = s.spec.ports.front();
    out.emplace_back(name + "_SERVICE_HOST", s.ip);
    out.emplace_back(name + "_SERVICE_PORT", std::to_string(first.port));
    for (const auto& p : s.spec.ports) {
      if (!p.name.empty()) {
        out.emplace_back(name + "_SERVICE_PORT_" + env_prefix(p.name), std::to_string(p.port));
      }
    }
    // The Docker links variables, which older images still read.
    out.emplace_back(name + "_PORT",
                     ascii_lower(first.protocol) + "://" + s.ip + ":" + std::to_string(first.port));
    for (const auto& p : s.spec.ports) {
      const std::string base = name + "_PORT_" + std::to_string(p.port) + "_" + p.protocol;
      out.emplace_back(base, ascii_lower(p.protocol) + "://" + s.ip + ":" + std::to_string(p.port));
      out.emplace_back(base + "_PROTO", ascii_lower(p.protocol));
      out.emplace_back(base + "_PORT", std::to_string(p.port));
      out.emplace_back(base + "_ADDR", s.ip);
    }
  }
  return out;
}

}  // namespace tender::pod

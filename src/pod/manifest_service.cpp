// Services: what the runner's virtual IPs, names and forwarded ports are made from
// (services.hpp). Checked as the API server checks them, so that a Service tender runs is one
// Kubernetes would take.
#include <algorithm>
#include <set>
#include <string>

#include "core/log.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {
namespace {

// Fields a cluster acts on and one machine does without: warned about once each, then ignored.
constexpr const char* kClusterOnly[] = {"externalIPs",
                                        "loadBalancerIP",
                                        "loadBalancerSourceRanges",
                                        "loadBalancerClass",
                                        "externalTrafficPolicy",
                                        "internalTrafficPolicy",
                                        "healthCheckNodePort",
                                        "trafficDistribution",
                                        "externalName",
                                        "allocateLoadBalancerNodePorts"};

void warn_ignored(const ConfigNode& spec, const char* key) {
  if (!spec.has(key)) {
    return;
  }
  // The defaults change nothing and are written by `kubectl get -o yaml`: no warning for them.
  auto value = spec.string(key);
  if (value && (*value == "None" || *value == "Cluster" || *value == "true")) {
    return;
  }
  log::warn(std::string("Service field ") + key +
                " is ignored: tender balances connections over the ready pods of this machine",
            {{"file", spec.file()}, {"line", spec.location(key).line}});
}

// sessionAffinity: how long a client sticks to its pod, as the API server checks it: None or
// ClientIP, a timeout of 1 to 86400 seconds (10800 by default), and no timeout without ClientIP.
std::optional<int> session_affinity(const ConfigNode& spec) {
  const std::string affinity = spec.string("sessionAffinity").value_or("None");
  ConfigNode config = spec.child("sessionAffinityConfig");
  if (affinity == "None") {
    if (config.child("clientIP").has("timeoutSeconds")) {
      config.child("clientIP").fail("timeoutSeconds", "only with sessionAffinity: ClientIP");
    }
    return std::nullopt;
  }
  if (affinity != "ClientIP") {
    spec.fail("sessionAffinity", "must be None or ClientIP, not " + affinity);
  }
  ConfigNode client = config.child("clientIP");
  client.warn_unknown({"timeoutSeconds"});
  return static_cast<int>(client.integer("timeoutSeconds", 1, 86400).value_or(10800));
}

ServiceSpec::Type service_type(const ConfigNode& spec) {
  std::string type = spec.string("type").value_or("ClusterIP");
  if (type == "ClusterIP") {
    return ServiceSpec::Type::kClusterIP;
  }
  if (type == "NodePort") {
    return ServiceSpec::Type::kNodePort;
  }
  if (type == "LoadBalancer") {
    return ServiceSpec::Type::kLoadBalancer;
  }
  if (type == "ExternalName") {
    spec.fail("type",
              "ExternalName is not run: it is a DNS alias, and pods here resolve names through "
              "their hosts file (use the external name directly)");
  }
  spec.fail("type", "not one of ClusterIP, NodePort, LoadBalancer: " + quote(type));
}

void check_ip_families(const ConfigNode& spec) {
  if (auto families = text_list(spec, "ipFamilies")) {
    for (const auto& f : *families) {
      if (f != "IPv4") {
        spec.fail("ipFamilies", "only IPv4 is served (the pod network is IPv4), not " + quote(f));
      }
    }
  }
  if (spec.string("ipFamilyPolicy") == "RequireDualStack") {
    spec.fail("ipFamilyPolicy", "RequireDualStack needs IPv6, and the pod network is IPv4");
  }
}

// clusterIP and clusterIPs: an address to check against --service-cidr when run, or None.
void service_address(const ConfigNode& spec, ServiceSpec& svc) {
  std::string ip = spec.string("clusterIP").value_or("");
  if (auto ips = text_list(spec, "clusterIPs"); ips && !ips->empty()) {
    if (ips->size() > 1 || (!ip.empty() && ip != ips->front())) {
      spec.fail("clusterIPs", "one address, the same as clusterIP (the pod network is IPv4)");
    }
    ip = ips->front();
  }
  svc.headless = ip == "None";
  svc.cluster_ip = svc.headless ? "" : ip;  // checked against --service-cidr when run
  if (svc.headless && svc.type != ServiceSpec::Type::kClusterIP) {
    spec.fail("clusterIP", "None (headless) is for a ClusterIP Service only");
  }
}

}  // namespace

ServicePort Parser::service_port(const ConfigNode& p, const ServiceSpec& svc) {
  p.warn_unknown({"name", "protocol", "port", "targetPort", "nodePort", "appProtocol"});
  ServicePort out;
  out.name = p.string("name").value_or("");
  if (!out.name.empty() && !is_dns_label(out.name)) {
    p.fail("name", "not a valid port name (lowercase letters, digits and '-', at most 63): " +
                       quote(out.name));
  }
  out.protocol = p.string("protocol").value_or("TCP");
  if (out.protocol == "SCTP") {
    p.fail("protocol", "SCTP is not served (TCP or UDP)");
  }
  if (out.protocol != "TCP" && out.protocol != "UDP") {
    p.fail("protocol", "not one of TCP, UDP: " + quote(out.protocol));
  }
  auto port = p.integer("port", 1, 65535);
  if (!port) {
    p.fail("port", "required (1-65535)");
  }
  out.port = static_cast<std::uint16_t>(*port);
  out.target_port = out.port;
  if (auto target = p.string("targetPort")) {
    if (!target->empty() && std::all_of(target->begin(), target->end(),
                                        [](char ch) { return ch >= '0' && ch <= '9'; })) {
      out.target_port = static_cast<std::uint16_t>(*p.integer("targetPort", 1, 65535));
    } else if (is_port_name(*target)) {
      out.target_port = 0;
      out.target_port_name = *target;
    } else {
      p.fail("targetPort", "not a port number or port name: " + quote(*target));
    }
  }
  if (p.has("nodePort")) {
    if (svc.type == ServiceSpec::Type::kClusterIP) {
      p.fail("nodePort", "only a NodePort or LoadBalancer Service has one");
    }
    out.node_port = static_cast<std::uint16_t>(*p.integer("nodePort", 1, 65535));
    if (out.protocol != "TCP") {
      p.fail("nodePort", "forwarded from 127.0.0.1 for TCP only, not " + out.protocol);
    }
  }
  return out;
}

void Parser::service_ports(const ConfigNode& spec, ServiceSpec& svc) {
  std::set<std::string> names;
  std::set<std::pair<std::uint16_t, std::string>> ports;
  std::set<std::uint16_t> node_ports;
  const auto items = spec.child("ports").items();
  if (items.size() > kMaxServicePorts) {
    spec.fail("ports", "more than " + std::to_string(kMaxServicePorts) + " ports in a Service");
  }
  for (const auto& p : items) {
    ServicePort port = service_port(p, svc);
    if (items.size() > 1 && port.name.empty()) {
      p.fail("name", "required when a Service has more than one port");
    }
    if (!port.name.empty() && !names.insert(port.name).second) {
      p.fail("name", "duplicate port name " + quote(port.name));
    }
    if (!ports.emplace(port.port, port.protocol).second) {
      p.fail("port", "duplicate port " + std::to_string(port.port) + "/" + port.protocol);
    }
    if (port.node_port != 0 && !node_ports.insert(port.node_port).second) {
      p.fail("nodePort", "duplicate nodePort " + std::to_string(port.node_port));
    }
    svc.ports.push_back(std::move(port));
  }
}

void Parser::service(const ConfigNode& doc) {
  doc.warn_unknown({"apiVersion", "kind", "metadata", "spec", "status"});
  ConfigNode meta_node = doc.child("metadata");
  if (!meta_node.defined()) {
    doc.fail("metadata", "required (with a name)");
  }
  if (out_.services.size() >= kMaxServices) {
    doc.fail("kind", "more than " + std::to_string(kMaxServices) + " Services in a run");
  }
  Metadata meta = metadata(meta_node, false);
  // A Service's name becomes host names and environment variable names: a DNS-1035 label.
  if (!is_dns_label(meta.name) || !(meta.name[0] >= 'a' && meta.name[0] <= 'z')) {
    meta_node.fail("name",
                   "not a valid Service name (lowercase letters, digits and '-', starting with a "
                   "letter, at most 63): " +
                       quote(meta.name));
  }
  ServiceSpec svc;
  svc.name = meta.name;
  svc.namespace_ = meta.namespace_;
  svc.file = doc.file();
  svc.line = doc.line();
  ConfigNode spec = doc.child("spec");
  if (!spec.is_map()) {
    doc.fail("spec", "required: a mapping with a selector and ports");
  }
  spec.warn_unknown({"type",
                     "selector",
                     "ports",
                     "clusterIP",
                     "clusterIPs",
                     "ipFamilies",
                     "ipFamilyPolicy",
                     "publishNotReadyAddresses",
                     "externalIPs",
                     "loadBalancerIP",
                     "loadBalancerSourceRanges",
                     "loadBalancerClass",
                     "externalTrafficPolicy",
                     "internalTrafficPolicy",
                     "healthCheckNodePort",
                     "sessionAffinity",
                     "sessionAffinityConfig",
                     "trafficDistribution",
                     "externalName",
                     "allocateLoadBalancerNodePorts"});
  for (const char* key : kClusterOnly) {
    warn_ignored(spec, key);
  }
  svc.type = service_type(spec);
  check_ip_families(spec);
  service_address(spec, svc);
  svc.affinity_seconds = session_affinity(spec);
  ConfigNode selector = spec.child("selector");
  for (const auto& [key, value] : entries(selector)) {
    auto v = text(selector, key);
    if (!is_qualified_name(key) || !v || !is_label_value(*v)) {
      selector.fail(key, "not a valid label selector entry");
    }
    svc.selector[key] = *v;
  }
  if (svc.selector.empty()) {
    spec.fail("selector",
              "required: a Service without a selector is served by Endpoints objects, which "
              "tender does not run");
  }
  svc.publish_not_ready = spec.boolean("publishNotReadyAddresses").value_or(false);
  service_ports(spec, svc);
  if (svc.ports.empty() && !svc.headless) {
    spec.fail("ports", "required: at least one port (only a headless Service may have none)");
  }
  const std::string id = "Service " + svc.namespace_ + "/" + svc.name;
  auto [it, fresh] = object_sites_.emplace(id, site(meta_node.child("name")));
  if (!fresh) {
    meta_node.fail("name", "Service " + quote(svc.name) + " in namespace " + quote(svc.namespace_) +
                               " is already defined at " + it->second);
  }
  out_.services.push_back(std::move(svc));
}

}  // namespace tender::pod

#pragma once
// Services on the pod network, as kube-proxy's nftables mode serves them: each Service gets a
// virtual IP from the service network; an nftables table in the runner's namespace DNATs a
// connection to it (port by port) to one of the ready pods it selects, chosen at random, and
// masquerades it as the gateway so that the reply comes back the same way. A Service with no
// ready pod rejects connections at once. Names go into the pods' hosts file; NodePort and
// LoadBalancer ports are forwarded from 127.0.0.1 by the runner (runner_services.cpp).
//
//   auto services = plan_services(manifests.services, service_cidr, pod_cidr);  // may throw
//   if (update_endpoints(services, candidates)) {       // on every readiness change
//     nft_apply(services_ruleset(services, service_cidr));
//     net.set_service_hosts(service_hosts(services));
//   }
//
// Pure functions over values: the runner owns the state and applies what they return.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pod/manifest.hpp"
#include "pod/network.hpp"

namespace tender::pod {

inline constexpr const char* kDefaultServiceCidr = "10.96.0.0/12";

// A pod as Services see it.
struct EndpointCandidate {
  const PodSpec* spec = nullptr;
  std::string ip;  // empty: not on the network (yet)
  bool ready = false;
  bool terminating = false;
};

struct Endpoint {
  std::string pod;
  std::string ip;
  std::uint16_t port = 0;  // the pod's port (targetPort resolved)
  bool ready = false;
  bool operator==(const Endpoint&) const = default;
};

struct ServiceState {
  ServiceSpec spec;
  std::string ip;  // the virtual IP; empty when headless
  // Per port of spec.ports: the nodePort 127.0.0.1 forwards to it, given or allocated when the
  // runner starts (0: none, or not forwarded). A LoadBalancer's port is forwarded too.
  std::vector<std::uint16_t> node_ports;
  // Per port of spec.ports: where its traffic goes.
  std::vector<std::vector<Endpoint>> endpoints;
  // Every pod selected and on the network, ready or not (for headless names and status).
  std::vector<Endpoint> pods;
};

// The run's Services with their virtual IPs: the clusterIP a manifest asks for (which must be
// in `service_cidr`, not its first or last address, and not taken), else the lowest free one.
// Throws ConfigError (the Service's file and line) when one cannot be had, or when the service
// network overlaps `pod_cidr`.
[[nodiscard]] std::vector<ServiceState> plan_services(const std::vector<ServiceSpec>& specs,
                                                      const Cidr& service_cidr,
                                                      const Cidr& pod_cidr);

// Whether `svc` selects `pod`: the same namespace, and every selector label on the pod.
[[nodiscard]] bool selects(const ServiceSpec& svc, const PodSpec& pod);
// The port `pod` serves `port` on: targetPort's number, or the container port of that name
// and protocol; 0 when the pod has no port of that name.
[[nodiscard]] std::uint16_t target_port(const ServicePort& port, const PodSpec& pod);

// Works out every Service's endpoints from the pods; true if any changed. Ready pods serve;
// a terminating one never does; publishNotReadyAddresses serves the unready too.
bool update_endpoints(std::vector<ServiceState>& services,
                      const std::vector<EndpointCandidate>& pods);

// The nft script (for `nft -f` in the run namespace) that replaces tender's service table.
[[nodiscard]] std::string services_ruleset(const std::vector<ServiceState>& services,
                                           const Cidr& service_cidr);

// Hosts-file lines: a Service's virtual IP under NAME.NS.svc.cluster.local, NAME.NS.svc,
// NAME.NS and (unless two namespaces have a Service of that name) NAME; a headless Service's
// name on a line for each pod it serves.
[[nodiscard]] std::vector<HostsEntry> service_hosts(const std::vector<ServiceState>& services);

// The variables Kubernetes gives a container for each Service of its namespace that has a
// virtual IP (NAME_SERVICE_HOST, NAME_SERVICE_PORT, NAME_PORT_80_TCP_ADDR, ...), in order.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> service_env(
    const std::vector<ServiceState>& services, const std::string& namespace_);

}  // namespace tender::pod

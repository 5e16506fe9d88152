// Services: virtual IPs balanced over the ready pods they select (services.hpp), their names in
// the hosts file, and nodePorts / LoadBalancer ports forwarded from 127.0.0.1.
#include "core/log.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

// Kubernetes' default range for the nodePorts it allocates.
constexpr std::uint16_t kFirstNodePort = 30000;
constexpr std::uint16_t kLastNodePort = 32767;

const char* type_name(ServiceSpec::Type t) {
  switch (t) {
    case ServiceSpec::Type::kNodePort:
      return "NodePort";
    case ServiceSpec::Type::kLoadBalancer:
      return "LoadBalancer";
    case ServiceSpec::Type::kClusterIP:
      break;
  }
  return "ClusterIP";
}

}  // namespace

void PodRunner::Impl::setup_services() {
  const auto& specs = opts.manifests.services;
  if (specs.empty()) {
    return;
  }
  auto cidr = Cidr::parse(opts.service_cidr);
  auto pod_cidr = Cidr::parse(opts.pod_cidr);
  if (!cidr || !pod_cidr) {
    throw std::runtime_error("bad service network " + opts.service_cidr);
  }
  services = plan_services(specs, *cidr, *pod_cidr);  // checked by `tender pod run` already
  if (!net) {
    log::warn(
        "Services need the pod network (root, without --network host): their names, virtual "
        "IPs and nodePorts are not served; pods reach each other by pod name",
        {{"services", static_cast<std::int64_t>(services.size())}});
    services.clear();
    return;
  }
  if (auto ec = net->route_services(*cidr)) {
    log::error("cannot route the service network: Services are not served",
               {{"cidr", cidr->str()}, {"error", ec.message()}});
    services.clear();
    return;
  }
  service_cidr = *cidr;
  for (const auto& s : services) {
    log::info("service", {{"service", s.spec.namespace_ + "/" + s.spec.name},
                          {"clusterIP", s.spec.headless ? std::string("None") : s.ip}});
  }
}

void PodRunner::Impl::forward_services() {
  std::set<std::uint16_t> taken;
  for (const auto& s : services) {
    for (const auto& p : s.spec.ports) {
      taken.insert(p.node_port);
    }
  }
  std::uint16_t next = kFirstNodePort;
  auto forward = [&](const ServiceState& s, std::uint16_t from, std::uint16_t to) {
    auto fwd = TcpForward::start(ioc.get_executor(), {asio::ip::make_address("127.0.0.1"), from},
                                 net->host_netns(), {asio::ip::make_address(s.ip), to}, -1);
    if (!fwd) {
      return fwd.error();
    }
    service_forwards.push_back(std::move(*fwd));
    return boost::system::error_code{};
  };
  for (auto& s : services) {
    const bool balancer = s.spec.type == ServiceSpec::Type::kLoadBalancer;
    if (s.spec.type == ServiceSpec::Type::kClusterIP) {
      continue;
    }
    for (std::size_t i = 0; i < s.spec.ports.size(); ++i) {
      const ServicePort& p = s.spec.ports[i];
      const std::string id = s.spec.namespace_ + "/" + s.spec.name;
      if (p.protocol != "TCP") {
        log::warn("only TCP ports are forwarded from 127.0.0.1", {{"service", id}});
        continue;
      }
      if (balancer) {  // as a local load balancer would: the Service's own port
        if (auto ec = forward(s, p.port, p.port)) {
          log::error("cannot forward a LoadBalancer port",
                     {{"service", id}, {"port", p.port}, {"error", ec.message()}});
        }
      }
      std::uint16_t node_port = p.node_port;
      boost::system::error_code ec;
      if (node_port != 0) {
        ec = forward(s, node_port, p.port);
      } else {
        // The lowest free port of the range, as a local cluster would allocate one.
        for (ec = boost::system::errc::make_error_code(boost::system::errc::address_in_use);
             ec && next <= kLastNodePort; ++next) {
          if (taken.count(next) == 0) {
            node_port = next;
            ec = forward(s, node_port, p.port);
          }
        }
      }
      if (ec) {
        log::error("cannot forward a nodePort",
                   {{"service", id}, {"nodePort", node_port}, {"error", ec.message()}});
        continue;
      }
      s.node_ports[i] = node_port;
      log::info("service forwarded", {{"service", id},
                                      {"port", p.port},
                                      {"listen", "127.0.0.1:" + std::to_string(node_port)}});
    }
  }
}

void PodRunner::Impl::update_services() {
  if (services.empty()) {
    return;
  }
  std::vector<EndpointCandidate> candidates;
  for (const auto& pod : pods) {
    if (pod->deleted || pod->finished || pod->link.empty()) {
      continue;
    }
    candidates.push_back(EndpointCandidate{&pod->spec, pod->ip, pod_ready(*pod), pod->terminating});
  }
  if (!update_endpoints(services, candidates)) {
    return;
  }
  net->set_service_hosts(service_hosts(services));
  services_dirty = true;
  if (!applying_services) {
    asio::co_spawn(ioc, apply_services(), asio::detached);
  }
}

asio::awaitable<void> PodRunner::Impl::apply_services() {
  applying_services = true;
  while (services_dirty) {
    services_dirty = false;
    std::string rules = services_ruleset(services, *service_cidr);
    if (rules == services_applied) {
      continue;
    }
    auto applied = co_await run_nft(rules, "services.nft");
    if (applied) {
      services_applied = std::move(rules);
      services_error.clear();
      continue;
    }
    const std::string& why = applied.error().message();
    if (why != services_error) {
      log::error("Services not applied", {{"error", why}});
      services_error = why;
    }
  }
  applying_services = false;
}

std::vector<std::pair<std::string, std::string>> PodRunner::Impl::service_vars(
    const Pod& pod) const {
  if (!pod.spec.service_links || !pod.netns) {
    return {};
  }
  return service_env(services, pod.spec.namespace_);
}

json::array PodRunner::Impl::services_json() const {
  // Whether the rules in force send traffic where `endpoints` say (not while nft runs, or after
  // it refused them).
  const bool in_force = services_error.empty() && !applying_services && !services_dirty;
  json::array out;
  for (const auto& s : services) {
    json::object o;
    o["name"] = s.spec.name;
    o["namespace"] = s.spec.namespace_;
    o["type"] = type_name(s.spec.type);
    o["clusterIP"] = s.spec.headless ? "None" : s.ip;
    o["sessionAffinity"] = s.spec.affinity_seconds ? "ClientIP" : "None";
    if (s.spec.affinity_seconds) {
      o["sessionAffinityTimeoutSeconds"] = *s.spec.affinity_seconds;
    }
    json::array ports;
    for (std::size_t i = 0; i < s.spec.ports.size(); ++i) {
      const ServicePort& p = s.spec.ports[i];
      json::object po;
      po["name"] = p.name;
      po["protocol"] = p.protocol;
      po["port"] = p.port;
      if (p.target_port != 0) {
        po["targetPort"] = p.target_port;
      } else {
        po["targetPort"] = p.target_port_name;
      }
      if (s.node_ports[i] != 0) {
        po["nodePort"] = s.node_ports[i];
      }
      json::array endpoints;
      for (const auto& e : s.endpoints[i]) {
        endpoints.push_back(json::string(e.ip + ":" + std::to_string(e.port)));
      }
      po["endpoints"] = std::move(endpoints);
      ports.push_back(std::move(po));
    }
    o["ports"] = std::move(ports);
    json::array selected;
    for (const auto& e : s.pods) {
      json::object eo;
      eo["pod"] = e.pod;
      eo["ip"] = e.ip;
      eo["ready"] = e.ready;
      selected.push_back(std::move(eo));
    }
    o["pods"] = std::move(selected);
    o["applied"] = in_force;
    if (!services_error.empty()) {
      o["error"] = services_error;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tender::pod

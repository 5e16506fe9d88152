#pragma once
// The pod network: every pod in a network namespace of its own, joined by veth links to one
// bridge that lives in a namespace of the runner's (never the host's), with an address from a
// private /16. Pods reach each other by address and, through the hosts file every container
// sees as /etc/hosts, by name. Partitions are nftables rules on that bridge.
//
// Nothing here is named or mounted on the host: the namespaces exist only as fds of the runner
// and as the namespaces of its containers, so when the runner dies, even by SIGKILL, the kernel
// removes them with every link and rule inside.
//
//   auto net = PodNetwork::create("10.217.0.0/16", run_dir + "/hosts");   // needs root
//   auto link = (*net)->attach("web-0");    // link->netns for the containers, link->ip
//   (*net)->detach("web-0");
//
// Not thread-safe: the pod runner's supervisor thread owns it.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "core/fd.hpp"

namespace tender::netlink {
class Socket;
}

namespace tender::pod {

// An IPv4 network like "10.217.0.0/16".
struct Cidr {
  std::uint32_t base = 0;  // host order, host bits zero
  int prefix = 0;

  // nullopt unless IPv4 with a prefix from 8 to 24 (room for a bridge and some pods).
  static std::optional<Cidr> parse(std::string_view text);
  [[nodiscard]] std::string address(std::uint32_t host) const;  // base + host, dotted
  [[nodiscard]] std::uint32_t size() const { return std::uint32_t{1} << (32 - prefix); }
  [[nodiscard]] std::string str() const;
};

// Pairs of pods (by name, so a replaced pod stays cut off) whose traffic is dropped in both
// directions.
class Partitions {
 public:
  // `groups` are sets of pod names: every pod of one group is cut from every pod of the others.
  void cut(const std::vector<std::vector<std::string>>& groups);
  // Ends the cuts that involve any of `pods`; every cut when empty.
  void heal(const std::vector<std::string>& pods);
  // Each pair once, (a, b) with a < b.
  [[nodiscard]] const std::set<std::pair<std::string, std::string>>& pairs() const {
    return pairs_;
  }
  // An nft script (for `nft -f`, run in the run namespace) that replaces tender's table on the
  // bridge with one dropping every frame (IPv4, IPv6, ARP) between the bridge ports of the cut
  // pairs that are attached (`link_of` returns "" for the others). Matching ports, not
  // addresses, means a container cannot step around a partition by changing its address.
  // With `ip_of`, also a table `ip tender-partitions` dropping what the run namespace routes
  // between the pairs' addresses: traffic through a Service's virtual IP is DNATed and routed
  // there, bridge port to bridge device and back, and would pass the bridge rule.
  [[nodiscard]] std::string ruleset(
      const std::function<std::string(const std::string&)>& link_of,
      const std::function<std::string(const std::string&)>& ip_of = nullptr) const;

 private:
  // "x . y, y . x" for each pair whose pods both have a key ("" for one that is not attached).
  [[nodiscard]] std::string both_ways(
      const std::function<std::string(const std::string&)>& key_of) const;

  std::set<std::pair<std::string, std::string>> pairs_;
};

inline constexpr const char* kDefaultPodCidr = "10.217.0.0/16";

// One line of a hosts file.
struct HostsEntry {
  std::string ip;
  std::vector<std::string> names;
  bool operator==(const HostsEntry&) const = default;
};

class PodNetwork {
 public:
  // Creates the run namespace with its loopback and the bridge "tender0", which takes the
  // first address of `cidr` (the pods' gateway). Errors: EPERM without CAP_SYS_ADMIN /
  // CAP_NET_ADMIN, or whatever the kernel refused.
  [[nodiscard]] static boost::system::result<std::unique_ptr<PodNetwork>> create(
      const Cidr& cidr, std::string hosts_path);
  ~PodNetwork();
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  // The namespace with the bridge, and the one the runner started in.
  [[nodiscard]] int run_netns() const { return run_ns_.get(); }
  [[nodiscard]] int host_netns() const { return host_ns_.get(); }
  [[nodiscard]] const std::string& gateway() const { return gateway_; }
  [[nodiscard]] const Cidr& cidr() const { return cidr_; }
  [[nodiscard]] const std::string& hosts_path() const { return hosts_path_; }

  struct Attachment {
    Fd netns;          // the pod's namespace: its containers join it
    std::string ip;    // the pod's address
    std::string link;  // the bridge side of its veth, in the run namespace
  };
  // A namespace for pod `name` with its loopback up and "eth0" holding a fresh address, linked
  // to the bridge; the hosts file lists it. ENOSPC when the network has no address left.
  // `aliases` are more names of the pod in the hosts file, on its line after `name`.
  [[nodiscard]] boost::system::result<Attachment> attach(const std::string& name,
                                                         std::vector<std::string> aliases = {});
  // Deletes the link (an Attachment's `link`) and frees its address; the namespace goes with
  // its last process. Attachments are told apart by link, so a pod that replaced another of the
  // same name keeps its own when the old one detaches.
  void detach(const std::string& link);
  // The address / link of the newest attachment of pod `name`, or "".
  [[nodiscard]] std::string ip_of(const std::string& name) const;
  [[nodiscard]] std::string link_of(const std::string& name) const;

  // Routes `services` (virtual IPs, services.hpp) through the bridge: on the link in the run
  // namespace, and through the gateway from every pod attached from now on. Also turns the run
  // namespace into a router for them (ip_forward, no redirects: a pod told to reach a service
  // address straight at another pod would skip its DNAT) and keeps the host's br_netfilter, if
  // loaded, off this bridge. Call before the first attach().
  [[nodiscard]] boost::system::error_code route_services(const Cidr& services);
  // Lines for the hosts file before the pods' (a Service's name wins over a pod's); rewrites the
  // file when they change.
  void set_service_hosts(std::vector<HostsEntry> entries);

  // The partitions in force; apply their ruleset() (with ip_of) after a change.
  [[nodiscard]] Partitions& partitions() { return partitions_; }
  [[nodiscard]] const Partitions& partitions() const { return partitions_; }
  // The nft script for `p`, for the pods attached now.
  [[nodiscard]] std::string ruleset(const Partitions& p) const;

 private:
  PodNetwork() = default;
  void write_hosts() const;

  Cidr cidr_;
  std::string gateway_;
  std::string hosts_path_;
  Fd host_ns_;
  Fd run_ns_;
  std::unique_ptr<netlink::Socket> bridge_nl_;  // a netlink socket of the run namespace
  int bridge_index_ = 0;
  struct PodLink {
    std::string pod;
    std::vector<std::string> aliases;
    std::uint32_t host = 0;  // index in the network
    int link_index = 0;
    std::uint64_t serial = 0;  // newer attachments of a name win
  };
  std::map<std::string, PodLink> links_;  // by link name ("tp7")
  const PodLink* newest(const std::string& pod, std::string* link) const;
  // Released host indexes, reused oldest first once fresh ones run out: a peer's ARP cache may
  // still hold the last owner's MAC for a while.
  std::deque<std::uint32_t> free_;
  std::uint32_t next_host_ = 2;  // 1 is the bridge
  std::uint64_t links_made_ = 0;
  Partitions partitions_;
  std::optional<Cidr> services_;
  std::vector<HostsEntry> service_hosts_;
};

}  // namespace tender::pod

#include "pod/network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/netlink.hpp"
#include "core/netns.hpp"

namespace tender::pod {
namespace {

using boost::system::error_code;

constexpr const char* kBridge = "tender0";

// Writes `value` to /proc/sys/`path` of the calling thread's network namespace.
bool write_sysctl(const std::string& path, const char* value) {
  Fd f(::open(("/proc/sys/" + path).c_str(), O_WRONLY | O_CLOEXEC));
  const auto n = static_cast<ssize_t>(std::strlen(value));
  return f && ::write(f.get(), value, static_cast<std::size_t>(n)) == n;
}

// Brings up a namespace's side of things: loopback, and optionally `link` with an address and,
// when `services` is given, a route to them through `gateway`.
error_code configure_inside(int netns, const char* link, const std::string& ip, int prefix,
                            const std::optional<Cidr>& services = std::nullopt,
                            const std::string& gateway = "") {
  NetnsScope in(netns);
  if (in.error()) {
    return in.error();
  }
  auto nl = netlink::Socket::open();
  if (!nl) {
    return nl.error();
  }
  auto lo = nl->link_index("lo");
  if (!lo) {
    return lo.error();
  }
  if (auto ec = nl->set_up(*lo)) {
    return ec;
  }
  if (link == nullptr) {
    return {};
  }
  auto index = nl->link_index(link);
  if (!index) {
    return index.error();
  }
  // Announce the address (gratuitous ARP) when the link comes up, for peers that knew it
  // with another MAC.
  if (!write_sysctl(std::string("net/ipv4/conf/") + link + "/arp_notify", "1")) {
    log::debug("cannot set arp_notify", {{"link", link}});
  }
  if (auto ec = nl->add_ipv4(*index, ip, prefix)) {
    return ec;
  }
  if (auto ec = nl->set_up(*index)) {
    return ec;
  }
  if (services) {
    return nl->add_route_ipv4(services->address(0), services->prefix, *index, gateway);
  }
  return {};
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  std::string addr(text.substr(0, slash));
  std::string_view len = text.substr(slash + 1);
  int prefix = 0;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  in_addr a{};
  if (ec != std::errc() || end != len.data() + len.size() || prefix < 8 || prefix > 24 ||
      ::inet_pton(AF_INET, addr.c_str(), &a) != 1) {
    return std::nullopt;
  }
  Cidr c;
  c.prefix = prefix;
  c.base = ntohl(a.s_addr) & ~((std::uint32_t{1} << (32 - prefix)) - 1);
  return c;
}

std::string Cidr::address(std::uint32_t host) const {
  in_addr a{};
  a.s_addr = htonl(base + host);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string Cidr::str() const { return address(0) + "/" + std::to_string(prefix); }

boost::system::result<std::unique_ptr<PodNetwork>> PodNetwork::create(const Cidr& cidr,
                                                                      std::string hosts_path) {
  std::unique_ptr<PodNetwork> net(new PodNetwork());
  net->cidr_ = cidr;
  net->gateway_ = cidr.address(1);
  net->hosts_path_ = std::move(hosts_path);
  auto host = current_netns();
  if (!host) {
    return host.error();
  }
  net->host_ns_ = std::move(*host);
  auto run = create_netns();
  if (!run) {
    return run.error();
  }
  net->run_ns_ = std::move(*run);
  {
    NetnsScope in(net->run_ns_.get());
    if (in.error()) {
      return in.error();
    }
    auto nl = netlink::Socket::open();
    if (!nl) {
      return nl.error();
    }
    net->bridge_nl_ = std::make_unique<netlink::Socket>(std::move(*nl));
  }
  if (auto ec = configure_inside(net->run_ns_.get(), nullptr, "", 0)) {
    return ec;
  }
  auto& nl = *net->bridge_nl_;
  if (auto ec = nl.add_bridge(kBridge)) {
    return ec;
  }
  auto br = nl.link_index(kBridge);
  if (!br) {
    return br.error();
  }
  net->bridge_index_ = *br;
  if (auto ec = nl.add_ipv4(*br, net->gateway_, cidr.prefix)) {
    return ec;
  }
  if (auto ec = nl.set_up(*br)) {
    return ec;
  }
  net->write_hosts();
  return net;
}

PodNetwork::~PodNetwork() = default;

boost::system::result<PodNetwork::Attachment> PodNetwork::attach(const std::string& name,
                                                                 std::vector<std::string> aliases) {
  // Fresh addresses first; freed ones only when the network runs out, oldest first, so that
  // peers' ARP caches have long forgotten the last owner's MAC.
  std::uint32_t host = 0;
  bool reused = false;
  if (next_host_ < cidr_.size() - 1) {  // the last address is the broadcast
    host = next_host_;
  } else if (!free_.empty()) {
    host = free_.front();
    reused = true;
  } else {
    return errno_code(ENOSPC);
  }
  auto ns = create_netns();
  if (!ns) {
    return ns.error();
  }
  std::string link = "tp" + std::to_string(++links_made_);
  if (auto ec = bridge_nl_->add_veth(link, "eth0", ns->get())) {
    return ec;
  }
  auto index = bridge_nl_->link_index(link);
  if (!index) {
    return index.error();
  }
  std::string ip = cidr_.address(host);
  error_code ec = bridge_nl_->set_master(*index, bridge_index_);
  if (!ec) {
    ec = bridge_nl_->set_up(*index);
  }
  if (!ec) {
    ec = configure_inside(ns->get(), "eth0", ip, cidr_.prefix, services_, gateway_);
  }
  if (ec) {
    (void)bridge_nl_->delete_link(*index);
    return ec;
  }
  if (reused) {
    free_.pop_front();
  } else {
    ++next_host_;
  }
  links_[link] = PodLink{name, std::move(aliases), host, *index, links_made_};
  write_hosts();
  return Attachment{std::move(*ns), ip, link};
}

error_code PodNetwork::route_services(const Cidr& services) {
  {
    NetnsScope in(run_ns_.get());
    if (in.error()) {
      return in.error();
    }
    if (!write_sysctl("net/ipv4/ip_forward", "1")) {
      return errno_code(errno);
    }
    for (const char* conf : {"all", "default", kBridge}) {
      if (!write_sysctl(std::string("net/ipv4/conf/") + conf + "/send_redirects", "0")) {
        return errno_code(errno);
      }
    }
    // br_netfilter, when the host has it loaded, would pass bridged frames through the IP hooks
    // of this namespace and drop a connection DNATed back to the pod it came from. Absent
    // without the module: nothing to turn off.
    for (const char* call : {"iptables", "ip6tables", "arptables"}) {
      (void)write_sysctl(std::string("net/bridge/bridge-nf-call-") + call, "0");
    }
  }
  if (auto ec = bridge_nl_->add_route_ipv4(services.address(0), services.prefix, bridge_index_)) {
    return ec;
  }
  services_ = services;
  return {};
}

void PodNetwork::set_service_hosts(std::vector<HostsEntry> entries) {
  if (entries == service_hosts_) {
    return;
  }
  service_hosts_ = std::move(entries);
  write_hosts();
}

void PodNetwork::detach(const std::string& link) {
  auto it = links_.find(link);
  if (it == links_.end()) {
    return;
  }
  if (auto ec = bridge_nl_->delete_link(it->second.link_index); ec && ec.value() != ENODEV) {
    log::warn("cannot delete a pod's link",
              {{"pod", it->second.pod}, {"link", link}, {"error", ec.message()}});
  }
  free_.push_back(it->second.host);
  links_.erase(it);
  write_hosts();
}

const PodNetwork::PodLink* PodNetwork::newest(const std::string& pod, std::string* link) const {
  const PodLink* best = nullptr;
  for (const auto& [name, l] : links_) {
    if (l.pod == pod && (best == nullptr || l.serial > best->serial)) {
      best = &l;
      if (link != nullptr) {
        *link = name;
      }
    }
  }
  return best;
}

std::string PodNetwork::ip_of(const std::string& name) const {
  const PodLink* l = newest(name, nullptr);
  return l == nullptr ? "" : cidr_.address(l->host);
}

std::string PodNetwork::link_of(const std::string& name) const {
  std::string link;
  return newest(name, &link) == nullptr ? "" : link;
}

void PodNetwork::write_hosts() const {
  std::string text =
      "# Written by tender pod: every pod of this run.\n"
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& e : service_hosts_) {
    text += e.ip + "\t";
    for (std::size_t i = 0; i < e.names.size(); ++i) {
      text += (i == 0 ? "" : " ") + e.names[i];
    }
    text += "\n";
  }
  std::set<std::string> listed;
  std::vector<std::pair<std::uint64_t, const PodLink*>> by_age;
  for (const auto& [name, l] : links_) {
    by_age.emplace_back(l.serial, &l);
  }
  std::sort(by_age.rbegin(), by_age.rend());  // the newest attachment of a name wins
  for (const auto& [serial, l] : by_age) {
    if (listed.insert(l->pod).second) {
      text += cidr_.address(l->host) + "\t" + l->pod;
      for (const auto& alias : l->aliases) {
        text += " " + alias;
      }
      text += "\n";
    }
  }
  // Rewritten in place: containers see this very file (inode) bind-mounted as /etc/hosts. The
  // new text is written over the old before the file is cut to length, so a reader never finds
  // it empty.
  Fd fd(::open(hosts_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  std::size_t done = 0;
  while (fd && done < text.size()) {
    ssize_t n =
        ::pwrite(fd.get(), text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (!fd || done < text.size() || ::ftruncate(fd.get(), static_cast<off_t>(text.size())) != 0) {
    log::warn("cannot write the hosts file", {{"path", hosts_path_}});
  }
}

void Partitions::cut(const std::vector<std::vector<std::string>>& groups) {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t h = g + 1; h < groups.size(); ++h) {
      for (const auto& a : groups[g]) {
        for (const auto& b : groups[h]) {
          if (a != b) {
            pairs_.insert(a < b ? std::pair{a, b} : std::pair{b, a});
          }
        }
      }
    }
  }
}

void Partitions::heal(const std::vector<std::string>& pods) {
  if (pods.empty()) {
    pairs_.clear();
    return;
  }
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    bool involved = false;
    for (const auto& p : pods) {
      involved = involved || it->first == p || it->second == p;
    }
    it = involved ? pairs_.erase(it) : std::next(it);
  }
}

std::string PodNetwork::ruleset(const Partitions& p) const {
  return p.ruleset([this](const std::string& name) { return link_of(name); },
                   [this](const std::string& name) { return ip_of(name); });
}

namespace {

// A table `family name` that replaces any of that name and drops, in its forward hook at
// `priority`, what `match` finds in its set `cut` of `key_type` pairs. "add" then "delete"
// makes the delete succeed whether or not the table exists; the whole file is one transaction,
// so traffic never sees a half-written set.
std::string cut_table(const std::string& table, const char* key_type, const std::string& elements,
                      const char* match, int priority) {
  std::string s = "add table " + table + "\ndelete table " + table + "\ntable " + table +
                  " {\n  set cut {\n    type " + key_type + "\n";
  if (!elements.empty()) {
    s += "    elements = { " + elements + " }\n";
  }
  return s + "  }\n  chain forward {\n    type filter hook forward priority " +
         std::to_string(priority) + "; policy accept;\n    " + match + " @cut drop\n  }\n}\n";
}

}  // namespace

std::string Partitions::both_ways(
    const std::function<std::string(const std::string&)>& key_of) const {
  std::string elements;
  for (const auto& [a, b] : pairs_) {
    std::string ka = key_of(a);
    std::string kb = key_of(b);
    if (!ka.empty() && !kb.empty()) {
      elements += (elements.empty() ? "" : ", ") + (ka + " . " + kb + ", " + kb + " . " + ka);
    }
  }
  return elements;
}

std::string Partitions::ruleset(const std::function<std::string(const std::string&)>& link_of,
                                const std::function<std::string(const std::string&)>& ip_of) const {
  auto quoted_link = [&link_of](const std::string& pod) {
    std::string link = link_of(pod);
    return link.empty() ? link : "\"" + link + "\"";
  };
  std::string s =
      cut_table("bridge tender", "ifname . ifname", both_ways(quoted_link), "iifname . oifname", 0);
  if (ip_of) {
    // Routed (a Service's DNAT): the forward hook sees the pod's own address as the source (it
    // is masqueraded later, in postrouting) and the chosen pod's as the destination.
    s += cut_table("ip tender-partitions", "ipv4_addr . ipv4_addr", both_ways(ip_of),
                   "ip saddr . ip daddr", -10);
  }
  return s;
}

}  // namespace tender::pod

#include "pod/network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "core/log.hpp"
#include "core/netlink.hpp"
#include "core/netns.hpp"

namespace tender::pod {
namespace {

using boost::system::error_code;

constexpr const char* kBridge = "tender0";

error_code errno_code(int e) { return {e, boost::system::system_category()}; }

// Brings up a namespace's side of things: loopback, and optionally `link` with an address.
error_code configure_inside(int netns, const char* link, const std::string& ip, int prefix) {
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
  if (auto ec = nl->add_ipv4(*index, ip, prefix)) {
    return ec;
  }
  return nl->set_up(*index);
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

boost::system::result<PodNetwork::Attachment> PodNetwork::attach(const std::string& name) {
  if (pods_.count(name) != 0) {
    detach(name);  // a replaced pod of the same name
  }
  std::uint32_t host = 0;
  if (!free_.empty()) {
    host = *free_.begin();
  } else if (next_host_ < cidr_.size() - 1) {  // the last address is the broadcast
    host = next_host_;
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
    ec = configure_inside(ns->get(), "eth0", ip, cidr_.prefix);
  }
  if (ec) {
    (void)bridge_nl_->delete_link(*index);
    return ec;
  }
  if (free_.count(host) != 0) {
    free_.erase(host);
  } else {
    ++next_host_;
  }
  pods_[name] = PodLink{host, link, *index};
  write_hosts();
  return Attachment{std::move(*ns), ip, link};
}

void PodNetwork::detach(const std::string& name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) {
    return;
  }
  if (auto ec = bridge_nl_->delete_link(it->second.link_index); ec && ec.value() != ENODEV) {
    log::warn("cannot delete a pod's link",
              {{"pod", name}, {"link", it->second.link}, {"error", ec.message()}});
  }
  free_.insert(it->second.host);
  pods_.erase(it);
  write_hosts();
}

std::string PodNetwork::ip_of(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? "" : cidr_.address(it->second.host);
}

std::string PodNetwork::link_of(const std::string& name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? "" : it->second.link;
}

void PodNetwork::write_hosts() const {
  std::string text =
      "# Written by tender pod: every pod of this run.\n"
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& [name, link] : pods_) {
    text += cidr_.address(link.host) + "\t" + name + "\n";
  }
  // Rewritten in place: containers see this very file (inode) bind-mounted as /etc/hosts.
  Fd fd(::open(hosts_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    log::warn("cannot write the hosts file", {{"path", hosts_path_}});
    return;
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      log::warn("cannot write the hosts file", {{"path", hosts_path_}});
      return;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
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

std::string PodNetwork::ruleset() const {
  return partitions_.ruleset([this](const std::string& name) { return ip_of(name); });
}

std::string Partitions::ruleset(const std::function<std::string(const std::string&)>& ip_of) const {
  // "add" then "delete" makes the delete succeed whether or not the table exists; the whole
  // file is one transaction, so traffic never sees a half-written set.
  std::string s =
      "add table bridge tender\n"
      "delete table bridge tender\n"
      "table bridge tender {\n"
      "  set cut {\n"
      "    type ipv4_addr . ipv4_addr\n";
  std::string elements;
  for (const auto& [a, b] : pairs_) {
    std::string ia = ip_of(a);
    std::string ib = ip_of(b);
    if (ia.empty() || ib.empty()) {
      continue;
    }
    elements += (elements.empty() ? "" : ", ") + ia + " . " + ib + ", " + ib + " . " + ia;
  }
  if (!elements.empty()) {
    s += "    elements = { " + elements + " }\n";
  }
  s += "  }\n"
       "  chain forward {\n"
       "    type filter hook forward priority 0; policy accept;\n"
       "    ip saddr . ip daddr @cut drop\n"
       "  }\n"
       "}\n";
  return s;
}

}  // namespace tender::pod

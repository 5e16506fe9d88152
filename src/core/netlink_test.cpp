#include "core/netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.hpp"

// Every test works in network namespaces it makes for itself, on threads of its own (Linux keeps
// the network namespace per thread); the test's own thread, and so the host's namespace, is
// never touched. A namespace dies with the last fd or thread that refers to it.

namespace tender::netlink {
namespace {

using boost::system::error_code;
using namespace std::chrono_literals;

error_code sys_error(int error) { return error_code(error, boost::system::system_category()); }

// Polls `done` until it holds or `timeout` passes; never a fixed sleep.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// A new network namespace (just a loopback, down), alive as long as the returned fd. It is made
// by a thread that ends right after, so no thread is left in it.
Fd new_netns() {
  Fd ns;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) == 0) {
      ns.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    }
  }).join();
  return ns;
}

// Runs `body` on a new thread that has joined the namespace `ns`.
template <class F>
void in_netns(int ns, F body) {
  std::thread([&] {
    if (::setns(ns, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns: " << std::strerror(errno);
      return;
    }
    body();
  }).join();
}

// Runs body(socket) in the namespace `ns`, with a Socket opened there.
template <class F>
void with_socket(int ns, F body) {
  in_netns(ns, [&] {
    auto nl = Socket::open();
    ASSERT_TRUE(nl) << nl.error().message();
    body(*nl);
  });
}

struct LinkState {
  unsigned flags = 0;  // IFF_*
  int master = 0;      // the bridge it is a port of, or 0
};

// A link's flags and master in the calling thread's namespace, asked with an RTM_GETLINK of the
// test's own, so that the checks do not rely on the code under test. nullopt if there is none.
std::optional<LinkState> link_state(int index) {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.info.ifi_index = index;
  if (!fd || ::send(fd.get(), &request, sizeof request, 0) != sizeof request) {
    return std::nullopt;
  }
  std::vector<char> buffer(std::size_t{64} * 1024);
  const ssize_t received = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
  nlmsghdr header{};
  ifinfomsg info{};
  if (received < static_cast<ssize_t>(NLMSG_LENGTH(sizeof info))) {
    return std::nullopt;
  }
  std::memcpy(&header, buffer.data(), sizeof header);
  if (header.nlmsg_type != RTM_NEWLINK) {
    return std::nullopt;  // an NLMSG_ERROR: ENODEV
  }
  std::memcpy(&info, buffer.data() + NLMSG_HDRLEN, sizeof info);
  LinkState state;
  state.flags = info.ifi_flags;
  for (std::size_t offset = NLMSG_LENGTH(sizeof info);
       offset + sizeof(rtattr) <= header.nlmsg_len;) {
    rtattr attr{};
    std::memcpy(&attr, buffer.data() + offset, sizeof attr);
    if (attr.rta_len < sizeof attr) {
      break;
    }
    if (attr.rta_type == IFLA_MASTER) {
      std::memcpy(&state.master, buffer.data() + offset + RTA_LENGTH(0), sizeof state.master);
    }
    offset += RTA_ALIGN(attr.rta_len);
  }
  return state;
}

struct Ipv4 {
  std::string address;
  std::string netmask;
  std::string broadcast;
  friend bool operator==(const Ipv4&, const Ipv4&) = default;
};

std::ostream& operator<<(std::ostream& out, const Ipv4& ip) {
  return out << ip.address << " mask " << ip.netmask << " brd " << ip.broadcast;
}

std::string dotted(const sockaddr* address) {
  if (address == nullptr || address->sa_family != AF_INET) {
    return "";
  }
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  return text;
}

// The IPv4 addresses of `link`, as getifaddrs() sees them; it asks over netlink, so from the
// calling thread's namespace.
std::vector<Ipv4> ipv4_addresses(const std::string& link) {
  std::vector<Ipv4> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    ADD_FAILURE() << "getifaddrs: " << std::strerror(errno);
    return out;
  }
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (link == it->ifa_name && it->ifa_addr != nullptr && it->ifa_addr->sa_family == AF_INET) {
      out.push_back({dotted(it->ifa_addr), dotted(it->ifa_netmask), dotted(it->ifa_broadaddr)});
    }
  }
  ::freeifaddrs(list);
  return out;
}

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: makes network namespaces";
    }
    ns_ = new_netns();
    ASSERT_TRUE(ns_) << "could not make a network namespace";
  }

  // Runs body(socket) in this test's namespace.
  template <class F>
  void here(F body) {
    with_socket(ns_.get(), body);
  }

  Fd ns_;
};

TEST_F(NetlinkTest, LoopbackIsLinkOne) {
  here([](Socket& nl) {
    auto lo = nl.link_index("lo");
    ASSERT_TRUE(lo) << lo.error().message();
    EXPECT_EQ(*lo, 1);
  });
}

TEST_F(NetlinkTest, UnknownLinkIsEnodev) {
  here([](Socket& nl) {
    auto index = nl.link_index("nope");
    ASSERT_FALSE(index);
    EXPECT_EQ(index.error(), sys_error(ENODEV));
    EXPECT_EQ(nl.set_up(4242), sys_error(ENODEV));
    EXPECT_EQ(nl.delete_link(4242), sys_error(ENODEV));
    EXPECT_EQ(nl.set_up(0), sys_error(EINVAL)) << "no index, no name";
  });
}

TEST_F(NetlinkTest, NamesLongerThan15AreEinval) {
  const std::string fifteen = "abcdefghijklmno";
  const std::string sixteen = fifteen + "p";
  here([&](Socket& nl) {
    EXPECT_EQ(nl.link_index(sixteen).error(), sys_error(EINVAL));
    EXPECT_EQ(nl.link_index("").error(), sys_error(EINVAL));
    EXPECT_EQ(nl.add_bridge(sixteen), sys_error(EINVAL));
    EXPECT_EQ(nl.add_veth(sixteen, "peer", -1), sys_error(EINVAL));
    EXPECT_EQ(nl.add_veth("veth0", sixteen, -1), sys_error(EINVAL));
    EXPECT_EQ(nl.add_bridge(std::string("br\0x", 4)), sys_error(EINVAL));

    ASSERT_FALSE(nl.add_bridge(fifteen));
    EXPECT_TRUE(nl.link_index(fifteen));
  });
}

TEST_F(NetlinkTest, AddBridge) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.add_bridge("br0"));
    auto index = nl.link_index("br0");
    ASSERT_TRUE(index) << index.error().message();
    EXPECT_GT(*index, 1);
    auto state = link_state(*index);
    ASSERT_TRUE(state);
    EXPECT_FALSE(state->flags & IFF_UP) << "a new link starts down";

    EXPECT_EQ(nl.add_bridge("br0"), sys_error(EEXIST));
  });
}

TEST_F(NetlinkTest, SetUp) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.set_up(1));
    EXPECT_TRUE(link_state(1)->flags & IFF_UP);

    ASSERT_FALSE(nl.add_bridge("br0"));
    auto br = nl.link_index("br0");
    ASSERT_TRUE(br);
    ASSERT_FALSE(nl.set_up(*br));
    EXPECT_TRUE(link_state(*br)->flags & IFF_UP);
    EXPECT_FALSE(nl.set_up(*br)) << "already up is fine";
  });
}

TEST_F(NetlinkTest, VethInOneNamespaceGetsACarrierWhenBothEndsAreUp) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.add_veth("veth0", "veth1", -1));
    auto a = nl.link_index("veth0");
    auto b = nl.link_index("veth1");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    ASSERT_FALSE(nl.set_up(*a));
    EXPECT_TRUE(link_state(*a)->flags & IFF_UP);
    EXPECT_FALSE(link_state(*a)->flags & IFF_LOWER_UP) << "no carrier while the peer is down";
    ASSERT_FALSE(nl.set_up(*b));
    EXPECT_TRUE(link_state(*a)->flags & IFF_LOWER_UP);

    EXPECT_EQ(nl.add_veth("veth0", "veth2", -1), sys_error(EEXIST));
    EXPECT_EQ(nl.add_veth("veth2", "veth1", -1), sys_error(EEXIST));
    EXPECT_EQ(nl.link_index("veth2").error(), sys_error(ENODEV))
        << "nothing left of a failed creation";
  });
}

TEST_F(NetlinkTest, VethPeerGoesToTheOtherNamespace) {
  Fd other = new_netns();
  ASSERT_TRUE(other);
  // The same name on both sides: names are per namespace (a pod's end is always "eth0").
  here([&](Socket& nl) {
    ASSERT_FALSE(nl.add_veth("eth0", "eth0", other.get()));
    ASSERT_FALSE(nl.add_veth("veth-a", "veth-b", other.get()));
    EXPECT_TRUE(nl.link_index("eth0"));
    EXPECT_TRUE(nl.link_index("veth-a"));
    EXPECT_EQ(nl.link_index("veth-b").error(), sys_error(ENODEV));
  });
  with_socket(other.get(), [](Socket& nl) {
    EXPECT_TRUE(nl.link_index("eth0"));
    EXPECT_TRUE(nl.link_index("veth-b"));
    EXPECT_EQ(nl.link_index("veth-a").error(), sys_error(ENODEV));
    EXPECT_EQ(nl.add_bridge("veth-b"), sys_error(EEXIST));
  });
  here([&](Socket& nl) {
    EXPECT_EQ(nl.add_veth("veth-c", "veth-b", other.get()), sys_error(EEXIST))
        << "taken over there";
  });
}

TEST_F(NetlinkTest, VethWithABadNamespaceFdFails) {
  Fd not_a_netns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(not_a_netns);
  here([&](Socket& nl) {
    EXPECT_TRUE(nl.add_veth("veth0", "veth1", not_a_netns.get()));
    EXPECT_EQ(nl.link_index("veth0").error(), sys_error(ENODEV));
  });
}

TEST_F(NetlinkTest, SetMaster) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.add_bridge("br0"));
    ASSERT_FALSE(nl.add_veth("veth0", "veth1", -1));
    auto br = nl.link_index("br0");
    auto port = nl.link_index("veth0");
    auto other = nl.link_index("veth1");
    ASSERT_TRUE(br && port && other);
    EXPECT_EQ(link_state(*port)->master, 0);
    ASSERT_FALSE(nl.set_master(*port, *br));
    EXPECT_EQ(link_state(*port)->master, *br);
    EXPECT_EQ(link_state(*other)->master, 0);
    EXPECT_FALSE(nl.set_master(*port, *br)) << "again is fine";

    EXPECT_EQ(nl.set_master(4242, *br), sys_error(ENODEV));
    EXPECT_EQ(nl.set_master(*other, 4242), sys_error(EINVAL))
        << "the kernel's answer for a missing master";
    EXPECT_EQ(nl.set_master(*br, *other), sys_error(EOPNOTSUPP)) << "a veth takes no ports";

    ASSERT_FALSE(nl.set_master(*port, 0));
    EXPECT_EQ(link_state(*port)->master, 0) << "0: out of the bridge";
  });
}

TEST_F(NetlinkTest, AddIpv4) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.add_bridge("br0"));
    auto br = nl.link_index("br0");
    ASSERT_TRUE(br);
    ASSERT_FALSE(nl.add_ipv4(*br, "10.217.0.2", 16));
    ASSERT_FALSE(nl.add_ipv4(*br, "192.168.7.1", 32));
    const auto addresses = ipv4_addresses("br0");
    ASSERT_EQ(addresses.size(), 2U);
    EXPECT_EQ(addresses[0], (Ipv4{"10.217.0.2", "255.255.0.0", "10.217.255.255"}));
    // A /32 gets no IFA_BROADCAST, but getifaddrs() then reports the address itself (glibc puts
    // IFA_ADDRESS there), so its broadcast is not checked here.
    EXPECT_EQ(addresses[1].address, "192.168.7.1");
    EXPECT_EQ(addresses[1].netmask, "255.255.255.255");

    EXPECT_EQ(nl.add_ipv4(*br, "10.217.0.2", 16), sys_error(EEXIST));
    EXPECT_EQ(nl.add_ipv4(4242, "10.217.0.3", 16), sys_error(ENODEV));
    for (const char* bad : {"10.217.0", "10.217.0.256", "", "::1", "10.217.0.2/16", "x"}) {
      EXPECT_EQ(nl.add_ipv4(*br, bad, 16), sys_error(EINVAL)) << bad;
    }
    EXPECT_EQ(nl.add_ipv4(*br, "10.217.0.3", -1), sys_error(EINVAL));
    EXPECT_EQ(nl.add_ipv4(*br, "10.217.0.3", 33), sys_error(EINVAL));
  });
}

TEST_F(NetlinkTest, DeleteLink) {
  here([](Socket& nl) {
    ASSERT_FALSE(nl.add_bridge("br0"));
    auto br = nl.link_index("br0");
    ASSERT_TRUE(br);
    ASSERT_FALSE(nl.delete_link(*br));
    EXPECT_EQ(nl.link_index("br0").error(), sys_error(ENODEV));
    EXPECT_EQ(nl.delete_link(*br), sys_error(ENODEV));
    EXPECT_TRUE(nl.delete_link(1)) << "the loopback stays";
    EXPECT_TRUE(nl.link_index("lo"));
  });
}

TEST_F(NetlinkTest, DeletingAVethEndDeletesItsPeer) {
  Fd other = new_netns();
  ASSERT_TRUE(other);
  here([&](Socket& nl) {
    ASSERT_FALSE(nl.add_veth("veth-a", "veth-b", other.get()));
    auto a = nl.link_index("veth-a");
    ASSERT_TRUE(a);
    ASSERT_FALSE(nl.delete_link(*a));
  });
  with_socket(other.get(),
              [](Socket& nl) { EXPECT_EQ(nl.link_index("veth-b").error(), sys_error(ENODEV)); });
}

TEST_F(NetlinkTest, VethDiesWithItsPeersNamespace) {
  Fd other = new_netns();
  ASSERT_TRUE(other);
  here([&](Socket& nl) {
    ASSERT_FALSE(nl.add_veth("veth-a", "veth-b", other.get()));
    other.reset();  // nothing else refers to that namespace now
    // The kernel tears a namespace down from a work queue, shortly after its last reference.
    EXPECT_TRUE(eventually([&] { return nl.link_index("veth-a").error() == sys_error(ENODEV); }));
  });
}

// A socket keeps acting on the namespace it was opened in, whichever thread uses it.
TEST_F(NetlinkTest, SocketStaysInItsNamespace) {
  std::optional<Socket> from_here;
  here([&](Socket& nl) { from_here = std::move(nl); });
  Fd other = new_netns();
  ASSERT_TRUE(other);
  with_socket(other.get(), [&](Socket& nl) {
    ASSERT_FALSE(from_here->add_bridge("br-moved"));
    EXPECT_EQ(nl.link_index("br-moved").error(), sys_error(ENODEV));
  });
  here([](Socket& nl) { EXPECT_TRUE(nl.link_index("br-moved")); });
}

// The whole point: two namespaces joined by a veth talk TCP.
TEST_F(NetlinkTest, TcpAcrossAVeth) {
  Fd other = new_netns();
  ASSERT_TRUE(other);
  here([&](Socket& nl) {
    ASSERT_FALSE(nl.set_up(1));
    ASSERT_FALSE(nl.add_veth("veth-a", "veth-b", other.get()));
    auto a = nl.link_index("veth-a");
    ASSERT_TRUE(a);
    ASSERT_FALSE(nl.add_ipv4(*a, "10.217.0.1", 16));
    ASSERT_FALSE(nl.set_up(*a));
  });

  sockaddr_in server{};
  server.sin_family = AF_INET;
  ASSERT_EQ(::inet_pton(AF_INET, "10.217.0.2", &server.sin_addr), 1);
  Fd listener;
  with_socket(other.get(), [&](Socket& nl) {
    ASSERT_FALSE(nl.set_up(1));
    auto b = nl.link_index("veth-b");
    ASSERT_TRUE(b);
    ASSERT_FALSE(nl.add_ipv4(*b, "10.217.0.2", 16));
    ASSERT_FALSE(nl.set_up(*b));
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener);
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&server), sizeof server), 0)
        << std::strerror(errno);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    socklen_t size = sizeof server;
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&server), &size), 0);
  });
  ASSERT_TRUE(listener);

  const timeval timeout{10, 0};  // on Linux SO_SNDTIMEO bounds connect() too
  in_netns(ns_.get(), [&] {
    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(client);
    ASSERT_EQ(::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), 0);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&server), sizeof server), 0)
        << std::strerror(errno);
    ASSERT_EQ(::write(client.get(), "x", 1), 1);
  });

  ASSERT_EQ(::setsockopt(listener.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
  sockaddr_in peer{};
  socklen_t peer_size = sizeof peer;
  Fd accepted(
      ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_size, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted) << std::strerror(errno);
  EXPECT_EQ(dotted(reinterpret_cast<sockaddr*>(&peer)), "10.217.0.1");
  ASSERT_EQ(::setsockopt(accepted.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
  char byte = 0;
  EXPECT_EQ(::read(accepted.get(), &byte, 1), 1);
  EXPECT_EQ(byte, 'x');
}

}  // namespace
}  // namespace tender::netlink

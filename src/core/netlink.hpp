// rtnetlink (NETLINK_ROUTE): the few link and address changes the pod network needs, spoken to
// the kernel over a raw netlink socket (no libmnl, no `ip`). Linux only; every change needs
// CAP_NET_ADMIN over the namespace.
//
// A socket belongs to the network namespace of the thread that opened it, so a thread can step
// into a namespace, open a socket, step back out and keep configuring that namespace from
// anywhere:
//
//   auto nl = [&] {
//     tender::NetnsScope in(run_netns.get());      // core/netns.hpp
//     return tender::netlink::Socket::open();      // a socket of run_netns, for life
//   }();
//   if (!nl) { log(nl.error().message()); return; }
//   if (auto ec = nl->add_bridge("tender0")) { ... }  // "File exists" if it is there already
//   auto index = nl->link_index("tender0");
//   if (!index) { ... }
//   if (auto ec = nl->add_ipv4(*index, "10.217.0.1", 16)) { ... }
//   if (auto ec = nl->set_up(*index)) { ... }
//
// Errors are boost::system::error_code values of system_category: the errno the kernel put in
// its NLMSG_ERROR reply (EEXIST, ENODEV, EPERM, ...) or that a socket call returned.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "core/fd.hpp"

namespace tender::netlink {

// A NETLINK_ROUTE socket. It acts on the network namespace of the thread that opened it, for
// its whole life, whichever thread uses it later (so: setns() a thread into a namespace, open,
// setns back, and keep using the socket). Not thread-safe; one request at a time, synchronous:
// each call sends one request and blocks until the kernel acknowledges it.
//
// Interface names are at most 15 characters (IFNAMSIZ - 1); a longer or empty one is EINVAL
// without asking the kernel.
class Socket {
 public:
  // Errors: from socket() or bind() (EMFILE, ENOBUFS, ...).
  [[nodiscard]] static boost::system::result<Socket> open();

  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&&) noexcept = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // The index of the link called `name`. ENODEV if there is none.
  [[nodiscard]] boost::system::result<int> link_index(std::string_view name);

  // Creates a bridge, down and without ports. EEXIST if a link of that name exists.
  [[nodiscard]] boost::system::error_code add_bridge(std::string_view name);

  // A veth pair: `name` in this socket's namespace, `peer_name` in the namespace referred to by
  // `peer_netns_fd` (an fd of /proc/.../ns/net), or here too when peer_netns_fd < 0. Both ends
  // start down. EEXIST if either name is taken in its namespace; EBADF for a closed fd, EINVAL
  // for one that is not a network namespace. The pair lives and dies together: deleting either end,
  // or the death of either namespace, removes both.
  [[nodiscard]] boost::system::error_code add_veth(std::string_view name,
                                                   std::string_view peer_name, int peer_netns_fd);

  // Brings a link up (IFF_UP); already up is no error. A veth end only gets a carrier once its
  // peer is up too. ENODEV if there is no link `index` (EINVAL if index <= 0).
  [[nodiscard]] boost::system::error_code set_up(int index);

  // Makes link `index` a port of the bridge `master_index` (done again: no error); a
  // master_index of 0 takes it out of its bridge. ENODEV if there is no link `index`, EINVAL if
  // there is no link `master_index`; EOPNOTSUPP if that link takes no ports (not a bridge).
  [[nodiscard]] boost::system::error_code set_master(int index, int master_index);

  // Adds the IPv4 address `address` ("10.217.0.2") with a prefix length of 0..32 to link
  // `index`, which also adds the route to its subnet. The broadcast address is the subnet's
  // last one (as `ip addr add ... brd +` sets it), none for /31 and /32. EINVAL for a malformed
  // address or prefix; EEXIST if the link has it already; ENODEV if there is no link `index`.
  [[nodiscard]] boost::system::error_code add_ipv4(int index, std::string_view address,
                                                   int prefix_len);

  // Adds a route to `destination`/`prefix_len` (IPv4, main table) out of link `index`: through
  // `gateway` when given, else straight on the link. EINVAL for a malformed address or prefix,
  // or index <= 0; EEXIST if the route is there; ENETUNREACH if the gateway is not on the link.
  [[nodiscard]] boost::system::error_code add_route_ipv4(std::string_view destination,
                                                         int prefix_len, int index,
                                                         std::string_view gateway = {});

  // Deletes link `index` (with its addresses and routes; a veth takes its peer along).
  // ENODEV if there is none (EINVAL if index <= 0); EOPNOTSUPP for the loopback.
  [[nodiscard]] boost::system::error_code delete_link(int index);

 private:
  explicit Socket(Fd fd) : fd_(std::move(fd)) {}

  Fd fd_;
  std::uint32_t seq_ = 0;  // of the last request; replies are matched to requests by it
};

}  // namespace tender::netlink

#include "core/netlink.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace tender::netlink {

namespace {

using boost::system::error_code;

// Room for one datagram from the kernel. The answers here (one link, or an ack) take a few KiB;
// a datagram that does not fit would lose its ack, so that fails loudly (EMSGSIZE).
constexpr std::size_t kReceiveBufferSize = std::size_t{64} * 1024;

// What the kernel accepts as a name (it also refuses '/', ':' and white space, with EINVAL).
bool valid_name(std::string_view name) {
  return !name.empty() && name.size() < IFNAMSIZ && name.find('\0') == std::string_view::npos;
}

// One request under construction: a netlink header, the family's fixed header (ifinfomsg,
// ifaddrmsg) and attributes. Every piece starts on a 4-byte boundary, as the kernel parses them
// (NLMSG_ALIGN and RTA_ALIGN are both 4); padding is zeroed.
class Request {
 public:
  // NLM_F_REQUEST | NLM_F_ACK, plus `flags`: every request is acknowledged, also on success.
  Request(std::uint16_t type, std::uint16_t flags) {
    nlmsghdr header{};
    header.nlmsg_type = type;
    header.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    append(&header, sizeof header);
  }

  // A fixed header such as ifinfomsg; also the one that opens a veth's VETH_INFO_PEER.
  template <class T>
  void add_struct(const T& value) {
    append(&value, sizeof value);
  }

  // rta_len counts the attribute header and its payload, not the padding that follows.
  void add_attr(std::uint16_t type, const void* data, std::size_t size) {
    rtattr attr{};
    attr.rta_type = type;
    attr.rta_len = static_cast<std::uint16_t>(RTA_LENGTH(size));
    append(&attr, sizeof attr);
    append(data, size);
  }
  void add_string(std::uint16_t type, std::string_view text) {
    const std::string terminated(text);  // the kernel wants the NUL
    add_attr(type, terminated.c_str(), terminated.size() + 1);
  }
  void add_u32(std::uint16_t type, std::uint32_t value) { add_attr(type, &value, sizeof value); }

  // Opens a nested attribute: whatever is added until close_nest(start) lies inside it.
  [[nodiscard]] std::size_t open_nest(std::uint16_t type) {
    const std::size_t start = buffer_.size();
    add_attr(type, nullptr, 0);
    return start;
  }
  // A nest's length is that of everything inside it, padding included.
  void close_nest(std::size_t start) {
    const auto length = static_cast<std::uint16_t>(buffer_.size() - start);
    std::memcpy(buffer_.data() + start + offsetof(rtattr, rta_len), &length, sizeof length);
  }

  // The finished message, numbered `seq`.
  [[nodiscard]] const std::vector<char>& finish(std::uint32_t seq) {
    const auto length = static_cast<std::uint32_t>(buffer_.size());
    std::memcpy(buffer_.data() + offsetof(nlmsghdr, nlmsg_len), &length, sizeof length);
    std::memcpy(buffer_.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof seq);
    return buffer_;
  }

 private:
  void append(const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), bytes, bytes + size);
    buffer_.resize(RTA_ALIGN(buffer_.size()), '\0');
  }

  std::vector<char> buffer_;
};

// Sends `request` as number `seq` and reads until the kernel acknowledges it (NLMSG_ERROR, with
// error 0 on success). Other answers to it, like the RTM_NEWLINK that answers an RTM_GETLINK,
// go to on_answer(type, payload, size). Messages with another number (say, the late ack of an
// earlier request that failed half-way) and datagrams not from the kernel are skipped.
template <class OnAnswer>
error_code transact(int fd, std::uint32_t seq, Request& request, OnAnswer on_answer) {
  const std::vector<char>& message = request.finish(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return errno_code(errno);
  }

  std::vector<char> buffer(kReceiveBufferSize);
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_size = sizeof from;
    const ssize_t received = ::recvfrom(fd, buffer.data(), buffer.size(), MSG_TRUNC,
                                        reinterpret_cast<sockaddr*>(&from), &from_size);
    if (received < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_code(errno);
    }
    const auto size = static_cast<std::size_t>(received);
    if (size > buffer.size()) {
      return errno_code(EMSGSIZE);  // MSG_TRUNC: the datagram's real size
    }
    if (from.nl_pid != 0) {
      continue;
    }
    std::size_t offset = 0;
    while (offset + sizeof(nlmsghdr) <= size) {
      nlmsghdr header{};
      std::memcpy(&header, buffer.data() + offset, sizeof header);
      if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > size - offset) {
        return errno_code(EBADMSG);
      }
      const char* payload = buffer.data() + offset + NLMSG_HDRLEN;
      const std::size_t payload_size = header.nlmsg_len - NLMSG_HDRLEN;
      offset += NLMSG_ALIGN(header.nlmsg_len);
      if (header.nlmsg_seq != seq) {
        continue;
      }
      if (header.nlmsg_type == NLMSG_ERROR) {
        int error;  // nlmsgerr.error: 0 for an ack, else a negative errno
        if (payload_size < sizeof error) {
          return errno_code(EBADMSG);
        }
        std::memcpy(&error, payload, sizeof error);
        return error == 0 ? error_code() : errno_code(-error);
      }
      on_answer(header.nlmsg_type, payload, payload_size);
    }
  }
}

error_code transact(int fd, std::uint32_t seq, Request& request) {
  return transact(fd, seq, request, [](std::uint16_t, const char*, std::size_t) {});
}

ifinfomsg link_header(int index) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  return info;
}

}  // namespace

boost::system::result<Socket> Socket::open() {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) {
    return errno_code(errno);
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks our port id
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return errno_code(errno);
  }
  return Socket(std::move(fd));
}

boost::system::result<int> Socket::link_index(std::string_view name) {
  if (!valid_name(name)) {
    return errno_code(EINVAL);
  }
  Request request(RTM_GETLINK, 0);
  request.add_struct(link_header(0));
  request.add_string(IFLA_IFNAME, name);
  int index = 0;
  const error_code ec = transact(fd_.get(), ++seq_, request,
                                 [&](std::uint16_t type, const char* payload, std::size_t size) {
                                   if (type == RTM_NEWLINK && size >= sizeof(ifinfomsg)) {
                                     ifinfomsg info{};
                                     std::memcpy(&info, payload, sizeof info);
                                     index = info.ifi_index;
                                   }
                                 });
  if (ec) {
    return ec;
  }
  if (index <= 0) {
    return errno_code(EBADMSG);  // acknowledged, but never answered
  }
  return index;
}

error_code Socket::add_bridge(std::string_view name) {
  if (!valid_name(name)) {
    return errno_code(EINVAL);
  }
  Request request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  request.add_struct(link_header(0));
  request.add_string(IFLA_IFNAME, name);
  const std::size_t link_info = request.open_nest(IFLA_LINKINFO);
  request.add_string(IFLA_INFO_KIND, "bridge");
  request.close_nest(link_info);
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::add_veth(std::string_view name, std::string_view peer_name, int peer_netns_fd) {
  if (!valid_name(name) || !valid_name(peer_name)) {
    return errno_code(EINVAL);
  }
  // IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER { ifinfomsg,
  // IFLA_IFNAME, IFLA_NET_NS_FD } } }: the peer is described like a link of its own.
  Request request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  request.add_struct(link_header(0));
  request.add_string(IFLA_IFNAME, name);
  const std::size_t link_info = request.open_nest(IFLA_LINKINFO);
  request.add_string(IFLA_INFO_KIND, "veth");
  const std::size_t info_data = request.open_nest(IFLA_INFO_DATA);
  const std::size_t peer = request.open_nest(VETH_INFO_PEER);
  request.add_struct(link_header(0));
  request.add_string(IFLA_IFNAME, peer_name);
  if (peer_netns_fd >= 0) {
    request.add_u32(IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_netns_fd));
  }
  request.close_nest(peer);
  request.close_nest(info_data);
  request.close_nest(link_info);
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::set_up(int index) {
  ifinfomsg info = link_header(index);
  info.ifi_flags = IFF_UP;
  info.ifi_change = IFF_UP;  // the flags to change; the others stay as they are
  Request request(RTM_SETLINK, 0);
  request.add_struct(info);
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::set_master(int index, int master_index) {
  Request request(RTM_SETLINK, 0);
  request.add_struct(link_header(index));
  request.add_u32(IFLA_MASTER, static_cast<std::uint32_t>(master_index));
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::add_ipv4(int index, std::string_view address, int prefix_len) {
  in_addr local{};
  if (prefix_len < 0 || prefix_len > 32 ||
      ::inet_pton(AF_INET, std::string(address).c_str(), &local) != 1) {
    return errno_code(EINVAL);
  }
  ifaddrmsg info{};
  info.ifa_family = AF_INET;
  info.ifa_prefixlen = static_cast<unsigned char>(prefix_len);
  info.ifa_scope = RT_SCOPE_UNIVERSE;
  info.ifa_index = static_cast<std::uint32_t>(index);
  Request request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  request.add_struct(info);
  // IFA_LOCAL is the address itself; IFA_ADDRESS the peer's, which without one is the same.
  request.add_attr(IFA_LOCAL, &local, sizeof local);
  request.add_attr(IFA_ADDRESS, &local, sizeof local);
  if (prefix_len < 31) {  // a /31 or /32 has no room for a broadcast address (RFC 3021)
    const std::uint32_t host_bits = prefix_len == 0 ? ~0U : (1U << (32 - prefix_len)) - 1;
    in_addr broadcast{};
    broadcast.s_addr = htonl(ntohl(local.s_addr) | host_bits);
    request.add_attr(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::add_route_ipv4(std::string_view destination, int prefix_len, int index,
                                  std::string_view gateway) {
  in_addr dst{};
  in_addr via{};
  if (prefix_len < 0 || prefix_len > 32 || index <= 0 ||
      ::inet_pton(AF_INET, std::string(destination).c_str(), &dst) != 1 ||
      (!gateway.empty() && ::inet_pton(AF_INET, std::string(gateway).c_str(), &via) != 1)) {
    return errno_code(EINVAL);
  }
  rtmsg info{};
  info.rtm_family = AF_INET;
  info.rtm_dst_len = static_cast<unsigned char>(prefix_len);
  info.rtm_table = RT_TABLE_MAIN;
  info.rtm_protocol = RTPROT_BOOT;
  // Without a gateway the destination is on the link itself.
  info.rtm_scope = gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  info.rtm_type = RTN_UNICAST;
  Request request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  request.add_struct(info);
  request.add_attr(RTA_DST, &dst, sizeof dst);
  request.add_u32(RTA_OIF, static_cast<std::uint32_t>(index));
  if (!gateway.empty()) {
    request.add_attr(RTA_GATEWAY, &via, sizeof via);
  }
  return transact(fd_.get(), ++seq_, request);
}

error_code Socket::delete_link(int index) {
  Request request(RTM_DELLINK, 0);
  request.add_struct(link_header(index));
  return transact(fd_.get(), ++seq_, request);
}

}  // namespace tender::netlink

#pragma once
// async_recv(): a socket read that costs one system call when the socket has to be waited for.
//
//   tender::enable_recv_hint(socket);                    // once per connected socket
//   auto [ec, n] = co_await tender::async_recv(socket, buffer, kTuple);
//
// Asio's async_read_some reads at once, before it waits, and again after each read: on a
// connection where requests and replies alternate, the read after a reply finds the socket
// empty, learns EAGAIN from the kernel and only then waits for epoll. That wasted call is a
// third of a proxy's system calls per request. Asio's reactor can skip it: an operation that
// reports it emptied the socket ("done and exhausted") makes the next one wait for readiness
// without trying first. A short read alone does not prove that: a FIN that came with the last
// bytes raises no new edge on the socket's edge-triggered registration, so a read that waited
// would never see the end of the stream. With TCP_INQ (enable_recv_hint) the kernel says, with
// each read, how many bytes are left, and counts a pending FIN as one: only a read that left
// nothing, not even a FIN, reports the socket emptied. Without the hint (not enabled, or an old
// kernel) it behaves as async_read_some.
//
// Built on Asio's reactor interface (boost::asio::detail) for its epoll reactor, which Asio uses
// on Linux unless built for io_uring; the static_assert stops a build where that changed. Same
// contract as async_read_some: (error, bytes), eof at the end of the stream, operation_aborted
// when the socket is closed or the operation cancelled (per-operation cancellation included,
// as the awaitable operators use it).

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <cerrno>
#include <cstring>
#include <type_traits>

namespace tender {
namespace recv_detail {

namespace ad = boost::asio::detail;
static_assert(std::is_same_v<ad::reactor, ad::epoll_reactor>,
              "tender::async_recv needs Asio's epoll reactor");

using Socket = boost::asio::ip::tcp::socket;
using Impl = ad::reactive_socket_service<boost::asio::ip::tcp>::implementation_type;

// The socket's descriptor and reactor registration (protected in basic_socket).
struct Access : Socket {
  static Impl& impl(Socket& s) { return (s.*(&Access::impl_)).get_implementation(); }
};

class RecvOp : public ad::reactor_op {
 protected:
  RecvOp(int fd, boost::asio::mutable_buffer b, func_type complete)
      : reactor_op(boost::system::error_code(), &perform, complete), fd_(fd), buffer_(b) {}

 private:
  static status perform(ad::reactor_op* base) {
    auto* o = static_cast<RecvOp*>(base);
    iovec iov{o->buffer_.data(), o->buffer_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    for (;;) {
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(o->fd_, &msg, MSG_DONTWAIT);
      if (n > 0) {
        o->bytes_transferred_ = static_cast<std::size_t>(n);
        return left_nothing(msg) ? done_and_exhausted : done;
      }
      if (n == 0) {
        o->ec_ = boost::asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return not_done;
      }
      o->ec_.assign(errno, boost::system::system_category());
      return done;
    }
  }

  // The kernel's TCP_INQ hint says no byte and no FIN is left to read.
  static bool left_nothing(msghdr& msg) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
        int inq = 0;
        std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
        return inq == 0;
      }
    }
    return false;  // no hint: assume more, as Asio does
  }

  int fd_;
  boost::asio::mutable_buffer buffer_;
};

template <typename Handler>
class RecvOpFor : public RecvOp {
 public:
  RecvOpFor(int fd, boost::asio::mutable_buffer b, Handler h)
      : RecvOp(fd, b, &complete), handler_(std::move(h)) {}

 private:
  // owner is null when the io_context is destroyed with the operation pending: only freed.
  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* o = static_cast<RecvOpFor*>(base);
    Handler h = std::move(o->handler_);
    boost::system::error_code ec = o->ec_;
    std::size_t n = o->bytes_transferred_;
    delete o;
    if (owner != nullptr) {
      std::move(h)(ec, n);
    }
  }

  Handler handler_;
};

// Cancels the pending read when the handler's cancellation slot is emitted.
class Cancel {
 public:
  Cancel(ad::epoll_reactor* r, ad::epoll_reactor::per_descriptor_data* d, int fd)
      : reactor_(r), data_(d), fd_(fd) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type &
           (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total))) {
      reactor_->cancel_ops_by_key(fd_, *data_, ad::epoll_reactor::read_op, this);
    }
  }

 private:
  ad::epoll_reactor* reactor_;
  ad::epoll_reactor::per_descriptor_data* data_;
  int fd_;
};

}  // namespace recv_detail

// Asks the kernel for the TCP_INQ hint on `s` (connected TCP), which lets async_recv skip the
// read that would only learn EAGAIN. Harmless where the kernel has no such option.
inline void enable_recv_hint(boost::asio::ip::tcp::socket& s) {
  int one = 1;
  ::setsockopt(s.native_handle(), SOL_TCP, TCP_INQ, &one, sizeof one);
}

// One read of what `s` has into `b` (not empty): (error, bytes). See above.
template <typename Token>
auto async_recv(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      [&s, b](auto handler) {
        namespace rd = recv_detail;
        auto& impl = rd::Access::impl(s);
        auto& reactor = boost::asio::use_service<rd::ad::epoll_reactor>(
            boost::asio::query(s.get_executor(), boost::asio::execution::context));
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto* op = new rd::RecvOpFor<decltype(handler)>(impl.socket_, b, std::move(handler));
        if (slot.is_connected()) {
          op->cancellation_key_ =
              &slot.template emplace<rd::Cancel>(&reactor, &impl.reactor_data_, impl.socket_);
        }
        reactor.start_op(rd::ad::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, op,
                         false, true);
      },
      token);
}

}  // namespace tender

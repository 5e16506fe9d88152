#pragma once
// Socket reads and writes through io_uring, driven from an Asio io_context: operations are
// queued on the ring and submitted together once the handlers ready now have run (one system
// call for many operations), and completions are reaped when the ring's descriptor turns
// readable in the io_context's own poll. Where the kernel, a seccomp policy or the operator
// refuses io_uring, open() says why and callers keep to Asio's socket operations.
//
//   auto ring = tender::Ring::open(ioc);  // an error says why not: then use Asio's sockets
//   auto [ec, n] = co_await (*ring)->async_recv(fd, buf, kTuple);   // n == 0: end of stream
//   auto [ec, n] = co_await (*ring)->async_send(fd, bufs, kTuple);  // may send fewer bytes
//
// A pending operation is not ended by closing the descriptor (the ring holds the socket), and
// an operation queued but not yet submitted names the descriptor by number, which a close
// could hand to a new socket before the submission: end a socket's operations with
// shut_down() and let its owner close it once they have returned. The ring belongs to one
// io_context and is used from its thread only.

#include <sys/uio.h>

#include <array>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/asio_util.hpp"
#include "core/error.hpp"

namespace tender {

class Ring {
 public:
  // A ring for `ioc` (never null), or why there is none: TENDER_IO_URING=off
  // (operation_not_supported), io_uring_setup's errno (no io_uring in the kernel, refused by
  // seccomp or sysctl), or an operation it needs unsupported (function_not_supported).
  [[nodiscard]] static Result<std::unique_ptr<Ring>> open(boost::asio::io_context& ioc);
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  // One receive into `b`: (error, bytes); 0 bytes at the end of the stream.
  template <typename Token>
  auto async_recv(int fd, boost::asio::mutable_buffer b, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this, fd, b](auto handler) {
          auto* op = make_op(std::move(handler));
          submit_recv(fd, b.data(), b.size(), op);
        },
        token);
  }

  // One send of a sequence of up to kMaxBuffers buffers (more: invalid_argument): (error, bytes
  // sent), maybe fewer than given.
  static constexpr std::size_t kMaxBuffers = 8;
  template <typename Buffers, typename Token>
  auto async_send(int fd, const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this, fd, &buffers](auto handler) {
          auto* op = make_op(std::move(handler));
          std::size_t n = 0;
          for (auto it = boost::asio::buffer_sequence_begin(buffers);
               it != boost::asio::buffer_sequence_end(buffers); ++it) {
            boost::asio::const_buffer b(*it);
            if (b.size() == 0) {
              continue;
            }
            if (n == kMaxBuffers) {
              fail_later(op, -EINVAL);
              return;
            }
            op->iov[n++] = iovec{const_cast<void*>(b.data()), b.size()};
          }
          submit_send(fd, n, op);
        },
        token);
  }

 private:
  // An operation the kernel has (or is about to have): in the ring's list of them until its
  // completion is taken, so that a ring destroyed first destroys what is left (a coroutine
  // waiting on one is destroyed with its io_context, as with Asio's own operations).
  struct Op {
    void (*complete)(Op*, int res) = nullptr;
    void (*destroy)(Op*) = nullptr;
    Ring* ring = nullptr;
    Op* prev = nullptr;
    Op* next = nullptr;
    std::array<iovec, kMaxBuffers> iov{};
    msghdr msg{};
  };
  template <typename Handler>
  struct OpFor : Op {
    explicit OpFor(Handler h) : handler(std::move(h)) {
      complete = &finish;
      destroy = &discard;
    }
    static void discard(Op* base) {
      auto* self = static_cast<OpFor*>(base);
      Ring* ring = self->ring;
      self->~OpFor();
      ring->free_block(self, sizeof(OpFor));
    }
    static void finish(Op* base, int res) {
      auto* self = static_cast<OpFor*>(base);
      Handler h = std::move(self->handler);
      discard(self);
      boost::system::error_code ec;
      std::size_t n = 0;
      if (res < 0) {
        ec.assign(-res, boost::system::system_category());
      } else {
        n = static_cast<std::size_t>(res);
      }
      std::move(h)(ec, n);
    }
    Handler handler;
  };
  template <typename Handler>
  Op* make_op(Handler handler) {
    static_assert(alignof(OpFor<Handler>) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    auto* op = new (alloc_block(sizeof(OpFor<Handler>))) OpFor<Handler>(std::move(handler));
    op->ring = this;
    return op;
  }
  // Operations' memory: blocks of kBlock bytes are kept for the next operation (a few hundred at
  // most), so that a busy ring allocates none; larger operations use the heap.
  static constexpr std::size_t kBlock = 320;
  void* alloc_block(std::size_t size);
  void free_block(void* p, std::size_t size);

  struct Impl;
  Ring(boost::asio::io_context& ioc, std::unique_ptr<Impl> impl);
  void submit_recv(int fd, void* data, std::size_t size, Op* op);
  void submit_send(int fd, std::size_t buffers, Op* op);
  void post_submit();
  void fail_later(Op* op, int error);
  void link(Op* op);
  void unlink(Op* op);
  void wait();
  void reap();

  boost::asio::io_context& ioc_;
  std::unique_ptr<Impl> impl_;
  boost::asio::posix::stream_descriptor ready_;  // the ring's descriptor: readable with CQEs
  bool submit_posted_ = false;
  Op* ops_ = nullptr;  // operations not yet completed
  std::vector<void*> spare_blocks_;
};

}  // namespace tender

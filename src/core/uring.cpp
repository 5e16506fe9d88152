#include "core/uring.hpp"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace tender {

namespace asio = boost::asio;

struct Ring::Impl {
  io_uring ring{};
  bool live = false;
  bool plain_send = false;  // IORING_OP_SEND (5.6): one buffer without a msghdr to copy in
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (live) {
      io_uring_queue_exit(&ring);
    }
  }
  io_uring_sqe* next_sqe();
};

namespace {

constexpr unsigned kEntries = 256;       // submission queue
constexpr unsigned kCompletions = 4096;  // completion queue: room for many finished at once

}  // namespace

Result<std::unique_ptr<Ring>> Ring::open(asio::io_context& ioc) {
  if (const char* env = std::getenv("TENDER_IO_URING");
      env != nullptr && (std::string_view(env) == "off" || std::string_view(env) == "0")) {
    return Error(std::errc::operation_not_supported,
                 "turned off (TENDER_IO_URING=" + std::string(env) + ")");
  }
  auto impl = std::make_unique<Impl>();
  // Completions of operations the kernel finished on another CPU (data arrived for a receive)
  // are work for this thread. By default the kernel interrupts the thread for it at once, with
  // an inter-processor interrupt when it is running: one for every few requests under load (a
  // VM exit on both ends in a virtual machine). Cooperative task running leaves the work for the
  // thread's next system call, which its loop makes at every turn (and a sleeping thread is
  // still woken); the flag tells liburing to enter the kernel for it when it finds no
  // completion. Kernels before 5.19 refuse both: the ring then works as before.
  io_uring_params params{};
  int rc = -EINVAL;
  for (unsigned cooperative : {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0U}) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE | cooperative;
    params.cq_entries = kCompletions;
    rc = io_uring_queue_init_params(kEntries, &impl->ring, &params);
    if (rc != -EINVAL) {
      break;
    }
  }
  if (rc < 0) {
    return Error::from_errno(-rc, "io_uring_setup");
  }
  impl->live = true;
  // Completions held back when the queue was full, and single mmap: both in every kernel that
  // has the operations below; without them a burst could lose completions.
  if ((params.features & IORING_FEAT_NODROP) == 0) {
    return Error(std::errc::function_not_supported,
                 "the kernel's io_uring may drop completions (no IORING_FEAT_NODROP)");
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&impl->ring);
  bool ops = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_RECV) != 0 &&
             io_uring_opcode_supported(probe, IORING_OP_SENDMSG) != 0;
  bool plain_send = ops && io_uring_opcode_supported(probe, IORING_OP_SEND) != 0;
  io_uring_free_probe(probe);
  if (!ops) {
    return Error(std::errc::function_not_supported, "the kernel's io_uring lacks RECV or SENDMSG");
  }
  impl->plain_send = plain_send;
  return std::unique_ptr<Ring>(new Ring(ioc, std::move(impl)));
}

Ring::Ring(asio::io_context& ioc, std::unique_ptr<Impl> impl)
    : ioc_(ioc), impl_(std::move(impl)), ready_(ioc, ::dup(impl_->ring.ring_fd)) {
  wait();
}

// The ring goes first (the kernel cancels what it still has, and touches none of its buffers
// after that), then the operations it left: their handlers are destroyed without being called.
Ring::~Ring() {
  boost::system::error_code ignored;
  ready_.close(ignored);
  impl_.reset();
  while (ops_ != nullptr) {
    Op* op = ops_;
    unlink(op);
    op->destroy(op);
  }
  for (void* p : spare_blocks_) {
    ::operator delete(p);
  }
}

namespace {
constexpr std::size_t kSpareBlocks = 512;
}  // namespace

void* Ring::alloc_block(std::size_t size) {
  if (size > kBlock) {
    return ::operator new(size);
  }
  if (spare_blocks_.empty()) {
    return ::operator new(kBlock);
  }
  void* p = spare_blocks_.back();
  spare_blocks_.pop_back();
  return p;
}

void Ring::free_block(void* p, std::size_t size) {
  if (size > kBlock || spare_blocks_.size() >= kSpareBlocks) {
    ::operator delete(p);
    return;
  }
  spare_blocks_.push_back(p);
}

void Ring::link(Op* op) {
  op->prev = nullptr;
  op->next = ops_;
  if (ops_ != nullptr) {
    ops_->prev = op;
  }
  ops_ = op;
}

void Ring::unlink(Op* op) {
  (op->prev != nullptr ? op->prev->next : ops_) = op->next;
  if (op->next != nullptr) {
    op->next->prev = op->prev;
  }
  op->prev = op->next = nullptr;
}

io_uring_sqe* Ring::Impl::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {  // the queue is full: send what is in it first
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

// An operation that found no room even after the queue was submitted (the kernel refused the
// submission) fails, later, rather than waiting for room that may not come.
void Ring::fail_later(Op* op, int error) {
  link(op);
  asio::post(ioc_, [this, op, error] {
    unlink(op);
    op->complete(op, error);
  });
}

void Ring::submit_recv(int fd, void* data, std::size_t size, Op* op) {
  io_uring_sqe* sqe = impl_->next_sqe();
  if (sqe == nullptr) {
    fail_later(op, -EBUSY);
    return;
  }
  io_uring_prep_recv(sqe, fd, data, size, 0);
  io_uring_sqe_set_data(sqe, op);
  link(op);
  post_submit();
}

// Submits once the handlers ready now have run, and takes the completions the kernel made
// while submitting (a send, a receive with data waiting) without waiting for the loop's poll.
void Ring::post_submit() {
  if (!submit_posted_) {
    submit_posted_ = true;
    asio::post(ioc_, [this] {
      submit_posted_ = false;
      int rc = io_uring_submit(&impl_->ring);
      reap();
      if (rc == -EBUSY || rc == -EAGAIN) {
        post_submit();  // completions were owed first; what is queued goes next turn
      }
    });
  }
}

void Ring::submit_send(int fd, std::size_t buffers, Op* op) {
  io_uring_sqe* sqe = impl_->next_sqe();
  if (sqe == nullptr) {
    fail_later(op, -EBUSY);
    return;
  }
  if (buffers == 1 && impl_->plain_send) {
    io_uring_prep_send(sqe, fd, op->iov[0].iov_base, op->iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    op->msg = msghdr{};
    op->msg.msg_iov = op->iov.data();
    op->msg.msg_iovlen = buffers;
    io_uring_prep_sendmsg(sqe, fd, &op->msg, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data(sqe, op);
  link(op);
  post_submit();
}

void Ring::wait() {
  ready_.async_wait(asio::posix::descriptor_base::wait_read,
                    [this](const boost::system::error_code& ec) {
                      if (ec) {
                        return;  // closed: the ring is going away
                      }
                      reap();
                      wait();
                    });
}

void Ring::reap() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&impl_->ring, &cqe) == 0) {
    auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&impl_->ring, cqe);
    unlink(op);
    op->complete(op, res);  // resumes the waiting coroutine, which may queue more
  }
}

}  // namespace tender

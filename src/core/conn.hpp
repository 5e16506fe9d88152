#pragma once
// Connections with deadlines, read and written through io_uring where there is a ring: what the
// proxy's listeners and the HTTP server share.
//
//   Deadlines deadlines(ioc, ring);             // one per loop; deadlines.spawn(owner)
//   Conn c(std::move(socket));
//   deadlines.add(c);                           // leaves it when c is destroyed
//   if (!co_await read_more(deadlines, c, SteadyClock::now() + 5s)) { ... }  // c.in has the bytes
//   co_await write_all(deadlines, c, buffers, SteadyClock::now() + 5s);
//
// Timeouts without a timer each: a connection carries the time by which its current wait must
// end, and one timer per Deadlines shuts down those whose time passed. Setting a deadline is a
// field write; the timer moves only when a deadline comes before every other one, so a steady
// stream of requests with the same timeout never touches it. One thread only (the loop's).
//
// read_more() and write_all() go through the Deadlines' io_uring ring when it has one, else
// through Asio's socket operations. A connection whose time passed is shut down, which ends
// what is pending on it either way; its owner closes it.

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/asio_util.hpp"
#include "core/uring.hpp"

namespace tender {

using SteadyClock = std::chrono::steady_clock;

// Bytes read from a socket and not yet consumed, without zero-filling on every read.
class ReadBuffer {
 public:
  // Room for at least `n` more bytes after the unread ones.
  boost::asio::mutable_buffer prepare(std::size_t n) {
    if (buf_.size() - end_ < n && begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < n) {
      buf_.resize(end_ + n);
    }
    return boost::asio::buffer(buf_.data() + end_, n);
  }
  void commit(std::size_t n) { end_ += n; }
  [[nodiscard]] std::string_view data() const { return {buf_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    }
  }
  void clear() { begin_ = end_ = 0; }
  // Gives back the memory of a buffer that once held far more than it does now (a large
  // command or body came and went): room for at most `keep` bytes stays, if the unread ones fit.
  void shrink(std::size_t keep) {
    std::size_t unread = end_ - begin_;
    if (buf_.size() <= keep || unread > keep) {
      return;
    }
    std::vector<char> next(buf_.begin() + static_cast<std::ptrdiff_t>(begin_),
                           buf_.begin() + static_cast<std::ptrdiff_t>(end_));
    next.shrink_to_fit();
    buf_.swap(next);
    begin_ = 0;
    end_ = unread;
  }
  // Bytes of memory the buffer holds.
  [[nodiscard]] std::size_t room() const { return buf_.size(); }

 private:
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class Deadlines;

// A socket, the bytes read from it and not yet used, and the time by which its current wait
// must end (the listener's sweeper shuts it down then). It leaves its Deadlines when destroyed,
// however its coroutine ended.
struct Conn {
  explicit Conn(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();
  boost::asio::ip::tcp::socket socket;
  ReadBuffer in;
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
  bool timed_out = false;
  bool eof = false;                 // the last read that failed found the end of the stream
  boost::system::error_code error;  // what the last read that failed returned (none: eof)
  bool client = false;              // a downstream connection
  bool idle = false;                // a client waiting for its next request, nothing read of it
  std::string out;                  // a small write's pieces copied together (send_all)
  Deadlines* list = nullptr;        // the Deadlines it is in
  Conn* prev = nullptr;
  Conn* next = nullptr;
};

// Timeouts for many connections with one timer: a connection's deadline is a field write, and
// the timer is moved only when a deadline comes before every other one.
class Deadlines {
 public:
  explicit Deadlines(boost::asio::io_context& ioc, Ring* ring = nullptr)
      : timer_(ioc), ring_(ring) {}
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;
  ~Deadlines() {
    for (Conn* c = head_; c != nullptr; c = c->next) {
      c->list = nullptr;
    }
  }

  void add(Conn& c) {
    if (c.list != nullptr) {
      return;
    }
    c.list = this;
    c.next = head_;
    if (head_ != nullptr) {
      head_->prev = &c;
    }
    head_ = &c;
  }
  void remove(Conn& c) {
    if (c.list != this) {
      return;
    }
    (c.prev != nullptr ? c.prev->next : head_) = c.next;
    if (c.next != nullptr) {
      c.next->prev = c.prev;
    }
    c.prev = c.next = nullptr;
    c.list = nullptr;
    if (head_ == nullptr && stopping_) {
      timer_.cancel();
    }
  }
  void set(Conn& c, SteadyClock::time_point at) {
    c.deadline = at;
    if (at < next_) {
      next_ = at;
      timer_.expires_at(at);  // wakes run(), which waits again for the new time
    }
  }
  void set(Conn& c, std::chrono::milliseconds d) { set(c, SteadyClock::now() + d); }
  static void clear(Conn& c) { c.deadline = SteadyClock::time_point::max(); }
  [[nodiscard]] Conn* head() const { return head_; }
  // The ring the connections' reads and writes go through; null: Asio's sockets.
  [[nodiscard]] Ring* ring() const { return ring_; }

  // Shuts down connections whose deadline passed (timed_out tells their coroutine why). Ends once
  // stop() was called and no connection is left.
  boost::asio::awaitable<void> run() {
    for (;;) {
      if (stopping_ && head_ == nullptr) {
        co_return;
      }
      timer_.expires_at(next_);
      co_await timer_.async_wait(kTuple);
      auto now = SteadyClock::now();
      if (now < next_) {
        continue;
      }
      next_ = SteadyClock::time_point::max();
      for (Conn* c = head_; c != nullptr; c = c->next) {
        if (c->deadline <= now) {
          c->timed_out = true;
          c->deadline = SteadyClock::time_point::max();
          shut_down(c->socket);
        } else {
          next_ = std::min(next_, c->deadline);
        }
      }
    }
  }
  // Starts run() on the timer's executor, keeping `owner` (what holds this) alive meanwhile.
  void spawn(std::shared_ptr<void> owner) {
    boost::asio::co_spawn(
        timer_.get_executor(),
        [this, owner = std::move(owner)]() -> boost::asio::awaitable<void> { co_await run(); },
        boost::asio::detached);
  }
  void stop() {
    stopping_ = true;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  Ring* ring_;
  Conn* head_ = nullptr;
  SteadyClock::time_point next_ = SteadyClock::time_point::max();
  bool stopping_ = false;
};

// Reads more of `c` into its buffer by `deadline`; false on end of stream, error or timeout
// (c.timed_out then says which).
inline boost::asio::awaitable<bool> read_more(Deadlines& d, Conn& c,
                                              SteadyClock::time_point deadline,
                                              std::size_t chunk = 16 * 1024) {
  d.set(c, deadline);
  boost::system::error_code ec;
  std::size_t n = 0;
  if (Ring* ring = d.ring()) {
    std::tie(ec, n) =
        co_await ring->async_recv(c.socket.native_handle(), c.in.prepare(chunk), kTuple);
  } else {
    std::tie(ec, n) = co_await c.socket.async_read_some(c.in.prepare(chunk), kTuple);
  }
  Deadlines::clear(c);
  if (ec || n == 0) {
    c.eof = ec ? ec == boost::asio::error::eof : true;
    c.error = ec;
    co_return false;
  }
  c.in.commit(n);
  co_return true;
}

// Sends all of `buffers` (at most Ring::kMaxBuffers of them) on `c`, through `ring` when not
// null: (error, bytes sent). No deadline of its own: set one first. Through the ring, pieces of
// up to kCoalesce bytes in all are copied into c.out and go as one plain send, without a
// message header and a vector for the kernel to copy in (a head and a small body, say); so one
// send_all at a time per connection.
inline constexpr std::size_t kCoalesce = 4096;
template <typename Buffers>
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> send_all(
    Ring* ring, Conn& c, Buffers buffers) {
  if (ring == nullptr) {
    co_return co_await boost::asio::async_write(c.socket, buffers, kTuple);
  }
  std::array<boost::asio::const_buffer, Ring::kMaxBuffers> left{};
  std::size_t count = 0;
  for (auto it = boost::asio::buffer_sequence_begin(buffers);
       it != boost::asio::buffer_sequence_end(buffers); ++it) {
    boost::asio::const_buffer b(*it);
    if (b.size() == 0) {
      continue;
    }
    if (count == left.size()) {
      co_return std::tuple{boost::system::error_code(boost::asio::error::invalid_argument), 0};
    }
    left[count++] = b;
  }
  if (count > 1 && boost::asio::buffer_size(std::span(left.data(), count)) <= kCoalesce) {
    c.out.clear();
    for (std::size_t i = 0; i < count; ++i) {
      c.out.append(static_cast<const char*>(left[i].data()), left[i].size());
    }
    left[0] = boost::asio::buffer(c.out);
    count = 1;
  }
  std::size_t sent = 0;
  std::size_t first = 0;
  while (first < count) {
    std::span<const boost::asio::const_buffer> rest(left.data() + first, count - first);
    auto [ec, n] = co_await ring->async_send(c.socket.native_handle(), rest, kTuple);
    if (ec || n == 0) {
      co_return std::tuple{ec ? ec : boost::asio::error::connection_reset, sent};
    }
    sent += n;
    while (n > 0) {  // past what went
      std::size_t step = std::min(n, left[first].size());
      left[first] += step;
      n -= step;
      if (left[first].size() == 0) {
        ++first;
      }
    }
  }
  co_return std::tuple{boost::system::error_code{}, sent};
}

namespace detail {
// What is left of a send_then(): sends the rest until all went, then calls `done`.
template <typename Handler>
struct SendRest {
  Ring* ring;
  int fd;
  std::string_view left;
  std::size_t sent;
  Handler done;
  void operator()(boost::system::error_code ec, std::size_t n) {
    sent += n;
    left.remove_prefix(std::min(n, left.size()));
    if (!ec && n == 0 && !left.empty()) {
      ec = boost::asio::error::connection_reset;
    }
    if (ec || left.empty()) {
      std::move(done)(ec, sent);
      return;
    }
    Ring* r = ring;
    int f = fd;
    boost::asio::const_buffer rest(left.data(), left.size());
    r->async_send(f, rest, std::move(*this));
  }
};
}  // namespace detail

// Sends all of `data` on `c`, through `ring` when not null, then calls done(error, bytes sent):
// callback style, for a writer that gathers what comes while a write is under way and sends it
// next. `data` and `c` must stay put until then (`done` holds their owner). No deadline of its
// own.
template <typename Handler>
void send_then(Ring* ring, Conn& c, std::string_view data, Handler done) {
  if (ring == nullptr) {
    boost::asio::async_write(c.socket, boost::asio::buffer(data), std::move(done));
    return;
  }
  int fd = c.socket.native_handle();
  boost::asio::const_buffer all(data.data(), data.size());
  ring->async_send(fd, all, detail::SendRest<Handler>{ring, fd, data, 0, std::move(done)});
}

// Writes all of `buffers` to `c` by `deadline`; false on error or timeout.
template <typename Buffers>
boost::asio::awaitable<bool> write_all(Deadlines& d, Conn& c, Buffers buffers,
                                       SteadyClock::time_point deadline) {
  d.set(c, deadline);
  auto [ec, n] = co_await send_all(d.ring(), c, buffers);
  Deadlines::clear(c);
  co_return !ec;
}

inline Conn::~Conn() {
  if (list != nullptr) {
    list->remove(*this);
  }
}

}  // namespace tender

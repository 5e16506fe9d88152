// The redis listener's connections to servers (redis_conn.hpp): one pipelined connection per
// worker and server, shared by the worker's clients, whose replies are delivered to the slots
// that wait for them in the order the requests went.
#include <optional>
#include <string>
#include <utility>

#include "ambassador/redis_conn.hpp"
#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"

namespace tender::ambassador::redis_internal {
namespace {

constexpr std::size_t kReadChunk = 16384;  // from servers

}  // namespace

ServerConn::~ServerConn() {
  owed_ = 0;
  report_active();
}

void ServerConn::send(std::string_view bytes, SlotPtr slot, int index) {
  out_.append(bytes);
  auto sent = slot ? slot->started : SteadyClock::now();
  owed_ += slot ? 1 : 0;  // reported by the write that takes it (kick) or by fail_all
  if (waiting_.empty() && connected_) {  // the oldest request now: its limit is the deadline
    deadlines_.set(link_->conn, sent + timeout_);
  }
  waiting_.push_back(Waiting{std::move(slot), index, sent});
  endpoint_.stats->m_requests->inc();
  if (!running_) {
    running_ = true;
    asio::co_spawn(worker_.ioc(), run(shared_from_this(), listener_.lock()), asio::detached);
  } else if (connected_ && !kick_posted_) {
    // Once the handlers ready now have run: the requests of every client served meanwhile
    // leave in one write.
    kick_posted_ = true;
    worker_.after_ready([self = shared_from_this()] {
      self->kick_posted_ = false;
      if (self->connected_) {
        self->kick();
      }
    });
  }
}

void ServerConn::close() {
  closed_ = true;
  if (!link_) {
    return;
  }
  if (connected_) {
    shut_down(link_->conn.socket);  // ends the read loop, and a write under way
  } else {
    boost::system::error_code ignored;
    link_->conn.socket.close(ignored);  // ends the connect (Asio's, no ring operation)
  }
}

void ServerConn::retire() {
  retiring_ = true;
  if (waiting_.empty()) {
    close();
  }
}

asio::awaitable<void> ServerConn::run(std::shared_ptr<ServerConn> self,
                                      std::shared_ptr<void> keep) {
  auto link = std::make_shared<Link>(tcp::socket(self->worker_.ioc()));
  self->link_ = link;
  auto connect_timeout = self->cluster_->connect_timeout();
  auto ec = co_await connect_upstream(link->conn.socket, self->cluster_, self->endpoint_,
                                      connect_timeout, self->lease_);
  if (!ec && self->closed_) {
    ec = asio::error::operation_aborted;
  }
  if (ec) {
    self->link_.reset();
    if (self->closed_) {
      self->fail_all(std::nullopt, "ERR upstream " + self->endpoint_.name + " closed");
    } else if (ec == asio::error::no_buffer_space) {  // not the server's fault: not recorded
      self->fail_all(std::nullopt,
                     "ERR cluster " + self->cluster_->name() + " is at its max_connections limit");
    } else {
      self->fail_all(ec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure,
                     "ERR upstream " + self->endpoint_.name + " unavailable: " + ec.message());
    }
    self->lease_.release();
    self->running_ = false;
    co_return;
  }
  // With a password, AUTH goes first; its reply is checked, not delivered (a null slot).
  if (auto auth = self->cluster_->auth(); !auth.password.empty()) {
    std::string cmd;
    resp::append_auth(cmd, auth.user, auth.password);
    self->out_.insert(0, cmd);
    self->waiting_.push_front(Waiting{nullptr, -1, SteadyClock::now()});
  }
  self->failure_ = Outcome::kReset;
  self->why_.clear();
  self->deadlines_.add(link->conn);
  self->connected_ = true;
  self->kick();
  co_await self->read_loop(*link);
  self->connected_ = false;
  self->link_.reset();
  shut_down(link->conn.socket);  // a write still under way fails; its handler holds the link
  self->deadlines_.remove(link->conn);
  link.reset();
  if (self->closed_) {
    self->fail_all(std::nullopt, "ERR upstream " + self->endpoint_.name + " closed");
  } else {
    self->fail_all(self->failure_, "ERR upstream " + self->endpoint_.name + " " + self->why_);
  }
  self->out_.clear();
  self->lease_.release();
  self->framer_.reset();
  self->running_ = false;
  // Requests queued while the connection was dying start a new one.
  if (!self->waiting_.empty() && !self->closed_) {
    self->running_ = true;
    asio::co_spawn(self->worker_.ioc(), run(self, std::move(keep)), asio::detached);
  }
}

void ServerConn::kick() {
  report_active();
  Link* link = link_.get();
  if (!connected_ || link->writing || out_.empty()) {
    return;
  }
  link->writing = true;
  link->wbuf.clear();
  link->wbuf.swap(out_);
  send_then(deadlines_.ring(), link->conn, link->wbuf,
            [self = shared_from_this(), link = link_](const boost::system::error_code& ec,
                                                      std::size_t n) {
              link->writing = false;
              self->endpoint_.stats->m_bytes_out->inc(n);
              if (link != self->link_) {
                return;  // that connection is gone
              }
              if (ec) {
                // Shut down for a timeout or a close, the read loop says so; else why.
                if (!link->conn.timed_out && !self->closed_) {
                  self->failure_ = Outcome::kReset;
                  self->why_ = "write failed: " + ec.message();
                  shut_down(link->conn.socket);  // the read loop ends the connection
                }
                return;
              }
              self->kick();
            });
}

asio::awaitable<void> ServerConn::read_loop(Link& link) {
  Conn& c = link.conn;
  for (;;) {
    std::size_t before = c.in.data().size();
    if (!co_await read_more(deadlines_, c, due(), kReadChunk)) {
      if (closed_) {
        why_ = "closed";
      } else if (c.timed_out) {
        failure_ = Outcome::kTimeout;
        why_ = "timed out after " + format_duration(timeout_);
      } else if (!why_.empty()) {
        // a write failed and said why
      } else {
        failure_ = Outcome::kReset;
        why_ = c.eof ? "closed the connection" : "read failed: " + c.error.message();
      }
      co_return;
    }
    std::string_view data = c.in.data();
    endpoint_.stats->m_bytes_in->inc(data.size() - before);
    std::size_t used = 0;
    auto now = SteadyClock::now();  // one clock read for the replies of this read
    for (;;) {
      std::size_t length = 0;
      auto r = framer_.next(data.substr(used), length, limits_);
      if (r.status == resp::Status::kIncomplete) {
        break;
      }
      if (r.status == resp::Status::kError || waiting_.empty()) {
        failure_ = Outcome::kProtocolError;
        why_ = r.status == resp::Status::kError ? "sent garbage: " + r.error
                                                : "sent a reply nobody asked for";
        co_return;
      }
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      std::string_view reply = data.substr(used, length);
      if (!w.slot) {  // the answer to our AUTH
        if (reply.empty() || reply[0] == '-') {
          failure_ = Outcome::kProtocolError;
          why_ = "refused AUTH: " + std::string(reply.substr(1, reply.find('\r') - 1));
          co_return;
        }
        used += length;
        continue;
      }
      --owed_;
      endpoint_.stats->m_latency->observe(std::chrono::duration<double>(now - w.sent).count());
      cluster_->record(endpoint_, Outcome::kSuccess);
      deliver(std::move(w.slot), w.index, reply);
      used += length;
      if (retiring_ && waiting_.empty()) {
        closed_ = true;
        why_ = "closed";
        co_return;
      }
    }
    c.in.consume(used);
    report_active();
  }
}

void ServerConn::fail_all(std::optional<Outcome> outcome, const std::string& message) {
  if (waiting_.empty()) {
    report_active();
    return;
  }
  if (outcome) {
    cluster_->record(endpoint_, *outcome);
  }
  std::string reply;
  resp::append_error(reply, message);
  while (!waiting_.empty()) {
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    if (w.slot) {
      --owed_;
      deliver(std::move(w.slot), w.index, reply);
    }
  }
  out_.clear();
  report_active();
}

void ServerConn::report_active() {
  auto& active = endpoint_.stats->active;
  if (owed_ > reported_) {
    active.fetch_add(owed_ - reported_, std::memory_order_relaxed);
  } else if (owed_ < reported_) {
    active.fetch_sub(reported_ - owed_, std::memory_order_relaxed);
  }
  reported_ = owed_;
}

}  // namespace tender::ambassador::redis_internal

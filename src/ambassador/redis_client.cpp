// The redis listener's client connections (redis_conn.hpp): the loop that reads and parses a
// client's commands, and the replies owed to it, sent in the order of its commands as they
// become ready. What each command does is in redis_commands.cpp.
#include <atomic>
#include <chrono>
#include <iterator>
#include <string>
#include <utility>

#include "ambassador/redis_conn.hpp"
#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"

namespace tender::ambassador::redis_internal {
namespace {

std::atomic<std::uint64_t> next_client_id{1};

constexpr std::size_t kMaxPipeline = 512;        // replies owed to one client before it is paused
constexpr std::size_t kMaxOwedBytes = 16 << 20;  // reply bytes waiting for one client, the same
constexpr std::size_t kClientReadChunk = 4096;   // from clients: small while idle
constexpr std::size_t kLargeReadChunk = 65536;   // from a client in the middle of a large command
constexpr std::size_t kKeptInput = 65536;        // buffer room a client keeps between commands
constexpr std::size_t kSpareSlots = 64;          // slots kept per client for reuse

}  // namespace

void finish(SlotPtr slot) {
  slot->done = true;
  slot->end_request();
  ClientSession* owner = slot->owner;
  slot.reset();
  if (owner) {
    owner->on_done();
  }
}

void ClientSession::on_done() {
  if (--undone_ == 0) {
    flush();  // nothing else is owed: no reason to wait
    return;
  }
  if (!flush_posted_ && !slots_.empty() && slots_.front()->done) {
    flush_posted_ = true;
    asio::post(listener_->worker().ioc(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }
}

ClientSession::ClientSession(std::shared_ptr<RedisListener> l, tcp::socket s,
                             std::shared_ptr<const ListenerState> state)
    : listener_(std::move(l)),
      conn_(std::move(s)),
      state_(std::move(state)),
      id_(next_client_id.fetch_add(1, std::memory_order_relaxed)) {
  set_limits();
}

void ClientSession::set_limits() {
  const auto& config = state_->config;
  if (!config.auth.empty() && !authed_) {
    limits_ = resp::kUnauthenticated;
  } else {
    limits_ = resp::Limits{};
    limits_.max_bulk = config.max_bulk_bytes;
  }
}

void ClientSession::hold(std::size_t bytes) {
  if (bytes == held_) {
    return;
  }
  if (held_gauge_ == nullptr) {
    held_gauge_ = state_->buffered;
  }
  held_gauge_->inc(static_cast<double>(bytes) - static_cast<double>(held_));
  held_ = bytes;
  // A command under way that takes the listener's clients past max_input_bytes is refused:
  // what a client can make the proxy hold is bounded for all of them together.
  if (bytes > kClientReadChunk && !closing_ &&
      held_gauge_->value() > static_cast<double>(state_->config.max_input_bytes)) {
    state_->errors->with({state_->config.name, "input_limit"}).inc();
    std::string err;
    resp::append_error(err,
                       "ERR tender proxy: the commands its clients are sending take more "
                       "than max_input_bytes (" +
                           std::to_string(state_->config.max_input_bytes) +
                           " bytes) to hold; try again");
    reply_now(std::move(err));
    closing_ = true;  // as for a protocol error: the rest of the command cannot be skipped
  }
}

asio::awaitable<void> ClientSession::run(std::shared_ptr<ClientSession> self) {
  auto& l = *self->listener_;
  l.clients_.push_back(self.get());
  auto it = std::prev(l.clients_.end());
  l.deadlines().add(self->conn_);
  l.count_->fetch_add(1);
  self->state_->connections->inc();
  if (l.stopped()) {
    self->closing_ = true;  // accepted as the listener stopped: let go as the idle ones were
  }
  ReadBuffer& in = self->conn_.in;
  resp::Command cmd;
  auto idle = self->state_->config.effective_idle_timeout();
  asio::steady_timer waiting(l.worker().ioc());
  for (;;) {
    // Paused while too many replies are owed, or too many bytes of them wait for a client that
    // does not read: the client's pipelining cannot grow memory. Replies going out (kick())
    // end the pause.
    while ((self->slots_.size() >= kMaxPipeline || self->out_.size() >= kMaxOwedBytes) &&
           !self->closing_ && !self->closed_) {
      co_await wait_for_wake(*self, waiting);
    }
    if (self->closing_) {
      break;
    }
    std::size_t chunk = in.data().size() >= kClientReadChunk ? kLargeReadChunk : kClientReadChunk;
    if (!co_await read_more(l.deadlines(), self->conn_, SteadyClock::now() + idle, chunk)) {
      break;  // closed, failed or idle
    }
    self->now_ = SteadyClock::now();
    // A reload applies from the next commands on.
    self->state_ = l.state();
    std::size_t used = 0;
    std::string_view data = in.data();
    while (!self->closing_) {
      self->set_limits();  // an AUTH just read lifts those of a client not yet authenticated
      auto pr = resp::parse_command(data.substr(used), cmd, self->limits_);
      if (pr.status == resp::Status::kIncomplete) {
        break;
      }
      if (pr.status == resp::Status::kError) {
        self->state_->errors->with({self->state_->config.name, "protocol"}).inc();
        self->reply_now("-ERR " + pr.error + "\r\n");
        self->closing_ = true;  // as redis-server: answer, then close
        break;
      }
      if (!cmd.args.empty()) {
        self->handle(cmd, data.substr(used, cmd.size));
      }
      used += cmd.size;
    }
    in.consume(used);
    self->hold(in.data().size());
    if (in.data().empty()) {
      in.shrink(kKeptInput);  // the memory of a large command that came and went
    }
  }
  self->hold(0);
  // Whatever is owed is still sent (QUIT, protocol errors); then the connection closes.
  self->closing_ = true;
  while (!self->closed_ && (!self->slots_.empty() || self->writing_ || !self->out_.empty())) {
    co_await wait_for_wake(*self, waiting);
  }
  self->maybe_close();
  l.deadlines().remove(self->conn_);
  l.clients_.erase(it);
  l.session_ended();
  l.count_->fetch_sub(1);
  self->state_->connections->dec();
}

asio::awaitable<void> ClientSession::wait_for_wake(ClientSession& s, asio::steady_timer& timer) {
  timer.expires_at(asio::steady_timer::time_point::max());
  s.wake_ = &timer;
  co_await timer.async_wait(kTuple);
  s.wake_ = nullptr;
}

void ClientSession::kick() {
  wake();  // the run loop may be waiting for replies to go (it looks once this has run)
  if (writing_ || closed_) {
    return;
  }
  if (out_.empty()) {
    maybe_close();
    return;
  }
  writing_ = true;
  wbuf_.clear();
  wbuf_.swap(out_);
  send_then(listener_->deadlines().ring(), conn_, wbuf_,
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
              self->writing_ = false;
              if (ec) {
                self->close();
                return;
              }
              self->kick();
            });
}

void ClientSession::maybe_close() {
  if (closing_ && !closed_ && slots_.empty() && !writing_ && out_.empty()) {
    closed_ = true;
    shut_down(conn_.socket);  // closed with the session, once no operation is left on it
  }
}

void ClientSession::flush() {
  bool any = false;
  SteadyClock::time_point now;
  while (!slots_.empty() && slots_.front()->done) {
    if (!any) {
      now = SteadyClock::now();
    }
    auto s = std::move(slots_.front());
    slots_.pop_front();
    out_ += s->reply;
    state_->latency->observe(std::chrono::duration<double>(now - s->started).count());
    if (s.unique() && spare_.size() < kSpareSlots) {
      spare_.push_back(std::move(s));  // nothing else holds it: reuse it
    }
    any = true;
  }
  if (any) {
    kick();
  }
}

SlotPtr ClientSession::new_slot() {
  SlotPtr s;
  if (!spare_.empty()) {
    s = std::move(spare_.back());
    spare_.pop_back();
    s->reset();
  } else {
    s = SlotPtr(new Slot);
    s->owner = this;
  }
  s->started = now_;
  return s;
}

SlotPtr ClientSession::upstream_slot() {
  const auto& cluster = state_->clusters.front();
  if (!cluster->try_request()) {
    state_->errors->with({state_->config.name, "overflow"}).inc();
    std::string err;
    resp::append_error(err, "ERR cluster " + cluster->name() + " is at its max_requests limit");
    reply_now(std::move(err));
    return nullptr;
  }
  auto s = new_slot();
  if (s->cluster != cluster) {
    s->cluster = cluster;
  }
  s->counted = true;
  ++undone_;
  return s;
}

void ClientSession::reply_now(std::string reply) {
  auto slot = new_slot();
  slot->reply = std::move(reply);
  slot->done = true;
  slots_.push_back(slot);
  flush();
}

}  // namespace tender::ambassador::redis_internal

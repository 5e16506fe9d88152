// The redis listener: a RESP2 proxy that shards by key over a cluster, as twemproxy does.
// Each worker keeps one pipelined connection per server, shared by its clients; replies go
// back to every client in the order of its commands, whatever order the servers answer in.
#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"
#include "core/http.hpp"
#include "core/log.hpp"

namespace tender::ambassador {
namespace {

std::atomic<std::uint64_t> next_client_id{1};

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxPipeline = 512;        // replies owed to one client before it is paused
constexpr std::size_t kMaxOwedBytes = 16 << 20;  // reply bytes waiting for one client, the same
constexpr std::size_t kReadChunk = 16384;        // from servers
constexpr std::size_t kClientReadChunk = 4096;   // from clients: small while idle
constexpr std::size_t kLargeReadChunk = 65536;   // from a client in the middle of a large command
constexpr std::size_t kKeptInput = 65536;        // buffer room a client keeps between commands
constexpr std::size_t kSpareSlots = 64;          // slots kept per client for reuse

class ClientSession;

// One reply owed to a client. A command split over shards has one part per shard.
struct Slot {
  enum class Combine { kNone, kMget, kSum, kAllOk };
  std::string reply;
  bool done = false;
  Combine combine = Combine::kNone;
  int parts_pending = 0;
  std::vector<std::string> parts;                   // each shard's raw reply
  std::vector<std::vector<std::size_t>> positions;  // kMget: part -> indexes in the request
  std::size_t keys = 0;                             // kMget: keys asked for
  Clock::time_point started;       // when the client's read that brought the command ended
  ClientSession* owner = nullptr;  // cleared when the client's session ends
  std::uint32_t refs = 0;          // SlotPtr
  // Sent upstream: holds a slot of the cluster's max_requests until answered. The cluster
  // stays across reuse, so that a steady client copies no shared_ptr per command.
  bool counted = false;
  std::shared_ptr<Cluster> cluster;

  Slot() = default;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { end_request(); }
  void end_request() {
    if (counted) {
      counted = false;
      cluster->end_request();
    }
  }

  // For reuse by the same client.
  void reset() {
    reply.clear();
    done = false;
    combine = Combine::kNone;
    parts_pending = 0;
    parts.clear();
    positions.clear();
    keys = 0;
  }
};

// A counted reference to a Slot. A slot is only ever touched on its worker's thread, so the
// count is a plain integer: a std::shared_ptr's atomic one cost a locked instruction at each of
// the several copies and releases a command makes.
class SlotPtr {
 public:
  SlotPtr() = default;
  SlotPtr(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): as a null shared_ptr
  explicit SlotPtr(Slot* s) : s_(s) {
    if (s_ != nullptr) {
      ++s_->refs;
    }
  }
  SlotPtr(const SlotPtr& o) : SlotPtr(o.s_) {}
  SlotPtr(SlotPtr&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  SlotPtr& operator=(SlotPtr o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~SlotPtr() { reset(); }
  void reset() {
    if (s_ != nullptr && --s_->refs == 0) {
      delete s_;
    }
    s_ = nullptr;
  }
  Slot* operator->() const { return s_; }
  Slot& operator*() const { return *s_; }
  explicit operator bool() const { return s_ != nullptr; }
  bool unique() const { return s_ != nullptr && s_->refs == 1; }

 private:
  Slot* s_ = nullptr;
};

// Marks the slot answered and lets its client send what is ready. Takes the caller's
// reference, so that a slot nothing else holds can be reused.
void finish(SlotPtr slot);

// A reply from a server for part `index` of `slot` (-1: the slot is the whole command).
void deliver(SlotPtr slot, int index, std::string_view reply) {
  if (index < 0) {
    slot->reply.assign(reply);
    finish(std::move(slot));
    return;
  }
  slot->parts[static_cast<std::size_t>(index)].assign(reply);
  if (--slot->parts_pending > 0) {
    return;
  }
  // Every shard has answered: combine.
  std::string out;
  for (const auto& p : slot->parts) {
    if (!p.empty() && p[0] == '-') {
      slot->reply = p;  // the first error wins
      finish(std::move(slot));
      return;
    }
  }
  switch (slot->combine) {
    case Slot::Combine::kMget: {
      std::vector<std::string_view> ordered(slot->keys);
      std::vector<std::string_view> elements;
      for (std::size_t i = 0; i < slot->parts.size(); ++i) {
        if (!resp::array_elements(slot->parts[i], elements) ||
            elements.size() != slot->positions[i].size()) {
          slot->reply = "-ERR upstream sent an MGET reply that does not match the request\r\n";
          finish(std::move(slot));
          return;
        }
        for (std::size_t j = 0; j < elements.size(); ++j) {
          ordered[slot->positions[i][j]] = elements[j];
        }
      }
      resp::append_array_header(out, ordered.size());
      for (auto e : ordered) {
        out += e;
      }
      break;
    }
    case Slot::Combine::kSum: {
      long long sum = 0;
      for (const auto& p : slot->parts) {
        auto n = resp::parse_integer_reply(p);
        if (!n) {
          slot->reply = "-ERR upstream sent a non-integer reply to a split command\r\n";
          finish(std::move(slot));
          return;
        }
        sum += *n;
      }
      resp::append_integer(out, sum);
      break;
    }
    case Slot::Combine::kAllOk:
    case Slot::Combine::kNone:
      resp::append_simple(out, "OK");
      break;
  }
  slot->reply = std::move(out);
  finish(std::move(slot));
}

// A part waiting for its reply on a server connection.
struct Waiting {
  SlotPtr slot;
  int index = -1;
  Clock::time_point sent;
};

// One connection to a server: its socket, the replies read and not yet used, and the write
// under way. The operations on it hold it, so that its descriptor stays open and its buffers
// put until the last of them has returned, whatever the ServerConn does meanwhile (an io_uring
// operation names the descriptor, and a closed one could be handed to the next connection).
struct Link {
  explicit Link(tcp::socket s) : conn(std::move(s)) {}
  Conn conn;
  std::string wbuf;  // bytes being written
  bool writing = false;
};

// One pipelined connection from this worker to one server, made again when it fails while
// requests wait. Reads and writes go through the worker's io_uring ring when it has one. The
// oldest request's time limit is the connection's deadline in the listener's Deadlines, which
// shuts the connection down when it passes.
class ServerConn : public std::enable_shared_from_this<ServerConn> {
 public:
  // `deadlines` belongs to `listener`, which each connection keeps while it runs.
  ServerConn(Worker& w, std::weak_ptr<void> listener, Deadlines& deadlines,
             std::shared_ptr<Cluster> cluster, Endpoint endpoint, std::chrono::milliseconds timeout,
             std::uint64_t max_bulk)
      : worker_(w),
        listener_(std::move(listener)),
        deadlines_(deadlines),
        cluster_(std::move(cluster)),
        endpoint_(std::move(endpoint)),
        timeout_(timeout) {
    limits_.max_bulk = max_bulk;
  }
  ServerConn(const ServerConn&) = delete;
  ServerConn& operator=(const ServerConn&) = delete;
  ~ServerConn() {
    owed_ = 0;
    report_active();
  }

  const Endpoint& endpoint() const { return endpoint_; }
  const Cluster* cluster() const { return cluster_.get(); }

  // Queues a request; its reply will be delivered to (slot, index).
  void send(std::string_view bytes, SlotPtr slot, int index) {
    out_.append(bytes);
    auto sent = slot ? slot->started : Clock::now();
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

  // Ends the connection (what waits for a reply gets an error) and makes no other.
  void close() {
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
  // The endpoint left its cluster: close once the replies owed have come.
  void retire() {
    retiring_ = true;
    if (waiting_.empty()) {
      close();
    }
  }

 private:
  // Connects, then writes what is queued and reads replies until the connection fails or is
  // retired with nothing owed.
  static asio::awaitable<void> run(std::shared_ptr<ServerConn> self, std::shared_ptr<void> keep) {
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
        self->fail_all(std::nullopt, "ERR cluster " + self->cluster_->name() +
                                         " is at its max_connections limit");
      } else {
        self->fail_all(ec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure,
                       "ERR upstream " + self->endpoint_.name + " unavailable: " + ec.message());
      }
      self->lease_.release();
      self->running_ = false;
      co_return;
    }
    // With a password, AUTH goes first; its reply is checked, not delivered (a null slot).
    if (const auto& config = self->cluster_->config(); !config.auth.empty()) {
      std::string cmd;
      resp::append_auth(cmd, config.auth_user, config.auth);
      self->out_.insert(0, cmd);
      self->waiting_.push_front(Waiting{nullptr, -1, Clock::now()});
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

  // Writes what is queued unless a write is under way; its completion writes what came
  // meanwhile. Callback-style: no coroutine to wake for each request.
  void kick() {
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

  // When the oldest request waiting must have its reply.
  [[nodiscard]] Clock::time_point due() const {
    return waiting_.empty() ? Clock::time_point::max() : waiting_.front().sent + timeout_;
  }

  asio::awaitable<void> read_loop(Link& link) {
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
      auto now = Clock::now();  // one clock read for the replies of this read
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

  void fail_all(std::optional<Outcome> outcome, const std::string& message) {
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

  // Brings the endpoint's count of requests in flight, shared by every worker, up to date with
  // this connection's: once per write and per read, not per command, so that the workers do
  // not take its cache line from each other at every command.
  void report_active() {
    auto& active = endpoint_.stats->active;
    if (owed_ > reported_) {
      active.fetch_add(owed_ - reported_, std::memory_order_relaxed);
    } else if (owed_ < reported_) {
      active.fetch_sub(reported_ - owed_, std::memory_order_relaxed);
    }
    reported_ = owed_;
  }

  Worker& worker_;
  std::weak_ptr<void> listener_;
  Deadlines& deadlines_;  // the listener's
  std::shared_ptr<Cluster> cluster_;
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  resp::Limits limits_;
  UpstreamLease lease_;
  std::shared_ptr<Link> link_;  // the connection being made or in use
  std::string out_;             // requests not yet written
  bool connected_ = false;
  bool kick_posted_ = false;
  resp::ReplyFramer framer_;
  std::deque<Waiting> waiting_;
  std::uint32_t owed_ = 0;      // entries of waiting_ with a slot
  std::uint32_t reported_ = 0;  // of those, counted in endpoint_.stats->active
  bool running_ = false;
  bool closed_ = false;
  bool retiring_ = false;
  Outcome failure_ = Outcome::kReset;
  std::string why_;  // why the connection ended (empty while it lives)
};

class RedisListener;

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(std::shared_ptr<RedisListener> l, tcp::socket s,
                std::shared_ptr<const ListenerState> state);
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;
  // Replies still owed when the session ends (the client went) find no one to tell.
  ~ClientSession() {
    for (const auto& s : slots_) {
      s->owner = nullptr;
    }
  }
  static asio::awaitable<void> run(std::shared_ptr<ClientSession> self);
  // A slot finished: send what is ready, in order. While other replies are still owed, that
  // waits for the handlers ready now, so that replies from every server read in this turn of
  // the loop leave in one write.
  void on_done();
  // Ends the connection at once (what is owed is not sent).
  void close() {
    closing_ = true;
    closed_ = true;
    shut_down(conn_.socket);  // ends the read and a write under way; closed with the session
    wake();
  }
  // Drain: answer what is owed, then close (at once when nothing is).
  void drain() {
    closing_ = true;
    wake();
    if (slots_.empty() && !writing_ && out_.empty()) {
      maybe_close();
    }
  }

 private:
  void handle(const resp::Command& cmd, std::string_view raw);
  SlotPtr new_slot();  // a reset spare, or a new one
  // A slot for a command sent upstream, within the cluster's max_requests; else the command
  // is answered with an error and the slot is null.
  SlotPtr upstream_slot();
  void authenticate(const resp::Command& cmd, std::string& out);
  // Whether `user` and `password` are the listener's; sets authed_ (error text in `out` if not).
  bool check_credentials(std::string_view user, std::string_view password, std::string& out);
  void hello(const resp::Command& cmd, std::string& out);
  void client(const resp::Command& cmd, std::string& out);
  // CLIENT SETNAME's check; false with the error in `out` for a name redis would refuse.
  static bool valid_name(std::string_view name, std::string& out);
  void reply_now(std::string reply);
  void forward(std::string_view bytes, const SlotPtr& slot, int index, std::string_view key);
  ServerConn* server_for(std::string_view key, const SlotPtr& slot, int index);
  // The error for a command whose key has no server now (counted): its shard is down, or the
  // cluster has no endpoint at all.
  std::string no_server(WorkerCluster& view);
  void split(const resp::Command& cmd, const resp::CommandInfo& info);
  void flush();
  // The parser's limits: the listener's, or redis' own for a client yet to authenticate.
  void set_limits();
  // Counts `bytes` of a command under way as held for this client (in the listener's gauge),
  // and refuses the command if the listener's clients hold more than max_input_bytes.
  void hold(std::size_t bytes);
  void kick();         // writes out_ unless a write is under way
  void maybe_close();  // once closing and everything owed is written
  // Lets the run loop, waiting for replies to be sent, look again (its wait ends).
  void wake() {
    if (wake_ != nullptr) {
      wake_->cancel();
    }
  }
  // Waits on `timer` until wake().
  static asio::awaitable<void> wait_for_wake(ClientSession& s, asio::steady_timer& timer) {
    timer.expires_at(asio::steady_timer::time_point::max());
    s.wake_ = &timer;
    co_await timer.async_wait(kTuple);
    s.wake_ = nullptr;
  }

  std::shared_ptr<RedisListener> listener_;  // kept alive while its sessions drain
  Conn conn_;                                // the client's socket, read buffer and idle deadline
  std::shared_ptr<const ListenerState> state_;
  std::deque<SlotPtr> slots_;
  std::string out_;
  std::string wbuf_;  // bytes being written
  bool writing_ = false;
  bool flush_posted_ = false;
  std::size_t undone_ = 0;  // slots sent upstream and not finished
  bool closed_ = false;
  bool closing_ = false;  // QUIT or a protocol error: close once everything owed is sent
  asio::steady_timer* wake_ = nullptr;  // the run loop's timer while it waits (wake())
  bool authed_ = false;                 // gave the listener's password
  std::string name_;                    // CLIENT SETNAME
  // This connection's number for HELLO's "id" and CLIENT ID, unique in the process.
  std::uint64_t id_ = next_client_id.fetch_add(1, std::memory_order_relaxed);
  Clock::time_point now_;       // when the last read from the client ended
  std::vector<SlotPtr> spare_;  // slots done with, for reuse
  resp::Limits limits_;
  std::size_t held_ = 0;         // bytes of a command under way, counted in held_gauge_
  Gauge* held_gauge_ = nullptr;  // the listener's buffered gauge when held_ was first counted
};

class RedisListener final : public ListenerBase<RedisListener> {
 public:
  RedisListener(Worker& w, tcp::acceptor a, std::shared_ptr<const ListenerState> state)
      : ListenerBase(w, std::move(a), std::move(state)), deadlines_(w.ioc(), w.ring()) {}
  void start_sweeper() { deadlines_.spawn(shared_from_this()); }
  Deadlines& deadlines() { return deadlines_; }

  void stop(bool close_all) override {
    close_acceptor();
    stopped_ = true;
    if (close_all) {
      close_servers();
      for (auto* c : clients_) {
        c->close();
      }
    } else {
      for (auto* c : clients_) {
        c->drain();
      }
      session_ended();
    }
    deadlines_.stop();
  }
  // Once a stopped listener's last client has gone, its connections to servers close: nothing
  // will send on them any more, and the replies they still owe have no one to go to.
  void session_ended() {
    if (stopped_ && clients_.empty()) {
      close_servers();
    }
  }
  [[nodiscard]] bool stopped() const { return stopped_; }
  const std::shared_ptr<const ListenerState>& state() const { return state_; }

  // The worker's connection to endpoint `e` of `cluster` (owned here; use it at once).
  ServerConn* server(const std::shared_ptr<Cluster>& cluster, const Endpoint& e,
                     const ListenerConfig& cfg) {
    prune(*cluster);
    auto& s = servers_[e.stats.get()];  // the ServerConn keeps the stats alive
    if (!s) {
      s = std::make_shared<ServerConn>(worker_, weak_from_this(), deadlines_, cluster, e,
                                       cfg.timeout, cfg.max_bulk_bytes);
    }
    return s.get();
  }

  std::list<ClientSession*> clients_;
  using ListenerBase::count_;  // sessions count themselves

 private:
  friend class ListenerBase<RedisListener>;  // calls serve()

  static asio::awaitable<void> serve(std::shared_ptr<RedisListener> self, tcp::socket s) {
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<ClientSession>(self, std::move(s), self->state_);
    co_await ClientSession::run(session);
  }

  void close_servers() {
    for (auto& [k, s] : servers_) {
      s->close();
    }
    servers_.clear();  // a connection still closing holds itself
  }

  // Retires connections to servers that left `cluster`; looks only when the cluster's
  // generation moved since the last look.
  void prune(Cluster& cluster) {
    membership_.prune(
        cluster, servers_, [&](const auto& s) { return s->cluster() == &cluster; },
        [](const auto& s) { s->retire(); });
  }

  std::unordered_map<const EndpointStats*, std::shared_ptr<ServerConn>> servers_;
  MembershipWatch membership_;
  Deadlines deadlines_;  // clients' idle time, servers' request time limits
  bool stopped_ = false;
};

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
    : listener_(std::move(l)), conn_(std::move(s)), state_(std::move(state)) {
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
  auto idle = self->state_->config.idle_timeout.count() > 0 ? self->state_->config.idle_timeout
                                                            : std::chrono::minutes(10);
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
    if (!co_await read_more(l.deadlines(), self->conn_, Clock::now() + idle, chunk)) {
      break;  // closed, failed or idle
    }
    self->now_ = Clock::now();
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
  Clock::time_point now;
  while (!slots_.empty() && slots_.front()->done) {
    if (!any) {
      now = Clock::now();
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

ServerConn* ClientSession::server_for(std::string_view key, const SlotPtr& slot, int index) {
  const auto& cluster = state_->clusters.front();
  auto& view = listener_->worker().view(cluster);
  const Endpoint* e = view.pick_now(hash_key(resp::hash_tag(key), cluster->hash()));
  if (e == nullptr) {
    deliver(slot, index, no_server(view));
    return nullptr;
  }
  return listener_->server(cluster, *e, state_->config);
}

std::string ClientSession::no_server(WorkerCluster& view) {
  std::string err;
  if (const Endpoint* down = view.owner_down()) {
    // Its keys are not served by another server, which does not have them: a read would
    // answer nil for a key that exists, and a write would be lost when the shard is back.
    state_->errors->with({state_->config.name, "shard_down"}).inc();
    resp::append_error(err, "ERR shard " + down->name + " of cluster " + view.cluster().name() +
                                " is down (unhealthy or ejected); its keys are not served "
                                "elsewhere (auto_eject: false)");
  } else {
    state_->errors->with({state_->config.name, "no_endpoint"}).inc();
    resp::append_error(err, "ERR no server available in cluster " + view.cluster().name());
  }
  return err;
}

void ClientSession::forward(std::string_view bytes, const SlotPtr& slot, int index,
                            std::string_view key) {
  if (auto server = server_for(key, slot, index)) {
    server->send(bytes, slot, index);
  }
}

void ClientSession::handle(const resp::Command& cmd, std::string_view raw) {
  state_->requests->inc();
  const resp::CommandInfo* info = resp::lookup(cmd.args[0]);
  std::string out;
  if (info == nullptr) {
    resp::append_unknown_command_error(out, cmd.args);
    reply_now(std::move(out));
    return;
  }
  if (!resp::arity_ok(*info, cmd.args.size())) {
    resp::append_arity_error(out, *info);
    reply_now(std::move(out));
    return;
  }
  const std::string& password = state_->config.auth;
  if (!password.empty() && !authed_ && info->name != "auth" && info->name != "quit" &&
      info->name != "hello") {
    resp::append_error(out, "NOAUTH Authentication required.");
    reply_now(std::move(out));
    return;
  }
  switch (info->kind) {
    case resp::Kind::kLocal: {
      std::string_view name = info->name;
      if (name == "ping") {
        if (cmd.args.size() > 1) {
          resp::append_bulk(out, cmd.args[1]);
        } else {
          resp::append_simple(out, "PONG");
        }
      } else if (name == "echo") {
        resp::append_bulk(out, cmd.args[1]);
      } else if (name == "quit") {
        resp::append_simple(out, "OK");
        closing_ = true;
      } else if (name == "auth") {
        authenticate(cmd, out);
      } else if (name == "hello") {
        hello(cmd, out);
      } else if (name == "client") {
        client(cmd, out);
      } else if (name == "select") {
        if (cmd.args[1] == "0") {
          resp::append_simple(out, "OK");
        } else {
          resp::append_error(out, "ERR DB index is out of range");
        }
      } else {
        resp::append_error(out, "ERR " + std::string(name) + " is not supported by tender proxy");
      }
      reply_now(std::move(out));
      return;
    }
    case resp::Kind::kUnsupported:
      state_->errors->with({state_->config.name, "unsupported"}).inc();
      resp::append_error(out, "ERR command '" + std::string(info->name) +
                                  "' is not supported by tender proxy: it cannot be sharded");
      reply_now(std::move(out));
      return;
    case resp::Kind::kSingleKey: {
      auto slot = upstream_slot();
      if (!slot) {
        return;
      }
      slots_.push_back(slot);
      if (cmd.inline_form) {
        std::string bytes;
        resp::append_command(bytes, cmd.args);
        forward(bytes, slot, -1, cmd.args[1]);
      } else {
        forward(raw, slot, -1, cmd.args[1]);
      }
      return;
    }
    case resp::Kind::kMultiKey:
    case resp::Kind::kMultiKeyValue:
      split(cmd, *info);
      return;
  }
}

// AUTH [username] password, against the listener's user and password.
void ClientSession::authenticate(const resp::Command& cmd, std::string& out) {
  if (cmd.args.size() > 3) {
    resp::append_error(out, "ERR syntax error");
    return;
  }
  if (state_->config.auth.empty()) {
    resp::append_error(out,
                       "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
    return;
  }
  if (check_credentials(cmd.args.size() == 3 ? cmd.args[1] : "default", cmd.args.back(), out)) {
    resp::append_simple(out, "OK");
  }
}

bool ClientSession::check_credentials(std::string_view user, std::string_view given,
                                      std::string& out) {
  const std::string& want = state_->config.auth;
  // Compared in time that does not depend on where they differ.
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff |= static_cast<unsigned char>(want[i] ^ (i < given.size() ? given[i] : 0));
  }
  const std::string& want_user = state_->config.auth_user;
  if (want.empty() || diff != 0 ||
      user != (want_user.empty() ? std::string_view("default") : want_user)) {
    authed_ = false;
    resp::append_error(out, "WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  authed_ = true;
  return true;
}

// HELLO [2 [AUTH user password] [SETNAME name]]: the connection stays RESP2, which is all the
// proxy speaks. Any other version is answered as a server without HELLO answers (unknown
// command), the answer after which clients that asked for RESP3 carry on in RESP2; NOPROTO
// makes some of them give up.
void ClientSession::hello(const resp::Command& cmd, std::string& out) {
  const auto& args = cmd.args;
  if (args.size() > 1 && args[1] != "2") {
    // Without the arguments after the version, which may hold a password.
    resp::append_unknown_command_error(out, std::span(args).first(2));
    return;
  }
  std::optional<std::pair<std::string_view, std::string_view>> credentials;
  std::optional<std::string_view> name;
  for (std::size_t i = 2; i < args.size();) {
    if (iequals(args[i], "auth") && i + 2 < args.size()) {
      credentials.emplace(args[i + 1], args[i + 2]);
      i += 3;
    } else if (iequals(args[i], "setname") && i + 1 < args.size()) {
      name = args[i + 1];
      i += 2;
    } else {
      resp::append_error(out, "ERR Syntax error in HELLO option '" + std::string(args[i]) + "'");
      return;
    }
  }
  if (credentials && !check_credentials(credentials->first, credentials->second, out)) {
    return;
  }
  if (name && !valid_name(*name, out)) {
    return;
  }
  if (!state_->config.auth.empty() && !authed_) {
    resp::append_error(out,
                       "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the "
                       "same time");
    return;
  }
  if (name) {
    name_ = *name;  // as CLIENT SETNAME, once authenticated
  }
  resp::append_array_header(out, 14);
  for (std::string_view field : {"server", "redis", "version", "7.0.0"}) {
    resp::append_bulk(out, field);
  }
  resp::append_bulk(out, "proto");
  resp::append_integer(out, 2);
  resp::append_bulk(out, "id");
  resp::append_integer(out, static_cast<long long>(id_));
  for (std::string_view field : {"mode", "standalone", "role", "master", "modules"}) {
    resp::append_bulk(out, field);
  }
  resp::append_array_header(out, 0);
}

// CLIENT SETNAME, GETNAME, ID and SETINFO, which clients send on connecting, concern this
// connection alone and are answered here; the rest (LIST, KILL, PAUSE, ...) would be about the
// proxy's shared connections to servers, and are refused.
void ClientSession::client(const resp::Command& cmd, std::string& out) {
  const auto& args = cmd.args;
  std::string_view sub = args[1];
  if (iequals(sub, "setname") && args.size() == 3) {
    if (valid_name(args[2], out)) {
      name_ = args[2];
      resp::append_simple(out, "OK");
    }
  } else if (iequals(sub, "getname") && args.size() == 2) {
    if (name_.empty()) {
      resp::append_null_bulk(out);
    } else {
      resp::append_bulk(out, name_);
    }
  } else if (iequals(sub, "id") && args.size() == 2) {
    resp::append_integer(out, static_cast<long long>(id_));
  } else if (iequals(sub, "setinfo") && args.size() == 4 &&
             (iequals(args[2], "lib-name") || iequals(args[2], "lib-ver"))) {
    resp::append_simple(out, "OK");
  } else {
    state_->errors->with({state_->config.name, "unsupported"}).inc();
    resp::append_error(out, "ERR command 'client " + std::string(sub) +
                                "' is not supported by tender proxy: it cannot be sharded");
  }
}

bool ClientSession::valid_name(std::string_view name, std::string& out) {
  if (name.find_first_of(" \n\r") != std::string_view::npos) {
    resp::append_error(out,
                       "ERR Client names cannot contain spaces, newlines or special characters.");
    return false;
  }
  return true;
}

// MGET/DEL/EXISTS/... and MSET: one sub-command per shard, combined when all have answered.
void ClientSession::split(const resp::Command& cmd, const resp::CommandInfo& info) {
  const auto& cluster = state_->clusters.front();
  auto& view = listener_->worker().view(cluster);
  HashFunction hf = cluster->hash();
  bool pairs = info.kind == resp::Kind::kMultiKeyValue;
  std::size_t step = pairs ? 2 : 1;
  auto slot = upstream_slot();
  if (!slot) {
    return;
  }
  slot->combine = info.name == "mget" ? Slot::Combine::kMget
                  : pairs             ? Slot::Combine::kAllOk
                                      : Slot::Combine::kSum;
  slots_.push_back(slot);
  // Group the keys by the endpoint they hash to, keeping request order within each group.
  std::vector<Picked> order;
  std::map<const EndpointStats*, std::vector<std::size_t>> groups;  // endpoint -> arg indexes
  for (std::size_t i = 1; i + step - 1 < cmd.args.size(); i += step) {
    Picked e = view.pick(hash_key(resp::hash_tag(cmd.args[i]), hf));
    if (!e) {
      deliver(slot, -1, no_server(view));
      return;
    }
    auto& g = groups[e.id()];
    if (g.empty()) {
      order.push_back(e);
    }
    g.push_back(i);
  }
  slot->keys = (cmd.args.size() - 1) / step;
  slot->parts.resize(order.size());
  slot->positions.resize(order.size());
  slot->parts_pending = static_cast<int>(order.size());
  std::vector<std::string_view> sub;
  for (std::size_t p = 0; p < order.size(); ++p) {
    sub.assign(1, cmd.args[0]);
    for (std::size_t i : groups[order[p].id()]) {
      sub.push_back(cmd.args[i]);
      if (pairs) {
        sub.push_back(cmd.args[i + 1]);
      }
      slot->positions[p].push_back((i - 1) / step);
    }
    std::string bytes;
    resp::append_command(bytes, sub);
    listener_->server(cluster, *order[p], state_->config)->send(bytes, slot, static_cast<int>(p));
  }
}

}  // namespace

std::shared_ptr<WorkerListener> make_redis_listener(Worker& worker, tcp::acceptor acceptor,
                                                    std::shared_ptr<const ListenerState> state) {
  auto l = std::make_shared<RedisListener>(worker, std::move(acceptor), std::move(state));
  l->start();
  l->start_sweeper();
  return l;
}

}  // namespace tender::ambassador

#pragma once
// The redis listener's insides, shared by its files (not public): the replies owed to clients
// (Slot), the pipelined connections to servers (ServerConn, redis_server_conn.cpp), the client
// connections (ClientSession: redis_client.cpp, its commands redis_commands.cpp), and the
// listener that owns both (RedisListener, redis_proxy.cpp).
//
// Threads: all of it lives on one worker and is touched on that worker's thread only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"

namespace tender::ambassador::redis_internal {

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
  SteadyClock::time_point started;  // when the client's read that brought the command ended
  ClientSession* owner = nullptr;   // cleared when the client's session ends
  std::uint32_t refs = 0;           // SlotPtr
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

// A reply from a server for part `index` of `slot` (-1: the slot is the whole command); the
// parts of a split command are combined once all have come (redis_commands.cpp).
void deliver(SlotPtr slot, int index, std::string_view reply);

// A part waiting for its reply on a server connection.
struct Waiting {
  SlotPtr slot;
  int index = -1;
  SteadyClock::time_point sent;
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
  ~ServerConn();

  const Endpoint& endpoint() const { return endpoint_; }
  const Cluster* cluster() const { return cluster_.get(); }

  // Queues a request; its reply will be delivered to (slot, index).
  void send(std::string_view bytes, SlotPtr slot, int index);
  // Ends the connection (what waits for a reply gets an error) and makes no other.
  void close();
  // The endpoint left its cluster: close once the replies owed have come.
  void retire();

 private:
  // Connects, then writes what is queued and reads replies until the connection fails or is
  // retired with nothing owed.
  static asio::awaitable<void> run(std::shared_ptr<ServerConn> self, std::shared_ptr<void> keep);
  // Writes what is queued unless a write is under way; its completion writes what came
  // meanwhile. Callback-style: no coroutine to wake for each request.
  void kick();
  // When the oldest request waiting must have its reply.
  [[nodiscard]] SteadyClock::time_point due() const {
    return waiting_.empty() ? SteadyClock::time_point::max() : waiting_.front().sent + timeout_;
  }
  // Reads replies and delivers them until the connection fails, or is retired with nothing
  // owed; why_ (and failure_) say why it ended.
  asio::awaitable<void> read_loop(Link& link);
  // Answers every request waiting with an error reply of `message`; records `outcome` for the
  // endpoint (if any) when some were waiting.
  void fail_all(std::optional<Outcome> outcome, const std::string& message);
  // Brings the endpoint's count of requests in flight, shared by every worker, up to date with
  // this connection's: once per write and per read, not per command, so that the workers do
  // not take its cache line from each other at every command.
  void report_active();

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

// One client's connection: its commands are parsed as they come, answered here (local ones,
// errors) or sent to the servers their keys hash to, and the replies go back in the order of
// the commands.
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
  // Reads and answers the client's commands until it goes, sends garbage or QUIT, or the
  // listener stops; then sends what is still owed and closes.
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
  // Replies and the connection (redis_client.cpp).
  SlotPtr new_slot();  // a reset spare, or a new one
  // A slot for a command sent upstream, within the cluster's max_requests; else the command
  // is answered with an error and the slot is null.
  SlotPtr upstream_slot();
  void reply_now(std::string reply);
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
  static asio::awaitable<void> wait_for_wake(ClientSession& s, asio::steady_timer& timer);

  // Commands (redis_commands.cpp).
  void handle(const resp::Command& cmd, std::string_view raw);
  void authenticate(const resp::Command& cmd, std::string& out);
  // Whether `user` and `password` are the listener's; sets authed_ (error text in `out` if not).
  bool check_credentials(std::string_view user, std::string_view password, std::string& out);
  void hello(const resp::Command& cmd, std::string& out);
  void client(const resp::Command& cmd, std::string& out);
  // CLIENT SETNAME's check; false with the error in `out` for a name redis would refuse.
  static bool valid_name(std::string_view name, std::string& out);
  void forward(std::string_view bytes, const SlotPtr& slot, int index, std::string_view key);
  ServerConn* server_for(std::string_view key, const SlotPtr& slot, int index);
  // The error for a command whose key has no server now (counted): its shard is down, or the
  // cluster has no endpoint at all.
  std::string no_server(WorkerCluster& view);
  void split(const resp::Command& cmd, const resp::CommandInfo& info);

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
  // This connection's number for HELLO's "id" and CLIENT ID, unique in the process (given by
  // the constructor).
  std::uint64_t id_;
  SteadyClock::time_point now_;  // when the last read from the client ended
  std::vector<SlotPtr> spare_;   // slots done with, for reuse
  resp::Limits limits_;
  std::size_t held_ = 0;         // bytes of a command under way, counted in held_gauge_
  Gauge* held_gauge_ = nullptr;  // the listener's buffered gauge when held_ was first counted
};

// The redis listener on one worker: it accepts clients, and owns the worker's connections to
// servers, which its clients share.
class RedisListener final : public ListenerBase<RedisListener> {
 public:
  RedisListener(Worker& w, tcp::acceptor a, std::shared_ptr<const ListenerState> state)
      : ListenerBase(w, std::move(a), std::move(state)), deadlines_(w.ioc(), w.ring()) {}
  void start_sweeper() { deadlines_.spawn(shared_from_this()); }
  Deadlines& deadlines() { return deadlines_; }

  void stop(bool close_all) override;
  // Once a stopped listener's last client has gone, its connections to servers close: nothing
  // will send on them any more, and the replies they still owe have no one to go to.
  void session_ended();
  [[nodiscard]] bool stopped() const { return stopped_; }
  const std::shared_ptr<const ListenerState>& state() const { return state_; }

  // The worker's connection to endpoint `e` of `cluster` (owned here; use it at once).
  ServerConn* server(const std::shared_ptr<Cluster>& cluster, const Endpoint& e,
                     const ListenerConfig& cfg);

  std::list<ClientSession*> clients_;
  using ListenerBase::count_;  // sessions count themselves

 private:
  friend class ListenerBase<RedisListener>;  // calls serve()

  static asio::awaitable<void> serve(std::shared_ptr<RedisListener> self, tcp::socket s);
  void close_servers();
  // Retires connections to servers that left `cluster`; looks only when the cluster's
  // generation moved since the last look.
  void prune(Cluster& cluster);

  std::unordered_map<const EndpointStats*, std::shared_ptr<ServerConn>> servers_;
  MembershipWatch membership_;
  Deadlines deadlines_;  // clients' idle time, servers' request time limits
  bool stopped_ = false;
};

}  // namespace tender::ambassador::redis_internal

#pragma once
// The http listener's insides, shared by its two files (not public): the listener on one
// worker with its pool of upstream connections, the requests waiting for a connection and the
// retry budget (http_proxy.cpp), and one exchange, a request and its response, step by step
// (http_exchange.cpp).
//
// Threads: a listener and everything it holds live on one worker, and are touched on that
// worker's thread only (on_slot() posts to it).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ambassador/worker.hpp"
#include "core/conn.hpp"
#include "core/http1.hpp"

namespace tender::ambassador::http_internal {

using std::chrono::milliseconds;

struct Upstream : Conn {
  Upstream(tcp::socket s, UpstreamLease l) : Conn(std::move(s)), lease(std::move(l)) {}
  UpstreamLease lease;
};

// Per client connection: parsed heads and the strings built for the next hop, reused.
struct Exchange {
  http1::Head req;
  http1::Head res;
  http1::Error err;
  std::string up_head;
  std::string out_head;
  std::string decoded;
};

// One request on its way: what is known of it, and what its tries share. It lives in the frame
// of HttpListener::exchange(), which its steps run within.
struct Request {
  Request(const ListenerState& s, Conn& c, Exchange& e, milliseconds idle_timeout)
      : state(s), cfg(s.config), client(c), x(e), idle(idle_timeout) {}

  // The cluster routed to (route >= 0).
  [[nodiscard]] const std::shared_ptr<Cluster>& cluster() const {
    return state.clusters[static_cast<std::size_t>(route)];
  }

  const ListenerState& state;
  const ListenerConfig& cfg;
  Conn& client;
  Exchange& x;
  milliseconds idle;  // the client's idle timeout
  SteadyClock::time_point started;
  bool keep = false;  // the client's connection may take another request after this one
  int client_minor = 1;
  bool is_head = false;
  bool can_retry = false;                          // idempotent
  http1::Framing framing = http1::Framing::kNone;  // of the request body
  std::uint64_t length = 0;
  bool expect = false;   // 100-continue
  bool upgrade = false;  // asks to switch to WebSocket
  int route = -1;        // the cluster's index in state.clusters; -1: no route
  std::uint64_t key_hash = 0;
  bool body_unread = false;             // some of the body is still in the client's socket
  std::size_t body_buffered = 0;        // a body read whole, at the front of the client's buffer
  bool replayable = true;               // nothing that cannot be sent again has gone upstream
  milliseconds connect_timeout{};       // the cluster's, when the tries began
  SteadyClock::time_point deadline;     // the request's timeout (from the end of a streamed body)
  const EndpointStats* last = nullptr;  // the last try's endpoint, which the next avoids
  // The answer when no try succeeds.
  std::string why = "no endpoint";
  int status = 503;
  bool refused = false;  // the last try's connect was refused: nothing reached a server
};

// One try's times and how its request went.
struct Try {
  SteadyClock::time_point end;    // when the try's time is up
  bool reused = false;            // its connection came from the pool
  SteadyClock::time_point sent;   // when the request began to go
  boost::system::error_code wec;  // the request could not be written
  bool malformed = false;         // the response head was not HTTP, or a 101 not asked for
};

// Where an exchange goes after a step of a try.
enum class Then {
  kNext,      // the try's next step
  kRetry,     // the next try, if the retries allow one
  kRedo,      // the same try again: a pooled connection was dead before it was used
  kGiveUp,    // no more tries: the client is answered with the request's why and status
  kClose,     // the exchange is over and the client's connection is done with
  kKeepOpen,  // the exchange is over and the client's connection takes the next request
};

class HttpListener final : public ListenerBase<HttpListener>, public Cluster::SlotListener {
 public:
  HttpListener(Worker& w, tcp::acceptor a, std::shared_ptr<const ListenerState> state)
      : ListenerBase(w, std::move(a), std::move(state)), deadlines_(w.ioc(), w.ring()) {}

  void start_sweeper() { deadlines_.spawn(shared_from_this()); }
  void listen_slots();

  // A connection of `cluster` closed while requests wait for one, or a request elsewhere waits
  // and wants an idle connection given up (Cluster::SlotListener; any thread).
  void on_slot(const upstream::Cluster& cluster, bool wanted) override;

  void stop(bool close_all) override;

 private:
  friend class ListenerBase<HttpListener>;  // calls serve()

  static asio::awaitable<void> serve(std::shared_ptr<HttpListener> self, tcp::socket socket);

  milliseconds idle_timeout(const ListenerConfig& cfg) const {
    return cfg.effective_idle_timeout();
  }

  // Reads more of `c` within `timeout` (or by `deadline`); false on end of stream, error or
  // timeout.
  asio::awaitable<bool> read_more(Conn& c, milliseconds timeout) {
    return tender::read_more(deadlines_, c, SteadyClock::now() + timeout);
  }
  asio::awaitable<bool> read_more(Conn& c, SteadyClock::time_point deadline) {
    return tender::read_more(deadlines_, c, deadline);
  }
  template <typename Buffers>
  asio::awaitable<bool> write(Conn& c, const Buffers& buffers, milliseconds timeout) {
    return write_all(deadlines_, c, buffers, SteadyClock::now() + timeout);
  }

  // The pool of idle upstream connections, the requests waiting for a connection, and the
  // retry budget (http_proxy.cpp).

  // A reload: idle connections to clusters no longer routed to are closed.
  void update(std::shared_ptr<const ListenerState> state) override;

  // Closes idle connections to endpoints that left `cluster`; looks only when the cluster's
  // generation moved since the last look.
  void prune(Cluster& cluster);
  // An idle connection to the endpoint, or none. One kept for a request that must not be sent
  // twice is first checked for having been closed by the server.
  std::unique_ptr<Upstream> take_pooled(const EndpointStats* id, bool can_retry);
  void put_pooled(const EndpointStats* id, std::unique_ptr<Upstream> conn);
  // Closes one idle connection of `cluster`, which frees a slot of its max_connections.
  bool close_idle(const upstream::Cluster* cluster);

  // Requests waiting for a connection (max_connections reached), oldest first.
  struct SlotWaiter {
    const upstream::Cluster* cluster;
    asio::steady_timer timer;
    bool woken = false;
  };
  enum class Wait { kWoken, kTimedOut, kStopped };
  struct PendingSlot {  // a request's place among its cluster's max_pending
    Cluster* c = nullptr;
    ~PendingSlot() { release(); }
    void release() {
      if (c != nullptr) {
        c->end_pending();
        c = nullptr;
      }
    }
  };

  // Waits until a connection of `cluster` may be had on this worker (kWoken: look again), or
  // until `deadline`.
  asio::awaitable<Wait> wait_slot(const upstream::Cluster* cluster,
                                  SteadyClock::time_point deadline);
  // Takes room for a retry in `cluster`'s retry budget. A retry over the budget waits for
  // room, backing off from 1 ms to 50 ms, rather than failing its request: the budget bounds
  // how many retries are in flight, and a backend that dies fails more requests at once than
  // any share of those in flight (half of them, of two). False when `deadline` came first.
  asio::awaitable<bool> wait_retry(const ListenerConfig& cfg, Cluster& cluster,
                                   SteadyClock::time_point deadline);
  bool wake_one(const upstream::Cluster* cluster);

  // Ends the retry a try is, when it was one (the retry budget's room goes back).
  struct EndRetry {
    Cluster* c;
    bool on;
    ~EndRetry() { release(); }
    void release() {
      if (on) {
        on = false;
        c->end_retry();
      }
    }
  };

  // One exchange, step by step (http_exchange.cpp).

  // A response of the proxy's own to the client; true when written and `keep`.
  asio::awaitable<bool> answer(Conn& client, int status, std::string why, bool keep,
                               milliseconds timeout);
  // One request and its response. False when the client connection is done with.
  asio::awaitable<bool> exchange(const ListenerState& state, Conn& client,
                                 const std::string& client_ip, Exchange& x);
  // The next request's head, in x.req. False when the connection is done with: it closed,
  // idled out, sent a malformed head (answered 4xx), or the listener drains.
  asio::awaitable<bool> read_request_head(const ListenerState& state, Conn& client, Exchange& x);
  // What the head says of the request, its route and key hash; its head for the next hop in
  // x.up_head. The head is consumed from the client's buffer: the views in x.req end here.
  void start_request(Request& rq, const std::string& client_ip);
  // The body, when small, read whole (after a 100 Continue if the client waits for one).
  // False when the client went.
  asio::awaitable<bool> read_small_body(Request& rq);
  // The tries, within the retries, the retry budget and the request's time; then the answer
  // when none got one. False when the client connection is done with.
  asio::awaitable<bool> tries(Request& rq);
  // One try on one endpoint: kRetry, kRedo or kGiveUp when it failed, else kClose or
  // kKeepOpen once the response went to the client. `budgeted`: the try is a retry holding
  // room in the retry budget; `more_tries`: another try may follow.
  asio::awaitable<Then> try_once(Request& rq, bool budgeted, bool more_tries);
  // The endpoint for a try, or none (why and status set).
  Picked pick(Request& rq);
  // A connection to `e` in `conn`: kNext, or kRetry when the connect failed, or kGiveUp when
  // the request waited for one in vain.
  asio::awaitable<Then> connect(Request& rq, const Picked& e, SteadyClock::time_point now, Try& t,
                                std::unique_ptr<Upstream>& conn);
  // With every connection the cluster allows open: waits until one may be had here. False
  // (why and status set) when the request waited in vain, or may not wait (max_pending).
  asio::awaitable<bool> wait_connection(Request& rq, PendingSlot& pending);
  // The request to `conn`: kNext (t.wec says whether its write failed), or kClose when the
  // client's body was refused or the client went, or kGiveUp when the upstream went while the
  // body streamed.
  asio::awaitable<Then> send_request(Request& rq, const Picked& e, Upstream& conn, Try& t);
  // The response head in x.res, past interim 1xx answers; false when none came.
  asio::awaitable<bool> read_response_head(Request& rq, const Picked& e, Upstream& conn, Try& t);
  // After a try without a response head: what it is recorded as, and what comes next.
  Then failed(Request& rq, const Picked& e, Upstream& conn, const Try& t);
  // After a 101: the WebSocket tunnel, until both sides have closed.
  asio::awaitable<Then> upgrade(Request& rq, const Picked& e, Upstream& conn, const Try& t,
                                EndRetry& end_retry);
  // Whether the response is an error that another endpoint may answer better; then the next
  // try goes (why and status set).
  bool retry_answer(Request& rq, const Picked& e, std::unique_ptr<Upstream>& conn, bool more_tries);
  // The response to the client: kKeepOpen or kClose.
  asio::awaitable<Then> respond(Request& rq, const Picked& e, std::unique_ptr<Upstream>& conn,
                                const Try& t);
  // Gives the try's connection to the pool.
  void pool(const Picked& e, std::unique_ptr<Upstream>& conn);

  Deadlines deadlines_;
  // Keyed by the endpoint's stats, which live as long as the endpoint stays in its cluster.
  std::unordered_map<const EndpointStats*, std::vector<std::unique_ptr<Upstream>>> pool_;
  MembershipWatch membership_;
  std::list<SlotWaiter*> slot_waiters_;
  bool draining_ = false;
  bool stopped_ = false;
};

}  // namespace tender::ambassador::http_internal

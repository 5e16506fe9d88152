// The http listener: HTTP/1.1 with keep-alive on both sides, pooled upstream connections per
// worker and endpoint, routing by path prefix and Host, a request timeout and a per-try timeout,
// retries (idempotent requests; any request whose connect failed) within a retry budget and the
// cluster's retry breaker, X-Forwarded-For, and WebSocket upgrades as byte tunnels.
//
// Messages are not rebuilt: the head is parsed in place (http1.hpp), its fields copied to the
// next hop less the hop-by-hop ones, and bodies stream through as they arrive. A request body of
// up to 64 KiB is read whole first so that the request can be sent again on a retry; a larger or
// chunked one streams, and is not retried once any of it went upstream.
#include <sys/socket.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <list>
#include <optional>
#include <unordered_map>

#include "ambassador/http_stream.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"
#include "core/http.hpp"
#include "core/http1.hpp"
#include "core/log.hpp"

namespace tender::ambassador {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxHead = 16 * 1024;  // request and response heads
constexpr std::uint64_t kReplayLimit = 64 * 1024;
constexpr std::size_t kPoolPerEndpoint = 64;  // idle upstream connections per worker

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

// The value of query parameter `name` in `target`, as sent (not decoded); empty if absent.
std::string_view query_value(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return {};
}

// The hash a cluster with a hash policy places `req` by: its key as hash_on says, or its
// client's address when it has none.
std::uint64_t request_hash(const HashOn& on, const http1::Head& req, std::string_view client_ip,
                           HashFunction f) {
  std::string_view key;
  switch (on.kind) {
    case HashOn::Kind::kClientAddress:
      break;
    case HashOn::Kind::kPath:
      key = req.target.substr(0, req.target.find('?'));
      break;
    case HashOn::Kind::kHeader:
      key = req.field(on.name);
      break;
    case HashOn::Kind::kQuery:
      key = query_value(req.target, on.name);
      break;
  }
  return hash_key(key.empty() ? client_ip : key, f);
}

// How many retries may be in flight to `c` now, over all workers, by `l`'s retry budget.
std::uint32_t retry_budget(const ListenerConfig& l, const Cluster& c) {
  double share = l.retry_budget_percent / 100.0 *
                 static_cast<double>(c.active_requests() + c.pending_requests());
  return std::max(l.min_retry_concurrency, static_cast<std::uint32_t>(share));
}

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

class HttpListener final : public ListenerBase<HttpListener>, public Cluster::SlotListener {
 public:
  HttpListener(Worker& w, tcp::acceptor a, std::shared_ptr<const ListenerState> state)
      : ListenerBase(w, std::move(a), std::move(state)), deadlines_(w.ioc(), w.ring()) {}

  void start_sweeper() { deadlines_.spawn(shared_from_this()); }
  void listen_slots() {
    for (const auto& c : state_->clusters) {
      c->listen_slots(shared_from_this());
    }
  }

  // A connection of `cluster` closed while requests wait for one, or a request elsewhere waits
  // and wants an idle connection given up (Cluster::SlotListener; any thread).
  void on_slot(const Cluster& cluster, bool wanted) override {
    asio::post(worker_.ioc(), [self = shared_from_this(), c = &cluster, wanted] {
      if (!self->wake_one(c) && wanted) {
        self->close_idle(c);
      }
    });
  }

  void stop(bool close_all) override {
    close_acceptor();
    draining_ = true;
    // Closing all: upstream connections in use too, which ends upgrade tunnels at once.
    for (Conn* c = deadlines_.head(); c != nullptr; c = c->next) {
      if (close_all || (c->client && c->idle)) {
        shut_down(c->socket);
      }
    }
    if (close_all) {
      pool_.clear();
      stopped_ = true;
      for (SlotWaiter* w : slot_waiters_) {
        w->woken = true;
        w->timer.cancel();
      }
    }
    deadlines_.stop();
  }

 private:
  friend class ListenerBase<HttpListener>;  // calls serve()

  static asio::awaitable<void> serve(std::shared_ptr<HttpListener> self, tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto peer = socket.remote_endpoint(ec);
    std::string client_ip = ec ? "" : peer.address().to_string();
    Conn client(std::move(socket));
    client.client = true;
    self->deadlines_.add(client);
    self->count_->fetch_add(1);
    auto state = self->state_;
    state->connections->inc();
    Exchange x;
    for (;;) {
      state = self->state_;  // a reload applies from the next request on
      if (self->draining_ || !co_await self->exchange(*state, client, client_ip, x)) {
        break;
      }
    }
    client.socket.shutdown(tcp::socket::shutdown_send, ec);
    client.socket.close(ec);
    self->deadlines_.remove(client);
    self->count_->fetch_sub(1);
    state->connections->dec();
  }

  milliseconds idle_timeout(const ListenerConfig& cfg) const {
    return cfg.idle_timeout.count() > 0 ? cfg.idle_timeout : milliseconds(60'000);
  }

  // Reads more of `c` within `timeout` (or by `deadline`); false on end of stream, error or
  // timeout.
  asio::awaitable<bool> read_more(Conn& c, milliseconds timeout) {
    return tender::read_more(deadlines_, c, Clock::now() + timeout);
  }
  asio::awaitable<bool> read_more(Conn& c, Clock::time_point deadline) {
    return tender::read_more(deadlines_, c, deadline);
  }
  template <typename Buffers>
  asio::awaitable<bool> write(Conn& c, const Buffers& buffers, milliseconds timeout) {
    return write_all(deadlines_, c, buffers, Clock::now() + timeout);
  }

  asio::awaitable<bool> answer(Conn& client, int status, std::string why, bool keep,
                               milliseconds timeout) {
    why += '\n';
    std::string r = http1::local_response(status, why, keep);
    co_return co_await write(client, asio::buffer(r), timeout) && keep;
  }

  // The cluster (index in state.clusters) of the first route that matches.
  static int route(const ListenerState& state, std::string_view host, std::string_view target) {
    if (target.substr(0, 7) == "http://") {  // absolute form: the authority is the host
      target.remove_prefix(7);
      auto slash = target.find('/');
      host = target.substr(0, slash);
      target = slash == std::string_view::npos ? "/" : target.substr(slash);
    }
    if (auto colon = host.rfind(':');
        colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
      host = host.substr(0, colon);
    }
    const auto& routes = state.config.routes;
    for (std::size_t i = 0; i < routes.size(); ++i) {
      const auto& r = routes[i];
      if (!r.host.empty() && !iequals(r.host, host)) {
        continue;
      }
      if (target.substr(0, r.prefix.size()) == r.prefix) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // One request and its response. False when the client connection is done with.
  asio::awaitable<bool> exchange(const ListenerState& state, Conn& client,
                                 const std::string& client_ip, Exchange& x) {
    const auto& cfg = state.config;
    auto idle = idle_timeout(cfg);
    // Between requests a connection may wait `idle`; once a request has begun, its head must be
    // complete within `idle` of its first byte (not of each byte).
    std::optional<Clock::time_point> head_deadline;
    for (;;) {
      auto p = http1::parse_request(client.in.data(), kMaxHead, x.req, x.err);
      if (p == http1::Parse::kDone) {
        break;
      }
      if (p == http1::Parse::kError) {
        state.errors->with({cfg.name, "protocol"}).inc();
        co_await answer(client, x.err.status, "bad request: " + x.err.reason, false,
                        milliseconds(5'000));
        co_return false;
      }
      client.idle = client.in.data().empty();
      if (draining_ && client.idle) {
        co_return false;
      }
      if (!client.idle && !head_deadline) {
        head_deadline = Clock::now() + idle;
      }
      bool more = client.idle ? co_await read_more(client, idle)
                              : co_await read_more(client, *head_deadline);
      client.idle = false;
      if (!more) {
        co_return false;
      }
    }
    const http1::Head& req = x.req;
    state.requests->inc();
    auto started = Clock::now();
    bool keep = req.keep_alive;
    int client_minor = req.minor;
    bool is_head = req.method == "HEAD";
    bool can_retry = idempotent(req.method);
    auto framing = req.framing;
    std::uint64_t length = req.length;
    bool expect = req.expect_continue && client_minor >= 1;
    // A request to switch to WebSocket (a GET, RFC 6455) goes upstream asking for it, unless its
    // body would have to stream: it is then an ordinary request. Other protocols are not tunnelled:
    // after an h2c upgrade the client could send the server requests that routing never saw.
    if (!x.req.upgrade.empty() &&
        (!iequals(x.req.upgrade, "websocket") || req.method != "GET" ||
         (framing != http1::Framing::kNone &&
          !(framing == http1::Framing::kLength && length <= kReplayLimit)))) {
      x.req.upgrade = {};
    }
    bool upgrade = !x.req.upgrade.empty();
    int r = route(state, req.host, req.target);
    std::uint64_t key_hash = 0;
    if (r >= 0) {
      const auto& c = state.clusters[static_cast<std::size_t>(r)];
      if (const HashOn* on = worker_.view(c).hash_on()) {
        key_hash = request_hash(*on, req, client_ip, c->hash());
      }
    }
    http1::write_request_head(req, client_ip, x.up_head);
    client.in.consume(req.size);  // the views in req end here
    bool body_unread = framing != http1::Framing::kNone;

    if (r < 0) {
      state.errors->with({cfg.name, "no_route"}).inc();
      co_return co_await answer(client, 404, "no route for this host and path",
                                keep && !body_unread, idle);
    }
    const auto& cluster = state.clusters[static_cast<std::size_t>(r)];
    if (framing == http1::Framing::kLength && length > cfg.max_request_bytes) {
      state.errors->with({cfg.name, "protocol"}).inc();
      co_return co_await answer(
          client, 413,
          "the request body is larger than " + std::to_string(cfg.max_request_bytes) + " bytes",
          false, idle);
    }
    // A small body is read whole: it stays in the client's buffer until the answer, so that a
    // retry can send it again. A larger or chunked one streams on the first try.
    std::size_t body_buffered = 0;
    if (body_unread && expect &&
        (framing != http1::Framing::kLength || client.in.data().size() < length)) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write(client, asio::buffer(kContinue), idle)) {
        co_return false;
      }
    }
    if (framing == http1::Framing::kLength && length <= kReplayLimit) {
      while (client.in.data().size() < length) {
        if (!co_await read_more(client, idle)) {
          co_return false;
        }
      }
      body_buffered = static_cast<std::size_t>(length);
      body_unread = false;
    }
    bool replayable = true;  // nothing that cannot be sent again has gone upstream
    // The request now takes a slot of the cluster's max_requests (a slow client sending its
    // body does not hold one), and `timeout` runs from here.
    if (!cluster->try_request()) {
      state.errors->with({cfg.name, "overflow"}).inc();
      client.in.consume(body_buffered);
      co_return co_await answer(client, 503,
                                "cluster " + cluster->name() + " is at its max_requests limit",
                                keep && !body_unread, idle);
    }
    struct EndRequest {
      Cluster* c;
      ~EndRequest() { c->end_request(); }
    } end{cluster.get()};

    // The attempts.
    auto deadline = Clock::now() + cfg.timeout;
    const EndpointStats* last = nullptr;
    std::string why = "no endpoint";
    int status = 503;
    auto connect_timeout = cluster->connect_timeout();
    bool refused = false;  // the last try's connect was refused: nothing reached a server
    for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
      // A retry takes room in the retry budget, unless the try before it never reached a
      // server: that one costs the cluster nothing, and an endpoint that just died refuses
      // many at once.
      bool budgeted = attempt > 0 && !refused;
      if (budgeted && !co_await wait_retry(cfg, *cluster, deadline)) {
        state.errors->with({cfg.name, "retry_budget"}).inc();
        break;
      }
      if (attempt > 0) {
        cluster->retries().inc();
      }
      refused = false;
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
      } end_retry{cluster.get(), budgeted};
      auto now = Clock::now();
      if (now >= deadline) {
        status = 504;
        why = "timed out after " + format_duration(cfg.timeout);
        break;
      }
      auto try_end = cfg.per_try_timeout.count() > 0 ? std::min(deadline, now + cfg.per_try_timeout)
                                                     : deadline;
      prune(*cluster);
      auto& view = worker_.view(cluster);
      Picked e = view.pick(key_hash, last);
      if (!e) {
        if (const Endpoint* down = view.owner_down()) {
          state.errors->with({cfg.name, "shard_down"}).inc();
          why = "endpoint " + down->name + " of cluster " + cluster->name() +
                ", which requests with this key go to, is down (unhealthy or ejected); they are "
                "not sent elsewhere (auto_eject: false)";
        } else {
          state.errors->with({cfg.name, "no_endpoint"}).inc();
          why = "no healthy endpoint in cluster " + cluster->name();
        }
        status = 503;
        break;
      }
      last = e.id();
      e->stats->m_requests->inc();
      e->stats->active.fetch_add(1, std::memory_order_relaxed);
      struct EndActive {
        EndpointStats* s;
        ~EndActive() { s->active.fetch_sub(1, std::memory_order_relaxed); }
      } end_active{e->stats.get()};

      // A pooled connection, or a new one (a failed connect is always safe to retry). With
      // every connection the cluster allows open, the request waits for one.
      bool check_pooled = can_retry && !body_unread;
      std::unique_ptr<Upstream> conn = take_pooled(e.id(), check_pooled);
      bool reused = conn != nullptr;
      bool waited = false;
      bool gave_up = false;  // waited for a connection in vain
      PendingSlot pending;
      while (!conn) {
        tcp::socket s(worker_.ioc());
        UpstreamLease lease;
        auto left = std::chrono::duration_cast<milliseconds>(try_end - now);
        auto cec = co_await connect_upstream(s, cluster, *e, std::min(left, connect_timeout), lease,
                                             !waited);
        if (!cec) {
          conn = std::make_unique<Upstream>(std::move(s), std::move(lease));
          break;
        }
        if (cec != asio::error::no_buffer_space) {
          refused = cec == asio::error::connection_refused;
          // A connect whose time the wait for a slot had eaten is not the endpoint's fault.
          if (!waited || cec != asio::error::timed_out) {
            cluster->record(
                *e, cec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure);
          }
          state.errors->with({cfg.name, "upstream_connect"}).inc();
          why = e->name + ": " + cec.message();
          status = cec == asio::error::timed_out && left <= connect_timeout ? 504 : 502;
          break;
        }
        if (close_idle(cluster.get())) {
          continue;  // an idle connection of this worker to another endpoint gave its slot
        }
        // A pending request: within max_pending, until a connection or its slot comes free
        // here, or the request's time is up.
        if (!pending.c) {
          if (!cluster->try_pending()) {
            state.errors->with({cfg.name, "overflow"}).inc();
            status = 503;
            why = "cluster " + cluster->name() + " is at its max_pending limit (all " +
                  std::to_string(cluster->max_connections()) + " connections in use)";
            gave_up = true;
            break;
          }
          pending.c = cluster.get();
          cluster->want_slot();
        }
        waited = true;
        auto w = co_await wait_slot(cluster.get(), deadline);
        if (w == Wait::kWoken && Clock::now() >= deadline) {
          w = Wait::kTimedOut;  // woken as its time ran out
        }
        if (w != Wait::kWoken) {
          if (w == Wait::kTimedOut) {
            state.errors->with({cfg.name, "timeout"}).inc();
          }
          status = w == Wait::kTimedOut ? 504 : 503;
          why = w == Wait::kTimedOut
                    ? "no connection of cluster " + cluster->name() + " came free within " +
                          format_duration(cfg.timeout) + " (max_connections " +
                          std::to_string(cluster->max_connections()) + ")"
                    : "the proxy is stopping";
          gave_up = true;
          break;
        }
        now = Clock::now();
        try_end = cfg.per_try_timeout.count() > 0 ? std::min(deadline, now + cfg.per_try_timeout)
                                                  : deadline;
        conn = take_pooled(e.id(), check_pooled);
        reused = conn != nullptr;
      }
      pending.release();
      if (gave_up) {
        break;
      }
      if (!conn) {
        continue;  // the connect failed: safe to try again
      }
      deadlines_.add(*conn);
      // Off the list at the end of the try, unless pooled (pool() takes it off first: the pool
      // may close it at once).
      struct Unlist {
        Deadlines& d;
        std::unique_ptr<Upstream>& c;
        ~Unlist() {
          if (c) {
            d.remove(*c);
          }
        }
      } unlist{deadlines_, conn};
      auto pool = [&] {
        deadlines_.remove(*conn);
        put_pooled(e.id(), std::move(conn));
      };

      // The request: head and buffered body in one write; a streamed body after it.
      auto sent = Clock::now();
      deadlines_.set(*conn, try_end);
      std::array<asio::const_buffer, 2> out{asio::buffer(x.up_head),
                                            asio::buffer(client.in.data().data(), body_buffered)};
      auto [wec, wn] = co_await send_all(deadlines_.ring(), *conn, out);
      e->stats->m_bytes_out->inc(wn);
      if (!wec && body_unread) {
        replayable = false;
        Deadlines::clear(*conn);
        auto sec = co_await stream_request_body(deadlines_, client, *conn, framing, length,
                                                cfg.max_request_bytes, idle);
        if (sec != BodyEnd::kDone) {
          if (sec == BodyEnd::kTooLarge || sec == BodyEnd::kMalformed) {
            state.errors->with({cfg.name, "protocol"}).inc();
            // Named first: g++ 12 destroys a conditional's temporary twice inside co_await.
            std::string why_bad = sec == BodyEnd::kTooLarge
                                      ? "the request body is larger than " +
                                            std::to_string(cfg.max_request_bytes) + " bytes"
                                      : std::string("malformed chunked request body");
            co_await answer(client, sec == BodyEnd::kTooLarge ? 413 : 400, std::move(why_bad),
                            false, idle);
            co_return false;
          }
          if (sec == BodyEnd::kClientGone) {
            co_return false;
          }
          cluster->record(*e, conn->timed_out ? Outcome::kTimeout : Outcome::kReset);
          state.errors->with({cfg.name, conn->timed_out ? "timeout" : "upstream_reset"}).inc();
          why = e->name + ": " + (conn->timed_out ? "timed out" : "connection lost");
          status = conn->timed_out ? 504 : 502;
          break;
        }
        body_unread = false;
        // The time runs from the end of the body: a slow client is not the server's fault.
        auto now2 = Clock::now();
        deadline = now2 + cfg.timeout;
        try_end = cfg.per_try_timeout.count() > 0 ? std::min(deadline, now2 + cfg.per_try_timeout)
                                                  : deadline;
        deadlines_.set(*conn, try_end);
      }

      // The response head; interim 1xx answers are read past.
      bool head_ok = !wec;
      bool malformed = false;
      while (head_ok) {
        auto p = http1::parse_response(conn->in.data(), kMaxHead, is_head, x.res, x.err);
        if (p == http1::Parse::kDone) {
          if (x.res.status / 100 == 1 && x.res.status != 101) {
            conn->in.consume(x.res.size);
            continue;
          }
          if (x.res.status == 101 && (!upgrade || !iequals(x.res.upgrade, "websocket"))) {
            x.err.reason = upgrade ? "101 Switching Protocols to something else than websocket"
                                   : "101 Switching Protocols to a request that did not ask";
            malformed = true;
            head_ok = false;
          }
          break;
        }
        if (p == http1::Parse::kError) {
          malformed = true;
          head_ok = false;
          break;
        }
        auto before = conn->in.data().size();
        head_ok = co_await read_more(*conn, try_end);
        e->stats->m_bytes_in->inc(conn->in.data().size() - before);
      }
      Deadlines::clear(*conn);
      if (!head_ok) {
        bool timeout = conn->timed_out;
        bool nothing_read = conn->in.data().empty();
        // A pooled connection the server had closed: nothing was processed, so the request may
        // go again on a fresh connection, if it is idempotent or was never fully written (the
        // server may have acted on a POST before closing).
        bool stale =
            reused && !timeout && !malformed && nothing_read && replayable && (wec || can_retry);
        if (!stale) {
          cluster->record(*e, timeout     ? Outcome::kTimeout
                              : malformed ? Outcome::kProtocolError
                                          : Outcome::kReset);
          state.errors
              ->with({cfg.name, timeout     ? "timeout"
                                : malformed ? "upstream_protocol"
                                            : "upstream_reset"})
              .inc();
        }
        auto left = std::chrono::duration_cast<milliseconds>(try_end - sent);
        why = e->name + ": " +
              (timeout     ? "timed out after " + format_duration(left)
               : malformed ? "malformed response: " + x.err.reason
               : wec       ? wec.message()
                           : "connection closed before the response");
        status = timeout ? 504 : 502;
        if (stale) {
          --attempt;  // not a try: the connection was dead before we used it
          last = nullptr;
          continue;
        }
        if (!can_retry || !replayable) {
          break;
        }
        continue;
      }

      if (x.res.status == 101) {
        // Switched (WebSocket): the 101 goes to the client, then bytes flow both ways until
        // both sides have closed; this connection to the server is never pooled.
        cluster->record(*e, Outcome::kSuccess);
        http1::write_upgrade_response_head(x.res, x.out_head);
        conn->in.consume(x.res.size);
        client.in.consume(body_buffered);
        auto now2 = Clock::now();
        e->stats->m_latency->observe(std::chrono::duration<double>(now2 - sent).count());
        state.latency->observe(std::chrono::duration<double>(now2 - started).count());
        end_retry.release();  // the retry is over; the tunnel may last for hours
        if (co_await write(client, asio::buffer(x.out_head), idle)) {
          co_await tunnel(deadlines_, client, *conn, idle, *e->stats->m_bytes_out,
                          *e->stats->m_bytes_in);
        }
        co_return false;
      }
      const http1::Head& res = x.res;
      int code = res.status;
      cluster->record(*e, code >= 500 ? Outcome::kServerError : Outcome::kSuccess);
      if (can_retry && replayable && (code == 502 || code == 503 || code == 504) &&
          attempt < cfg.retries) {
        // Answered with a retryable error: try another endpoint. The connection is kept only
        // when this answer's body is already read whole.
        std::size_t whole = res.size + (res.framing == http1::Framing::kLength ? res.length : 0);
        if (res.keep_alive && !is_head &&
            (res.framing == http1::Framing::kNone || res.framing == http1::Framing::kLength) &&
            conn->in.data().size() == whole) {
          conn->in.clear();
          pool();
        }
        why = e->name + " answered " + std::to_string(code);
        status = code;
        continue;
      }

      // Forward the answer.
      bool dechunk = res.framing == http1::Framing::kChunked && client_minor == 0;
      keep = keep && !draining_ && res.framing != http1::Framing::kUntilClose && !dechunk;
      http1::write_response_head(res, client_minor, keep, dechunk, x.out_head);
      bool up_keep = res.keep_alive;
      auto res_framing = res.framing;
      std::uint64_t res_length = res.length;
      conn->in.consume(res.size);  // the views in res end here
      auto done =
          co_await stream_response(deadlines_, client, *conn, x.out_head, res_framing, res_length,
                                   dechunk, idle, *e->stats->m_bytes_in, x.decoded);
      if (done == BodyEnd::kClientGone) {
        co_return false;
      }
      auto answered = Clock::now();
      e->stats->m_latency->observe(std::chrono::duration<double>(answered - sent).count());
      state.latency->observe(std::chrono::duration<double>(answered - started).count());
      if (done == BodyEnd::kUpstreamGone) {  // mid-body: the client's answer is cut short
        cluster->record(*e, conn->timed_out ? Outcome::kTimeout : Outcome::kReset);
        co_return false;
      }
      // Not after HEAD: a server that wrongly sends a body anyway would have it read as the
      // next answer.
      if (up_keep && res_framing != http1::Framing::kUntilClose && conn->in.data().empty() &&
          !draining_ && !is_head) {
        pool();
      }
      client.in.consume(body_buffered);
      co_return keep;
    }
    client.in.consume(body_buffered);
    co_return co_await answer(client, status, "upstream: " + why, keep && !body_unread, idle);
  }

  // A reload: idle connections to clusters no longer routed to are closed.
  void update(std::shared_ptr<const ListenerState> state) override {
    for (auto it = pool_.begin(); it != pool_.end();) {
      const auto& conns = it->second;
      bool routed = !conns.empty() && std::any_of(state->clusters.begin(), state->clusters.end(),
                                                  [&](const std::shared_ptr<Cluster>& c) {
                                                    return c == conns.front()->lease.cluster;
                                                  });
      it = routed ? std::next(it) : pool_.erase(it);
    }
    ListenerBase::update(std::move(state));
    listen_slots();
  }

  // Closes idle connections to endpoints that left `cluster`; looks only when the cluster's
  // generation moved since the last look.
  void prune(Cluster& cluster) {
    membership_.prune(
        cluster, pool_,
        [&](const auto& conns) {
          return conns.empty() || conns.front()->lease.cluster.get() == &cluster;
        },
        [](auto&) {});  // erasing closes them
  }

  // An idle connection to the endpoint, or none. One kept for a request that must not be sent
  // twice is first checked for having been closed by the server.
  std::unique_ptr<Upstream> take_pooled(const EndpointStats* id, bool can_retry) {
    auto it = pool_.find(id);
    while (it != pool_.end() && !it->second.empty()) {
      auto conn = std::move(it->second.back());
      it->second.pop_back();
      if (!conn->socket.is_open()) {
        continue;
      }
      if (!can_retry) {
        char c = 0;
        auto got = ::recv(conn->socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          continue;  // closed, or sent something unasked: not usable
        }
      }
      conn->timed_out = false;
      return conn;
    }
    return nullptr;
  }

  void put_pooled(const EndpointStats* id, std::unique_ptr<Upstream> conn) {
    if (stopped_) {
      return;  // closed
    }
    const Cluster* c = conn->lease.cluster.get();
    auto& idle = pool_[id];
    idle.push_back(std::move(conn));
    if (wake_one(c)) {
      return;  // a request waiting here takes it, or its slot
    }
    if (c->connections_wanted()) {
      idle.pop_back();  // closed: its slot goes to a request waiting on another worker
    } else if (idle.size() > kPoolPerEndpoint) {
      idle.erase(idle.begin());
    }
  }

  // Closes one idle connection of `cluster`, which frees a slot of its max_connections.
  bool close_idle(const Cluster* cluster) {
    for (auto& [id, conns] : pool_) {
      if (!conns.empty() && conns.front()->lease.cluster.get() == cluster) {
        conns.pop_back();
        return true;
      }
    }
    return false;
  }

  // Requests waiting for a connection (max_connections reached), oldest first.
  struct SlotWaiter {
    const Cluster* cluster;
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
  asio::awaitable<Wait> wait_slot(const Cluster* cluster, Clock::time_point deadline) {
    if (stopped_) {
      co_return Wait::kStopped;
    }
    SlotWaiter w{cluster, asio::steady_timer(worker_.ioc(), deadline)};
    auto at = slot_waiters_.insert(slot_waiters_.end(), &w);
    co_await w.timer.async_wait(kTuple);
    slot_waiters_.erase(at);
    co_return stopped_ ? Wait::kStopped : w.woken ? Wait::kWoken : Wait::kTimedOut;
  }
  // Takes room for a retry in `cluster`'s retry budget. A retry over the budget waits for
  // room, backing off from 1 ms to 50 ms, rather than failing its request: the budget bounds
  // how many retries are in flight, and a backend that dies fails more requests at once than
  // any share of those in flight (half of them, of two). False when `deadline` came first.
  asio::awaitable<bool> wait_retry(const ListenerConfig& cfg, Cluster& cluster,
                                   Clock::time_point deadline) {
    auto pause = milliseconds(1);
    while (!cluster.try_retry(retry_budget(cfg, cluster))) {
      auto now = Clock::now();
      if (stopped_ || now + pause >= deadline) {
        co_return false;
      }
      asio::steady_timer t(worker_.ioc(), pause);
      co_await t.async_wait(kTuple);
      pause = std::min(pause * 2, milliseconds(50));
    }
    co_return true;
  }
  bool wake_one(const Cluster* cluster) {
    for (SlotWaiter* w : slot_waiters_) {
      if (w->cluster == cluster && !w->woken) {
        w->woken = true;
        w->timer.cancel();
        return true;
      }
    }
    return false;
  }

  Deadlines deadlines_;
  // Keyed by the endpoint's stats, which live as long as the endpoint stays in its cluster.
  std::unordered_map<const EndpointStats*, std::vector<std::unique_ptr<Upstream>>> pool_;
  MembershipWatch membership_;
  std::list<SlotWaiter*> slot_waiters_;
  bool draining_ = false;
  bool stopped_ = false;
};

}  // namespace

std::shared_ptr<WorkerListener> make_http_listener(Worker& worker, tcp::acceptor acceptor,
                                                   std::shared_ptr<const ListenerState> state) {
  auto l = std::make_shared<HttpListener>(worker, std::move(acceptor), std::move(state));
  l->start();
  l->start_sweeper();
  l->listen_slots();
  return l;
}

}  // namespace tender::ambassador

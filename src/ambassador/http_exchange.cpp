// One exchange of the http listener (http_listener.hpp): a request read from the client, routed,
// and sent to an endpoint of its cluster, again on another if the try fails and the request may
// go again; then the response streamed back, or a WebSocket tunnel after a 101.
//
// exchange() tells the story of one request; tries() and try_once() that of its tries, each
// step a function of its own. Their guards (EndRequest, EndRetry, EndActive, PendingSlot,
// Unlist) bound the request's counts in its cluster and endpoint, as their scopes say.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ambassador/http_listener.hpp"
#include "ambassador/http_stream.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"
#include "core/http.hpp"
#include "core/http1.hpp"

namespace tender::ambassador::http_internal {
namespace {

constexpr std::size_t kMaxHead = 16 * 1024;  // request and response heads
constexpr std::uint64_t kReplayLimit = 64 * 1024;

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

// The cluster (index in state.clusters) of the first route that matches.
int route(const ListenerState& state, std::string_view host, std::string_view target) {
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

// When a try that starts `now` must be over.
SteadyClock::time_point end_of_try(const ListenerConfig& cfg, SteadyClock::time_point deadline,
                                   SteadyClock::time_point now) {
  return cfg.per_try_timeout.count() > 0 ? std::min(deadline, now + cfg.per_try_timeout) : deadline;
}

}  // namespace

asio::awaitable<bool> HttpListener::answer(Conn& client, int status, std::string why, bool keep,
                                           milliseconds timeout) {
  why += '\n';
  std::string r = http1::local_response(status, why, keep);
  co_return co_await write(client, asio::buffer(r), timeout) && keep;
}

asio::awaitable<bool> HttpListener::exchange(const ListenerState& state, Conn& client,
                                             const std::string& client_ip, Exchange& x) {
  if (!co_await read_request_head(state, client, x)) {
    co_return false;
  }
  const auto& cfg = state.config;
  Request rq(state, client, x, idle_timeout(cfg));
  start_request(rq, client_ip);
  if (rq.route < 0) {
    state.errors->with({cfg.name, "no_route"}).inc();
    co_return co_await answer(client, 404, "no route for this host and path",
                              rq.keep && !rq.body_unread, rq.idle);
  }
  if (rq.framing == http1::Framing::kLength && rq.length > cfg.max_request_bytes) {
    state.errors->with({cfg.name, "protocol"}).inc();
    co_return co_await answer(
        client, 413,
        "the request body is larger than " + std::to_string(cfg.max_request_bytes) + " bytes",
        false, rq.idle);
  }
  if (!co_await read_small_body(rq)) {
    co_return false;
  }
  // The request now takes a slot of the cluster's max_requests (a slow client sending its
  // body does not hold one), and `timeout` runs from here.
  const auto& cluster = rq.cluster();
  if (!cluster->try_request()) {
    state.errors->with({cfg.name, "overflow"}).inc();
    client.in.consume(rq.body_buffered);
    co_return co_await answer(client, 503,
                              "cluster " + cluster->name() + " is at its max_requests limit",
                              rq.keep && !rq.body_unread, rq.idle);
  }
  struct EndRequest {
    Cluster* c;
    ~EndRequest() { c->end_request(); }
  } end{cluster.get()};
  co_return co_await tries(rq);
}

asio::awaitable<bool> HttpListener::read_request_head(const ListenerState& state, Conn& client,
                                                      Exchange& x) {
  const auto& cfg = state.config;
  auto idle = idle_timeout(cfg);
  // Between requests a connection may wait `idle`; once a request has begun, its head must be
  // complete within `idle` of its first byte (not of each byte).
  std::optional<SteadyClock::time_point> head_deadline;
  for (;;) {
    auto p = http1::parse_request(client.in.data(), kMaxHead, x.req, x.err);
    if (p == http1::Parse::kDone) {
      co_return true;
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
      head_deadline = SteadyClock::now() + idle;
    }
    bool more =
        client.idle ? co_await read_more(client, idle) : co_await read_more(client, *head_deadline);
    client.idle = false;
    if (!more) {
      co_return false;
    }
  }
}

void HttpListener::start_request(Request& rq, const std::string& client_ip) {
  Exchange& x = rq.x;
  const http1::Head& req = x.req;
  rq.state.requests->inc();
  rq.started = SteadyClock::now();
  rq.keep = req.keep_alive;
  rq.client_minor = req.minor;
  rq.is_head = req.method == "HEAD";
  rq.can_retry = idempotent(req.method);
  rq.framing = req.framing;
  rq.length = req.length;
  rq.expect = req.expect_continue && rq.client_minor >= 1;
  // A request to switch to WebSocket (a GET, RFC 6455) goes upstream asking for it, unless its
  // body would have to stream: it is then an ordinary request. Other protocols are not tunnelled:
  // after an h2c upgrade the client could send the server requests that routing never saw.
  if (!x.req.upgrade.empty() &&
      (!iequals(x.req.upgrade, "websocket") || req.method != "GET" ||
       (rq.framing != http1::Framing::kNone &&
        !(rq.framing == http1::Framing::kLength && rq.length <= kReplayLimit)))) {
    x.req.upgrade = {};
  }
  rq.upgrade = !x.req.upgrade.empty();
  rq.route = route(rq.state, req.host, req.target);
  if (rq.route >= 0) {
    const auto& c = rq.cluster();
    if (const HashOn* on = worker_.view(c).hash_on()) {
      rq.key_hash = request_hash(*on, req, client_ip, c->hash());
    }
  }
  http1::write_request_head(req, client_ip, x.up_head);
  rq.client.in.consume(req.size);  // the views in req end here
  rq.body_unread = rq.framing != http1::Framing::kNone;
}

// A small body is read whole: it stays in the client's buffer until the answer, so that a
// retry can send it again. A larger or chunked one streams on the first try.
asio::awaitable<bool> HttpListener::read_small_body(Request& rq) {
  Conn& client = rq.client;
  if (rq.body_unread && rq.expect &&
      (rq.framing != http1::Framing::kLength || client.in.data().size() < rq.length)) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!co_await write(client, asio::buffer(kContinue), rq.idle)) {
      co_return false;
    }
  }
  if (rq.framing == http1::Framing::kLength && rq.length <= kReplayLimit) {
    while (client.in.data().size() < rq.length) {
      if (!co_await read_more(client, rq.idle)) {
        co_return false;
      }
    }
    rq.body_buffered = static_cast<std::size_t>(rq.length);
    rq.body_unread = false;
  }
  co_return true;
}

asio::awaitable<bool> HttpListener::tries(Request& rq) {
  const auto& cfg = rq.cfg;
  Cluster& cluster = *rq.cluster();
  rq.deadline = SteadyClock::now() + cfg.timeout;
  rq.connect_timeout = cluster.connect_timeout();
  for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
    // A retry takes room in the retry budget, unless the try before it never reached a
    // server: that one costs the cluster nothing, and an endpoint that just died refuses
    // many at once.
    bool budgeted = attempt > 0 && !rq.refused;
    if (budgeted && !co_await wait_retry(cfg, cluster, rq.deadline)) {
      rq.state.errors->with({cfg.name, "retry_budget"}).inc();
      break;
    }
    if (attempt > 0) {
      cluster.retries().inc();
    }
    rq.refused = false;
    Then then = co_await try_once(rq, budgeted, attempt < cfg.retries);
    if (then == Then::kRedo) {
      --attempt;  // not a try: the connection was dead before we used it
      rq.last = nullptr;
      continue;
    }
    if (then == Then::kRetry) {
      continue;
    }
    if (then == Then::kGiveUp) {
      break;
    }
    co_return then == Then::kKeepOpen;
  }
  rq.client.in.consume(rq.body_buffered);
  co_return co_await answer(rq.client, rq.status, "upstream: " + rq.why, rq.keep && !rq.body_unread,
                            rq.idle);
}

asio::awaitable<Then> HttpListener::try_once(Request& rq, bool budgeted, bool more_tries) {
  const auto& cluster = rq.cluster();
  EndRetry end_retry{cluster.get(), budgeted};
  auto now = SteadyClock::now();
  if (now >= rq.deadline) {
    rq.status = 504;
    rq.why = "timed out after " + format_duration(rq.cfg.timeout);
    co_return Then::kGiveUp;
  }
  Try t;
  t.end = end_of_try(rq.cfg, rq.deadline, now);
  Picked e = pick(rq);
  if (!e) {
    co_return Then::kGiveUp;
  }
  rq.last = e.id();
  e->stats->m_requests->inc();
  e->stats->active.fetch_add(1, std::memory_order_relaxed);
  struct EndActive {
    EndpointStats* s;
    ~EndActive() { s->active.fetch_sub(1, std::memory_order_relaxed); }
  } end_active{e->stats.get()};

  std::unique_ptr<Upstream> conn;
  Then connected = co_await connect(rq, e, now, t, conn);
  if (connected != Then::kNext) {
    co_return connected;
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

  Then sent = co_await send_request(rq, e, *conn, t);
  if (sent != Then::kNext) {
    co_return sent;
  }
  if (!co_await read_response_head(rq, e, *conn, t)) {
    co_return failed(rq, e, *conn, t);
  }
  if (rq.x.res.status == 101) {
    co_return co_await upgrade(rq, e, *conn, t, end_retry);
  }
  int code = rq.x.res.status;
  cluster->record(*e, code >= 500 ? Outcome::kServerError : Outcome::kSuccess);
  if (retry_answer(rq, e, conn, more_tries)) {
    co_return Then::kRetry;
  }
  co_return co_await respond(rq, e, conn, t);
}

Picked HttpListener::pick(Request& rq) {
  const auto& cfg = rq.cfg;
  const auto& cluster = rq.cluster();
  prune(*cluster);
  auto& view = worker_.view(cluster);
  Picked e = view.pick(rq.key_hash, rq.last);
  if (!e) {
    if (const Endpoint* down = view.owner_down()) {
      rq.state.errors->with({cfg.name, "shard_down"}).inc();
      rq.why = "endpoint " + down->name + " of cluster " + cluster->name() +
               ", which requests with this key go to, is down (unhealthy or ejected); they are "
               "not sent elsewhere (auto_eject: false)";
    } else {
      rq.state.errors->with({cfg.name, "no_endpoint"}).inc();
      rq.why = "no healthy endpoint in cluster " + cluster->name();
    }
    rq.status = 503;
  }
  return e;
}

// A pooled connection, or a new one (a failed connect is always safe to retry). With every
// connection the cluster allows open, the request waits for one.
asio::awaitable<Then> HttpListener::connect(Request& rq, const Picked& e,
                                            SteadyClock::time_point now, Try& t,
                                            std::unique_ptr<Upstream>& conn) {
  const auto& cfg = rq.cfg;
  const auto& cluster = rq.cluster();
  bool check_pooled = rq.can_retry && !rq.body_unread;
  conn = take_pooled(e.id(), check_pooled);
  t.reused = conn != nullptr;
  bool waited = false;
  bool gave_up = false;  // waited for a connection in vain
  PendingSlot pending;
  while (!conn) {
    tcp::socket s(worker_.ioc());
    UpstreamLease lease;
    auto left = std::chrono::duration_cast<milliseconds>(t.end - now);
    auto cec = co_await connect_upstream(s, cluster, *e, std::min(left, rq.connect_timeout), lease,
                                         !waited);
    if (!cec) {
      conn = std::make_unique<Upstream>(std::move(s), std::move(lease));
      break;
    }
    if (cec != asio::error::no_buffer_space) {
      rq.refused = cec == asio::error::connection_refused;
      // A connect whose time the wait for a slot had eaten is not the endpoint's fault.
      if (!waited || cec != asio::error::timed_out) {
        cluster->record(
            *e, cec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure);
      }
      rq.state.errors->with({cfg.name, "upstream_connect"}).inc();
      rq.why = e->name + ": " + cec.message();
      rq.status = cec == asio::error::timed_out && left <= rq.connect_timeout ? 504 : 502;
      break;
    }
    if (close_idle(cluster.get())) {
      continue;  // an idle connection of this worker to another endpoint gave its slot
    }
    waited = true;
    if (!co_await wait_connection(rq, pending)) {
      gave_up = true;
      break;
    }
    now = SteadyClock::now();
    t.end = end_of_try(cfg, rq.deadline, now);
    conn = take_pooled(e.id(), check_pooled);
    t.reused = conn != nullptr;
  }
  pending.release();
  if (gave_up) {
    co_return Then::kGiveUp;
  }
  if (!conn) {
    co_return Then::kRetry;  // the connect failed: safe to try again
  }
  co_return Then::kNext;
}

// A pending request: within max_pending, until a connection or its slot comes free here, or
// the request's time is up.
asio::awaitable<bool> HttpListener::wait_connection(Request& rq, PendingSlot& pending) {
  const auto& cfg = rq.cfg;
  const auto& cluster = rq.cluster();
  if (!pending.c) {
    if (!cluster->try_pending()) {
      rq.state.errors->with({cfg.name, "overflow"}).inc();
      rq.status = 503;
      rq.why = "cluster " + cluster->name() + " is at its max_pending limit (all " +
               std::to_string(cluster->max_connections()) + " connections in use)";
      co_return false;
    }
    pending.c = cluster.get();
    cluster->want_slot();
  }
  auto w = co_await wait_slot(cluster.get(), rq.deadline);
  if (w == Wait::kWoken && SteadyClock::now() >= rq.deadline) {
    w = Wait::kTimedOut;  // woken as its time ran out
  }
  if (w != Wait::kWoken) {
    if (w == Wait::kTimedOut) {
      rq.state.errors->with({cfg.name, "timeout"}).inc();
    }
    rq.status = w == Wait::kTimedOut ? 504 : 503;
    rq.why = w == Wait::kTimedOut
                 ? "no connection of cluster " + cluster->name() + " came free within " +
                       format_duration(cfg.timeout) + " (max_connections " +
                       std::to_string(cluster->max_connections()) + ")"
                 : "the proxy is stopping";
    co_return false;
  }
  co_return true;
}

// The request: head and buffered body in one write; a streamed body after it.
asio::awaitable<Then> HttpListener::send_request(Request& rq, const Picked& e, Upstream& conn,
                                                 Try& t) {
  const auto& cfg = rq.cfg;
  t.sent = SteadyClock::now();
  deadlines_.set(conn, t.end);
  std::array<asio::const_buffer, 2> out{asio::buffer(rq.x.up_head),
                                        asio::buffer(rq.client.in.data().data(), rq.body_buffered)};
  auto [wec, wn] = co_await send_all(deadlines_.ring(), conn, out);
  t.wec = wec;
  e->stats->m_bytes_out->inc(wn);
  if (wec || !rq.body_unread) {
    co_return Then::kNext;
  }
  rq.replayable = false;
  Deadlines::clear(conn);
  auto sec = co_await stream_request_body(deadlines_, rq.client, conn, rq.framing, rq.length,
                                          cfg.max_request_bytes, rq.idle);
  if (sec == BodyEnd::kTooLarge || sec == BodyEnd::kMalformed) {
    rq.state.errors->with({cfg.name, "protocol"}).inc();
    // Named first: g++ 12 destroys a conditional's temporary twice inside co_await.
    std::string why_bad =
        sec == BodyEnd::kTooLarge
            ? "the request body is larger than " + std::to_string(cfg.max_request_bytes) + " bytes"
            : std::string("malformed chunked request body");
    co_await answer(rq.client, sec == BodyEnd::kTooLarge ? 413 : 400, std::move(why_bad), false,
                    rq.idle);
    co_return Then::kClose;
  }
  if (sec == BodyEnd::kClientGone) {
    co_return Then::kClose;
  }
  if (sec != BodyEnd::kDone) {
    rq.cluster()->record(*e, conn.timed_out ? Outcome::kTimeout : Outcome::kReset);
    rq.state.errors->with({cfg.name, conn.timed_out ? "timeout" : "upstream_reset"}).inc();
    rq.why = e->name + ": " + (conn.timed_out ? "timed out" : "connection lost");
    rq.status = conn.timed_out ? 504 : 502;
    co_return Then::kGiveUp;
  }
  rq.body_unread = false;
  // The time runs from the end of the body: a slow client is not the server's fault.
  auto now = SteadyClock::now();
  rq.deadline = now + cfg.timeout;
  t.end = end_of_try(cfg, rq.deadline, now);
  deadlines_.set(conn, t.end);
  co_return Then::kNext;
}

// Interim 1xx answers are read past.
asio::awaitable<bool> HttpListener::read_response_head(Request& rq, const Picked& e, Upstream& conn,
                                                       Try& t) {
  Exchange& x = rq.x;
  bool head_ok = !t.wec;
  while (head_ok) {
    auto p = http1::parse_response(conn.in.data(), kMaxHead, rq.is_head, x.res, x.err);
    if (p == http1::Parse::kDone) {
      if (x.res.status / 100 == 1 && x.res.status != 101) {
        conn.in.consume(x.res.size);
        continue;
      }
      if (x.res.status == 101 && (!rq.upgrade || !iequals(x.res.upgrade, "websocket"))) {
        x.err.reason = rq.upgrade ? "101 Switching Protocols to something else than websocket"
                                  : "101 Switching Protocols to a request that did not ask";
        t.malformed = true;
        head_ok = false;
      }
      break;
    }
    if (p == http1::Parse::kError) {
      t.malformed = true;
      head_ok = false;
      break;
    }
    auto before = conn.in.data().size();
    head_ok = co_await read_more(conn, t.end);
    e->stats->m_bytes_in->inc(conn.in.data().size() - before);
  }
  Deadlines::clear(conn);
  co_return head_ok;
}

Then HttpListener::failed(Request& rq, const Picked& e, Upstream& conn, const Try& t) {
  bool timeout = conn.timed_out;
  bool nothing_read = conn.in.data().empty();
  // A pooled connection the server had closed: nothing was processed, so the request may
  // go again on a fresh connection, if it is idempotent or was never fully written (the
  // server may have acted on a POST before closing).
  bool stale = t.reused && !timeout && !t.malformed && nothing_read && rq.replayable &&
               (t.wec || rq.can_retry);
  if (!stale) {
    rq.cluster()->record(*e, timeout       ? Outcome::kTimeout
                             : t.malformed ? Outcome::kProtocolError
                                           : Outcome::kReset);
    rq.state.errors
        ->with({rq.cfg.name, timeout       ? "timeout"
                             : t.malformed ? "upstream_protocol"
                                           : "upstream_reset"})
        .inc();
  }
  auto left = std::chrono::duration_cast<milliseconds>(t.end - t.sent);
  rq.why = e->name + ": " +
           (timeout       ? "timed out after " + format_duration(left)
            : t.malformed ? "malformed response: " + rq.x.err.reason
            : t.wec       ? t.wec.message()
                          : "connection closed before the response");
  rq.status = timeout ? 504 : 502;
  if (stale) {
    return Then::kRedo;
  }
  if (!rq.can_retry || !rq.replayable) {
    return Then::kGiveUp;
  }
  return Then::kRetry;
}

// Switched (WebSocket): the 101 goes to the client, then bytes flow both ways until both sides
// have closed; this connection to the server is never pooled.
asio::awaitable<Then> HttpListener::upgrade(Request& rq, const Picked& e, Upstream& conn,
                                            const Try& t, EndRetry& end_retry) {
  Exchange& x = rq.x;
  rq.cluster()->record(*e, Outcome::kSuccess);
  http1::write_upgrade_response_head(x.res, x.out_head);
  conn.in.consume(x.res.size);
  rq.client.in.consume(rq.body_buffered);
  auto now = SteadyClock::now();
  e->stats->m_latency->observe(std::chrono::duration<double>(now - t.sent).count());
  rq.state.latency->observe(std::chrono::duration<double>(now - rq.started).count());
  end_retry.release();  // the retry is over; the tunnel may last for hours
  if (co_await write(rq.client, asio::buffer(x.out_head), rq.idle)) {
    co_await tunnel(deadlines_, rq.client, conn, rq.idle, *e->stats->m_bytes_out,
                    *e->stats->m_bytes_in);
  }
  co_return Then::kClose;
}

// Answered with a retryable error: try another endpoint. The connection is kept only when
// this answer's body is already read whole.
bool HttpListener::retry_answer(Request& rq, const Picked& e, std::unique_ptr<Upstream>& conn,
                                bool more_tries) {
  const http1::Head& res = rq.x.res;
  int code = res.status;
  if (!(rq.can_retry && rq.replayable && (code == 502 || code == 503 || code == 504) &&
        more_tries)) {
    return false;
  }
  std::size_t whole = res.size + (res.framing == http1::Framing::kLength ? res.length : 0);
  if (res.keep_alive && !rq.is_head &&
      (res.framing == http1::Framing::kNone || res.framing == http1::Framing::kLength) &&
      conn->in.data().size() == whole) {
    conn->in.clear();
    pool(e, conn);
  }
  rq.why = e->name + " answered " + std::to_string(code);
  rq.status = code;
  return true;
}

asio::awaitable<Then> HttpListener::respond(Request& rq, const Picked& e,
                                            std::unique_ptr<Upstream>& conn, const Try& t) {
  Exchange& x = rq.x;
  const http1::Head& res = x.res;
  bool dechunk = res.framing == http1::Framing::kChunked && rq.client_minor == 0;
  bool keep = rq.keep && !draining_ && res.framing != http1::Framing::kUntilClose && !dechunk;
  http1::write_response_head(res, rq.client_minor, keep, dechunk, x.out_head);
  bool up_keep = res.keep_alive;
  auto res_framing = res.framing;
  std::uint64_t res_length = res.length;
  conn->in.consume(res.size);  // the views in res end here
  auto done =
      co_await stream_response(deadlines_, rq.client, *conn, x.out_head, res_framing, res_length,
                               dechunk, rq.idle, *e->stats->m_bytes_in, x.decoded);
  if (done == BodyEnd::kClientGone) {
    co_return Then::kClose;
  }
  auto answered = SteadyClock::now();
  e->stats->m_latency->observe(std::chrono::duration<double>(answered - t.sent).count());
  rq.state.latency->observe(std::chrono::duration<double>(answered - rq.started).count());
  if (done == BodyEnd::kUpstreamGone) {  // mid-body: the client's answer is cut short
    rq.cluster()->record(*e, conn->timed_out ? Outcome::kTimeout : Outcome::kReset);
    co_return Then::kClose;
  }
  // Not after HEAD: a server that wrongly sends a body anyway would have it read as the
  // next answer.
  if (up_keep && res_framing != http1::Framing::kUntilClose && conn->in.data().empty() &&
      !draining_ && !rq.is_head) {
    pool(e, conn);
  }
  rq.client.in.consume(rq.body_buffered);
  co_return keep ? Then::kKeepOpen : Then::kClose;
}

void HttpListener::pool(const Picked& e, std::unique_ptr<Upstream>& conn) {
  deadlines_.remove(*conn);
  put_pooled(e.id(), std::move(conn));
}

}  // namespace tender::ambassador::http_internal

// The http listener: HTTP/1.1 with keep-alive on both sides, pooled upstream connections per
// worker and endpoint, routing by path prefix and Host, a request timeout and a per-try timeout,
// retries (idempotent requests; any request whose connect failed) within a retry budget and the
// cluster's retry breaker, and X-Forwarded-For.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include "core/http.hpp"

#include "ambassador/worker.hpp"
#include "core/log.hpp"

namespace tender::ambassador {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using Clock = std::chrono::steady_clock;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

bool idempotent(bhttp::verb v) {
  return v == bhttp::verb::get || v == bhttp::verb::head || v == bhttp::verb::put ||
         v == bhttp::verb::delete_ || v == bhttp::verb::options || v == bhttp::verb::trace;
}

// Hop-by-hop fields (RFC 9110 7.6.1) are not forwarded; nor are those Connection names.
void strip_hop_by_hop(bhttp::fields& f) {
  std::vector<std::string> named;
  for (auto it = f.find(bhttp::field::connection);
       it != f.end() && it->name() == bhttp::field::connection; ++it) {
    std::string v(it->value());
    std::size_t start = 0;
    while (start < v.size()) {
      std::size_t comma = v.find(',', start);
      std::string token = v.substr(start, comma == std::string::npos ? comma : comma - start);
      token.erase(0, token.find_first_not_of(" \t"));
      token.erase(token.find_last_not_of(" \t") + 1);
      if (!token.empty()) {
        named.push_back(token);
      }
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
  }
  for (const auto& n : named) {
    f.erase(n);
  }
  for (auto field : {bhttp::field::connection, bhttp::field::keep_alive, bhttp::field::expect,
                     bhttp::field::proxy_connection, bhttp::field::te, bhttp::field::trailer,
                     bhttp::field::transfer_encoding, bhttp::field::upgrade}) {
    f.erase(field);
  }
}

Response error_response(unsigned version, bool keep_alive, int status, const std::string& reason) {
  Response r{static_cast<bhttp::status>(status), version};
  r.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  r.set(bhttp::field::server, "tender-proxy");
  r.body() = reason + "\n";
  r.keep_alive(keep_alive);
  r.prepare_payload();
  return r;
}

class HttpListener final : public ListenerBase<HttpListener> {
 public:
  using ListenerBase::ListenerBase;

  void stop(bool close_all) override {
    boost::system::error_code ec;
    close_acceptor();
    draining_ = true;
    for (auto* s : clients_) {
      if (close_all || idle_.count(s) != 0) {
        s->socket().close(ec);
      }
    }
    if (close_all) {
      pool_.clear();
    }
  }

 private:
  friend class ListenerBase<HttpListener>;  // calls serve()

  struct Pooled {
    beast::tcp_stream stream;
    UpstreamLease lease;
    beast::flat_buffer buffer;  // bytes read past a response stay with its connection
  };

  static asio::awaitable<void> serve(std::shared_ptr<HttpListener> self, tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto peer = socket.remote_endpoint(ec);
    std::string client_ip = ec ? "" : peer.address().to_string();
    beast::tcp_stream stream(std::move(socket));
    self->clients_.insert(&stream);
    self->count_.fetch_add(1);
    auto state = self->state_;
    state->connections->inc();
    beast::flat_buffer buffer;
    for (;;) {
      state = self->state_;  // a reload applies from the next request on
      const auto& cfg = state->config;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(cfg.max_request_bytes);
      self->idle_.insert(&stream);
      if (self->draining_) {
        break;
      }
      stream.expires_after(cfg.idle_timeout.count() > 0 ? cfg.idle_timeout
                                                        : std::chrono::milliseconds(60'000));
      auto [rec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      self->idle_.erase(&stream);
      if (rec == bhttp::error::end_of_stream || rec == asio::error::eof ||
          rec == beast::error::timeout || rec == asio::error::operation_aborted ||
          rec == asio::error::connection_reset) {
        break;
      }
      if (rec) {
        int status = rec == bhttp::error::header_limit ? 431
                     : rec == bhttp::error::body_limit ? 413
                                                       : 400;
        state->errors->with({cfg.name, "protocol"}).inc();
        auto r = error_response(11, false, status, "bad request: " + rec.message());
        stream.expires_after(std::chrono::seconds(5));
        co_await bhttp::async_write(stream, r, kTuple);
        break;
      }
      Request req = parser.release();
      state->requests->inc();
      auto started = Clock::now();
      bool keep = req.keep_alive();
      Response res = co_await self->forward(*state, req, client_ip);
      keep = keep && !self->draining_;
      res.keep_alive(keep);
      state->latency->observe(std::chrono::duration<double>(Clock::now() - started).count());
      stream.expires_after(std::chrono::seconds(60));
      auto [wec, w] = co_await bhttp::async_write(stream, res, kTuple);
      if (wec || !keep) {
        break;
      }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
    self->clients_.erase(&stream);
    self->idle_.erase(&stream);
    self->count_.fetch_sub(1);
    state->connections->dec();
  }

  // The cluster (index in state.clusters) of the first route that matches.
  static int route(const ListenerState& state, const Request& req) {
    std::string host(req[bhttp::field::host]);
    if (auto colon = host.rfind(':');
        colon != std::string::npos && host.find(']') == std::string::npos) {
      host.erase(colon);
    }
    std::string_view path(req.target().data(), req.target().size());
    const auto& routes = state.config.routes;
    for (std::size_t i = 0; i < routes.size(); ++i) {
      const auto& r = routes[i];
      if (!r.host.empty() && !iequals(r.host, host)) {
        continue;
      }
      if (path.substr(0, r.prefix.size()) == r.prefix) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // Sends the request upstream with the listener's retry policy; always returns a response.
  asio::awaitable<Response> forward(const ListenerState& state, Request& req,
                                    const std::string& client_ip) {
    const auto& cfg = state.config;
    unsigned version = req.version();
    int r = route(state, req);
    if (r < 0) {
      state.errors->with({cfg.name, "no_route"}).inc();
      co_return error_response(version, true, 404, "no route for this host and path");
    }
    const auto& cluster = state.clusters[static_cast<std::size_t>(r)];
    if (!cluster->try_request()) {
      state.errors->with({cfg.name, "overflow"}).inc();
      co_return error_response(version, true, 503,
                               "cluster " + cluster->name() + " is at its max_requests limit");
    }
    struct EndRequest {
      Cluster* c;
      ~EndRequest() { c->end_request(); }
    } end{cluster.get()};
    // The upstream's view of the request.
    strip_hop_by_hop(req);
    if (!client_ip.empty()) {
      auto xff = req["X-Forwarded-For"];
      req.set("X-Forwarded-For", xff.empty() ? client_ip : std::string(xff) + ", " + client_ip);
    }
    req.keep_alive(true);
    req.prepare_payload();
    auto deadline = Clock::now() + cfg.timeout;
    bool can_retry = idempotent(req.method());
    const EndpointStats* last = nullptr;
    std::string why = "no endpoint";
    int status = 503;
    auto connect_timeout = cluster->connect_timeout();
    for (int attempt = 0; attempt <= cfg.retries; ++attempt) {
      if (attempt > 0) {
        // A retry needs the cluster's retry breaker and the listener's budget.
        double budget = cfg.retry_budget_percent / 100.0 *
                        static_cast<double>(std::max<std::uint32_t>(cluster->active_requests(), 1));
        if (static_cast<double>(retries_in_flight_) + 1 > std::max(budget, 3.0) ||
            !cluster->try_retry()) {
          state.errors->with({cfg.name, "retry_budget"}).inc();
          break;
        }
        cluster->retries().inc();
        ++retries_in_flight_;
      }
      struct EndRetry {
        HttpListener* l;
        Cluster* c;
        bool on;
        ~EndRetry() {
          if (on) {
            --l->retries_in_flight_;
            c->end_retry();
          }
        }
      } end_retry{this, cluster.get(), attempt > 0};
      auto now = Clock::now();
      if (now >= deadline) {
        status = 504;
        why = "timed out after " + format_duration(cfg.timeout);
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      auto try_time = cfg.per_try_timeout.count() > 0 ? std::min(left, cfg.per_try_timeout) : left;
      Picked e = worker_.view(cluster).pick(0, last);
      if (!e) {
        state.errors->with({cfg.name, "no_endpoint"}).inc();
        why = "no healthy endpoint in cluster " + cluster->name();
        status = 503;
        break;
      }
      last = e.id();
      e->stats->requests.fetch_add(1, std::memory_order_relaxed);
      e->stats->m_requests->inc();
      e->stats->active.fetch_add(1, std::memory_order_relaxed);
      struct EndActive {
        std::shared_ptr<EndpointStats> s;
        ~EndActive() { s->active.fetch_sub(1, std::memory_order_relaxed); }
      } end_active{e->stats};
      // A pooled connection, or a new one (a failed connect is always safe to retry).
      std::unique_ptr<Pooled> conn;
      auto& idle = pool_[e->stats.get()];  // the stats live as long as the endpoint
      while (!idle.empty() && !conn) {
        conn = std::move(idle.back());
        idle.pop_back();
        if (!conn->stream.socket().is_open()) {
          conn.reset();
        }
      }
      bool reused = conn != nullptr;
      if (!conn) {
        tcp::socket s(worker_.ioc());
        UpstreamLease lease;
        auto cec =
            co_await connect_upstream(s, cluster, *e, std::min(try_time, connect_timeout), lease);
        if (cec) {
          cluster->record(
              *e, cec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure);
          state.errors->with({cfg.name, "upstream_connect"}).inc();
          why = e->name + ": " + cec.message();
          status = cec == asio::error::no_buffer_space ? 503 : 502;
          continue;
        }
        conn = std::make_unique<Pooled>(
            Pooled{beast::tcp_stream(std::move(s)), std::move(lease), beast::flat_buffer()});
      }
      auto sent = Clock::now();
      conn->stream.expires_after(try_time);
      auto [wec, wn] = co_await bhttp::async_write(conn->stream, req, kTuple);
      e->stats->m_bytes_out->inc(wn);
      Response res;
      auto& buf = conn->buffer;
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(std::uint64_t{64} << 20);
      beast::error_code rec = wec;
      std::optional<bhttp::response_parser<bhttp::string_body>> interim;
      while (!wec) {
        // Interim 1xx answers (100 Continue, 103 Early Hints) are read past: the final answer
        // follows on the same connection, and must not be left there for the next request.
        auto& p = interim ? *interim : parser;
        p.body_limit(std::uint64_t{64} << 20);
        if (req.method() == bhttp::verb::head) {
          p.skip(true);
        }
        auto [e2, rn] = co_await bhttp::async_read(conn->stream, buf, p, kTuple);
        e->stats->m_bytes_in->inc(rn);
        rec = e2;
        if (rec || p.get().result_int() / 100 != 1 || p.get().result_int() == 101) {
          break;
        }
        interim.emplace();
      }
      auto& final_parser = interim ? *interim : parser;
      if (rec) {
        bool timeout = rec == beast::error::timeout;
        // A pooled connection the server had closed: nothing was processed, so any request
        // may go again, once, on a fresh connection.
        // After a complete write only an idempotent request may go again: the server may have
        // acted on a POST before closing.
        bool stale = reused && !timeout && (wec || can_retry) &&
                     (rec == asio::error::eof || rec == bhttp::error::end_of_stream ||
                      rec == asio::error::connection_reset || rec == asio::error::broken_pipe);
        if (!stale) {
          cluster->record(*e, timeout ? Outcome::kTimeout : Outcome::kReset);
          state.errors->with({cfg.name, timeout ? "timeout" : "upstream_reset"}).inc();
        }
        why = e->name + ": " +
              (timeout ? "timed out after " + format_duration(try_time) : rec.message());
        status = timeout ? 504 : 502;
        if (stale) {
          --attempt;  // not a try: the connection was dead before we used it
          last = nullptr;
          continue;
        }
        if (!can_retry) {
          break;
        }
        continue;
      }
      res = final_parser.release();
      e->stats->m_latency->observe(std::chrono::duration<double>(Clock::now() - sent).count());
      int code = res.result_int();
      bool retryable =
          can_retry && (code == 502 || code == 503 || code == 504) && attempt < cfg.retries;
      cluster->record(*e, code >= 500 ? Outcome::kServerError : Outcome::kSuccess);
      // Only a connection with nothing unread goes back to the pool.
      if (res.keep_alive() && !draining_ && buf.size() == 0) {
        conn->stream.expires_never();
        idle.push_back(std::move(conn));
        if (idle.size() > 64) {
          idle.erase(idle.begin());
        }
      }
      if (retryable) {
        why = e->name + " answered " + std::to_string(code);
        status = code;
        continue;
      }
      bool has_length = res.has_content_length();
      strip_hop_by_hop(res);
      // The body was de-chunked: give it a length, except where there is none to give (HEAD,
      // 204, 304), which keep the upstream's Content-Length as it was.
      if (req.method() != bhttp::verb::head && code != 204 && code != 304) {
        res.prepare_payload();
      } else if (!has_length) {
        res.erase(bhttp::field::content_length);
      }
      co_return res;
    }
    co_return error_response(version, true, status, "upstream: " + why);
  }

  std::unordered_map<const EndpointStats*, std::vector<std::unique_ptr<Pooled>>> pool_;
  std::set<beast::tcp_stream*> clients_;
  std::set<beast::tcp_stream*> idle_;
  std::uint32_t retries_in_flight_ = 0;
  bool draining_ = false;
};

}  // namespace

std::shared_ptr<WorkerListener> make_http_listener(Worker& worker, tcp::acceptor acceptor,
                                                   std::shared_ptr<const ListenerState> state) {
  auto l = std::make_shared<HttpListener>(worker, std::move(acceptor), std::move(state));
  l->start();
  return l;
}

}  // namespace tender::ambassador

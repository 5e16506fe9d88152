// The runner's routes behind its web view: a container's log tail, and a reverse proxy to the
// admin listener of a container that runs a tender role, so its own web view opens from the
// runner's (GET /v1/pods/NAME/containers/C/admin/ui).
#include <fcntl.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

#include "core/netns.hpp"
#include "pod/log_tail.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kProxyMaxRequestBody = std::size_t{64} << 10;
constexpr std::size_t kProxyMaxAnswer = std::size_t{8} << 20;
constexpr auto kProxyTimeout = std::chrono::seconds(10);
// Each exchange holds its request and up to 8 MiB of answer: a bound on what clients of the
// admin API can make the runner hold through it.
constexpr int kProxyMaxInFlight = 32;

// What goes to the container's admin listener.
struct ProxyRequest {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Replies with what `work` answers; if it throws, 502 with the reason: a reply is always sent.
asio::awaitable<void> reply_or_502(asio::awaitable<Response> work, Reply reply) {
  Response r;
  try {
    r = co_await std::move(work);
  } catch (const std::exception& e) {
    r = Response::error(502,
                        std::string("cannot reach the container's admin listener: ") + e.what());
  }
  reply(std::move(r));
}

// Fields of the answer that describe this hop, not the content: not passed on.
bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "content-length",
                             "te", "trailer", "upgrade", "proxy-connection", "set-cookie"}) {
    if (iequals(name, h)) {
      return true;
    }
  }
  return false;
}

// One exchange with `to` on a new connection, its socket opened in network namespace `netns`
// (none: the supervisor's). Errors are answers: 502 when the listener cannot be reached or its
// answer is malformed or larger than 8 MiB, 504 when it takes longer than 10 s.
asio::awaitable<Response> proxy_exchange(Fd netns, tcp::endpoint to, std::string addr,
                                         ProxyRequest pr) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  {
    std::optional<NetnsScope> in;
    if (netns) {
      in.emplace(netns.get());
      ec = in->error();
    }
    if (!ec) {
      stream.socket().open(to.protocol(), ec);
    }
  }
  if (ec) {
    co_return Response::error(502, "cannot open a socket in the pod's network: " + ec.message());
  }
  netns.reset();
  stream.expires_after(kProxyTimeout);
  auto fail = [&addr](const boost::system::error_code& e, std::string_view doing) {
    if (e == beast::error::timeout) {
      return Response::error(504, "the admin listener at " + addr + " did not answer within 10 s");
    }
    if (e == http::error::body_limit) {
      return Response::error(
          502, "the answer of the admin listener at " + addr + " is larger than 8 MiB");
    }
    return Response::error(
        502, std::string(doing) + " the admin listener at " + addr + ": " + e.message());
  };
  auto [cec] = co_await stream.async_connect(to, kTuple);
  if (cec) {
    co_return fail(cec, "cannot connect to");
  }
  http::request<http::string_body> req;
  req.method_string(pr.method);
  req.target(pr.target);
  req.version(11);
  req.set(http::field::host, addr);
  for (auto& [name, value] : pr.headers) {
    req.set(name, value);
  }
  req.set(http::field::connection, "close");
  req.body() = std::move(pr.body);
  if (!req.body().empty() || pr.method == "POST" || pr.method == "PUT") {
    req.prepare_payload();
  }
  auto [wec, written] = co_await http::async_write(stream, req, kTuple);
  if (wec) {
    co_return fail(wec, "cannot send to");
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(64 << 10);
  parser.body_limit(kProxyMaxAnswer);
  parser.skip(pr.method == "HEAD");
  auto [rec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (rec) {
    co_return fail(rec, "no answer from");
  }
  auto& res = parser.get();
  Response out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    if (!hop_by_hop(field.name_string())) {
      out.headers.add(std::string(field.name_string()), std::string(field.value()));
    }
  }
  out.body = std::move(res.body());
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return out;
}

std::optional<std::uint64_t> number(const std::optional<std::string>& text) {
  std::uint64_t v = 0;
  if (!text || text->empty()) {
    return std::nullopt;
  }
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || p != text->data() + text->size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::span<const UiAsset> PodRunner::ui_assets() const { return pod::ui_assets(); }

void PodRunner::add_web_routes(Router& r) {
  add_log_route(r);
  add_admin_proxy_route(r);
}

void PodRunner::add_log_route(Router& r) {
  Impl* s = impl_.get();
  r.add_async("GET", "/v1/pods/{name}/containers/{c}/logs", [s](Request& req, Reply reply) {
    auto offset_text = req.query_param("offset");
    auto limit_text = req.query_param("limit");
    auto offset = number(offset_text);
    auto limit = limit_text ? number(limit_text) : std::optional<std::uint64_t>(kLogTailDefault);
    if ((offset_text && !offset) || !limit || *limit == 0 || *limit > kLogTailMax) {
      reply(Response::error(400, "offset must be a byte offset and limit a byte count from 1 to " +
                                     std::to_string(kLogTailMax)));
      return;
    }
    std::optional<LogCursor> cursor;
    if (offset) {
      cursor = LogCursor{*offset, req.query_param("file").value_or("")};
    }
    std::string name(req.param("name"));
    std::string cname(req.param("c"));
    asio::post(s->ioc, [s, reply, name, cname, cursor, limit = *limit] {
      Pod* pod = s->find_pod(name);
      Container* c = pod != nullptr ? find_container(*pod, cname) : nullptr;
      if (c == nullptr) {
        reply(Response::error(404, "no container " + name + "/" + cname));
        return;
      }
      auto chunk = read_log_tail(pod->dir + "/logs/" + cname + ".log", cursor,
                                 static_cast<std::size_t>(limit));
      if (!chunk) {
        reply(Response::error(500, chunk.error().message()));
        return;
      }
      Response res;
      res.headers.set("Content-Type", "application/json");
      res.headers.set("Cache-Control", "no-store");
      res.body = log_chunk_json(*chunk);
      reply(std::move(res));
    });
  });
}

void PodRunner::add_admin_proxy_route(Router& r) {
  Impl* s = impl_.get();
  r.add_async("*", "/v1/pods/{name}/containers/{c}/admin/*", [s](Request& req, Reply reply) {
    if (req.body.size() > kProxyMaxRequestBody) {
      reply(Response::error(413, "a request to a container's admin listener is at most 64 KiB"));
      return;
    }
    ProxyRequest pr;
    pr.method = req.method;
    pr.target = "/" + std::string(req.param("*")) + (req.query.empty() ? "" : "?" + req.query);
    pr.body = std::move(req.body);
    // Origin, Referer, Cookie and Sec-Fetch-* stay behind: the runner's guard has already
    // refused cross-origin changes, so the container sees a request of its own origin.
    for (const char* name : {"Accept", "Content-Type", "If-None-Match"}) {
      if (auto v = req.headers.get(name)) {
        pr.headers.emplace_back(name, std::string(*v));
      }
    }
    std::string name(req.param("name"));
    std::string cname(req.param("c"));
    asio::post(s->ioc, [s, reply, name, cname, pr = std::move(pr)]() mutable {
      Pod* pod = s->find_pod(name);
      Container* c = pod != nullptr ? find_container(*pod, cname) : nullptr;
      if (c == nullptr) {
        reply(Response::error(404, "no container " + name + "/" + cname));
        return;
      }
      if (!c->admin) {
        reply(Response::error(404, "container " + name + "/" + cname +
                                       " runs no tender role: it has no admin listener to show"));
        return;
      }
      if (!c->process) {
        reply(Response::error(409, "container " + name + "/" + cname + " is not running"));
        return;
      }
      boost::system::error_code ec;
      auto ip = asio::ip::make_address(c->admin->host, ec);
      if (ec) {
        reply(Response::error(502, "the admin address " + c->admin->str() +
                                       " is not an IP address the runner can connect to"));
        return;
      }
      Fd ns;
      if (pod->netns) {
        ns.reset(::fcntl(pod->netns.get(), F_DUPFD_CLOEXEC, 3));
        if (!ns) {
          reply(Response::error(
              502, "cannot reach the pod's network: " + Error::from_errno(errno, "dup").message()));
          return;
        }
      }
      if (s->admin_proxies >= kProxyMaxInFlight) {
        reply(Response::error(503, "too many requests to containers' admin listeners at once (" +
                                       std::to_string(kProxyMaxInFlight) + "); try again"));
        return;
      }
      ++s->admin_proxies;
      Reply done([s, reply](Response r) {
        --s->admin_proxies;  // on the supervisor thread, where the exchange ran
        reply(std::move(r));
      });
      asio::co_spawn(s->ioc,
                     reply_or_502(proxy_exchange(std::move(ns), tcp::endpoint(ip, c->admin->port),
                                                 c->admin->str(), std::move(pr)),
                                  std::move(done)),
                     asio::detached);
    });
  });
}

}  // namespace tender::pod

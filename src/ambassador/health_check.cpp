// The proxy's active health checks (tcp connect, http GET, redis PING), run by core's upkeep
// loop (core/upstream/discovery.hpp) on the proxy's control thread.
#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/http_client.hpp"

namespace tender::ambassador {
namespace {

using asio::experimental::awaitable_operators::operator||;

// Sends PING (after `auth`, an AUTH command, unless empty) and reads the replies' first lines;
// empty on error.
asio::awaitable<std::string> ping(tcp::socket& s, const std::string& auth) {
  std::string out = auth;
  out += "*1\r\n$4\r\nPING\r\n";
  auto [wec, w] = co_await asio::async_write(s, asio::buffer(out), kTuple);
  if (wec) {
    co_return "";
  }
  std::size_t lines = auth.empty() ? 1 : 2;
  std::string got;
  std::array<char, 256> buf{};
  while (std::count(got.begin(), got.end(), '\n') < static_cast<std::ptrdiff_t>(lines) &&
         got.size() < 1024) {
    auto [rec, n] = co_await s.async_read_some(asio::buffer(buf), kTuple);
    if (rec) {
      break;
    }
    got.append(buf.data(), n);
  }
  co_return got;
}

// One check of one endpoint: "" when it passed, else why not. `auth`: the AUTH command a redis
// check sends first, if any. Arguments are copies: a coroutine keeps what it is given.
asio::awaitable<std::string> check(HealthCheck hc, std::string auth, Endpoint e,
                                   std::shared_ptr<HttpClient> http) {
  auto ex = co_await asio::this_coro::executor;
  if (hc.type == HealthCheck::Type::kHttp) {
    ClientRequest req;
    req.host = e.address.host;
    req.port = e.address.port;
    req.target = hc.path;
    req.timeout = hc.timeout;
    auto r = co_await http->request(req);
    if (!r) {
      co_return r.error().message();
    }
    co_return r->status >= 200 && r->status < 400 ? "" : "HTTP " + std::to_string(r->status);
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(e.address.host, ec);
  if (ec) {
    co_return "bad address " + e.address.host;
  }
  tcp::socket s(ex);
  asio::steady_timer timer(ex, hc.timeout);
  auto c = co_await (s.async_connect({addr, e.address.port}, kTuple) || timer.async_wait(kTuple));
  if (c.index() == 1) {
    co_return "connect timed out";
  }
  if (auto [cec] = std::get<0>(c); cec) {
    co_return cec.message();
  }
  if (hc.type != HealthCheck::Type::kRedis) {
    co_return "";
  }
  auto r = co_await (ping(s, auth) || timer.async_wait(kTuple));
  if (r.index() == 1) {
    co_return "PING timed out";
  }
  std::string_view got = std::get<0>(r);
  if (got.empty()) {
    co_return "PING: no answer";
  }
  if (!auth.empty()) {
    if (got.rfind("+OK\r\n", 0) != 0) {
      co_return "AUTH answered " + std::string(got.substr(0, got.find('\r')));
    }
    got.remove_prefix(5);
  }
  if (got.rfind("+PONG", 0) == 0) {
    co_return "";
  }
  co_return "PING answered " + std::string(got.substr(0, got.find('\r')));
}

}  // namespace

upstream::Upkeep::Checker health_checker(asio::io_context& control,
                                         std::shared_ptr<const Cluster> cluster) {
  auto http = std::make_shared<HttpClient>(control.get_executor());
  return [http, cluster = std::move(cluster)](const HealthCheck& hc,
                                              const Endpoint& e) -> asio::awaitable<Result<>> {
    std::string auth;
    if (hc.type == HealthCheck::Type::kRedis) {
      auto a = cluster->auth();
      resp::append_auth(auth, a.user, a.password);
    }
    std::string why = co_await check(hc, std::move(auth), e, http);
    if (!why.empty()) {
      co_return Error(why);
    }
    co_return Result<>();
  };
}

}  // namespace tender::ambassador

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/asio_util.hpp"
#include "core/command.hpp"
#include "core/grpc_health.hpp"
#include "core/probe.hpp"
#include "core/resp_io.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using tcp = asio::ip::tcp;
// A PING or AUTH answer is a line; anything longer is not a Redis server answering.
constexpr std::size_t kMaxProbeReply = 64 * 1024;

asio::awaitable<ProbeVerdict> check_http(const HttpProbe& p, std::chrono::milliseconds timeout,
                                         HttpClient& client) {
  ClientRequest req;
  req.host = p.host;
  req.port = p.port;
  req.target = p.path;
  for (const auto& [k, v] : p.headers) {
    req.headers.add(k, v);
  }
  req.timeout = timeout;
  auto r = co_await client.request(req);
  if (!r) {
    co_return ProbeVerdict{false, r.error().message()};
  }
  std::string status = "HTTP " + std::to_string(r->status);
  const bool status_ok =
      p.statuses.empty()
          ? r->status >= 200 && r->status < 400
          : std::any_of(p.statuses.begin(), p.statuses.end(), [&](const auto& range) {
              return r->status >= range.first && r->status <= range.second;
            });
  if (!status_ok) {
    co_return ProbeVerdict{false, status};
  }
  if (p.body && !regex_search(*p.body, r->body)) {
    co_return ProbeVerdict{false, status + ", body does not match /" + p.body_pattern + "/"};
  }
  co_return ProbeVerdict{true, status};
}

// Connects `s` to host:port before `timer` fires; the error is the verdict's message.
asio::awaitable<Result<>> connect(tcp::socket& s, const std::string& host, std::uint16_t port,
                                  asio::steady_timer& timer) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    co_return Error(ec, "bad host " + host);
  }
  auto c = co_await (s.async_connect({addr, port}, kTuple) || timer.async_wait(kTuple));
  if (c.index() == 1) {
    co_return Error(std::errc::timed_out, "connect timed out");
  }
  if (auto [cec] = std::get<0>(c); cec) {
    co_return Error(cec);
  }
  co_return Result<>();
}

asio::awaitable<ProbeVerdict> check_tcp(const TcpProbe& p, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  asio::steady_timer timer(ex, timeout);
  Result<> connected = co_await connect(s, p.host, p.port, timer);
  co_return connected ? ProbeVerdict{true, "connected"}
                      : ProbeVerdict{false, connected.error().message()};
}

asio::awaitable<ProbeVerdict> check_redis(const RedisProbe& p, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  asio::steady_timer timer(ex, timeout);
  if (Result<> connected = co_await connect(s, p.host, p.port, timer); !connected) {
    co_return ProbeVerdict{false, connected.error().message()};
  }
  std::string request;
  if (!p.password.empty()) {
    request = p.user.empty() ? resp::command({"AUTH", p.password})
                             : resp::command({"AUTH", p.user, p.password});
  }
  request += resp::command({"PING"});
  const std::size_t count = p.password.empty() ? 1 : 2;
  auto r = co_await (resp::exchange(s, request, count, kMaxProbeReply) || timer.async_wait(kTuple));
  if (r.index() == 1) {
    co_return ProbeVerdict{false, "PING timed out"};
  }
  auto& replies = std::get<0>(r);
  if (!replies) {
    co_return ProbeVerdict{false, "PING: " + replies.error().message()};
  }
  if (count == 2 && (*replies)[0].describe() != "+OK") {
    co_return ProbeVerdict{false, "AUTH answered " + (*replies)[0].describe()};
  }
  const resp::Value& pong = replies->back();
  if (pong.kind == resp::Value::Kind::kSimple && pong.text == "PONG") {
    co_return ProbeVerdict{true, "PONG"};
  }
  co_return ProbeVerdict{false, "PING answered " + pong.describe()};
}

// Calls grpc.health.v1.Health/Check on one connection of its own; `timeout` bounds it all.
asio::awaitable<ProbeVerdict> check_grpc(const GrpcProbe& p, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  asio::steady_timer timer(ex, timeout);
  if (Result<> connected = co_await connect(s, p.host, p.port, timer); !connected) {
    co_return ProbeVerdict{false, connected.error().message()};
  }
  const std::string authority =
      (p.host.find(':') == std::string::npos ? p.host : "[" + p.host + "]") + ":" +
      std::to_string(p.port);
  auto request = grpc::health_check_request(authority, p.service, timeout);
  if (!request) {
    co_return ProbeVerdict{false, request.error().message()};
  }
  std::string out = std::move(*request);
  grpc::HealthCallReader reader;
  std::array<char, 4096> buf{};
  for (;;) {
    if (!out.empty()) {
      auto w =
          co_await (asio::async_write(s, asio::buffer(out), kTuple) || timer.async_wait(kTuple));
      if (w.index() == 1) {
        co_return ProbeVerdict{false, "Check timed out"};
      }
      if (auto [ec, n] = std::get<0>(w); ec) {
        co_return ProbeVerdict{false, "Check: " + ec.message()};
      }
      out.clear();
    }
    auto r = co_await (s.async_read_some(asio::buffer(buf), kTuple) || timer.async_wait(kTuple));
    if (r.index() == 1) {
      co_return ProbeVerdict{false, "Check timed out"};
    }
    auto [ec, n] = std::get<0>(r);
    if (ec) {
      co_return ProbeVerdict{false, ec == asio::error::eof
                                        ? "Check: the server closed the connection before answering"
                                        : "Check: " + ec.message()};
    }
    auto ended = reader.feed(std::string_view(buf.data(), n), out);
    if (!ended) {
      co_return ProbeVerdict{false, ended.error().message()};
    }
    if (*ended) {
      co_return ProbeVerdict{reader.answer().serving(), reader.answer().describe()};
    }
  }
}

asio::awaitable<ProbeVerdict> check_exec(const ExecProbe& p, std::chrono::milliseconds timeout) {
  CommandOptions o;
  o.spawn = p.spawn;
  o.timeout = timeout;
  o.max_stdout_bytes = 0;  // a probe's verdict is its exit; its words are not kept
  o.max_stderr_bytes = 0;
  auto r = co_await run_command(std::move(o));
  if (!r) {
    co_return ProbeVerdict{false, r.error().message()};
  }
  co_return ProbeVerdict{r->success(), r->describe()};
}

}  // namespace

asio::awaitable<ProbeVerdict> check(const ProbeAction& action, std::chrono::milliseconds timeout,
                                    HttpClient& client) {
  if (const auto* http = std::get_if<HttpProbe>(&action)) {
    co_return co_await check_http(*http, timeout, client);
  }
  if (const auto* tcp_probe = std::get_if<TcpProbe>(&action)) {
    co_return co_await check_tcp(*tcp_probe, timeout);
  }
  if (const auto* exec = std::get_if<ExecProbe>(&action)) {
    co_return co_await check_exec(*exec, timeout);
  }
  if (const auto* grpc_probe = std::get_if<GrpcProbe>(&action)) {
    co_return co_await check_grpc(*grpc_probe, timeout);
  }
  co_return co_await check_redis(std::get<RedisProbe>(action), timeout);
}

asio::awaitable<ProbeVerdict> check(const ProbeAction& action, std::chrono::milliseconds timeout) {
  HttpClient client(co_await asio::this_coro::executor);
  co_return co_await check(action, timeout, client);
}

}  // namespace tender

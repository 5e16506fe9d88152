#include "core/http_client.hpp"
#include "core/asio_util.hpp"

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <unordered_map>

#include "core/config.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using ResponseResult = boost::system::result<Response>;
constexpr std::size_t kReadRoom = 64 * 1024;  // what one read may add to the unparsed bytes

// True if an idle pooled connection has neither been closed by the peer nor received stray bytes.
bool quiet(tcp::socket& socket) {
  char byte = 0;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

// Errors that mean a pooled connection had gone stale before we used it.
bool stale_connection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == bhttp::error::partial_message;
}

bhttp::request<bhttp::string_body> make_message(ClientRequest& req, const std::string& key) {
  bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(req.method), req.target, 11};
  if (out.method() == bhttp::verb::unknown) {
    out.method_string(req.method);
  }
  for (const auto& f : req.headers.fields()) {
    out.insert(f.name, f.value);
  }
  if (!req.headers.get("Host")) {
    out.set(bhttp::field::host, key);
  }
  out.keep_alive(true);
  out.body() = std::move(req.body);
  out.prepare_payload();
  return out;
}

}  // namespace

struct HttpClient::Impl {
  struct Idle {
    std::unique_ptr<beast::tcp_stream> stream;
    std::chrono::steady_clock::time_point since;
  };

  Impl(asio::any_io_executor e, ClientOptions o) : ex(std::move(e)), opts(o) {}

  std::unique_ptr<beast::tcp_stream> take_idle(const std::string& key) {
    auto it = pool.find(key);
    if (it == pool.end()) {
      return nullptr;
    }
    auto now = std::chrono::steady_clock::now();
    auto& q = it->second;
    while (!q.empty()) {
      Idle idle = std::move(q.back());
      q.pop_back();
      if (now - idle.since < opts.idle_timeout && idle.stream->socket().is_open() &&
          quiet(idle.stream->socket())) {
        return std::move(idle.stream);
      }
    }
    return nullptr;
  }

  void give_back(const std::string& key, std::unique_ptr<beast::tcp_stream> stream) {
    auto& q = pool[key];
    if (q.size() >= opts.max_idle_per_host) {
      return;
    }
    stream->expires_never();
    q.push_back({std::move(stream), std::chrono::steady_clock::now()});
  }

  // A new connection to host:port, within the connect timeout.
  asio::awaitable<boost::system::result<std::unique_ptr<beast::tcp_stream>>> connect(
      const std::string& host, std::uint16_t port) {
    auto stream = std::make_unique<beast::tcp_stream>(ex);
    std::vector<tcp::endpoint> endpoints;
    beast::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoints.emplace_back(addr, port);
    } else {
      tcp::resolver resolver(ex);
      auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), kTuple);
      if (rec) {
        co_return rec;
      }
      for (const auto& r : results) {
        endpoints.push_back(r.endpoint());
      }
    }
    stream->expires_after(opts.connect_timeout);
    auto [cec, ep] = co_await stream->async_connect(endpoints, kTuple);
    if (cec) {
      co_return cec;
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    co_return stream;
  }

  asio::any_io_executor ex;
  ClientOptions opts;
  std::unordered_map<std::string, std::deque<Idle>> pool;
};

HttpClient::HttpClient(const asio::any_io_executor& executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(executor, options)) {}

HttpClient::~HttpClient() = default;

std::size_t HttpClient::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [k, q] : impl_->pool) {
    n += q.size();
  }
  return n;
}

void HttpClient::close_idle() { impl_->pool.clear(); }

asio::awaitable<ResponseResult> HttpClient::request(ClientRequest req) {
  auto self = impl_;  // keeps the pool alive if the client is destroyed meanwhile
  Impl& s = *self;
  std::string key = HostPort{req.host, req.port}.str();
  auto timeout = req.timeout.value_or(s.opts.request_timeout);

  auto out = make_message(req, key);

  try {
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<beast::tcp_stream> stream = attempt == 0 ? s.take_idle(key) : nullptr;
      bool reused = stream != nullptr;
      if (!stream) {
        auto fresh = co_await s.connect(req.host, req.port);
        if (!fresh) {
          co_return fresh.error();
        }
        stream = std::move(*fresh);
      }

      stream->expires_after(timeout);
      auto [wec, wn] = co_await bhttp::async_write(*stream, out, kTuple);
      if (wec) {
        if (reused && stale_connection(wec)) {
          continue;  // nothing reached the server; safe to send again on a fresh connection
        }
        co_return wec;
      }
      // Bytes read and not yet parsed: a head, or trailer fields, which the parser takes only
      // whole. Bounded, so that a server cannot make us hold more of them than the header limit
      // (the body goes to the message as it is parsed, within its own limit).
      beast::flat_buffer buffer(s.opts.max_response_header_bytes + kReadRoom);
      std::optional<bhttp::response_parser<bhttp::string_body>> parser;
      beast::error_code rec;
      bool got_some = false;
      for (;;) {  // skip interim 1xx answers (100 Continue, 103 Early Hints)
        parser.emplace();
        parser->header_limit(static_cast<std::uint32_t>(s.opts.max_response_header_bytes));
        parser->body_limit(s.opts.max_response_body_bytes);
        if (req.method == "HEAD") {
          parser->skip(true);
        }
        std::tie(rec, std::ignore) = co_await bhttp::async_read(*stream, buffer, *parser, kTuple);
        got_some = got_some || parser->got_some();
        if (rec) {
          break;
        }
        unsigned status = parser->get().result_int();
        if (status < 100 || status >= 200 || status == 101) {
          break;
        }
      }
      if (rec) {
        if (reused && !got_some && stale_connection(rec) && idempotent(req.method)) {
          continue;  // the pooled connection had been closed by the server; try a fresh one
        }
        co_return rec;
      }
      bool keep_alive = parser->keep_alive();
      auto msg = parser->release();
      Response resp;
      resp.status = static_cast<int>(msg.result_int());
      for (const auto& f : msg) {
        resp.headers.add(std::string(f.name_string()), std::string(f.value()));
      }
      resp.body = std::move(msg.body());
      if (keep_alive && buffer.size() == 0) {
        s.give_back(key, std::move(stream));
      }
      co_return resp;
    }
  } catch (const boost::system::system_error& e) {
    co_return e.code();  // cancelled while between operations
  }
  co_return boost::system::error_code(asio::error::connection_aborted);
}

asio::awaitable<tender::Result<Response>> HttpClient::stream(
    ClientRequest req, std::function<tender::Result<>(std::string_view)> on_body) {
  auto self = impl_;
  Impl& s = *self;
  std::string key = HostPort{req.host, req.port}.str();
  auto out = make_message(req, key);
  try {
    auto connected = co_await s.connect(req.host, req.port);
    if (!connected) {
      co_return connected.error();
    }
    std::unique_ptr<beast::tcp_stream> stream = std::move(*connected);
    stream->expires_after(req.timeout.value_or(s.opts.request_timeout));
    auto [wec, wn] = co_await bhttp::async_write(*stream, out, kTuple);
    if (wec) {
      co_return wec;
    }
    beast::flat_buffer buffer(s.opts.max_response_header_bytes + kReadRoom);
    std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
    for (;;) {  // skip interim 1xx answers
      parser.emplace();
      parser->header_limit(static_cast<std::uint32_t>(s.opts.max_response_header_bytes));
      parser->body_limit(boost::none);
      if (req.method == "HEAD") {
        parser->skip(true);
      }
      auto [hec, hn] = co_await bhttp::async_read_header(*stream, buffer, *parser, kTuple);
      if (hec) {
        co_return hec;
      }
      unsigned status = parser->get().result_int();
      if (status < 100 || status >= 200 || status == 101) {
        break;
      }
    }
    stream->expires_never();  // the body may take as long as it likes
    Response head;
    head.status = static_cast<int>(parser->get().result_int());
    for (const auto& f : parser->get()) {
      head.headers.add(std::string(f.name_string()), std::string(f.value()));
    }
    std::array<char, 16 * 1024> chunk{};
    while (!parser->is_done()) {
      parser->get().body().data = chunk.data();
      parser->get().body().size = chunk.size();
      auto [rec, rn] = co_await bhttp::async_read_some(*stream, buffer, *parser, kTuple);
      if (rec && rec != bhttp::error::need_buffer) {
        co_return rec;
      }
      std::size_t got = chunk.size() - parser->get().body().size;
      if (got > 0) {
        if (auto fed = on_body(std::string_view(chunk.data(), got)); !fed) {
          co_return fed.error();  // the connection closes with `stream`
        }
      }
    }
    if (parser->keep_alive() && buffer.size() == 0) {
      s.give_back(key, std::move(stream));
    }
    co_return head;
  } catch (const boost::system::system_error& e) {
    co_return e.code();  // cancelled while between operations
  }
}

ResponseResult fetch(const std::string& url, const std::string& method, const std::string& body,
                     std::chrono::milliseconds timeout) {
  auto u = parse_http_url(url);
  if (!u) {
    return boost::system::error_code(asio::error::invalid_argument);
  }
  ClientRequest req;
  req.method = method;
  req.host = u->host;
  req.port = u->port;
  req.target = u->target;
  req.body = body;
  req.timeout = timeout;
  asio::io_context ioc;
  HttpClient client(ioc.get_executor(), ClientOptions{.connect_timeout = timeout});
  ResponseResult result = boost::system::error_code(asio::error::operation_aborted);
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { result = co_await client.request(req); },
      asio::detached);
  ioc.run();
  return result;
}

}  // namespace tender

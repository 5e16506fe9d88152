#include "core/resp_io.hpp"
#include "core/asio_util.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>

namespace tender::resp {

namespace asio = boost::asio;

asio::awaitable<Result<std::vector<Value>>> exchange(asio::ip::tcp::socket& socket,
                                                     std::string_view request, std::size_t count,
                                                     std::size_t max_bytes) {
  auto [wec, written] = co_await asio::async_write(socket, asio::buffer(request), kTuple);
  if (wec) {
    co_return Error(wec, "send: " + wec.message());
  }
  std::vector<Value> replies;
  replies.reserve(count);
  std::string in;
  std::size_t parsed = 0;  // of `in`: bytes the replies so far took
  std::array<char, 16384> buf{};
  while (replies.size() < count) {
    auto r = parse_reply(std::string_view(in).substr(parsed), max_bytes);
    if (!r) {
      co_return r.error();
    }
    if (*r) {
      parsed += (*r)->size;
      replies.push_back(std::move((*r)->value));
      continue;
    }
    if (parsed > 0) {
      in.erase(0, parsed);
      parsed = 0;
    }
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
    in.append(buf.data(), n);
    if (ec && n == 0) {
      if (ec == asio::error::eof) {
        co_return Error(std::errc::connection_reset, "connection closed by the server");
      }
      co_return Error(ec, "receive: " + ec.message());
    }
  }
  if (parsed != in.size()) {
    co_return Error(std::errc::protocol_error, "more bytes than the replies to the commands sent");
  }
  co_return replies;
}

}  // namespace tender::resp

#pragma once
// RESP over a connected socket: send a pipeline of commands, read exactly their replies.
// For core's Redis clients (the probe's PING, the adapter's INFO); inside a coroutine:
//
//   std::string req = resp::command({"AUTH", password}) + resp::command({"PING"});
//   auto replies = co_await resp::exchange(socket, req, 2, 1 << 20);
//   if (!replies) { ... replies.error().message() ... }  // I/O error, EOF, not RESP, too large
//   else if ((*replies)[0].is_error()) { ... "-WRONGPASS ..." is an answer, not a failure ... }
//
// Give up after a deadline by racing it with a timer (awaitable_operators' ||) and closing the
// socket on the timer's side.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/resp.hpp"

namespace tender::resp {

// Writes `request` and reads `count` replies, each at most `max_bytes`. Fails with the socket's
// error, errc::connection_reset ("connection closed by the server") at EOF before the last
// reply, parse_reply's errors, and errc::protocol_error when more bytes come than the replies.
[[nodiscard]] boost::asio::awaitable<Result<std::vector<Value>>> exchange(
    boost::asio::ip::tcp::socket& socket, std::string_view request, std::size_t count,
    std::size_t max_bytes);

}  // namespace tender::resp

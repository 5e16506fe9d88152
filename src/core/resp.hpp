#pragma once
// RESP2 for the clients core runs against a Redis server (the probe's PING, the adapter's
// INFO): writing a command, and reading replies exactly, length-framed and bounded. Pure
// functions over caller-owned buffers; resp_io.hpp reads them from a socket.
//
//   std::string out = resp::command({"CONFIG", "GET", "maxclients"});
//   resp::Reply r = resp::parse_reply(in, 16 << 20);      // in: bytes read so far
//   if (!r) { close(r.error()); }                         // not RESP, or larger than allowed
//   else if (!*r) { read_more(); }                        // incomplete
//   else { use((*r)->value); in.remove_prefix((*r)->size); }
//
// (The proxy's RESP, src/ambassador/resp.hpp, frames replies to forward them byte for byte;
// this one builds values, for a client that reads a few small replies.)
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::resp {

struct Value {
  enum class Kind { kSimple, kError, kInteger, kBulk, kNull, kArray };
  Kind kind = Kind::kNull;
  std::string text;  // kSimple, kError (without the '-'), kBulk
  std::int64_t integer = 0;
  std::vector<Value> elements{};  // kArray

  [[nodiscard]] bool is_error() const { return kind == Kind::kError; }
  // One line for messages: "+OK", "-NOAUTH Authentication required.", ":3", "$5", "*2", "nil".
  [[nodiscard]] std::string describe() const;
};

struct Parsed {
  Value value;
  std::size_t size = 0;  // bytes the reply took at the start of the input
};

// nullopt: the input holds only part of a reply (read more).
using Reply = Result<std::optional<Parsed>>;

// The command `args` as a RESP array of bulk strings.
[[nodiscard]] std::string command(std::span<const std::string_view> args);
[[nodiscard]] std::string command(std::initializer_list<std::string_view> args);

// Parses the reply at the start of `in`. Fails (errc::protocol_error, "not RESP: ...") on bytes
// that are not a RESP2 reply, and (errc::message_size, "reply larger than N bytes") as soon as
// what the reply declares (a bulk length, an array's elements, or a line without its end) makes
// it larger than `max_bytes`, before those bytes have come. Nesting deeper than 8 fails too.
[[nodiscard]] Reply parse_reply(std::string_view in, std::size_t max_bytes);

}  // namespace tender::resp

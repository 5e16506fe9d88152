// RESP2, the Redis protocol, for `tender proxy`: parsing client commands, framing server
// replies, writing replies and commands, and the table that says how each command is sharded.
// Pure functions over buffers the caller owns; no sockets, no allocation on the hot path.
//
// Usage (one client connection; `in` holds unconsumed bytes, `out` is written back):
//
//   namespace resp = tender::ambassador::resp;
//   resp::Command cmd;  // reused: its vector keeps its capacity
//   for (;;) {
//     auto result = resp::parse_command(in, cmd);
//     if (result.status == resp::Status::kIncomplete) break;  // read more
//     if (result.status == resp::Status::kError) {              // answer, then close
//       resp::append_error(out, "ERR " + result.error);
//       break;
//     }
//     if (!cmd.args.empty()) {  // empty: blank lines, which redis ignores too
//       const resp::CommandInfo* info = resp::lookup(cmd.args[0]);
//       if (info == nullptr) {
//         resp::append_unknown_command_error(out, cmd.args);
//       } else if (!resp::arity_ok(*info, cmd.args.size())) {
//         resp::append_arity_error(out, *info);
//       } else {
//         route(*info, cmd);  // by resp::hash_tag(cmd.args[1]) for the key kinds
//       }
//     }
//     in.remove_prefix(cmd.size);
//   }
//
// Replies from a server are forwarded byte for byte: a ReplyFramer (or reply_length) says where
// each one ends, and array_elements / parse_integer_reply take apart the few a proxy combines.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tender::ambassador::resp {

// Bounds on what a peer may send; anything larger is a protocol error, not a reason to buffer.
// The defaults are redis-server's (proto-max-bulk-len, PROTO_INLINE_MAX_SIZE); max_args is
// tighter than redis' INT_MAX because a proxy holds a view per argument.
struct Limits {
  std::size_t max_bulk = std::size_t{512} << 20;   // bytes in one bulk string
  std::size_t max_args = std::size_t{1} << 20;     // elements in one array (command or reply)
  std::size_t max_inline = std::size_t{64} << 10;  // bytes in one line: inline command, a
                                                   // "*n" / "$n" header, a +, - or : reply
  // A client that has not authenticated: an array or bulk string over the limits is refused
  // as redis-server refuses it ("unauthenticated multibulk length" / "bulk length"). The
  // limits to give such a client are kUnauthenticated.
  bool unauthenticated = false;
};
// What redis-server lets a client that has not authenticated send: arrays of 10, bulk strings
// of 16 KiB, so that nobody who does not know the password can make it (or us) buffer more.
inline constexpr Limits kUnauthenticated{.max_bulk = 16 * 1024,
                                         .max_args = 10,
                                         .max_inline = std::size_t{64} << 10,
                                         .unauthenticated = true};

enum class Status { kOk, kIncomplete, kError };

struct ParseResult {
  Status status = Status::kOk;
  // For kError, redis-server's wording where it has one, e.g. "Protocol error: invalid bulk
  // length"; a client is answered "-ERR " + error. Never contains CR or LF.
  std::string error;
};

// One client command: views into the caller's buffer (or, for quoted inline arguments, into the
// Command itself), valid until either changes. Move-only: a copy's views would still point into
// the original; a move keeps them valid.
struct Command {
  std::vector<std::string_view> args;  // args[0] is the command name as sent; empty: nothing to do
  std::size_t size = 0;                // bytes this command took at the start of the buffer
  bool inline_form = false;  // an inline line ("SET a b\r\n"), not a RESP array: to send it
                             // upstream as RESP, write append_command(args)

  Command() = default;
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;
  Command(Command&&) = default;
  Command& operator=(Command&&) = default;

 private:
  friend ParseResult parse_command(std::string_view buf, Command& out, const Limits& limits);
  std::vector<char> unquoted_;  // decoded "quoted" inline arguments; never reallocated while
                                // args point into it
  // A RESP array that came in part: where the next call goes on, as offsets from the start of
  // the array (the buffer may have moved), so that a command arriving in many reads is parsed
  // once in all.
  struct Partial {
    long long count = -1;    // the array's length; -1: nothing partial
    std::size_t header = 0;  // bytes of its "*count\r\n" line
    std::size_t pos = 0;     // where the next bulk string starts
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // the bulk strings read: offset, size
  };
  Partial partial_;
};

// Parses the command at the start of `buf`, as redis-server reads its query buffer: a RESP array
// of bulk strings if `buf` starts with '*', otherwise an inline line of space-separated words
// ending in "\n" or "\r\n", with redis-cli's "double" (\n \r \t \b \a \xHH \\ \") and 'single'
// (\') quoting.
//
// kOk: `out` holds the command, whose bytes are exactly buf.substr(0, out.size) (so a RESP
// command can be forwarded as it came); consume them. A run of input redis ignores (blank lines,
// "*0\r\n", "*-1\r\n") gives kOk with empty `args`, alone, even before an incomplete command,
// so that such input never piles up.
// kIncomplete: more bytes are needed; nothing is consumed and `out.args` is unspecified. `out`
// remembers how far it got, and the next call with the same `out` goes on from there if `buf`
// starts with the same bytes (more may follow), as a client's buffer does: a command of n
// arguments arriving in many reads is parsed in O(n) in all, not O(n) per read. (Another call
// with other bytes first is told apart by the array's length line, and parsed afresh.)
// kError: the stream cannot be resynchronised; answer "-ERR " + error and close the connection.
// On success nothing is allocated, except to grow `out.args` (and for quoted inline words).
[[nodiscard]] ParseResult parse_command(std::string_view buf, Command& out,
                                        const Limits& limits = {});

// Finds where each complete reply ends in the byte stream from a server, resuming where the
// previous call stopped, so a large reply arriving in many reads is scanned once in total.
// Handles + - : $ * with null bulk strings and arrays ($-1, *-1) and arrays nested up to
// kMaxDepth deep. Not thread-safe; one per upstream connection.
class ReplyFramer {
 public:
  static constexpr int kMaxDepth = 32;

  // `buf` holds the unconsumed bytes from the server; it must start with the bytes the previous
  // call saw (more may have been appended) unless that call returned kOk or reset() was called.
  // kOk: the first reply is `length` bytes; consume them, and the framer starts afresh.
  // kIncomplete: read more. kError: the server sent something that is not RESP2 (the message
  // says what); drop the connection and call reset() before reusing the framer.
  [[nodiscard]] ParseResult next(std::string_view buf, std::size_t& length,
                                 const Limits& limits = {});
  void reset();

 private:
  std::size_t pos_ = 0;                            // start of the first element not yet seen whole
  int depth_ = 0;                                  // arrays open at pos_
  std::array<std::int64_t, kMaxDepth> pending_{};  // elements still due in each open array
};

// The length of the complete reply at the start of `buf`, as a fresh ReplyFramer finds it:
// kOk with `length` > 0, kIncomplete, or kError.
[[nodiscard]] ParseResult reply_length(std::string_view buf, std::size_t& length,
                                       const Limits& limits = {});

// The value of an integer reply, exactly ":<n>\r\n" (as DEL, EXISTS and TOUCH answer);
// nullopt for anything else, including an error reply.
[[nodiscard]] std::optional<long long> parse_integer_reply(std::string_view reply);

// Splits one complete array reply ("*2\r\n$1\r\na\r\n$-1\r\n") into the bytes of its elements
// ("$1\r\na\r\n", "$-1\r\n"), each a complete reply. Returns false, with `out` unspecified, if
// `reply` is not exactly one well-formed, non-null array. `out` is cleared first, not shrunk.
[[nodiscard]] bool array_elements(std::string_view reply, std::vector<std::string_view>& out);

// Writers: each appends one RESP2 value to `out`. Simple strings and errors must be one line, so
// any CR or LF in `text` is written as a space (as redis-server does for its errors).
void append_simple(std::string& out, std::string_view text);    // +text
void append_error(std::string& out, std::string_view text);     // -text; text starts "ERR ..."
void append_integer(std::string& out, long long value);         // :value
void append_bulk(std::string& out, std::string_view data);      // $len data
void append_null_bulk(std::string& out);                        // $-1
void append_array_header(std::string& out, std::size_t count);  // *count; elements follow
void append_null_array(std::string& out);                       // *-1
// A command as an array of bulk strings, e.g. one shard's part of an MGET.
void append_command(std::string& out, std::span<const std::string_view> args);
// AUTH password, or AUTH user password when `user` is not empty; nothing without a password.
void append_auth(std::string& out, std::string_view user, std::string_view password);

// How the proxy treats a command.
enum class Kind : std::uint8_t {
  // One key, at args[1]; the whole command goes to that key's shard (GET, SET, HGET, ...).
  kSingleKey,
  // A key in every argument from args[1] (MGET, DEL, UNLINK, EXISTS, TOUCH): split per shard;
  // MGET's arrays are reassembled in request order, the others' integers summed.
  kMultiKey,
  // Key value pairs from args[1] (MSET): split per shard; +OK once every shard said +OK.
  kMultiKeyValue,
  // Answered by the proxy itself, never forwarded:
  //   PING [msg]  +PONG, or msg as a bulk string
  //   ECHO msg    msg as a bulk string
  //   QUIT        +OK, then close
  //   SELECT db   +OK for "0"; otherwise "-ERR DB index is out of range" (one database only)
  //   AUTH [user] password   checked against the proxy's own password, if it has one; servers
  //               are authenticated by the proxy with its configured credentials, never with
  //               the client's (as twemproxy does)
  //   HELLO [2 [AUTH user password] [SETNAME name]]   the RESP2 server map; other versions
  //               get the unknown-command error of a server without HELLO
  //   CLIENT SETNAME | GETNAME | ID | SETINFO   this connection's own; other subcommands refused
  kLocal,
  // Known to redis but not safe through a sharding proxy: keys on several shards at once
  // (RENAME, SMOVE, SUNION, ZUNIONSTORE, BITOP, PFMERGE, EVAL, ...), the whole keyspace (KEYS,
  // SCAN, FLUSHALL, DBSIZE, RANDOMKEY), connection state (MULTI/EXEC, WATCH, SUBSCRIBE & co,
  // RESET), blocking (BLPOP, XREAD, WAIT: one client would stall a shared server
  // connection), and administration (CONFIG, DEBUG, SHUTDOWN, CLUSTER, MIGRATE, ...).
  kUnsupported,
};

struct CommandInfo {
  std::string_view name;  // lower case, as redis-server names it in errors
  Kind kind;
  // Redis' arity, counting the name: n means exactly n arguments, -n at least n. -1 (unchecked)
  // for kUnsupported commands.
  int arity;
};

// The entry for command `name` (ASCII case-insensitive), or nullptr for a name redis 7 does not
// know. Both nullptr and kUnsupported are answered with an error and never forwarded: a command
// the table does not know has no known key position, so it cannot be routed.
[[nodiscard]] const CommandInfo* lookup(std::string_view name);

// Every entry, in no particular order (for tests and diagnostics).
[[nodiscard]] std::span<const CommandInfo> all_commands();

// True if `argc` arguments (name included) satisfy `info.arity`; for kMultiKeyValue the
// arguments after the name must also come in pairs, as MSET requires.
[[nodiscard]] bool arity_ok(const CommandInfo& info, std::size_t argc);

// "-ERR wrong number of arguments for 'get' command", as redis-server answers.
void append_arity_error(std::string& out, const CommandInfo& info);

// "-ERR unknown command 'foo', with args beginning with: 'a' 'b' ", as redis-server 7 answers;
// `args` includes the name and must not be empty.
void append_unknown_command_error(std::string& out, std::span<const std::string_view> args);

// The part of `key` that picks its shard, by the Redis Cluster rule: the bytes between the first
// '{' and the first '}' after it, if there are any; otherwise the whole key. So "{user1}.a" and
// "{user1}.b" land together, and "a{}b" and "{}{a}" hash as themselves.
[[nodiscard]] std::string_view hash_tag(std::string_view key);

}  // namespace tender::ambassador::resp

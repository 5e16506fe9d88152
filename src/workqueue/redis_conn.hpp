#pragma once
// A blocking Redis connection for the Redis store (internal): one per thread of the store's
// pool, plus its subscriber. Connects (AUTH, SELECT) on first use and again after any error,
// with connect and command timeouts, so a Redis that is down answers kUnavailable, not a hang.
//
//   auto address = parse_redis_url("redis://:secret@127.0.0.1:6379/2?prefix=test:");
//   RedisConn conn(*address);
//   auto reply = conn.command({"PING"});          // Result<Reply>; an error reply is a Reply
//   auto lease = conn.eval(ScriptId::kLease, {...});  // EVALSHA, EVAL on NOSCRIPT
//
// Not thread-safe: one thread uses a connection at a time.

#include <hiredis/hiredis.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "workqueue/redis_scripts.hpp"

namespace tender::workqueue::redis {

struct RedisAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string user;      // ACL user; empty: AUTH with the password alone
  std::string password;  // empty: no AUTH
  std::string prefix = "tender:queue:";
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds command_timeout{5'000};
  // How often a lease wait asks Redis again without a wake-up message (delays and lease
  // expiries come due without one; the next due one is asked sooner).
  std::chrono::milliseconds poll_every{250};

  // "redis://HOST:PORT/DB" (with "?prefix=..." when not the default); never the password.
  [[nodiscard]] std::string describe() const;
};

// Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&connect_timeout_ms=N&timeout_ms=N
// &poll_ms=N].
// Errors (kInvalid, naming the url without its password): another scheme, no host, a bad port,
// db or timeout, an unknown parameter.
[[nodiscard]] Result<RedisAddress> parse_redis_url(std::string_view url);

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class RedisConn {
 public:
  explicit RedisConn(RedisAddress address);
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Runs one command (connecting first if needed, or again when the server closed the idle
  // connection). An error reply is returned as a Reply of type REDIS_REPLY_ERROR. Errors
  // (kUnavailable, naming the address): cannot connect, AUTH or SELECT refused, a timeout or a
  // connection broken during the command (it is dropped; the next command connects again).
  // Not for a subscribed connection, whose socket has messages to read.
  [[nodiscard]] Result<Reply> command(const std::vector<std::string_view>& argv);

  // Runs a script by EVALSHA (loading it with SCRIPT LOAD first if this store has not yet),
  // falling back to EVAL when Redis answers NOSCRIPT (it restarted or was flushed). Errors as
  // command's.
  [[nodiscard]] Result<Reply> eval(ScriptId id, const std::vector<std::string>& argv);

  // The connected socket (connecting first), for the subscriber's poll. Errors as command's.
  [[nodiscard]] Result<redisContext*> context();
  // Drops the connection (after a read error seen by the subscriber).
  void drop();

  [[nodiscard]] const RedisAddress& address() const { return address_; }

 private:
  [[nodiscard]] Error unavailable(std::string_view what) const;
  // Drops a connection the server closed while it sat idle (so the next command reconnects).
  void drop_if_closed();

  RedisAddress address_;
  redisContext* ctx_ = nullptr;
  bool in_setup_ = false;  // AUTH and SELECT of a fresh connection run
  std::array<std::string, kAllScripts.size()> shas_;
};

}  // namespace tender::workqueue::redis

#pragma once
// The Redis store (internal to the workqueue folder; open_store dispatches redis:// urls here).
// Many `tender queue` servers on many machines share one Redis: every item and queue lives in
// Redis, every state change is one Lua script (redis_scripts.hpp has the data model), and time
// is the Redis server's, so servers with skewed clocks agree on lease expiry and delays. A
// lease wait is woken by a pub/sub message from whichever server enqueued, nacked, requeued or
// resumed, and retried every 250 ms for delays and lease expiries.
//
//   auto store = open_redis_store("redis://:secret@10.0.0.5:6379/0?prefix=jobs:", settings);
//   if (!store) { throw ConfigError(store.error().message()); }  // names the address
//   (*store)->lease("emails", {.n = 10, .wait = 30s}, [](Result<std::vector<Leased>> r) {...});
//
// Urls: redis://HOST[:PORT][/DB], redis://:PASSWORD@HOST:PORT/DB, redis://USER:PASSWORD@...
// (an ACL user), with optional parameters prefix (the key prefix, default "tender:queue:"),
// connect_timeout_ms (default 2000), timeout_ms (per command, default 5000) and poll_ms (how
// often a lease wait asks Redis again without a wake-up message, default 250).
//
// Threads: commands run on a pool of 4 threads, each with its own connection (reconnecting
// after an error); `Done` is called on them. One more thread holds the subscription and one
// times the waits. A Redis that is down answers kUnavailable after the timeouts, never hangs.

#include <memory>
#include <string>

#include "core/error.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue {

// Connects (PING, AUTH, SELECT) and adds the declared queues. Errors: kInvalid (a bad url:
// its scheme, port, database or a parameter), kUnavailable (the server cannot be reached or
// refuses the password; the message names the address, never the password).
[[nodiscard]] Result<std::unique_ptr<Store>> open_redis_store(const std::string& url,
                                                              StoreSettings settings);

}  // namespace tender::workqueue

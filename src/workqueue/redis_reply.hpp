#pragma once
// The Redis store's replies (internal): scripts run with their errors mapped to Errc, and
// their replies read into the store's types.
//
//   auto r = run_script(conn, ScriptId::kGet, argv);  // TQ_NOITEM ... -> kNoItem
//   if (!r) { return r.error(); }
//   return parse_view(r->get());

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "workqueue/redis_conn.hpp"
#include "workqueue/redis_scripts.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue::redis {

// A string, status or error reply's bytes ("" for another type).
[[nodiscard]] std::string_view text(const redisReply* r);
// An integer reply, or a string reply's decimal number; 0 when neither.
[[nodiscard]] std::int64_t number(const redisReply* r);
// As number(), but nullopt for an empty string (a field the item does not have).
[[nodiscard]] std::optional<std::int64_t> optional_number(const redisReply* r);
// Unix milliseconds as a WallTime.
[[nodiscard]] WallTime wall_ms(std::int64_t ms);
// kUnavailable: Redis answered `what` in a shape no script gives.
[[nodiscard]] Error unexpected(std::string_view what);
// Runs the script. Errors: the Errc its error reply names (TQ_NOQUEUE, TQ_NOITEM, TQ_STALE,
// TQ_NOTDEAD, TQ_FULL) with the reply's message; kUnavailable for any other error reply and
// those of RedisConn::eval.
[[nodiscard]] Result<Reply> run_script(RedisConn& conn, ScriptId id,
                                       const std::vector<std::string>& argv);
// "ready", "delayed", ... as a State. Errors: kUnavailable for another word.
[[nodiscard]] Result<State> parse_state(std::string_view s);
// An item's view: {id, q, state, pri, att, max, enq, rat, exp, fin, err, res[, payload]}.
// Errors: kUnavailable for another shape.
[[nodiscard]] Result<ItemView> parse_view(const redisReply* r);
// Whether `r` has the shape of a queue's info (checked before parse_info).
[[nodiscard]] bool is_info(const redisReply* r);
// A queue's info: {name, paused, ready, delayed, leased, done, dead, oldest enqueue or -1}.
[[nodiscard]] QueueInfo parse_info(const redisReply* r, const QueueSettings& settings);

}  // namespace tender::workqueue::redis

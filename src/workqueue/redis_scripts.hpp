#pragma once
// The Redis store's Lua scripts: every state change of a queue or an item is one script, run
// atomically by Redis (EVALSHA). Internal to redis_store.cpp.
//
//   for (ScriptId id : kAllScripts) { conn.command({"SCRIPT", "LOAD", script_text(id)}); }
//   conn.eval(ScriptId::kLease, {prefix, retention_ms, queue, ...});
//
// Every script takes ARGV[1] = the key prefix and ARGV[2] = the retention of done items (ms),
// then its own arguments (listed in redis_scripts.cpp). Time is the Redis server's (TIME), so
// servers with skewed clocks agree on lease expiry and delays. Errors are error replies whose
// first word names the Errc: TQ_NOQUEUE, TQ_NOITEM, TQ_STALE, TQ_NOTDEAD, TQ_FULL.
//
// Data model, under the prefix P:
//   P next_id               INCR counter of item ids
//   P item:ID               hash: q payload pri att max enq state [lease exp rat fin err res]
//   P queues                set of queue names
//   P q:Q:ready             zset: score -priority, member the id zero-padded to 20 digits
//   P q:Q:delayed           zset: score ready time (ms), member id
//   P q:Q:leased            zset: score lease expiry (ms), member id
//   P q:Q:dead              zset: score id, member id
//   P q:Q:done              zset: score finish time (ms), member id; pruned past retention
//   P q:Q:paused            "1" while paused
//   P q:Q:idem:KEY          the id an idempotency key names, with PX = the window
//   P wake                  pub/sub channel: a queue name, when it may have items to lease

#include <array>
#include <string>

namespace tender::workqueue::redis {

enum class ScriptId {
  kEnqueue,
  kLease,
  kRelease,
  kAck,
  kGiveBack,
  kNack,
  kExtend,
  kBury,
  kGet,
  kInfo,
  kDead,
  kRequeue,
  kPurge,
  kSweep,
};
inline constexpr std::array kAllScripts = {
    ScriptId::kEnqueue, ScriptId::kLease, ScriptId::kRelease, ScriptId::kAck,      ScriptId::kNack,
    ScriptId::kExtend,  ScriptId::kBury,  ScriptId::kGet,     ScriptId::kInfo,     ScriptId::kDead,
    ScriptId::kRequeue, ScriptId::kPurge, ScriptId::kSweep,   ScriptId::kGiveBack,
};

// The script's full text (the shared prelude and its body). Never fails.
[[nodiscard]] const std::string& script_text(ScriptId id);
// Its name, for error messages ("lease").
[[nodiscard]] const char* script_name(ScriptId id);

}  // namespace tender::workqueue::redis

// The Redis store's Lua scripts (see redis_scripts.hpp for the data model). Each script is the
// prelude followed by its body; Redis runs each one atomically.
#include "workqueue/redis_scripts.hpp"

#include <map>

namespace tender::workqueue::redis {
namespace {

// Shared by every script: the prefix, retention and Redis time, key names, and the per-queue
// housekeeping (expired leases back to ready or dead, due delayed items to ready, done items
// past retention out of the done count) that every script touching a queue does first.
constexpr const char* kPrelude = R"lua(
if redis.replicate_commands then pcall(redis.replicate_commands) end
local P = ARGV[1]
local RET = tonumber(ARGV[2])
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local function ik(id) return P .. 'item:' .. id end
local function qk(q, what) return P .. 'q:' .. q .. ':' .. what end
local function pad(id) return string.rep('0', 20 - #id) .. id end
local function unpad(m) return (string.gsub(m, '^0+', '')) end
local function wake(q) redis.call('PUBLISH', P .. 'wake', q) end
local function paused(q) return redis.call('EXISTS', qk(q, 'paused')) == 1 end
local function queue_exists(q, declared)
  if redis.call('SISMEMBER', P .. 'queues', q) == 1 then return true end
  if declared == '1' then
    redis.call('SADD', P .. 'queues', q)
    return true
  end
  return false
end
-- nil, or the error reply's text.
local function open_queue(q, declared, create, max_queues)
  if queue_exists(q, declared) then return nil end
  if create ~= '1' then return 'TQ_NOQUEUE no queue ' .. q end
  if redis.call('SCARD', P .. 'queues') >= tonumber(max_queues) then
    return 'TQ_FULL the store holds its maximum of ' .. max_queues ..
        ' queues; queue ' .. q .. ' cannot be created'
  end
  redis.call('SADD', P .. 'queues', q)
  return nil
end
local function set_ready(q, id, pri)
  redis.call('ZADD', qk(q, 'ready'), -tonumber(pri), pad(id))
end
local function set_dead(q, id)
  redis.call('HSET', ik(id), 'state', 'dead', 'fin', NOW)
  redis.call('ZADD', qk(q, 'dead'), id, id)
end
local function expire_leases(q, limit)
  local ids = redis.call('ZRANGEBYSCORE', qk(q, 'leased'), '-inf', NOW, 'LIMIT', 0, limit)
  local woke = 0
  for _, id in ipairs(ids) do
    redis.call('ZREM', qk(q, 'leased'), id)
    local f = redis.call('HMGET', ik(id), 'att', 'max', 'pri')
    if f[1] then
      redis.call('HDEL', ik(id), 'lease', 'exp')
      if tonumber(f[1]) >= tonumber(f[2]) then
        redis.call('HSET', ik(id), 'err', 'lease expired on attempt ' .. f[1] .. ' of ' .. f[2])
        set_dead(q, id)
      else
        redis.call('HSET', ik(id), 'state', 'ready')
        set_ready(q, id, f[3])
        woke = woke + 1
      end
    end
  end
  return #ids, woke
end
local function promote(q, limit)
  local ids = redis.call('ZRANGEBYSCORE', qk(q, 'delayed'), '-inf', NOW, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', qk(q, 'delayed'), id)
    local pri = redis.call('HGET', ik(id), 'pri')
    if pri then
      redis.call('HSET', ik(id), 'state', 'ready')
      redis.call('HDEL', ik(id), 'rat')
      set_ready(q, id, pri)
    end
  end
  return #ids
end
-- Returns how many leases expired and how many items became ready.
local function tidy(q)
  local expired, woke = expire_leases(q, 1000)
  woke = woke + promote(q, 1000)
  redis.call('ZREMRANGEBYSCORE', qk(q, 'done'), '-inf', NOW - RET)
  return expired, woke
end
local function tidy_and_wake(q)
  local expired, woke = tidy(q)
  if woke > 0 and not paused(q) then wake(q) end
  return expired
end
local function held(q)
  return redis.call('ZCARD', qk(q, 'ready')) + redis.call('ZCARD', qk(q, 'delayed')) +
      redis.call('ZCARD', qk(q, 'leased')) + redis.call('ZCARD', qk(q, 'dead'))
end
-- {id, q, state, pri, att, max, enq, rat, exp, fin, err, res[, payload]}; '' for none.
local FIELDS = {'q', 'state', 'pri', 'att', 'max', 'enq', 'rat', 'exp', 'fin', 'err', 'res'}
local function view(id, with_payload)
  local f = redis.call('HMGET', ik(id), unpack(FIELDS))
  for i = 1, #FIELDS do
    if not f[i] then f[i] = '' end
  end
  if with_payload then f[#FIELDS + 1] = redis.call('HGET', ik(id), 'payload') or '' end
  table.insert(f, 1, id)
  return f
end
-- The item's queue, or nil and the error reply's text.
local function check_lease(id, lid)
  local f = redis.call('HMGET', ik(id), 'q', 'state', 'lease', 'exp')
  if not f[1] then return nil, 'TQ_NOITEM no item ' .. id end
  if f[2] ~= 'leased' or f[3] ~= lid then
    return nil, 'TQ_STALE the lease id is not the current lease of item ' .. id ..
        ' (its lease expired, or it was finished or leased again)'
  end
  if tonumber(f[4]) <= NOW then
    tidy_and_wake(f[1])
    return nil, 'TQ_STALE the lease of item ' .. id .. ' has expired'
  end
  return f[1]
end
local function end_lease(q, id)
  redis.call('ZREM', qk(q, 'leased'), id)
  redis.call('HDEL', ik(id), 'lease', 'exp')
end
-- Milliseconds until the queue's next delayed item is due or lease expires; -1: none.
local function next_due(q)
  local best = -1
  for _, k in ipairs({'delayed', 'leased'}) do
    local r = redis.call('ZRANGE', qk(q, k), 0, 0, 'WITHSCORES')
    if r[2] then
      local d = tonumber(r[2]) - NOW
      if d < 0 then d = 0 end
      if best < 0 or d < best then best = d end
    end
  end
  return best
end
-- The enqueue time of the ready item with the smallest id (the first of each priority band).
local function oldest_ready(q)
  local key = qk(q, 'ready')
  local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local best = nil
  while r[1] do
    if not best or r[1] < best then best = r[1] end
    r = redis.call('ZRANGEBYSCORE', key, '(' .. r[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  if not best then return -1 end
  return tonumber(redis.call('HGET', ik(unpad(best)), 'enq') or -1)
end
local function info(q)
  local p = 0
  if paused(q) then p = 1 end
  return {q, p, redis.call('ZCARD', qk(q, 'ready')), redis.call('ZCARD', qk(q, 'delayed')),
          redis.call('ZCARD', qk(q, 'leased')), redis.call('ZCARD', qk(q, 'done')),
          redis.call('ZCARD', qk(q, 'dead')), oldest_ready(q)}
end
)lua";

// ARGV: 3 queue, 4 declared, 5 create, 6 max_queues, 7 max_items, 8 idempotency window (ms),
// 9 count, then per item: payload, priority, delay (ms), max attempts, idempotency key ('').
// Returns {id, created (1/0), ...}.
constexpr const char* kEnqueue = R"lua(
local q = ARGV[3]
local e = open_queue(q, ARGV[4], ARGV[5], ARGV[6])
if e then return redis.error_reply(e) end
tidy_and_wake(q)
local count = tonumber(ARGV[9])
local seen, fresh = {}, 0
for i = 0, count - 1 do
  local key = ARGV[10 + i * 5 + 4]
  if key == '' then
    fresh = fresh + 1
  elseif not seen[key] then
    seen[key] = true
    if redis.call('EXISTS', qk(q, 'idem:' .. key)) == 0 then fresh = fresh + 1 end
  end
end
if fresh > 0 and held(q) + fresh > tonumber(ARGV[7]) then
  return redis.error_reply('TQ_FULL queue ' .. q .. ' holds its maximum of ' .. ARGV[7] ..
      ' items')
end
local out, ids, ready = {}, {}, 0
for i = 0, count - 1 do
  local b = 10 + i * 5
  local key = ARGV[b + 4]
  local old = false
  if key ~= '' then old = ids[key] or redis.call('GET', qk(q, 'idem:' .. key)) end
  if old then
    table.insert(out, old)
    table.insert(out, 0)
  else
    local id = string.format('%d', redis.call('INCR', P .. 'next_id'))
    local pri, delay = ARGV[b + 1], tonumber(ARGV[b + 2])
    redis.call('HSET', ik(id), 'q', q, 'payload', ARGV[b], 'pri', pri, 'att', 0,
               'max', ARGV[b + 3], 'enq', NOW)
    if delay > 0 then
      local at = NOW + delay
      redis.call('HSET', ik(id), 'state', 'delayed', 'rat', at)
      redis.call('ZADD', qk(q, 'delayed'), at, id)
    else
      redis.call('HSET', ik(id), 'state', 'ready')
      set_ready(q, id, pri)
      ready = ready + 1
    end
    if key ~= '' then
      ids[key] = id
      if tonumber(ARGV[8]) > 0 then
        redis.call('SET', qk(q, 'idem:' .. key), id, 'PX', ARGV[8])
      end
    end
    table.insert(out, id)
    table.insert(out, 1)
  end
end
if ready > 0 and not paused(q) then wake(q) end
return out
)lua";

// ARGV: 3 queue, 4 declared, 5 create, 6 max_queues, 7 n, 8 ttl (ms), 9.. one lease id per
// item. Returns {expired leases, next_due, {{id, lease, payload, attempt, max, pri, enq, exp}}}.
constexpr const char* kLease = R"lua(
local q = ARGV[3]
local e = open_queue(q, ARGV[4], ARGV[5], ARGV[6])
if e then return redis.error_reply(e) end
local expired, woke = tidy(q)
local items = {}
if not paused(q) then
  local ttl = tonumber(ARGV[8])
  local members = redis.call('ZRANGE', qk(q, 'ready'), 0, tonumber(ARGV[7]) - 1)
  for i, m in ipairs(members) do
    local id = unpad(m)
    redis.call('ZREM', qk(q, 'ready'), m)
    if redis.call('EXISTS', ik(id)) == 1 then
      local lid, exp = ARGV[8 + i], NOW + ttl
      local att = redis.call('HINCRBY', ik(id), 'att', 1)
      redis.call('HSET', ik(id), 'state', 'leased', 'lease', lid, 'exp', exp)
      redis.call('ZADD', qk(q, 'leased'), exp, id)
      local f = redis.call('HMGET', ik(id), 'payload', 'max', 'pri', 'enq')
      table.insert(items, {id, lid, f[1] or '', att, tonumber(f[2]), tonumber(f[3]),
                           tonumber(f[4]), exp})
    end
  end
  if woke > 0 and redis.call('ZCARD', qk(q, 'ready')) > 0 then wake(q) end
end
return {expired, next_due(q), items}
)lua";

// Undoes leases nobody received (their wait was cancelled): ARGV 3.. pairs of id, lease id.
// Returns how many went back to ready.
constexpr const char* kRelease = R"lua(
local n, queues = 0, {}
for i = 3, #ARGV, 2 do
  local id, lid = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', ik(id), 'q', 'state', 'lease', 'pri')
  if f[1] and f[2] == 'leased' and f[3] == lid then
    end_lease(f[1], id)
    redis.call('HINCRBY', ik(id), 'att', -1)
    redis.call('HSET', ik(id), 'state', 'ready')
    set_ready(f[1], id, f[4])
    queues[f[1]] = true
    n = n + 1
  end
end
for q, _ in pairs(queues) do wake(q) end
return n
)lua";

// ARGV: 3 id, 4 lease id. The item back to ready, this delivery not counted as an attempt.
// Returns the item's view.
constexpr const char* kGiveBack = R"lua(
local id = ARGV[3]
local q, e = check_lease(id, ARGV[4])
if not q then return redis.error_reply(e) end
end_lease(q, id)
redis.call('HINCRBY', ik(id), 'att', -1)
redis.call('HSET', ik(id), 'state', 'ready')
set_ready(q, id, redis.call('HGET', ik(id), 'pri'))
wake(q)
return view(id, false)
)lua";

// ARGV: 3 id, 4 lease id, 5 result. Returns the item's view.
constexpr const char* kAck = R"lua(
local id = ARGV[3]
local q, e = check_lease(id, ARGV[4])
if not q then return redis.error_reply(e) end
end_lease(q, id)
redis.call('HSET', ik(id), 'state', 'done', 'fin', NOW, 'res', ARGV[5])
redis.call('ZADD', qk(q, 'done'), NOW, id)
local v = view(id, false)
redis.call('PEXPIRE', ik(id), RET)
return v
)lua";

// ARGV: 3 id, 4 lease id, 5 error, 6 delay (ms). Returns {state, ready time or -1}.
constexpr const char* kNack = R"lua(
local id = ARGV[3]
local q, e = check_lease(id, ARGV[4])
if not q then return redis.error_reply(e) end
local f = redis.call('HMGET', ik(id), 'att', 'max', 'pri')
end_lease(q, id)
redis.call('HSET', ik(id), 'err', ARGV[5])
if tonumber(f[1]) >= tonumber(f[2]) then
  set_dead(q, id)
  return {'dead', -1}
end
local delay = tonumber(ARGV[6])
if delay <= 0 then
  redis.call('HSET', ik(id), 'state', 'ready')
  set_ready(q, id, f[3])
  if not paused(q) then wake(q) end
  return {'ready', NOW}
end
local at = NOW + delay
redis.call('HSET', ik(id), 'state', 'delayed', 'rat', at)
redis.call('ZADD', qk(q, 'delayed'), at, id)
return {'delayed', at}
)lua";

// ARGV: 3 id, 4 lease id, 5 ttl (ms). Returns the new expiry.
constexpr const char* kExtend = R"lua(
local id = ARGV[3]
local q, e = check_lease(id, ARGV[4])
if not q then return redis.error_reply(e) end
local exp = NOW + tonumber(ARGV[5])
redis.call('HSET', ik(id), 'exp', exp)
redis.call('ZADD', qk(q, 'leased'), exp, id)
return exp
)lua";

// ARGV: 3 id, 4 lease id, 5 error. Returns the item's view.
constexpr const char* kBury = R"lua(
local id = ARGV[3]
local q, e = check_lease(id, ARGV[4])
if not q then return redis.error_reply(e) end
end_lease(q, id)
redis.call('HSET', ik(id), 'err', ARGV[5])
set_dead(q, id)
return view(id, false)
)lua";

// ARGV: 3 id, 4 with payload ('1'). Returns the item's view.
constexpr const char* kGet = R"lua(
local id = ARGV[3]
local f = redis.call('HMGET', ik(id), 'q', 'state', 'exp', 'rat')
if not f[1] then return redis.error_reply('TQ_NOITEM no item ' .. id) end
if (f[2] == 'leased' and tonumber(f[3]) <= NOW) or (f[2] == 'delayed' and tonumber(f[4]) <= NOW)
then
  tidy_and_wake(f[1])
end
return view(id, ARGV[4] == '1')
)lua";

// ARGV: 3 action: 'all' (4.. the declared queues), or 'one', 'pause', 'resume' (4 queue,
// 5 declared). Returns {{name, paused, ready, delayed, leased, done, dead, oldest enq}, ...}.
constexpr const char* kInfo = R"lua(
local action = ARGV[3]
if action == 'all' then
  for i = 4, #ARGV do redis.call('SADD', P .. 'queues', ARGV[i]) end
  local out = {}
  for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    tidy_and_wake(q)
    table.insert(out, info(q))
  end
  return out
end
local q = ARGV[4]
if not queue_exists(q, ARGV[5]) then return redis.error_reply('TQ_NOQUEUE no queue ' .. q) end
if action == 'pause' then
  redis.call('SET', qk(q, 'paused'), '1')
elseif action == 'resume' then
  redis.call('DEL', qk(q, 'paused'))
  wake(q)
end
tidy_and_wake(q)
return {info(q)}
)lua";

// ARGV: 3 queue, 4 declared, 5 after (id), 6 limit. Returns views with payloads.
constexpr const char* kDead = R"lua(
local q = ARGV[3]
if not queue_exists(q, ARGV[4]) then return redis.error_reply('TQ_NOQUEUE no queue ' .. q) end
tidy_and_wake(q)
local ids = redis.call('ZRANGEBYSCORE', qk(q, 'dead'), '(' .. ARGV[5], '+inf', 'LIMIT', 0,
                       tonumber(ARGV[6]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ik(id)) == 1 then table.insert(out, view(id, true)) end
end
return out
)lua";

// Shared by requeue and purge: ARGV 3 queue, 4 declared, 5 id ('' for up to 1000 of them).
// `act(id)` returns 1 when it moved the item. Returns {how many, dead items left}.
constexpr const char* kDeadAction = R"lua(
local q = ARGV[3]
if not queue_exists(q, ARGV[4]) then return redis.error_reply('TQ_NOQUEUE no queue ' .. q) end
tidy_and_wake(q)
local n = 0
if ARGV[5] ~= '' then
  local id = ARGV[5]
  local f = redis.call('HMGET', ik(id), 'q', 'state')
  if f[1] ~= q then return redis.error_reply('TQ_NOITEM no item ' .. id .. ' in queue ' .. q) end
  if f[2] ~= 'dead' then
    return redis.error_reply('TQ_NOTDEAD item ' .. id .. ' is ' .. f[2] .. ', not dead')
  end
  n = act(id)
else
  for _, id in ipairs(redis.call('ZRANGE', qk(q, 'dead'), 0, 999)) do n = n + act(id) end
end
if n > 0 and REQUEUE and not paused(q) then wake(q) end
return {n, redis.call('ZCARD', qk(q, 'dead'))}
)lua";

constexpr const char* kRequeueAct = R"lua(
local REQUEUE = true
local function act(id)
  redis.call('ZREM', qk(ARGV[3], 'dead'), id)
  local pri = redis.call('HGET', ik(id), 'pri')
  if not pri then return 0 end
  redis.call('HSET', ik(id), 'state', 'ready', 'att', 0)
  redis.call('HDEL', ik(id), 'fin')
  set_ready(ARGV[3], id, pri)
  return 1
end
)lua";

constexpr const char* kPurgeAct = R"lua(
local REQUEUE = false
local function act(id)
  redis.call('ZREM', qk(ARGV[3], 'dead'), id)
  return redis.call('DEL', ik(id))
end
)lua";

// Every queue's housekeeping. Returns how many leases expired.
constexpr const char* kSweep = R"lua(
local expired = 0
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  expired = expired + tidy_and_wake(q)
end
return expired
)lua";

struct Entry {
  const char* name;
  std::string text;
};

const std::map<ScriptId, Entry>& scripts() {
  static const auto* all = new std::map<ScriptId, Entry>{
      {ScriptId::kEnqueue, {"enqueue", std::string(kPrelude) + kEnqueue}},
      {ScriptId::kLease, {"lease", std::string(kPrelude) + kLease}},
      {ScriptId::kRelease, {"release", std::string(kPrelude) + kRelease}},
      {ScriptId::kAck, {"ack", std::string(kPrelude) + kAck}},
      {ScriptId::kGiveBack, {"give_back", std::string(kPrelude) + kGiveBack}},
      {ScriptId::kNack, {"nack", std::string(kPrelude) + kNack}},
      {ScriptId::kExtend, {"extend", std::string(kPrelude) + kExtend}},
      {ScriptId::kBury, {"bury", std::string(kPrelude) + kBury}},
      {ScriptId::kGet, {"get", std::string(kPrelude) + kGet}},
      {ScriptId::kInfo, {"info", std::string(kPrelude) + kInfo}},
      {ScriptId::kDead, {"dead", std::string(kPrelude) + kDead}},
      {ScriptId::kRequeue, {"requeue", std::string(kPrelude) + kRequeueAct + kDeadAction}},
      {ScriptId::kPurge, {"purge", std::string(kPrelude) + kPurgeAct + kDeadAction}},
      {ScriptId::kSweep, {"sweep", std::string(kPrelude) + kSweep}},
  };
  return *all;
}

}  // namespace

const std::string& script_text(ScriptId id) { return scripts().at(id).text; }
const char* script_name(ScriptId id) { return scripts().at(id).name; }

}  // namespace tender::workqueue::redis

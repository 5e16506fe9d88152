#include "workqueue/redis_reply.hpp"

#include <charconv>
#include <utility>

namespace tender::workqueue::redis {

std::string_view text(const redisReply* r) {
  return r->str == nullptr ? std::string_view() : std::string_view(r->str, r->len);
}

std::int64_t number(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) {
    return r->integer;
  }
  std::int64_t out = 0;
  auto t = text(r);
  std::from_chars(t.data(), t.data() + t.size(), out);
  return out;
}

std::optional<std::int64_t> optional_number(const redisReply* r) {
  if (r->type == REDIS_REPLY_STRING && r->len == 0) {
    return std::nullopt;
  }
  return number(r);
}

WallTime wall_ms(std::int64_t ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(Millis(ms)));
}

Error unexpected(std::string_view what) {
  return queue_error(Errc::kUnavailable, "unexpected reply from redis to " + std::string(what));
}

namespace {

// An error reply of a script as the Errc it names; any other error reply is kUnavailable.
Error script_error(const redisReply* r, ScriptId id) {
  static const std::pair<std::string_view, Errc> kCodes[] = {
      {"TQ_NOQUEUE ", Errc::kNoQueue},  {"TQ_NOITEM ", Errc::kNoItem},
      {"TQ_STALE ", Errc::kStaleLease}, {"TQ_NOTDEAD ", Errc::kNotDead},
      {"TQ_FULL ", Errc::kFull},
  };
  auto t = text(r);
  for (auto [prefix, code] : kCodes) {
    if (t.starts_with(prefix)) {
      return queue_error(code, std::string(t.substr(prefix.size())));
    }
  }
  return queue_error(Errc::kUnavailable,
                     std::string("redis ") + redis::script_name(id) + ": " + std::string(t));
}

}  // namespace

// Runs the script; an error reply becomes its Error, any other reply is handed back.
Result<Reply> run_script(RedisConn& conn, ScriptId id, const std::vector<std::string>& argv) {
  auto r = conn.eval(id, argv);
  if (!r) {
    return r.error();
  }
  if ((*r)->type == REDIS_REPLY_ERROR) {
    return script_error(r->get(), id);
  }
  return r;
}

Result<State> parse_state(std::string_view s) {
  for (State st : {State::kReady, State::kDelayed, State::kLeased, State::kDone, State::kDead}) {
    if (state_name(st) == s) {
      return st;
    }
  }
  return unexpected("an item's state '" + std::string(s) + "'");
}

// {id, q, state, pri, att, max, enq, rat, exp, fin, err, res[, payload]}
Result<ItemView> parse_view(const redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 12) {
    return unexpected("an item");
  }
  auto e = [&](std::size_t i) { return r->element[i]; };
  ItemView v;
  v.id = static_cast<std::uint64_t>(number(e(0)));
  v.queue = std::string(text(e(1)));
  auto state = parse_state(text(e(2)));
  if (!state) {
    return state.error();
  }
  v.state = *state;
  v.priority = static_cast<int>(number(e(3)));
  v.attempts = static_cast<int>(number(e(4)));
  v.max_attempts = static_cast<int>(number(e(5)));
  v.enqueued = wall_ms(number(e(6)));
  auto at = [&](std::size_t i, State only) -> std::optional<WallTime> {
    auto ms = optional_number(e(i));
    if (!ms || (v.state != only && !(only == State::kDone && v.state == State::kDead))) {
      return std::nullopt;
    }
    return wall_ms(*ms);
  };
  v.ready_at = at(7, State::kDelayed);
  v.lease_expires = at(8, State::kLeased);
  v.finished = at(9, State::kDone);
  v.error = std::string(text(e(10)));
  v.result = std::string(text(e(11)));
  if (r->elements > 12) {
    v.payload = std::string(text(e(12)));
  }
  return v;
}

// {name, paused, ready, delayed, leased, done, dead, oldest enqueue ms or -1}
QueueInfo parse_info(const redisReply* r, const QueueSettings& settings) {
  auto e = [&](std::size_t i) { return number(r->element[i]); };
  QueueInfo info;
  info.name = std::string(text(r->element[0]));
  info.paused = e(1) != 0;
  info.settings = settings;
  info.counts = {.ready = static_cast<std::uint64_t>(e(2)),
                 .delayed = static_cast<std::uint64_t>(e(3)),
                 .leased = static_cast<std::uint64_t>(e(4)),
                 .done = static_cast<std::uint64_t>(e(5)),
                 .dead = static_cast<std::uint64_t>(e(6))};
  if (e(7) >= 0) {
    info.oldest_ready = wall_ms(e(7));
  }
  return info;
}

bool is_info(const redisReply* r) { return r->type == REDIS_REPLY_ARRAY && r->elements == 8; }

}  // namespace tender::workqueue::redis

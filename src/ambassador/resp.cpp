#include "ambassador/resp.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <utility>

#include "core/ascii.hpp"

namespace tender::ambassador::resp {

namespace {

constexpr std::string_view kCrlf = "\r\n";

ParseResult incomplete() { return {Status::kIncomplete, {}}; }
ParseResult error(std::string message) { return {Status::kError, std::move(message)}; }

// A whole decimal integer as redis' string2ll reads one: an optional '-', digits without a
// leading zero (except "0" itself), nothing else, and no overflow.
bool parse_ll(std::string_view s, long long& value) {
  const std::size_t first = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (first < s.size() && s[first] == '0' && s.size() != 1) {
    return false;  // "01", "-0": from_chars would take them, redis does not
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

// Finds the CR of the CRLF ending the line that starts at `from`, allowing at most `max` bytes
// before it, so that a peer that never sends one is cut off rather than buffered. On false,
// `fail` says what to return: incomplete, or the error `too_long` or `no_lf`.
bool find_crlf(std::string_view buf, std::size_t from, std::size_t max, std::size_t& cr,
               ParseResult& fail, const char* too_long, const char* no_lf) {
  const std::size_t avail = buf.size() - from;
  const void* found = std::memchr(buf.data() + from, '\r', std::min(avail, max + 1));
  if (found == nullptr) {
    fail = avail > max ? error(too_long) : incomplete();
    return false;
  }
  cr = static_cast<std::size_t>(static_cast<const char*>(found) - buf.data());
  if (cr + 1 == buf.size() || buf[cr + 1] != '\n') {
    fail = cr + 1 == buf.size() ? incomplete() : error(no_lf);
    return false;
  }
  return true;
}

// True if `len` bytes of bulk data and a CRLF start at `pos`; on false, `fail` says what to
// return.
bool find_data(std::string_view buf, std::size_t pos, std::size_t len, ParseResult& fail) {
  if (buf.size() - pos < len + 2 || buf[pos + len] != '\r' || buf[pos + len + 1] != '\n') {
    fail = buf.size() - pos < len + 2 ? incomplete()
                                      : error("Protocol error: expected CRLF after bulk data");
    return false;
  }
  return true;
}

bool fits(long long n, std::size_t max) { return static_cast<unsigned long long>(n) <= max; }

// The partial state of a command (Command::Partial), kept between calls.
template <typename Partial>
ParseResult parse_multibulk(std::string_view buf, const Limits& limits,
                            std::vector<std::string_view>& args, std::size_t& end, Partial& part) {
  std::size_t cr = 0;
  ParseResult fail;
  if (!find_crlf(buf, 0, limits.max_inline, cr, fail, "Protocol error: too big mbulk count string",
                 "Protocol error: invalid multibulk length")) {
    return fail;
  }
  long long count = 0;
  if (!parse_ll(buf.substr(1, cr - 1), count)) {
    return error("Protocol error: invalid multibulk length");
  }
  if (count > 0 && !fits(count, limits.max_args)) {
    return error(limits.unauthenticated ? "Protocol error: unauthenticated multibulk length"
                                        : "Protocol error: invalid multibulk length");
  }
  const std::size_t header = cr + 2;
  std::size_t pos = header;
  if (part.count != count || part.header != header || part.pos > buf.size()) {
    part.count = -1;  // not the array the last call saw
    part.spans.clear();
  }
  long long first = 0;
  if (part.count >= 0) {
    pos = part.pos;
    first = static_cast<long long>(part.spans.size());
  }
  args.clear();
  // Incomplete: remember what was read, as offsets, to go on from there next time.
  auto save = [&](std::size_t at) {
    part.count = count;
    part.header = header;
    part.pos = at;
    for (auto a : args) {
      part.spans.emplace_back(static_cast<std::size_t>(a.data() - buf.data()), a.size());
    }
    return incomplete();
  };
  for (long long i = first; i < count; ++i) {
    if (pos == buf.size()) {
      return save(pos);
    }
    if (buf[pos] != '$') {
      const char got = buf[pos] == '\r' || buf[pos] == '\n' ? ' ' : buf[pos];
      return error(std::string("Protocol error: expected '$', got '") + got + "'");
    }
    if (!find_crlf(buf, pos, limits.max_inline, cr, fail,
                   "Protocol error: too big bulk count string",
                   "Protocol error: invalid bulk length")) {
      return fail.status == Status::kIncomplete ? save(pos) : fail;
    }
    long long len = 0;
    if (!parse_ll(buf.substr(pos + 1, cr - pos - 1), len) || len < 0) {
      return error("Protocol error: invalid bulk length");
    }
    if (!fits(len, limits.max_bulk)) {
      return error(limits.unauthenticated ? "Protocol error: unauthenticated bulk length"
                                          : "Protocol error: invalid bulk length");
    }
    const auto size = static_cast<std::size_t>(len);
    if (!find_data(buf, cr + 2, size, fail)) {
      return fail.status == Status::kIncomplete ? save(pos) : fail;
    }
    args.push_back(buf.substr(cr + 2, size));
    pos = cr + 2 + size + 2;
  }
  if (!part.spans.empty()) {
    // The arguments of earlier calls go first, as views into this buffer.
    args.insert(args.begin(), part.spans.size(), std::string_view());
    for (std::size_t i = 0; i < part.spans.size(); ++i) {
      args[i] = buf.substr(part.spans[i].first, part.spans[i].second);
    }
  }
  part.count = -1;
  part.spans.clear();
  end = pos;  // count <= 0 is an empty command, which redis skips
  return {};
}

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }  // isspace, C locale
bool ends_word(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// The byte a backslash escape inside "double quotes" stands for; \x is handled separately.
char unescape(char c) {
  constexpr std::string_view kFrom = "nrtba";
  constexpr std::string_view kTo = "\n\r\t\b\a";
  const std::size_t k = kFrom.find(c);
  return k == std::string_view::npos ? c : kTo[k];
}

// Splits an inline line into words as redis' sdssplitargs does. Plain words are views into
// `line`; a word with quotes in it is decoded into `unquoted`, which is reserved to the line's
// length first so that it never reallocates under the views already taken. False if a quote is
// unbalanced or a closing quote is not followed by a space.
bool split_inline(std::string_view line, std::vector<std::string_view>& args,
                  std::vector<char>& unquoted) {
  const std::size_t n = line.size();
  bool reserved = false;
  std::size_t i = 0;
  for (;;) {
    while (i < n && is_space(line[i])) {
      ++i;
    }
    if (i == n) {
      return true;
    }
    const std::size_t start = i;
    while (i < n && !ends_word(line[i]) && line[i] != '"' && line[i] != '\'') {
      ++i;
    }
    if (i == n || ends_word(line[i])) {
      args.push_back(line.substr(start, i - start));
      continue;
    }
    if (!reserved) {
      unquoted.clear();
      unquoted.reserve(n);
      reserved = true;
    }
    const std::size_t first = unquoted.size();
    unquoted.insert(unquoted.end(), line.begin() + static_cast<std::ptrdiff_t>(start),
                    line.begin() + static_cast<std::ptrdiff_t>(i));
    char quote = 0;  // the open quote, or 0 outside quotes
    for (; i < n; ++i) {
      const char c = line[i];
      if (quote == 0) {
        if (ends_word(c)) {
          break;
        }
        if (c == '"' || c == '\'') {
          quote = c;
        } else {
          unquoted.push_back(c);
        }
      } else if (c == quote) {
        if (i + 1 < n && !is_space(line[i + 1])) {
          return false;
        }
        quote = 0;
        ++i;
        break;
      } else if (quote == '"' && c == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                 hex_value(line[i + 2]) >= 0 && hex_value(line[i + 3]) >= 0) {
        unquoted.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
        i += 3;
      } else if (quote == '"' && c == '\\' && i + 1 < n) {
        unquoted.push_back(unescape(line[++i]));
      } else if (quote == '\'' && c == '\\' && i + 1 < n && line[i + 1] == '\'') {
        unquoted.push_back(line[++i]);
      } else {
        unquoted.push_back(c);
      }
    }
    if (quote != 0) {
      return false;
    }
    args.emplace_back(unquoted.data() + first, unquoted.size() - first);
  }
}

ParseResult parse_inline(std::string_view buf, const Limits& limits,
                         std::vector<std::string_view>& args, std::vector<char>& unquoted,
                         std::size_t& end) {
  const void* found = std::memchr(buf.data(), '\n', std::min(buf.size(), limits.max_inline + 1));
  if (found == nullptr) {
    return buf.size() > limits.max_inline ? error("Protocol error: too big inline request")
                                          : incomplete();
  }
  std::size_t newline = static_cast<std::size_t>(static_cast<const char*>(found) - buf.data());
  end = newline + 1;
  if (newline > 0 && buf[newline - 1] == '\r') {
    --newline;
  }
  if (!split_inline(buf.substr(0, newline), args, unquoted)) {
    return error("Protocol error: unbalanced quotes in request");
  }
  return {};
}

}  // namespace

ParseResult parse_command(std::string_view buf, Command& out, const Limits& limits) {
  std::size_t skipped = 0;  // blank lines and empty arrays already passed over
  for (;;) {
    out.args.clear();
    out.size = 0;
    out.inline_form = false;
    if (skipped == buf.size()) {
      break;
    }
    const std::string_view rest = buf.substr(skipped);
    std::size_t end = 0;
    ParseResult result;
    if (rest[0] == '*') {
      result = parse_multibulk(rest, limits, out.args, end, out.partial_);
    } else {
      out.inline_form = true;
      result = parse_inline(rest, limits, out.args, out.unquoted_, end);
    }
    if (result.status == Status::kError) {
      return result;
    }
    if (result.status == Status::kIncomplete || !out.args.empty()) {
      if (skipped > 0) {
        break;  // hand back the skipped bytes alone, so a command is always buf[0, size)
      }
      out.size = end;
      return result;
    }
    skipped += end;
  }
  out.args.clear();
  out.inline_form = false;
  out.size = skipped;
  return skipped > 0 ? ParseResult{} : incomplete();
}

void ReplyFramer::reset() {
  pos_ = 0;
  depth_ = 0;
}

ParseResult ReplyFramer::next(std::string_view buf, std::size_t& length, const Limits& limits) {
  for (;;) {
    if (pos_ >= buf.size()) {
      return incomplete();
    }
    const char type = buf[pos_];
    if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
      const char shown = type == '\r' || type == '\n' ? ' ' : type;
      return error(std::string("Protocol error: unexpected reply type '") + shown + "'");
    }
    std::size_t cr = 0;
    ParseResult fail;
    if (!find_crlf(buf, pos_, limits.max_inline, cr, fail, "Protocol error: too big reply line",
                   "Protocol error: expected CRLF after reply line")) {
      return fail;
    }
    const std::string_view line = buf.substr(pos_ + 1, cr - pos_ - 1);
    std::size_t end = cr + 2;
    long long n = 0;
    if (type == ':' && !parse_ll(line, n)) {
      return error("Protocol error: invalid integer reply");
    }
    if (type == '$') {
      if (!parse_ll(line, n) || n < -1 || (n >= 0 && !fits(n, limits.max_bulk))) {
        return error("Protocol error: invalid bulk length");
      }
      if (n >= 0) {
        const auto size = static_cast<std::size_t>(n);
        if (!find_data(buf, end, size, fail)) {
          return fail;
        }
        end += size + 2;
      }
    }
    if (type == '*') {
      if (!parse_ll(line, n) || n < -1 || (n >= 0 && !fits(n, limits.max_args))) {
        return error("Protocol error: invalid multibulk length");
      }
      if (n > 0) {
        if (depth_ == kMaxDepth) {
          return error("Protocol error: reply nested too deeply");
        }
        pending_[static_cast<std::size_t>(depth_++)] = n;
        pos_ = end;
        continue;
      }
    }
    pos_ = end;  // one element complete, which may complete the arrays around it
    while (depth_ > 0 && --pending_[static_cast<std::size_t>(depth_ - 1)] == 0) {
      --depth_;
    }
    if (depth_ == 0) {
      length = pos_;
      reset();
      return {};
    }
  }
}

ParseResult reply_length(std::string_view buf, std::size_t& length, const Limits& limits) {
  ReplyFramer framer;
  return framer.next(buf, length, limits);
}

std::optional<long long> parse_integer_reply(std::string_view reply) {
  long long value = 0;
  if (reply.size() < 4 || reply[0] != ':' || !reply.ends_with(kCrlf) ||
      !parse_ll(reply.substr(1, reply.size() - 3), value)) {
    return std::nullopt;
  }
  return value;
}

bool array_elements(std::string_view reply, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t cr = 0;
  long long count = 0;
  ParseResult fail;
  if (reply.empty() || reply[0] != '*' || !find_crlf(reply, 0, reply.size(), cr, fail, "", "") ||
      !parse_ll(reply.substr(1, cr - 1), count) || count < 0) {
    return false;
  }
  std::size_t pos = cr + 2;
  for (long long i = 0; i < count; ++i) {
    std::size_t length = 0;
    if (reply_length(reply.substr(pos), length).status != Status::kOk) {
      return false;
    }
    out.push_back(reply.substr(pos, length));
    pos += length;
  }
  return pos == reply.size();
}

namespace {

void append_line(std::string& out, char type, std::string_view text) {
  out.push_back(type);
  const std::size_t from = out.size();
  out.append(text);
  std::replace_if(
      out.begin() + static_cast<std::ptrdiff_t>(from), out.end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out.append(kCrlf);
}

template <typename Integer>
void append_header(std::string& out, char type, Integer value) {
  char line[24];
  line[0] = type;
  char* end = std::to_chars(line + 1, line + sizeof(line) - 2, value).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(line, end);
}

}  // namespace

void append_simple(std::string& out, std::string_view text) { append_line(out, '+', text); }
void append_error(std::string& out, std::string_view text) { append_line(out, '-', text); }
void append_integer(std::string& out, long long value) { append_header(out, ':', value); }
void append_null_bulk(std::string& out) { out.append("$-1\r\n"); }
void append_null_array(std::string& out) { out.append("*-1\r\n"); }

void append_array_header(std::string& out, std::size_t count) { append_header(out, '*', count); }

void append_bulk(std::string& out, std::string_view data) {
  append_header(out, '$', data.size());
  out.append(data);
  out.append(kCrlf);
}

void append_command(std::string& out, std::span<const std::string_view> args) {
  append_array_header(out, args.size());
  for (std::string_view arg : args) {
    append_bulk(out, arg);
  }
}

void append_auth(std::string& out, std::string_view user, std::string_view password) {
  if (password.empty()) {
    return;
  }
  if (user.empty()) {
    std::string_view args[] = {"AUTH", password};
    append_command(out, args);
  } else {
    std::string_view args[] = {"AUTH", user, password};
    append_command(out, args);
  }
}

// The command table. Kind and arity as redis 7.2 documents them (COMMAND INFO). A command
// redis knows but the proxy cannot route is listed kUnsupported, so that the client learns
// that, rather than "unknown command".
namespace {

constexpr Kind kKey = Kind::kSingleKey;
constexpr Kind kKeys = Kind::kMultiKey;
constexpr Kind kPairs = Kind::kMultiKeyValue;
constexpr Kind kLocal = Kind::kLocal;
constexpr Kind kNo = Kind::kUnsupported;

// clang-format off
constexpr CommandInfo kCommands[] = {
    // Strings.
    {"append", kKey, 3}, {"decr", kKey, 2}, {"decrby", kKey, 3}, {"get", kKey, 2},
    {"getdel", kKey, 2}, {"getex", kKey, -2}, {"getrange", kKey, 4}, {"getset", kKey, 3},
    {"incr", kKey, 2}, {"incrby", kKey, 3}, {"incrbyfloat", kKey, 3}, {"psetex", kKey, 4},
    {"set", kKey, -3}, {"setex", kKey, 4}, {"setnx", kKey, 3}, {"setrange", kKey, 4},
    {"strlen", kKey, 2}, {"substr", kKey, 4}, {"mget", kKeys, -2}, {"mset", kPairs, -3},
    {"msetnx", kNo, -1}, {"lcs", kNo, -1},
    // Hashes.
    {"hdel", kKey, -3}, {"hexists", kKey, 3}, {"hget", kKey, 3}, {"hgetall", kKey, 2},
    {"hincrby", kKey, 4}, {"hincrbyfloat", kKey, 4}, {"hkeys", kKey, 2}, {"hlen", kKey, 2},
    {"hmget", kKey, -3}, {"hmset", kKey, -4}, {"hrandfield", kKey, -2}, {"hscan", kKey, -3},
    {"hset", kKey, -4}, {"hsetnx", kKey, 4}, {"hstrlen", kKey, 3}, {"hvals", kKey, 2},
    // Lists.
    {"lindex", kKey, 3}, {"linsert", kKey, 5}, {"llen", kKey, 2}, {"lpop", kKey, -2},
    {"lpos", kKey, -3}, {"lpush", kKey, -3}, {"lpushx", kKey, -3}, {"lrange", kKey, 4},
    {"lrem", kKey, 4}, {"lset", kKey, 4}, {"ltrim", kKey, 4}, {"rpop", kKey, -2},
    {"rpush", kKey, -3}, {"rpushx", kKey, -3}, {"lmove", kNo, -1}, {"rpoplpush", kNo, -1},
    {"lmpop", kNo, -1}, {"blpop", kNo, -1}, {"brpop", kNo, -1}, {"blmove", kNo, -1},
    {"brpoplpush", kNo, -1}, {"blmpop", kNo, -1},
    // Sets.
    {"sadd", kKey, -3}, {"scard", kKey, 2}, {"sismember", kKey, 3}, {"smembers", kKey, 2},
    {"smismember", kKey, -3}, {"spop", kKey, -2}, {"srandmember", kKey, -2}, {"srem", kKey, -3},
    {"sscan", kKey, -3}, {"smove", kNo, -1}, {"sdiff", kNo, -1}, {"sdiffstore", kNo, -1},
    {"sinter", kNo, -1}, {"sintercard", kNo, -1}, {"sinterstore", kNo, -1}, {"sunion", kNo, -1},
    {"sunionstore", kNo, -1},
    // Sorted sets.
    {"zadd", kKey, -4}, {"zcard", kKey, 2}, {"zcount", kKey, 4}, {"zincrby", kKey, 4},
    {"zlexcount", kKey, 4}, {"zmscore", kKey, -3}, {"zpopmax", kKey, -2}, {"zpopmin", kKey, -2},
    {"zrandmember", kKey, -2}, {"zrange", kKey, -4}, {"zrangebylex", kKey, -4},
    {"zrangebyscore", kKey, -4}, {"zrank", kKey, -3}, {"zrem", kKey, -3},
    {"zremrangebylex", kKey, 4}, {"zremrangebyrank", kKey, 4}, {"zremrangebyscore", kKey, 4},
    {"zrevrange", kKey, -4}, {"zrevrangebylex", kKey, -4}, {"zrevrangebyscore", kKey, -4},
    {"zrevrank", kKey, -3}, {"zscan", kKey, -3}, {"zscore", kKey, 3}, {"zdiff", kNo, -1},
    {"zdiffstore", kNo, -1}, {"zinter", kNo, -1}, {"zintercard", kNo, -1},
    {"zinterstore", kNo, -1}, {"zmpop", kNo, -1}, {"zrangestore", kNo, -1}, {"zunion", kNo, -1},
    {"zunionstore", kNo, -1}, {"bzmpop", kNo, -1}, {"bzpopmax", kNo, -1}, {"bzpopmin", kNo, -1},
    // Keys and expiry.
    {"del", kKeys, -2}, {"unlink", kKeys, -2}, {"exists", kKeys, -2}, {"touch", kKeys, -2},
    {"dump", kKey, 2}, {"expire", kKey, -3}, {"expireat", kKey, -3}, {"expiretime", kKey, 2},
    {"persist", kKey, 2}, {"pexpire", kKey, -3}, {"pexpireat", kKey, -3}, {"pexpiretime", kKey, 2},
    {"pttl", kKey, 2}, {"restore", kKey, -4}, {"ttl", kKey, 2}, {"type", kKey, 2},
    {"copy", kNo, -1}, {"keys", kNo, -1}, {"migrate", kNo, -1}, {"move", kNo, -1},
    {"object", kNo, -1}, {"randomkey", kNo, -1}, {"rename", kNo, -1}, {"renamenx", kNo, -1},
    {"restore-asking", kNo, -1}, {"scan", kNo, -1}, {"sort", kNo, -1}, {"sort_ro", kNo, -1},
    {"wait", kNo, -1}, {"waitaof", kNo, -1},
    // Bitmaps, HyperLogLog (PFCOUNT of one key only: several would be merged), geo.
    {"bitcount", kKey, -2}, {"bitfield", kKey, -2}, {"bitfield_ro", kKey, -2},
    {"bitpos", kKey, -3}, {"getbit", kKey, 3}, {"setbit", kKey, 4}, {"bitop", kNo, -1},
    {"pfadd", kKey, -2}, {"pfcount", kKey, 2}, {"pfmerge", kNo, -1}, {"pfdebug", kNo, -1},
    {"pfselftest", kNo, -1}, {"geoadd", kKey, -5}, {"geodist", kKey, -4}, {"geohash", kKey, -2},
    {"geopos", kKey, -2}, {"georadius_ro", kKey, -6}, {"georadiusbymember_ro", kKey, -5},
    {"geosearch", kKey, -7}, {"georadius", kNo, -1}, {"georadiusbymember", kNo, -1},
    {"geosearchstore", kNo, -1},
    // Streams.
    {"xack", kKey, -4}, {"xadd", kKey, -5}, {"xautoclaim", kKey, -6}, {"xclaim", kKey, -6},
    {"xdel", kKey, -3}, {"xlen", kKey, 2}, {"xpending", kKey, -3}, {"xrange", kKey, -4},
    {"xrevrange", kKey, -4}, {"xsetid", kKey, -3}, {"xtrim", kKey, -4}, {"xgroup", kNo, -1},
    {"xinfo", kNo, -1}, {"xread", kNo, -1}, {"xreadgroup", kNo, -1},
    // Connection.
    {"ping", kLocal, -1}, {"echo", kLocal, 2}, {"quit", kLocal, -1}, {"select", kLocal, 2},
    {"auth", kLocal, -2}, {"hello", kLocal, -1}, {"client", kLocal, -2}, {"reset", kNo, -1},
    {"swapdb", kNo, -1}, {"readonly", kNo, -1}, {"readwrite", kNo, -1}, {"asking", kNo, -1},
    // Transactions, pub/sub, scripting.
    {"multi", kNo, -1}, {"exec", kNo, -1}, {"discard", kNo, -1}, {"watch", kNo, -1},
    {"unwatch", kNo, -1}, {"subscribe", kNo, -1}, {"unsubscribe", kNo, -1},
    {"psubscribe", kNo, -1}, {"punsubscribe", kNo, -1}, {"ssubscribe", kNo, -1},
    {"sunsubscribe", kNo, -1}, {"publish", kNo, -1}, {"spublish", kNo, -1}, {"pubsub", kNo, -1},
    {"eval", kNo, -1}, {"evalsha", kNo, -1}, {"eval_ro", kNo, -1}, {"evalsha_ro", kNo, -1},
    {"script", kNo, -1}, {"fcall", kNo, -1}, {"fcall_ro", kNo, -1}, {"function", kNo, -1},
    // Server and cluster administration.
    {"acl", kNo, -1}, {"bgrewriteaof", kNo, -1}, {"bgsave", kNo, -1}, {"cluster", kNo, -1},
    {"command", kNo, -1}, {"config", kNo, -1}, {"dbsize", kNo, -1}, {"debug", kNo, -1},
    {"failover", kNo, -1}, {"flushall", kNo, -1}, {"flushdb", kNo, -1}, {"info", kNo, -1},
    {"lastsave", kNo, -1}, {"latency", kNo, -1}, {"lolwut", kNo, -1}, {"memory", kNo, -1},
    {"module", kNo, -1}, {"monitor", kNo, -1}, {"psync", kNo, -1}, {"replconf", kNo, -1},
    {"replicaof", kNo, -1}, {"role", kNo, -1}, {"save", kNo, -1}, {"shutdown", kNo, -1},
    {"slaveof", kNo, -1}, {"slowlog", kNo, -1}, {"sync", kNo, -1}, {"time", kNo, -1},
};
// clang-format on

constexpr std::size_t kMaxName = 24;  // longer than any name above
constexpr std::size_t kSlots = 512;   // open addressing; a power of two over twice the entries
static_assert(std::size(kCommands) * 2 < kSlots);

constexpr std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) {
    h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  return h;
}

constexpr auto kIndex = [] {
  std::array<std::int16_t, kSlots> slots{};
  slots.fill(-1);
  for (std::size_t i = 0; i < std::size(kCommands); ++i) {
    std::size_t slot = fnv1a(kCommands[i].name) & (kSlots - 1);
    while (slots[slot] >= 0) {
      slot = (slot + 1) & (kSlots - 1);
    }
    slots[slot] = static_cast<std::int16_t>(i);
  }
  return slots;
}();

// The entry named `lower` (already lower case), or nullptr.
constexpr const CommandInfo* find(std::string_view lower) {
  for (std::size_t slot = fnv1a(lower) & (kSlots - 1); kIndex[slot] >= 0;
       slot = (slot + 1) & (kSlots - 1)) {
    const CommandInfo& info = kCommands[static_cast<std::size_t>(kIndex[slot])];
    if (info.name == lower) {
      return &info;
    }
  }
  return nullptr;
}

// Every name is lower case, fits kMaxName, and is found as itself (so none is listed twice).
constexpr bool table_is_valid() {
  for (const CommandInfo& info : kCommands) {
    if (info.name.empty() || info.name.size() > kMaxName || find(info.name) != &info ||
        std::any_of(info.name.begin(), info.name.end(),
                    [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return false;
    }
  }
  return true;
}
static_assert(table_is_valid());

}  // namespace

const CommandInfo* lookup(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) {
    return nullptr;
  }
  char lower[kMaxName];
  for (std::size_t i = 0; i < name.size(); ++i) {
    lower[i] = ascii_lower(name[i]);
  }
  return find(std::string_view(lower, name.size()));
}

std::span<const CommandInfo> all_commands() { return kCommands; }

bool arity_ok(const CommandInfo& info, std::size_t argc) {
  const bool ok = info.arity >= 0 ? argc == static_cast<std::size_t>(info.arity)
                                  : argc >= static_cast<std::size_t>(-info.arity);
  return ok && (info.kind != Kind::kMultiKeyValue || argc % 2 == 1);
}

void append_arity_error(std::string& out, const CommandInfo& info) {
  std::string text = "ERR wrong number of arguments for '";
  text.append(info.name).append("' command");
  append_error(out, text);
}

void append_unknown_command_error(std::string& out, std::span<const std::string_view> args) {
  // redis: "unknown command '%.128s', with args beginning with: " then "'%.*s' " per argument
  // while the list is under 128 bytes, each cut to what is left of the 128.
  constexpr std::size_t kMax = 128;
  std::string text = "ERR unknown command '";
  text.append(args[0].substr(0, kMax)).append("', with args beginning with: ");
  const std::size_t start = text.size();
  for (std::size_t i = 1; i < args.size() && text.size() - start < kMax; ++i) {
    const std::size_t room = kMax - (text.size() - start);
    text.append("'").append(args[i].substr(0, room)).append("' ");
  }
  append_error(out, text);
}

std::string_view hash_tag(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open == std::string_view::npos) {
    return key;
  }
  const std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) {
    return key;
  }
  return key.substr(open + 1, close - open - 1);
}

}  // namespace tender::ambassador::resp

#include "workqueue/redis_conn.hpp"

#include <poll.h>

#include <boost/url/parse.hpp>
#include <charconv>
#include <cstddef>
#include <utility>

#include "workqueue/store.hpp"

namespace tender::workqueue::redis {
namespace {

Error bad_url(std::string message) { return queue_error(Errc::kInvalid, std::move(message)); }

template <class T>
bool parse_number(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string_view reply_text(const redisReply* r) {
  return r->str == nullptr ? std::string_view() : std::string_view(r->str, r->len);
}

}  // namespace

std::string RedisAddress::describe() const {
  std::string host_text = host.find(':') == std::string::npos ? host : "[" + host + "]";
  std::string out = "redis://" + host_text + ":" + std::to_string(port) + "/" + std::to_string(db);
  if (prefix != "tender:queue:") {
    out += "?prefix=" + prefix;
  }
  return out;
}

Result<RedisAddress> parse_redis_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return bad_url("invalid redis url: " + parsed.error().message());
  }
  const auto& u = *parsed;
  if (u.scheme() != "redis") {
    return bad_url("a redis store url starts with redis://, not " + std::string(u.scheme()) +
                   "://");
  }
  RedisAddress a;
  a.host = u.host_address();
  if (a.host.empty()) {
    return bad_url("redis url has no host");
  }
  if (u.has_userinfo()) {
    a.user = u.user();
    a.password = u.password();
    if (a.password.empty() && !a.user.empty()) {
      // redis://SECRET@host: the usual spelling of a password without a user.
      a.password = std::move(a.user);
      a.user.clear();
    }
  }
  if (u.has_port() && (!parse_number(u.port(), a.port) || a.port == 0)) {
    return bad_url("redis url " + a.host + ": bad port '" + std::string(u.port()) + "'");
  }
  std::string path = u.path();
  if (!path.empty() && path != "/") {
    if (!parse_number(std::string_view(path).substr(1), a.db) || a.db < 0) {
      return bad_url("redis url " + a.host + ": bad database number '" + path.substr(1) + "'");
    }
  }
  for (auto param : u.params()) {
    std::string key = param.key;
    std::string value = param.value;
    if (key == "prefix") {
      a.prefix = value;
    } else if (key == "connect_timeout_ms" || key == "timeout_ms" || key == "poll_ms") {
      long ms = 0;
      if (!parse_number(std::string_view(value), ms) || ms <= 0) {
        return bad_url("redis url: bad " + key + " '" + value + "'");
      }
      auto& field = key == "timeout_ms" ? a.command_timeout
                    : key == "poll_ms"  ? a.poll_every
                                        : a.connect_timeout;
      field = std::chrono::milliseconds(ms);
    } else {
      return bad_url("redis url: unknown parameter '" + key + "'");
    }
  }
  return a;
}

RedisConn::RedisConn(RedisAddress address) : address_(std::move(address)) {}

RedisConn::~RedisConn() { drop(); }

void RedisConn::drop() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  shas_ = {};
}

Error RedisConn::unavailable(std::string_view what) const {
  return queue_error(Errc::kUnavailable, address_.describe() + ": " + std::string(what));
}

Result<redisContext*> RedisConn::context() {
  if (ctx_ != nullptr) {
    return ctx_;
  }
  timeval tv = to_timeval(address_.connect_timeout);
  redisContext* c = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (c == nullptr) {
    return unavailable("cannot connect: out of memory");
  }
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return unavailable("cannot connect: " + why);
  }
  tv = to_timeval(address_.command_timeout);
  redisSetTimeout(c, tv);
  redisEnableKeepAlive(c);
  ctx_ = c;
  in_setup_ = true;
  struct SetupDone {
    bool& flag;
    ~SetupDone() { flag = false; }
  } setup_done{in_setup_};
  auto setup = [&](const std::vector<std::string_view>& argv, std::string_view what) -> Result<> {
    auto r = command(argv);
    if (!r) {
      return r.error();
    }
    if ((*r)->type == REDIS_REPLY_ERROR) {
      auto e = unavailable(std::string(what) + ": " + std::string(reply_text(r->get())));
      drop();
      return e;
    }
    return {};
  };
  if (!address_.password.empty()) {
    Result<> r = address_.user.empty()
                     ? setup({"AUTH", address_.password}, "AUTH refused")
                     : setup({"AUTH", address_.user, address_.password}, "AUTH refused");
    if (!r) {
      return r.error();
    }
  }
  if (address_.db != 0) {
    std::string db = std::to_string(address_.db);
    if (auto r = setup({"SELECT", db}, "SELECT " + db + " refused"); !r) {
      return r.error();
    }
  }
  return ctx_;
}

void RedisConn::drop_if_closed() {
  if (ctx_ == nullptr || ctx_->fd < 0) {
    return;
  }
  // Between commands nothing is due from the server: a readable socket is one it closed (it
  // restarted, or dropped an idle client) or broke. Found before sending, a fresh connection
  // runs the command, so a server's restart costs no failed operation and none runs twice.
  pollfd p{ctx_->fd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) {
    drop();
  }
}

Result<Reply> RedisConn::command(const std::vector<std::string_view>& argv) {
  if (!in_setup_) {
    drop_if_closed();
  }
  auto c = context();
  if (!c) {
    return c.error();
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(*c, static_cast<int>(args.size()), args.data(), lens.data()));
  if (r == nullptr) {
    std::string why = (*c)->err != 0 ? (*c)->errstr : "no reply";
    drop();
    return unavailable(why);
  }
  return Reply(r);
}

Result<Reply> RedisConn::eval(ScriptId id, const std::vector<std::string>& argv) {
  auto index = static_cast<std::size_t>(id);
  const std::string& text = script_text(id);
  if (shas_[index].empty()) {
    auto loaded = command({"SCRIPT", "LOAD", text});
    if (!loaded) {
      return loaded.error();
    }
    if ((*loaded)->type != REDIS_REPLY_STRING) {
      return unavailable(std::string("SCRIPT LOAD ") + script_name(id) + ": " +
                         std::string(reply_text(loaded->get())));
    }
    shas_[index] = std::string(reply_text(loaded->get()));
  }
  std::vector<std::string_view> args = {"EVALSHA", shas_[index], "0"};
  args.insert(args.end(), argv.begin(), argv.end());
  auto r = command(args);
  if (r && (*r)->type == REDIS_REPLY_ERROR && reply_text(r->get()).starts_with("NOSCRIPT")) {
    args[0] = "EVAL";
    args[1] = text;
    r = command(args);
  }
  return r;
}

}  // namespace tender::workqueue::redis

// The `redis` metrics source: INFO ALL (and a few CONFIG GET and SLOWLOG answers) from one Redis
// server over one kept connection, as prometheus-redis-exporter names it (redis_info.hpp).
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>

#include "adapter/fetch_cache.hpp"
#include "adapter/redis_info.hpp"
#include "adapter/sources.hpp"
#include "core/asio_util.hpp"
#include "core/resp_io.hpp"
#include "core/units.hpp"

namespace tender::adapter {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::experimental::awaitable_operators::operator||;
using tcp = asio::ip::tcp;

// No INFO of a sane server comes near this; a larger reply is refused rather than held.
constexpr std::size_t kMaxReply = std::size_t{16} << 20;

struct Settings {
  HostPort address;
  std::string password;
  std::string user;
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds cache{1000};
};

using Done = std::function<void(Result<std::vector<Family>>)>;

// What one collect asks, in this order: INFO ALL, then the extras (each may be refused).
const std::string& request() {
  static const std::string r =
      resp::command({"INFO", "ALL"}) + resp::command({"CONFIG", "GET", "maxmemory"}) +
      resp::command({"CONFIG", "GET", "maxclients"}) +
      resp::command({"CONFIG", "GET", "io-threads"}) +
      resp::command({"CONFIG", "GET", "databases"}) + resp::command({"SLOWLOG", "LEN"}) +
      resp::command({"SLOWLOG", "GET", "1"});
  return r;
}
constexpr std::size_t kReplies = 7;

// The value of a CONFIG GET reply (["name", "value"]) as a number.
std::optional<double> config_value(const resp::Value& v) {
  if (v.kind != resp::Value::Kind::kArray || v.elements.size() != 2) {
    return std::nullopt;
  }
  const std::string& s = v.elements[1].text;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return std::nullopt;
  }
  return d;
}

RedisReport report(std::vector<resp::Value>& r) {
  RedisReport out;
  out.info = std::move(r[0].text);
  out.maxmemory = config_value(r[1]);
  out.maxclients = config_value(r[2]);
  out.io_threads = config_value(r[3]);
  if (auto d = config_value(r[4]); d && *d >= 0 && *d <= 1e6) {
    out.databases = static_cast<int>(*d);
  }
  if (r[5].kind == resp::Value::Kind::kInteger) {
    out.slowlog_length = static_cast<double>(r[5].integer);
  }
  // SLOWLOG GET 1: [[id, unix time, microseconds, [args...], ...]], or [] when empty.
  if (r[6].kind == resp::Value::Kind::kArray && !r[6].elements.empty()) {
    const auto& e = r[6].elements[0].elements;
    if (e.size() >= 3 && e[0].kind == resp::Value::Kind::kInteger &&
        e[2].kind == resp::Value::Kind::kInteger) {
      out.slowlog_last_id = static_cast<double>(e[0].integer);
      out.slowlog_last_usec = static_cast<double>(e[2].integer);
    }
  }
  return out;
}

// Everything a fetch in flight touches; shared with the coroutine so that a source destroyed
// after stop() leaves it nothing dangling.
struct RedisSourceState {
  RedisSourceState(asio::io_context& io, const Clock& clock, std::chrono::milliseconds ttl)
      : socket(io), cache(clock, ttl) {}
  tcp::socket socket;
  bool stopped = false;
  FetchCache cache;  // one fetch for every scrape that comes while it runs

  mutable std::mutex mu;  // for status(), read from the admin thread
  std::uint64_t fetches = 0;
  std::uint64_t failures = 0;
  std::uint64_t connects = 0;
  std::string last_error;
};

class RedisSource final : public Source {
 public:
  RedisSource(std::string name, Settings s) : name_(std::move(name)), s_(std::move(s)) {}

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "redis"; }

  void start(const SourceContext& ctx) override {
    io_ = &ctx.io;
    clock_ = &ctx.clock;
    state_ = std::make_shared<RedisSourceState>(ctx.io, ctx.clock, s_.cache);
  }

  void collect(Done done) override {
    RedisSourceState& st = *state_;
    if (st.stopped) {
      done(Error(std::errc::operation_canceled, "stopping"));
      return;
    }
    if (st.cache.collect(std::move(done))) {
      asio::co_spawn(*io_, fetch(state_, s_, clock_), asio::detached);
    }
  }

  void stop() override {
    RedisSourceState& st = *state_;
    st.stopped = true;
    boost::system::error_code ignored;
    st.socket.close(ignored);
    st.cache.abort(Error(asio::error::operation_aborted, "stopping"));
  }

  std::vector<Family> families_when_down() const override { return redis_down_families(); }

  json::object status() const override {
    json::object o;
    if (!state_) {
      return o;
    }
    std::lock_guard lock(state_->mu);
    o["address"] = s_.address.str();
    o["fetches"] = state_->fetches;
    o["failures"] = state_->failures;
    o["connects"] = state_->connects;
    o["last_error"] = state_->last_error;
    return o;
  }

  json::object config() const override {
    json::object o;
    o["address"] = s_.address.str();
    o["user"] = s_.user;
    o["password"] = s_.password;  // /configz redacts it; a reload compares it
    o["timeout"] = format_duration(s_.timeout);
    o["cache"] = format_duration(s_.cache);
    return o;
  }

 private:
  static asio::awaitable<Result<std::vector<Family>>> fetch_once(
      std::shared_ptr<RedisSourceState> st, Settings s, const Clock* clock);
  static asio::awaitable<void> fetch(std::shared_ptr<RedisSourceState> st, Settings s,
                                     const Clock* clock);

  std::string name_;
  Settings s_;
  asio::io_context* io_ = nullptr;
  const Clock* clock_ = nullptr;
  std::shared_ptr<RedisSourceState> state_;
};

asio::awaitable<Result<std::vector<Family>>> RedisSource::fetch_once(
    std::shared_ptr<RedisSourceState> st, Settings s, const Clock* clock) {
  if (!st->socket.is_open()) {
    tcp::resolver resolver(st->socket.get_executor());
    auto [rec, endpoints] =
        co_await resolver.async_resolve(s.address.host, std::to_string(s.address.port), kTuple);
    if (rec) {
      co_return Error(rec, "resolve " + s.address.host + ": " + rec.message());
    }
    auto [cec, ep] = co_await asio::async_connect(st->socket, endpoints, kTuple);
    if (cec) {
      boost::system::error_code ignored;
      st->socket.close(ignored);
      co_return Error(cec, "connect: " + cec.message());
    }
    {
      std::lock_guard lock(st->mu);
      ++st->connects;
    }
    if (!s.password.empty()) {
      std::string auth = s.user.empty() ? resp::command({"AUTH", s.password})
                                        : resp::command({"AUTH", s.user, s.password});
      auto r = co_await resp::exchange(st->socket, auth, 1, kMaxReply);
      if (!r || (*r)[0].is_error()) {
        boost::system::error_code ignored;
        st->socket.close(ignored);
        co_return r ? Error(std::errc::permission_denied, "AUTH answered " + (*r)[0].describe())
                    : r.error().with_context("AUTH");
      }
    }
  }
  auto r = co_await resp::exchange(st->socket, request(), kReplies, kMaxReply);
  if (!r) {
    boost::system::error_code ignored;
    st->socket.close(ignored);  // the next collect connects afresh
    co_return r.error().with_context("INFO");
  }
  resp::Value& info = (*r)[0];
  if (info.kind != resp::Value::Kind::kBulk) {
    co_return Error(std::errc::protocol_error, "INFO answered " + info.describe());
  }
  double now = std::chrono::duration<double>(clock->wall().time_since_epoch()).count();
  co_return redis_families(report(*r), now);
}

asio::awaitable<void> RedisSource::fetch(std::shared_ptr<RedisSourceState> st, Settings s,
                                         const Clock* clock) {
  asio::steady_timer timer(st->socket.get_executor(), s.timeout);
  auto raced = co_await (fetch_once(st, s, clock) || timer.async_wait(kTuple));
  Result<std::vector<Family>> got =
      raced.index() == 0
          ? std::move(std::get<0>(raced))
          : Result<std::vector<Family>>(
                Error(std::errc::timed_out, "timed out after " + format_duration(s.timeout)));
  if (raced.index() == 1) {
    boost::system::error_code ignored;
    st->socket.close(ignored);
  }
  {
    std::lock_guard lock(st->mu);
    ++st->fetches;
    if (!got) {
      ++st->failures;
      st->last_error = got.error().message();
    }
  }
  if (st->stopped) {
    co_return;  // stop() has answered the waiting
  }
  st->cache.finish(std::move(got));
}

}  // namespace

std::unique_ptr<Source> make_redis_source(std::string name, const ConfigNode& settings,
                                          const SourceDefaults&) {
  settings.warn_unknown({"address", "password", "user", "timeout", "cache"});
  Settings s;
  auto address = settings.string("address");
  if (!address) {
    settings.fail("address", "a redis source needs an address (HOST:PORT)");
  }
  auto hp = parse_host_port(*address);
  if (!hp || hp->port == 0) {
    settings.fail("address", "not HOST:PORT: \"" + *address + "\"");
  }
  s.address = *hp;
  s.password = settings.string("password").value_or("");
  s.user = settings.string("user").value_or("");
  if (!s.user.empty() && s.password.empty()) {
    settings.fail("user", "an ACL user needs a password");
  }
  s.timeout = settings.duration("timeout").value_or(s.timeout);
  if (s.timeout <= std::chrono::milliseconds::zero()) {
    settings.fail("timeout", "must be more than 0");
  }
  s.cache = settings.duration("cache").value_or(s.cache);
  return std::make_unique<RedisSource>(std::move(name), std::move(s));
}

}  // namespace tender::adapter

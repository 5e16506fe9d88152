// The scraped Source: one HttpClient on the source thread, one fetch at a time, bounded by a
// timer that cancels it.
#include "adapter/scrape.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <mutex>

#include "core/http_client.hpp"
#include "core/units.hpp"

namespace tender::adapter {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// What /statusz shows of the fetches.
struct FetchStats {
  std::uint64_t fetches = 0;
  std::uint64_t errors = 0;
  double last_fetch_at = 0;  // Unix seconds; 0: never
  double last_fetch_seconds = 0;
  std::uint64_t last_bytes = 0;
  std::string last_error;
};

bool connect_failure(const boost::system::error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::host_not_found ||
         ec == asio::error::host_not_found_try_again || ec == asio::error::host_unreachable ||
         ec == asio::error::network_unreachable;
}

// Shared with the fetch in flight, which may end after the source has stopped.
struct ScrapeState {
  ScrapeState(asio::io_context& io, const Clock& clock, ScrapeSettings s,
              std::unique_ptr<ScrapeParser> p)
      : settings(std::move(s)),
        parser(std::move(p)),
        clock(clock),
        io(io),
        client(io.get_executor(),
               ClientOptions{.connect_timeout = settings.timeout,
                             .request_timeout = settings.timeout,
                             .max_idle_per_host = 1,
                             .idle_timeout = std::chrono::milliseconds(30'000),
                             .max_response_header_bytes = std::size_t{64} << 10,
                             .max_response_body_bytes = settings.max_body_bytes}),
        cache(clock, settings.cache),
        timer(io) {}

  // Why a fetch that got `ec` failed, in one line.
  [[nodiscard]] Error reason(const boost::system::error_code& ec) const {
    if (timed_out || ec == boost::beast::error::timeout) {
      return Error(std::errc::timed_out, "timed out after " + format_duration(settings.timeout));
    }
    if (ec == boost::beast::http::error::body_limit) {
      return Error(
          std::errc::message_size,
          "answer larger than " + format_bytes(settings.max_body_bytes) + " (max_body_bytes)");
    }
    if (connect_failure(ec)) {
      return Error(ec, "connect: " + ec.message());
    }
    return Error(ec, "fetch: " + ec.message());
  }

  ScrapeSettings settings;
  std::unique_ptr<ScrapeParser> parser;
  const Clock& clock;
  asio::io_context& io;
  HttpClient client;
  FetchCache cache;
  asio::steady_timer timer;
  asio::cancellation_signal cancel;
  std::uint64_t generation = 0;  // of the fetch in flight
  bool timed_out = false;
  bool stopped = false;
  std::chrono::steady_clock::time_point started{};

  mutable std::mutex mu;  // guards stats (read by the admin thread)
  FetchStats stats;
};

void fetched(const std::shared_ptr<ScrapeState>& st, std::uint64_t gen,
             boost::system::result<Response> got) {
  if (st->stopped || gen != st->generation) {
    return;
  }
  st->timer.cancel();
  const auto took = st->clock.now() - st->started;
  Result<std::vector<Family>> outcome{std::vector<Family>{}};
  std::uint64_t bytes = 0;
  if (!got) {
    outcome = st->reason(got.error());
  } else if (got->status < 200 || got->status > 299) {
    bytes = got->body.size();
    outcome = Error(std::errc::protocol_error, "HTTP " + std::to_string(got->status));
  } else {
    bytes = got->body.size();
    outcome = st->parser->parse(got->body);
  }
  {
    std::lock_guard lock(st->mu);
    FetchStats& s = st->stats;
    ++s.fetches;
    s.last_fetch_at = std::chrono::duration<double>(st->clock.wall().time_since_epoch()).count();
    s.last_fetch_seconds = std::chrono::duration<double>(took).count();
    s.last_bytes = bytes;
    if (!outcome) {
      ++s.errors;
      s.last_error = outcome.error().message();
    }
  }
  st->cache.finish(std::move(outcome));
}

asio::awaitable<void> run_fetch(std::shared_ptr<ScrapeState> st, std::uint64_t gen,
                                ClientRequest req) {
  auto got = co_await st->client.request(std::move(req));
  fetched(st, gen, std::move(got));
}

class ScrapedSource final : public Source {
 public:
  ScrapedSource(std::string name, std::string kind, ScrapeSettings settings, json::object config,
                std::unique_ptr<ScrapeParser> parser)
      : name_(std::move(name)),
        kind_(std::move(kind)),
        settings_(std::move(settings)),
        config_(std::move(config)),
        parser_(std::move(parser)) {}

  ~ScrapedSource() override {
    if (st_) {
      st_->stopped = true;
    }
  }

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return kind_; }

  void start(const SourceContext& ctx) override {
    parser_->start(ctx, name_);
    st_ = std::make_shared<ScrapeState>(ctx.io, ctx.clock, settings_, std::move(parser_));
  }

  void collect(std::function<void(Result<std::vector<Family>>)> done) override {
    if (!st_ || st_->stopped) {
      done(Error(asio::error::operation_aborted, "stopped"));
      return;
    }
    if (st_->cache.collect(std::move(done))) {
      start_fetch();
    }
  }

  void stop() override {
    if (!st_ || st_->stopped) {
      return;
    }
    st_->stopped = true;
    st_->timer.cancel();
    st_->cancel.emit(asio::cancellation_type::all);
    st_->cache.abort(Error(asio::error::operation_aborted, "stopped"));
  }

  json::object status() const override {
    json::object o;
    if (st_) {
      std::lock_guard lock(st_->mu);
      const FetchStats& s = st_->stats;
      o["fetches"] = s.fetches;
      o["fetch_errors"] = s.errors;
      o["last_fetch_at"] = s.last_fetch_at;
      o["last_fetch_seconds"] = s.last_fetch_seconds;
      o["last_fetch_bytes"] = s.last_bytes;
      o["last_error"] = s.last_error;
      for (auto& [k, v] : st_->parser->status()) {
        o[k] = v;
      }
    }
    return o;
  }

  json::object config() const override { return config_; }

 private:
  void start_fetch() {
    std::shared_ptr<ScrapeState> st = st_;
    const std::uint64_t gen = ++st->generation;
    st->timed_out = false;
    st->started = st->clock.now();
    st->timer.expires_after(st->settings.timeout);
    st->timer.async_wait([st, gen](const boost::system::error_code& ec) {
      if (!ec && !st->stopped && gen == st->generation && st->cache.in_flight()) {
        st->timed_out = true;
        st->cancel.emit(asio::cancellation_type::all);
      }
    });
    ClientRequest req;
    req.host = st->settings.target.host;
    req.port = st->settings.target.port;
    req.target = st->settings.target.target;
    for (const auto& [n, v] : st->settings.headers) {
      req.headers.add(n, v);
    }
    if (!req.headers.get("Accept")) {
      req.headers.add("Accept", kind_ == "text" ? "text/plain;version=0.0.4,*/*;q=0.1"
                                                : "application/json,*/*;q=0.1");
    }
    req.timeout = st->settings.timeout;
    asio::co_spawn(st->io, run_fetch(st, gen, std::move(req)),
                   asio::bind_cancellation_slot(st->cancel.slot(), asio::detached));
  }

  std::string name_;
  std::string kind_;
  ScrapeSettings settings_;
  json::object config_;
  std::unique_ptr<ScrapeParser> parser_;  // until start() hands it to the state
  std::shared_ptr<ScrapeState> st_;
};

}  // namespace

std::unique_ptr<Source> make_scraped_source(std::string name, std::string kind,
                                            ScrapeSettings settings, json::object config,
                                            std::unique_ptr<ScrapeParser> parser) {
  return std::make_unique<ScrapedSource>(std::move(name), std::move(kind), std::move(settings),
                                         std::move(config), std::move(parser));
}

}  // namespace tender::adapter

#include "echo/echo.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <span>

#include "core/app.hpp"
#include "core/ascii.hpp"
#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/http.hpp"
#include "core/http_server.hpp"
#include "core/json_text.hpp"
#include "core/metrics.hpp"

namespace tender::echo {

// The web view's Echo panel (ui/panel.js), embedded by CMakeLists.txt.
std::span<const UiAsset> ui_assets();

namespace {

// The answer to one request; `id` is the server's --id.
Response answer(const Request& req, std::string_view id);

namespace json = boost::json;

constexpr std::chrono::milliseconds kMaxDelay{600'000};  // as ?delay_ms allows

struct Config {
  HostPort listen{"127.0.0.1", 8080};
  int threads = 1;
  std::string id;
  ServerLimits limits;
  std::chrono::milliseconds delay{0};  // --delay: held back this long...
  double delay_fraction = 1.0;         // ...with this probability, each request on its own
};

struct Flags {
  std::string listen;
  std::optional<int> threads;  // unset: the file's or the default
  std::string id;
  std::string max_body;
  std::string max_header;
  std::string header_timeout;
  std::string idle_timeout;
  std::string delay;
  std::string delay_fraction;
};

// A probability as "0.05" or "5%", from 0 to 1; an error (the reason) for anything else.
Result<double> parse_fraction(std::string_view text) {
  bool percent = !text.empty() && text.back() == '%';
  std::string_view digits = percent ? text.substr(0, text.size() - 1) : text;
  double v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
      !std::isfinite(v)) {
    return Error(std::errc::invalid_argument,
                 "not a fraction (0 to 1, or 0% to 100%): \"" + std::string(text) + "\"");
  }
  if (percent) {
    v /= 100;
  }
  if (v < 0 || v > 1) {
    return Error(std::errc::invalid_argument,
                 "must be from 0 to 1 (or 0% to 100%), not \"" + std::string(text) + "\"");
  }
  return v;
}

// Whether --delay holds a request back: true with probability `fraction`, drawn independently
// per request from a per-thread xorshift64* generator, so the request path takes no lock and
// makes no system call.
class RandomDelay {
 public:
  RandomDelay(std::chrono::milliseconds delay, double fraction)
      : delay_(delay),
        always_(fraction >= 1.0),
        threshold_(fraction <= 0.0 || fraction >= 1.0
                       ? 0
                       : static_cast<std::uint64_t>(std::ldexp(fraction, 64))) {}

  [[nodiscard]] std::chrono::milliseconds delay() const { return delay_; }
  [[nodiscard]] bool draw() const {
    if (delay_.count() <= 0) {
      return false;
    }
    return always_ || next() < threshold_;
  }

 private:
  static std::uint64_t next() {
    thread_local std::uint64_t state = seed();
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
  }
  static std::uint64_t seed() {
    std::random_device rd;
    std::uint64_t s = (std::uint64_t{rd()} << 32) ^ rd();
    return s == 0 ? 0x9E3779B97F4A7C15ULL : s;
  }

  std::chrono::milliseconds delay_;
  bool always_;
  std::uint64_t threshold_;
};

// Query parameter `name` as an integer in [min, max]: nullopt when absent, an error (a 400's
// reason) when it is not one.
Result<std::optional<long>> int_param(const Request& req, std::string_view name, long min,
                                      long max) {
  auto v = req.query_param(name);
  if (!v) {
    return std::optional<long>();
  }
  long n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < min || n > max) {
    return Error(std::errc::invalid_argument, std::string(name) + " must be an integer from " +
                                                  std::to_string(min) + " to " +
                                                  std::to_string(max) + ", not \"" + *v + "\"");
  }
  return std::optional<long>(n);
}

class EchoRole final : public Role {
 public:
  explicit EchoRole(Config cfg) : cfg_(std::move(cfg)) {}

  void start(Runtime& rt) override {
    delayed_ = &rt.metrics().counter(
        "tender_echo_delayed_requests_total",
        "Requests held back by --delay (each with probability --delay-fraction).");
    Router router;
    std::string id = cfg_.id;
    RandomDelay random_delay(cfg_.delay, cfg_.delay_fraction);
    Counter* delayed = delayed_;
    router.add_async("*", "/*", [id, random_delay, delayed](Request& req, Reply reply) {
      auto delay_ms = int_param(req, "delay_ms", 0, 600'000);
      if (!delay_ms) {
        reply(Response::error(400, delay_ms.error().message()));
        return;
      }
      // ?delay_ms=, when present, decides; otherwise --delay, for --delay-fraction of requests.
      std::chrono::milliseconds delay{0};
      if (*delay_ms) {
        delay = std::chrono::milliseconds(**delay_ms);
      } else if (random_delay.draw()) {
        delay = random_delay.delay();
        delayed->inc();
      }
      Response resp = answer(req, id);
      if (resp.status == 400 || delay.count() == 0 || req.scheduler == nullptr) {
        reply(std::move(resp));
        return;
      }
      req.scheduler->after(delay, [reply = std::move(reply), resp = std::move(resp)]() mutable {
        reply(std::move(resp));
      });
    });
    ServerOptions so;
    so.listen = cfg_.listen;
    so.threads = cfg_.threads;
    so.limits = cfg_.limits;
    so.metrics = &rt.metrics();
    so.metrics_prefix = "tender_echo";
    server_ = std::make_unique<HttpServer>(std::move(router), so);
    bound_ = server_->bind();
    rt.announce("listen", bound_);
    server_->start();
  }

  void drain() override {
    if (server_) {
      server_->drain();
    }
  }
  bool drained() const override { return !server_ || server_->connections() == 0; }
  void stop() override {
    if (server_) {
      server_->stop();
    }
  }

  json::object status() const override {
    json::object o;
    o["id"] = cfg_.id;
    o["listen"] = bound_.str();
    o["threads"] = cfg_.threads;
    if (server_) {
      o["requests_served"] = server_->requests_served();
      o["connections"] = server_->connections();
      o["in_flight"] = server_->in_flight();
    }
    if (delayed_ != nullptr) {
      o["delayed_requests"] = static_cast<std::uint64_t>(delayed_->value());
    }
    return o;
  }

  std::span<const UiAsset> ui_assets() const override { return echo::ui_assets(); }

  json::object config() const override {
    json::object o;
    o["listen"] = cfg_.listen.str();
    o["threads"] = cfg_.threads;
    o["id"] = cfg_.id;
    o["max_body_bytes"] = cfg_.limits.max_body_bytes;
    o["max_header_bytes"] = cfg_.limits.max_header_bytes;
    o["header_timeout"] = format_duration(cfg_.limits.header_timeout);
    o["body_timeout"] = format_duration(cfg_.limits.body_timeout);
    o["idle_timeout"] = format_duration(cfg_.limits.idle_timeout);
    o["delay"] = format_duration(cfg_.delay);
    o["delay_fraction"] = cfg_.delay_fraction;
    return o;
  }

 private:
  Config cfg_;
  HostPort bound_;
  std::unique_ptr<HttpServer> server_;
  Counter* delayed_ = nullptr;
};

Config resolve(const Flags& f, const ConfigNode& file) {
  Config c;
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "listen",
                     "threads", "id", "max_body_bytes", "max_header_bytes", "header_timeout",
                     "body_timeout", "idle_timeout", "delay", "delay_fraction"});
  if (auto v = file.string("listen")) {
    auto hp = parse_host_port(*v);
    if (!hp) {
      file.fail("listen", "not HOST:PORT: \"" + *v + "\"");
    }
    c.listen = *hp;
  }
  if (auto v = file.integer("threads", 1, 256)) {
    c.threads = static_cast<int>(*v);
  }
  c.id = file.string("id").value_or("");
  c.limits.max_body_bytes = file.bytes("max_body_bytes").value_or(c.limits.max_body_bytes);
  c.limits.max_header_bytes = file.bytes("max_header_bytes").value_or(c.limits.max_header_bytes);
  c.limits.header_timeout = file.duration("header_timeout").value_or(c.limits.header_timeout);
  c.limits.body_timeout = file.duration("body_timeout").value_or(c.limits.body_timeout);
  c.limits.idle_timeout = file.duration("idle_timeout").value_or(c.limits.idle_timeout);
  c.delay = file.duration("delay").value_or(c.delay);
  if (c.delay > kMaxDelay) {
    file.fail("delay", "must be at most 10m");
  }
  if (auto v = file.string("delay_fraction")) {
    auto f = parse_fraction(*v);
    if (!f) {
      file.fail("delay_fraction", f.error().message());
    }
    c.delay_fraction = *f;
  }

  if (!f.listen.empty()) {
    c.listen = flag_host_port("listen", f.listen);
  }
  if (f.threads) {
    if (*f.threads < 1 || *f.threads > 256) {
      throw UsageError("--threads: must be from 1 to 256");
    }
    c.threads = *f.threads;
  }
  if (!f.id.empty()) {
    c.id = f.id;
  }
  if (!f.max_body.empty()) {
    c.limits.max_body_bytes = flag_bytes("max-body", f.max_body);
  }
  if (!f.max_header.empty()) {
    c.limits.max_header_bytes = flag_bytes("max-header", f.max_header);
  }
  if (!f.header_timeout.empty()) {
    c.limits.header_timeout = flag_duration("header-timeout", f.header_timeout);
  }
  if (!f.idle_timeout.empty()) {
    c.limits.idle_timeout = flag_duration("idle-timeout", f.idle_timeout);
  }
  if (!f.delay.empty()) {
    c.delay = flag_duration("delay", f.delay);
    if (c.delay > kMaxDelay) {
      throw UsageError("--delay: must be at most 10m");
    }
  }
  if (!f.delay_fraction.empty()) {
    auto v = parse_fraction(f.delay_fraction);
    if (!v) {
      throw UsageError("--delay-fraction: " + v.error().message());
    }
    c.delay_fraction = *v;
  }
  if (c.limits.max_header_bytes < 1024 || c.limits.max_header_bytes > std::size_t{1} << 20) {
    throw UsageError("max header size must be from 1KiB to 1MiB");
  }
  return c;
}

Response answer(const Request& req, std::string_view id) {
  auto status_param = int_param(req, "status", 200, 599);
  if (!status_param) {
    return Response::error(400, status_param.error().message());
  }
  const std::optional<long>& status = *status_param;
  // Written by hand rather than through boost::json values: this is the benchmark's hot path.
  std::vector<std::pair<std::string, std::string>> query;
  for (std::string_view q = req.query; !q.empty();) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    std::string key(pair.substr(0, pair.find('=')));
    bool seen = false;
    for (const auto& [k, v] : query) {
      seen = seen || k == key;
    }
    if (!key.empty() && !seen) {
      query.emplace_back(key, req.query_param(key).value_or(""));
    }
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& f : req.headers.fields()) {
    std::string name = ascii_lower(f.name);
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& h) { return h.first == name; });
    if (it != headers.end()) {
      it->second.append(", ").append(f.value);
    } else {
      headers.emplace_back(std::move(name), f.value);
    }
  }
  auto object = [](std::string& out, const std::vector<std::pair<std::string, std::string>>& kv) {
    out.push_back('{');
    for (std::size_t i = 0; i < kv.size(); ++i) {
      if (i > 0) {
        out.push_back(',');
      }
      append_json_string(out, kv[i].first);
      out.push_back(':');
      append_json_string(out, kv[i].second);
    }
    out.push_back('}');
  };
  Response r;
  r.status = static_cast<int>(status.value_or(200));
  r.headers.add("Content-Type", "application/json");
  std::string& out = r.body;
  out.reserve(160 + req.path.size() + req.query.size() + req.body.size() + req.headers.size() * 48);
  out += "{\"id\":";
  append_json_string(out, id);
  out += ",\"method\":";
  append_json_string(out, req.method);
  out += ",\"path\":";
  append_json_string(out, req.path);
  out += ",\"query\":";
  object(out, query);
  out += ",\"headers\":";
  object(out, headers);
  out += ",\"body\":";
  append_json_string(out, req.body);
  out += ",\"remote\":";
  append_json_string(out, req.remote);
  out += "}\n";
  return r;
}

}  // namespace

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand(
      "echo", "HTTP server that answers every request with the request as JSON (test backend)");
  auto common = std::make_shared<CommonFlags>();
  auto flags = std::make_shared<Flags>();
  add_common_flags(*cmd, *common, kEchoAdminPort);
  cmd->add_option("--listen", flags->listen, "Listen on HOST:PORT (default 127.0.0.1:8080)");
  cmd->add_option("--threads", flags->threads, "Worker threads (default 1)");
  cmd->add_option("--id", flags->id, "Identifier echoed in every answer");
  cmd->add_option("--max-body", flags->max_body, "Largest request body (default 8MiB)");
  cmd->add_option("--max-header", flags->max_header, "Largest request header (default 16KiB)");
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "Time allowed to send a request's headers (default 10s)");
  cmd->add_option("--idle-timeout", flags->idle_timeout,
                  "Keep-alive wait for the next request (default 60s)");
  cmd->add_option("--delay", flags->delay,
                  "Answer after DURATION, for --delay-fraction of requests (default 0: at once)");
  cmd->add_option("--delay-fraction", flags->delay_fraction,
                  "Share of requests --delay holds back, each drawn at random: 0.05 or 5% "
                  "(default 1)");
  cmd->callback([common, flags, &exit_code] {
    ConfigNode file = common->load_config();
    CommonOptions opts = resolve_common(*common, file, kEchoAdminPort);
    EchoRole role(resolve(*flags, file));
    exit_code = run_role("echo", role, opts);
  });
  return cmd;
}

}  // namespace tender::echo

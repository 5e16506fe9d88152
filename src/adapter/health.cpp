// The health adapter (health.hpp): checks run on the role's io thread through core's probes,
// each verdict cached and shared by the requests that come while a check runs.
#include "adapter/health.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>
#include <mutex>

#include "adapter/health_check.hpp"
#include "core/http_client.hpp"
#include "core/metrics.hpp"
#include "core/units.hpp"

namespace tender::adapter {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

class Checks final : public HealthChecks, public std::enable_shared_from_this<Checks> {
 public:
  explicit Checks(std::vector<CheckSpec> specs) : specs_(std::move(specs)), last_(specs_.size()) {}

  std::size_t size() const override { return specs_.size(); }

  void start(const SourceContext& ctx) override {
    io_ = &ctx.io;
    clock_ = &ctx.clock;
    // No pooled connections: checks are rare (cached), and an idle pool would keep the io
    // thread busy after stop().
    client_ = std::make_unique<HttpClient>(
        ctx.io.get_executor(),
        ClientOptions{.max_idle_per_host = 0, .max_response_body_bytes = std::size_t{1} << 20});
    for (const auto& s : specs_) {
      caches_.push_back(std::make_unique<VerdictCache>(*clock_, s.cache));
    }
    up_ = &ctx.metrics.gauge_family("tender_adapt_check_up",
                                    "1 if the check's last run passed, else 0.", {"check"});
    runs_ = &ctx.metrics.counter_family("tender_adapt_check_runs_total",
                                        "Runs of each check, by result (pass, fail).",
                                        {"check", "result"});
    duration_ = &ctx.metrics.histogram_family("tender_adapt_check_duration_seconds",
                                              "Time each run of a check took.", {"check"});
  }

  void answer(const std::string& name, Reply reply) override {
    if (name != "all" && index(name) == specs_.size()) {
      reply(Response::error(404, "no check is named " + name));
      return;
    }
    if (io_ == nullptr) {
      reply(Response::error(503, "not started"));
      return;
    }
    asio::post(*io_, [self = shared_from_this(), name, reply = std::move(reply)]() mutable {
      if (name == "all") {
        self->answer_all(std::move(reply));
        return;
      }
      self->request(self->index(name), [reply = std::move(reply)](const Verdict& v) {
        reply(v.passed ? Response::text(200, "ok: " + v.message + "\n")
                       : Response::error(503, v.message));
      });
    });
  }

  void stop() override {
    stopped_ = true;
    for (auto& c : caches_) {
      c->abandon(Verdict{.passed = false, .message = "stopping", .checked_at = {}});
    }
  }

  json::object status() const override {
    json::object out;
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      out[specs_[i].name] = to_json(last_[i]);
    }
    return out;
  }

  json::object config() const override {
    json::object out;
    json::array checks;
    for (const auto& s : specs_) {
      checks.push_back(s.config);
    }
    out["checks"] = std::move(checks);
    return out;
  }

 private:
  std::size_t index(std::string_view name) const {
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].name == name) {
        return i;
      }
    }
    return specs_.size();
  }

  static json::value to_json(const std::optional<Verdict>& v) {
    if (!v) {
      return nullptr;  // not run yet
    }
    json::object o;
    o["ok"] = v->passed;
    o["message"] = v->message;
    o["checked_at"] = format_utc(v->checked_at, true);
    return o;
  }

  // On the io thread.
  void request(std::size_t i, VerdictCache::Waiter w) {
    if (stopped_) {
      w(Verdict{.passed = false, .message = "stopping", .checked_at = {}});
      return;
    }
    if (caches_[i]->request(std::move(w))) {
      asio::co_spawn(*io_, run(shared_from_this(), i), asio::detached);
    }
  }

  void answer_all(Reply reply) {
    struct All {
      std::size_t left = 0;
      std::vector<std::optional<Verdict>> got;
      Reply reply;
    };
    auto all = std::make_shared<All>(All{specs_.size() + 1, {}, std::move(reply)});
    all->got.resize(specs_.size());
    auto done = [this, all] {
      if (--all->left > 0) {
        return;
      }
      json::object body;
      bool ok = true;
      for (std::size_t i = 0; i < specs_.size(); ++i) {
        ok = ok && all->got[i]->passed;
        body[specs_[i].name] = to_json(all->got[i]);
      }
      all->reply(Response::json(ok ? 200 : 503, body));
    };
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      request(i, [all, i, done](const Verdict& v) {
        all->got[i] = v;
        done();
      });
    }
    done();  // the +1: answers given at once cannot finish early
  }

  static asio::awaitable<void> run(std::shared_ptr<Checks> self, std::size_t i) {
    const CheckSpec& spec = self->specs_[i];
    auto started = self->clock_->now();
    ProbeVerdict pv = co_await check(spec.action, spec.timeout, *self->client_);
    double seconds = std::chrono::duration<double>(self->clock_->now() - started).count();
    Verdict v{
        .passed = pv.passed, .message = std::move(pv.message), .checked_at = self->clock_->wall()};
    self->up_->with({spec.name}).set(v.passed ? 1 : 0);
    self->runs_->with({spec.name, v.passed ? "pass" : "fail"}).inc();
    self->duration_->with({spec.name}).observe(seconds);
    {
      std::lock_guard lock(self->mu_);
      self->last_[i] = v;
    }
    self->caches_[i]->finish(std::move(v));
  }

  const std::vector<CheckSpec> specs_;
  asio::io_context* io_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<HttpClient> client_;
  std::vector<std::unique_ptr<VerdictCache>> caches_;  // io thread
  bool stopped_ = false;                               // io thread
  GaugeFamily* up_ = nullptr;
  CounterFamily* runs_ = nullptr;
  HistogramFamily* duration_ = nullptr;
  mutable std::mutex mu_;
  std::vector<std::optional<Verdict>> last_;  // for status()
};

}  // namespace

std::shared_ptr<HealthChecks> HealthChecks::parse(const ConfigNode& health) {
  return std::make_shared<Checks>(parse_checks(health));
}

}  // namespace tender::adapter

// The root's request path (fanout.hpp): one FanOut per client request, one coroutine per try.
//
// A FanOut lives on the worker thread that read the request and is touched only there. Every
// try ends by the request's deadline on its own (its connection's deadline, core/conn.hpp), so
// no timer is needed unless hedging is on; the answer goes once every shard has answered or
// given up (finish()).
#include "scatter/fanout.hpp"

#include <array>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <optional>
#include <unordered_map>

#include "core/log.hpp"
#include "core/upstream/http1_pool.hpp"
#include "scatter/gather.hpp"
#include "scatter/hedge.hpp"
#include "scatter/merge.hpp"
#include "scatter/split.hpp"

namespace tender::scatter {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::duration_cast;
using upstream::Http1Answer;
using upstream::Outcome;

struct Root::Metrics {
  explicit Metrics(Registry& r) {
    auto& by = r.counter_family(
        "tender_scatter_requests_total",
        "Client requests by result: complete, partial (some shards missing), failed (too few "
        "answered: 502/504), rejected (a bad request: 4xx).",
        {"result"});
    complete = &by.with({"complete"});
    partial = &by.with({"partial"});
    failed = &by.with({"failed"});
    rejected = &by.with({"rejected"});
    duration = &r.histogram("tender_scatter_fanout_duration_seconds",
                            "Time from a client request to its merged answer.", kLatencyBuckets);
    merge_errors = &r.counter("tender_scatter_merge_container_errors_total",
                              "Merge or split container exchanges that failed.");
  }
  Counter* complete;
  Counter* partial;
  Counter* failed;
  Counter* rejected;
  Histogram* duration;
  Counter* merge_errors;
  std::atomic<std::int64_t> in_flight{0};
};

struct Root::Worker {
  Worker(asio::io_context& io, Deadlines& d, const HedgeConfig& h)
      : ioc(io), pool(io, d), budget(h.budget, h.burst) {}
  struct PerShard {
    std::shared_ptr<Shard> shard;
    std::unique_ptr<upstream::WorkerCluster> view;
    LatencyWindow window{1024};
  };
  PerShard& of(const std::shared_ptr<Shard>& s) {
    auto& p = per[s->id];
    if (!p.view) {
      p.shard = s;
      p.view = std::make_unique<upstream::WorkerCluster>(s->cluster);
    }
    return p;
  }
  asio::io_context& ioc;
  upstream::Http1Pool pool;
  HedgeBudget budget;
  std::unordered_map<std::uint32_t, PerShard> per;  // by Shard::id; nodes stay put
  // The merge or split container, as a cluster of one endpoint.
  std::shared_ptr<Root::Services> services;
};

namespace {

constexpr auto kNever = SteadyClock::time_point::max();

struct Try {
  upstream::Picked picked;
  upstream::ExchangeCancel cancel;
  SteadyClock::time_point sent;
  bool live = false;
  bool hedge = false;
};

struct Call {
  std::shared_ptr<Shard> shard;
  Root::Worker::PerShard* ps = nullptr;
  std::string body;  // its part of a split
  bool own_body = false;
  std::array<Try, 2> tries;  // the first (retried in place), and a hedge
  int live = 0;
  bool done = false;
  bool answered = false;
  bool hedged = false;
  bool hedge_won = false;
  bool partial = false;  // a lower root's answer that was partial itself
  int status = 0;
  double ms = 0;
  int retries_left = 0;
  SteadyClock::time_point hedge_at = kNever;
  std::string error;
  std::string error_kind;
  std::string child_missing;  // a lower root's X-Tender-Missing
  json::value answer;         // a merge container's input
};

bool connect_error(const Error& e) {
  const auto& ec = e.code();
  return ec == asio::error::connection_refused || ec == asio::error::no_buffer_space ||
         ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
         ec == asio::error::address_family_not_supported || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == std::errc::connection_refused;
}

bool timed_out(const Error& e) {
  return e.code() == std::errc::timed_out || e.code() == asio::error::timed_out;
}

Outcome outcome_of(const Result<Http1Answer>& r) {
  if (r) {
    return r->status >= 500 ? Outcome::kServerError : Outcome::kSuccess;
  }
  const auto ec = r.error().code();
  if (timed_out(r.error())) {
    return Outcome::kTimeout;
  }
  if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
      ec == asio::error::network_unreachable) {
    return Outcome::kConnectFailure;
  }
  if (ec == std::errc::bad_message || ec == std::errc::message_size) {
    return Outcome::kProtocolError;
  }
  return Outcome::kReset;
}

double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

}  // namespace

// One client request being gathered.
struct FanOut : std::enable_shared_from_this<FanOut> {
  FanOut(const ScatterConfig& c, Root::Metrics& m, Root::Worker* w, Reply r)
      : cfg(c), metrics(m), worker(w), reply(std::move(r)) {}
  ~FanOut() { metrics.in_flight.fetch_sub(1, std::memory_order_relaxed); }

  const ScatterConfig& cfg;
  Root::Metrics& metrics;
  Root::Worker* worker;  // lives as long as the Root, which outlives the server's loops
  Reply reply;
  std::string method, path, query;
  std::string head;  // leaf_head
  std::string body;  // the client's body (broadcast)
  bool send_length = false;
  bool replayable = true;
  bool head_method = false;
  std::uint64_t hash = 0;
  SteadyClock::time_point start;
  SteadyClock::time_point deadline;
  Timing timing = Timing::kOff;
  std::vector<Call> calls;
  std::size_t open = 0;
  std::optional<Merger> merger;
  std::unique_ptr<asio::steady_timer> timer;
  bool finished = false;

  void launch();
  void shard_done();
  void arm_hedges();
  void on_hedge_timer();
  void finish();
  void answer(Response resp, Counter* result);
  [[nodiscard]] std::optional<SteadyClock::duration> hedge_delay(Root::Worker::PerShard& ps) const;
  [[nodiscard]] bool accept(Call& c, Try& t, Http1Answer& a);
  // Whether `e` has max_leaf_requests in flight already.
  [[nodiscard]] bool leaf_full(const upstream::Endpoint& e) const {
    return cfg.max_leaf_requests != 0 &&
           e.stats->active.load(std::memory_order_relaxed) >= cfg.max_leaf_requests;
  }
  static asio::awaitable<void> run_try(std::shared_ptr<FanOut> f, std::size_t ci, int slot);
  static asio::awaitable<void> merge_remote(std::shared_ptr<FanOut> f,
                                            std::vector<std::string> missing, bool partial);
  static asio::awaitable<void> split_remote(std::shared_ptr<FanOut> f,
                                            std::shared_ptr<const ShardSet> set);
};

// An answer's verdict: merged (true), or the try failed with c.error set (false).
bool FanOut::accept(Call& c, Try& t, Http1Answer& a) {
  (void)t;
  if (a.status < 200 || a.status > 299) {
    c.error = "HTTP " + std::to_string(a.status);
    c.error_kind = "status";
    return false;
  }
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(a.body, ec, {}, opts);
  if (ec) {
    c.error = "invalid JSON: " + ec.message();
    c.error_kind = "invalid_json";
    return false;
  }
  if (merger) {
    if (auto r = merger->add(static_cast<std::size_t>(&c - calls.data()), std::move(v)); !r) {
      c.error = r.error().message();
      c.error_kind = "merge";
      return false;
    }
  } else {
    c.answer = std::move(v);
  }
  if (auto p = a.headers.get("X-Tender-Partial"); p && *p != "0") {
    c.partial = true;
    c.child_missing = std::string(a.headers.get("X-Tender-Missing").value_or(""));
  }
  return true;
}

asio::awaitable<void> FanOut::run_try(std::shared_ptr<FanOut> f, std::size_t ci, int slot) {
  Call& c = f->calls[ci];
  Try& t = c.tries[slot];
  const auto& cluster = c.shard->cluster;
  std::string bytes;
  for (;;) {
    const upstream::Endpoint& e = *t.picked;
    auto now = SteadyClock::now();
    auto left = duration_cast<milliseconds>(f->deadline - now).count();
    leaf_request(bytes, f->head, e.name, left, c.own_body ? std::string_view(c.body) : f->body,
                 f->send_length);
    t.sent = now;
    Result<Http1Answer> r = Error(asio::error::no_buffer_space, "over the shard's max_requests");
    if (f->leaf_full(e)) {
      r = Error(asio::error::no_buffer_space, "the leaf has max_leaf_requests in flight");
    } else if (cluster->try_request()) {
      e.stats->active.fetch_add(1, std::memory_order_relaxed);
      e.stats->m_requests->inc();
      e.stats->m_bytes_out->inc(static_cast<double>(bytes.size()));
      upstream::ExchangeOptions o;
      o.deadline = f->deadline;
      o.connect_timeout = cluster->connect_timeout();
      o.max_body = f->cfg.max_answer_bytes;
      o.head = f->head_method;
      o.replayable = f->replayable;
      o.cancel = &t.cancel;
      r = co_await f->worker->pool.exchange(cluster, e, bytes, o);
      e.stats->active.fetch_sub(1, std::memory_order_relaxed);
      cluster->end_request();
    }
    bool cancelled = !r && r.error().code() == asio::error::operation_aborted;
    if (!cancelled) {
      auto outcome = outcome_of(r);
      cluster->record(e, outcome);
      if (outcome != Outcome::kSuccess) {
        e.stats->m_errors[static_cast<std::size_t>(outcome)]->inc();
      }
      if (r) {
        e.stats->m_latency->observe(
            std::chrono::duration<double>(SteadyClock::now() - t.sent).count());
        e.stats->m_bytes_in->inc(static_cast<double>(r->body.size()));
      }
    }
    if (f->finished || c.done) {  // the other try won, or the request is over
      t.live = false;
      --c.live;
      co_return;
    }
    if (r && f->accept(c, t, *r)) {
      auto took = SteadyClock::now() - t.sent;
      c.done = true;
      c.answered = true;
      c.status = r->status;
      c.ms = ms_since(f->start);
      c.hedge_won = t.hedge;
      c.error.clear();
      t.live = false;
      --c.live;
      for (auto& other : c.tries) {
        if (other.live) {
          other.cancel.fire();
        }
      }
      c.ps->window.add(duration_cast<microseconds>(took));
      if (c.ps->window.total() % 64 == 0) {
        auto p95 = c.ps->window.quantile(0.95);
        c.shard->p95_us.store(p95 ? p95->count() : -1, std::memory_order_relaxed);
      }
      c.shard->latency->observe(c.ms / 1000);
      c.shard->answered->inc();
      if (t.hedge) {
        c.shard->hedges_won->inc();
      }
      f->shard_done();
      co_return;
    }
    if (!r) {
      c.error = r.error().message();
      c.error_kind = timed_out(r.error()) ? "timeout" : connect_error(r.error()) ? "connect" : "io";
      if (c.retries_left > 0 && connect_error(r.error()) && SteadyClock::now() < f->deadline) {
        auto next = c.ps->view->pick(f->hash, t.picked.id());
        if (next && next.id() != t.picked.id()) {
          --c.retries_left;
          c.shard->retries->inc();
          c.shard->cluster->retries().inc();
          t.picked = std::move(next);
          continue;
        }
      }
    } else {
      c.status = r->status;
    }
    t.live = false;
    --c.live;
    if (c.live > 0) {
      co_return;  // the other try may yet answer
    }
    c.done = true;
    c.ms = ms_since(f->start);
    c.shard->errors->with({c.shard->name, c.error_kind}).inc();
    {
      std::lock_guard lock(c.shard->mu);
      c.shard->last_error = c.error;
    }
    f->shard_done();
    co_return;
  }
}

std::optional<SteadyClock::duration> FanOut::hedge_delay(Root::Worker::PerShard& ps) const {
  const auto& h = cfg.hedge;
  if (h.mode == HedgeConfig::Mode::kFixed) {
    return h.delay;
  }
  if (auto q = ps.window.quantile(h.quantile, h.min_samples)) {
    return *q;
  }
  if (h.delay.count() > 0) {
    return h.delay;
  }
  return std::nullopt;
}

void FanOut::launch() {
  open = calls.size();
  if (calls.empty()) {
    finish();
    return;
  }
  auto self = shared_from_this();
  bool hedging = cfg.hedge.mode != HedgeConfig::Mode::kOff;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    Call& c = calls[i];
    c.retries_left = cfg.retries;
    c.shard->requests->inc();
    Try& t = c.tries[0];
    t.picked = c.ps->view->pick(hash);
    if (t.picked && leaf_full(*t.picked)) {
      if (auto other = c.ps->view->pick(hash, t.picked.id()); other && !leaf_full(*other)) {
        t.picked = std::move(other);
      }
    }
    if (!t.picked) {
      c.done = true;
      c.error = "no replica of the shard is healthy";
      c.error_kind = "no_replica";
      c.shard->errors->with({c.shard->name, c.error_kind}).inc();
      --open;
      continue;
    }
    t.live = true;
    c.live = 1;
    if (hedging) {
      worker->budget.on_request();
      if (auto d = hedge_delay(*c.ps)) {
        c.hedge_at = SteadyClock::now() + *d;
      }
    }
    asio::co_spawn(worker->ioc, run_try(self, i, 0), asio::detached);
  }
  if (open == 0) {
    finish();
    return;
  }
  if (hedging) {
    arm_hedges();
  }
}

void FanOut::shard_done() {
  if (--open == 0 && !finished) {
    finish();
  }
}

void FanOut::arm_hedges() {
  auto next = kNever;
  for (const auto& c : calls) {
    if (!c.done && !c.hedged && c.live == 1) {
      next = std::min(next, c.hedge_at);
    }
  }
  if (next == kNever || next >= deadline) {
    return;
  }
  if (!timer) {
    timer = std::make_unique<asio::steady_timer>(worker->ioc);
  }
  timer->expires_at(next);
  timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->finished) {
      self->on_hedge_timer();
    }
  });
}

void FanOut::on_hedge_timer() {
  auto now = SteadyClock::now();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    Call& c = calls[i];
    if (c.done || c.hedged || c.live != 1 || c.hedge_at > now) {
      continue;
    }
    c.hedge_at = kNever;  // one hedge per shard, sent or not
    auto other = c.ps->view->pick(hash, c.tries[0].picked.id());
    if (!other || other.id() == c.tries[0].picked.id() || leaf_full(*other)) {
      continue;  // no other replica to ask
    }
    if (!worker->budget.try_hedge()) {
      c.shard->hedges_refused->inc();
      continue;
    }
    c.hedged = true;
    Try& h = c.tries[1];
    h.picked = std::move(other);
    h.hedge = true;
    h.live = true;
    ++c.live;
    c.shard->hedges_sent->inc();
    asio::co_spawn(worker->ioc, run_try(shared_from_this(), i, 1), asio::detached);
  }
  arm_hedges();
}

void FanOut::answer(Response resp, Counter* result) {
  result->inc();
  metrics.duration->observe(std::chrono::duration<double>(SteadyClock::now() - start).count());
  reply(std::move(resp));
}

void FanOut::finish() {
  finished = true;
  if (timer) {
    timer->cancel();
  }
  for (auto& c : calls) {
    for (auto& t : c.tries) {
      if (t.live) {
        t.cancel.fire();
      }
    }
  }
  std::size_t answered = 0;
  bool any_timeout = false;
  bool partial = false;
  std::vector<std::string> missing;
  std::string why;
  for (const auto& c : calls) {
    if (c.answered) {
      ++answered;
      if (c.partial) {
        partial = true;
        std::string_view rest = c.child_missing;
        while (!rest.empty()) {
          auto comma = rest.find(',');
          auto name = trim_ows(rest.substr(0, comma));
          if (!name.empty()) {
            missing.push_back(c.shard->name + "/" + std::string(name));
          }
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
      }
      continue;
    }
    partial = true;
    any_timeout = any_timeout || c.error_kind == "timeout";
    missing.push_back(c.shard->name);
    why += (why.empty() ? "" : ", ") + c.shard->name + " (" + c.error + ")";
  }
  std::size_t need = answers_needed(cfg.min_fraction, calls.size());
  if (answered < need) {
    int status = any_timeout ? 504 : 502;
    std::string reason = "only " + std::to_string(answered) + " of " +
                         std::to_string(calls.size()) + " shards answered (" +
                         std::to_string(need) + " needed): " + why;
    Response resp = Response::error(status, reason);
    resp.headers.set("X-Tender-Missing", [&] {
      std::string m;
      for (const auto& n : missing) {
        m += (m.empty() ? "" : ",") + n;
      }
      return m;
    }());
    answer(std::move(resp), metrics.failed);
    return;
  }
  if (!merger) {  // a merge container
    asio::co_spawn(worker->ioc, merge_remote(shared_from_this(), std::move(missing), partial),
                   asio::detached);
    return;
  }
  std::vector<ShardOutcome> outcomes;
  if (timing != Timing::kOff) {
    outcomes.reserve(calls.size());
    for (const auto& c : calls) {
      outcomes.push_back(
          {c.shard->name, c.ms, c.status, c.answered, c.hedged, c.hedge_won, c.partial, c.error});
    }
  }
  Response resp;
  resp.status = 200;
  resp.headers.set("Content-Type", "application/json");
  if (timing == Timing::kWrapper) {
    resp.body = json::serialize(timing_wrapper(merger->finish(), partial, missing, outcomes));
  } else {
    resp.body = json::serialize(merger->finish());
  }
  resp.body += '\n';
  if (timing == Timing::kHeader) {
    resp.headers.set("X-Tender-Shards", timing_header(outcomes));
  }
  if (partial) {
    std::string m;
    for (const auto& n : missing) {
      m += (m.empty() ? "" : ",") + n;
    }
    resp.headers.set("X-Tender-Partial", "1");
    resp.headers.set("X-Tender-Missing", m);
  }
  answer(std::move(resp), partial ? metrics.partial : metrics.complete);
}

namespace {

// A service the root POSTs JSON to (the merge or split container): one endpoint.
struct Service {
  std::shared_ptr<upstream::Cluster> cluster;
  std::string target;
};

asio::awaitable<Result<Http1Answer>> post_json(FanOut& f, const Service& svc,
                                               const std::string& body) {
  auto eps = svc.cluster->endpoints();
  if (eps->empty()) {
    co_return Error(std::errc::address_not_available, "the service's address did not resolve");
  }
  const upstream::Endpoint& e = eps->front();
  auto until = std::max(f.deadline, SteadyClock::now() + milliseconds(250));
  std::string bytes =
      "POST " + svc.target + " HTTP/1.1\r\nHost: " + e.name +
      "\r\nContent-Type: application/json\r\nX-Tender-Deadline-Ms: " +
      std::to_string(duration_cast<milliseconds>(until - SteadyClock::now()).count()) +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  upstream::ExchangeOptions o;
  o.deadline = until;
  o.connect_timeout = svc.cluster->connect_timeout();
  o.max_body = f.cfg.max_answer_bytes;
  o.replayable = false;
  auto r = co_await f.worker->pool.exchange(svc.cluster, e, bytes, o);
  svc.cluster->record(e, outcome_of(r));
  co_return r;
}

json::object request_json(const FanOut& f) {
  json::object o;
  o["method"] = f.method;
  o["path"] = f.path;
  o["query"] = f.query;
  return o;
}

}  // namespace

struct Root::Services {
  std::optional<Service> merge;
  std::optional<Service> split;
};

asio::awaitable<void> FanOut::merge_remote(std::shared_ptr<FanOut> f,
                                           std::vector<std::string> missing, bool partial) {
  json::object payload;
  payload["request"] = request_json(*f);
  json::array answers;
  for (auto& c : f->calls) {
    if (!c.answered) {
      continue;
    }
    json::object a;
    a["shard"] = c.shard->name;
    a["status"] = c.status;
    a["body"] = std::move(c.answer);
    answers.push_back(std::move(a));
  }
  payload["answers"] = std::move(answers);
  json::array m;
  for (const auto& n : missing) {
    m.emplace_back(n);
  }
  payload["missing"] = std::move(m);
  auto r = co_await post_json(*f, *f->worker->services->merge, json::serialize(payload));
  if (!r) {
    f->metrics.merge_errors->inc();
    f->answer(Response::error(502, "the merge service failed: " + r.error().message()),
              f->metrics.failed);
    co_return;
  }
  Response resp;
  resp.status = r->status;
  resp.headers.set("Content-Type",
                   std::string(r->headers.get("Content-Type").value_or("application/json")));
  resp.body = std::move(r->body);
  if (partial) {
    std::string list;
    for (const auto& n : missing) {
      list += (list.empty() ? "" : ",") + n;
    }
    resp.headers.set("X-Tender-Partial", "1");
    resp.headers.set("X-Tender-Missing", list);
  }
  bool ok = resp.status >= 200 && resp.status < 300;
  f->answer(std::move(resp), !ok       ? f->metrics.failed
                             : partial ? f->metrics.partial
                                       : f->metrics.complete);
}

asio::awaitable<void> FanOut::split_remote(std::shared_ptr<FanOut> f,
                                           std::shared_ptr<const ShardSet> set) {
  json::object payload;
  payload["request"] = request_json(*f);
  json::array names;
  for (const auto& s : set->shards) {
    names.emplace_back(s->name);
  }
  payload["shards"] = std::move(names);
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value body = json::parse(f->body, ec, {}, opts);
  if (ec) {
    f->answer(Response::error(400, "malformed JSON in the request body: " + ec.message()),
              f->metrics.rejected);
    co_return;
  }
  payload["body"] = std::move(body);
  auto r = co_await post_json(*f, *f->worker->services->split, json::serialize(payload));
  std::string why;
  json::value parts;
  if (!r) {
    why = r.error().message();
  } else if (r->status < 200 || r->status > 299) {
    why = "HTTP " + std::to_string(r->status);
  } else {
    parts = json::parse(r->body, ec, {}, opts);
    if (ec) {
      why = "invalid JSON: " + ec.message();
    } else if (!parts.is_object() || !parts.as_object().contains("parts") ||
               !parts.as_object().at("parts").is_array() ||
               parts.as_object().at("parts").as_array().size() != set->shards.size()) {
      why = "expected {\"parts\": [one per shard]}";
    }
  }
  if (!why.empty()) {
    f->metrics.merge_errors->inc();
    f->answer(Response::error(502, "the split service failed: " + why), f->metrics.failed);
    co_return;
  }
  const auto& list = parts.as_object().at("parts").as_array();
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < set->shards.size(); ++i) {
    if (!list[i].is_null()) {
      chosen.push_back(i);
    }
  }
  if (f->cfg.merge.kind != MergeSpec::Kind::kContainer) {
    f->merger.emplace(f->cfg.merge, chosen.size());
  }
  for (std::size_t i : chosen) {
    Call c;
    c.shard = set->shards[i];
    c.ps = &f->worker->of(c.shard);
    c.body = json::serialize(list[i]);
    c.own_body = true;
    f->calls.push_back(std::move(c));
  }
  f->send_length = true;
  f->launch();
}

Root::Root(const ScatterConfig& config, ShardDirectory& shards, Registry& metrics)
    : config_(config),
      shards_(shards),
      m_(std::make_unique<Metrics>(metrics)),
      services_(std::make_shared<Services>()) {
  auto service = [&](const std::string& name, const std::string& url) -> Service {
    auto u = parse_http_url(url);
    if (!u) {
      throw ConfigError(config.path, 0, name, u.error().message());
    }
    upstream::ClusterConfig c;
    c.name = name;
    c.endpoints = {HostPort{u->host, u->port}};
    auto named = upstream::initial_endpoints(c);
    if (!named || !*named) {
      throw ConfigError(config.path, 0, name,
                        named ? "no address for " + url : named.error().message());
    }
    Service s{std::make_shared<upstream::Cluster>(c, metrics, "tender_scatter"), u->target};
    s.cluster->set_endpoints(**named);
    return s;
  };
  if (config.merge.kind == MergeSpec::Kind::kContainer) {
    services_->merge = service("merge", config.merge.url);
  }
  if (config.split.kind == SplitSpec::Kind::kContainer) {
    services_->split = service("split", config.split.url);
  }
}

Root::~Root() = default;

Root::Worker& Root::worker(Request& req) {
  // A worker thread serves one root; the loop is compared too, so that a root made later at
  // the same address (tests) is not mistaken for this one.
  thread_local const Root* cached_root = nullptr;
  thread_local const void* cached_loop = nullptr;
  thread_local Worker* cached = nullptr;
  if (cached_root == this && cached_loop == req.scheduler->loop() && cached != nullptr) {
    return *cached;
  }
  auto w = std::make_shared<Worker>(*req.scheduler->loop(), *req.scheduler->loop_deadlines(),
                                    config_.hedge);
  w->services = services_;
  {
    std::lock_guard lock(mu_);
    workers_.push_back(w);
  }
  cached_root = this;
  cached_loop = req.scheduler->loop();
  cached = w.get();
  return *w;
}

void Root::close_idle() {
  std::lock_guard lock(mu_);
  for (auto& w : workers_) {
    w->pool.close_idle();
  }
}

std::size_t Root::in_flight() const {
  return static_cast<std::size_t>(m_->in_flight.load(std::memory_order_relaxed));
}

json::object Root::status() const {
  json::object o;
  o["in_flight"] = in_flight();
  std::lock_guard lock(mu_);
  std::size_t idle = 0;
  o["workers"] = workers_.size();
  (void)idle;
  return o;
}

void Root::handle(Request& req, Reply reply) {
  if (req.scheduler == nullptr || req.scheduler->loop() == nullptr) {
    reply(Response::error(500, "no event loop for this request"));
    return;
  }
  Worker& w = worker(req);
  m_->in_flight.fetch_add(1, std::memory_order_relaxed);
  auto f = std::make_shared<FanOut>(config_, *m_, &w, std::move(reply));
  f->start = SteadyClock::now();
  auto deadline = request_deadline(req, config_.deadline, config_.max_deadline);
  auto timing = request_timing(req, config_.timing);
  if (!deadline || !timing) {
    f->answer(Response::error(400, (!deadline ? deadline.error() : timing.error()).message()),
              m_->rejected);
    return;
  }
  f->deadline = f->start + *deadline;
  f->timing = *timing;
  f->method = req.method;
  f->path = req.path;
  f->query = req.query;
  f->head = leaf_head(req, config_.pass_headers);
  f->head_method = req.method == "HEAD";
  f->replayable = req.method == "GET" || req.method == "HEAD" || req.method == "PUT" ||
                  req.method == "DELETE" || req.method == "OPTIONS";
  f->send_length =
      !req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  f->hash = upstream::hash_key(req.target);
  f->body = std::move(req.body);
  auto set = shards_.current();
  if (set->shards.empty()) {
    f->answer(Response::error(503, "no shards to send to"), m_->failed);
    return;
  }
  const auto& split = config_.split;
  if (split.kind == SplitSpec::Kind::kContainer) {
    asio::co_spawn(w.ioc, FanOut::split_remote(f, set), asio::detached);
    return;
  }
  if (split.kind == SplitSpec::Kind::kNone) {
    if (config_.merge.kind != MergeSpec::Kind::kContainer) {
      f->merger.emplace(config_.merge, set->shards.size());
    }
    f->calls.resize(set->shards.size());
    for (std::size_t i = 0; i < set->shards.size(); ++i) {
      f->calls[i].shard = set->shards[i];
      f->calls[i].ps = &w.of(set->shards[i]);
    }
    f->launch();
    return;
  }
  auto parts = split_body(split, f->body, set->shards.size());
  if (!parts) {
    f->answer(Response::error(400, parts.error().message()), m_->rejected);
    return;
  }
  std::size_t used = 0;
  for (const auto& p : *parts) {
    used += p.positions.empty() ? 0 : 1;
  }
  if (config_.merge.kind != MergeSpec::Kind::kContainer) {
    f->merger.emplace(config_.merge, used);
  }
  f->calls.reserve(used);
  for (std::size_t i = 0; i < parts->size(); ++i) {
    auto& p = (*parts)[i];
    if (p.positions.empty()) {
      continue;
    }
    Call c;
    c.shard = set->shards[i];
    c.ps = &w.of(c.shard);
    c.body = std::move(p.body);
    c.own_body = true;
    if (f->merger) {
      f->merger->set_positions(f->calls.size(), std::move(p.positions));
    }
    f->calls.push_back(std::move(c));
  }
  f->send_length = true;
  f->launch();
}

}  // namespace tender::scatter

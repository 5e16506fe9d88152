// The root's request path (fanout.hpp): one FanOut per client request, one coroutine per try.
//
// A FanOut lives on the worker thread that read the request and is touched only there. Every
// try ends by the request's deadline on its own (its connection's deadline, core/conn.hpp), so
// no timer is needed unless hedging is on; the answer goes once every shard has answered or
// given up (finish()).
#include "scatter/fanout_impl.hpp"

namespace tender::scatter {
namespace {

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

}  // namespace

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

namespace {

double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

}  // namespace

// An answer's verdict: merged (true), or the try failed with c.error set (false).
bool FanOut::accept(Call& c, Http1Answer& a) {
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

asio::awaitable<Result<Http1Answer>> FanOut::send(Call& c, Try& t, std::string& bytes) {
  const auto& cluster = c.shard->cluster;
  const upstream::Endpoint& e = *t.picked;
  t.sent = SteadyClock::now();
  auto left = duration_cast<milliseconds>(deadline - t.sent).count();
  leaf_request(bytes, head, e.name, left, c.own_body ? std::string_view(c.body) : body,
               send_length);
  if (leaf_full(e)) {
    co_return Error(asio::error::no_buffer_space, "the leaf has max_leaf_requests in flight");
  }
  if (!cluster->try_request()) {
    co_return Error(asio::error::no_buffer_space, "over the shard's max_requests");
  }
  e.stats->active.fetch_add(1, std::memory_order_relaxed);
  e.stats->m_requests->inc();
  e.stats->m_bytes_out->inc(static_cast<double>(bytes.size()));
  upstream::ExchangeOptions o;
  o.deadline = deadline;
  o.connect_timeout = cluster->connect_timeout();
  o.max_body = cfg.max_answer_bytes;
  o.replayable = replayable;
  o.cancel = &t.cancel;
  auto r = co_await worker->pool.exchange(cluster, e, bytes, o);
  e.stats->active.fetch_sub(1, std::memory_order_relaxed);
  cluster->end_request();
  if (!r && (r.error().code() == asio::error::operation_aborted ||
             r.error().code() == asio::error::no_buffer_space)) {
    co_return r;  // cancelled, or a breaker of ours: says nothing of the leaf
  }
  auto outcome = outcome_of(r);
  cluster->record(e, outcome);
  if (outcome != Outcome::kSuccess) {
    e.stats->m_errors[static_cast<std::size_t>(outcome)]->inc();
  }
  if (r) {
    e.stats->m_latency->observe(std::chrono::duration<double>(SteadyClock::now() - t.sent).count());
    e.stats->m_bytes_in->inc(static_cast<double>(r->body.size()));
  }
  co_return r;
}

void FanOut::answered_by(Call& c, Try& t, int status) {
  auto took = SteadyClock::now() - t.sent;
  c.done = true;
  c.answered = true;
  c.status = status;
  c.ms = ms_since(start);
  c.hedge_won = t.hedge;
  c.error.clear();
  for (auto& other : c.tries) {
    if (other.live && &other != &t) {
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
  shard_done();
}

void FanOut::given_up(Call& c) {
  c.done = true;
  c.ms = ms_since(start);
  c.shard->errors->with({c.shard->name, c.error_kind}).inc();
  {
    std::lock_guard lock(c.shard->mu);
    c.shard->last_error = c.error;
  }
  shard_done();
}

bool FanOut::retry_elsewhere(Call& c, Try& t, const Error& e) {
  if (c.retries_left <= 0 || !connect_error(e) || SteadyClock::now() >= deadline) {
    return false;
  }
  auto next = c.ps->view->pick_other(t.picked.id());
  if (!next || next.id() == t.picked.id()) {
    return false;
  }
  --c.retries_left;
  c.shard->retries->inc();
  c.shard->cluster->retries().inc();
  t.picked = std::move(next);
  return true;
}

asio::awaitable<void> FanOut::run_try(std::shared_ptr<FanOut> f, std::size_t ci, int slot) {
  Call& c = f->calls[ci];
  Try& t = c.tries[slot];
  std::string bytes;
  for (;;) {
    auto r = co_await f->send(c, t, bytes);
    if (f->finished || c.done) {  // the other try won, or the request is over
      t.live = false;
      --c.live;
      co_return;
    }
    if (r && f->accept(c, *r)) {
      t.live = false;
      --c.live;
      f->answered_by(c, t, r->status);
      co_return;
    }
    if (!r) {
      c.error = r.error().message();
      c.error_kind = timed_out(r.error()) ? "timeout" : connect_error(r.error()) ? "connect" : "io";
      if (f->retry_elsewhere(c, t, r.error())) {
        continue;
      }
    } else {
      c.status = r->status;
    }
    t.live = false;
    --c.live;
    if (c.live == 0) {  // else the other try may yet answer
      f->given_up(c);
    }
    co_return;
  }
}

std::optional<SteadyClock::duration> FanOut::hedge_delay(Root::Worker::PerShard& ps) const {
  const auto& h = cfg.hedge;
  if (h.mode == HedgeConfig::Mode::kFixed) {
    return h.delay;
  }
  // Never earlier than the quantile the budget affords with room to spare: hedging after p95
  // sends 5% extra by definition, and a 5% budget would then refuse hedges at random, the
  // ones the slow answers needed among them. With a budget B the hedge goes after the later of
  // the configured quantile and the (1 - B/2) quantile (p97.5 for 5%).
  double q = std::min(std::max(h.quantile, 1.0 - h.budget / 2), 0.9999);
  if (auto d = ps.window.quantile(q, h.min_samples)) {
    return *d;
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
      if (auto other = c.ps->view->pick_other(t.picked.id()); other && !leaf_full(*other)) {
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
    auto other = c.ps->view->pick_other(c.tries[0].picked.id());
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

FanOut::Tally FanOut::tally() const {
  Tally t;
  for (const auto& c : calls) {
    if (c.answered) {
      ++t.answered;
      if (c.partial) {  // a lower root's missing shards, under this shard's name
        t.partial = true;
        std::string_view rest = c.child_missing;
        while (!rest.empty()) {
          auto comma = rest.find(',');
          auto name = trim_ows(rest.substr(0, comma));
          if (!name.empty()) {
            t.missing.push_back(c.shard->name + "/" + std::string(name));
          }
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
      }
      continue;
    }
    t.partial = true;
    t.any_timeout = t.any_timeout || c.error_kind == "timeout";
    t.missing.push_back(c.shard->name);
    t.why += (t.why.empty() ? "" : ", ") + c.shard->name + " (" + c.error + ")";
  }
  return t;
}

void mark_missing(Response& resp, const std::vector<std::string>& missing, bool partial) {
  std::string m;
  for (const auto& n : missing) {
    m += (m.empty() ? "" : ",") + n;
  }
  if (partial) {
    resp.headers.set("X-Tender-Partial", "1");
  }
  resp.headers.set("X-Tender-Missing", m);
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
  Tally t = tally();
  std::size_t need = answers_needed(cfg.min_fraction, calls.size());
  if (t.answered < need) {
    Response resp = Response::error(t.any_timeout ? 504 : 502,
                                    "only " + std::to_string(t.answered) + " of " +
                                        std::to_string(calls.size()) + " shards answered (" +
                                        std::to_string(need) + " needed): " + t.why);
    mark_missing(resp, t.missing, false);
    answer(std::move(resp), metrics.failed);
    return;
  }
  if (!merger) {  // a merge container
    asio::co_spawn(worker->ioc, merge_remote(shared_from_this(), std::move(t.missing), t.partial),
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
    resp.body = json::serialize(timing_wrapper(merger->finish(), t.partial, t.missing, outcomes));
  } else {
    resp.body = json::serialize(merger->finish());
  }
  resp.body += '\n';
  if (timing == Timing::kHeader) {
    resp.headers.set("X-Tender-Shards", timing_header(outcomes));
  }
  if (t.partial) {
    mark_missing(resp, t.missing, true);
  }
  answer(std::move(resp), t.partial ? metrics.partial : metrics.complete);
}

}  // namespace tender::scatter

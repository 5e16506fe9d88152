// The root (fanout.hpp): its workers' state, the handler that starts each request's fan-out,
// and the merge and split services' exchanges.
#include "scatter/fanout_impl.hpp"

namespace tender::scatter {

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

namespace {

json::object request_json(const FanOut& f) {
  json::object o;
  o["method"] = f.method;
  o["path"] = f.path;
  o["query"] = f.query;
  return o;
}

}  // namespace

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
    mark_missing(resp, missing, true);
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

std::size_t Root::in_flight() const {
  return static_cast<std::size_t>(m_->in_flight.load(std::memory_order_relaxed));
}

json::object Root::status() const {
  json::object o;
  o["in_flight"] = in_flight();
  std::lock_guard lock(mu_);
  o["workers"] = workers_.size();
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
    f->broadcast(*set);
  } else {
    f->split_and_launch(*set);
  }
}

void FanOut::broadcast(const ShardSet& set) {
  if (cfg.merge.kind != MergeSpec::Kind::kContainer) {
    merger.emplace(cfg.merge, set.shards.size());
  }
  calls.resize(set.shards.size());
  for (std::size_t i = 0; i < set.shards.size(); ++i) {
    calls[i].shard = set.shards[i];
    calls[i].ps = &worker->of(set.shards[i]);
  }
  launch();
}

void FanOut::split_and_launch(const ShardSet& set) {
  auto parts = split_body(cfg.split, body, set.shards.size());
  if (!parts) {
    answer(Response::error(400, parts.error().message()), metrics.rejected);
    return;
  }
  std::size_t used = 0;
  for (const auto& p : *parts) {
    used += p.positions.empty() ? 0 : 1;
  }
  if (cfg.merge.kind != MergeSpec::Kind::kContainer) {
    merger.emplace(cfg.merge, used);
  }
  calls.reserve(used);
  for (std::size_t i = 0; i < parts->size(); ++i) {
    auto& p = (*parts)[i];
    if (p.positions.empty()) {
      continue;  // nothing for this shard
    }
    Call c;
    c.shard = set.shards[i];
    c.ps = &worker->of(c.shard);
    c.body = std::move(p.body);
    c.own_body = true;
    if (merger) {
      merger->set_positions(calls.size(), std::move(p.positions));
    }
    calls.push_back(std::move(c));
  }
  send_length = true;
  launch();
}

}  // namespace tender::scatter

#include "election/api.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <utility>

#include "core/units.hpp"

namespace tender::election {

namespace json = boost::json;

namespace {

// A non-negative integer query parameter: nullopt when absent, an error answer when malformed.
struct Number {
  std::optional<std::uint64_t> value;
  std::optional<Response> bad;
};

Number number_param(const Request& req, std::string_view name) {
  auto text = req.query_param(name);
  if (!text) {
    return {};
  }
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || text->empty()) {
    return {std::nullopt, Response::error(400, std::string(name) +
                                                   " must be a non-negative "
                                                   "integer, not \"" +
                                                   *text + "\"")};
  }
  return {v, std::nullopt};
}

}  // namespace

json::object leader_json(const View& view, std::string_view election) {
  json::object o;
  o["name"] = view.leader;
  o["token"] = view.token;
  o["term_started"] =
      view.term_started ? json::value(format_utc(*view.term_started, true)) : json::value(nullptr);
  o["valid_for_ms"] = view.valid_for ? json::value(view.valid_for->count()) : json::value(nullptr);
  o["self"] = view.self;
  o["election"] = election;
  o["version"] = view.version;
  return o;
}

LeaderApi::LeaderApi(const Elector& elector, std::string election,
                     std::function<void(Reply)> resign, ApiLimits limits)
    : elector_(elector),
      election_(std::move(election)),
      resign_(std::move(resign)),
      limits_(limits) {}

Response LeaderApi::answer(const View& view) const {
  return Response::json(200, leader_json(view, election_));
}

void LeaderApi::add_routes(Router& router) {
  router.get("/", [this](Request&) {
    return Response::json(200, json::object{{"name", elector_.view().leader}});
  });
  router.add_async("GET", "/v1/leader", [this](Request& req, Reply reply) { leader(req, reply); });
  router.add_async("GET", "/v1/watch", [this](Request& req, Reply reply) { watch(req, reply); });
  router.get("/v1/am-leader", [this](Request&) {
    View v = elector_.view();
    if (v.self) {
      return Response::text(200, "leader, token " + std::to_string(v.token) + "\n");
    }
    return Response::text(409, v.leader.empty() ? "not leader: no leader now\n"
                                                : "not leader: " + v.leader + " leads\n");
  });
  add_resign_route(router, resign_);
}

void add_resign_route(Router& router, std::function<void(Reply)> resign) {
  router.add_async("POST", "/v1/resign",
                   [resign = std::move(resign)](Request&, Reply reply) { resign(reply); });
}

void LeaderApi::leader(Request& req, Reply reply) {
  Number wait = number_param(req, "wait_ms");
  Number after = number_param(req, "after");
  for (const Number* n : {&wait, &after}) {
    if (n->bad) {
      return reply(*n->bad);
    }
  }
  View view = elector_.view();
  if (!wait.value || *wait.value == 0) {
    return reply(answer(view));
  }
  if (*wait.value > static_cast<std::uint64_t>(limits_.max_wait.count())) {
    return reply(Response::error(
        400, "wait_ms must be at most " + std::to_string(limits_.max_wait.count())));
  }
  std::uint64_t since = after.value.value_or(view.token);
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    // Read again under the lock: publish() may have run since, and must not be missed.
    view = elector_.view();
    if (view.token != since || closed_) {
      return reply(answer(view));
    }
    if (waiters_.size() >= limits_.max_waiters) {
      return reply(Response::error(503, "too many long polls waiting; try again"));
    }
    id = ++next_id_;
    waiters_.push_back({since, reply, id});
  }
  // Neither callback holds the reply (it would hold itself through its own on_cancel).
  auto finish = [this, id] {
    if (auto r = take(id)) {
      (*r)(answer(elector_.view()));
    }
  };
  reply.on_cancel(finish);
  if (req.scheduler != nullptr) {
    req.scheduler->after(std::chrono::milliseconds(*wait.value), finish);
  }
}

void LeaderApi::watch(Request&, Reply reply) {
  Response head;
  head.headers.set("Content-Type", "text/event-stream");
  head.headers.set("Cache-Control", "no-cache");
  std::lock_guard lock(mu_);
  (void)live_streams();  // forgets the streams that have ended, before counting
  if (closed_) {
    return reply(Response::error(503, "draining"));
  }
  if (watchers_.size() >= limits_.max_watchers) {
    return reply(Response::error(503, "too many event streams open; try again"));
  }
  std::shared_ptr<ResponseStream> stream = reply.stream(std::move(head), std::size_t{64} << 10);
  if (!stream) {
    return;
  }
  View view = elector_.view();
  stream->write(sse_event(json::serialize(leader_json(view, election_)), "leader",
                          std::to_string(view.version)));
  watchers_.push_back(stream);
}

std::optional<Reply> LeaderApi::take(std::uint64_t id) {
  std::lock_guard lock(mu_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->id == id) {
      Reply r = std::move(it->reply);
      waiters_.erase(it);
      return r;
    }
  }
  return std::nullopt;
}

void LeaderApi::publish() {
  std::vector<Reply> due;
  View view = elector_.view();
  std::vector<std::shared_ptr<ResponseStream>> streams;
  {
    std::lock_guard lock(mu_);
    if (view.version == published_) {
      return;
    }
    published_ = view.version;
    std::erase_if(waiters_, [&](Waiter& w) {
      if (w.after == view.token) {
        return false;
      }
      due.push_back(std::move(w.reply));
      return true;
    });
    streams = live_streams();
  }
  Response res = answer(view);
  for (const Reply& r : due) {
    r(res);
  }
  std::string event = sse_event(json::serialize(leader_json(view, election_)), "leader",
                                std::to_string(view.version));
  for (const auto& s : streams) {
    s->write(event);  // a client too slow to take it is cut off by the stream itself
  }
}

void LeaderApi::keepalive() {
  std::vector<std::shared_ptr<ResponseStream>> streams;
  {
    std::lock_guard lock(mu_);
    streams = live_streams();
  }
  for (const auto& s : streams) {
    s->write(": keepalive\n\n");
  }
}

void LeaderApi::close() {
  std::vector<Reply> due;
  std::vector<std::shared_ptr<ResponseStream>> streams;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& w : waiters_) {
      due.push_back(std::move(w.reply));
    }
    waiters_.clear();
    streams = live_streams();
    watchers_.clear();
  }
  Response res = answer(elector_.view());
  for (const Reply& r : due) {
    r(res);
  }
  for (const auto& s : streams) {
    s->end();
  }
}

std::vector<std::shared_ptr<ResponseStream>> LeaderApi::live_streams() {
  std::vector<std::shared_ptr<ResponseStream>> live;
  std::erase_if(watchers_, [&](const std::weak_ptr<ResponseStream>& w) {
    auto s = w.lock();
    if (!s || s->closed()) {
      return true;
    }
    live.push_back(std::move(s));
    return false;
  });
  return live;
}

std::size_t LeaderApi::waiters() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

std::size_t LeaderApi::watchers() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& w : watchers_) {
    n += w.expired() ? 0 : 1;
  }
  return n;
}

}  // namespace tender::election

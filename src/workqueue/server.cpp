#include "workqueue/server.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "core/json_text.hpp"
#include "workqueue/codec.hpp"

namespace tender::workqueue {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, kEvents> kEventNames = {"enqueued", "leased", "acked",
                                                               "nacked", "dead"};

std::int64_t ms_of(WallTime t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

Response fail(const Error& e) { return Response::error(http_status(e), e.message()); }

// The option `name`: the query parameter, else the header `header` (if not empty).
std::optional<std::string> option(const Request& req, std::string_view name,
                                  std::string_view header) {
  if (auto v = req.query_param(name)) {
    return v;
  }
  if (!header.empty()) {
    if (auto h = req.headers.get(header)) {
      return std::string(*h);
    }
  }
  return std::nullopt;
}

// An integer option in [min, max]; nullopt when absent; an error (400) naming it.
Result<std::optional<std::int64_t>> int_option(const Request& req, std::string_view name,
                                               std::string_view header, std::int64_t min,
                                               std::int64_t max) {
  auto v = option(req, name, header);
  if (!v) {
    return std::optional<std::int64_t>();
  }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || p != v->data() + v->size() || n < min || n > max) {
    return queue_error(Errc::kInvalid, std::string(name) + " must be an integer from " +
                                           std::to_string(min) + " to " + std::to_string(max) +
                                           ", not \"" + v->substr(0, 64) + "\"");
  }
  return std::optional<std::int64_t>(n);
}

Result<std::uint64_t> item_id(const Request& req) {
  std::string_view s = req.param("id");
  std::uint64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || id == 0) {
    return queue_error(Errc::kInvalid, "item id must be a positive integer, not \"" +
                                           std::string(s.substr(0, 64)) + "\"");
  }
  return id;
}

constexpr std::int64_t kMaxDelayMs = 30LL * 24 * 3600 * 1000;

// JSON written by hand for the answers on every item's path (enqueue, lease, ack): building
// boost::json values costs more than the queue's own work there.
class JsonText {
 public:
  JsonText& str(std::string_view key, std::string_view value) {
    name(key);
    append_json_string(out_, value);
    return *this;
  }
  JsonText& num(std::string_view key, std::int64_t value) {
    name(key);
    out_ += std::to_string(value);
    return *this;
  }
  JsonText& flag(std::string_view key, bool value) {
    name(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  // `key` when the bytes are UTF-8, else `key`_base64 (as put_bytes does).
  JsonText& bytes(std::string_view key, std::string_view value) {
    if (valid_utf8(value)) {
      return str(key, value);
    }
    name(std::string(key) + "_base64");
    out_.push_back('"');
    out_ += base64_encode(value);
    out_.push_back('"');
    return *this;
  }
  JsonText& raw(std::string_view key, std::string_view json) {
    name(key);
    out_ += json;
    return *this;
  }
  [[nodiscard]] std::string text() { return std::move(out_) + "}"; }

 private:
  void name(std::string_view key) {
    if (out_.size() > 1) {
      out_.push_back(',');
    }
    append_json_string(out_, key);
    out_.push_back(':');
  }
  std::string out_ = "{";
};

Response json_text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = std::move(body);
  r.body.push_back('\n');
  return r;
}

std::string item_text(const ItemView& v) {
  JsonText o;
  o.num("id", static_cast<std::int64_t>(v.id))
      .str("queue", v.queue)
      .str("state", state_name(v.state))
      .num("priority", v.priority)
      .num("attempts", v.attempts)
      .num("max_attempts", v.max_attempts)
      .num("enqueued_ms", ms_of(v.enqueued));
  if (v.ready_at) {
    o.num("ready_ms", ms_of(*v.ready_at));
  }
  if (v.lease_expires) {
    o.num("lease_expires_ms", ms_of(*v.lease_expires));
  }
  if (v.finished) {
    o.num("finished_ms", ms_of(*v.finished));
  }
  if (!v.error.empty()) {
    o.str("error", v.error);
  }
  if (v.state == State::kDone) {
    o.bytes("result", v.result);
  }
  if (v.payload) {
    o.bytes("payload", *v.payload);
  }
  return o.text();
}

std::string leased_text(const Leased& l) {
  JsonText o;
  o.num("id", static_cast<std::int64_t>(l.id))
      .str("queue", l.queue)
      .str("lease_id", l.lease_id)
      .bytes("payload", l.payload)
      .num("attempt", l.attempt)
      .num("max_attempts", l.max_attempts)
      .num("priority", l.priority)
      .num("enqueued_ms", ms_of(l.enqueued))
      .num("lease_expires_ms", ms_of(l.lease_expires));
  return o.text();
}

json::object settings_json(const QueueSettings& s) {
  json::object o;
  o["max_attempts"] = s.max_attempts;
  o["lease_ttl_ms"] = s.lease_ttl.count();
  o["retry_backoff_ms"] = s.retry_backoff.count();
  o["retry_backoff_max_ms"] = s.retry_backoff_max.count();
  o["max_payload_bytes"] = s.max_payload_bytes;
  o["max_items"] = s.max_items;
  return o;
}

json::object queue_json(const QueueInfo& q, const Activity& activity, WallTime now) {
  json::object o;
  o["name"] = q.name;
  o["paused"] = q.paused;
  json::object counts;
  counts["ready"] = q.counts.ready;
  counts["delayed"] = q.counts.delayed;
  counts["leased"] = q.counts.leased;
  counts["done"] = q.counts.done;
  counts["dead"] = q.counts.dead;
  o["counts"] = std::move(counts);
  o["oldest_ready_age_ms"] =
      q.oldest_ready ? std::max<std::int64_t>(0, ms_of(now) - ms_of(*q.oldest_ready)) : 0;
  o["settings"] = settings_json(q.settings);
  json::object rates;
  auto r = activity.rates(q.name);
  for (std::size_t i = 0; i < kEvents; ++i) {
    // Whole numbers as integers: boost::json writes a double 0 as "0E0".
    const double rounded = std::round(r[i] * 1000) / 1000;
    if (rounded == std::floor(rounded)) {
      rates[kEventNames[i]] = static_cast<std::int64_t>(rounded);
    } else {
      rates[kEventNames[i]] = rounded;
    }
  }
  o["rates"] = std::move(rates);
  return o;
}

// One element of an items:batch array.
Result<NewItem> batch_item(const json::value& v, std::size_t index) {
  const std::string where = "item " + std::to_string(index + 1) + ": ";
  NewItem item;
  if (v.is_string()) {
    item.payload = v.as_string();
    return item;
  }
  if (!v.is_object()) {
    return queue_error(Errc::kInvalid, where + "must be a string or an object");
  }
  const auto& o = v.as_object();
  auto payload = get_bytes(o, "payload");
  if (!payload) {
    return queue_error(Errc::kInvalid, where + payload.error().message());
  }
  if (!*payload) {
    return queue_error(Errc::kInvalid, where + "has neither payload nor payload_base64");
  }
  item.payload = std::move(**payload);
  for (const auto& [k, val] : o) {
    if (k == "payload" || k == "payload_base64") {
      continue;
    }
    if (k == "idempotency_key") {
      if (!val.is_string()) {
        return queue_error(Errc::kInvalid, where + "idempotency_key must be a string");
      }
      item.idempotency_key = val.as_string();
      continue;
    }
    if (!val.is_int64() && !val.is_uint64()) {
      return queue_error(Errc::kInvalid, where + "\"" + std::string(k) +
                                             "\" is not a known field with an integer value");
    }
    const std::int64_t n =
        val.is_int64()
            ? val.as_int64()
            : static_cast<std::int64_t>(std::min<std::uint64_t>(val.as_uint64(), INT64_MAX));
    if (k == "priority") {
      item.priority = static_cast<int>(std::clamp<std::int64_t>(n, -1'000'000, 1'000'000));
    } else if (k == "delay_ms") {
      item.delay = Millis(std::clamp<std::int64_t>(n, -1, kMaxDelayMs + 1));
    } else if (k == "max_attempts") {
      item.max_attempts = static_cast<int>(std::clamp<std::int64_t>(n, -1, 1'000'000));
    } else {
      return queue_error(Errc::kInvalid, where + "unknown field \"" + std::string(k) + "\"");
    }
  }
  return item;
}

// The options of a single enqueue: query parameters or headers.
Result<NewItem> single_item(Request& req) {
  NewItem item;
  auto priority = int_option(req, "priority", "Tender-Priority", -1000, 1000);
  if (!priority) {
    return priority.error();
  }
  auto delay = int_option(req, "delay_ms", "Tender-Delay-Ms", 0, kMaxDelayMs);
  if (!delay) {
    return delay.error();
  }
  auto attempts = int_option(req, "max_attempts", "Tender-Max-Attempts", 1, 1000);
  if (!attempts) {
    return attempts.error();
  }
  item.priority = static_cast<int>(priority->value_or(0));
  item.delay = Millis(delay->value_or(0));
  if (*attempts) {
    item.max_attempts = static_cast<int>(**attempts);
  }
  if (auto key = option(req, "idempotency_key", "Idempotency-Key")) {
    if (key->empty() || key->size() > 256) {
      return queue_error(Errc::kInvalid, "idempotency_key must be 1 to 256 bytes");
    }
    item.idempotency_key = std::move(*key);
  }
  item.payload = std::move(req.body);
  return item;
}

void add_item_routes(Router& router, Store& store, Activity& activity) {
  router.add_async("POST", "/v1/queues/{queue}/items", [&](Request& req, Reply reply) {
    auto item = single_item(req);
    if (!item) {
      reply(fail(item.error()));
      return;
    }
    std::string queue(req.param("queue"));
    std::vector<NewItem> items;
    items.push_back(std::move(*item));
    store.enqueue(
        queue, std::move(items), [&activity, queue, reply](Result<std::vector<Enqueued>> r) {
          if (!r) {
            reply(fail(r.error()));
            return;
          }
          const Enqueued& e = r->front();
          if (e.created) {
            activity.count(queue, Event::kEnqueued);
          }
          Response resp =
              json_text(e.created ? 201 : 200, JsonText()
                                                   .num("id", static_cast<std::int64_t>(e.id))
                                                   .str("queue", queue)
                                                   .flag("created", e.created)
                                                   .text());
          resp.headers.set("Location", "/v1/items/" + std::to_string(e.id));
          reply(std::move(resp));
        });
  });

  router.add_async("POST", "/v1/queues/{queue}/items:batch", [&](Request& req, Reply reply) {
    boost::system::error_code ec;
    json::value doc = json::parse(req.body, ec);
    if (ec || !doc.is_array()) {
      reply(Response::error(400, ec ? "the body is not JSON: " + ec.message()
                                    : "the body must be a JSON array of items"));
      return;
    }
    const auto& arr = doc.as_array();
    if (arr.empty() || arr.size() > 10'000) {
      reply(Response::error(400, "a batch holds 1 to 10000 items"));
      return;
    }
    std::vector<NewItem> items;
    items.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto item = batch_item(arr[i], i);
      if (!item) {
        reply(fail(item.error()));
        return;
      }
      items.push_back(std::move(*item));
    }
    std::string queue(req.param("queue"));
    store.enqueue(queue, std::move(items),
                  [&activity, queue, reply](Result<std::vector<Enqueued>> r) {
                    if (!r) {
                      reply(fail(r.error()));
                      return;
                    }
                    json::array out;
                    std::uint64_t created = 0;
                    for (const auto& e : *r) {
                      json::object o;
                      o["id"] = e.id;
                      o["created"] = e.created;
                      out.push_back(std::move(o));
                      created += e.created ? 1 : 0;
                    }
                    activity.count(queue, Event::kEnqueued, created);
                    json::object body;
                    body["items"] = std::move(out);
                    reply(Response::json(created > 0 ? 201 : 200, body));
                  });
  });
}

void add_lease_route(Router& router, Store& store, Activity& activity) {
  router.add_async("POST", "/v1/queues/{queue}/lease", [&](Request& req, Reply reply) {
    LeaseOptions opts;
    auto n = int_option(req, "n", "", 1, 1000);
    auto ttl = int_option(req, "ttl_ms", "", 1000, 12LL * 3600 * 1000);
    auto wait = int_option(req, "wait_ms", "", 0, 300'000);
    for (const auto* r : {&n, &ttl, &wait}) {
      if (!*r) {
        reply(fail(r->error()));
        return;
      }
    }
    opts.n = static_cast<std::size_t>(n->value_or(1));
    if (*ttl) {
      opts.ttl = Millis(**ttl);
    }
    opts.wait = Millis(wait->value_or(0));
    std::string queue(req.param("queue"));
    const auto began = std::chrono::steady_clock::now();
    auto cancel =
        store.lease(queue, opts, [&activity, queue, reply, began](Result<std::vector<Leased>> r) {
          if (!r) {
            reply(fail(r.error()));
            return;
          }
          if (r->empty()) {
            reply(Response{.status = 204, .headers = {}, .body = {}, .stream = nullptr});
            return;
          }
          const std::int64_t now_ms = ms_of(std::chrono::system_clock::now());
          std::vector<double> ages;
          std::string items = "[";
          for (const auto& l : *r) {
            items += (items.size() > 1 ? "," : "") + leased_text(l);
            ages.push_back(
                static_cast<double>(std::max<std::int64_t>(0, now_ms - ms_of(l.enqueued))) /
                1000.0);
          }
          items += "]";
          activity.count(queue, Event::kLeased, r->size());
          activity.leased(queue, std::chrono::steady_clock::now() - began, ages);
          reply(json_text(200, JsonText().raw("items", items).text()));
        });
    reply.on_cancel(std::move(cancel));
  });
}

void nack(Store& store, Activity& activity, Request& req, const Reply& reply, std::uint64_t item,
          const std::string& lease_id) {
  auto delay = int_option(req, "delay_ms", "Tender-Delay-Ms", 0, kMaxDelayMs);
  if (!delay) {
    reply(fail(delay.error()));
    return;
  }
  std::optional<Millis> d;
  if (*delay) {
    d = Millis(**delay);
  }
  store.nack(item, lease_id, std::move(req.body), d,
             [&activity, &store, item, reply](Result<NackOutcome> r) {
               if (!r) {
                 reply(fail(r.error()));
                 return;
               }
               json::object o;
               o["id"] = item;
               o["state"] = state_name(r->state);
               if (r->ready_at) {
                 o["ready_ms"] = ms_of(*r->ready_at);
               }
               // The queue's name, for the counters, is the item's.
               store.get(
                   item, false,
                   [&activity, o, reply, dead = r->state == State::kDead](Result<ItemView> v) {
                     if (v) {
                       activity.count(v->queue, Event::kNacked);
                       if (dead) {
                         activity.count(v->queue, Event::kDead);
                       }
                     }
                     reply(Response::json(200, o));
                   });
             });
}

void extend(Store& store, const Request& req, const Reply& reply, std::uint64_t item,
            const std::string& lease_id) {
  auto ttl = int_option(req, "ttl_ms", "", 1000, 12LL * 3600 * 1000);
  if (!ttl || !*ttl) {
    reply(ttl ? Response::error(400, "ttl_ms is required") : fail(ttl.error()));
    return;
  }
  store.extend(item, lease_id, Millis(**ttl), [item, reply](Result<WallTime> r) {
    if (!r) {
      reply(fail(r.error()));
      return;
    }
    json::object o;
    o["id"] = item;
    o["lease_expires_ms"] = ms_of(*r);
    reply(Response::json(200, o));
  });
}

void add_lease_routes(Router& router, Store& store, Activity& activity) {
  router.add_async("POST", "/v1/items/{id}/{op}", [&](Request& req, Reply reply) {
    auto id = item_id(req);
    if (!id) {
      reply(fail(id.error()));
      return;
    }
    const std::string op(req.param("op"));
    auto lease_id = option(req, "lease_id", "Tender-Lease-Id");
    if (op != "ack" && op != "nack" && op != "extend" && op != "bury" && op != "release") {
      reply(Response::error(404, "no operation \"" + op.substr(0, 32) +
                                     "\" on items; there are ack, nack, extend, release and bury"));
      return;
    }
    if (!lease_id) {
      reply(Response::error(400, "lease_id is required"));
      return;
    }
    if (op == "ack") {
      store.ack(*id, *lease_id, std::move(req.body), [&activity, reply](Result<ItemView> r) {
        if (!r) {
          reply(fail(r.error()));
          return;
        }
        activity.count(r->queue, Event::kAcked);
        reply(json_text(200, item_text(*r)));
      });
    } else if (op == "nack") {
      nack(store, activity, req, reply, *id, *lease_id);
    } else if (op == "extend") {
      extend(store, req, reply, *id, *lease_id);
    } else if (op == "release") {
      store.release(*id, *lease_id, [reply](Result<ItemView> r) {
        reply(r ? json_text(200, item_text(*r)) : fail(r.error()));
      });
    } else {
      store.bury(*id, *lease_id, std::move(req.body), [&activity, reply](Result<ItemView> r) {
        if (!r) {
          reply(fail(r.error()));
          return;
        }
        activity.count(r->queue, Event::kDead);
        reply(json_text(200, item_text(*r)));
      });
    }
  });
}

void add_read_routes(Router& router, Store& store, Activity& activity) {
  router.add_async("GET", "/v1/items/{id}", [&](Request& req, Reply reply) {
    auto id = item_id(req);
    if (!id) {
      reply(fail(id.error()));
      return;
    }
    const bool with_payload = req.query_param("payload").value_or("1") != "0";
    store.get(*id, with_payload, [reply](Result<ItemView> r) {
      reply(r ? json_text(200, item_text(*r)) : fail(r.error()));
    });
  });

  router.add_async("GET", "/v1/queues", [&](Request&, Reply reply) {
    store.queues([&activity, reply](Result<std::vector<QueueInfo>> r) {
      if (!r) {
        reply(fail(r.error()));
        return;
      }
      const WallTime now = std::chrono::system_clock::now();
      json::array arr;
      for (const auto& q : *r) {
        arr.push_back(queue_json(q, activity, now));
      }
      json::object o;
      o["queues"] = std::move(arr);
      reply(Response::json(200, o));
    });
  });

  router.add_async("GET", "/v1/queues/{queue}", [&](Request& req, Reply reply) {
    store.queue(std::string(req.param("queue")), [&activity, reply](Result<QueueInfo> r) {
      reply(r ? Response::json(200, queue_json(*r, activity, std::chrono::system_clock::now()))
              : fail(r.error()));
    });
  });

  for (std::string_view op : {"pause", "resume"}) {
    router.add_async(
        "POST", "/v1/queues/{queue}/" + std::string(op),
        [&store, &activity, paused = op == "pause"](Request& req, Reply reply) {
          store.set_paused(
              std::string(req.param("queue")), paused, [&activity, reply](Result<QueueInfo> r) {
                reply(r ? Response::json(200,
                                         queue_json(*r, activity, std::chrono::system_clock::now()))
                        : fail(r.error()));
              });
        });
  }
}

// The store `source` gives now, or nullptr after answering 503.
Store* open_store_or_503(const StoreSource& source, const Reply& reply) {
  Store* s = source();
  if (s == nullptr) {
    reply(Response::error(503, "the store is not open yet"));
  }
  return s;
}

// GET /v1/queues/Q/dead: a page of the dead letters of Q, oldest first.
void list_dead(const StoreSource& source, Request& req, const Reply& reply) {
  auto after = int_option(req, "after", "", 0, INT64_MAX);
  auto limit = int_option(req, "limit", "", 1, 1000);
  if (!after || !limit) {
    reply(fail(!after ? after.error() : limit.error()));
    return;
  }
  // payload=0: the items without their payloads (what a person browsing them needs).
  const bool with_payload = req.query_param("payload").value_or("1") != "0";
  Store* store = open_store_or_503(source, reply);
  if (store == nullptr) {
    return;
  }
  store->dead(std::string(req.param("queue")), static_cast<std::uint64_t>(after->value_or(0)),
              static_cast<std::size_t>(limit->value_or(100)),
              [reply, with_payload](Result<std::vector<ItemView>> r) {
                if (!r) {
                  reply(fail(r.error()));
                  return;
                }
                std::string items = "[";
                std::uint64_t last = 0;
                for (auto& v : *r) {
                  if (!with_payload) {
                    v.payload.reset();
                  }
                  items += (items.size() > 1 ? "," : "") + item_text(v);
                  last = v.id;
                }
                items += "]";
                reply(json_text(200, JsonText()
                                         .raw("items", items)
                                         .num("next_after", static_cast<std::int64_t>(last))
                                         .text()));
              });
}

}  // namespace

void add_dead_routes(Router& router, StoreSource source) {
  router.add_async("GET", "/v1/queues/{queue}/dead",
                   [source](Request& req, Reply reply) { list_dead(source, req, reply); });

  router.add_async("GET", "/v1/queues/{queue}/dead/{id}", [source](Request& req, Reply reply) {
    auto id = item_id(req);
    if (!id) {
      reply(fail(id.error()));
      return;
    }
    Store* store = open_store_or_503(source, reply);
    if (store == nullptr) {
      return;
    }
    std::string queue(req.param("queue"));
    store->get(*id, true, [reply, queue, item = *id](Result<ItemView> r) {
      if (r && (r->queue != queue || r->state != State::kDead)) {
        reply(Response::error(
            404, "item " + std::to_string(item) + " is not a dead item of queue " + queue));
        return;
      }
      reply(r ? json_text(200, item_text(*r)) : fail(r.error()));
    });
  });

  auto change = [source](Request& req, const Reply& reply, std::optional<std::uint64_t> id) {
    const bool purge = req.param("op") == "purge";
    if (!purge && req.param("op") != "requeue") {
      reply(Response::error(404, "dead items can be requeued or purged"));
      return;
    }
    Store* store = open_store_or_503(source, reply);
    if (store == nullptr) {
      return;
    }
    auto done = [reply, purge](Result<std::uint64_t> r) {
      if (!r) {
        reply(fail(r.error()));
        return;
      }
      json::object o;
      o[purge ? "purged" : "requeued"] = *r;
      reply(Response::json(200, o));
    };
    std::string queue(req.param("queue"));
    if (purge) {
      store->purge_dead(queue, id, done);
    } else {
      store->requeue_dead(queue, id, done);
    }
  };
  router.add_async("POST", "/v1/queues/{queue}/dead/{op}",
                   [change](Request& req, Reply reply) { change(req, reply, std::nullopt); });
  router.add_async("POST", "/v1/queues/{queue}/dead/{id}/{op}",
                   [change](Request& req, Reply reply) {
                     auto id = item_id(req);
                     if (!id) {
                       reply(fail(id.error()));
                       return;
                     }
                     change(req, reply, *id);
                   });
}

std::string_view event_name(Event e) { return kEventNames[static_cast<std::size_t>(e)]; }

Activity::Activity(Registry& metrics, const Clock& clock)
    : metrics_(metrics),
      clock_(clock),
      lease_wait_(metrics.histogram("tender_queue_lease_wait_seconds",
                                    "How long lease requests that got items waited for them.")),
      item_age_(metrics.histogram(
          "tender_queue_item_age_seconds", "How long leased items had been enqueued.",
          {0.001, 0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600})) {
  const std::array<std::string_view, kEvents> help = {
      "Items enqueued (idempotent repeats not counted).", "Items leased (deliveries).",
      "Items acked.", "Items nacked.", "Items sent to the dead list by nack or bury."};
  for (std::size_t i = 0; i < kEvents; ++i) {
    counters_[i] = &metrics_.counter_family(
        "tender_queue_" + std::string(kEventNames[i]) + "_total", help[i], {"queue"});
  }
}

void Activity::count(const std::string& queue, Event event, std::uint64_t n) {
  if (n == 0) {
    return;
  }
  const auto e = static_cast<std::size_t>(event);
  Counter* counter = nullptr;
  {
    std::lock_guard lk(mu_);
    auto it = totals_.find(queue);
    if (it == totals_.end()) {
      it = totals_.emplace(queue, Totals()).first;
    }
    it->second.n[e] += n;
    counter = it->second.counters[e];
    if (counter == nullptr) {
      counter = it->second.counters[e] = &counters_[e]->with({queue});
    }
  }
  counter->inc(static_cast<double>(n));
}

void Activity::leased(const std::string& queue, std::chrono::duration<double> waited,
                      const std::vector<double>& ages_seconds) {
  (void)queue;
  lease_wait_.observe(waited.count());
  for (double a : ages_seconds) {
    item_age_.observe(a);
  }
}

void Activity::tick() {
  const auto now = clock_.now();
  std::lock_guard lk(mu_);
  for (auto& [name, t] : totals_) {
    t.samples.emplace_back(now, t.n);
    while (t.samples.size() > 61) {
      t.samples.pop_front();
    }
  }
}

std::array<double, kEvents> Activity::rates(const std::string& queue) const {
  std::array<double, kEvents> out{};
  std::lock_guard lk(mu_);
  auto it = totals_.find(queue);
  if (it == totals_.end() || it->second.samples.size() < 2) {
    return out;
  }
  const auto& first = it->second.samples.front();
  const auto& last = it->second.samples.back();
  const double secs = std::chrono::duration<double>(last.first - first.first).count();
  if (secs <= 0) {
    return out;
  }
  for (std::size_t i = 0; i < kEvents; ++i) {
    out[i] = static_cast<double>(last.second[i] - first.second[i]) / secs;
  }
  return out;
}

void add_api_routes(Router& router, Store& store, Activity& activity) {
  add_item_routes(router, store, activity);
  add_lease_route(router, store, activity);
  add_lease_routes(router, store, activity);
  add_read_routes(router, store, activity);
  add_dead_routes(router, [&store] { return &store; });
}

}  // namespace tender::workqueue

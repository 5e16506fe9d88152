#include "workqueue/client_api.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "workqueue/codec.hpp"

namespace tender::workqueue {
namespace {

namespace json = boost::json;

Error bad_answer(std::string what) { return Error(std::errc::bad_message, std::move(what)); }

class HttpStatusCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tender.http_status"; }
  std::string message(int status) const override { return "HTTP " + std::to_string(status); }
};

Result<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    return bad_answer("the queue server's answer is not JSON: " + ec.message());
  }
  return v;
}

// A non-negative integer field of `o`, or an error naming it.
Result<std::uint64_t> count_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return bad_answer("the queue server's answer has no \"" + std::string(name) + "\"");
  }
  if (v->is_uint64()) {
    return v->as_uint64();
  }
  if (v->is_int64() && v->as_int64() >= 0) {
    return static_cast<std::uint64_t>(v->as_int64());
  }
  return bad_answer("the queue server's \"" + std::string(name) + "\" is not a count");
}

}  // namespace

std::string QueueUrl::str() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<QueueUrl> parse_queue_url(std::string_view url) {
  auto fail = [&](std::string_view why) {
    return Error(std::errc::invalid_argument, "not a queue server URL (http://HOST:PORT): \"" +
                                                  std::string(url) + "\": " + std::string(why));
  };
  auto u = boost::urls::parse_uri(url);
  if (!u) {
    return fail("cannot be parsed");
  }
  if (u->scheme() != "http") {
    return fail("the scheme must be http");
  }
  if (u->host().empty()) {
    return fail("no host");
  }
  if (!u->path().empty() && u->path() != "/") {
    return fail("no path is allowed");
  }
  if (u->has_query() || u->has_fragment() || u->has_userinfo()) {
    return fail("no query, fragment or user is allowed");
  }
  QueueUrl out;
  out.host = std::string(u->host_address());
  if (u->has_port()) {
    if (u->port().empty() || u->port_number() == 0) {
      return fail("bad port");
    }
    out.port = u->port_number();
  }
  return out;
}

const boost::system::error_category& http_status_category() {
  static const HttpStatusCategory category;
  return category;
}

Error http_status_error(int status, std::string_view body) {
  std::string_view reason = body.substr(0, body.find('\n'));
  if (reason.size() > 300) {
    reason = reason.substr(0, 300);
  }
  std::string message = "HTTP " + std::to_string(status);
  if (!reason.empty()) {
    message.append(": ").append(reason);
  }
  return Error(boost::system::error_code(status, http_status_category()), std::move(message));
}

int http_status_of(const Error& error) {
  return error.code().category() == http_status_category() ? error.code().value() : 0;
}

bool is_transient(const Error& error) {
  const int status = http_status_of(error);
  if (status == 0) {
    // The answer was not HTTP (not JSON, or missing fields): a server of another kind, which
    // retrying does not change.
    return error.code() != std::errc::bad_message;
  }
  return status >= 500 || status == 429;
}

Result<std::vector<LeasedItem>> parse_lease_answer(std::string_view body) {
  auto v = parse_json(body);
  if (!v) {
    return v.error();
  }
  const json::value* items = v->is_object() ? v->as_object().if_contains("items") : nullptr;
  if (items == nullptr || !items->is_array()) {
    return bad_answer("the queue server's lease answer has no \"items\" array");
  }
  std::vector<LeasedItem> out;
  for (const json::value& e : items->as_array()) {
    if (!e.is_object()) {
      return bad_answer("a leased item is not an object");
    }
    const json::object& o = e.as_object();
    LeasedItem item;
    auto id = count_field(o, "id");
    if (!id) {
      return id.error();
    }
    item.id = *id;
    const json::value* lease = o.if_contains("lease_id");
    if (lease == nullptr || !lease->is_string() || lease->as_string().empty()) {
      return bad_answer("leased item " + std::to_string(item.id) + " has no \"lease_id\"");
    }
    item.lease_id = std::string(lease->as_string());
    auto payload = get_bytes(o, "payload");
    if (!payload) {
      return bad_answer("leased item " + std::to_string(item.id) + ": " +
                        payload.error().message());
    }
    if (!*payload) {
      return bad_answer("leased item " + std::to_string(item.id) + " has no payload");
    }
    item.payload = std::move(**payload);
    auto attempt = count_field(o, "attempt");
    item.attempt = attempt ? static_cast<int>(*attempt) : 1;
    auto max_attempts = count_field(o, "max_attempts");
    item.max_attempts = max_attempts ? static_cast<int>(*max_attempts) : 0;
    out.push_back(std::move(item));
  }
  return out;
}

Result<QueueSummary> parse_queue(const json::value& queue) {
  if (!queue.is_object()) {
    return bad_answer("a queue is not a JSON object");
  }
  const json::object& o = queue.as_object();
  QueueSummary q;
  const json::value* name = o.if_contains("name");
  if (name == nullptr || !name->is_string()) {
    return bad_answer("a queue has no \"name\"");
  }
  q.name = std::string(name->as_string());
  if (const json::value* p = o.if_contains("paused"); p != nullptr && p->is_bool()) {
    q.paused = p->as_bool();
  }
  const json::value* counts = o.if_contains("counts");
  if (counts == nullptr || !counts->is_object()) {
    return bad_answer("queue " + q.name + " has no \"counts\"");
  }
  const json::object& c = counts->as_object();
  for (auto [field, target] :
       {std::pair{"ready", &q.ready}, std::pair{"delayed", &q.delayed},
        std::pair{"leased", &q.leased}, std::pair{"done", &q.done}, std::pair{"dead", &q.dead}}) {
    auto n = count_field(c, field);
    if (!n) {
      return n.error().with_context("queue " + q.name);
    }
    *target = *n;
  }
  if (const json::value* age = o.if_contains("oldest_ready_age_ms");
      age != nullptr && age->is_number()) {
    q.oldest_ready_age_ms = static_cast<std::int64_t>(age->to_number<double>());
  }
  return q;
}

Result<QueueSummary> parse_queue_answer(std::string_view body) {
  auto v = parse_json(body);
  if (!v) {
    return v.error();
  }
  return parse_queue(*v);
}

Result<std::vector<QueueSummary>> parse_queues_answer(std::string_view body) {
  auto v = parse_json(body);
  if (!v) {
    return v.error();
  }
  const json::value* queues = v->is_object() ? v->as_object().if_contains("queues") : nullptr;
  if (queues == nullptr || !queues->is_array()) {
    return bad_answer("the queue server's answer has no \"queues\" array");
  }
  std::vector<QueueSummary> out;
  for (const json::value& q : queues->as_array()) {
    auto s = parse_queue(q);
    if (!s) {
      return s.error();
    }
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::string> parse_nack_answer(std::string_view body) {
  auto v = parse_json(body);
  if (!v) {
    return v.error();
  }
  const json::value* state = v->is_object() ? v->as_object().if_contains("state") : nullptr;
  if (state == nullptr || !state->is_string()) {
    return bad_answer("the queue server's nack answer has no \"state\"");
  }
  return Result<std::string>(boost::system::in_place_value, state->as_string());
}

}  // namespace tender::workqueue

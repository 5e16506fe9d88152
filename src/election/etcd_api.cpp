#include "election/etcd_api.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>

namespace tender::election::etcd {

namespace json = boost::json;

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A string as a success (Error is constructible from a string too).
Result<std::string> text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

Error malformed(std::string_view what) {
  return {std::errc::bad_message, "etcd: malformed answer: " + std::string(what)};
}

// proto3 JSON's int64: a string of digits (what the gateway sends), or a JSON integer.
Result<std::int64_t> int64_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return std::int64_t{0};
  }
  if (v->is_int64()) {
    return v->get_int64();
  }
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  if (v->is_string()) {
    std::string_view s = v->get_string();
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) {
      return out;
    }
  }
  return malformed("field '" + std::string(name) + "' is not an int64");
}

Result<bool> bool_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_bool()) {
    return malformed("field '" + std::string(name) + "' is not a boolean");
  }
  return v->get_bool();
}

Result<std::string> string_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return text("");
  }
  if (!v->is_string()) {
    return malformed("field '" + std::string(name) + "' is not a string");
  }
  return text(std::string(v->get_string()));
}

Result<std::string> bytes_field(const json::object& o, std::string_view name) {
  auto s = string_field(o, name);
  if (!s) {
    return s.error();
  }
  auto decoded = base64_decode(*s);
  if (!decoded) {
    return malformed("field '" + std::string(name) + "' is not base64");
  }
  return decoded;
}

// The object at `name`; a missing one is empty.
Result<const json::object*> object_field(const json::object& o, std::string_view name) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return &kEmpty;
  }
  if (!v->is_object()) {
    return malformed("field '" + std::string(name) + "' is not an object");
  }
  return &v->get_object();
}

Result<const json::array*> array_field(const json::object& o, std::string_view name) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(name);
  if (v == nullptr) {
    return &kEmpty;
  }
  if (!v->is_array()) {
    return malformed("field '" + std::string(name) + "' is not an array");
  }
  return &v->get_array();
}

// The header's revision; `required`: it must be there and positive.
Result<std::int64_t> header_revision(const json::object& o, bool required) {
  const json::value* h = o.if_contains("header");
  if (h == nullptr || !h->is_object()) {
    return malformed("no header");
  }
  auto rev = int64_field(h->get_object(), "revision");
  if (rev && required && *rev <= 0) {
    return malformed("no revision in the header");
  }
  return rev;
}

// The error an {"error":..., "code":...} object stands for.
Error error_answer(int status, const json::object& o) {
  std::string message = "etcd: ";
  // Unary calls answer {"error": "...", "code": N}; streams {"error": {"grpc_code": N,
  // "message": "...", ...}}.
  const json::object* fields = &o;
  const json::value* e = o.if_contains("error");
  if (e != nullptr && e->is_object()) {
    fields = &e->get_object();
    e = fields->if_contains("message");
  }
  if (e != nullptr && e->is_string()) {
    message += std::string(e->get_string());
  } else {
    message += "HTTP " + std::to_string(status);
  }
  std::int64_t code = -1;
  for (std::string_view name : {"code", "grpc_code"}) {
    if (auto c = int64_field(*fields, name); c && fields->contains(name)) {
      code = *c;
    }
  }
  if (code >= 0) {
    message += " (code " + std::to_string(code) + ")";
  }
  // Unavailable, deadline exceeded, internal, unknown, cancelled: another member may answer.
  bool unavailable =
      status >= 500 || code == 14 || code == 4 || code == 13 || code == 2 || code == 1;
  return {
      unavailable ? std::errc::resource_unavailable_try_again : std::errc::operation_not_permitted,
      message};
}

// The answer's JSON object, or the error it stands for.
Result<json::object> answer(int status, std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    if (status >= 500) {
      return Error(std::errc::resource_unavailable_try_again,
                   "etcd: HTTP " + std::to_string(status));
    }
    return malformed("HTTP " + std::to_string(status) + ", not a JSON object");
  }
  json::object& o = v.get_object();
  if (o.contains("error") || status != 200) {
    return error_answer(status, o);
  }
  return std::move(o);
}

Result<KeyValue> parse_kv(const json::value& v) {
  if (!v.is_object()) {
    return malformed("a kv is not an object");
  }
  const json::object& o = v.get_object();
  KeyValue kv;
  auto key = bytes_field(o, "key");
  auto value = bytes_field(o, "value");
  auto create = int64_field(o, "create_revision");
  auto mod = int64_field(o, "mod_revision");
  auto version = int64_field(o, "version");
  auto lease = int64_field(o, "lease");
  if (!key || !value) {
    return !key ? key.error() : value.error();
  }
  if (!create || !mod || !version || !lease) {
    return !create    ? create.error()
           : !mod     ? mod.error()
           : !version ? version.error()
                      : lease.error();
  }
  if (key->empty()) {
    return malformed("a kv without a key");
  }
  return KeyValue{std::move(*key), std::move(*value), *create, *mod, *version, *lease};
}

Result<std::vector<KeyValue>> parse_kvs(const json::object& o) {
  auto kvs = array_field(o, "kvs");
  if (!kvs) {
    return kvs.error();
  }
  std::vector<KeyValue> out;
  for (const json::value& v : **kvs) {
    auto kv = parse_kv(v);
    if (!kv) {
      return kv.error();
    }
    out.push_back(std::move(*kv));
  }
  return out;
}

std::string i64(std::int64_t v) { return std::to_string(v); }

json::object range_object(const Range& r) {
  json::object o;
  o["key"] = base64_encode(r.key);
  if (!r.range_end.empty()) {
    o["range_end"] = base64_encode(r.range_end);
  }
  if (r.limit > 0) {
    o["limit"] = i64(r.limit);
  }
  if (r.sort_by_create) {
    o["sort_target"] = "CREATE";
    o["sort_order"] = r.descend ? "DESCEND" : "ASCEND";
  }
  if (r.max_create_revision > 0) {
    o["max_create_revision"] = i64(r.max_create_revision);
  }
  return o;
}

json::object op_object(const Op& op) {
  json::object o;
  switch (op.kind) {
    case Op::Kind::kPut: {
      json::object put{{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease != 0) {
        put["lease"] = i64(op.lease);
      }
      o["request_put"] = std::move(put);
      break;
    }
    case Op::Kind::kDelete:
      o["request_delete_range"] = json::object{{"key", base64_encode(op.key)}};
      break;
    case Op::Kind::kRange:
      o["request_range"] = range_object(op.range);
      break;
  }
  return o;
}

Result<TxnResult::Response> parse_txn_response(const json::value& v) {
  if (!v.is_object()) {
    return malformed("a txn response is not an object");
  }
  const json::object& o = v.get_object();
  TxnResult::Response out;
  if (const auto* r = o.if_contains("response_range"); r != nullptr && r->is_object()) {
    out.kind = Op::Kind::kRange;
    auto kvs = parse_kvs(r->get_object());
    if (!kvs) {
      return kvs.error();
    }
    out.kvs = std::move(*kvs);
    return out;
  }
  if (const auto* r = o.if_contains("response_put"); r != nullptr && r->is_object()) {
    out.kind = Op::Kind::kPut;
    return out;
  }
  if (const auto* r = o.if_contains("response_delete_range"); r != nullptr && r->is_object()) {
    out.kind = Op::Kind::kDelete;
    auto deleted = int64_field(r->get_object(), "deleted");
    if (!deleted) {
      return deleted.error();
    }
    out.deleted = *deleted;
    return out;
  }
  return malformed("a txn response of unknown kind");
}

Result<Event> parse_event(const json::value& v) {
  if (!v.is_object()) {
    return malformed("an event is not an object");
  }
  const json::object& o = v.get_object();
  auto type = string_field(o, "type");
  if (!type) {
    return type.error();
  }
  Event e;
  if (type->empty() || *type == "PUT") {
    e.type = Event::Type::kPut;
  } else if (*type == "DELETE") {
    e.type = Event::Type::kDelete;
  } else {
    return malformed("an event of type '" + *type + "'");
  }
  const json::value* kv = o.if_contains("kv");
  if (kv == nullptr) {
    return malformed("an event without a kv");
  }
  auto parsed = parse_kv(*kv);
  if (!parsed) {
    return parsed.error();
  }
  e.kv = std::move(*parsed);
  return e;
}

Call call(std::string path, const json::object& body) {
  return {std::move(path), json::serialize(body)};
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd's "range_end = \0"
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) {
      out += kAlphabet[(n >> shift) & 63];
    }
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t n = byte(i) << 16;
    if (rest == 2) {
      n |= byte(i + 1) << 8;
    }
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view in) {
  auto bad = [] { return Error(std::errc::bad_message, "not base64"); };
  if (in.size() % 4 != 0) {
    return bad();
  }
  std::size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') {
    ++pad;
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::uint32_t sextet = 0;
    if (i >= in.size() - pad) {
      sextet = 0;
    } else if (auto pos = kAlphabet.find(in[i]); pos != std::string_view::npos) {
      sextet = static_cast<std::uint32_t>(pos);
    } else {
      return bad();
    }
    n = (n << 6) | sextet;
    if (i % 4 == 3) {
      out += static_cast<char>((n >> 16) & 0xff);
      out += static_cast<char>((n >> 8) & 0xff);
      out += static_cast<char>(n & 0xff);
      n = 0;
    }
  }
  out.resize(out.size() - pad);
  return text(std::move(out));
}

Call lease_grant(std::int64_t ttl_seconds) {
  return call("/v3/lease/grant", {{"TTL", i64(ttl_seconds)}});
}
Call lease_keepalive(std::int64_t id) { return call("/v3/lease/keepalive", {{"ID", i64(id)}}); }
Call lease_revoke(std::int64_t id) { return call("/v3/lease/revoke", {{"ID", i64(id)}}); }

Result<Lease> parse_lease_grant(int status, std::string_view body) {
  auto o = answer(status, body);
  if (!o) {
    return o.error();
  }
  auto id = int64_field(*o, "ID");
  auto ttl = int64_field(*o, "TTL");
  auto rev = header_revision(*o, false);
  if (!id || !ttl || !rev) {
    return !id ? id.error() : !ttl ? ttl.error() : rev.error();
  }
  if (*id == 0 || *ttl <= 0) {
    return malformed("a lease grant without ID or TTL");
  }
  return Lease{*id, *ttl, *rev};
}

Result<Lease> parse_lease_keepalive(int status, std::string_view body) {
  auto o = answer(status, body);
  if (!o) {
    return o.error();
  }
  auto result = object_field(*o, "result");
  if (!result || !o->contains("result")) {
    return malformed("a keep-alive answer without result");
  }
  auto id = int64_field(**result, "ID");
  auto ttl = int64_field(**result, "TTL");
  if (!id || !ttl) {
    return !id ? id.error() : ttl.error();
  }
  if (*id == 0) {
    return malformed("a keep-alive answer without ID");
  }
  return Lease{*id, std::max<std::int64_t>(*ttl, 0), 0};
}

Result<> parse_lease_revoke(int status, std::string_view body) {
  auto o = answer(status, body);
  if (!o) {
    if (o.error().message().find("requested lease not found") != std::string::npos) {
      return {};
    }
    return o.error();
  }
  return {};
}

Call range(const Range& r) { return call("/v3/kv/range", range_object(r)); }

Result<RangeResult> parse_range(int status, std::string_view body) {
  auto o = answer(status, body);
  if (!o) {
    return o.error();
  }
  auto rev = header_revision(*o, true);
  auto kvs = parse_kvs(*o);
  auto more = bool_field(*o, "more");
  auto count = int64_field(*o, "count");
  if (!rev || !kvs || !more || !count) {
    return !rev ? rev.error() : !kvs ? kvs.error() : !more ? more.error() : count.error();
  }
  return RangeResult{*rev, std::move(*kvs), *more, *count};
}

Call txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
         const std::vector<Op>& failure) {
  json::array cmp;
  for (const Compare& c : compare) {
    bool create = c.target == Compare::Target::kCreate;
    cmp.push_back(json::object{{"target", create ? "CREATE" : "MOD"},
                               {"key", base64_encode(c.key)},
                               {"result", "EQUAL"},
                               {create ? "create_revision" : "mod_revision", i64(c.revision)}});
  }
  json::array ok;
  for (const Op& op : success) {
    ok.push_back(op_object(op));
  }
  json::array fail;
  for (const Op& op : failure) {
    fail.push_back(op_object(op));
  }
  return call(
      "/v3/kv/txn",
      {{"compare", std::move(cmp)}, {"success", std::move(ok)}, {"failure", std::move(fail)}});
}

Result<TxnResult> parse_txn(int status, std::string_view body) {
  auto o = answer(status, body);
  if (!o) {
    return o.error();
  }
  TxnResult out;
  auto rev = header_revision(*o, true);
  auto succeeded = bool_field(*o, "succeeded");
  auto responses = array_field(*o, "responses");
  if (!rev || !succeeded || !responses) {
    return !rev ? rev.error() : !succeeded ? succeeded.error() : responses.error();
  }
  out.revision = *rev;
  out.succeeded = *succeeded;
  for (const json::value& v : **responses) {
    auto r = parse_txn_response(v);
    if (!r) {
      return r.error();
    }
    out.responses.push_back(std::move(*r));
  }
  return out;
}

Call watch(std::string_view key, std::string_view range_end, std::int64_t start_revision) {
  json::object create{{"key", base64_encode(key)}};
  if (!range_end.empty()) {
    create["range_end"] = base64_encode(range_end);
  }
  if (start_revision > 0) {
    create["start_revision"] = i64(start_revision);
  }
  return call("/v3/watch", {{"create_request", std::move(create)}});
}

Result<WatchMessage> parse_watch(std::string_view line) {
  auto o = answer(200, line);
  if (!o) {
    return o.error();
  }
  const json::value* result = o->if_contains("result");
  if (result == nullptr || !result->is_object()) {
    return malformed("a watch message without result");
  }
  const json::object& r = result->get_object();
  WatchMessage m;
  auto rev = header_revision(r, false);
  auto created = bool_field(r, "created");
  auto canceled = bool_field(r, "canceled");
  auto compact = int64_field(r, "compact_revision");
  auto reason = string_field(r, "cancel_reason");
  auto events = array_field(r, "events");
  if (!rev || !created || !canceled || !compact || !reason || !events) {
    return !rev        ? rev.error()
           : !created  ? created.error()
           : !canceled ? canceled.error()
           : !compact  ? compact.error()
           : !reason   ? reason.error()
                       : events.error();
  }
  m = WatchMessage{*rev, *created, *canceled, *compact, std::move(*reason), {}};
  for (const json::value& v : **events) {
    auto e = parse_event(v);
    if (!e) {
      return e.error();
    }
    m.events.push_back(std::move(*e));
  }
  if (!m.events.empty() && m.revision <= 0) {
    return malformed("watch events without a header revision");
  }
  return m;
}

Result<> LineSplitter::feed(std::string_view bytes,
                            const std::function<Result<>(std::string_view)>& on_line) {
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + bytes.size() > max_line_) {
        return Error(std::errc::message_size,
                     "etcd: a watch message past " + std::to_string(max_line_) + " bytes");
      }
      partial_.append(bytes);
      return {};
    }
    std::string_view line = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    if (!partial_.empty()) {
      partial_.append(line);
      line = partial_;
    }
    if (line.size() > max_line_) {
      return Error(std::errc::message_size,
                   "etcd: a watch message past " + std::to_string(max_line_) + " bytes");
    }
    Result<> r =
        line.find_first_not_of(" \r\t") == std::string_view::npos ? Result<>{} : on_line(line);
    partial_.clear();
    if (!r) {
      return r;
    }
  }
  return {};
}

Result<> member_answered(int status, std::string_view body) {
  auto o = answer(status, body);
  if (o || refused(o.error())) {
    return {};
  }
  return o.error();
}

bool refused(const Error& e) { return e.code() == std::errc::operation_not_permitted; }

}  // namespace tender::election::etcd

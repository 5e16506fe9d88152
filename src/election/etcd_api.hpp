#pragma once
// etcd 3.4's v3 JSON gateway, as plain data: the request bodies the etcd backend sends and
// parsers for the answers, with no I/O. (Private to src/election.)
//
//   Call grant = etcd::lease_grant(2);                   // POST grant.path with grant.body
//   auto lease = etcd::parse_lease_grant(status, body);  // Result<Lease>
//   Call txn = etcd::txn({etcd::Compare::created(key, 0)},
//                        {etcd::Op::put(key, "pod-a", lease->id)}, {etcd::Op::get(key)});
//   etcd::LineSplitter lines;                             // a watch answer, as it arrives
//   lines.feed(bytes, [](std::string_view line) { auto m = etcd::parse_watch(line); ... });
//
// The gateway speaks proto3 JSON: keys and values are base64, int64 fields are JSON strings,
// and a field at its default (0, false, empty) is left out; so a missing field reads as its
// default, while a field of the wrong type, bad base64 or a body that is not JSON is an error.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::election::etcd {

// A request to send: POST `path` with the JSON `body`.
struct Call {
  std::string path;
  std::string body;
};

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

// The key right after every key that starts with `prefix`: a range's range_end for a prefix.
[[nodiscard]] std::string prefix_end(std::string_view prefix);

[[nodiscard]] std::string base64_encode(std::string_view in);
// Fails with bad_message on a character outside the alphabet or a wrong length or padding.
[[nodiscard]] Result<std::string> base64_decode(std::string_view in);

// --- leases --------------------------------------------------------------------------------
struct Lease {
  std::int64_t id = 0;
  std::int64_t ttl = 0;  // seconds; 0 on a keep-alive answer: the lease is gone
  std::int64_t revision = 0;
};
[[nodiscard]] Call lease_grant(std::int64_t ttl_seconds);
[[nodiscard]] Call lease_keepalive(std::int64_t id);
[[nodiscard]] Call lease_revoke(std::int64_t id);
// Fails on an error answer, or when the ID or a positive TTL is missing.
[[nodiscard]] Result<Lease> parse_lease_grant(int status, std::string_view body);
// The gateway answers a keep-alive as a stream of one message, {"result":{...}}; a lease that is
// gone has no TTL (ttl 0). Fails on an error answer or a missing ID.
[[nodiscard]] Result<Lease> parse_lease_keepalive(int status, std::string_view body);
// Revoking succeeds also for a lease that is already gone. Fails on any other error answer.
[[nodiscard]] Result<> parse_lease_revoke(int status, std::string_view body);

// --- ranges and transactions ---------------------------------------------------------------
struct Range {
  std::string key;
  std::string range_end;  // empty: `key` alone
  std::int64_t limit = 0;
  bool sort_by_create = false;  // sort_target CREATE (else KEY, etcd's default)
  bool descend = false;         // sort_order DESCEND (else ASCEND when sorting)
  std::int64_t max_create_revision = 0;

  // `key` alone.
  static Range one(std::string key) {
    Range r;
    r.key = std::move(key);
    return r;
  }
  // Every key that starts with `prefix`, by create revision, `limit` of them (0: all).
  static Range by_creation(std::string prefix, bool descend, std::int64_t limit) {
    Range r;
    r.range_end = prefix_end(prefix);
    r.key = std::move(prefix);
    r.sort_by_create = true;
    r.descend = descend;
    r.limit = limit;
    return r;
  }
};
struct RangeResult {
  std::int64_t revision = 0;  // the store's revision when it was read
  std::vector<KeyValue> kvs;
  bool more = false;
  std::int64_t count = 0;
};
[[nodiscard]] Call range(const Range& r);
// Fails on an error answer or when the header's revision is missing.
[[nodiscard]] Result<RangeResult> parse_range(int status, std::string_view body);

// One comparison of a transaction: the key's create or mod revision equals `revision`.
struct Compare {
  enum class Target { kCreate, kMod };
  Target target = Target::kCreate;
  std::string key;
  std::int64_t revision = 0;
  static Compare created(std::string key, std::int64_t revision) {
    return {Target::kCreate, std::move(key), revision};
  }
  static Compare modified(std::string key, std::int64_t revision) {
    return {Target::kMod, std::move(key), revision};
  }
};
// One operation of a transaction.
struct Op {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kRange;
  std::string key;
  std::string value;       // kPut
  std::int64_t lease = 0;  // kPut: 0 for none
  Range range;             // kRange
  static Op put(std::string key, std::string value, std::int64_t lease) {
    return {Kind::kPut, std::move(key), std::move(value), lease, {}};
  }
  static Op erase(std::string key) { return {Kind::kDelete, std::move(key), {}, 0, {}}; }
  static Op get(Range r) { return {Kind::kRange, r.key, {}, 0, std::move(r)}; }
};
struct TxnResult {
  std::int64_t revision = 0;
  bool succeeded = false;
  // What each operation of the branch taken answered: the kvs of a range (empty for the
  // others), and the number of keys a delete removed.
  struct Response {
    Op::Kind kind = Op::Kind::kRange;
    std::vector<KeyValue> kvs;
    std::int64_t deleted = 0;
  };
  std::vector<Response> responses;
};
[[nodiscard]] Call txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                       const std::vector<Op>& failure);
// Fails on an error answer, a missing header revision, or a response of unknown kind.
[[nodiscard]] Result<TxnResult> parse_txn(int status, std::string_view body);

// --- watches -------------------------------------------------------------------------------
// Opens a watch on `key` (and up to range_end when not empty) from `start_revision`.
[[nodiscard]] Call watch(std::string_view key, std::string_view range_end,
                         std::int64_t start_revision);

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // a DELETE carries the key and its mod_revision only
};
// One message of a watch stream.
struct WatchMessage {
  std::int64_t revision = 0;  // the header's (absent on a compaction's cancel)
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // > 0: the start revision had been compacted away
  std::string cancel_reason;
  std::vector<Event> events;
};
// One line of a watch stream: {"result":{...}}, or an error ({"error":...}) which fails.
[[nodiscard]] Result<WatchMessage> parse_watch(std::string_view line);

// Splits a byte stream into lines (newline-ended, the newline dropped; empty lines skipped).
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = std::size_t{4} << 20) : max_line_(max_line) {}
  // Calls `on_line` for each complete line in what has arrived so far, and stops at the first
  // error it returns. Fails also when a line grows past max_line without ending.
  [[nodiscard]] Result<> feed(std::string_view bytes,
                              const std::function<Result<>(std::string_view)>& on_line);

 private:
  std::size_t max_line_;
  std::string partial_;
};

// --- errors --------------------------------------------------------------------------------
// How a parser fails on a gateway's answer:
// - errc::operation_not_permitted: the member refused the request ({"error": "...", "code": N}
//   with a gRPC code that another member would answer alike, e.g. 5 "requested lease not
//   found"): see refused();
// - errc::resource_unavailable_try_again: the member cannot serve now (a 5xx status, or gRPC
//   code 14 unavailable, 4 deadline exceeded, 13 internal, 2 unknown, 1 cancelled): another
//   member may;
// - errc::bad_message: the answer is malformed (not JSON, a field of the wrong type).
// The message starts with "etcd: " and says what the member answered.
[[nodiscard]] bool refused(const Error& e);
// Whether a member could serve: fails (unavailable or malformed, as above) when another member
// should be asked instead; a refusal is an answer.
[[nodiscard]] Result<> member_answered(int status, std::string_view body);

}  // namespace tender::election::etcd

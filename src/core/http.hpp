#pragma once
// HTTP message types shared by the server, the client and every handler.
//
// These are plain value types with no Asio or Beast in sight, so handler code compiles fast and
// can be unit-tested without sockets:
//
//   Response hello(Request& req) {
//     auto who = req.query_param("name").value_or("world");
//     return Response::text(200, "hello " + who + "\n");
//   }

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

namespace tender {

// An ordered, case-insensitive multimap of header fields, as they came off the wire.
class Headers {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  // The first value for `name` (case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  // Appends a field; keeps any earlier field of the same name.
  void add(std::string name, std::string value);
  // Replaces every field named `name` with one field.
  void set(std::string_view name, std::string value);
  void erase(std::string_view name);
  void clear() { fields_.clear(); }

  [[nodiscard]] const std::vector<Field>& fields() const { return fields_; }
  [[nodiscard]] bool empty() const { return fields_.empty(); }
  [[nodiscard]] std::size_t size() const { return fields_.size(); }

 private:
  std::vector<Field> fields_;
};

// True if `a` and `b` are equal ignoring ASCII case.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);
// `s` without the spaces and tabs around it (HTTP's optional whitespace).
[[nodiscard]] std::string_view trim_ows(std::string_view s);

// Lets a handler run code later on the thread that owns the request, without Asio.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `fn` on the request's own thread after `delay`. Safe to call from that thread only.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // as sent, e.g. "/v1/pods?watch=1"
  std::string path;    // target up to '?', still percent-encoded
  std::string query;   // after '?', without it; empty if none
  unsigned version = 11;
  Headers headers;
  std::string body;
  std::string remote;                                      // peer "ip:port"
  std::map<std::string, std::string, std::less<>> params;  // path parameters from the router
  Scheduler* scheduler = nullptr;                          // set by the server

  // The first decoded value of query parameter `name`, or nullopt. "?a" gives "".
  [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
  // The path parameter `name` captured by the router, or "".
  [[nodiscard]] std::string_view param(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  // `text/plain; charset=utf-8`.
  [[nodiscard]] static Response text(int status, std::string body);
  // `application/json`, serialized compactly with a trailing newline.
  [[nodiscard]] static Response json(int status, const boost::json::value& value);
  // An error with a reason a person can act on: `text/plain`, "<reason>\n".
  [[nodiscard]] static Response error(int status, std::string_view reason);
};

// The standard reason phrase of `status` ("Not Found"), or "Unknown".
[[nodiscard]] std::string_view reason_phrase(int status);

// Completes an asynchronous handler. Copyable; the first call wins and later calls are ignored.
// May be called from any thread. If every copy is dropped without a call, the client gets
// a 500, so a buggy handler cannot hang a connection.
class Reply {
 public:
  using Sink = std::function<void(Response)>;
  explicit Reply(Sink sink);
  void operator()(Response response) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tender

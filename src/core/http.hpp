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
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

#include "core/error.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender {

class Deadlines;  // core/conn.hpp

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
  // The request's thread's event loop and the deadlines of its connections (core/conn.hpp),
  // for a handler that does I/O of its own on that thread (the scatter/gather root sends to
  // its leaves there); null where there is none. From that thread only.
  [[nodiscard]] virtual boost::asio::io_context* loop() { return nullptr; }
  [[nodiscard]] virtual Deadlines* loop_deadlines() { return nullptr; }
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

class ResponseStream;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // Set: the body goes on through this stream after `body` (see Reply::stream). The server
  // then sends no Content-Length but `Transfer-Encoding: chunked` (HTTP/1.1), or closes the
  // connection at the end (HTTP/1.0).
  std::shared_ptr<ResponseStream> stream;

  // `text/plain; charset=utf-8`.
  [[nodiscard]] static Response text(int status, std::string body);
  // `application/json`, serialized compactly (core/json_text.hpp's append_json_value: numbers
  // as people write them, strings valid UTF-8) with a trailing newline.
  [[nodiscard]] static Response json(int status, const boost::json::value& value);
  // An error with a reason a person can act on: `text/plain`, "<reason>\n".
  [[nodiscard]] static Response error(int status, std::string_view reason);
};

// An http:// URL taken apart for a request (core/http_client.hpp's ClientRequest).
struct HttpUrl {
  std::string host;  // a name or an address literal (IPv6 without brackets)
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, as given
};

// Parses http://HOST[:PORT][/PATH][?QUERY]. Fails with invalid_argument and a message saying
// what is wrong: not a URL, not http, no host, port 0.
[[nodiscard]] Result<HttpUrl> parse_http_url(std::string_view url);

// The standard reason phrase of `status` ("Not Found"), or "Unknown".
[[nodiscard]] std::string_view reason_phrase(int status);

// A response body sent while it is produced: server-sent events, a log that grows, a watch.
// The server sends the head at once, then what is written, each write as it comes, until
// end(). Any thread may write; the connection's own thread sends. Memory is bounded: a client
// that reads slower than the producer writes is cut off once `max_queued` bytes wait for it.
//
//   router.add_async("GET", "/v1/watch", [&hub](Request&, Reply reply) {
//     Response head;
//     head.headers.set("Content-Type", "text/event-stream");
//     auto stream = reply.stream(std::move(head));
//     hub.subscribe(stream);   // later, any thread: stream->write(sse_event(json));
//     stream->on_close([&hub, s = std::weak_ptr(stream)] { hub.unsubscribe(s); });
//   });
class ResponseStream {
 public:
  static constexpr std::size_t kDefaultMaxQueued = std::size_t{1} << 20;
  explicit ResponseStream(std::size_t max_queued = kDefaultMaxQueued) : max_queued_(max_queued) {}
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // Queues `data` to go out as it is (one chunk; empty writes are ignored). False, with
  // nothing queued, once the stream has ended or closed, or when more than max_queued bytes
  // would then wait: the client is too slow, and the stream closes (the client sees the body
  // cut short, not ended).
  bool write(std::string_view data);
  // Ends the body. The connection then serves the client's next request. Idempotent; no
  // effect once closed.
  void end();
  // Closed before its end: the client went away or was cut off, or the server drains or
  // stops. Writing is pointless then.
  [[nodiscard]] bool closed() const;
  [[nodiscard]] bool ended() const;
  // Bytes written and not yet sent.
  [[nodiscard]] std::size_t queued() const;
  // Calls `fn` once when the stream closes (on the thread that noticed: the connection's, or
  // the one whose write overflowed, or the one stopping the server), or at once if it already
  // has. Replaces an earlier `fn`. Not called after end(). Also called when the server drains:
  // the body then ends after what is queued, and writes fail.
  void on_close(std::function<void()> fn);

  // --- the server's side ---------------------------------------------------------------------
  struct Taken {
    bool ended = false;   // all of the body has been taken
    bool closed = false;  // closed before its end
  };
  // Moves what is queued to the end of `out`. When it finds nothing to take and the stream is
  // neither ended nor closed, keeps `wake` and calls it (once, on any thread) when that
  // changes.
  Taken take(std::string& out, std::function<void()> wake);
  // Closes the stream (see closed()); calls on_close's function. Idempotent.
  void close();
  // Ends the body after what is queued, as end() would, and calls on_close's function: the
  // server drains, and the producer should stop. Idempotent.
  void finish();

 private:
  // What to call once mu_ is released: the server's wake-up, and on_close's function.
  struct Calls {
    std::function<void()> wake;
    std::function<void()> closed;
    void operator()() const;
  };
  // Under mu_: takes the wake-up, and on_close's function when `closing`.
  Calls release(bool closing);

  mutable std::mutex mu_;
  std::string queued_;
  const std::size_t max_queued_;
  bool ended_ = false;
  bool closed_ = false;
  std::function<void()> on_close_;
  std::function<void()> wake_;
};

// One server-sent event (text/event-stream): an `event:` line when `event` is not empty, an
// `id:` line when `id` is not empty, a `data:` line per line of `data`, and the blank line
// that ends it. CR and LF in `event` and `id` become spaces.
[[nodiscard]] std::string sse_event(std::string_view data, std::string_view event = {},
                                    std::string_view id = {});

// Completes an asynchronous handler. Copyable; the first answer wins and later ones are
// ignored. May be called from any thread. If every copy is dropped without an answer, the
// client gets a 500, so a buggy handler cannot hang a connection.
class Reply {
 public:
  using Sink = std::function<void(Response)>;
  explicit Reply(Sink sink);
  void operator()(Response response) const;

  // Answers with `head` (status and headers; its body, if any, goes first) and a body that
  // follows through the returned stream, which holds at most `max_queued` unsent bytes. Null
  // if an answer was already given.
  [[nodiscard]] std::shared_ptr<ResponseStream> stream(
      Response head, std::size_t max_queued = ResponseStream::kDefaultMaxQueued) const;

  // Calls `fn` once when waiting longer is pointless: the client has closed its connection,
  // or the server drains or stops. A long-poll handler answers then, with what it has (an
  // answer to a client that has gone is dropped). Called on the thread that noticed (the
  // connection's own), or at once if that already happened. Replaces an earlier `fn`. Not
  // called once an answer has been given.
  void on_cancel(std::function<void()> fn) const;
  [[nodiscard]] bool cancelled() const;

  // The server's side: a function that cancels this reply (see on_cancel) without keeping it
  // alive, so that dropping every Reply still answers 500.
  [[nodiscard]] std::function<void()> canceller() const;
  // The server's side: true if a handler has asked, with on_cancel, to hear of the client
  // leaving. The server watches a waiting client's connection only then (a handler that
  // registers later still hears of a drain), which spares every other asynchronous answer
  // two system calls.
  [[nodiscard]] bool awaits_cancel() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tender

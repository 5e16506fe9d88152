#pragma once
// The three queue protocols bench/queue_load.cpp speaks, each over one blocking TCP connection
// to 127.0.0.1: tender queue's HTTP API, beanstalkd's text protocol and Redis Streams over
// RESP. Written for the benchmark: no dependency on tender's own HTTP or RESP code, so that
// the load generator checks the server rather than sharing its parsers.
//
//   auto c = queue_bench::connect(Proto::kTender, 7700, "bench", queue_bench::Role::kConsumer, 0);
//   if (!c) { ... c.error().message() ... }
//   auto leased = (*c)->lease();          // waits up to about a second
//   if (leased && *leased) { auto r = (*c)->ack(**leased); }
//
// Every call fails (Result) on a socket error, a closed connection, 30 s without an answer,
// or an answer the protocol does not allow there (an HTTP status other than the expected one,
// "OUT_OF_MEMORY", a RESP error, ...), with the answer in the message. A client is used by one
// thread at a time.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"

namespace queue_bench {

using tender::Error;
using tender::Result;

enum class Proto { kTender, kBeanstalk, kRedis };
enum class Role { kProducer, kConsumer };

// A leased item: its payload and what acknowledging it takes.
struct Leased {
  std::string payload;
  std::string id;     // tender's item id, beanstalkd's job id, the stream entry's id
  std::string lease;  // tender's lease_id (empty for the others)
};

class QueueClient {
 public:
  virtual ~QueueClient() = default;
  // Enqueues one item; returns once the server answered that it took it.
  [[nodiscard]] virtual Result<> enqueue(std::string_view payload) = 0;
  // Waits up to about a second for one item: nullopt when none came.
  [[nodiscard]] virtual Result<std::optional<Leased>> lease() = 0;
  // Acknowledges (deletes) a leased item.
  [[nodiscard]] virtual Result<> ack(const Leased& item) = 0;
};

// One TCP connection with a read buffer. Reads fail after 30 s without data.
class Conn {
 public:
  // Fails when the connection is refused or the socket cannot be set up.
  [[nodiscard]] static Result<Conn> open(std::uint16_t port) {
    tender::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
      return Error::from_errno(errno, "socket");
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const timeval timeout{30, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      return Error::from_errno(errno, "connect 127.0.0.1:" + std::to_string(port));
    }
    return Conn(std::move(fd));
  }

  // Fails on a socket error or a send timeout.
  [[nodiscard]] Result<> write_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return Error::from_errno(errno, "send");
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  // The next line without its "\r\n"; valid until the next read. Fails when the peer closes
  // first, on a socket error or a timeout, or past 64 KiB without a line end.
  [[nodiscard]] Result<std::string_view> read_line() {
    for (;;) {
      const auto end = buf_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string_view line(buf_.data() + pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      if (buf_.size() - pos_ > 64 * 1024) {
        return Error("a line longer than 64 KiB");
      }
      if (auto r = fill(); !r) {
        return r.error();
      }
    }
  }

  // The next `n` bytes; valid until the next read. Fails as read_line does.
  [[nodiscard]] Result<std::string_view> read_exact(std::size_t n) {
    while (buf_.size() - pos_ < n) {
      if (auto r = fill(); !r) {
        return r.error();
      }
    }
    std::string_view bytes(buf_.data() + pos_, n);
    pos_ += n;
    return bytes;
  }

 private:
  explicit Conn(tender::Fd fd) : fd_(std::move(fd)) {}

  Result<> fill() {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > 32 * 1024) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    const std::size_t old = buf_.size();
    buf_.resize(old + 16 * 1024);
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), buf_.data() + old, 16 * 1024, 0);
      if (n > 0) {
        buf_.resize(old + static_cast<std::size_t>(n));
        return {};
      }
      buf_.resize(old);
      if (n == 0) {
        return Error("the server closed the connection");
      }
      if (errno == EINTR) {
        buf_.resize(old + 16 * 1024);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Error("no answer within 30 s");
      }
      return Error::from_errno(errno, "recv");
    }
  }

  tender::Fd fd_;
  std::string buf_;
  std::size_t pos_ = 0;
};

inline std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

inline std::string clip(std::string_view s) {
  return std::string(s.substr(0, 200)) + (s.size() > 200 ? "..." : "");
}

// --- tender queue: HTTP/1.1 keep-alive --------------------------------------------------------

class TenderClient final : public QueueClient {
 public:
  TenderClient(Conn conn, std::string queue) : conn_(std::move(conn)), queue_(std::move(queue)) {}

  Result<> enqueue(std::string_view payload) override {
    auto a = request("/v1/queues/" + queue_ + "/items", payload);
    if (!a) {
      return a.error();
    }
    if (a->status != 201) {
      return Error("enqueue: HTTP " + std::to_string(a->status) + ": " + clip(a->body));
    }
    return {};
  }

  Result<std::optional<Leased>> lease() override {
    auto a = request("/v1/queues/" + queue_ + "/lease?n=1&wait_ms=1000", {});
    if (!a) {
      return a.error();
    }
    if (a->status == 204) {
      return std::optional<Leased>();
    }
    if (a->status != 200) {
      return Error("lease: HTTP " + std::to_string(a->status) + ": " + clip(a->body));
    }
    Leased item;
    auto id = json_number(a->body, "\"id\":");
    auto lease = json_string(a->body, "\"lease_id\":\"");
    auto payload = json_string(a->body, "\"payload\":\"");
    if (!id || !lease || !payload) {
      return Error("lease: no id, lease_id or payload (text) in " + clip(a->body));
    }
    item.id = std::move(*id);
    item.lease = std::move(*lease);
    item.payload = std::move(*payload);
    return std::optional<Leased>(std::move(item));
  }

  Result<> ack(const Leased& item) override {
    auto a = request("/v1/items/" + item.id + "/ack?lease_id=" + url_escape(item.lease), {});
    if (!a) {
      return a.error();
    }
    if (a->status != 200) {
      return Error("ack " + item.id + ": HTTP " + std::to_string(a->status) + ": " + clip(a->body));
    }
    return {};
  }

 private:
  struct Answer {
    int status = 0;
    std::string body;
  };

  // POSTs `body` to `target` and reads the answer (Content-Length or chunked).
  Result<Answer> request(const std::string& target, std::string_view body) {
    std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n";
    req.append(body);
    if (auto w = conn_.write_all(req); !w) {
      return w.error();
    }
    auto status_line = conn_.read_line();
    if (!status_line) {
      return status_line.error();
    }
    Answer a;
    if (status_line->substr(0, 9) != "HTTP/1.1 " || status_line->size() < 12) {
      return Error("not an HTTP/1.1 status line: " + clip(*status_line));
    }
    a.status = static_cast<int>(parse_u64(status_line->substr(9, 3)).value_or(0));
    std::uint64_t length = 0;
    bool chunked = false;
    bool close = false;
    for (;;) {
      auto line = conn_.read_line();
      if (!line) {
        return line.error();
      }
      if (line->empty()) {
        break;
      }
      const auto colon = line->find(':');
      if (colon == std::string_view::npos) {
        return Error("a header field without a colon: " + clip(*line));
      }
      const std::string name = lower(line->substr(0, colon));
      std::string_view value = line->substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      if (name == "content-length") {
        length = parse_u64(value).value_or(0);
      } else if (name == "transfer-encoding") {
        chunked = lower(value).find("chunked") != std::string::npos;
      } else if (name == "connection") {
        close = lower(value).find("close") != std::string::npos;
      }
    }
    if (chunked) {
      if (auto r = read_chunked(a.body); !r) {
        return r.error();
      }
    } else if (length > 0) {
      auto bytes = conn_.read_exact(length);
      if (!bytes) {
        return bytes.error();
      }
      a.body.assign(*bytes);
    }
    if (close) {
      return Error("the server closed the keep-alive connection (HTTP " + std::to_string(a.status) +
                   ": " + clip(a.body) + ")");
    }
    return a;
  }

  Result<> read_chunked(std::string& body) {
    for (;;) {
      auto size_line = conn_.read_line();
      if (!size_line) {
        return size_line.error();
      }
      std::uint64_t n = 0;
      std::from_chars(size_line->data(), size_line->data() + size_line->size(), n, 16);
      if (n == 0) {
        for (;;) {  // trailer fields, then the empty line
          auto line = conn_.read_line();
          if (!line) {
            return line.error();
          }
          if (line->empty()) {
            return {};
          }
        }
      }
      auto bytes = conn_.read_exact(n + 2);
      if (!bytes) {
        return bytes.error();
      }
      body.append(bytes->substr(0, n));
    }
  }

  static std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return out;
  }

  static std::string url_escape(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' ||
          c == '_' || c == '.' || c == '~') {
        out += c;
      } else {
        out += '%';
        out += kHex[u >> 4];
        out += kHex[u & 15];
      }
    }
    return out;
  }

  // The digits after `key` (the first occurrence).
  static std::optional<std::string> json_number(std::string_view body, std::string_view key) {
    const auto at = body.find(key);
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    std::size_t i = at + key.size();
    const std::size_t begin = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') {
      ++i;
    }
    if (i == begin) {
      return std::nullopt;
    }
    return std::string(body.substr(begin, i - begin));
  }

  // The JSON string after `key` (which ends with its opening quote), unescaped for the simple
  // escapes (the benchmark's payloads are plain ASCII).
  static std::optional<std::string> json_string(std::string_view body, std::string_view key) {
    const auto at = body.find(key);
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    std::string out;
    for (std::size_t i = at + key.size(); i < body.size(); ++i) {
      if (body[i] == '"') {
        return out;
      }
      if (body[i] == '\\' && i + 1 < body.size()) {
        ++i;
        const char e = body[i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      } else {
        out += body[i];
      }
    }
    return std::nullopt;
  }

  Conn conn_;
  std::string queue_;
};

// --- beanstalkd -------------------------------------------------------------------------------

class BeanstalkClient final : public QueueClient {
 public:
  explicit BeanstalkClient(Conn conn) : conn_(std::move(conn)) {}

  // Producers `use` the tube, consumers `watch` it and ignore "default".
  Result<> setup(const std::string& tube, Role role) {
    if (role == Role::kProducer) {
      return command("use " + tube + "\r\n", "USING " + tube);
    }
    if (auto r = command("watch " + tube + "\r\n", "WATCHING 2"); !r) {
      return r;
    }
    return command("ignore default\r\n", "WATCHING 1");
  }

  Result<> enqueue(std::string_view payload) override {
    // priority 0, no delay, 60 s to run
    std::string req = "put 0 0 60 " + std::to_string(payload.size()) + "\r\n";
    req.append(payload);
    req.append("\r\n");
    if (auto w = conn_.write_all(req); !w) {
      return w.error();
    }
    auto line = conn_.read_line();
    if (!line) {
      return line.error();
    }
    if (line->substr(0, 9) != "INSERTED ") {
      return Error("put: " + clip(*line));
    }
    return {};
  }

  Result<std::optional<Leased>> lease() override {
    if (auto w = conn_.write_all("reserve-with-timeout 1\r\n"); !w) {
      return w.error();
    }
    auto line = conn_.read_line();
    if (!line) {
      return line.error();
    }
    if (*line == "TIMED_OUT" || *line == "DEADLINE_SOON") {
      return std::optional<Leased>();
    }
    // RESERVED <id> <bytes>
    if (line->substr(0, 9) != "RESERVED ") {
      return Error("reserve: " + clip(*line));
    }
    const std::string_view rest = line->substr(9);
    const auto space = rest.find(' ');
    Leased item;
    item.id = std::string(rest.substr(0, space));
    const auto bytes = parse_u64(space == std::string_view::npos ? "" : rest.substr(space + 1));
    if (!bytes) {
      return Error("reserve: " + clip(*line));
    }
    auto data = conn_.read_exact(*bytes + 2);
    if (!data) {
      return data.error();
    }
    item.payload.assign(data->substr(0, *bytes));
    return std::optional<Leased>(std::move(item));
  }

  Result<> ack(const Leased& item) override {
    return command("delete " + item.id + "\r\n", "DELETED");
  }

 private:
  Result<> command(const std::string& req, std::string_view expect) {
    if (auto w = conn_.write_all(req); !w) {
      return w.error();
    }
    auto line = conn_.read_line();
    if (!line) {
      return line.error();
    }
    if (*line != expect) {
      return Error(req.substr(0, req.size() - 2) + ": " + clip(*line));
    }
    return {};
  }

  Conn conn_;
};

// --- Redis Streams over RESP ------------------------------------------------------------------

struct Resp {
  char type = 0;  // '+', '-', ':', '$', '*'
  bool nil = false;
  std::string text;  // simple, error and bulk strings; an integer's digits
  std::vector<Resp> items;
};

class RedisClient final : public QueueClient {
 public:
  RedisClient(Conn conn, std::string stream, std::string consumer)
      : conn_(std::move(conn)), stream_(std::move(stream)), consumer_(std::move(consumer)) {}

  // Sends one command and reads its answer; a RESP error answer is a failure.
  Result<Resp> call(const std::vector<std::string_view>& args) {
    std::string req = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto a : args) {
      req += "$" + std::to_string(a.size()) + "\r\n";
      req.append(a);
      req += "\r\n";
    }
    if (auto w = conn_.write_all(req); !w) {
      return w.error();
    }
    auto r = read();
    if (!r) {
      return r.error();
    }
    if (r->type == '-') {
      return Error(std::string(args[0]) + ": " + clip(r->text));
    }
    return r;
  }

  Result<> enqueue(std::string_view payload) override {
    auto r = call({"XADD", stream_, "*", "p", payload});
    if (!r) {
      return r.error();
    }
    if (r->type != '$' || r->nil) {
      return Error("XADD: not an id");
    }
    return {};
  }

  Result<std::optional<Leased>> lease() override {
    auto r = call({"XREADGROUP", "GROUP", "g", consumer_, "COUNT", "1", "BLOCK", "1000", "STREAMS",
                   stream_, ">"});
    if (!r) {
      return r.error();
    }
    if (r->nil) {
      return std::optional<Leased>();
    }
    // [[stream, [[id, [field, value]]]]]
    if (r->items.size() != 1 || r->items[0].items.size() != 2 ||
        r->items[0].items[1].items.size() != 1) {
      return Error("XREADGROUP: an answer not of one stream with one entry");
    }
    Resp& entry = r->items[0].items[1].items[0];
    if (entry.items.size() != 2 || entry.items[1].items.size() != 2) {
      return Error("XREADGROUP: an entry not of an id and one field");
    }
    Leased item;
    item.id = std::move(entry.items[0].text);
    item.payload = std::move(entry.items[1].items[1].text);
    return std::optional<Leased>(std::move(item));
  }

  Result<> ack(const Leased& item) override {
    auto r = call({"XACK", stream_, "g", item.id});
    if (!r) {
      return r.error();
    }
    if (r->type != ':' || r->text != "1") {
      return Error("XACK " + item.id + ": acknowledged " + r->text);
    }
    return {};
  }

 private:
  Result<Resp> read() {
    auto line = conn_.read_line();
    if (!line || line->empty()) {
      return line ? Error("an empty RESP line") : line.error();
    }
    Resp r;
    r.type = (*line)[0];
    const std::string_view rest = line->substr(1);
    switch (r.type) {
      case '+':
      case '-':
      case ':':
        r.text = std::string(rest);
        return r;
      case '$': {
        if (rest == "-1") {
          r.nil = true;
          return r;
        }
        const auto n = parse_u64(rest);
        if (!n) {
          return Error("a bad bulk length: " + clip(*line));
        }
        auto bytes = conn_.read_exact(*n + 2);
        if (!bytes) {
          return bytes.error();
        }
        r.text.assign(bytes->substr(0, *n));
        return r;
      }
      case '*': {
        if (rest == "-1") {
          r.nil = true;
          return r;
        }
        const auto n = parse_u64(rest);
        if (!n) {
          return Error("a bad array length: " + clip(*line));
        }
        for (std::uint64_t i = 0; i < *n; ++i) {
          auto item = read();
          if (!item) {
            return item.error();
          }
          r.items.push_back(std::move(*item));
        }
        return r;
      }
      default:
        return Error("not RESP: " + clip(*line));
    }
  }

  Conn conn_;
  std::string stream_;
  std::string consumer_;
};

// A client of `proto` on 127.0.0.1:`port` for queue (tube, stream) `queue`, set up for `role`;
// `index` names a Redis consumer. Fails when the connection or the set-up fails.
inline Result<std::unique_ptr<QueueClient>> connect(Proto proto, std::uint16_t port,
                                                    const std::string& queue, Role role,
                                                    int index) {
  auto conn = Conn::open(port);
  if (!conn) {
    return conn.error();
  }
  switch (proto) {
    case Proto::kTender:
      return std::unique_ptr<QueueClient>(new TenderClient(std::move(*conn), queue));
    case Proto::kBeanstalk: {
      auto c = std::make_unique<BeanstalkClient>(std::move(*conn));
      if (auto r = c->setup(queue, role); !r) {
        return r.error();
      }
      return std::unique_ptr<QueueClient>(std::move(c));
    }
    case Proto::kRedis:
      return std::unique_ptr<QueueClient>(
          new RedisClient(std::move(*conn), queue, "c" + std::to_string(index)));
  }
  return Error("unknown protocol");
}

}  // namespace queue_bench

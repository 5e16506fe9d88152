#pragma once
// What the proxy's whole-binary tests share: a redis-server of their own, raw RESP and TCP
// clients and servers, and the ProxyTest fixture that runs `tender proxy --config`.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "support.hpp"

namespace tender::testing {

namespace json = boost::json;

// A redis-server of our own on a free port, without persistence.
class RedisServer {
 public:
  // `password`: the server requires it (requirepass); command() gives it. `extra`: more
  // redis-server options.
  explicit RedisServer(std::string password = "", const std::vector<std::string>& extra = {})
      : password_(std::move(password)) {
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) {
      port_ = free_port();
      SpawnOptions o;
      o.argv = {
          "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",   "",
          "--appendonly", "no",     "--protected-mode",    "no",     "--dir",     dir_.path()};
      if (!password_.empty()) {
        o.argv.insert(o.argv.end(), {"--requirepass", password_});
      }
      o.argv.insert(o.argv.end(), extra.begin(), extra.end());
      o.stdout_ = Stdio::null();
      o.stderr_ = Stdio::null();
      auto p = Process::spawn(o);
      if (!p) {
        throw std::runtime_error("cannot start redis-server: " + p.error().message());
      }
      process_.emplace(std::move(*p));
      ready_ = eventually([&] { return command({"PING"}) == "+PONG\r\n"; }, 5s);
      if (!ready_) {
        process_.reset();
      }
    }
    if (!ready_) {
      throw std::runtime_error("redis-server did not start");
    }
  }
  std::uint16_t port() const { return port_; }
  // One command on a fresh connection; the raw reply.
  std::string command(const std::vector<std::string>& args) const;
  // Its connected clients (INFO), the asking connection included; -1 when it cannot tell.
  int clients() const {
    std::string info = command({"INFO", "clients"});
    auto at = info.find("connected_clients:");
    return at == std::string::npos ? -1 : std::stoi(info.substr(at + 18));
  }
  void stop() { process_.reset(); }

 private:
  std::string password_;
  TempDir dir_;  // its working directory: a replica writes the master's RDB there
  std::uint16_t port_ = 0;
  bool ready_ = false;
  std::optional<Process> process_;
};

inline std::string resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }
  return out;
}

// Writes all of `bytes` to `fd` (stops at an error).
inline void write_all(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) {
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

// A raw client: sends bytes, reads until `replies` complete replies (simple framing for the
// reply types used here) or the connection closes.
class RespClient {
 public:
  explicit RespClient(std::uint16_t port) : fd_(connect_loopback(port, 10s)) {}
  ~RespClient() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool ok() const { return fd_ >= 0; }
  void send(const std::string& bytes) { write_all(fd_, bytes); }
  // Reads `n` replies; each as its raw bytes. Fewer if the connection closes.
  std::vector<std::string> read(std::size_t n) {
    std::vector<std::string> out;
    while (out.size() < n) {
      std::size_t len = frame(buf_, 0);
      if (len > 0) {
        out.push_back(buf_.substr(0, len));
        buf_.erase(0, len);
        continue;
      }
      char chunk[65536];
      ssize_t got = ::read(fd_, chunk, sizeof chunk);
      if (got <= 0) {
        closed_ = true;
        break;
      }
      buf_.append(chunk, static_cast<std::size_t>(got));
    }
    return out;
  }
  std::string call(const std::vector<std::string>& args) {
    send(resp_command(args));
    auto r = read(1);
    return r.empty() ? "" : r[0];
  }
  // True once the proxy has closed the connection.
  bool closed() {
    if (!closed_) {
      char c;
      closed_ = ::read(fd_, &c, 1) == 0;
    }
    return closed_;
  }

 private:
  // Length of the complete reply at `pos`, 0 if incomplete.
  static std::size_t frame(const std::string& b, std::size_t pos) {
    if (pos >= b.size()) {
      return 0;
    }
    std::size_t eol = b.find("\r\n", pos);
    if (eol == std::string::npos) {
      return 0;
    }
    char t = b[pos];
    if (t == '+' || t == '-' || t == ':') {
      return eol + 2 - pos;
    }
    long n = std::stol(b.substr(pos + 1, eol - pos - 1));
    if (t == '$') {
      if (n < 0) {
        return eol + 2 - pos;
      }
      std::size_t end = eol + 2 + static_cast<std::size_t>(n) + 2;
      return end <= b.size() ? end - pos : 0;
    }
    std::size_t at = eol + 2;  // '*'
    for (long i = 0; i < n; ++i) {
      std::size_t len = frame(b, at);
      if (len == 0) {
        return 0;
      }
      at += len;
    }
    return at - pos;
  }

  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

inline std::string RedisServer::command(const std::vector<std::string>& args) const {
  RespClient c(port_);
  if (!c.ok() || (!password_.empty() && c.call({"AUTH", password_}) != "+OK\r\n")) {
    return "";
  }
  return c.call(args);
}

// The published jump consistent hash (Lamping & Veach) over FNV-1a 64, written here on its own
// so the test checks the proxy against the algorithm, not against the proxy's code.
inline int expected_shard(const std::string& key, int shards) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < shards) {
    b = j;
    h = h * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        static_cast<double>(b + 1) *
        (static_cast<double>(1LL << 31) / static_cast<double>((h >> 33) + 1)));
  }
  return static_cast<int>(b);
}

// A socket listening on 127.0.0.1 at a free port (in `addr`) with this accept backlog.
inline int listen_loopback(int backlog, sockaddr_in& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  return fd;
}

// A port of 127.0.0.1 where connects hang: its listener's accept queue is full, so the
// kernel drops their SYNs.
class BlackHole {
 public:
  BlackHole() {
    sockaddr_in addr{};
    lfd_ = listen_loopback(0, addr);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 3; ++i) {
      int f = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(f, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(f);
    }
  }
  ~BlackHole() {
    for (int f : fillers_) {
      ::close(f);
    }
    ::close(lfd_);
  }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  int lfd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

// A plain TCP server on 127.0.0.1 for upstream behaviour no real server shows on demand (bad
// bytes, particular framings): `serve(fd)` runs for each connection, which is closed after.
class RawServer {
 public:
  explicit RawServer(std::function<void(int)> serve) : serve_(std::move(serve)) {
    sockaddr_in addr{};
    lfd_ = listen_loopback(16, addr);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(lfd_, nullptr, nullptr);
        if (c < 0) {
          return;
        }
        serve_(c);
        ::close(c);
        ++closed_;
      }
    });
  }
  ~RawServer() {
    ::shutdown(lfd_, SHUT_RDWR);
    ::close(lfd_);
    thread_.join();
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Connections served and closed so far.
  [[nodiscard]] int closed() const { return closed_.load(); }

 private:
  std::function<void(int)> serve_;
  std::atomic<int> closed_{0};
  int lfd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// A config with one http listener "front" (plus `listener_extra` fields) to one endpoint.
inline std::string one_endpoint_http(std::uint16_t port, const std::string& listener_extra = "") {
  return "listeners:\n"
         "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: up" +
         listener_extra +
         "}\n"
         "clusters:\n"
         "  - {name: up, endpoints: [\"127.0.0.1:" +
         std::to_string(port) + "\"]}\n";
}

// A config with one tcp listener "front" (plus `listener_extra` fields) to one endpoint.
inline std::string one_endpoint_tcp(std::uint16_t port, const std::string& listener_extra = "") {
  std::string yaml = one_endpoint_http(port, listener_extra);
  yaml.replace(yaml.find("protocol: http"), 14, "protocol: tcp");
  return yaml;
}

// Reads `n` bytes of `fd`, a few KiB at a time with a pause between reads: a reader slow
// enough that what it has not taken waits in its sender's buffers for seconds. False if the
// stream ended (or a read timed out) first.
inline bool read_slowly(int fd, std::size_t n) {
  char buf[4096];
  while (n > 0) {
    ssize_t got = ::read(fd, buf, std::min(n, sizeof buf));
    if (got <= 0) {
      return false;
    }
    n -= static_cast<std::size_t>(got);
    std::this_thread::sleep_for(30ms);
  }
  return true;
}

// Reads from `fd` until `marker` has arrived; false if the stream ended first.
inline bool read_until(int fd, const std::string& marker) {
  std::string got;
  char buf[256];
  while (got.find(marker) == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads from `fd` until a request head is complete; empty if the client went first.
inline std::string read_head(int fd) {
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      return "";
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// Reads a whole request (head, then a Content-Length body or a chunked one up to its last
// chunk and trailer) from `fd`; empty if the client went first.
inline std::string read_request(int fd) {
  std::string got = read_head(fd);
  if (got.empty()) {
    return got;
  }
  auto head_end = got.find("\r\n\r\n") + 4;
  std::string lower = got.substr(0, head_end);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  auto cl = lower.find("content-length: ");
  char buf[65536];
  auto more = [&] {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<std::size_t>(n));
    }
    return n > 0;
  };
  if (cl != std::string::npos) {
    std::size_t want = head_end + std::stoul(lower.substr(cl + 16));
    while (got.size() < want && more()) {
    }
  } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    // The last chunk, then trailer lines up to an empty one.
    auto complete = [&] {
      auto last = got.find("\r\n0\r\n", head_end - 2);
      return last != std::string::npos && got.find("\r\n\r\n", last + 2) != std::string::npos;
    };
    while (!complete() && more()) {
    }
  }
  return got;
}

class ProxyTest : public ::testing::Test {
 protected:
  // `tender proxy --config` with `yaml`.
  void start(const std::string& yaml, std::vector<std::string> extra = {}) {
    config_ = dir_.write("proxy.yaml", yaml);
    std::vector<std::string> args = {"proxy", "--config", config_, "--admin", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_.emplace(args);
  }
  json::value clusters() {
    return json::parse(http(proxy_->port("admin"), "GET", "/v1/clusters").body);
  }
  json::value first_cluster() { return clusters().at("clusters").at(0); }
  std::string proxy_metrics() { return http(proxy_->port("admin"), "GET", "/metrics").body; }
  // The value of one sample, named with its labels (`name{label="v"}`), or -1 if absent.
  double proxy_metric(const std::string& sample) {
    std::string m = proxy_metrics();
    auto at = m.find("\n" + sample + " ");
    return at == std::string::npos ? -1.0 : std::stod(m.substr(at + sample.size() + 2));
  }
  json::value endpoint(const std::string& cluster, std::size_t i) {
    json::value all = clusters();
    for (const auto& c : all.at("clusters").as_array()) {
      if (c.at("name").as_string() == cluster) {
        return c.at("endpoints").at(i);
      }
    }
    return nullptr;
  }
  // A config with one redis listener "cache" in front of one server (cluster "one").
  static std::string one_redis_shard(const RedisServer& server) {
    return "listeners:\n"
           "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n"
           "clusters:\n"
           "  - {name: one, endpoints: [\"127.0.0.1:" +
           std::to_string(server.port()) + "\"]}\n";
  }
  // Two workers, one redis listener "cache" in front of cluster "shards" with `policy`, plus
  // `extra` keys of the cluster (each line indented by four spaces).
  std::string redis_config(const std::vector<const RedisServer*>& shards, const std::string& policy,
                           const std::string& extra = "") {
    std::string eps;
    for (const auto* s : shards) {
      eps += (eps.empty() ? "" : ", ") + std::string("\"127.0.0.1:") + std::to_string(s->port()) +
             "\"";
    }
    return "workers: 2\n"
           "listeners:\n"
           "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: shards}\n"
           "clusters:\n"
           "  - name: shards\n"
           "    endpoints: [" +
           eps +
           "]\n"
           "    policy: " +
           policy + "\n" + extra;
  }

  TempDir dir_;
  std::string config_;
  std::optional<Tender> proxy_;
};

inline std::string endpoint_list(const std::vector<const Tender*>& backends) {
  std::string eps;
  for (const auto* b : backends) {
    eps += (eps.empty() ? "" : ", ") + std::string("\"127.0.0.1:") +
           std::to_string(b->port("listen")) + "\"";
  }
  return eps;
}

inline std::string echo_cluster(const std::vector<const Tender*>& backends,
                                const std::string& extra) {
  std::string eps = endpoint_list(backends);
  return "listeners:\n"
         "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
         "clusters:\n"
         "  - name: web\n"
         "    endpoints: [" +
         eps + "]\n" + extra;
}

// A config with one http listener "front" (plus `listener_extra` lines) to cluster "web" of
// `backends` (plus `cluster_extra` lines).
inline std::string http_config(const std::vector<const Tender*>& backends,
                               const std::string& listener_extra,
                               const std::string& cluster_extra) {
  std::string eps = endpoint_list(backends);
  return "listeners:\n"
         "  - name: front\n"
         "    listen: \"127.0.0.1:0\"\n"
         "    protocol: http\n"
         "    cluster: web\n" +
         listener_extra +
         "clusters:\n"
         "  - name: web\n"
         "    endpoints: [" +
         eps + "]\n" + cluster_extra;
}

inline std::string backend_id(std::uint16_t port) {
  auto r = http(port, "GET", "/");
  if (r.status != 200) {
    return "";
  }
  return std::string(json::parse(r.body).at("id").as_string());
}

}  // namespace tender::testing

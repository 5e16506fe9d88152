// `tender proxy` with real peers: redis-server shards and `tender echo` backends on 127.0.0.1.
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
namespace {

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
          "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no",     "--protected-mode",    "no"};
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
  std::uint16_t port_ = 0;
  bool ready_ = false;
  std::optional<Process> process_;
};

std::string resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }
  return out;
}

// Writes all of `bytes` to `fd` (stops at an error).
void write_all(int fd, const std::string& bytes) {
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

std::string RedisServer::command(const std::vector<std::string>& args) const {
  RespClient c(port_);
  if (!c.ok() || (!password_.empty() && c.call({"AUTH", password_}) != "+OK\r\n")) {
    return "";
  }
  return c.call(args);
}

// The published jump consistent hash (Lamping & Veach) over FNV-1a 64, written here on its own
// so the test checks the proxy against the algorithm, not against the proxy's code.
int expected_shard(const std::string& key, int shards) {
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
int listen_loopback(int backlog, sockaddr_in& addr) {
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
std::string one_endpoint_http(std::uint16_t port, const std::string& listener_extra = "") {
  return "listeners:\n"
         "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: up" +
         listener_extra +
         "}\n"
         "clusters:\n"
         "  - {name: up, endpoints: [\"127.0.0.1:" +
         std::to_string(port) + "\"]}\n";
}

// A config with one tcp listener "front" (plus `listener_extra` fields) to one endpoint.
std::string one_endpoint_tcp(std::uint16_t port, const std::string& listener_extra = "") {
  std::string yaml = one_endpoint_http(port, listener_extra);
  yaml.replace(yaml.find("protocol: http"), 14, "protocol: tcp");
  return yaml;
}

// Reads `n` bytes of `fd`, a few KiB at a time with a pause between reads: a reader slow
// enough that what it has not taken waits in its sender's buffers for seconds. False if the
// stream ended (or a read timed out) first.
bool read_slowly(int fd, std::size_t n) {
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
bool read_until(int fd, const std::string& marker) {
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
std::string read_head(int fd) {
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
std::string read_request(int fd) {
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
  std::string redis_config(const std::vector<const RedisServer*>& shards,
                           const std::string& policy) {
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
           policy + "\n";
  }

  TempDir dir_;
  std::string config_;
  std::optional<Tender> proxy_;
};

TEST_F(ProxyTest, RedisKeysLandOnTheShardTheHashNames) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "jump"));
  RespClient client(proxy_->port("cache"));
  ASSERT_TRUE(client.ok());
  constexpr int kKeys = 10'000;
  std::string batch;
  for (int i = 0; i < kKeys; ++i) {
    batch += resp_command({"SET", "key:" + std::to_string(i), "v" + std::to_string(i)});
  }
  client.send(batch);
  auto replies = client.read(kKeys);
  ASSERT_EQ(replies.size(), static_cast<std::size_t>(kKeys));
  for (const auto& r : replies) {
    ASSERT_EQ(r, "+OK\r\n");
  }
  // Each shard holds exactly the keys the hash gives it.
  const RedisServer* shards[] = {&a, &b, &c};
  std::vector<int> count(3, 0);
  for (int s = 0; s < 3; ++s) {
    RespClient direct(shards[s]->port());
    std::string ask;
    for (int i = 0; i < kKeys; ++i) {
      ask += resp_command({"EXISTS", "key:" + std::to_string(i)});
    }
    direct.send(ask);
    auto got = direct.read(kKeys);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kKeys));
    for (int i = 0; i < kKeys; ++i) {
      bool here = got[static_cast<std::size_t>(i)] == ":1\r\n";
      ASSERT_EQ(here, expected_shard("key:" + std::to_string(i), 3) == s)
          << "key:" << i << " on shard " << s;
      count[static_cast<std::size_t>(s)] += here ? 1 : 0;
    }
  }
  for (int n : count) {
    EXPECT_GT(n, kKeys / 3 * 8 / 10);  // and spread about evenly
  }
  // GET through the proxy reads them back.
  EXPECT_EQ(client.call({"GET", "key:42"}), "$3\r\nv42\r\n");
}

TEST_F(ProxyTest, RedisMultiKeyCommandsSplitAndReassembleInOrder) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "ring_hash"));
  RespClient client(proxy_->port("cache"));
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  for (int i = 0; i < 50; ++i) {
    mset.push_back("m" + std::to_string(i));
    mset.push_back("value" + std::to_string(i));
    mget.push_back("m" + std::to_string(i));
    if (i == 25) {
      mget.emplace_back("missing");
    }
  }
  EXPECT_EQ(client.call(mset), "+OK\r\n");
  std::string want = "*51\r\n";
  for (int i = 0; i < 50; ++i) {
    std::string v = "value" + std::to_string(i);
    want += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
    if (i == 25) {
      want += "$-1\r\n";
    }
  }
  EXPECT_EQ(client.call(mget), want);
  // The keys really are spread: no shard has them all.
  for (const auto* s : {&a, &b, &c}) {
    std::string n = s->command({"DBSIZE"});
    EXPECT_NE(n, ":50\r\n");
  }
  EXPECT_EQ(client.call({"EXISTS", "m1", "m2", "missing", "m3"}), ":3\r\n");
  EXPECT_EQ(client.call({"DEL", "m1", "m2", "m3", "missing"}), ":3\r\n");
  EXPECT_EQ(client.call({"EXISTS", "m1", "m2", "m3"}), ":0\r\n");
}

TEST_F(ProxyTest, RedisPipelineKeepsItsOrder) {
  RedisServer a, b;
  // Without busy polling a server's commands leave at the end of the loop's turn; with it, once
  // the worker is out of ready work (AtIdle): both must deliver all of them, in order.
  for (std::string busy_poll : {"0", "50us"}) {
    SCOPED_TRACE("busy_poll " + busy_poll);
    proxy_.reset();
    start("busy_poll: " + busy_poll + "\n" + redis_config({&a, &b}, "maglev"));
    std::vector<std::unique_ptr<RespClient>> clients;
    std::vector<std::vector<std::string>> wants;
    // Two clients: each may have 512 replies owed, and the cluster's max_requests is 1024.
    for (int c = 0; c < 2; ++c) {
      clients.push_back(std::make_unique<RespClient>(proxy_->port("cache")));
      std::string batch;
      auto& want = wants.emplace_back();
      for (int i = 0; i < 500; ++i) {
        std::string k = "p" + busy_poll + "." + std::to_string(c) + "." + std::to_string(i);
        batch += resp_command({"SET", k, std::to_string(i)});
        want.emplace_back("+OK\r\n");
        batch += resp_command({"INCR", k});
        want.push_back(":" + std::to_string(i + 1) + "\r\n");
        batch += resp_command({"PING"});  // answered by the proxy, still in order
        want.emplace_back("+PONG\r\n");
        batch += resp_command({"GET", k});
        std::string v = std::to_string(i + 1);
        want.push_back("$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
      }
      clients.back()->send(batch);
    }
    for (std::size_t c = 0; c < clients.size(); ++c) {
      EXPECT_EQ(clients[c]->read(wants[c].size()), wants[c]) << "client " << c;
    }
    // Every reply came: no endpoint counts a request in flight any more.
    EXPECT_TRUE(eventually([&] {
      auto c = first_cluster();
      for (const auto& e : c.at("endpoints").as_array()) {
        if (e.at("active_requests").to_number<int>() != 0) {
          return false;
        }
      }
      return true;
    })) << json::serialize(clusters());
  }
}

TEST_F(ProxyTest, RedisHashTagsCoLocateKeys) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "ring_hash"));
  RespClient client(proxy_->port("cache"));
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(client.call({"SET", "{user42}." + std::to_string(i), "x"}), "+OK\r\n");
  }
  int holders = 0;
  for (const auto* s : {&a, &b, &c}) {
    std::string n = s->command({"DBSIZE"});
    if (n != ":0\r\n") {
      ++holders;
      EXPECT_EQ(n, ":30\r\n");
    }
  }
  EXPECT_EQ(holders, 1);
}

TEST_F(ProxyTest, RedisBadInputGetsAnErrorAndOthersAreServed) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient bad(proxy_->port("cache"));
  RespClient good(proxy_->port("cache"));
  bad.send("*2\r\n$3\r\nGET\r\n$x\r\n");
  auto r = bad.read(1);
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].rfind("-ERR Protocol error", 0), 0U) << r[0];
  EXPECT_TRUE(eventually([&] { return bad.closed(); }));
  EXPECT_EQ(good.call({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(good.call({"KEYS", "*"}).rfind("-ERR", 0), 0U);
  EXPECT_EQ(good.call({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(good.call({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(good.call({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(eventually([&] { return good.closed(); }));
}

TEST_F(ProxyTest, RedisUpstreamGarbageIsAnErrorNotACrash) {
  // A "server" that answers anything with bytes that are not RESP.
  RawServer garbage([](int c) {
    char buf[1024];
    while (::read(c, buf, sizeof buf) > 0) {
      const char junk[] = "hello, this is not redis\r\n";
      (void)!::write(c, junk, sizeof junk - 1);
    }
  });
  std::uint16_t port = garbage.port();
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: junk}\n"
      "clusters:\n"
      "  - name: junk\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(port) + "\"]\n");
  RespClient client(proxy_->port("cache"));
  for (int i = 0; i < 3; ++i) {
    std::string r = client.call({"GET", "k"});
    EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  }
  EXPECT_EQ(http(proxy_->port("admin"), "GET", "/healthz").status, 200);
}

TEST_F(ProxyTest, RedisPasswordsOnBothSides) {
  RedisServer a("server-secret");
  RedisServer b("server-secret");
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: shards,\n"
      "     auth: client-secret}\n"
      "clusters:\n"
      "  - name: shards\n"
      "    auth: server-secret\n"
      "    health_check: {type: redis, interval: 100ms}\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\", \"127.0.0.1:" + std::to_string(b.port()) + "\"]\n");
  RespClient c(proxy_->port("cache"));
  EXPECT_EQ(c.call({"GET", "k"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"PING"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "wrong"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "someone", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "client-secret"}), "+OK\r\n");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(c.call({"SET", "key" + std::to_string(i), "v"}), "+OK\r\n");
  }
  RespClient d(proxy_->port("cache"));
  EXPECT_EQ(d.call({"AUTH", "default", "client-secret"}), "+OK\r\n");
  EXPECT_EQ(d.call({"GET", "key7"}), "$1\r\nv\r\n");
  // Both servers took keys: the proxy authenticated to each.
  EXPECT_NE(a.command({"DBSIZE"}), ":0\r\n");
  EXPECT_NE(b.command({"DBSIZE"}), ":0\r\n");
  // The health checks authenticate too: every endpoint stays healthy.
  auto admin = proxy_->port("admin");
  EXPECT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    int checked = 0;
    for (const auto& e : cs.at(0).at("endpoints").as_array()) {
      const auto& o = e.as_object();
      checked += o.contains("last_check") && o.at("last_check").as_string() == "ok" &&
                         o.at("health").as_string() == "healthy"
                     ? 1
                     : 0;
    }
    return checked == 2;
  }));
}

TEST_F(ProxyTest, RedisAclUsersOnBothSides) {
  // The server has an ACL user "app" besides the open default user; the proxy logs in as app.
  RedisServer a("", {"--user", "app", "on", ">server-secret", "~*", "+@all"});
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one,\n"
      "     auth: client-secret, auth_user: web}\n"
      "clusters:\n"
      "  - name: one\n"
      "    auth: server-secret\n"
      "    auth_user: app\n"
      "    health_check: {type: redis, interval: 100ms}\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]\n");
  RespClient c(proxy_->port("cache"));
  // The password alone names the default user, and so does a wrong user: both are refused.
  EXPECT_EQ(c.call({"AUTH", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "default", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"GET", "k"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "web", "client-secret"}), "+OK\r\n");
  EXPECT_EQ(c.call({"SET", "k", "v"}), "+OK\r\n");
  // HELLO authenticates too (as clients asking for RESP2 do), or says it must be.
  RespClient h(proxy_->port("cache"));
  EXPECT_EQ(h.call({"HELLO", "2"}).rfind("-NOAUTH HELLO must be called", 0), 0U);
  EXPECT_EQ(h.call({"HELLO", "2", "AUTH", "web", "wrong"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(h.call({"HELLO", "2", "AUTH", "web", "client-secret"}).rfind("*14\r\n", 0), 0U);
  EXPECT_EQ(h.call({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(a.command({"GET", "k"}), "$1\r\nv\r\n");
  // The server sees the proxy's connections as user app, health checks included.
  EXPECT_NE(a.command({"CLIENT", "LIST"}).find("user=app"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    auto cs = json::parse(http(proxy_->port("admin"), "GET", "/v1/clusters").body);
    const auto& e = cs.at("clusters").at(0).at("endpoints").at(0).as_object();
    return e.contains("last_check") && e.at("last_check").as_string() == "ok";
  }));
}

TEST_F(ProxyTest, RedisHelloKeepsClientsOnResp2) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient c(proxy_->port("cache"));
  // RESP2 asked for, or nothing asked: the server map, proto 2.
  std::string map = c.call({"HELLO"});
  EXPECT_EQ(map.rfind("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0), 0U) << map;
  EXPECT_NE(map.find("$5\r\nproto\r\n:2\r\n"), std::string::npos) << map;
  EXPECT_EQ(c.call({"hello", "2", "SETNAME", "app"}).rfind("*14\r\n", 0), 0U);
  EXPECT_EQ(c.call({"CLIENT", "GETNAME"}), "$3\r\napp\r\n");  // as CLIENT SETNAME
  EXPECT_EQ(c.call({"HELLO", "2", "SETNAME", "a b"}).rfind("-ERR Client names cannot", 0), 0U);
  // RESP3 is answered as a server without HELLO answers, after which clients stay on RESP2
  // (NOPROTO would make some give up); the error does not repeat a password.
  EXPECT_EQ(c.call({"HELLO", "3", "AUTH", "default", "secret"}),
            "-ERR unknown command 'HELLO', with args beginning with: '3' \r\n");
  EXPECT_EQ(c.call({"HELLO", "2", "NOPE"}), "-ERR Syntax error in HELLO option 'NOPE'\r\n");
  EXPECT_EQ(c.call({"SET", "k", "v"}), "+OK\r\n");  // the connection carries on
}

TEST_F(ProxyTest, RedisClientCommandsOfTheConnectionItself) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient c(proxy_->port("cache"));
  RespClient d(proxy_->port("cache"));
  // What clients send on connecting.
  EXPECT_EQ(c.call({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}), "+OK\r\n");
  EXPECT_EQ(c.call({"CLIENT", "SETINFO", "lib-ver", "5.0.1"}), "+OK\r\n");
  EXPECT_EQ(c.call({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(c.call({"CLIENT", "SETNAME", "worker-7"}), "+OK\r\n");
  EXPECT_EQ(c.call({"client", "getname"}), "$8\r\nworker-7\r\n");
  EXPECT_EQ(d.call({"CLIENT", "GETNAME"}), "$-1\r\n");  // names are per connection
  EXPECT_EQ(c.call({"CLIENT", "SETNAME", "a b"}).rfind("-ERR Client names cannot contain", 0), 0U);
  std::string id_c = c.call({"CLIENT", "ID"});
  std::string id_d = d.call({"CLIENT", "ID"});
  EXPECT_EQ(id_c.rfind(':', 0), 0U) << id_c;
  EXPECT_NE(id_c, id_d);
  // About the proxy's shared server connections: refused.
  EXPECT_EQ(c.call({"CLIENT", "LIST"}),
            "-ERR command 'client LIST' is not supported by tender "
            "proxy: it cannot be sharded\r\n");
  EXPECT_EQ(c.call({"CLIENT"}).rfind("-ERR wrong number of arguments for 'client'", 0), 0U);
  EXPECT_EQ(c.call({"GET", "k"}), "$-1\r\n");
}

TEST_F(ProxyTest, RedisWrongServerPasswordIsAClearError) {
  RedisServer a("server-secret");
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n"
      "clusters:\n"
      "  - {name: one, auth: not-it, endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]}\n");
  RespClient c(proxy_->port("cache"));
  std::string r = c.call({"GET", "k"});
  EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  EXPECT_NE(r.find("AUTH"), std::string::npos) << r;
  EXPECT_EQ(c.call({"AUTH", "x"}).rfind("-ERR AUTH <password> called without", 0), 0U);
}

TEST_F(ProxyTest, ConnectionsToServersThatLeftAreClosed) {
  RedisServer a;
  RedisServer b;
  auto line = [](const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.port()) + "\n"; };
  std::string list = dir_.write("shards.txt", line(a) + line(b));
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: shards}\n"
      "clusters:\n"
      "  - {name: shards, file: \"" +
          list + "\"}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(c.call({"SET", "key" + std::to_string(i), "v"}), "+OK\r\n");
  }
  ASSERT_EQ(a.clients(), 2);  // the proxy's connection and this one
  dir_.write("shards.txt", line(b));
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    return cs.at(0).at("endpoints").as_array().size() == 1;
  }));
  EXPECT_EQ(c.call({"SET", "after", "v"}), "+OK\r\n");
  EXPECT_TRUE(eventually([&] { return a.clients() == 1; }));
  EXPECT_EQ(b.clients(), 2);
}

TEST_F(ProxyTest, RedisListenerRemovedByAReloadClosesItsServerConnections) {
  RedisServer a;
  auto config = [&](bool extra) {
    std::string listeners =
        "listeners:\n"
        "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n";
    if (extra) {
      listeners += "  - {name: extra, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n";
    }
    return listeners +
           "clusters:\n  - {name: one, endpoints: [\"127.0.0.1:" + std::to_string(a.port()) +
           "\"]}\n";
  };
  start(config(true), {"--workers", "1"});
  RespClient kept(proxy_->port("cache"));
  RespClient dropped(proxy_->port("extra"));
  ASSERT_EQ(kept.call({"SET", "k", "1"}), "+OK\r\n");
  ASSERT_EQ(dropped.call({"SET", "k", "2"}), "+OK\r\n");
  ASSERT_EQ(a.clients(), 3);  // each listener's connection, and this one
  dir_.write("proxy.yaml", config(false));
  proxy_->signal(SIGHUP);
  // The removed listener's idle client is let go, then its connection to the server closes.
  EXPECT_TRUE(dropped.closed());
  EXPECT_TRUE(eventually([&] { return a.clients() == 2; }));
  EXPECT_EQ(kept.call({"GET", "k"}), "$1\r\n2\r\n");
  EXPECT_EQ(a.clients(), 2);
}

TEST_F(ProxyTest, RedisServerThatStopsAnsweringTimesOut) {
  // Answers the first command, then reads and never answers again.
  RawServer mute([](int fd) {
    char buf[4096];
    bool answered = false;
    while (::read(fd, buf, sizeof buf) > 0) {
      if (!answered) {
        write_all(fd, "$-1\r\n");
        answered = true;
      }
    }
  });
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one, timeout: 300ms}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
          std::to_string(mute.port()) + "\"]}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  EXPECT_EQ(c.call({"GET", "k"}), "$-1\r\n");
  // Nothing is owed now, so the connection has no deadline: this request must set one.
  auto asked = std::chrono::steady_clock::now();
  std::string r = c.call({"GET", "k"});
  EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  EXPECT_NE(r.find("timed out"), std::string::npos) << r;
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
}

TEST_F(ProxyTest, RedisServerThatStopsReadingTimesOut) {
  // Never reads: the proxy's write fills the socket buffers and waits when the time is up.
  std::atomic<bool> done{false};
  RawServer deaf([&](int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    while (!done && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) {
      ::poll(&p, 1, 50);
    }
  });
  struct Release {
    std::atomic<bool>& done;
    ~Release() { done = true; }
  } release{done};
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one, timeout: 300ms}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
          std::to_string(deaf.port()) + "\"]}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  const std::string value(1 << 20, 'v');
  constexpr int kSets = 32;
  std::string sets;
  for (int i = 0; i < kSets; ++i) {
    sets += resp_command({"SET", "k" + std::to_string(i), value});
  }
  std::thread writer([&] { c.send(sets); });
  auto replies = c.read(kSets);
  writer.join();
  ASSERT_EQ(replies.size(), static_cast<std::size_t>(kSets));
  // A timeout, not the failed write it caused.
  for (const auto& r : replies) {
    EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r.substr(0, 100);
    EXPECT_NE(r.find("timed out"), std::string::npos) << r.substr(0, 100);
  }
  EXPECT_NE(proxy_metrics().find("kind=\"timeout\"} 1"), std::string::npos);
  EXPECT_NE(proxy_metrics().find("kind=\"reset\"} 0"), std::string::npos);
}

TEST_F(ProxyTest, RedisCommandsOverMaxRequestsAreRefused) {
  // Holds every GET until released, then answers each.
  std::atomic<bool> release{false};
  std::atomic<bool> done{false};
  RawServer held([&](int fd) {
    std::string got;
    std::size_t answered = 0;
    while (!done) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
          return;
        }
        got.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t asked = 0;
      for (auto at = got.find("GET"); at != std::string::npos; at = got.find("GET", at + 1)) {
        ++asked;
      }
      for (; release && answered < asked; ++answered) {
        write_all(fd, "$1\r\nv\r\n");
      }
    }
  });
  struct Done {
    std::atomic<bool>& done;
    ~Done() { done = true; }  // before `held` joins its thread
  } finish{done};
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n"
      "clusters:\n"
      "  - name: one\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(held.port()) +
          "\"]\n"
          "    limits: {max_requests: 2}\n",
      {"--workers", "1"});
  RespClient a(proxy_->port("cache"));
  a.send(resp_command({"GET", "a"}) + resp_command({"GET", "b"}));
  ASSERT_TRUE(
      eventually([&] { return first_cluster().at("active_requests").to_number<int>() == 2; }));
  // A third, while two are in flight, is refused at once; commands answered locally are not
  // requests to the cluster.
  RespClient b(proxy_->port("cache"));
  EXPECT_EQ(b.call({"GET", "c"}), "-ERR cluster one is at its max_requests limit\r\n");
  EXPECT_EQ(b.call({"MGET", "c", "d"}), "-ERR cluster one is at its max_requests limit\r\n");
  EXPECT_EQ(b.call({"PING"}), "+PONG\r\n");
  release = true;
  EXPECT_EQ(a.read(2), (std::vector<std::string>{"$1\r\nv\r\n", "$1\r\nv\r\n"}));
  EXPECT_EQ(b.call({"GET", "c"}), "$1\r\nv\r\n");
  EXPECT_EQ(first_cluster().at("active_requests").to_number<int>(), 0);
  EXPECT_EQ(
      proxy_metric("tender_proxy_cluster_overflow_total{cluster=\"one\",breaker=\"requests\"}"),
      2.0);
}

TEST_F(ProxyTest, RedisServerConnectionRefusedByTheBreakerIsNotTheServersFault) {
  RedisServer a;
  RedisServer b;
  // One worker may open one server connection: commands for the other server are refused by
  // the breaker, which must not count against that server (one failure would eject it).
  start(redis_config({&a, &b}, "ring_hash") +
            "    limits: {max_connections: 1}\n"
            "    outlier: {consecutive_failures: 1}\n",
        {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    std::string r = c.call({"GET", "key:" + std::to_string(i)});
    if (r == "$-1\r\n") {
      ++ok;
    } else {
      EXPECT_EQ(r, "-ERR cluster shards is at its max_connections limit\r\n");
      ++refused;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
  for (std::size_t i = 0; i < 2; ++i) {
    auto e = endpoint("shards", i);
    EXPECT_FALSE(e.at("ejected").as_bool()) << e;
    EXPECT_EQ(e.at("failures").to_number<int>(), 0) << e;
  }
}

TEST_F(ProxyTest, RedisClientThatDoesNotReadCannotGrowTheProxy) {
  RedisServer a;
  start(one_redis_shard(a), {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  const std::string value(64 << 10, 'b');
  ASSERT_EQ(c.call({"SET", "big", value}), "+OK\r\n");
  auto rss_kib = [&] {
    std::ifstream status("/proc/" + std::to_string(proxy_->pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        return std::stol(line.substr(6));
      }
    }
    return 0L;
  };
  long before = rss_kib();
  // 250 MiB of replies asked for, none read yet: the proxy stops reading this client instead
  // of holding them.
  constexpr int kGets = 4000;
  std::string gets;
  for (int i = 0; i < kGets; ++i) {
    gets += resp_command({"GET", "big"});
  }
  std::thread writer([&] { c.send(gets); });
  // Until the proxy's memory stops moving (it would climb past 250 MiB without the pause).
  long during = rss_kib();
  int steady = 0;
  for (int i = 0; i < 200 && steady < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    long now = rss_kib();
    steady = std::abs(now - during) < 1024 ? steady + 1 : 0;
    during = now;
  }
  EXPECT_LT(during - before, 128 * 1024)
      << "RSS grew from " << before << " to " << during << " KiB";
  // Nothing is lost: every reply arrives, whole, once the client reads.
  std::string bulk = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (int i = 0; i < kGets; ++i) {
    auto r = c.read(1);
    ASSERT_EQ(r.size(), 1U) << "reply " << i;
    ASSERT_EQ(r[0], bulk) << "reply " << i;
  }
  writer.join();
}

TEST_F(ProxyTest, RedisClientsThatResetAreLetGoAtOnce) {
  RedisServer a;
  start(one_redis_shard(a));  // idle_timeout 10m: only noticing the reset frees these
  auto port = proxy_->port("cache");
  auto connections = [&] {
    return proxy_metric("tender_proxy_downstream_connections{listener=\"cache\"}");
  };
  // Each client is served once, so that the proxy holds it, and then sends `last` (nothing, a
  // command cut short, a whole command) and a reset at once: both may be there before the
  // proxy reads.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_loopback(port, 10s);
    ASSERT_GE(fd, 0);
    std::string ping = "*1\r\n$4\r\nPING\r\n";
    ASSERT_EQ(::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(ping.size()));
    char buf[16];
    ASSERT_EQ(::recv(fd, buf, sizeof buf, 0), 7);  // +PONG\r\n
    fds.push_back(fd);
  }
  ASSERT_TRUE(eventually([&] { return connections() == 3.0; }));
  const std::string lasts[] = {"", "*2\r\n$3\r\nGET\r\n$1\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"};
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (!lasts[i].empty()) {
      ASSERT_GT(::send(fds[i], lasts[i].data(), lasts[i].size(), MSG_NOSIGNAL), 0);
    }
    linger reset{1, 0};
    ASSERT_EQ(::setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    ::close(fds[i]);
  }
  EXPECT_TRUE(eventually([&] { return connections() == 0.0; })) << connections();
  RespClient other(port);  // and the proxy serves on
  EXPECT_EQ(other.call({"PING"}), "+PONG\r\n");
}

TEST_F(ProxyTest, RedisDrainClosesIdleClientsAndExits) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient idle(proxy_->port("cache"));
  ASSERT_EQ(idle.call({"PING"}), "+PONG\r\n");
  proxy_->signal(SIGTERM);
  // Well within the 30 s grace: an idle client does not hold the drain up.
  auto st = proxy_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
  EXPECT_TRUE(idle.closed());
}

// --- tcp -------------------------------------------------------------------------------------

// "\"127.0.0.1:P1\", \"127.0.0.1:P2\"": the backends' listen addresses, for an endpoints list.
std::string endpoint_list(const std::vector<const Tender*>& backends) {
  std::string eps;
  for (const auto* b : backends) {
    eps += (eps.empty() ? "" : ", ") + std::string("\"127.0.0.1:") +
           std::to_string(b->port("listen")) + "\"";
  }
  return eps;
}

std::string echo_cluster(const std::vector<const Tender*>& backends, const std::string& extra) {
  std::string eps = endpoint_list(backends);
  return "listeners:\n"
         "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
         "clusters:\n"
         "  - name: web\n"
         "    endpoints: [" +
         eps + "]\n" + extra;
}

std::string backend_id(std::uint16_t port) {
  auto r = http(port, "GET", "/");
  if (r.status != 200) {
    return "";
  }
  return std::string(json::parse(r.body).at("id").as_string());
}

TEST_F(ProxyTest, TcpRoundRobinSpreadsConnectionsEvenly) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  Tender b3(echo_args({"--id", "b3"}));
  start(echo_cluster({&b1, &b2, &b3}, "    policy: round_robin\n"), {"--workers", "1"});
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ++seen[backend_id(proxy_->port("front"))];
  }
  EXPECT_EQ(seen["b1"], 10);
  EXPECT_EQ(seen["b2"], 10);
  EXPECT_EQ(seen["b3"], 10);
}

TEST_F(ProxyTest, TcpDeadBackendIsRetriedEjectedAndReadmitted) {
  Tender b1(echo_args({"--id", "b1"}));
  std::uint16_t dead_port = free_port();  // nobody listens here yet
  std::string yaml =
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - name: web\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(b1.port("listen")) + "\", \"127.0.0.1:" + std::to_string(dead_port) +
      "\"]\n"
      "    policy: round_robin\n"
      "    health_check: {type: tcp, interval: 200ms, timeout: 200ms, unhealthy_threshold: 2, "
      "healthy_threshold: 1}\n"
      "    outlier: {consecutive_failures: 2, base_ejection: 30s}\n";
  start(yaml, {"--workers", "1"});
  // Every connection succeeds: a refused connect is tried again on the live endpoint.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(backend_id(proxy_->port("front")), "b1");
  }
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 1);
    return e.at("health").as_string() == "unhealthy";
  }));
  // It comes back: the health check sees it and readmits it.
  Tender revived({"echo", "--listen", "127.0.0.1:" + std::to_string(dead_port), "--admin",
                  "127.0.0.1:0", "--id", "revived"});
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 1);
    return e.at("health").as_string() == "healthy";
  }));
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    ++seen[backend_id(proxy_->port("front"))];
  }
  EXPECT_EQ(seen["revived"], 5);
  auto metrics = proxy_metrics();
  EXPECT_NE(
      metrics.find("tender_proxy_upstream_errors_total{cluster=\"web\",endpoint=\"127.0.0.1:" +
                   std::to_string(dead_port) + "\",kind=\"connect\"}"),
      std::string::npos);
}

TEST_F(ProxyTest, TcpPassiveEjectionWithoutHealthChecks) {
  Tender b1(echo_args({"--id", "b1"}));
  std::uint16_t dead_port = free_port();
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - name: web\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(b1.port("listen")) + "\", \"127.0.0.1:" + std::to_string(dead_port) +
          "\"]\n"
          "    outlier: {consecutive_failures: 3, base_ejection: 60s, max_ejected_percent: 50}\n",
      {"--workers", "1"});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(backend_id(proxy_->port("front")), "b1");
  }
  auto e = endpoint("web", 1);
  EXPECT_TRUE(e.at("ejected").as_bool()) << json::serialize(e);
  EXPECT_EQ(e.at("ejections").to_number<std::uint64_t>(), 1U);
  // The cap: the live endpoint is never ejected as well (it would be 100%).
  EXPECT_FALSE(endpoint("web", 0).at("ejected").as_bool());
}

TEST_F(ProxyTest, TcpHalfClosesArePassedOnBothWays) {
  // The server reads to the end of the client's stream, then answers and closes.
  RawServer upstream([](int fd) {
    std::string got;
    char buf[256];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      got.append(buf, static_cast<std::size_t>(n));
    }
    write_all(fd, "got " + got);
  });
  start(one_endpoint_tcp(upstream.port()), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send("question"));
  c.shutdown_send();  // the server sees the end of the stream only through the proxy
  EXPECT_EQ(c.read_until("question"), "got question");
  EXPECT_TRUE(c.closed_by_peer(10s));  // and the server's close comes back the same way
}

TEST_F(ProxyTest, TcpConnectTimeoutTriesAnotherEndpoint) {
  BlackHole hole;
  RawServer upstream([](int fd) { write_all(fd, "hello"); });
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, connect_timeout: 200ms, policy: round_robin,\n"
      "     outlier: {consecutive_failures: 1000}, endpoints: [\"127.0.0.1:" +
          std::to_string(hole.port()) + "\", \"127.0.0.1:" + std::to_string(upstream.port()) +
          "\"]}\n",
      {"--workers", "1"});
  // Connections sent to the hole first still reach the server, on their second try.
  for (int i = 0; i < 4; ++i) {
    Connection c(proxy_->port("front"));
    EXPECT_EQ(c.read_until("hello"), "hello") << i;
  }
  // Connects to the hole timed out (none was refused: it listens).
  std::string metrics = proxy_metrics();
  std::string series = "tender_proxy_upstream_errors_total{cluster=\"web\",endpoint=\"127.0.0.1:" +
                       std::to_string(hole.port()) + "\",kind=\"timeout\"} ";
  auto at = metrics.find(series);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + series.size())), 1) << metrics;
}

TEST_F(ProxyTest, TcpIdleTimeoutClosesQuietConnectionsNotSlowReaders) {
  // The server sends 192 KiB at once, then answers "ping" with "pong" until the client goes.
  static constexpr std::size_t kBulk = 192 * 1024;
  RawServer upstream([](int fd) {
    write_all(fd, std::string(kBulk, 'b'));
    while (read_until(fd, "ping")) {
      write_all(fd, "pong");
    }
  });
  start(one_endpoint_tcp(upstream.port(), ", idle_timeout: 500ms"), {"--workers", "1"});
  // A client with a small window reads the bulk over about 1.5 s, far longer than
  // idle_timeout, while the proxy's write waits for it: that is not idle.
  int fd = connect_loopback(proxy_->port("front"), 15s, 4096);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(read_slowly(fd, kBulk));
  write_all(fd, "ping");
  EXPECT_TRUE(read_until(fd, "pong"));
  ::close(fd);
  // A connection on which nothing moves is closed.
  Connection quiet(proxy_->port("front"));
  EXPECT_EQ(quiet.read_until("ping").size(), kBulk);  // (no ping comes: all it was sent)
  EXPECT_TRUE(quiet.closed_by_peer(10s));
}

TEST_F(ProxyTest, ReloadUnderLoadDropsNothing) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  start(echo_cluster({&b1}, ""), {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      while (!stop) {
        if (backend_id(front).empty()) {
          ++failures;
        }
        ++served;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return served > 200; }));
  // Swap the cluster to b2, and back, several times.
  for (int i = 0; i < 6; ++i) {
    const Tender* next = i % 2 == 0 ? &b2 : &b1;
    dir_.write("proxy.yaml", echo_cluster({next}, ""));
    proxy_->signal(SIGHUP);
    std::string want = i % 2 == 0 ? "b2" : "b1";
    EXPECT_TRUE(eventually([&] { return backend_id(front) == want; })) << "reload " << i;
  }
  stop = true;
  for (auto& t : load) {
    t.join();
  }
  EXPECT_EQ(failures, 0) << "of " << served;
  EXPECT_GT(served, 100);
}

TEST_F(ProxyTest, ReloadUnderLoadKeepsHttpAndRedisConnections) {
  // Keep-alive HTTP clients and pipelining redis clients go on, each on its one connection,
  // while reloads move both listeners' clusters back and forth.
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  RedisServer r1;
  RedisServer r2;
  auto config = [&](const Tender& web, const RedisServer& cache) {
    return "listeners:\n"
           "  - {name: web, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
           "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: cache}\n"
           "clusters:\n"
           "  - {name: web, endpoints: [\"127.0.0.1:" +
           std::to_string(web.port("listen")) +
           "\"]}\n"
           "  - {name: cache, endpoints: [\"127.0.0.1:" +
           std::to_string(cache.port()) + "\"]}\n";
  };
  start(config(b1, r1), {"--workers", "2"});
  std::uint16_t web = proxy_->port("web");
  std::uint16_t cache = proxy_->port("cache");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::mutex mu;
  std::string first_failure;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mu);
    if (failures++ == 0) {
      first_failure = what;
    }
  };
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&] {
      Connection c(web);
      while (!stop && failures == 0) {
        HttpResult r = c.send(request_bytes("GET", "/")) ? c.read_response() : HttpResult{};
        if (r.status != 200) {
          fail("http status " + std::to_string(r.status) + " " + r.body);
        }
        ++served;
      }
    });
    load.emplace_back([&, t] {
      RespClient c(cache);
      for (int i = 0; !stop && failures == 0; ++i) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i % 100);
        c.send(resp_command({"SET", key, "v"}) + resp_command({"GET", key}) +
               resp_command({"PING"}));
        auto replies = c.read(3);
        if (replies.size() != 3 || replies[0] != "+OK\r\n" || replies[2] != "+PONG\r\n" ||
            (replies[1] != "$1\r\nv\r\n" && replies[1] != "$-1\r\n")) {
          fail("redis replies " + std::to_string(replies.size()) + ": " +
               (replies.empty() ? "" : replies[0]));
        }
        ++served;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return served > 200; }));
  for (int i = 0; i < 6; ++i) {
    bool even = i % 2 == 0;
    dir_.write("proxy.yaml", config(even ? b2 : b1, even ? r2 : r1));
    proxy_->signal(SIGHUP);
    std::string want = even ? "b2" : "b1";
    EXPECT_TRUE(eventually([&] { return backend_id(web) == want; })) << "reload " << i;
    // The redis clients' keys reach the cluster's new server.
    const RedisServer& now = even ? r2 : r1;
    now.command({"FLUSHALL"});
    EXPECT_TRUE(eventually([&] { return now.command({"DBSIZE"}) != ":0\r\n"; })) << i;
    int before = served;
    EXPECT_TRUE(eventually([&] { return served > before + 200; })) << i;
  }
  stop = true;
  for (auto& t : load) {
    t.join();
  }
  EXPECT_EQ(failures, 0) << first_failure;
}

TEST_F(ProxyTest, ReloadIsAllOrNothing) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  start(echo_cluster({&b1}, ""), {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  ASSERT_EQ(backend_id(front), "b1");
  // The cluster moves to b2, but a new listener's address is taken: nothing may change.
  RawServer squatter([](int) {});
  std::string cfg = echo_cluster({&b2}, "") + "  - name: other\n    endpoints: [\"127.0.0.1:1\"]\n";
  cfg.insert(cfg.find("clusters:"),
             "  - {name: extra, listen: \"127.0.0.1:" + std::to_string(squatter.port()) +
                 "\", protocol: tcp, cluster: other}\n");
  dir_.write("proxy.yaml", cfg);
  proxy_->signal(SIGHUP);
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    return http(admin, "GET", "/metrics")
               .body.find("tender_proxy_config_reloads_total{result=\"error\"} 1") !=
           std::string::npos;
  }));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(backend_id(front), "b1");
  }
  auto clusters = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
  EXPECT_EQ(clusters.size(), 1U);
  // Without the taken address the same change applies.
  dir_.write("proxy.yaml", echo_cluster({&b2}, ""));
  proxy_->signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return backend_id(front) == "b2"; }));
}

TEST_F(ProxyTest, ReloadMovingOrRemovingAListenerDrainsIt) {
  Tender b1(echo_args({"--id", "b1"}));
  auto config = [&](const std::string& listen, bool extra) {
    return "listeners:\n"
           "  - {name: front, listen: \"" +
           listen + "\", protocol: http, cluster: web}\n" +
           (extra ? "  - {name: extra, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
                  : "") +
           "clusters:\n"
           "  - {name: web, endpoints: [\"127.0.0.1:" +
           std::to_string(b1.port("listen")) + "\"]}\n";
  };
  start(config("127.0.0.1:0", true), {"--workers", "2"});
  std::uint16_t old_port = proxy_->port("front");
  std::uint16_t extra_port = proxy_->port("extra");
  // On each listener, an idle keep-alive connection and one with a request under way.
  Connection idle_moved(old_port);
  Connection idle_removed(extra_port);
  ASSERT_EQ(idle_moved.send(request_bytes("GET", "/")) ? idle_moved.read_response().status : 0,
            200);
  ASSERT_EQ(idle_removed.send(request_bytes("GET", "/")) ? idle_removed.read_response().status : 0,
            200);
  Connection busy_moved(old_port);
  Connection busy_removed(extra_port);
  ASSERT_TRUE(busy_moved.send(request_bytes("GET", "/?delay_ms=1000")));
  ASSERT_TRUE(busy_removed.send(request_bytes("GET", "/?delay_ms=1000")));
  ASSERT_TRUE(wait_in_flight(b1, 2));
  // "front" moves to another port and "extra" goes: both drain as on SIGTERM.
  std::uint16_t new_port = free_port();
  dir_.write("proxy.yaml", config("127.0.0.1:" + std::to_string(new_port), false));
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return backend_id(new_port) == "b1"; }));
  EXPECT_TRUE(eventually([&] { return connect_refused(old_port) && connect_refused(extra_port); }));
  EXPECT_TRUE(idle_moved.closed_by_peer(10s));
  EXPECT_TRUE(idle_removed.closed_by_peer(10s));
  // A drain now waits for the old listeners' requests too.
  proxy_->signal(SIGTERM);
  // Requests under way are answered, then their connections closed.
  for (Connection* c : {&busy_moved, &busy_removed}) {
    HttpResult r = c->read_response();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_TRUE(c->closed_by_peer(10s));
  }
  auto st = proxy_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
}

// --- http ------------------------------------------------------------------------------------

std::string http_config(const std::vector<const Tender*>& backends,
                        const std::string& listener_extra, const std::string& cluster_extra) {
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

TEST_F(ProxyTest, HttpRoundRobinOverKeepAliveSpreadsEvenly) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  Tender b3(echo_args({"--id", "b3"}));
  start(http_config({&b1, &b2, &b3}, "", ""), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/x?i=" + std::to_string(i))));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = json::parse(r.body);
    ++seen[std::string(v.at("id").as_string())];
    // The client's address reaches the backend.
    EXPECT_EQ(v.at("headers").at("x-forwarded-for").as_string(), "127.0.0.1");
  }
  // Turned off, io_uring is not used (where it is on, the kernel decides).
  auto status = json::parse(http(proxy_->port("admin"), "GET", "/statusz").body).at("status");
  if (const char* env = std::getenv("TENDER_IO_URING");
      env != nullptr && std::string(env) == "off") {
    EXPECT_FALSE(status.at("io_uring").as_bool());
  }
  EXPECT_EQ(seen["b1"], 10);
  EXPECT_EQ(seen["b2"], 10);
  EXPECT_EQ(seen["b3"], 10);
}

TEST_F(ProxyTest, HttpBackendKilledMidRunIsRetriedEjectedAndReadmitted) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  std::optional<Tender> b3;
  b3.emplace(echo_args({"--id", "b3"}));
  std::uint16_t b3_port = b3->port("listen");
  start(
      http_config({&b1, &b2, &*b3}, "",
                  "    health_check: {type: http, path: /healthz, interval: 200ms, timeout: 200ms, "
                  "unhealthy_threshold: 2, healthy_threshold: 1}\n"
                  "    outlier: {consecutive_failures: 2, base_ejection: 30s}\n"),
      {"--workers", "1"});
  // The admin port of an echo is its own; /healthz on the listen port is echoed with 200 too.
  Connection c(proxy_->port("front"));
  for (int i = 0; i < 200; ++i) {
    if (i == 50) {
      b3->signal(SIGKILL);
      (void)b3->wait_exit();
    }
    ASSERT_TRUE(c.send(request_bytes("GET", "/x")));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.body;
  }
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 2);
    return e.at("ejected").as_bool() || e.at("health").as_string() == "unhealthy";
  }));
  b3.reset();
  Tender revived({"echo", "--listen", "127.0.0.1:" + std::to_string(b3_port), "--admin",
                  "127.0.0.1:0", "--id", "revived"});
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 2);
    return !e.at("ejected").as_bool() && e.at("health").as_string() == "healthy";
  }));
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/x")));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200);
    ++seen[std::string(json::parse(r.body).at("id").as_string())];
  }
  EXPECT_EQ(seen["revived"], 10);
  // The requests that met the dead backend were retried, not failed.
  auto metrics = proxy_metrics();
  std::string key = "tender_proxy_cluster_retries_total{cluster=\"web\"} ";
  auto at = metrics.find(key);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stod(metrics.substr(at + key.size())), 1.0);
}

TEST_F(ProxyTest, HttpCircuitBreakerAnswersTheExcessWith503) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", "    limits: {max_requests: 2}\n"), {"--workers", "1"});
  std::uint16_t front = proxy_->port("front");
  std::vector<std::thread> slow;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&] {
      if (http(front, "GET", "/slow?delay_ms=3000").status == 200) {
        ++ok;
      }
    });
  }
  ASSERT_TRUE(eventually([&] {
    auto all = clusters();
    return all.at("clusters").at(0).at("active_requests").to_number<int>() == 2;
  }));
  HttpResult excess = http(front, "GET", "/fast");
  EXPECT_EQ(excess.status, 503);
  EXPECT_NE(excess.body.find("max_requests"), std::string::npos) << excess.body;
  // Refused while the two slow ones are still in flight: it did not wait for them.
  EXPECT_EQ(ok.load(), 0);
  for (auto& t : slow) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 2);
  auto metrics = proxy_metrics();
  EXPECT_NE(
      metrics.find("tender_proxy_cluster_overflow_total{cluster=\"web\",breaker=\"requests\"} 1"),
      std::string::npos);
}

TEST_F(ProxyTest, HttpTimeoutsAnswer504) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    timeout: 400ms\n    per_try_timeout: 150ms\n", ""),
        {"--workers", "1"});
  HttpResult r = http(proxy_->port("front"), "GET", "/slow?delay_ms=2000");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("timed out"), std::string::npos) << r.body;
  // The proxy still serves.
  EXPECT_EQ(http(proxy_->port("front"), "GET", "/").status, 200);
}

TEST_F(ProxyTest, HttpRequestsWaitForAConnectionWithinMaxPending) {
  Tender b1(echo_args({"--id", "b1"}));
  // Two workers: a waiting request may be on the worker that frees the connection or not.
  start(http_config({&b1}, "", "    limits: {max_connections: 1, max_pending: 3}\n"),
        {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  auto cluster_field = [&](const char* field) {
    return first_cluster().at(field).to_number<int>();
  };
  std::atomic<int> done{0};
  std::thread slow([&] {
    EXPECT_EQ(http(front, "GET", "/slow?delay_ms=1500").status, 200);
    ++done;
  });
  ASSERT_TRUE(eventually([&] { return cluster_field("active_requests") == 1; }));
  // Three more wait for the one connection the cluster may open.
  std::vector<std::thread> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.emplace_back([&, i] {
      HttpResult r = http(front, "GET", "/fast?i=" + std::to_string(i));
      EXPECT_EQ(r.status, 200) << r.body;
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] { return cluster_field("pending_requests") == 3; }));
  // A fourth finds max_pending full: refused at once, while the others still wait.
  HttpResult excess = http(front, "GET", "/excess");
  EXPECT_EQ(excess.status, 503);
  EXPECT_NE(excess.body.find("max_pending"), std::string::npos) << excess.body;
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(cluster_field("pending_requests"), 3);
  // Once the slow one gives the connection up, the waiting ones are served over it.
  slow.join();
  for (auto& t : waiting) {
    t.join();
  }
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(cluster_field("pending_requests"), 0);
  auto eps = first_cluster().at("endpoints").as_array();
  EXPECT_LE(eps.at(0).at("connections").to_number<int>(), 1);
  EXPECT_EQ(
      proxy_metric("tender_proxy_cluster_overflow_total{cluster=\"web\",breaker=\"pending\"}"),
      1.0);
}

TEST_F(ProxyTest, HttpRequestWaitingForAConnectionTimesOutWith504) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    timeout: 300ms\n", "    limits: {max_connections: 1}\n"),
        {"--workers", "1"});
  std::uint16_t front = proxy_->port("front");
  // An upload that stalls halfway holds the one connection (its timeout runs from the end of
  // its body, which does not come).
  Connection upload(front);
  ASSERT_TRUE(upload.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                          std::string(100'000, 'u')));
  ASSERT_TRUE(eventually([&] {
    auto e = first_cluster().at("endpoints").at(0);
    return e.at("connections").to_number<int>() == 1;
  }));
  HttpResult r = http(front, "GET", "/fast");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("no connection of cluster web came free"), std::string::npos) << r.body;
  // The endpoint is not blamed for the wait.
  auto e = first_cluster().at("endpoints").at(0);
  EXPECT_EQ(e.at("ejected").as_bool(), false);
}

TEST_F(ProxyTest, HttpRoutesByPrefixAndHost) {
  Tender web(echo_args({"--id", "web"}));
  Tender api(echo_args({"--id", "api"}));
  Tender admin(echo_args({"--id", "admin"}));
  auto ep = [](const Tender& t) {
    return "[\"127.0.0.1:" + std::to_string(t.port("listen")) + "\"]";
  };
  start(
      "listeners:\n"
      "  - name: front\n"
      "    listen: \"127.0.0.1:0\"\n"
      "    protocol: http\n"
      "    routes:\n"
      "      - {prefix: /, host: admin.example, cluster: admin}\n"
      "      - {prefix: /api/, cluster: api}\n"
      "      - {prefix: /, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, endpoints: " +
      ep(web) +
      "}\n"
      "  - {name: api, endpoints: " +
      ep(api) +
      "}\n"
      "  - {name: admin, endpoints: " +
      ep(admin) + "}\n");
  std::uint16_t front = proxy_->port("front");
  auto id = [&](const std::string& target, const std::string& host) {
    auto r = http(front, "GET", target, {{"Host", host}});
    return r.status == 200 ? std::string(json::parse(r.body).at("id").as_string()) : "";
  };
  EXPECT_EQ(id("/api/users", "x.example"), "api");
  EXPECT_EQ(id("/apiary", "x.example"), "web");
  EXPECT_EQ(id("/api/users", "ADMIN.example:8080"), "admin");
  EXPECT_EQ(id("/", "x.example"), "web");
}

TEST_F(ProxyTest, HttpMalformedRequestIs400AndOthersAreServed) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""));
  Connection bad(proxy_->port("front"));
  ASSERT_TRUE(bad.send("GARBAGE\r\n\r\n"));
  HttpResult r = bad.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(bad.closed_by_peer(5s));
  EXPECT_EQ(http(proxy_->port("front"), "GET", "/").status, 200);
}

TEST_F(ProxyTest, HttpBodiesStreamBothWays) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""), {"--workers", "1"});
  auto front = proxy_->port("front");
  // 1 MiB each way: larger than what is buffered for retries, so it streams.
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) {
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  HttpResult r = http(front, "POST", "/upload", {}, big);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), big);

  // A chunked request body reaches the backend whole; the connection then serves another.
  Connection c(front);
  ASSERT_TRUE(
      c.send("POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n"));
  ASSERT_TRUE(c.send("7;x=y\r\n, world\r\n0\r\n\r\n"));
  r = c.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), "hello, world");
  ASSERT_TRUE(c.send(request_bytes("GET", "/again")));
  EXPECT_EQ(c.read_response().status, 200);

  // Expect: 100-continue gets its interim answer before the body is sent.
  Connection e(front);
  ASSERT_TRUE(
      e.send("PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
             "Content-Length: 4\r\n\r\n"));
  EXPECT_EQ(e.read_response().status, 100);
  ASSERT_TRUE(e.send("data"));
  r = e.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), "data");
  EXPECT_EQ(json::parse(r.body).at("headers").as_object().count("expect"), 0U);
}

TEST_F(ProxyTest, HttpChunkedRequestTrailersArePassedOn) {
  // Answers with the request body exactly as it arrived (chunked, trailers included).
  RawServer upstream([](int fd) {
    std::string got = read_request(fd);
    std::string body = got.substr(got.find("\r\n\r\n") + 4);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n\r\n" + body);
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send("POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
             "0\r\nX-Checksum: abc\r\nContent-Length: 99\r\nX-Other:  two words \r\n\r\n"));
  HttpResult r = c.read_response();
  EXPECT_EQ(r.status, 200);
  // Re-encoded as read here; the trailer that would change framing is not passed on.
  EXPECT_EQ(r.body, "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: two words\r\n\r\n");

  Connection bad(proxy_->port("front"));
  ASSERT_TRUE(bad.send(
      "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n"));
  HttpResult refused = bad.read_response();
  EXPECT_EQ(refused.status, 400);
}

TEST_F(ProxyTest, HttpHeadAndHttp10Clients) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""), {"--workers", "1"});
  auto front = proxy_->port("front");
  Connection c(front);
  ASSERT_TRUE(c.send(request_bytes("GET", "/same")));
  HttpResult get = c.read_response();
  ASSERT_EQ(get.status, 200);
  // HEAD keeps the Content-Length a GET would have, sends no body, and the connection goes on.
  ASSERT_TRUE(c.send(request_bytes("HEAD", "/same")));
  HttpResult head = c.read_response(true);
  ASSERT_EQ(head.status, 200);
  EXPECT_FALSE(head.header("content-length").empty());
  ASSERT_TRUE(c.send(request_bytes("GET", "/after-head")));
  HttpResult after = c.read_response();
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(json::parse(after.body).at("path").as_string(), "/after-head");

  // HTTP/1.0 closes after the answer unless it asks for keep-alive.
  Connection old(front);
  ASSERT_TRUE(old.send("GET /one HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(old.read_response().status, 200);
  EXPECT_TRUE(old.closed_by_peer(5s));
  Connection kept(front);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send("GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    HttpResult r = kept.read_response();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "keep-alive");
  }
}

TEST_F(ProxyTest, HttpConnectionIsNotReusedAfterHead) {
  // Wrongly sends a body after its answer to HEAD, late: a proxy that went on using the
  // connection would read "stale" as the next answer.
  RawServer upstream([](int fd) {
    std::string got = read_head(fd);
    if (got.rfind("HEAD", 0) == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
      got = read_head(fd);  // empty: the proxy closed the connection, as it should
      if (!got.empty()) {
        write_all(fd, "stale");
      }
    }
    if (!got.empty()) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfresh");
    }
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send(request_bytes("HEAD", "/h")));
  HttpResult head = c.read_response(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "5");
  ASSERT_TRUE(c.send(request_bytes("GET", "/g")));
  HttpResult get = c.read_response();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "fresh");
  EXPECT_GE(upstream.closed(), 1);  // the HEAD's connection, closed by the proxy
}

TEST_F(ProxyTest, HttpConnectCutShortByTheTryAnswers504) {
  BlackHole hole;
  std::string unreachable_list = "[\"127.0.0.1:" + std::to_string(hole.port()) + "\"]";
  // The same unreachable endpoint behind a long connect timeout cut short by the try's time
  // (504, the proxy gave up), and behind a short connect timeout (502, unreachable).
  start(
      "listeners:\n"
      "  - {name: short_try, listen: \"127.0.0.1:0\", protocol: http, cluster: patient,\n"
      "     retries: 0, per_try_timeout: 200ms}\n"
      "  - {name: short_connect, listen: \"127.0.0.1:0\", protocol: http, cluster: hasty,\n"
      "     retries: 0}\n"
      "clusters:\n"
      "  - {name: patient, connect_timeout: 10s, endpoints: " +
          unreachable_list +
          "}\n"
          "  - {name: hasty, connect_timeout: 100ms, endpoints: " +
          unreachable_list + "}\n",
      {"--workers", "1"});
  HttpResult cut = http(proxy_->port("short_try"), "GET", "/");
  EXPECT_EQ(cut.status, 504) << cut.body;
  EXPECT_NE(cut.body.find("timed out"), std::string::npos) << cut.body;
  HttpResult unreachable = http(proxy_->port("short_connect"), "GET", "/");
  EXPECT_EQ(unreachable.status, 502) << unreachable.body;
}

// A WebSocket echo server of python3-websockets (tests/ws_peer.py) on a free port.
class WebSocketServer {
 public:
  WebSocketServer() {
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_port();
      SpawnOptions o;
      o.argv = {"/usr/bin/python3", TENDER_TESTS_DIR "/ws_peer.py", "serve", std::to_string(port_)};
      o.stdout_ = Stdio::null();
      auto p = Process::spawn(o);
      if (!p) {
        throw std::runtime_error("cannot start ws_peer.py: " + p.error().message());
      }
      process_.emplace(std::move(*p));
      if (!eventually([&] { return !connect_refused(port_); }, 10s)) {
        process_.reset();
      }
    }
    if (!process_) {
      throw std::runtime_error("the WebSocket server did not start");
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_ = 0;
  std::optional<Process> process_;
};

TEST_F(ProxyTest, HttpWebSocketRoundTripsThroughTheProxy) {
  // python3-websockets at both ends: the real handshake, masked frames, messages from one byte
  // to 300 KB, a message from the server first, and a clean close.
  WebSocketServer server;
  start(one_endpoint_http(server.port()), {"--workers", "1"});
  std::string url = "ws://127.0.0.1:" + std::to_string(proxy_->port("front")) + "/chat";
  RunResult r =
      run_command({"/usr/bin/python3", TENDER_TESTS_DIR "/ws_peer.py", "client", url}, "", 60s);
  EXPECT_TRUE(r.status.success()) << r.out << r.err;
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

TEST_F(ProxyTest, HttpUpgradeTunnelCarriesEarlyBytesAndHalfCloses) {
  // The server answers 101 with its first bytes in the same write, reads until the proxy
  // passes on the client's half-close, then answers with everything it got and closes.
  std::string head_seen;
  RawServer upstream([&](int fd) {
    head_seen = read_head(fd);
    std::string got = head_seen.substr(head_seen.find("\r\n\r\n") + 4);  // bytes after the head
    write_all(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nX-Server: s\r\n\r\nserver-first;");
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    write_all(fd, "got:" + got);
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  // Bytes for the new protocol right behind the request head, in the same write.
  ASSERT_TRUE(
      c.send("GET /t HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
             "Upgrade: websocket\r\n\r\nearly;"));
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0U) << head;
  EXPECT_NE(head.find("Upgrade: websocket\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: Upgrade\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Server: s\r\n"), std::string::npos) << head;
  EXPECT_EQ(c.read_until(";"), "server-first;");
  ASSERT_TRUE(c.send("more;"));
  c.shutdown_send();
  EXPECT_EQ(c.read_until("never"), "got:early;more;");
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_NE(head_seen.find("Connection: Upgrade\r\nUpgrade: websocket\r\n"), std::string::npos)
      << head_seen;
  EXPECT_NE(head_seen.find("X-Forwarded-For: 127.0.0.1\r\n"), std::string::npos) << head_seen;
  // Every byte to and from the server counted once: the request head and the client's bytes;
  // the 101 head with the bytes that came with it, and the server's last answer.
  std::size_t up_head = head_seen.find("\r\n\r\n") + 4;
  std::string sent = std::to_string(up_head + std::string("early;more;").size());
  std::string received = std::to_string(
      std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nX-Server: s\r\n\r\nserver-first;got:early;more;")
          .size());
  std::string ep = "endpoint=\"127.0.0.1:" + std::to_string(upstream.port()) + "\"";
  std::string metrics;
  EXPECT_TRUE(eventually(
      [&] {
        metrics = proxy_metrics();
        return metrics.find("{cluster=\"up\"," + ep + ",direction=\"sent\"} " + sent + "\n") !=
                   std::string::npos &&
               metrics.find("{cluster=\"up\"," + ep + ",direction=\"received\"} " + received +
                            "\n") != std::string::npos;
      },
      5s))
      << "want sent " << sent << ", received " << received << "\n"
      << metrics;
}

TEST_F(ProxyTest, HttpUpgradeDeclinedIsAnOrdinaryResponse) {
  // A server that does not switch answers 200: the client gets it, and its connection carries
  // the next request as usual. An h2c upgrade is not passed on at all (after it, the client
  // could send the server requests that routing never saw).
  RawServer upstream([](int fd) {
    for (int i = 0; i < 4; ++i) {
      std::string got = read_head(fd);
      if (got.empty()) {
        return;
      }
      std::string body = got.find("Upgrade: ") != std::string::npos ? "asked" : "plain";
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body);
    }
  });
  start(one_endpoint_http(upstream.port()), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send(request_bytes("GET", "/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}})));
  HttpResult declined = c.read_response();
  EXPECT_EQ(declined.status, 200);
  EXPECT_EQ(declined.body, "asked");
  ASSERT_TRUE(c.send(request_bytes(
      "GET", "/h2", {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}})));
  HttpResult h2c = c.read_response();
  EXPECT_EQ(h2c.status, 200);
  EXPECT_EQ(h2c.body, "plain");
  // A WebSocket handshake is a GET (RFC 6455): a POST asking for one goes as it is, without.
  ASSERT_TRUE(c.send(
      request_bytes("POST", "/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, "body")));
  HttpResult post = c.read_response();
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "plain");
  ASSERT_TRUE(c.send(request_bytes("GET", "/next")));
  HttpResult next = c.read_response();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "plain");
}

TEST_F(ProxyTest, HttpUpgradeToAnotherProtocolThanAskedIsA502) {
  RawServer upstream([](int fd) {
    read_head(fd);
    write_all(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  HttpResult r = http(proxy_->port("front"), "GET", "/ws",
                      {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("something else than websocket"), std::string::npos) << r.body;
}

TEST_F(ProxyTest, HttpUpgradeTunnelEndsAfterIdleTimeout) {
  // The 101 comes alone; one exchange of bytes follows, then nothing.
  static constexpr std::string_view k101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::atomic<bool> server_saw_end{false};
  std::atomic<std::size_t> up_head{0};
  RawServer upstream([&](int fd) {
    up_head = read_head(fd).size();
    write_all(fd, std::string(k101));
    char buf[64];
    while (::read(fd, buf, sizeof buf) > 0) {
      write_all(fd, "x");
    }
    server_saw_end = true;
  });
  start(one_endpoint_http(upstream.port(), ", idle_timeout: 300ms"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send(request_bytes("GET", "/", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}})));
  EXPECT_EQ(c.read_until("\r\n\r\n").rfind("HTTP/1.1 101 ", 0), 0U);
  ASSERT_TRUE(c.send("go"));
  EXPECT_EQ(c.read_until("x"), "x");
  // Nothing moves either way: the proxy ends both sides.
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(eventually([&] { return server_saw_end.load(); }, 10s));
  // Bytes read after the 101 count too.
  std::string ep = "{cluster=\"up\",endpoint=\"127.0.0.1:" + std::to_string(upstream.port()) + "\"";
  std::string metrics = proxy_metrics();
  EXPECT_NE(metrics.find(ep + ",direction=\"received\"} " + std::to_string(k101.size() + 1) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(ep + ",direction=\"sent\"} " + std::to_string(up_head + 2) + "\n"),
            std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, HttpUpgradeTunnelKeepsASlowReader) {
  // After its 101 the server sends 192 KiB at once, then answers "ping" with "pong".
  static constexpr std::size_t kBulk = 192 * 1024;
  static constexpr std::string_view k101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  RawServer upstream([](int fd) {
    read_head(fd);
    write_all(fd, std::string(k101) + std::string(kBulk, 'b'));
    while (read_until(fd, "ping")) {
      write_all(fd, "pong");
    }
  });
  start(one_endpoint_http(upstream.port(), ", idle_timeout: 500ms"), {"--workers", "1"});
  // The client reads the whole over about 1.5 s, far longer than idle_timeout, with a
  // window small enough that the proxy's write waits for it all along: that is not idle.
  int fd = connect_loopback(proxy_->port("front"), 15s, 4096);
  ASSERT_GE(fd, 0);
  write_all(fd, request_bytes("GET", "/", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}}));
  EXPECT_TRUE(read_slowly(fd, k101.size() + kBulk));
  write_all(fd, "ping");
  EXPECT_TRUE(read_until(fd, "pong"));
  ::close(fd);
}

TEST_F(ProxyTest, HttpRequestHeadMustArriveWithinIdleTimeoutOfItsFirstByte) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    idle_timeout: 500ms\n", ""), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  // A byte every 100 ms keeps each read well within idle_timeout, but not the head as a whole.
  int sent = 0;
  bool closed = false;
  while (!closed && sent < 40) {
    closed = !c.send("a") || c.closed_by_peer(100ms);
    ++sent;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, 20);  // closed about 0.5 s in, not after 4 s of trickling
}

TEST_F(ProxyTest, HttpUpstreamFramingsAndGarbage) {
  // Answers by path: /chunked (chunked, after a 103), /close (no length: read until close),
  // anything else with bytes that are not HTTP.
  RawServer upstream([](int fd) {
    std::string got = read_head(fd);
    if (got.empty()) {
      return;
    }
    if (got.rfind("GET /chunked", 0) == 0) {
      write_all(fd,
                "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n");
    } else if (got.rfind("GET /close", 0) == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    } else {
      write_all(fd, "SMTP ready, not HTTP\r\n\r\n");
    }
  });
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: raw, retries: 0}\n"
      "clusters:\n"
      "  - name: raw\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(upstream.port()) +
          "\"]\n"
          "    outlier: {consecutive_failures: 1000}\n",
      {"--workers", "1"});
  auto front = proxy_->port("front");
  Connection c(front);
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));
  std::string chunked = c.read_until("0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << chunked;  // the 103 is not passed on
  EXPECT_NE(chunked.find("\r\n\r\n4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n"), std::string::npos)
      << chunked;
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));  // the client connection goes on
  EXPECT_NE(c.read_until("0\r\n\r\n").find("pedia"), std::string::npos);

  // An HTTP/1.0 client gets the chunked body decoded, ended by closing.
  Connection old(front);
  ASSERT_TRUE(old.send("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::string decoded = old.read_until("\n\n\n");  // nothing like it: reads until closed
  EXPECT_NE(decoded.find("Connection: close\r\n"), std::string::npos) << decoded;
  EXPECT_EQ(decoded.substr(decoded.find("\r\n\r\n") + 4), "Wikipedia ");

  // A body that runs until the server closes reaches the client, which is closed after it.
  Connection until(front);
  ASSERT_TRUE(until.send(request_bytes("GET", "/close")));
  std::string all = until.read_until("\n\n\n");
  EXPECT_EQ(all.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << all;
  EXPECT_EQ(all.substr(all.find("\r\n\r\n") + 4), "until the end");

  // Garbage from the upstream is a 502 for that request; the proxy goes on serving.
  HttpResult bad = http(front, "GET", "/garbage");
  EXPECT_EQ(bad.status, 502);
  EXPECT_NE(bad.body.find("malformed"), std::string::npos) << bad.body;
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));
  EXPECT_NE(c.read_until("0\r\n\r\n").find("Wiki"), std::string::npos);
  EXPECT_EQ(http(proxy_->port("admin"), "GET", "/healthz").status, 200);
}

TEST_F(ProxyTest, HttpStreamedBodiesAreSafe) {
  // Answers every request with what it received, then closes the connection: the proxy's
  // pooled connection is dead by the next request.
  RawServer upstream([](int fd) {
    std::string got = read_request(fd);
    if (!got.empty()) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(got.size()) +
                        "\r\n\r\n" + got);
    }
  });
  start(one_endpoint_http(upstream.port(), ", timeout: 500ms"), {"--workers", "1"});
  auto front = proxy_->port("front");
  // A streamed PUT (over 64 KiB) after the pooled connection died: sent on a fresh one.
  ASSERT_EQ(http(front, "GET", "/first").status, 200);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 1; }));
  std::string big(100 * 1024, 'p');
  HttpResult put = http(front, "PUT", "/big", {}, big);
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find(big), std::string::npos);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 2; }));

  // A chunked body goes on re-encoded: no extensions, CRLF only, its trailer passed on.
  Connection c(front);
  ASSERT_TRUE(
      c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"));
  HttpResult chunked = c.read_response();
  ASSERT_EQ(chunked.status, 200);
  EXPECT_NE(chunked.body.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(chunked.body.find("\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), std::string::npos)
      << chunked.body;
  EXPECT_EQ(chunked.body.find("ext"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 3; }));

  // A chunk line ended by a bare LF is refused, not passed on for the upstream to read its way.
  Connection bad(front);
  ASSERT_TRUE(
      bad.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\nabc\r\n0\r\n\r\n"));
  EXPECT_EQ(bad.read_response().status, 400);

  // A client slower than `timeout` to send its body: the time is the client's, not the
  // upstream's, and the endpoint is not charged a timeout.
  Connection slow(front);
  ASSERT_TRUE(slow.send("PUT /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                        std::string(70000, 's')));
  std::this_thread::sleep_for(800ms);  // the pause under test, longer than `timeout`
  EXPECT_TRUE(slow.send(std::string(30000, 's')));
  HttpResult sr = slow.read_response();
  EXPECT_EQ(sr.status, 200) << sr.body;
  std::string metrics = proxy_metrics();
  auto at = metrics.find("tender_proxy_upstream_errors_total{cluster=\"up\"");
  ASSERT_NE(at, std::string::npos);
  std::string errors = metrics.substr(at, metrics.find("\n# ", at) - at) + "\n";
  for (const char* kind : {"timeout", "reset", "protocol"}) {
    EXPECT_NE(errors.find("kind=\"" + std::string(kind) + "\"} 0\n"), std::string::npos) << errors;
  }
}

TEST_F(ProxyTest, HttpPooledConnectionsToEndpointsThatLeftAreClosed) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  auto line = [](const Tender& b) {
    return "127.0.0.1:" + std::to_string(b.port("listen")) + "\n";
  };
  std::string list = dir_.write("web.txt", line(b1) + line(b2));
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, file: \"" +
          list + "\"}\n",
      {"--workers", "1"});
  // A backend's open connections, from its own metrics.
  auto open = [](const Tender& b) {
    std::string m = http(b.port("admin"), "GET", "/metrics").body;
    auto at = m.find("\ntender_echo_http_connections ");
    return at == std::string::npos ? -1.0 : std::stod(m.substr(at + 30));
  };
  Connection c(proxy_->port("front"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/")));
    ASSERT_EQ(c.read_response().status, 200);
  }
  ASSERT_TRUE(eventually([&] { return open(b2) >= 1; }));
  dir_.write("web.txt", line(b1));
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    return cs.at(0).at("endpoints").as_array().size() == 1;
  }));
  ASSERT_TRUE(c.send(request_bytes("GET", "/")));  // the next request to the cluster prunes
  auto r = c.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("id").as_string(), "b1");
  EXPECT_TRUE(eventually([&] { return open(b2) == 0; }));
}

// --- config ------------------------------------------------------------------------------------

TEST_F(ProxyTest, CheckValidatesAndNamesTheLine) {
  std::string good =
      dir_.write("good.yaml",
                 "listeners:\n"
                 "  - {name: l, listen: \"127.0.0.1:0\", protocol: tcp, cluster: c}\n"
                 "clusters:\n"
                 "  - {name: c, endpoints: [\"127.0.0.1:1\"]}\n");
  RunResult ok = run_tender({"proxy", "--check", good});
  EXPECT_EQ(ok.status.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("ok: 1 listener(s), 1 cluster(s)"), std::string::npos);
  std::string bad = dir_.write("bad.yaml",
                               "listeners:\n"
                               "  - {name: l, listen: \"127.0.0.1:0\", protocol: tcp, cluster: c}\n"
                               "clusters:\n"
                               "  - name: c\n"
                               "    endpoints: [\"127.0.0.1:1\"]\n"
                               "    policy: fastest\n");
  RunResult r = run_tender({"proxy", "--check", bad});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("bad.yaml:6: clusters[0].policy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("policy"), std::string::npos) << r.err;
  RunResult none = run_tender({"proxy", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(none.status.code, 2);
}

TEST_F(ProxyTest, OneLinerRedis) {
  RedisServer a, b;
  proxy_.emplace(std::vector<std::string>{
      "proxy", "--listen", "127.0.0.1:0", "--redis", "--to",
      "127.0.0.1:" + std::to_string(a.port()) + ",127.0.0.1:" + std::to_string(b.port()), "--admin",
      "127.0.0.1:0"});
  RespClient client(proxy_->port("main"));
  EXPECT_EQ(client.call({"SET", "x", "1"}), "+OK\r\n");
  EXPECT_EQ(client.call({"GET", "x"}), "$1\r\n1\r\n");
  auto c = first_cluster();
  EXPECT_EQ(c.at("policy").as_string(), "ring_hash");
  EXPECT_EQ(c.at("endpoints").as_array().size(), 2U);
}

TEST_F(ProxyTest, BusyPollComesFromTheFileOrTheFlagAndReloads) {
  RedisServer a;
  start("busy_poll: 1ms\n" + one_redis_shard(a), {"--workers", "1"});
  auto configz = [&] {
    return json::parse(http(proxy_->port("admin"), "GET", "/configz").body).at("config");
  };
  EXPECT_EQ(configz().at("busy_poll").as_string(), "1000us");
  // Work found while looking is counted as such: the worker did not sleep for it.
  auto polled = [&] {
    return proxy_metric("tender_proxy_worker_wakeups_total{worker=\"0\",by=\"poll\"}");
  };
  RespClient client(proxy_->port("cache"));
  // On a loaded machine every look for a while may let other threads run and end in a sleep;
  // some commands are found by looking all the same.
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 300; ++i) {
      if (client.call({"PING"}) != "+PONG\r\n") {
        return false;
      }
    }
    return polled() > 0.0;
  }));
  // A reload turns it off: from then on the worker sleeps whenever it runs out of work.
  dir_.write("proxy.yaml", one_redis_shard(a));
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return configz().at("busy_poll").as_string() == "0us"; }));
  // One command for a look that was under way at the reload; a wake-up is counted just after
  // its handler ran, so the last one may land after a reply has been read: one more at most.
  ASSERT_EQ(client.call({"PING"}), "+PONG\r\n");
  double before = polled();
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(client.call({"PING"}), "+PONG\r\n");
  }
  EXPECT_LE(polled(), before + 1);
  // The flag wins over the file, at a reload too; out of range is a usage error.
  proxy_.reset();
  start("busy_poll: 1ms\n" + one_redis_shard(a), {"--workers", "1", "--busy-poll", "20us"});
  EXPECT_EQ(configz().at("busy_poll").as_string(), "20us");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return proxy_metrics().find("tender_proxy_config_reloads_total{result=\"ok\"} 1") !=
           std::string::npos;
  }));
  EXPECT_EQ(configz().at("busy_poll").as_string(), "20us");
  RunResult bad = run_tender({"proxy", "--busy-poll", "5ms", "--listen", "127.0.0.1:0", "--to",
                              "127.0.0.1:1", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(bad.status.code, 2);
  EXPECT_NE(bad.err.find("--busy-poll: not a duration from 0 to 1000us: \"5ms\""),
            std::string::npos)
      << bad.err;
}

TEST_F(ProxyTest, ThreadsAreNamedForPsAndTop) {
  RedisServer a;
  start(one_redis_shard(a), {"--workers", "2"});
  std::multiset<std::string> names;
  std::string task_dir = "/proc/" + std::to_string(proxy_->pid()) + "/task";
  auto look = [&] {
    names.clear();
    for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    // Each thread names itself once it runs.
    return names.count("proxy-worker-0") == 1 && names.count("proxy-worker-1") == 1 &&
           names.count("proxy-control") == 1 && names.count("http-worker-0") == 1;
  };
  EXPECT_TRUE(eventually(look)) << ::testing::PrintToString(names);
  EXPECT_EQ(names.count("proxy-worker-2"), 0U);  // two workers, as asked
}

}  // namespace
}  // namespace tender::testing

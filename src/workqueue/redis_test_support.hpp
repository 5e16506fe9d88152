#pragma once
// What the Redis store's own tests share: a redis-server of their own (started on a free port
// of 127.0.0.1 without persistence, ready once it answers PING, killed when destroyed),
// synchronous calls of a Store, and a fixture whose stores use the test's own key prefix on
// one server per test binary.
//
//   RedisServer server({"--requirepass", "pw"});
//   auto store = open_redis_store(server.url("prefix:"), settings);

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/process.hpp"
#include "free_port.hpp"
#include "workqueue/redis_store.hpp"

// Designated initializers name only the fields a test sets.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tender::workqueue::redis_testing {

using tender::testing::free_port;

using namespace std::chrono_literals;

// Polls `cond` every few milliseconds until it holds or 10 s pass.
inline bool eventually(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

// A redis-server of the test's own on a free port; ready once it answers PING.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_port();
      start();
    }
    if (!process_) {
      throw std::runtime_error("redis-server did not start");
    }
  }
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& prefix) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/0?prefix=" + prefix;
  }
  void stop() { process_.reset(); }
  // Starts it again on the same port, empty (it keeps nothing). Throws if it does not start.
  void restart() {
    stop();
    start();
    if (!process_) {
      throw std::runtime_error("redis-server did not start again");
    }
  }
  // One command on a fresh connection: a string or status reply's text, "(integer) N",
  // "(error) ..." or "(nil)".
  std::string command(const std::vector<std::string>& argv) const {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) {
        redisFree(c);
      }
      return "(error) cannot connect";
    }
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
    std::string out = "(error) no reply";
    if (r != nullptr) {
      if (r->type == REDIS_REPLY_INTEGER) {
        out = "(integer) " + std::to_string(r->integer);
      } else if (r->type == REDIS_REPLY_NIL) {
        out = "(nil)";
      } else if (r->str != nullptr) {
        out = (r->type == REDIS_REPLY_ERROR ? "(error) " : "") + std::string(r->str, r->len);
      }
      freeReplyObject(r);
    }
    redisFree(c);
    return out;
  }

 private:
  void start() {
    SpawnOptions o;
    o.argv = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
              "--save",       "",       "--appendonly",        "no"};
    o.argv.insert(o.argv.end(), extra_.begin(), extra_.end());
    o.stdout_ = Stdio::null();
    o.stderr_ = Stdio::null();
    auto p = Process::spawn(o);
    if (!p) {
      throw std::runtime_error("cannot start redis-server: " + p.error().message());
    }
    process_.emplace(std::move(*p));
    // Any answer (a NOAUTH error too) means the server is up.
    if (!eventually(
            [&] { return command({"PING"}).find("cannot connect") == std::string::npos; })) {
      process_.reset();
    }
  }

  std::vector<std::string> extra_;
  std::uint16_t port_ = 0;
  std::optional<Process> process_;
};

// One redis-server for the whole test binary, started on first use.
inline RedisServer& shared_redis_server() {
  static auto* server = new RedisServer();
  return *server;
}

// Calls `start` with a Done and waits for its one answer.
template <class T, class F>
Result<T> answer(F start) {
  auto p = std::make_shared<std::promise<Result<T>>>();
  auto f = p->get_future();
  start([p](Result<T> r) { p->set_value(std::move(r)); });
  return f.get();
}

// Synchronous calls of a Store, for tests.
struct Sync {
  Store& s;

  Result<std::vector<Enqueued>> enqueue(const std::string& q, std::vector<NewItem> items) {
    return answer<std::vector<Enqueued>>(
        [&](auto done) { s.enqueue(q, std::move(items), std::move(done)); });
  }
  std::uint64_t push(const std::string& q, std::string payload, int priority = 0) {
    auto r = enqueue(q, {NewItem{.payload = std::move(payload), .priority = priority}});
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->at(0).id : 0;
  }
  Result<std::vector<Leased>> lease(const std::string& q, LeaseOptions o = {}) {
    return answer<std::vector<Leased>>([&](auto done) { s.lease(q, o, std::move(done)); });
  }
  Leased lease_one(const std::string& q, std::optional<Millis> ttl = std::nullopt) {
    auto r = lease(q, {.n = 1, .ttl = ttl});
    EXPECT_TRUE(r && r->size() == 1);
    return r && r->size() == 1 ? r->front() : Leased{};
  }
  Result<ItemView> ack(const Leased& l, std::string result = "") {
    return answer<ItemView>(
        [&](auto done) { s.ack(l.id, l.lease_id, std::move(result), std::move(done)); });
  }
  Result<NackOutcome> nack(const Leased& l, std::string error,
                           std::optional<Millis> delay = std::nullopt) {
    return answer<NackOutcome>(
        [&](auto done) { s.nack(l.id, l.lease_id, std::move(error), delay, std::move(done)); });
  }
  Result<WallTime> extend(const Leased& l, Millis ttl) {
    return answer<WallTime>([&](auto done) { s.extend(l.id, l.lease_id, ttl, std::move(done)); });
  }
  Result<ItemView> bury(const Leased& l, std::string error) {
    return answer<ItemView>(
        [&](auto done) { s.bury(l.id, l.lease_id, std::move(error), std::move(done)); });
  }
  Result<ItemView> get(std::uint64_t id, bool with_payload = true) {
    return answer<ItemView>([&](auto done) { s.get(id, with_payload, std::move(done)); });
  }
  Result<QueueInfo> queue(const std::string& q) {
    return answer<QueueInfo>([&](auto done) { s.queue(q, std::move(done)); });
  }
  Result<std::vector<QueueInfo>> queues() {
    return answer<std::vector<QueueInfo>>([&](auto done) { s.queues(std::move(done)); });
  }
  Result<QueueInfo> set_paused(const std::string& q, bool paused) {
    return answer<QueueInfo>([&](auto done) { s.set_paused(q, paused, std::move(done)); });
  }
  Result<std::vector<ItemView>> dead(const std::string& q, std::uint64_t after = 0,
                                     std::size_t limit = 100) {
    return answer<std::vector<ItemView>>(
        [&](auto done) { s.dead(q, after, limit, std::move(done)); });
  }
  Result<std::uint64_t> requeue(const std::string& q, std::optional<std::uint64_t> id) {
    return answer<std::uint64_t>([&](auto done) { s.requeue_dead(q, id, std::move(done)); });
  }
  Result<std::uint64_t> purge(const std::string& q, std::optional<std::uint64_t> id) {
    return answer<std::uint64_t>([&](auto done) { s.purge_dead(q, id, std::move(done)); });
  }
};

inline Errc errc(const Error& e) { return static_cast<Errc>(e.code().value()); }

// Expects `result` to be an error of the store's category with Errc `want`.
#define EXPECT_ERRC(result, want)                                \
  do {                                                           \
    auto&& r_ = (result);                                        \
    ASSERT_FALSE(r_) << "expected an error";                     \
    EXPECT_EQ(errc(r_.error()), (want)) << r_.error().message(); \
    EXPECT_EQ(&r_.error().code().category(), &category());       \
  } while (false)

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test's name and run: repeated runs (--gtest_repeat) see none of the last one's keys.
    static std::atomic<int> runs{0};
    prefix_ = std::string("t:") + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
              ":" + std::to_string(::getpid()) + "." + std::to_string(++runs) + ":";
  }

  // A store on this test's own key prefix (stores of one test share it); `params` are more
  // url parameters ("&poll_ms=...").
  std::unique_ptr<Store> open(StoreSettings settings = {}, const std::string& params = "") {
    auto store = open_redis_store(shared_redis_server().url(prefix_) + params, std::move(settings));
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  std::string prefix_;
};

}  // namespace tender::workqueue::redis_testing

// The Redis store: validation and argument lists in C++, each state change one Lua script
// (redis_scripts.cpp), run on RedisCore's pool; lease waits in RedisCore.
#include "workqueue/redis_store.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <random>
#include <utility>

#include "workqueue/redis_conn.hpp"
#include "workqueue/redis_core.hpp"
#include "workqueue/redis_reply.hpp"
#include "workqueue/redis_scripts.hpp"

namespace tender::workqueue {
namespace {

using redis::is_info;
using redis::LeaseBatch;
using redis::number;
using redis::parse_info;
using redis::parse_state;
using redis::parse_view;
using redis::RedisConn;
using redis::RedisCore;
using redis::run_script;
using redis::ScriptId;
using redis::text;
using redis::unexpected;
using redis::wall_ms;
using namespace std::chrono_literals;

constexpr Millis kMaxDelay = std::chrono::days(30);
constexpr Millis kMaxTtl = std::chrono::hours(12);
constexpr Millis kMaxWait = std::chrono::hours(1);
constexpr std::size_t kMaxIdempotencyKey = 256;
constexpr std::size_t kMaxLeaseCount = 1000;
constexpr std::size_t kMaxDeadLimit = 1000;

// A fresh lease id: 128 random bits in hex.
std::string new_lease_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int word = 0; word < 2; ++word) {
    std::uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      out.push_back(kHex[bits & 0xf]);
      bits >>= 4;
    }
  }
  return out;
}

Error invalid(std::string message) { return queue_error(Errc::kInvalid, std::move(message)); }
// Reads never create a queue, and a name that is not valid names none.
Error no_queue(const std::string& name) { return queue_error(Errc::kNoQueue, "no queue " + name); }

class RedisStore final : public Store {
 public:
  RedisStore(redis::RedisAddress address, StoreSettings settings)
      : address_(std::move(address)), settings_(std::move(settings)) {}
  ~RedisStore() override { close(); }
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  void start(std::unique_ptr<RedisConn> first) {
    redis::Leaser leaser{
        .lease = [this](RedisConn& c, const std::string& q, std::size_t n,
                        Millis ttl) { return lease_now(c, q, n, ttl); },
        .release = [this](RedisConn& c, const std::vector<Leased>& items) { release(c, items); },
    };
    core_ = std::make_shared<RedisCore>(address_, *settings_.clock, std::move(leaser));
    core_->set_sweep([this](RedisConn& c) { sweep(c); });
    core_->start(std::move(first));
  }

  std::string describe() const override { return address_.describe(); }

  void enqueue(std::string queue, std::vector<NewItem> items,
               Done<std::vector<Enqueued>> done) override;
  CancelWait lease(std::string queue, LeaseOptions options,
                   Done<std::vector<Leased>> done) override;
  void ack(std::uint64_t id, std::string lease_id, std::string result,
           Done<ItemView> done) override;
  void nack(std::uint64_t id, std::string lease_id, std::string error, std::optional<Millis> delay,
            Done<NackOutcome> done) override;
  void extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) override;
  void release(std::uint64_t id, std::string lease_id, Done<ItemView> done) override;
  void bury(std::uint64_t id, std::string lease_id, std::string error,
            Done<ItemView> done) override;
  void get(std::uint64_t id, bool with_payload, Done<ItemView> done) override;
  void queues(Done<std::vector<QueueInfo>> done) override;
  void queue(std::string name, Done<QueueInfo> done) override;
  void set_paused(std::string name, bool paused, Done<QueueInfo> done) override;
  void dead(std::string queue, std::uint64_t after, std::size_t limit,
            Done<std::vector<ItemView>> done) override;
  void requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                    Done<std::uint64_t> done) override;
  void purge_dead(std::string queue, std::optional<std::uint64_t> id,
                  Done<std::uint64_t> done) override;

  StoreStats stats() const override {
    return {.commits = commits_.load(),
            .committed_writes = committed_writes_.load(),
            .expired_leases = expired_leases_.load(),
            .largest_batch = largest_batch_.load()};
  }
  void set_commit_observer(CommitObserver observer) override { observer_ = std::move(observer); }
  void close() override {
    if (core_) {
      core_->close();
    }
  }

 private:
  // Runs `fn` on a pool thread and answers its result; kUnavailable once closed.
  template <class T>
  void run(Done<T> done, std::function<Result<T>(RedisConn&)> fn) {
    auto task = [done, fn = std::move(fn)](RedisConn& conn) { done(fn(conn)); };
    if (!core_->post(std::move(task))) {
      done(queue_error(Errc::kUnavailable, "the queue store is closed"));
    }
  }
  // ARGV[1] and [2] of every script.
  std::vector<std::string> args() const {
    return {address_.prefix, std::to_string(settings_.retention.count())};
  }
  const QueueSettings& settings_for(std::string_view queue) const {
    auto it = settings_.declared.find(queue);
    return it == settings_.declared.end() ? settings_.defaults : it->second;
  }
  std::string declared(std::string_view queue) const {
    return settings_.declared.contains(queue) ? "1" : "0";
  }
  std::string cut(std::string s) const {
    if (s.size() > settings_.max_result_bytes) {
      s.resize(settings_.max_result_bytes);
    }
    return s;
  }
  // Counts one script that wrote, for stats() and the commit observer.
  void committed(std::size_t writes, std::chrono::steady_clock::time_point started) {
    commits_.fetch_add(1);
    committed_writes_.fetch_add(writes);
    if (observer_) {
      observer_(writes, std::chrono::steady_clock::now() - started);
    }
  }
  Result<LeaseBatch> lease_now(RedisConn& conn, const std::string& queue, std::size_t n,
                               Millis ttl);
  void release(RedisConn& conn, const std::vector<Leased>& items);
  void sweep(RedisConn& conn);
  Result<ItemView> finish(RedisConn& conn, ScriptId id, std::uint64_t item, std::string lease_id,
                          std::string text);
  Result<std::uint64_t> dead_action(RedisConn& conn, ScriptId id, const std::string& queue,
                                    std::optional<std::uint64_t> item);
  // The queue's info after `action`: "one" (a read), "pause" or "resume".
  void info(std::string name, std::string action, Done<QueueInfo> done);

  const redis::RedisAddress address_;
  const StoreSettings settings_;
  std::shared_ptr<RedisCore> core_;
  CommitObserver observer_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> committed_writes_{0};
  std::atomic<std::uint64_t> expired_leases_{0};
  std::atomic<std::size_t> largest_batch_{0};
};

Result<> check_item(const NewItem& item, std::size_t index, const std::string& queue,
                    const QueueSettings& settings) {
  // 1-based, as a person counts the items of a batch.
  std::string which = "item " + std::to_string(index + 1) + " of the batch for queue " + queue;
  if (item.priority < -1000 || item.priority > 1000) {
    return invalid(which + ": priority " + std::to_string(item.priority) +
                   " is not in -1000..1000");
  }
  if (item.delay < 0ms || item.delay > kMaxDelay) {
    return invalid(which + ": delay " + std::to_string(item.delay.count()) +
                   " ms is not in 0..30 days");
  }
  if (item.max_attempts && (*item.max_attempts < 1 || *item.max_attempts > 1000)) {
    return invalid(which + ": max_attempts " + std::to_string(*item.max_attempts) +
                   " is not in 1..1000");
  }
  if (item.idempotency_key.size() > kMaxIdempotencyKey) {
    return invalid(which + ": the idempotency key is longer than 256 bytes");
  }
  if (item.payload.size() > settings.max_payload_bytes) {
    return queue_error(Errc::kTooLarge, which + ": the payload of " +
                                            std::to_string(item.payload.size()) +
                                            " bytes is over the queue's max_payload_bytes of " +
                                            std::to_string(settings.max_payload_bytes));
  }
  return {};
}

void RedisStore::enqueue(std::string queue, std::vector<NewItem> items,
                         Done<std::vector<Enqueued>> done) {
  if (auto ok = check_queue_name(queue); !ok) {
    return done(ok.error());
  }
  if (items.empty()) {
    return done(invalid("no items to enqueue"));
  }
  const QueueSettings& qs = settings_for(queue);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (auto ok = check_item(items[i], i, queue, qs); !ok) {
      return done(ok.error());
    }
  }
  auto argv = args();
  argv.insert(argv.end(),
              {queue, declared(queue), settings_.auto_create ? "1" : "0",
               std::to_string(settings_.max_queues), std::to_string(qs.max_items),
               std::to_string(settings_.idempotency_window.count()), std::to_string(items.size())});
  for (auto& item : items) {
    argv.insert(argv.end(), {std::move(item.payload), std::to_string(item.priority),
                             std::to_string(item.delay.count()),
                             std::to_string(item.max_attempts.value_or(qs.max_attempts)),
                             std::move(item.idempotency_key)});
  }
  std::size_t count = items.size();
  run<std::vector<Enqueued>>(
      std::move(done),
      [this, argv = std::move(argv), count,
       queue](RedisConn& conn) -> Result<std::vector<Enqueued>> {
        auto started = std::chrono::steady_clock::now();
        auto r = run_script(conn, ScriptId::kEnqueue, argv);
        if (!r) {
          return r.error();
        }
        if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2 * count) {
          return unexpected("enqueue");
        }
        std::vector<Enqueued> out;
        for (std::size_t i = 0; i < count; ++i) {
          out.push_back({.id = static_cast<std::uint64_t>(number((*r)->element[2 * i])),
                         .created = number((*r)->element[2 * i + 1]) != 0});
        }
        committed(count, started);
        std::size_t largest = largest_batch_.load();
        while (count > largest && !largest_batch_.compare_exchange_weak(largest, count)) {
        }
        core_->wake(queue);
        return out;
      });
}

Result<LeaseBatch> RedisStore::lease_now(RedisConn& conn, const std::string& queue, std::size_t n,
                                         Millis ttl) {
  auto started = std::chrono::steady_clock::now();
  auto argv = args();
  argv.insert(argv.end(), {queue, declared(queue), settings_.auto_create ? "1" : "0",
                           std::to_string(settings_.max_queues), std::to_string(n),
                           std::to_string(ttl.count())});
  for (std::size_t i = 0; i < n; ++i) {
    argv.push_back(new_lease_id());
  }
  auto r = run_script(conn, ScriptId::kLease, argv);
  if (!r) {
    return r.error();
  }
  const redisReply* top = r->get();
  if (top->type != REDIS_REPLY_ARRAY || top->elements != 3 ||
      top->element[2]->type != REDIS_REPLY_ARRAY) {
    return unexpected("lease");
  }
  expired_leases_.fetch_add(static_cast<std::uint64_t>(number(top->element[0])));
  LeaseBatch batch;
  if (auto due = number(top->element[1]); due >= 0) {
    batch.next_due = Millis(due);
  }
  const redisReply* items = top->element[2];
  for (std::size_t i = 0; i < items->elements; ++i) {
    const redisReply* it = items->element[i];
    if (it->type != REDIS_REPLY_ARRAY || it->elements != 8) {
      return unexpected("lease");
    }
    auto e = [&](std::size_t k) { return it->element[k]; };
    batch.items.push_back({.id = static_cast<std::uint64_t>(number(e(0))),
                           .queue = queue,
                           .lease_id = std::string(text(e(1))),
                           .payload = std::string(text(e(2))),
                           .attempt = static_cast<int>(number(e(3))),
                           .max_attempts = static_cast<int>(number(e(4))),
                           .priority = static_cast<int>(number(e(5))),
                           .enqueued = wall_ms(number(e(6))),
                           .lease_expires = wall_ms(number(e(7)))});
  }
  if (!batch.items.empty()) {
    committed(batch.items.size(), started);
  }
  return batch;
}

void RedisStore::release(RedisConn& conn, const std::vector<Leased>& items) {
  auto argv = args();
  for (const auto& item : items) {
    argv.push_back(std::to_string(item.id));
    argv.push_back(item.lease_id);
  }
  // A failure leaves the items leased until their leases expire.
  (void)run_script(conn, ScriptId::kRelease, argv);
}

void RedisStore::sweep(RedisConn& conn) {
  auto r = run_script(conn, ScriptId::kSweep, args());
  if (r && (*r)->type == REDIS_REPLY_INTEGER) {
    expired_leases_.fetch_add(static_cast<std::uint64_t>((*r)->integer));
  }
}

CancelWait RedisStore::lease(std::string queue, LeaseOptions options,
                             Done<std::vector<Leased>> done) {
  if (auto ok = check_queue_name(queue); !ok) {
    done(ok.error());
    return [] {};
  }
  if (options.n < 1 || options.n > kMaxLeaseCount) {
    done(invalid("lease of queue " + queue + ": n " + std::to_string(options.n) +
                 " is not in 1..1000"));
    return [] {};
  }
  Millis ttl = options.ttl.value_or(settings_for(queue).lease_ttl);
  if (ttl < 1ms || ttl > kMaxTtl) {
    done(invalid("lease of queue " + queue + ": ttl_ms must be from 1 ms to 12 hours"));
    return [] {};
  }
  if (options.wait < 0ms || options.wait > kMaxWait) {
    done(invalid("lease of queue " + queue + ": wait_ms must be from 0 to 1 hour"));
    return [] {};
  }
  if (options.wait > 0ms) {
    return core_->wait(queue, options.n, ttl, options.wait, std::move(done));
  }
  run<std::vector<Leased>>(
      std::move(done),
      [this, queue, n = options.n, ttl](RedisConn& conn) -> Result<std::vector<Leased>> {
        auto batch = lease_now(conn, queue, n, ttl);
        if (!batch) {
          return batch.error();
        }
        return std::move(batch->items);
      });
  return [] {};
}

Result<ItemView> RedisStore::finish(RedisConn& conn, ScriptId id, std::uint64_t item,
                                    std::string lease_id, std::string text) {
  auto started = std::chrono::steady_clock::now();
  auto argv = args();
  argv.insert(argv.end(), {std::to_string(item), std::move(lease_id), std::move(text)});
  auto r = run_script(conn, id, argv);
  if (!r) {
    return r.error();
  }
  committed(1, started);
  return parse_view(r->get());
}

void RedisStore::ack(std::uint64_t id, std::string lease_id, std::string result,
                     Done<ItemView> done) {
  run<ItemView>(std::move(done), [this, id, lease_id = std::move(lease_id),
                                  result = cut(std::move(result))](RedisConn& conn) {
    return finish(conn, ScriptId::kAck, id, lease_id, result);
  });
}

void RedisStore::release(std::uint64_t id, std::string lease_id, Done<ItemView> done) {
  run<ItemView>(std::move(done), [this, id, lease_id = std::move(lease_id)](RedisConn& conn) {
    return finish(conn, ScriptId::kGiveBack, id, lease_id, "");
  });
}

void RedisStore::bury(std::uint64_t id, std::string lease_id, std::string error,
                      Done<ItemView> done) {
  run<ItemView>(std::move(done), [this, id, lease_id = std::move(lease_id),
                                  error = cut(std::move(error))](RedisConn& conn) {
    return finish(conn, ScriptId::kBury, id, lease_id, error);
  });
}

void RedisStore::nack(std::uint64_t id, std::string lease_id, std::string error,
                      std::optional<Millis> delay, Done<NackOutcome> done) {
  if (delay && (*delay < 0ms || *delay > kMaxDelay)) {
    return done(invalid("nack of item " + std::to_string(id) + ": delay " +
                        std::to_string(delay->count()) + " ms is not in 0..30 days"));
  }
  run<NackOutcome>(
      std::move(done),
      [this, id, lease_id = std::move(lease_id), error = cut(std::move(error)),
       delay](RedisConn& conn) -> Result<NackOutcome> {
        auto started = std::chrono::steady_clock::now();
        std::string sid = std::to_string(id);
        // The default delay is the item's queue's backoff for its attempt. A queue never
        // changes, and the attempt changes only with a new lease, which the script rejects.
        Millis wait = delay.value_or(0ms);
        if (!delay) {
          auto f = conn.command({"HMGET", address_.prefix + "item:" + sid, "q", "att"});
          if (!f) {
            return f.error();
          }
          if ((*f)->type != REDIS_REPLY_ARRAY || (*f)->elements != 2) {
            return unexpected("nack");
          }
          if ((*f)->element[0]->type != REDIS_REPLY_STRING) {
            return queue_error(Errc::kNoItem, "no item " + sid);
          }
          int attempt = static_cast<int>(std::max<std::int64_t>(1, number((*f)->element[1])));
          wait = settings_for(text((*f)->element[0])).backoff(attempt);
        }
        auto argv = args();
        argv.insert(argv.end(), {sid, lease_id, error, std::to_string(wait.count())});
        auto r = run_script(conn, ScriptId::kNack, argv);
        if (!r) {
          return r.error();
        }
        if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2) {
          return unexpected("nack");
        }
        committed(1, started);
        auto state = parse_state(text((*r)->element[0]));
        if (!state) {
          return state.error();
        }
        NackOutcome out;
        out.state = *state;
        if (*state != State::kDead) {
          out.ready_at = wall_ms(number((*r)->element[1]));
        }
        return out;
      });
}

void RedisStore::extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) {
  if (ttl < 1ms || ttl > kMaxTtl) {
    return done(
        invalid("extend of item " + std::to_string(id) + ": ttl_ms must be from 1 ms to 12 hours"));
  }
  run<WallTime>(
      std::move(done),
      [this, id, lease_id = std::move(lease_id), ttl](RedisConn& conn) -> Result<WallTime> {
        auto started = std::chrono::steady_clock::now();
        auto argv = args();
        argv.insert(argv.end(), {std::to_string(id), lease_id, std::to_string(ttl.count())});
        auto r = run_script(conn, ScriptId::kExtend, argv);
        if (!r) {
          return r.error();
        }
        committed(1, started);
        return wall_ms(number(r->get()));
      });
}

void RedisStore::get(std::uint64_t id, bool with_payload, Done<ItemView> done) {
  run<ItemView>(std::move(done), [this, id, with_payload](RedisConn& conn) -> Result<ItemView> {
    auto argv = args();
    argv.insert(argv.end(), {std::to_string(id), with_payload ? "1" : "0"});
    auto r = run_script(conn, ScriptId::kGet, argv);
    if (!r) {
      return r.error();
    }
    return parse_view(r->get());
  });
}

void RedisStore::queues(Done<std::vector<QueueInfo>> done) {
  run<std::vector<QueueInfo>>(
      std::move(done), [this](RedisConn& conn) -> Result<std::vector<QueueInfo>> {
        auto argv = args();
        argv.emplace_back("all");
        for (const auto& [name, qs] : settings_.declared) {
          argv.push_back(name);
        }
        auto r = run_script(conn, ScriptId::kInfo, argv);
        if (!r) {
          return r.error();
        }
        if ((*r)->type != REDIS_REPLY_ARRAY) {
          return unexpected("queues");
        }
        std::vector<QueueInfo> out;
        for (std::size_t i = 0; i < (*r)->elements; ++i) {
          const redisReply* q = (*r)->element[i];
          if (!is_info(q)) {
            return unexpected("queues");
          }
          out.push_back(parse_info(q, settings_for(text(q->element[0]))));
        }
        std::sort(out.begin(), out.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        return out;
      });
}

void RedisStore::queue(std::string name, Done<QueueInfo> done) {
  info(std::move(name), "one", std::move(done));
}

void RedisStore::set_paused(std::string name, bool paused, Done<QueueInfo> done) {
  info(std::move(name), paused ? "pause" : "resume", std::move(done));
}

void RedisStore::info(std::string name, std::string action, Done<QueueInfo> done) {
  if (!check_queue_name(name)) {
    return done(no_queue(name));
  }
  run<QueueInfo>(
      std::move(done),
      [this, name = std::move(name),
       action = std::move(action)](RedisConn& conn) -> Result<QueueInfo> {
        auto started = std::chrono::steady_clock::now();
        auto argv = args();
        argv.insert(argv.end(), {action, name, declared(name)});
        auto r = run_script(conn, ScriptId::kInfo, argv);
        if (!r) {
          return r.error();
        }
        if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 1 || !is_info((*r)->element[0])) {
          return unexpected("queue " + name);
        }
        if (action != "one") {
          committed(1, started);
        }
        return parse_info((*r)->element[0], settings_for(name));
      });
}

void RedisStore::dead(std::string queue, std::uint64_t after, std::size_t limit,
                      Done<std::vector<ItemView>> done) {
  if (!check_queue_name(queue)) {
    return done(no_queue(queue));
  }
  if (limit < 1 || limit > kMaxDeadLimit) {
    return done(invalid("dead items of queue " + queue + ": limit " + std::to_string(limit) +
                        " is not in 1..1000"));
  }
  run<std::vector<ItemView>>(
      std::move(done),
      [this, queue = std::move(queue), after,
       limit](RedisConn& conn) -> Result<std::vector<ItemView>> {
        auto argv = args();
        argv.insert(argv.end(),
                    {queue, declared(queue), std::to_string(after), std::to_string(limit)});
        auto r = run_script(conn, ScriptId::kDead, argv);
        if (!r) {
          return r.error();
        }
        if ((*r)->type != REDIS_REPLY_ARRAY) {
          return unexpected("dead items of queue " + queue);
        }
        std::vector<ItemView> out;
        for (std::size_t i = 0; i < (*r)->elements; ++i) {
          auto v = parse_view((*r)->element[i]);
          if (!v) {
            return v.error();
          }
          out.push_back(std::move(*v));
        }
        return out;
      });
}

Result<std::uint64_t> RedisStore::dead_action(RedisConn& conn, ScriptId id,
                                              const std::string& queue,
                                              std::optional<std::uint64_t> item) {
  // All of them go in rounds of up to 1000, so that no script holds Redis for long.
  std::uint64_t total = 0;
  for (;;) {
    auto started = std::chrono::steady_clock::now();
    auto argv = args();
    argv.insert(argv.end(), {queue, declared(queue), item ? std::to_string(*item) : ""});
    auto r = run_script(conn, id, argv);
    if (!r) {
      return r.error();
    }
    if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2) {
      return unexpected(redis::script_name(id));
    }
    auto n = static_cast<std::uint64_t>(number((*r)->element[0]));
    total += n;
    if (n > 0) {
      committed(n, started);
    }
    if (item || n == 0 || number((*r)->element[1]) == 0) {
      return total;
    }
  }
}

void RedisStore::requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                              Done<std::uint64_t> done) {
  if (!check_queue_name(queue)) {
    return done(no_queue(queue));
  }
  run<std::uint64_t>(std::move(done), [this, queue = std::move(queue), id](RedisConn& conn) {
    auto n = dead_action(conn, ScriptId::kRequeue, queue, id);
    if (n && *n > 0) {
      core_->wake(queue);
    }
    return n;
  });
}

void RedisStore::purge_dead(std::string queue, std::optional<std::uint64_t> id,
                            Done<std::uint64_t> done) {
  if (!check_queue_name(queue)) {
    return done(no_queue(queue));
  }
  run<std::uint64_t>(std::move(done), [this, queue = std::move(queue), id](RedisConn& conn) {
    return dead_action(conn, ScriptId::kPurge, queue, id);
  });
}

}  // namespace

Result<std::unique_ptr<Store>> open_redis_store(const std::string& url, StoreSettings settings) {
  auto address = redis::parse_redis_url(url);
  if (!address) {
    return address.error();
  }
  auto conn = std::make_unique<RedisConn>(*address);
  auto ping = conn->command({"PING"});
  if (!ping) {
    return ping.error();
  }
  if ((*ping)->type == REDIS_REPLY_ERROR) {
    return queue_error(Errc::kUnavailable,
                       address->describe() + ": PING answered " + std::string(text(ping->get())));
  }
  if (!settings.declared.empty()) {
    std::vector<std::string_view> argv = {"SADD"};
    std::string key = address->prefix + "queues";
    argv.push_back(key);
    for (const auto& [name, qs] : settings.declared) {
      argv.push_back(name);
    }
    auto added = conn->command(argv);
    if (!added) {
      return added.error();
    }
    if ((*added)->type == REDIS_REPLY_ERROR) {
      return queue_error(Errc::kUnavailable, address->describe() + ": SADD answered " +
                                                 std::string(text(added->get())));
    }
  }
  auto store = std::make_unique<RedisStore>(*address, std::move(settings));
  store->start(std::move(conn));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tender::workqueue

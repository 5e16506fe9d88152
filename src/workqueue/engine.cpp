#include "workqueue/engine.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/log.hpp"
#include "workqueue/engine_state.hpp"

namespace tender::workqueue {
namespace {

using engine::Meta;
using engine::Queue;
using engine::Waiter;

constexpr Millis kMaxDelay{30LL * 24 * 3600 * 1000};
constexpr std::size_t kMaxKeyBytes = 256;
constexpr std::size_t kSweepBatch = 10'000;

std::int64_t ms_of(WallTime t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

Mutation kind_of(Mutation::Kind kind) {
  Mutation m;
  m.kind = kind;
  return m;
}
Mutation update_of(std::uint64_t id, const Meta& meta) {
  Mutation m = kind_of(Mutation::Kind::kUpdate);
  m.row = engine::row_of(id, meta);
  return m;
}
Mutation delete_of(std::uint64_t id) {
  Mutation m = kind_of(Mutation::Kind::kDelete);
  m.row.id = id;
  return m;
}

Error closed_error() { return queue_error(Errc::kUnavailable, "the store is closed"); }

// Callbacks to run once the engine's lock is released.
using Later = std::vector<std::function<void()>>;

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::unique_ptr<Journal> journal, StoreSettings settings)
      : journal_(std::move(journal)), settings_(std::move(settings)), clock_(*settings_.clock) {}

  ~EngineImpl() override { close(); }

  Result<> open(bool timer_thread) {
    auto loaded = journal_->load();
    if (!loaded) {
      return loaded.error();
    }
    std::unique_lock lk(mu_);
    for (const auto& [name, qs] : settings_.declared) {
      auto& q = queues_[name];
      q.name = name;
      q.settings = qs;
    }
    for (const auto& lq : loaded->queues) {
      queue_for_load(lq.name).paused = lq.paused;
    }
    const std::int64_t now = now_ms();
    for (const auto& row : loaded->items) {
      Meta m;
      m.queue = &queue_for_load(row.queue);
      m.state = row.state;
      m.priority = row.priority;
      m.attempts = row.attempts;
      m.max_attempts = row.max_attempts;
      m.enqueued_ms = row.enqueued_ms;
      m.due_ms = row.due_ms;
      m.finished_ms = row.finished_ms;
      if (row.state == State::kLeased) {
        m.lease = engine::parse_lease(row.lease_id).value_or(std::array<std::uint64_t, 2>{});
      }
      if (m.state == State::kReady && m.due_ms > now) {
        m.state = State::kDelayed;
      }
      auto [it, inserted] = items_.emplace(row.id, m);
      if (inserted) {
        place(row.id, it->second);
      }
    }
    for (auto& [name, q] : queues_) {
      std::sort(q.done.begin(), q.done.end());
    }
    for (const auto& k : loaded->keys) {
      if (k.expires_ms > now) {
        keys_[key_of(k.queue, k.key)] = k.id;
        key_expiry_.emplace(k.expires_ms, key_of(k.queue, k.key));
      }
    }
    last_id_ = loaded->last_id;
    lk.unlock();
    if (timer_thread) {
      timer_ = std::thread([this] { timer_loop(); });
    }
    return {};
  }

  std::string describe() const override { return journal_->describe(); }

  // --- enqueue ---------------------------------------------------------------------------

  void enqueue(std::string queue, std::vector<NewItem> items,
               Done<std::vector<Enqueued>> done) override {
    if (auto ok = check_items(items); !ok) {
      done(ok.error());
      return;
    }
    std::unique_lock lk(mu_);
    Later later;
    auto fail = [&](Error e) {
      lk.unlock();
      done(std::move(e));
    };
    if (closed_) {
      return fail(closed_error());
    }
    std::vector<Mutation> muts;
    auto q = find_queue(queue, true, muts);
    if (!q) {
      return fail(q.error());
    }
    Queue& qu = **q;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].payload.size() > qu.settings.max_payload_bytes) {
        return fail(queue_error(
            Errc::kTooLarge,
            (items.size() > 1 ? "item " + std::to_string(i + 1) + " of the batch: " : "") +
                "a payload of " + std::to_string(items[i].payload.size()) +
                " bytes is over queue " + queue + "'s limit of " +
                std::to_string(qu.settings.max_payload_bytes) + " (max_payload)"));
      }
    }
    const std::int64_t now = now_ms();
    std::vector<Enqueued> answer(items.size());
    std::vector<std::uint64_t> fresh_ids;
    std::vector<std::string> new_keys;
    bool wait_for_others = false;
    std::size_t created = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      NewItem& item = items[i];
      if (!item.idempotency_key.empty()) {
        auto key = key_of(queue, item.idempotency_key);
        if (auto k = keys_.find(key); k != keys_.end()) {
          answer[i] = {k->second, false};
          auto it = items_.find(k->second);
          wait_for_others = wait_for_others || (it != items_.end() && it->second.pending);
          continue;
        }
      }
      ++created;
    }
    if (qu.held() + created > qu.settings.max_items) {
      return fail(queue_error(Errc::kFull, "queue " + queue + " holds " +
                                               std::to_string(qu.held()) + " items; its limit is " +
                                               std::to_string(qu.settings.max_items) +
                                               " (max_items)"));
    }
    std::unordered_map<std::uint64_t, std::string> payloads;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (answer[i].id != 0) {
        continue;
      }
      NewItem& item = items[i];
      const std::uint64_t id = ++last_id_;
      if (!item.idempotency_key.empty()) {
        auto key = key_of(queue, item.idempotency_key);
        if (auto k = keys_.find(key); k != keys_.end()) {  // twice in this batch
          --last_id_;
          answer[i] = {k->second, false};
          continue;
        }
        keys_[key] = id;
        new_keys.push_back(key);
        const std::int64_t expires = now + settings_.idempotency_window.count();
        key_expiry_.emplace(expires, key);
        Mutation km;
        km.kind = Mutation::Kind::kIdempotency;
        km.row.queue = queue;
        km.row.id = id;
        km.key = item.idempotency_key;
        km.expires_ms = expires;
        muts.push_back(std::move(km));
      }
      answer[i] = {id, true};
      Meta m;
      m.queue = &qu;
      m.pending = true;
      m.state = item.delay.count() > 0 ? State::kDelayed : State::kReady;
      m.priority = item.priority;
      m.max_attempts = item.max_attempts.value_or(qu.settings.max_attempts);
      m.enqueued_ms = now;
      m.due_ms = now + item.delay.count();
      items_.emplace(id, m);
      ++qu.pending;
      fresh_ids.push_back(id);
      Mutation im;
      im.kind = Mutation::Kind::kInsert;
      im.row = engine::row_of(id, m);
      im.row.state = State::kReady;
      payloads.emplace(id, item.payload);
      im.payload = std::move(item.payload);
      muts.push_back(std::move(im));
    }
    auto finish = [this, fresh_ids, new_keys, answer, done, payloads = std::move(payloads)](
                      Result<> r, Later& later) mutable {
      Queue* qp = nullptr;
      for (auto id : fresh_ids) {
        auto it = items_.find(id);
        if (it == items_.end()) {
          continue;
        }
        Meta& m = it->second;
        qp = m.queue;
        --m.queue->pending;
        if (r) {
          m.pending = false;
          place(id, m);
        } else {
          items_.erase(it);
        }
      }
      if (!r) {
        for (const auto& k : new_keys) {
          keys_.erase(k);
        }
        if (failed_enqueues_.size() > 100'000) {
          failed_enqueues_.clear();
        }
        failed_enqueues_.insert(fresh_ids.begin(), fresh_ids.end());
        later.push_back([done, e = r.error()] { done(e); });
        return;
      }
      // Ids named by idempotency keys whose first enqueue failed meanwhile are gone.
      for (const auto& a : answer) {
        if (!a.created && failed_enqueues_.contains(a.id)) {
          later.push_back([done] {
            done(queue_error(Errc::kUnavailable,
                             "the earlier enqueue with this idempotency key failed; retry"));
          });
          return;
        }
      }
      later.push_back([done, answer] { done(answer); });
      if (qp != nullptr) {
        serve_waiters(*qp, later, &payloads);
      }
      wake_timer_if_due();
    };
    if (muts.empty() && !wait_for_others) {
      finish(Result<>(), later);
      run(lk, later);
      return;
    }
    submit(lk, std::move(muts), std::move(finish), later);
  }

  // --- lease -------------------------------------------------------------------------------

  CancelWait lease(std::string queue, LeaseOptions options,
                   Done<std::vector<Leased>> done) override {
    if (auto ok = check_lease(options); !ok) {
      done(ok.error());
      return [] {};
    }
    std::unique_lock lk(mu_);
    Later later;
    if (closed_) {
      lk.unlock();
      done(closed_error());
      return [] {};
    }
    std::vector<Mutation> muts;
    auto q = find_queue(queue, settings_.auto_create, muts);
    if (!q) {
      lk.unlock();
      done(q.error());
      return [] {};
    }
    if (!muts.empty()) {
      write_behind(std::move(muts));
    }
    Queue& qu = **q;
    if (!qu.paused && !qu.ready.empty()) {
      grant(qu, options.n, options.ttl, std::move(done), later, nullptr);
      run(lk, later);
      return [] {};
    }
    if (options.wait.count() <= 0) {
      lk.unlock();
      done(std::vector<Leased>());
      return [] {};
    }
    const std::uint64_t token = ++next_token_;
    Waiter w;
    w.token = token;
    w.n = options.n;
    w.ttl = options.ttl;
    w.deadline_ms = now_ms() + options.wait.count();
    w.done = std::move(done);
    qu.waiters.push_back(std::move(w));
    waiting_[token] = std::prev(qu.waiters.end());
    waiter_queue_[token] = &qu;
    wait_deadlines_.emplace(qu.waiters.back().deadline_ms, token);
    wake_timer_if_due();
    lk.unlock();
    return [this, token] { cancel_wait(token); };
  }

  // --- ack, nack, extend, bury -----------------------------------------------------------

  void ack(std::uint64_t id, std::string lease_id, std::string result,
           Done<ItemView> done) override {
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta before = **m;
    Meta& meta = **m;
    unplace(id, meta);
    meta.state = State::kDone;
    meta.finished_ms = now_ms();
    ++meta.version;
    place(id, meta);
    Mutation mu = update_of(id, meta);
    clip(result);
    mu.result = result;
    ItemView view = engine::view_of(id, meta);
    view.result = std::move(result);
    submit(
        lk, {std::move(mu)},
        [this, id, before, version = meta.version, view, done](Result<> r, Later& later) {
          if (!r) {
            undo(id, before, version);
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, view] { done(view); });
        },
        later);
  }

  void nack(std::uint64_t id, std::string lease_id, std::string error, std::optional<Millis> delay,
            Done<NackOutcome> done) override {
    if (delay && (delay->count() < 0 || *delay > kMaxDelay)) {
      done(queue_error(Errc::kInvalid, "delay_ms must be from 0 to 30 days"));
      return;
    }
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta before = **m;
    Meta& meta = **m;
    const std::int64_t now = now_ms();
    unplace(id, meta);
    NackOutcome out;
    if (meta.attempts >= meta.max_attempts) {
      meta.state = State::kDead;
      meta.finished_ms = now;
      out.state = State::kDead;
    } else {
      const Millis wait = delay.value_or(meta.queue->settings.backoff(meta.attempts));
      meta.due_ms = now + wait.count();
      meta.state = wait.count() > 0 ? State::kDelayed : State::kReady;
      out.state = meta.state;
      out.ready_at = WallTime(Millis(meta.due_ms));
    }
    ++meta.version;
    place(id, meta);
    clip(error);
    Mutation mu = update_of(id, meta);
    mu.error = std::move(error);
    Queue* qp = meta.queue;
    if (out.state == State::kReady) {
      serve_waiters(*qp, later, nullptr);
    }
    wake_timer_if_due();
    submit(
        lk, {std::move(mu)},
        [this, id, before, version = meta.version, out, done](Result<> r, Later& later) {
          if (!r) {
            undo(id, before, version);
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, out] { done(out); });
        },
        later);
  }

  void extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) override {
    if (ttl.count() < 1 || ttl > Millis(12LL * 3600 * 1000)) {
      done(queue_error(Errc::kInvalid, "ttl_ms must be from 1 ms to 12 hours"));
      return;
    }
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta before = **m;
    Meta& meta = **m;
    unplace(id, meta);
    meta.due_ms = now_ms() + ttl.count();
    ++meta.version;
    place(id, meta);
    const WallTime expires{Millis(meta.due_ms)};
    submit(
        lk, {update_of(id, meta)},
        [this, id, before, version = meta.version, expires, done](Result<> r, Later& later) {
          if (!r) {
            undo(id, before, version);
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, expires] { done(expires); });
        },
        later);
  }

  void release(std::uint64_t id, std::string lease_id, Done<ItemView> done) override {
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta before = **m;
    Meta& meta = **m;
    unplace(id, meta);
    meta.state = State::kReady;
    meta.attempts = std::max(0, meta.attempts - 1);
    meta.due_ms = now_ms();
    ++meta.version;
    place(id, meta);
    ItemView view = engine::view_of(id, meta);
    serve_waiters(*meta.queue, later, nullptr);
    submit(
        lk, {update_of(id, meta)},
        [this, id, before, version = meta.version, view, done](Result<> r, Later& later) {
          if (!r) {
            undo(id, before, version);
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, view] { done(view); });
        },
        later);
  }

  void bury(std::uint64_t id, std::string lease_id, std::string error,
            Done<ItemView> done) override {
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta before = **m;
    Meta& meta = **m;
    unplace(id, meta);
    meta.state = State::kDead;
    meta.finished_ms = now_ms();
    ++meta.version;
    place(id, meta);
    clip(error);
    Mutation mu = update_of(id, meta);
    mu.error = error;
    ItemView view = engine::view_of(id, meta);
    view.error = std::move(error);
    submit(
        lk, {std::move(mu)},
        [this, id, before, version = meta.version, view, done](Result<> r, Later& later) {
          if (!r) {
            undo(id, before, version);
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, view] { done(view); });
        },
        later);
  }

  // --- reads -------------------------------------------------------------------------------

  void get(std::uint64_t id, bool with_payload, Done<ItemView> done) override {
    std::unique_lock lk(mu_);
    auto it = items_.find(id);
    if (it == items_.end() || it->second.pending) {
      lk.unlock();
      done(no_item(id));
      return;
    }
    ItemView view = engine::view_of(id, it->second);
    if (auto u = unwritten_errors_.find(id); u != unwritten_errors_.end()) {
      view.error = u->second;
    }
    lk.unlock();
    auto bodies = journal_->read({id}, with_payload);
    if (!bodies) {
      done(bodies.error());
      return;
    }
    if (!bodies->empty()) {
      fill(view, bodies->front().second, with_payload);
    } else if (with_payload) {
      done(no_item(id));  // forgotten meanwhile
      return;
    }
    done(std::move(view));
  }

  void queues(Done<std::vector<QueueInfo>> done) override {
    std::unique_lock lk(mu_);
    std::vector<QueueInfo> out;
    out.reserve(queues_.size());
    for (auto& [name, q] : queues_) {
      out.push_back(info(q));
    }
    lk.unlock();
    done(std::move(out));
  }

  void queue(std::string name, Done<QueueInfo> done) override {
    std::unique_lock lk(mu_);
    auto it = queues_.find(name);
    if (it == queues_.end()) {
      lk.unlock();
      done(no_queue(name));
      return;
    }
    QueueInfo qi = info(it->second);
    lk.unlock();
    done(std::move(qi));
  }

  void set_paused(std::string name, bool paused, Done<QueueInfo> done) override {
    std::unique_lock lk(mu_);
    Later later;
    auto it = queues_.find(name);
    if (closed_ || it == queues_.end()) {
      lk.unlock();
      done(closed_ ? closed_error() : no_queue(name));
      return;
    }
    Queue& q = it->second;
    q.paused = paused;
    if (!paused) {
      serve_waiters(q, later, nullptr);
    }
    Mutation mu = kind_of(Mutation::Kind::kQueue);
    mu.row.queue = name;
    mu.paused = paused;
    submit(
        lk, {std::move(mu)},
        [this, &q, done](Result<> r, Later& later) {
          if (!r) {
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, qi = info(q)] { done(qi); });
        },
        later);
  }

  void dead(std::string queue, std::uint64_t after, std::size_t limit,
            Done<std::vector<ItemView>> done) override {
    if (limit < 1 || limit > 1000) {
      done(queue_error(Errc::kInvalid, "limit must be from 1 to 1000"));
      return;
    }
    std::unique_lock lk(mu_);
    auto it = queues_.find(queue);
    if (it == queues_.end()) {
      lk.unlock();
      done(no_queue(queue));
      return;
    }
    std::vector<ItemView> out;
    std::vector<std::uint64_t> ids;
    const auto& dead_ids = it->second.dead;
    for (auto d = dead_ids.upper_bound(after); d != dead_ids.end() && out.size() < limit; ++d) {
      out.push_back(engine::view_of(*d, items_.at(*d)));
      if (auto u = unwritten_errors_.find(*d); u != unwritten_errors_.end()) {
        out.back().error = u->second;
      }
      ids.push_back(*d);
    }
    lk.unlock();
    auto bodies = journal_->read(ids, true);
    if (!bodies) {
      done(bodies.error());
      return;
    }
    std::unordered_map<std::uint64_t, const Bodies*> by_id;
    for (const auto& [id, b] : *bodies) {
      by_id[id] = &b;
    }
    for (auto& v : out) {
      if (auto b = by_id.find(v.id); b != by_id.end()) {
        fill(v, *b->second, true);
      }
    }
    done(std::move(out));
  }

  void requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                    Done<std::uint64_t> done) override {
    change_dead(std::move(queue), id, false, std::move(done));
  }

  void purge_dead(std::string queue, std::optional<std::uint64_t> id,
                  Done<std::uint64_t> done) override {
    change_dead(std::move(queue), id, true, std::move(done));
  }

  StoreStats stats() const override {
    StoreStats s = journal_->stats();
    std::lock_guard lk(mu_);
    s.expired_leases = expired_leases_;
    return s;
  }

  void set_commit_observer(CommitObserver observer) override {
    journal_->set_commit_observer(std::move(observer));
  }

  void close() override {
    std::unique_lock lk(mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    Later later;
    for (auto& [name, q] : queues_) {
      for (auto& w : q.waiters) {
        later.push_back([d = std::move(w.done)] { d(std::vector<Leased>()); });
      }
      q.waiters.clear();
    }
    waiting_.clear();
    waiter_queue_.clear();
    wait_deadlines_.clear();
    timer_cv_.notify_all();
    lk.unlock();
    for (auto& f : later) {
      f();
    }
    if (timer_.joinable()) {
      timer_.join();
    }
    journal_->close();
  }

  void tick() override {
    std::unique_lock lk(mu_);
    Later later;
    tick_locked(later);
    run(lk, later);
  }

 private:
  // --- helpers under the lock --------------------------------------------------------------

  std::int64_t now_ms() const { return ms_of(clock_.wall()); }

  static std::string key_of(std::string_view queue, std::string_view key) {
    std::string k(queue);
    k.push_back('\0');
    k.append(key);
    return k;
  }

  void clip(std::string& s) const {
    if (s.size() > settings_.max_result_bytes) {
      s.resize(settings_.max_result_bytes);
    }
  }

  static Error no_item(std::uint64_t id) {
    return queue_error(Errc::kNoItem, "no item " + std::to_string(id) +
                                          " (never enqueued, or done and forgotten)");
  }
  static Error no_queue(const std::string& name) {
    return queue_error(Errc::kNoQueue, "no queue " + name);
  }

  Queue& queue_for_load(const std::string& name) {
    auto& q = queues_[name];
    if (q.name.empty()) {
      q.name = name;
      auto d = settings_.declared.find(name);
      q.settings = d != settings_.declared.end() ? d->second : settings_.defaults;
    }
    return q;
  }

  // The queue `name`; created (with a kQueue mutation appended to `muts`) if allowed.
  Result<Queue*> find_queue(const std::string& name, bool create, std::vector<Mutation>& muts) {
    if (auto it = queues_.find(name); it != queues_.end()) {
      return &it->second;
    }
    if (auto ok = check_queue_name(name); !ok) {
      return ok.error();
    }
    if (!create || !settings_.auto_create) {
      return no_queue(name);
    }
    if (queues_.size() >= settings_.max_queues) {
      return queue_error(Errc::kFull, "there are already " + std::to_string(queues_.size()) +
                                          " queues (max_queues)");
    }
    Queue& q = queue_for_load(name);
    Mutation mu = kind_of(Mutation::Kind::kQueue);
    mu.row.queue = name;
    muts.push_back(std::move(mu));
    return &q;
  }

  Result<Meta*> leased_item(std::uint64_t id, std::string_view lease_id) {
    if (closed_) {
      return closed_error();
    }
    auto it = items_.find(id);
    if (it == items_.end() || it->second.pending) {
      return no_item(id);
    }
    Meta& m = it->second;
    auto lease = engine::parse_lease(lease_id);
    if (m.state != State::kLeased || !lease || *lease != m.lease) {
      std::string now = m.state == State::kLeased ? "leased under another lease id"
                                                  : std::string(state_name(m.state));
      return queue_error(Errc::kStaleLease, "lease \"" + std::string(lease_id.substr(0, 64)) +
                                                "\" is not item " + std::to_string(id) +
                                                "'s current lease (the item is " + now + ")");
    }
    return &m;
  }

  // Puts item `id` into its queue's index for its state.
  void place(std::uint64_t id, Meta& m) {
    if (m.pending) {
      return;
    }
    Queue& q = *m.queue;
    switch (m.state) {
      case State::kReady:
        q.ready.emplace(-m.priority, id);
        break;
      case State::kDelayed:
        ++q.delayed;
        delayed_.emplace(m.due_ms, id);
        break;
      case State::kLeased:
        ++q.leased;
        leased_.emplace(m.due_ms, id);
        break;
      case State::kDone:
        q.done.emplace_back(m.finished_ms, id);
        break;
      case State::kDead:
        q.dead.insert(id);
        break;
    }
  }

  void unplace(std::uint64_t id, const Meta& m) {
    if (m.pending) {
      return;
    }
    Queue& q = *m.queue;
    switch (m.state) {
      case State::kReady:
        q.ready.erase({-m.priority, id});
        break;
      case State::kDelayed:
        --q.delayed;
        delayed_.erase({m.due_ms, id});
        break;
      case State::kLeased:
        --q.leased;
        leased_.erase({m.due_ms, id});
        break;
      case State::kDone: {
        auto it = std::find(q.done.rbegin(), q.done.rend(), std::make_pair(m.finished_ms, id));
        if (it != q.done.rend()) {
          q.done.erase(std::next(it).base());
        }
        break;
      }
      case State::kDead:
        q.dead.erase(id);
        break;
    }
  }

  // Puts an item back as it was before a change the journal failed, unless it has changed
  // again since.
  void undo(std::uint64_t id, const Meta& before, std::uint32_t version) {
    auto it = items_.find(id);
    if (it == items_.end() || it->second.version != version) {
      return;
    }
    unplace(id, it->second);
    it->second = before;
    ++it->second.version;
    place(id, it->second);
  }

  QueueInfo info(const Queue& q) const {
    QueueInfo qi;
    qi.name = q.name;
    qi.paused = q.paused;
    qi.settings = q.settings;
    qi.counts = {q.ready.size(), q.delayed, q.leased, q.done.size(), q.dead.size()};
    // The oldest ready item has the smallest id: the first of some priority's run.
    std::uint64_t oldest = 0;
    for (auto it = q.ready.begin(); it != q.ready.end();
         it = q.ready.lower_bound({it->first + 1, 0})) {
      if (oldest == 0 || it->second < oldest) {
        oldest = it->second;
      }
    }
    if (oldest != 0) {
      qi.oldest_ready = WallTime(Millis(items_.at(oldest).enqueued_ms));
    }
    return qi;
  }

  static void fill(ItemView& v, const Bodies& b, bool with_payload) {
    if (with_payload) {
      v.payload = b.payload;
    }
    if (v.result.empty()) {
      v.result = b.result;
    }
    if (v.error.empty()) {
      v.error = b.error;
    }
  }

  // Leases up to n of q's ready items and queues the answer (payloads read after the lock).
  void grant(Queue& q, std::size_t n, std::optional<Millis> ttl, Done<std::vector<Leased>> done,
             Later& later, const std::unordered_map<std::uint64_t, std::string>* fresh) {
    const std::int64_t now = now_ms();
    const Millis lease_ttl = ttl.value_or(q.settings.lease_ttl);
    std::vector<Leased> out;
    std::vector<Mutation> muts;
    while (out.size() < n && !q.ready.empty()) {
      const std::uint64_t id = q.ready.begin()->second;
      Meta& m = items_.at(id);
      unplace(id, m);
      m.state = State::kLeased;
      ++m.attempts;
      m.due_ms = now + lease_ttl.count();
      m.lease = engine::random_lease();
      ++m.version;
      place(id, m);
      Leased l;
      l.id = id;
      l.queue = q.name;
      l.lease_id = engine::lease_text(m.lease);
      l.attempt = m.attempts;
      l.max_attempts = m.max_attempts;
      l.priority = m.priority;
      l.enqueued = WallTime(Millis(m.enqueued_ms));
      l.lease_expires = WallTime(Millis(m.due_ms));
      if (fresh != nullptr) {
        if (auto f = fresh->find(id); f != fresh->end()) {
          l.payload = f->second;
        }
      }
      out.push_back(std::move(l));
      muts.push_back(update_of(id, m));
    }
    write_behind(std::move(muts));
    wake_timer_if_due();
    later.push_back([this, out = std::move(out), done = std::move(done)]() mutable {
      std::vector<std::uint64_t> missing;
      for (const auto& l : out) {
        if (l.payload.empty()) {
          missing.push_back(l.id);
        }
      }
      if (!missing.empty()) {
        auto bodies = journal_->read(missing, true);
        if (bodies) {
          std::unordered_map<std::uint64_t, std::string> by_id;
          for (auto& [id, b] : *bodies) {
            by_id[id] = std::move(b.payload);
          }
          for (auto& l : out) {
            if (auto b = by_id.find(l.id); b != by_id.end()) {
              l.payload = std::move(b->second);
            }
          }
        } else {
          log::error("cannot read leased items' payloads", {{"error", bodies.error().message()}});
        }
      }
      done(std::move(out));
    });
  }

  // Hands ready items of q to its waiters, first come first served.
  void serve_waiters(Queue& q, Later& later,
                     const std::unordered_map<std::uint64_t, std::string>* fresh) {
    while (!q.paused && !q.ready.empty() && !q.waiters.empty()) {
      Waiter w = std::move(q.waiters.front());
      q.waiters.pop_front();
      forget_waiter(w.token, w.deadline_ms);
      grant(q, w.n, w.ttl, std::move(w.done), later, fresh);
    }
  }

  void forget_waiter(std::uint64_t token, std::int64_t deadline) {
    waiting_.erase(token);
    waiter_queue_.erase(token);
    wait_deadlines_.erase({deadline, token});
  }

  void cancel_wait(std::uint64_t token) {
    std::unique_lock lk(mu_);
    auto it = waiting_.find(token);
    if (it == waiting_.end()) {
      return;
    }
    Queue* q = waiter_queue_.at(token);
    Waiter w = std::move(*it->second);
    q->waiters.erase(it->second);
    forget_waiter(token, w.deadline_ms);
    lk.unlock();
    w.done(std::vector<Leased>());
  }

  void change_dead(std::string queue, std::optional<std::uint64_t> id, bool purge,
                   Done<std::uint64_t> done) {
    std::unique_lock lk(mu_);
    Later later;
    auto qit = queues_.find(queue);
    if (closed_ || qit == queues_.end()) {
      lk.unlock();
      done(closed_ ? closed_error() : no_queue(queue));
      return;
    }
    Queue& q = qit->second;
    std::vector<std::uint64_t> ids;
    if (id) {
      auto it = items_.find(*id);
      if (it == items_.end() || it->second.pending || it->second.queue != &q) {
        lk.unlock();
        done(queue_error(Errc::kNoItem, "no item " + std::to_string(*id) + " in queue " + queue));
        return;
      }
      if (it->second.state != State::kDead) {
        lk.unlock();
        done(queue_error(Errc::kNotDead, "item " + std::to_string(*id) + " is " +
                                             std::string(state_name(it->second.state)) +
                                             ", not dead"));
        return;
      }
      ids.push_back(*id);
    } else {
      ids.assign(q.dead.begin(), q.dead.end());
    }
    std::vector<Mutation> muts;
    const std::int64_t now = now_ms();
    for (auto i : ids) {
      Meta& m = items_.at(i);
      unplace(i, m);
      if (purge) {
        items_.erase(i);
        muts.push_back(delete_of(i));
        continue;
      }
      m.state = State::kReady;
      m.attempts = 0;
      m.due_ms = now;
      m.finished_ms = 0;
      ++m.version;
      place(i, m);
      muts.push_back(update_of(i, m));
    }
    if (!purge) {
      serve_waiters(q, later, nullptr);
    }
    const std::uint64_t count = ids.size();
    submit(
        lk, std::move(muts),
        [count, done](Result<> r, Later& later) {
          if (!r) {
            later.push_back([done, e = r.error()] { done(e); });
            return;
          }
          later.push_back([done, count] { done(count); });
        },
        later);
  }

  // Hands `muts` to the journal; `apply` runs under the lock once it has them (or failed).
  void submit(std::unique_lock<std::mutex>& lk, std::vector<Mutation> muts,
              std::function<void(Result<>, Later&)> apply, Later& later) {
    auto sync = journal_->write(std::move(muts), [this, apply](Result<> r) {
      std::unique_lock lk2(mu_);
      Later l2;
      if (!r) {
        log::error("the store failed a write", {{"error", r.error().message()}});
        r = queue_error(Errc::kUnavailable, r.error().message());
      }
      apply(r, l2);
      run(lk2, l2);
    });
    if (sync) {
      Result<> r = *sync;
      if (!r) {
        r = queue_error(Errc::kUnavailable, r.error().message());
      }
      apply(r, later);
    }
    run(lk, later);
  }

  // Journals changes nobody waits for (leases, expiries, sweeps); failures are logged.
  // `written` runs under the lock once the journal has them.
  void write_behind(std::vector<Mutation> muts, std::function<void()> written = nullptr) {
    if (muts.empty()) {
      return;
    }
    auto sync = journal_->write(std::move(muts), [this, written](Result<> r) {
      if (!r) {
        log::error("the store failed a write", {{"error", r.error().message()}});
      }
      if (written) {
        std::lock_guard lk(mu_);
        written();
      }
    });
    if (sync && written) {
      written();
    }
    if (sync && !*sync) {
      log::error("the store failed a write", {{"error", sync->error().message()}});
    }
  }

  void run(std::unique_lock<std::mutex>& lk, Later& later) {
    lk.unlock();
    for (auto& f : later) {
      f();
    }
    later.clear();
  }

  // --- time ------------------------------------------------------------------------------

  void tick_locked(Later& later) {
    const std::int64_t now = now_ms();
    std::set<Queue*> woken;
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      const std::uint64_t id = delayed_.begin()->second;
      Meta& m = items_.at(id);
      unplace(id, m);
      m.state = State::kReady;
      ++m.version;
      place(id, m);
      woken.insert(m.queue);
    }
    std::vector<Mutation> muts;
    std::vector<std::uint64_t> expired_dead;
    while (!leased_.empty() && leased_.begin()->first <= now) {
      const std::uint64_t id = leased_.begin()->second;
      Meta& m = items_.at(id);
      unplace(id, m);
      ++expired_leases_;
      ++m.version;
      if (m.attempts >= m.max_attempts) {
        m.state = State::kDead;
        m.finished_ms = now;
        Mutation mu = update_of(id, m);
        mu.error = "lease expired on attempt " + std::to_string(m.attempts) + " of " +
                   std::to_string(m.max_attempts);
        unwritten_errors_[id] = *mu.error;
        expired_dead.push_back(id);
        muts.push_back(std::move(mu));
      } else {
        // Not journaled: a lease found expired at load makes the item ready all the same.
        m.state = State::kReady;
        woken.insert(m.queue);
      }
      place(id, m);
    }
    for (Queue* q : woken) {
      serve_waiters(*q, later, nullptr);
    }
    while (!wait_deadlines_.empty() && wait_deadlines_.begin()->first <= now) {
      const std::uint64_t token = wait_deadlines_.begin()->second;
      auto it = waiting_.find(token);
      Queue* q = waiter_queue_.at(token);
      Waiter w = std::move(*it->second);
      q->waiters.erase(it->second);
      forget_waiter(token, w.deadline_ms);
      later.push_back([d = std::move(w.done)] { d(std::vector<Leased>()); });
    }
    if (now >= next_sweep_ms_) {
      next_sweep_ms_ = now + 1000;
      sweep(now, muts);
    }
    write_behind(std::move(muts), [this, expired_dead] {
      for (auto id : expired_dead) {
        unwritten_errors_.erase(id);
      }
    });
  }

  // Forgets done items past the retention (or past max_done per queue) and expired keys.
  void sweep(std::int64_t now, std::vector<Mutation>& muts) {
    std::size_t budget = kSweepBatch;
    const std::int64_t cutoff = now - settings_.retention.count();
    for (auto& [name, q] : queues_) {
      while (budget > 0 && !q.done.empty() &&
             (q.done.front().first <= cutoff || q.done.size() > kMaxDone)) {
        const std::uint64_t id = q.done.front().second;
        q.done.pop_front();
        items_.erase(id);
        muts.push_back(delete_of(id));
        --budget;
      }
    }
    bool expired = false;
    while (!key_expiry_.empty() && key_expiry_.begin()->first <= now) {
      keys_.erase(key_expiry_.begin()->second);
      key_expiry_.erase(key_expiry_.begin());
      expired = true;
    }
    if (expired) {
      Mutation mu = kind_of(Mutation::Kind::kForgetKeys);
      mu.expires_ms = now;
      muts.push_back(std::move(mu));
    }
  }

  std::int64_t next_due() const {
    std::int64_t next = next_sweep_ms_;
    if (!delayed_.empty()) {
      next = std::min(next, delayed_.begin()->first);
    }
    if (!leased_.empty()) {
      next = std::min(next, leased_.begin()->first);
    }
    if (!wait_deadlines_.empty()) {
      next = std::min(next, wait_deadlines_.begin()->first);
    }
    return next;
  }

  void wake_timer_if_due() {
    if (next_due() < planned_wake_ms_) {
      timer_cv_.notify_one();
    }
  }

  void timer_loop() {
    std::unique_lock lk(mu_);
    while (!closed_) {
      Later later;
      tick_locked(later);
      if (!later.empty()) {
        run(lk, later);
        lk.lock();
        continue;
      }
      const std::int64_t now = now_ms();
      planned_wake_ms_ = std::max(next_due(), now + 1);
      const auto wait = std::clamp(Millis(planned_wake_ms_ - now), Millis(1), Millis(1000));
      timer_cv_.wait_for(lk, wait);
      planned_wake_ms_ = 0;
    }
  }

  // --- validation (no lock) ----------------------------------------------------------------

  static Result<> check_items(const std::vector<NewItem>& items) {
    if (items.empty()) {
      return queue_error(Errc::kInvalid, "no items to enqueue");
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const NewItem& it = items[i];
      std::string where = items.size() > 1 ? "item " + std::to_string(i + 1) + ": " : "";
      if (it.priority < -1000 || it.priority > 1000) {
        return queue_error(Errc::kInvalid, where + "priority must be from -1000 to 1000");
      }
      if (it.delay.count() < 0 || it.delay > kMaxDelay) {
        return queue_error(Errc::kInvalid, where + "delay_ms must be from 0 to 30 days");
      }
      if (it.max_attempts && (*it.max_attempts < 1 || *it.max_attempts > 1000)) {
        return queue_error(Errc::kInvalid, where + "max_attempts must be from 1 to 1000");
      }
      if (it.idempotency_key.size() > kMaxKeyBytes) {
        return queue_error(Errc::kInvalid, where + "idempotency_key is over 256 bytes");
      }
    }
    return {};
  }

  static Result<> check_lease(const LeaseOptions& o) {
    if (o.n < 1 || o.n > 1000) {
      return queue_error(Errc::kInvalid, "n must be from 1 to 1000");
    }
    if (o.ttl && (o.ttl->count() < 1 || *o.ttl > Millis(12LL * 3600 * 1000))) {
      return queue_error(Errc::kInvalid, "ttl_ms must be from 1 ms to 12 hours");
    }
    if (o.wait.count() < 0 || o.wait > Millis(3'600'000)) {
      return queue_error(Errc::kInvalid, "wait_ms must be from 0 to 1 hour");
    }
    return {};
  }

  static constexpr std::size_t kMaxDone = 100'000;

  std::unique_ptr<Journal> journal_;
  StoreSettings settings_;
  const Clock& clock_;

  mutable std::mutex mu_;
  bool closed_ = false;
  std::map<std::string, Queue, std::less<>> queues_;
  std::unordered_map<std::uint64_t, Meta> items_;
  std::set<std::pair<std::int64_t, std::uint64_t>> delayed_;  // (ready_ms, id)
  std::set<std::pair<std::int64_t, std::uint64_t>> leased_;   // (expires_ms, id)
  std::unordered_map<std::string, std::uint64_t> keys_;       // queue\0key -> id
  std::multimap<std::int64_t, std::string> key_expiry_;
  std::uint64_t last_id_ = 0;
  std::set<std::uint64_t> failed_enqueues_;
  // Errors of leases expired on their last attempt, until the journal has them.
  std::unordered_map<std::uint64_t, std::string>
      unwritten_errors_;  // ids whose enqueue the journal failed
  std::uint64_t expired_leases_ = 0;

  std::uint64_t next_token_ = 0;
  std::unordered_map<std::uint64_t, std::list<Waiter>::iterator> waiting_;
  std::unordered_map<std::uint64_t, Queue*> waiter_queue_;
  std::set<std::pair<std::int64_t, std::uint64_t>> wait_deadlines_;

  std::int64_t next_sweep_ms_ = 0;
  std::int64_t planned_wake_ms_ = 0;
  std::condition_variable timer_cv_;
  std::thread timer_;
};

}  // namespace

Result<std::unique_ptr<Engine>> make_engine(std::unique_ptr<Journal> journal,
                                            StoreSettings settings, bool timer_thread) {
  auto e = std::make_unique<EngineImpl>(std::move(journal), std::move(settings));
  if (auto ok = e->open(timer_thread); !ok) {
    return ok.error();
  }
  return std::unique_ptr<Engine>(std::move(e));
}

Result<std::unique_ptr<Store>> engine_store(std::unique_ptr<Journal> journal,
                                            StoreSettings settings) {
  auto e = make_engine(std::move(journal), std::move(settings), true);
  if (!e) {
    return e.error();
  }
  return std::unique_ptr<Store>(std::move(*e));
}

}  // namespace tender::workqueue

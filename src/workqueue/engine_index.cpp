// The engine's indexes, its hand-off to the journal, long-poll waiters and the timer.
#include "workqueue/engine_impl.hpp"

#include <algorithm>
#include <limits>

#include "core/log.hpp"

namespace tender::workqueue::engine {

std::string EngineImpl::key_of(std::string_view queue, std::string_view key) {
  std::string k(queue);
  k.push_back('\0');
  k.append(key);
  return k;
}

void EngineImpl::clip(std::string& s) const {
  if (s.size() > settings_.max_result_bytes) {
    s.resize(settings_.max_result_bytes);
  }
}

Error EngineImpl::no_item(std::uint64_t id) {
  return queue_error(Errc::kNoItem,
                     "no item " + std::to_string(id) + " (never enqueued, or done and forgotten)");
}

Error EngineImpl::no_queue(const std::string& name) {
  return queue_error(Errc::kNoQueue, "no queue " + name);
}

Queue& EngineImpl::queue_for_load(const std::string& name) {
  auto& q = queues_[name];
  if (q.name.empty()) {
    q.name = name;
    auto d = settings_.declared.find(name);
    q.settings = d != settings_.declared.end() ? d->second : settings_.defaults;
  }
  return q;
}

Result<Queue*> EngineImpl::find_queue(const std::string& name, bool create,
                                      std::vector<Mutation>& muts) {
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

Result<Meta*> EngineImpl::leased_item(std::uint64_t id, std::string_view lease_id) {
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

void EngineImpl::place(std::uint64_t id, Meta& m) {
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

void EngineImpl::unplace(std::uint64_t id, const Meta& m) {
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

void EngineImpl::undo(std::uint64_t id, const Meta& before, std::uint32_t version) {
  auto it = items_.find(id);
  if (it == items_.end() || it->second.version != version) {
    return;
  }
  unplace(id, it->second);
  it->second = before;
  ++it->second.version;
  place(id, it->second);
}

QueueInfo EngineImpl::info(const Queue& q) const {
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

void EngineImpl::fill(ItemView& v, const Bodies& b, bool with_payload) {
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

void EngineImpl::grant(Queue& q, std::size_t n, std::optional<Millis> ttl,
                       Done<std::vector<Leased>> done, Later& later,
                       const std::unordered_map<std::uint64_t, std::string>* fresh) {
  const std::int64_t now = now_ms();
  const Millis lease_ttl = ttl.value_or(q.settings.lease_ttl);
  std::vector<Leased> out;
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
    unwritten_leases_.emplace_back(now + kLeaseWriteDelay.count(), id);
  }
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
      if (!bodies) {
        // Never an item without its payload: the leases expire and the items come back.
        log::error("cannot read leased items' payloads", {{"error", bodies.error().message()}});
        done(queue_error(Errc::kUnavailable,
                         "cannot read the leased items: " + bodies.error().message()));
        return;
      }
      std::unordered_map<std::uint64_t, std::string> by_id;
      for (auto& [id, b] : *bodies) {
        by_id[id] = std::move(b.payload);
      }
      std::erase_if(out, [&](Leased& l) {
        if (!l.payload.empty()) {
          return false;
        }
        auto b = by_id.find(l.id);
        if (b == by_id.end()) {
          return true;  // forgotten meanwhile (purged): not handed out
        }
        l.payload = std::move(b->second);
        return false;
      });
    }
    done(std::move(out));
  });
}

void EngineImpl::serve_waiters(Queue& q, Later& later,
                               const std::unordered_map<std::uint64_t, std::string>* fresh) {
  while (!q.paused && !q.ready.empty() && !q.waiters.empty()) {
    Waiter w = std::move(q.waiters.front());
    q.waiters.pop_front();
    forget_waiter(w.token, w.deadline_ms);
    grant(q, w.n, w.ttl, std::move(w.done), later, fresh);
  }
}

void EngineImpl::forget_waiter(std::uint64_t token, std::int64_t deadline) {
  waiting_.erase(token);
  waiter_queue_.erase(token);
  wait_deadlines_.erase({deadline, token});
}

void EngineImpl::cancel_wait(std::uint64_t token) {
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

void EngineImpl::change_dead(std::string queue, std::optional<std::uint64_t> id, bool purge,
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

void EngineImpl::submit(std::unique_lock<std::mutex>& lk, std::vector<Mutation> muts,
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

void EngineImpl::write_behind(std::vector<Mutation> muts, std::function<void()> written) {
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

void EngineImpl::run(std::unique_lock<std::mutex>& lk, Later& later) {
  lk.unlock();
  for (auto& f : later) {
    f();
  }
  later.clear();
}

Result<> EngineImpl::check_items(const std::vector<NewItem>& items) {
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

Result<> EngineImpl::check_lease(const LeaseOptions& o) {
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

void EngineImpl::tick_locked(Later& later) {
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
  write_leases(now, muts);
  if (now >= next_sweep_ms_) {
    // Behind (a sweep's budget used up): the next sweep comes sooner.
    next_sweep_ms_ = now + (sweep(now, muts) ? 1000 : 20);
  }
  write_behind(std::move(muts), [this, expired_dead] {
    for (auto id : expired_dead) {
      unwritten_errors_.erase(id);
    }
  });
}

bool EngineImpl::sweep(std::int64_t now, std::vector<Mutation>& muts) {
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
  return budget > 0;
}

void EngineImpl::write_leases(std::int64_t before, std::vector<Mutation>& muts) {
  while (!unwritten_leases_.empty() && unwritten_leases_.front().first <= before) {
    const std::uint64_t id = unwritten_leases_.front().second;
    unwritten_leases_.pop_front();
    auto it = items_.find(id);
    // Acked, nacked, released or expired since: that change's own write records the item
    // (all of its row), so skipping this one loses nothing.
    if (it != items_.end() && it->second.state == State::kLeased) {
      muts.push_back(update_of(id, it->second));
    }
  }
}

std::int64_t EngineImpl::next_due() const {
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
  if (!unwritten_leases_.empty()) {
    next = std::min(next, unwritten_leases_.front().first);
  }
  return next;
}

void EngineImpl::wake_timer_if_due() {
  if (next_due() < planned_wake_ms_) {
    timer_cv_.notify_one();
  }
}

void EngineImpl::timer_loop() {
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

void EngineImpl::close() {
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
  std::vector<Mutation> leases;
  write_leases(std::numeric_limits<std::int64_t>::max(), leases);
  write_behind(std::move(leases));
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

void EngineImpl::tick() {
  std::unique_lock lk(mu_);
  Later later;
  tick_locked(later);
  run(lk, later);
}

}  // namespace tender::workqueue::engine

// The engine's item operations: open, enqueue, lease, ack, nack, extend, release, bury.
#include "workqueue/engine_impl.hpp"

#include <algorithm>

namespace tender::workqueue::engine {

Result<> EngineImpl::open(bool timer_thread) {
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

void EngineImpl::enqueue(std::string queue, std::vector<NewItem> items,
                         Done<std::vector<Enqueued>> done) {
  if (auto ok = check_items(items); !ok) {
    done(ok.error());
    return;
  }
  std::unique_lock lk(mu_);
  Later later;
  std::vector<Mutation> muts;
  auto q = closed_ ? Result<Queue*>(closed_error()) : find_queue(queue, true, muts);
  Staged staged;
  staged.answer.resize(items.size());
  bool wait_for_others = false;
  Result<> admitted = q ? admit(**q, items, staged.answer, wait_for_others) : q.error();
  if (!admitted) {
    lk.unlock();
    done(admitted.error());
    return;
  }
  stage(**q, items, staged, muts);
  auto finish = [this, staged = std::move(staged), done](Result<> r, Later& after) {
    enqueued(staged, r, done, after);
  };
  if (muts.empty() && !wait_for_others) {
    finish(Result<>(), later);
    run(lk, later);
    return;
  }
  submit(lk, std::move(muts), std::move(finish), later);
}

Result<> EngineImpl::admit(Queue& q, const std::vector<NewItem>& items,
                           std::vector<Enqueued>& answer, bool& wait_for_others) {
  std::size_t created = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const NewItem& item = items[i];
    if (item.payload.size() > q.settings.max_payload_bytes) {
      return queue_error(
          Errc::kTooLarge,
          (items.size() > 1 ? "item " + std::to_string(i + 1) + " of the batch: " : "") +
              "a payload of " + std::to_string(item.payload.size()) + " bytes is over queue " +
              q.name + "'s limit of " + std::to_string(q.settings.max_payload_bytes) +
              " (max_payload)");
    }
    if (!item.idempotency_key.empty()) {
      if (auto k = keys_.find(key_of(q.name, item.idempotency_key)); k != keys_.end()) {
        answer[i] = {k->second, false};
        auto it = items_.find(k->second);
        wait_for_others = wait_for_others || (it != items_.end() && it->second.pending);
        continue;
      }
    }
    ++created;
  }
  if (q.held() + created > q.settings.max_items) {
    return queue_error(Errc::kFull, "queue " + q.name + " holds " + std::to_string(q.held()) +
                                        " items; its limit is " +
                                        std::to_string(q.settings.max_items) + " (max_items)");
  }
  return {};
}

void EngineImpl::stage(Queue& q, std::vector<NewItem>& items, Staged& staged,
                       std::vector<Mutation>& muts) {
  const std::int64_t now = now_ms();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (staged.answer[i].id != 0) {
      continue;  // an idempotency key seen before
    }
    NewItem& item = items[i];
    if (!item.idempotency_key.empty()) {
      auto key = key_of(q.name, item.idempotency_key);
      if (auto k = keys_.find(key); k != keys_.end()) {  // twice in this batch
        staged.answer[i] = {k->second, false};
        continue;
      }
      const std::int64_t expires = now + settings_.idempotency_window.count();
      keys_[key] = last_id_ + 1;
      key_expiry_.emplace(expires, key);
      staged.keys.push_back(std::move(key));
      Mutation km = kind_of(Mutation::Kind::kIdempotency);
      km.row.queue = q.name;
      km.row.id = last_id_ + 1;
      km.key = item.idempotency_key;
      km.expires_ms = expires;
      muts.push_back(std::move(km));
    }
    const std::uint64_t id = ++last_id_;
    staged.answer[i] = {id, true};
    Meta m;
    m.queue = &q;
    m.pending = true;
    m.state = item.delay.count() > 0 ? State::kDelayed : State::kReady;
    m.priority = item.priority;
    m.max_attempts = item.max_attempts.value_or(q.settings.max_attempts);
    m.enqueued_ms = now;
    m.due_ms = now + item.delay.count();
    items_.emplace(id, m);
    ++q.pending;
    staged.ids.push_back(id);
    Mutation im = kind_of(Mutation::Kind::kInsert);
    im.row = row_of(id, m);
    staged.payloads.emplace(id, item.payload);
    im.payload = std::move(item.payload);
    muts.push_back(std::move(im));
  }
}

void EngineImpl::enqueued(const Staged& staged, const Result<>& r,
                          const Done<std::vector<Enqueued>>& done, Later& later) {
  Queue* q = nullptr;
  for (auto id : staged.ids) {
    auto it = items_.find(id);
    if (it == items_.end()) {
      continue;
    }
    Meta& m = it->second;
    q = m.queue;
    --m.queue->pending;
    if (r) {
      m.pending = false;
      place(id, m);
    } else {
      items_.erase(it);
    }
  }
  if (!r) {
    for (const auto& k : staged.keys) {
      keys_.erase(k);
    }
    if (failed_enqueues_.size() > 100'000) {
      failed_enqueues_.clear();
    }
    failed_enqueues_.insert(staged.ids.begin(), staged.ids.end());
    later.push_back([done, e = r.error()] { done(e); });
    return;
  }
  // An idempotency key whose first enqueue failed meanwhile names an item that never was.
  for (const auto& a : staged.answer) {
    if (!a.created && failed_enqueues_.contains(a.id)) {
      later.push_back([done] {
        done(queue_error(Errc::kUnavailable,
                         "the earlier enqueue with this idempotency key failed; retry"));
      });
      return;
    }
  }
  later.push_back([done, answer = staged.answer] { done(answer); });
  if (q != nullptr) {
    serve_waiters(*q, later, &staged.payloads);
  }
  wake_timer_if_due();
}

CancelWait EngineImpl::lease(std::string queue, LeaseOptions options,
                             Done<std::vector<Leased>> done) {
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

void EngineImpl::ack(std::uint64_t id, std::string lease_id, std::string result,
                     Done<ItemView> done) {
  clip(result);
  change_leased<ItemView>(id, lease_id, std::move(done), [&](Meta& meta) {
    meta.state = State::kDone;
    meta.finished_ms = now_ms();
    Change<ItemView> c{update_of(id, meta), view_of(id, meta)};
    c.mutation.result = result;
    c.answer.result = std::move(result);
    return c;
  });
}

void EngineImpl::nack(std::uint64_t id, std::string lease_id, std::string error,
                      std::optional<Millis> delay, Done<NackOutcome> done) {
  if (delay && (delay->count() < 0 || *delay > kMaxDelay)) {
    done(queue_error(Errc::kInvalid, "delay_ms must be from 0 to 30 days"));
    return;
  }
  clip(error);
  change_leased<NackOutcome>(id, lease_id, std::move(done), [&](Meta& meta) {
    const std::int64_t now = now_ms();
    NackOutcome out;
    if (meta.attempts >= meta.max_attempts) {
      meta.state = State::kDead;
      meta.finished_ms = now;
    } else {
      const Millis wait = delay.value_or(meta.queue->settings.backoff(meta.attempts));
      meta.due_ms = now + wait.count();
      meta.state = wait.count() > 0 ? State::kDelayed : State::kReady;
      out.ready_at = WallTime(Millis(meta.due_ms));
    }
    out.state = meta.state;
    Change<NackOutcome> c{update_of(id, meta), out};
    c.mutation.error = std::move(error);
    return c;
  });
}

void EngineImpl::extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) {
  if (ttl.count() < 1 || ttl > Millis(12LL * 3600 * 1000)) {
    done(queue_error(Errc::kInvalid, "ttl_ms must be from 1 ms to 12 hours"));
    return;
  }
  change_leased<WallTime>(id, lease_id, std::move(done), [&](Meta& meta) {
    meta.due_ms = now_ms() + ttl.count();
    return Change<WallTime>{update_of(id, meta), WallTime(Millis(meta.due_ms))};
  });
}

void EngineImpl::release(std::uint64_t id, std::string lease_id, Done<ItemView> done) {
  change_leased<ItemView>(id, lease_id, std::move(done), [&](Meta& meta) {
    meta.state = State::kReady;
    meta.attempts = std::max(0, meta.attempts - 1);
    meta.due_ms = now_ms();
    return Change<ItemView>{update_of(id, meta), view_of(id, meta)};
  });
}

void EngineImpl::bury(std::uint64_t id, std::string lease_id, std::string error,
                      Done<ItemView> done) {
  clip(error);
  change_leased<ItemView>(id, lease_id, std::move(done), [&](Meta& meta) {
    meta.state = State::kDead;
    meta.finished_ms = now_ms();
    Change<ItemView> c{update_of(id, meta), view_of(id, meta)};
    c.mutation.error = error;
    c.answer.error = std::move(error);
    return c;
  });
}

}  // namespace tender::workqueue::engine

namespace tender::workqueue {

Result<std::unique_ptr<Engine>> make_engine(std::unique_ptr<Journal> journal,
                                            StoreSettings settings, bool timer_thread) {
  auto e = std::make_unique<engine::EngineImpl>(std::move(journal), std::move(settings));
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

// The engine's reads, pause and resume, and the dead list.
#include "workqueue/engine_impl.hpp"

namespace tender::workqueue::engine {

void EngineImpl::get(std::uint64_t id, bool with_payload, Done<ItemView> done) {
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

void EngineImpl::queues(Done<std::vector<QueueInfo>> done) {
  std::unique_lock lk(mu_);
  std::vector<QueueInfo> out;
  out.reserve(queues_.size());
  for (auto& [name, q] : queues_) {
    out.push_back(info(q));
  }
  lk.unlock();
  done(std::move(out));
}

void EngineImpl::queue(std::string name, Done<QueueInfo> done) {
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

void EngineImpl::set_paused(std::string name, bool paused, Done<QueueInfo> done) {
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

void EngineImpl::dead(std::string queue, std::uint64_t after, std::size_t limit,
                      Done<std::vector<ItemView>> done) {
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

void EngineImpl::requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                              Done<std::uint64_t> done) {
  change_dead(std::move(queue), id, false, std::move(done));
}

void EngineImpl::purge_dead(std::string queue, std::optional<std::uint64_t> id,
                            Done<std::uint64_t> done) {
  change_dead(std::move(queue), id, true, std::move(done));
}

StoreStats EngineImpl::stats() const {
  StoreStats s = journal_->stats();
  std::lock_guard lk(mu_);
  s.expired_leases = expired_leases_;
  return s;
}

void EngineImpl::set_commit_observer(CommitObserver observer) {
  journal_->set_commit_observer(std::move(observer));
}

}  // namespace tender::workqueue::engine

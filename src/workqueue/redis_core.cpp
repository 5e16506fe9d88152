#include "workqueue/redis_core.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "core/log.hpp"

namespace tender::workqueue::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kTick = 20ms;  // how often wait deadlines are checked
constexpr auto kSweepEvery = 1s;
constexpr auto kResubscribeAfter = 500ms;

Error closed_error() { return queue_error(Errc::kUnavailable, "the queue store is closed"); }

}  // namespace

RedisCore::RedisCore(RedisAddress address, const Clock& clock, Leaser leaser)
    : address_(std::move(address)), clock_(clock), leaser_(std::move(leaser)) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

RedisCore::~RedisCore() {
  if (stop_fd_ >= 0) {
    ::close(stop_fd_);
  }
}

void RedisCore::start(std::unique_ptr<RedisConn> first) {
  auto self = shared_from_this();
  for (std::size_t i = 0; i < kThreads; ++i) {
    auto conn = i == 0 ? std::move(first) : std::make_unique<RedisConn>(address_);
    threads_.emplace_back([self, c = std::move(conn)]() mutable { self->work(std::move(c)); });
  }
  threads_.emplace_back([self] { self->subscribe(); });
  threads_.emplace_back([self] { self->tick(); });
}

bool RedisCore::post(std::function<void(RedisConn&)> task) {
  {
    std::lock_guard lock(tasks_mu_);
    if (closing_) {
      return false;
    }
    tasks_.push_back(std::move(task));
  }
  tasks_cv_.notify_one();
  return true;
}

bool RedisCore::stopping() const {
  std::lock_guard lock(tasks_mu_);
  return closing_;
}

void RedisCore::pause_for(std::chrono::milliseconds d) {
  std::unique_lock lock(tasks_mu_);
  stop_cv_.wait_for(lock, d, [&] { return closing_; });
}

void RedisCore::work(std::unique_ptr<RedisConn> conn) {
  for (;;) {
    std::function<void(RedisConn&)> task;
    {
      std::unique_lock lock(tasks_mu_);
      tasks_cv_.wait(lock, [&] { return closing_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task(*conn);
  }
}

CancelWait RedisCore::wait(const std::string& queue, std::size_t n, Millis ttl, Millis wait,
                           Done<std::vector<Leased>> done) {
  auto waiter = std::make_shared<Waiter>();
  waiter->n = n;
  waiter->ttl = ttl;
  waiter->deadline = clock_.now() + wait;
  waiter->done = std::move(done);
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      auto& waits = waits_[queue];
      waits.list.push_back(waiter);
      start_serve_locked(queue, waits);
      std::weak_ptr<RedisCore> weak_core = weak_from_this();
      std::weak_ptr<Waiter> weak_waiter = waiter;
      return [weak_core, weak_waiter] {
        auto core = weak_core.lock();
        auto w = weak_waiter.lock();
        if (core && w) {
          core->cancel(w);
        }
      };
    }
  }
  waiter->done(closed_error());
  return [] {};
}

void RedisCore::cancel(const std::shared_ptr<Waiter>& waiter) {
  {
    std::lock_guard lock(mu_);
    if (waiter->answered) {
      return;
    }
    waiter->answered = true;
  }
  waiter->done(std::vector<Leased>{});
}

void RedisCore::wake(const std::string& queue) {
  std::lock_guard lock(mu_);
  auto it = waits_.find(queue);
  if (it != waits_.end()) {
    start_serve_locked(queue, it->second);
  }
}

void RedisCore::start_serve_locked(const std::string& queue, QueueWaits& waits) {
  if (waits.serving) {
    waits.again = true;
    return;
  }
  waits.serving = true;
  waits.again = false;
  auto self = shared_from_this();
  if (!post([self, queue](RedisConn& conn) { self->serve(conn, queue); })) {
    waits.serving = false;
  }
}

void RedisCore::serve(RedisConn& conn, const std::string& queue) {
  while (auto waiter = next_waiter(queue)) {
    auto leased = leaser_.lease(conn, queue, waiter->n, waiter->ttl);
    if (!settle(conn, queue, waiter, std::move(leased))) {
      return;
    }
  }
}

std::shared_ptr<RedisCore::Waiter> RedisCore::next_waiter(const std::string& queue) {
  std::lock_guard lock(mu_);
  auto it = waits_.find(queue);
  if (it == waits_.end()) {
    return nullptr;
  }
  auto& list = it->second.list;
  while (!list.empty() && list.front()->answered) {
    list.pop_front();
  }
  if (list.empty()) {
    waits_.erase(it);
    return nullptr;
  }
  it->second.again = false;
  return list.front();
}

bool RedisCore::settle(RedisConn& conn, const std::string& queue,
                       const std::shared_ptr<Waiter>& waiter, Result<LeaseBatch> leased) {
  std::vector<std::shared_ptr<Waiter>> failed;
  bool deliver = false;
  bool give_back = false;
  bool more = true;
  {
    std::lock_guard lock(mu_);
    auto it = waits_.find(queue);
    if (!leased) {
      // The queue cannot be leased from (no queue, Redis down): every wait of it ends.
      if (it != waits_.end()) {
        failed.assign(it->second.list.begin(), it->second.list.end());
        waits_.erase(it);
      }
      failed.push_back(waiter);
      std::erase_if(failed, [](const auto& w) { return std::exchange(w->answered, true); });
      more = false;
    } else if (waiter->answered) {
      give_back = !leased->items.empty();  // cancelled or closed while the lease ran
    } else if (!leased->items.empty()) {
      waiter->answered = true;
      deliver = true;
    } else if (it == waits_.end()) {
      more = false;
    } else {
      auto& waits = it->second;
      auto poll = std::chrono::duration_cast<SteadyClock::duration>(address_.poll_every);
      if (leased->next_due) {
        poll = std::min<SteadyClock::duration>(poll, *leased->next_due + 1ms);
      }
      waits.next_poll = SteadyClock::now() + poll;
      more = std::exchange(waits.again, false);
      waits.serving = more;
    }
  }
  for (auto& w : failed) {
    w->done(leased.error());
  }
  if (deliver) {
    waiter->done(std::move(leased->items));
  } else if (give_back) {
    leaser_.release(conn, leased->items);
  }
  return more;
}

void RedisCore::tick() {
  auto next_sweep = SteadyClock::now() + kSweepEvery;
  while (!stopping()) {
    std::vector<std::shared_ptr<Waiter>> ended;
    {
      std::lock_guard lock(mu_);
      auto now = clock_.now();
      auto steady = SteadyClock::now();
      for (auto it = waits_.begin(); it != waits_.end();) {
        auto& waits = it->second;
        for (auto& w : waits.list) {
          if (!w->answered && now >= w->deadline) {
            w->answered = true;
            ended.push_back(w);
          }
        }
        std::erase_if(waits.list, [](const auto& w) { return w->answered; });
        if (waits.list.empty() && !waits.serving) {
          it = waits_.erase(it);
          continue;
        }
        if (!waits.serving && steady >= waits.next_poll) {
          start_serve_locked(it->first, waits);
        }
        ++it;
      }
    }
    for (auto& w : ended) {
      w->done(std::vector<Leased>{});
    }
    if (sweep_ && SteadyClock::now() >= next_sweep && !sweeping_.exchange(true)) {
      next_sweep = SteadyClock::now() + kSweepEvery;
      auto self = shared_from_this();
      if (!post([self](RedisConn& conn) {
            self->sweep_(conn);
            self->sweeping_ = false;
          })) {
        sweeping_ = false;
      }
    }
    pause_for(kTick);
  }
}

void RedisCore::subscribe() {
  RedisConn conn(address_);
  const std::string channel = address_.prefix + "wake";
  while (!stopping()) {
    auto subscribed = conn.command({"SUBSCRIBE", channel});
    if (!subscribed || (*subscribed)->type == REDIS_REPLY_ERROR) {
      conn.drop();
      pause_for(kResubscribeAfter);
      continue;
    }
    auto ctx = conn.context();
    if (!ctx) {
      continue;
    }
    redisContext* c = *ctx;
    {
      // Whatever was published while not subscribed: serve every wait once.
      std::lock_guard lock(mu_);
      for (auto& [queue, waits] : waits_) {
        start_serve_locked(queue, waits);
      }
    }
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) {
        break;
      }
      if (raw != nullptr) {
        Reply reply(static_cast<redisReply*>(raw));
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
            reply->element[2]->type == REDIS_REPLY_STRING) {
          wake(std::string(reply->element[2]->str, reply->element[2]->len));
        }
        continue;
      }
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno != EINTR) {
        break;
      }
      if ((fds[1].revents & POLLIN) != 0) {
        return;
      }
      if (fds[0].revents != 0 && redisBufferRead(c) != REDIS_OK) {
        break;
      }
    }
    log::warn("queue store " + address_.describe() + ": subscription lost (" +
              std::string(c->errstr) + "); subscribing again");
    conn.drop();
    pause_for(kResubscribeAfter);
  }
}

void RedisCore::close() {
  std::vector<std::shared_ptr<Waiter>> open;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    for (auto& [queue, waits] : waits_) {
      for (auto& w : waits.list) {
        if (!w->answered) {
          w->answered = true;
          open.push_back(w);
        }
      }
      waits.list.clear();
    }
  }
  for (auto& w : open) {
    w->done(std::vector<Leased>{});
  }
  {
    std::lock_guard lock(tasks_mu_);
    closing_ = true;
  }
  tasks_cv_.notify_all();
  stop_cv_.notify_all();
  std::uint64_t one = 1;
  if (stop_fd_ >= 0) {
    (void)!::write(stop_fd_, &one, sizeof one);
  }
  for (auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

}  // namespace tender::workqueue::redis

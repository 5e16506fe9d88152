// The etcd backend's watches: each candidate's predecessor (and the takeover of a silent
// leader by its successor), and the leader as everyone observes it.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/log.hpp"
#include "election/etcd_backend_impl.hpp"

namespace tender::election {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using namespace std::chrono_literals;

namespace {

// What an on_message callback returns to end a watch because the key it watches is gone (or,
// watching the whole election, a key was put): the caller ranges again.
Error changed() { return {std::errc::no_such_file_or_directory, "etcd: the watched key changed"}; }
bool is_changed(const Error& e) { return e.code() == std::errc::no_such_file_or_directory; }

}  // namespace

asio::awaitable<std::string> EtcdBackend::follow() {
  Backoff backoff(retry_policy(), clock_);
  for (;;) {
    if (revision_ <= 1) {
      lead();
    } else {
      auto before = etcd::Range::by_creation(dir_, /*descend=*/true, 1);
      before.max_create_revision = revision_ - 1;
      auto found = co_await ask(etcd::range(before), &etcd::parse_range);
      if (!found) {
        co_await sleep(backoff.next());
        continue;
      }
      if (found->kvs.empty()) {
        lead();
      } else {
        etcd::KeyValue kv = std::move(found->kvs[0]);
        if (predecessor_ != kv.key) {
          etcd_log(0, "etcd: watching the predecessor", "key", key_, "predecessor", kv.key);
          predecessor_ = kv.key;
        }
        auto watched = co_await watch_predecessor(std::move(kv), found->revision);
        if (watched) {
          backoff.reset();
        } else if (watched.error().code() != std::errc::operation_canceled) {
          etcd_log(0, "etcd: predecessor watch failed", "error", watched.error().message());
          co_await sleep(backoff.next());
        }
        continue;
      }
    }
    // Leading: nothing to follow. hold() ends the candidacy when the term ends.
    asio::steady_timer forever(co_await asio::this_coro::executor,
                               asio::steady_timer::time_point::max());
    co_await forever.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<Result<>> EtcdBackend::watch_predecessor(etcd::KeyValue kv, std::int64_t revision) {
  if (beat_key_ != kv.key) {
    beat_key_ = kv.key;
    beat_seen_.reset();
    beat_mod_ = 0;
  }
  // A key put again since its creation is a leader's that beats; a candidate's never is.
  if (kv.mod_revision > kv.create_revision && kv.mod_revision != beat_mod_) {
    note_beat(kv, clock_.now());
  }
  auto on_message = [&](const etcd::WatchMessage& m) -> Result<> {
    for (const etcd::Event& e : m.events) {
      if (e.kv.key != kv.key) {
        continue;
      }
      if (e.type == etcd::Event::Type::kDelete) {
        return changed();
      }
      note_beat(e.kv, clock_.now());
    }
    return {};
  };
  auto ended = co_await (client_.watch(etcd::watch(kv.key, "", revision + 1), on_message) ||
                         take_over_when_silent(kv));
  Result<> r = std::visit([](auto& x) { return Result<>(x); }, ended);
  if (!r && is_changed(r.error())) {
    co_return Result<>{};
  }
  co_return r;
}

asio::awaitable<Result<>> EtcdBackend::take_over_when_silent(const etcd::KeyValue& kv) {
  for (;;) {
    if (!beat_seen_) {  // not armed: a candidate is left to its lease
      co_await sleep(renew_every_);
      continue;
    }
    auto due = *beat_seen_ + options_.ttl;
    auto now = clock_.now();
    if (now < due) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
      co_await sleep(std::clamp<Duration>(wait, 1ms, renew_every_));
      continue;
    }
    std::int64_t mod = beat_mod_;
    etcd::Call erase = etcd::txn({etcd::Compare::modified(kv.key, mod)}, {etcd::Op::erase(kv.key)},
                                 {etcd::Op::get(etcd::Range::one(kv.key))});
    auto txn = co_await ask(erase, &etcd::parse_txn);
    if (!txn) {
      co_await sleep(std::min<Duration>(renew_every_, 100ms));
      continue;
    }
    if (txn->succeeded) {
      etcd_log(1, "etcd: the leader went silent; its key is deleted", "leader", kv.key);
      co_return Result<>{};
    }
    if (txn->responses.empty() || txn->responses[0].kvs.empty()) {
      co_return Result<>{};  // gone meanwhile
    }
    note_beat(txn->responses[0].kvs[0], clock_.now());  // it did beat: carry on watching
  }
}

void EtcdBackend::note_beat(const etcd::KeyValue& kv, SteadyTime at) {
  if (kv.key != beat_key_) {
    return;
  }
  beat_mod_ = kv.mod_revision;
  beat_seen_ = at;
  report_observed();
}

asio::awaitable<void> EtcdBackend::observe() {
  Backoff backoff(retry_policy(), clock_);
  for (;;) {
    auto lowest =
        co_await ask(etcd::range(etcd::Range::by_creation(dir_, false, 1)), &etcd::parse_range);
    if (!lowest) {
      co_await sleep(backoff.next());
      continue;
    }
    std::optional<etcd::KeyValue> leader;
    if (!lowest->kvs.empty()) {
      leader = std::move(lowest->kvs[0]);
    }
    leader_key_ = leader ? leader->key : "";
    leader_name_ = leader ? leader->value : "";
    leader_token_ = leader ? static_cast<std::uint64_t>(leader->create_revision) : 0;
    report_observed();
    auto watched = co_await watch_leader(leader, lowest->revision);
    if (watched) {
      backoff.reset();
    } else if (watched.error().code() != std::errc::operation_canceled) {
      etcd_log(0, "etcd: leader watch failed", "error", watched.error().message());
      co_await sleep(backoff.next());
    }
  }
}

asio::awaitable<Result<>> EtcdBackend::watch_leader(const std::optional<etcd::KeyValue>& leader,
                                                    std::int64_t revision) {
  // With a leader, its key until it is deleted (its beats are PUTs, and no key created later
  // can be lower); without one, the whole election until a key is put.
  std::string key = leader ? leader->key : dir_;
  std::string end = leader ? std::string() : etcd::prefix_end(dir_);
  auto on_message = [&](const etcd::WatchMessage& m) -> Result<> {
    for (const etcd::Event& e : m.events) {
      if (leader ? e.type == etcd::Event::Type::kDelete : e.type == etcd::Event::Type::kPut) {
        return changed();
      }
    }
    return {};
  };
  auto r = co_await client_.watch(etcd::watch(key, end, revision + 1), on_message);
  if (!r && is_changed(r.error())) {
    co_return Result<>{};
  }
  co_return r;
}

void EtcdBackend::report_observed() {
  if (sink_ == nullptr) {
    return;
  }
  Observed now{leader_name_, leader_token_, std::nullopt};
  // The successor of the leader times its beats: its claim lapses ttl after the last one seen.
  if (!leader_key_.empty() && leader_key_ == beat_key_ && leader_key_ != key_ && beat_seen_) {
    now.expires = *beat_seen_ + options_.ttl;
  }
  if (told_ != now) {
    told_ = now;
    sink_->observed(now);
  }
}

}  // namespace tender::election

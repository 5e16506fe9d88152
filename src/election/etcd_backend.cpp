// The etcd backend: candidacy, the term and its renewals, resignation. The watches of the
// predecessor and of the leader are in etcd_watchers.cpp; the algorithm is summed up in
// etcd_backend_impl.hpp.
#include "election/etcd_backend.hpp"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <variant>

#include "core/asio_util.hpp"
#include "core/log.hpp"
#include "election/etcd_backend_impl.hpp"

namespace tender::election {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using asio::experimental::awaitable_operators::operator&&;
using namespace std::chrono_literals;

namespace {

std::string hex(std::int64_t id) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(id), 16);
  return {buf, end};
}

std::chrono::milliseconds renew_period(const BackendOptions& o) {
  auto every = o.renew_every.count() > 0 ? o.renew_every : o.ttl / 3;
  return std::max(every, std::chrono::milliseconds(10));
}

// How long after the send of the last acknowledged renewal a new one may still extend the term.
// The elector ends a claim somewhat before ttl (its drift and scheduling margin) and refuses a
// later renewal of it; a backend that could not renew within this gives the term up and
// stands anew rather than report it held again.
std::chrono::steady_clock::duration lapse_after(std::chrono::milliseconds ttl) {
  return std::max<std::chrono::steady_clock::duration>(
      std::min<std::chrono::steady_clock::duration>(ttl * 3 / 4, ttl - 250ms), ttl / 4);
}

}  // namespace

EtcdBackend::EtcdBackend(std::vector<HostPort> endpoints, std::string prefix,
                         const BackendOptions& options, asio::io_context& ioc)
    : dir_(prefix + "/" + options.election + "/"),
      options_(options),
      clock_(*options.clock),
      renew_every_(renew_period(options)),
      client_(ioc.get_executor(), std::move(endpoints),
              {.timeout = std::max(renew_every_, std::chrono::milliseconds(100))}),
      wake_(ioc),
      resign_signal_(ioc, asio::steady_timer::time_point::max()) {}

BackoffPolicy EtcdBackend::retry_policy() const {
  BackoffPolicy policy;
  policy.initial = std::min<Duration>(100ms, renew_every_);
  policy.max = std::max<Duration>(options_.ttl, 1s);
  policy.jitter = 0.2;
  return policy;
}

asio::awaitable<void> EtcdBackend::run(BackendSink& sink) {
  sink_ = &sink;
  client_.set_sink(&sink);
  // A run() after a cancelled one starts afresh: the old candidacy is left to its lease, and
  // nothing of it (leading, a term held) carries over.
  lease_ = 0;
  key_.clear();
  revision_ = 0;
  predecessor_.reset();
  leading_ = false;
  held_ = false;
  beat_key_.clear();
  beat_seen_.reset();
  beat_mod_ = 0;
  told_.reset();
  try {
    co_await (campaign() || observe());
  } catch (const boost::system::system_error&) {
    // cancelled: return at once, resigning nothing
  }
}

void EtcdBackend::resign(Resign how) {
  if (!resign_ || how == Resign::kLeave) {
    resign_ = how;
  }
  resign_signal_.cancel();
}

boost::json::object EtcdBackend::status() const {
  boost::json::array endpoints;
  for (const HostPort& e : client_.endpoints()) {
    endpoints.emplace_back(e.str());
  }
  boost::json::object out{{"backend", "etcd"},
                          {"endpoints", std::move(endpoints)},
                          {"endpoint", client_.current().str()},
                          {"lease", lease_ != 0 ? hex(lease_) : ""},
                          {"key", key_},
                          {"revision", revision_}};
  if (predecessor_) {
    out["predecessor"] = *predecessor_;
  } else {
    out["predecessor"] = nullptr;
  }
  return out;
}

asio::awaitable<void> EtcdBackend::campaign() {
  Backoff backoff(retry_policy(), clock_);
  for (;;) {
    if (resign_ == Resign::kLeave) {
      co_return;
    }
    resign_.reset();  // a kRejoin without a candidacy: nothing to give up
    auto stood = co_await stand();
    if (!stood) {
      etcd_log(2, "etcd: cannot stand", "error", stood.error().message());
      co_await pause(backoff.next());
      continue;
    }
    SteadyTime since = clock_.now();
    auto ended = co_await (hold() || follow() || resigned());
    std::string why = std::visit([](auto& s) { return std::string(s); }, ended);
    std::string old_key = key_;
    co_await withdraw(why);
    if (resign_ == Resign::kLeave) {
      co_return;
    }
    if (resign_ == Resign::kRejoin) {
      resign_.reset();
      co_await wait_to_rejoin(old_key);
    } else if (clock_.now() - since < options_.ttl) {
      co_await pause(backoff.next());  // ended at once: do not stand in a tight loop
    } else {
      backoff.reset();
    }
  }
}

asio::awaitable<Result<>> EtcdBackend::stand() {
  auto ttl_s =
      std::max<std::int64_t>(std::chrono::ceil<std::chrono::seconds>(options_.ttl).count(), 2);
  auto lease = co_await ask(etcd::lease_grant(ttl_s), &etcd::parse_lease_grant);
  if (!lease) {
    co_return lease.error().with_context("lease grant");
  }
  lease_ = lease->id;
  key_ = dir_ + hex(lease_);
  // (Built outside co_await expressions: g++ 12 cannot keep initializer lists in a coroutine.)
  etcd::Call make_key =
      etcd::txn({etcd::Compare::created(key_, 0)}, {etcd::Op::put(key_, options_.id, lease_)},
                {etcd::Op::get(etcd::Range::one(key_))});
  Error last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    // An answer lost after the key was made fails the compare on the next attempt: the range
    // then gives its revision.
    auto made = co_await ask(make_key, &etcd::parse_txn);
    if (made && made->succeeded) {
      revision_ = made->revision;
    } else if (made && !made->responses.empty() && !made->responses[0].kvs.empty()) {
      revision_ = made->responses[0].kvs[0].create_revision;
    }
    if (revision_ > 0) {
      etcd_log(1, "etcd: standing", "key", key_, "revision", std::to_string(revision_));
      co_return Result<>{};
    }
    last =
        made ? Error(std::errc::bad_message, "the key was neither made nor found") : made.error();
    if (!made && etcd::refused(made.error())) {
      break;
    }
    co_await pause(renew_every_ / 2);
  }
  (void)co_await ask(etcd::lease_revoke(lease_), &etcd::parse_lease_revoke);
  lease_ = 0;
  key_.clear();
  co_return last.with_context("candidacy key");
}

asio::awaitable<std::string> EtcdBackend::hold() {
  for (;;) {
    bool beat = leading_;
    auto started = std::chrono::steady_clock::now();
    std::string why = co_await renew_once();
    if (!why.empty()) {
      co_return why;
    }
    if (leading_ && !beat) {
      continue;  // took the lead during the round: beat at once
    }
    wake_.expires_at(started + renew_every_);
    co_await wake_.async_wait(kTuple);  // cancelled by lead()
  }
}

asio::awaitable<std::string> EtcdBackend::renew_once() {
  bool beat = leading_;
  SteadyTime sent = clock_.now();
  // The leader's beat puts its key again (a PUT event its successor times); a candidate only
  // checks that its key is still there.
  std::vector<etcd::Op> put;
  if (beat) {
    put.push_back(etcd::Op::put(key_, options_.id, lease_));
  }
  etcd::Call check = etcd::txn({etcd::Compare::created(key_, revision_)}, put, {});
  auto [alive, owned] =
      co_await (ask(etcd::lease_keepalive(lease_), &etcd::parse_lease_keepalive) &&
                ask(check, &etcd::parse_txn));
  if (alive && alive->ttl <= 0) {
    co_return "lease expired";
  }
  if (owned && !owned->succeeded) {
    co_return "key deleted";
  }
  if (!alive && etcd::refused(alive.error())) {
    co_return alive.error().message();  // e.g. the lease is not found
  }
  if (!owned && etcd::refused(owned.error())) {
    co_return owned.error().message();
  }
  if (!alive || !owned || !beat) {
    co_return "";
  }
  if (held_ && sent - last_held_sent_ >= lapse_after(options_.ttl)) {
    co_return "renewal lapsed";
  }
  if (!held_) {
    etcd_log(1, "etcd: leading", "key", key_, "token", std::to_string(revision_));
  }
  held_ = true;
  last_held_sent_ = sent;
  sink_->held(static_cast<std::uint64_t>(revision_), sent);
  sink_->renewed_in(clock_.now() - sent);
  co_return "";
}

asio::awaitable<void> EtcdBackend::withdraw(std::string_view why) {
  if (held_) {
    sink_->lost(static_cast<std::uint64_t>(revision_), why);
  }
  etcd_log(1, "etcd: candidacy over", "key", key_, "why", why);
  std::string key = key_;
  std::int64_t revision = revision_;
  std::int64_t lease = lease_;
  lease_ = 0;
  key_.clear();
  revision_ = 0;
  leading_ = false;
  held_ = false;
  predecessor_.reset();
  beat_key_.clear();
  beat_seen_.reset();
  beat_mod_ = 0;
  report_observed();
  if (lease != 0) {
    // Best effort: a key left behind goes with its lease, which is no longer kept alive.
    auto erase = etcd::txn({etcd::Compare::created(key, revision)}, {etcd::Op::erase(key)}, {});
    (void)co_await (ask(erase, &etcd::parse_txn) &&
                    ask(etcd::lease_revoke(lease), &etcd::parse_lease_revoke));
  }
}

asio::awaitable<void> EtcdBackend::wait_to_rejoin(const std::string& old_key) {
  SteadyTime until = clock_.now() + options_.ttl;
  while (clock_.now() < until) {
    if (resign_ == Resign::kLeave) {
      co_return;
    }
    resign_.reset();  // a second kRejoin: nothing more to give up
    if (!leader_key_.empty() && leader_key_ != old_key) {
      co_return;
    }
    co_await pause(20ms);
  }
}

asio::awaitable<std::string> EtcdBackend::resigned() {
  while (!resign_) {
    co_await resign_signal_.async_wait(kTuple);
  }
  co_return "resigned";
}

asio::awaitable<void> EtcdBackend::pause(Duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await (timer.async_wait(kTuple) || resigned());
}

asio::awaitable<void> EtcdBackend::sleep(Duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(kTuple);
}

void EtcdBackend::lead() {
  if (!leading_) {
    log::info("etcd: no predecessor; taking the lead", {{"key", key_}});
  }
  leading_ = true;
  predecessor_.reset();
  wake_.cancel();
}

std::unique_ptr<Backend> make_etcd_backend(std::vector<HostPort> endpoints, std::string prefix,
                                           const BackendOptions& options,
                                           boost::asio::io_context& ioc) {
  return std::make_unique<EtcdBackend>(std::move(endpoints), std::move(prefix), options, ioc);
}

}  // namespace tender::election

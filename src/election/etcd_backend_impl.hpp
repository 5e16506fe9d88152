#pragma once
// The etcd backend's state and coroutines, shared by etcd_backend.cpp (candidacy, term,
// resignation) and etcd_watchers.cpp (the predecessor and the leader). (Private to
// src/election.)
//
// The algorithm (docs/elect.md says what it guarantees):
// - A lease (TTL max(ceil(ttl), 2) s) kept alive every renew_every. Candidacy: the key
//   <prefix>/<election>/<lease id in hex>, value the candidate's id, created in a txn (compare
//   CREATE == 0, put with the lease). The leader is the key with the lowest create revision,
//   which is the term's token.
// - Each candidate watches only its predecessor (the next lower key). Without one it leads.
// - The leader beats: every renew_every, with the keep-alive, a txn "compare CREATE(own key) ==
//   own revision -> put own key". A round in which both are acknowledged is the renewal:
//   held(token, sent_at). A failed compare, or a lease gone, ends the term.
// - The successor of a leader times its heartbeats (PUT events on the watched key) and, ttl
//   after the last one it saw, deletes the key in a txn "compare MOD == the last mod revision
//   seen": the leader's claim ended ttl (less a margin) after the send of its last beat, which
//   was before the successor received it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "election/backend.hpp"
#include "election/etcd_api.hpp"
#include "election/etcd_client.hpp"

namespace tender::election {

class EtcdBackend final : public Backend {
 public:
  EtcdBackend(std::vector<HostPort> endpoints, std::string prefix, const BackendOptions& options,
              boost::asio::io_context& ioc);

  boost::asio::awaitable<void> run(BackendSink& sink) override;
  void resign(Resign how) override;
  [[nodiscard]] boost::json::object status() const override;

 private:
  using Duration = std::chrono::steady_clock::duration;

  // --- candidacy and term (etcd_backend.cpp) ----------------------------------------------
  // Stands, holds, withdraws and stands again until resign(kLeave).
  boost::asio::awaitable<void> campaign();
  // A lease and a key: fills lease_, key_, revision_. Fails when a request does.
  boost::asio::awaitable<Result<>> stand();
  // Keeps the lease alive and, while leading, beats; returns why the candidacy ended.
  boost::asio::awaitable<std::string> hold();
  // One round of hold(): empty to carry on, else why the candidacy ended.
  boost::asio::awaitable<std::string> renew_once();
  // Reports the term lost (if held), deletes the key and revokes the lease, best effort.
  boost::asio::awaitable<void> withdraw(std::string_view why);
  // Returns once another leader is observed or ttl has passed (or at kLeave).
  boost::asio::awaitable<void> wait_to_rejoin(const std::string& old_key);
  // Returns "resigned" once resign() was called.
  boost::asio::awaitable<std::string> resigned();
  // Waits `d`, or less if resign() is called meanwhile.
  boost::asio::awaitable<void> pause(Duration d);
  // Waits `d`.
  static boost::asio::awaitable<void> sleep(Duration d);
  // Retries after failed requests.
  [[nodiscard]] BackoffPolicy retry_policy() const;

  // --- the predecessor and the leader (etcd_watchers.cpp) -----------------------------------
  // Finds the predecessor and watches it, again after each is gone; leads without one. Returns
  // only if the candidacy cannot go on (own key gone), with why.
  boost::asio::awaitable<std::string> follow();
  // Watches predecessor `kv` (read at `revision`) and takes its key over ttl after its last
  // heartbeat seen. Returns once it is gone (ok), or on an error (watch again).
  boost::asio::awaitable<Result<>> watch_predecessor(etcd::KeyValue kv, std::int64_t revision);
  // The successor's timer: deletes the predecessor's key ttl after its last beat seen.
  boost::asio::awaitable<Result<>> take_over_when_silent(const etcd::KeyValue& kv);
  // Observes the leader (the lowest key) for sink.observed(), for as long as run() runs.
  boost::asio::awaitable<void> observe();
  // Watches the lowest key until it is deleted, or the election's keys until one is put.
  boost::asio::awaitable<Result<>> watch_leader(const std::optional<etcd::KeyValue>& leader,
                                                std::int64_t revision);
  // The predecessor `kv` beat (or showed a beat at read time) at `at`.
  void note_beat(const etcd::KeyValue& kv, SteadyTime at);
  // Tells the sink who leads, when that changed.
  void report_observed();
  // Becomes leader: the next hold() round beats.
  void lead();
  // Sends `call`, parses the answer with `parse`.
  template <typename T>
  boost::asio::awaitable<Result<T>> ask(const etcd::Call& call,
                                        Result<T> (*parse)(int, std::string_view));

  // --- state ---------------------------------------------------------------------------------
  const std::string dir_;  // "<prefix>/<election>/"
  const BackendOptions options_;
  const Clock& clock_;
  const std::chrono::milliseconds renew_every_;
  EtcdClient client_;
  BackendSink* sink_ = nullptr;

  // The candidacy: 0 / empty while there is none.
  std::int64_t lease_ = 0;
  std::string key_;
  std::int64_t revision_ = 0;  // the key's create revision: the token of its term
  std::optional<std::string> predecessor_;
  bool leading_ = false;  // no predecessor: rounds beat
  bool held_ = false;     // held() was reported for revision_
  SteadyTime last_held_sent_{};
  boost::asio::steady_timer wake_;  // cancelled to start a round at once (on taking the lead)

  // The successor's view of its predecessor's beats.
  std::string beat_key_;
  std::int64_t beat_mod_ = 0;
  std::optional<SteadyTime> beat_seen_;

  // Observation.
  std::string leader_key_;
  std::string leader_name_;
  std::uint64_t leader_token_ = 0;
  std::optional<Observed> told_;

  std::optional<Resign> resign_;
  boost::asio::steady_timer resign_signal_;  // never expires; cancelled by resign()
};

template <typename T>
boost::asio::awaitable<Result<T>> EtcdBackend::ask(const etcd::Call& call,
                                                   Result<T> (*parse)(int, std::string_view)) {
  auto answer = co_await client_.send(call);
  if (!answer) {
    co_return answer.error();
  }
  co_return parse(answer->status, answer->body);
}

}  // namespace tender::election

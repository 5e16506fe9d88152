#pragma once
// The elector: what this replica may claim, and until when. Pure logic over a `Clock`, fed by a
// backend's reports (backend.hpp), read by the HTTP API, the exec child and the webhook.
//
// The safety rules, each a test in elector_test.cpp:
// - A term is claimed only until `sent_at + claim` of its last acknowledged renewal, where
//   `claim = ttl * (1 - 2 * max_drift) - margin`. `sent_at` is read before the request left, so
//   neither a slow answer nor a pause of this process stretches the claim; the backend lets
//   another candidate take over no sooner than `ttl` after that send (its own clock), so the
//   claim ends first even if the two clocks' rates differ by up to `max_drift` each.
// - `leading()` is decided from the clock when it is asked, not when a timer fires: a process
//   resumed after SIGSTOP answers "not leader" before any of its timers has run.
// - A term that has ended (lapsed, lost or resigned) is never claimed again: a late renewal of
//   it is refused (`held` returns kStale) and the backend must stand for a new token.
// - Without acknowledged contact there is no renewal, so losing the backend ends the claim at
//   the latest `claim` after the last renewal's send.
//
//   Elector elector("pod-a", {.ttl = 2s}, clock);
//   elector.held(7, sent_at);           // backend: term 7 acknowledged for a request sent then
//   if (elector.leading()) { ... }       // true until sent_at + claim
//   timer.expires_at(*elector.deadline());   ... elector.tick();   // publishes the lapse
//
// Thread-safe: the elector thread feeds it while HTTP threads read it.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "election/backend.hpp"

namespace tender::election {

struct Timing {
  std::chrono::milliseconds ttl{2'000};
  // Bound on how far a clock's rate may differ from true time (1e-3: 1 ms per second), for this
  // machine's and the backend's or the other candidates' clocks each.
  double max_drift = 1e-3;
  // Stop claiming this long before the drift-adjusted end, for the exec child's SIGTERM and
  // the scheduling of this process. Must leave a positive claim.
  std::chrono::milliseconds margin{200};

  // How long after a renewal's send the claim lasts.
  [[nodiscard]] std::chrono::steady_clock::duration claim() const;
};

// What this replica knows of the election, at one moment.
struct View {
  std::string leader;       // the leader's id; empty while there is none this replica can name
  std::uint64_t token = 0;  // the leader's fencing token; 0 with no leader
  bool self = false;        // this replica leads and may act as leader now
  // When this replica first saw the current term (calendar time, for people and logs).
  std::optional<std::chrono::system_clock::time_point> term_started;
  // Time left on the leader's claim: this replica's own claim when `self`, else what the
  // backend could tell of the leader's lease (nullopt when it cannot).
  std::optional<std::chrono::milliseconds> valid_for;
  std::uint64_t version = 0;  // bumped on every change of leader, token or self
  bool backend_ok = false;    // the backend answered the last request made of it
  std::string backend_error;  // why not, when !backend_ok
};

class Elector {
 public:
  // What a report did to this replica's claim.
  enum class Outcome {
    kNone,     // nothing that the app must hear of (a renewal, a leader seen again)
    kGained,   // this replica leads from now on
    kLost,     // this replica no longer leads
    kChanged,  // another leader, or none, is seen now
    kStale,    // a report of a term already over: refused; the backend must stand anew
  };

  Elector(std::string id, Timing timing, const Clock& clock = system_clock());

  // The backend acknowledged term `token` for a request sent at `sent_at`. Starts the term (if
  // its claim has not already run out) or extends it. kStale when `token` is a term that has
  // ended, or not newer than the last one this replica held.
  Outcome held(std::uint64_t token, SteadyTime sent_at);
  // The term `token` is over (taken over, deleted, refused). kLost when it was claimed.
  Outcome lost(std::uint64_t token, std::string_view why);
  // Gives up the current claim at once, before the backend is told (POST /v1/resign, SIGTERM).
  Outcome resign(std::string_view why);
  // The leader as the backend sees it.
  Outcome observed(const Observed& leader);
  // Whether the backend answers.
  void contact(bool ok, std::string_view why);
  // Ends a claim whose time has run out. Call it at deadline(); harmless at any other time.
  Outcome tick();

  // This replica leads now, by the clock.
  [[nodiscard]] bool leading() const;
  // When the current claim runs out (when tick() must run), or nullopt without one.
  [[nodiscard]] std::optional<SteadyTime> deadline() const;
  [[nodiscard]] View view() const;
  // The token of the term this replica holds or held last; 0 if none.
  [[nodiscard]] std::uint64_t own_token() const;
  // Why the last claim ended ("resigned", "lease ran out", the backend's reason).
  [[nodiscard]] std::string last_loss() const;
  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] const Timing& timing() const { return timing_; }

 private:
  // What the app is told: who leads, with which token, and whether it is this replica. Decided
  // from state, not from the clock, so that a lapse is a change once tick() has ended it.
  struct Told {
    std::string leader;
    std::uint64_t token = 0;
    bool self = false;
    friend bool operator==(const Told&, const Told&) = default;
  };
  // The mutex is held by the caller of each of these.
  [[nodiscard]] Told told() const;
  // Bumps the version (and notes when the term was first seen) if told() differs from `before`.
  void settle(const Told& before);
  // The observed leader, unless it is this replica's own term that it does not claim, or a term
  // older than one already told.
  [[nodiscard]] bool shows_observed() const;
  Outcome end_claim(std::string_view why);
  Outcome expire();  // ends a claim whose time has run out

  const std::string id_;
  const Timing timing_;
  const Clock& clock_;
  mutable std::mutex mu_;
  bool claiming_ = false;
  std::uint64_t token_ = 0;         // the term claimed, or the last one held
  std::uint64_t ended_ = 0;         // every term <= this one is over for this replica
  std::uint64_t highest_told_ = 0;  // the largest token told the app so far
  SteadyTime valid_until_{};        // while claiming
  std::optional<std::chrono::system_clock::time_point> term_seen_;
  Observed observed_;
  std::uint64_t version_ = 0;
  bool backend_ok_ = false;
  std::string backend_error_ = "not contacted yet";
  std::string last_loss_;
};

// "gained", "lost", ... for logs and webhooks.
[[nodiscard]] std::string_view outcome_name(Elector::Outcome outcome);

}  // namespace tender::election

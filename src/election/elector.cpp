#include "election/elector.hpp"

#include <algorithm>
#include <utility>

namespace tender::election {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

milliseconds left(SteadyTime until, SteadyTime now) {
  return until > now ? duration_cast<milliseconds>(until - now) : milliseconds(0);
}

}  // namespace

std::chrono::steady_clock::duration Timing::claim() const {
  auto ttl_ns = static_cast<double>(duration_cast<nanoseconds>(ttl).count());
  auto drifted = nanoseconds(static_cast<std::int64_t>(ttl_ns * (1.0 - 2.0 * max_drift)));
  return duration_cast<std::chrono::steady_clock::duration>(drifted - margin);
}

std::string_view outcome_name(Elector::Outcome outcome) {
  switch (outcome) {
    case Elector::Outcome::kNone:
      return "none";
    case Elector::Outcome::kGained:
      return "gained";
    case Elector::Outcome::kLost:
      return "lost";
    case Elector::Outcome::kChanged:
      return "changed";
    case Elector::Outcome::kStale:
      return "stale";
  }
  return "unknown";
}

Elector::Elector(std::string id, Timing timing, const Clock& clock)
    : id_(std::move(id)), timing_(timing), clock_(clock) {}

bool Elector::shows_observed() const {
  if (observed_.name.empty()) {
    return false;
  }
  // The backend may see this replica's own term before held() (or after its claim ended):
  // the app must not hear "you lead" from GET / while am-leader says no.
  if (observed_.name == id_ || (token_ != 0 && observed_.token == token_)) {
    return false;
  }
  // A term older than one already told, or held here, is over: a backend's late or lagging
  // report (a watch on a member cut off from its cluster) must not take the token back.
  return observed_.token >= std::max(highest_told_, ended_);
}

Elector::Told Elector::told() const {
  if (claiming_) {
    return {id_, token_, true};
  }
  if (shows_observed()) {
    return {observed_.name, observed_.token, false};
  }
  return {};
}

void Elector::settle(const Told& before) {
  Told now = told();
  if (now == before) {
    return;
  }
  ++version_;
  highest_told_ = std::max(highest_told_, now.token);
  if (now.token != before.token) {
    term_seen_ = now.token != 0 ? std::optional(clock_.wall()) : std::nullopt;
  }
}

Elector::Outcome Elector::end_claim(std::string_view why) {
  claiming_ = false;
  ended_ = std::max(ended_, token_);
  last_loss_ = std::string(why);
  return Outcome::kLost;
}

Elector::Outcome Elector::expire() {
  if (claiming_ && clock_.now() >= valid_until_) {
    return end_claim("claim ran out: no renewal acknowledged in time");
  }
  return Outcome::kNone;
}

Elector::Outcome Elector::held(std::uint64_t token, SteadyTime sent_at) {
  std::lock_guard lock(mu_);
  Told before = told();
  Outcome out = expire();
  if (token <= ended_ || (token < token_)) {
    settle(before);
    return Outcome::kStale;
  }
  SteadyTime until = sent_at + timing_.claim();
  if (claiming_ && token == token_) {
    valid_until_ = std::max(valid_until_, until);
    return Outcome::kNone;
  }
  if (claiming_) {
    end_claim("replaced by term " + std::to_string(token));
  }
  token_ = token;
  if (until > clock_.now()) {  // acknowledged in time to claim anything
    claiming_ = true;
    valid_until_ = until;
    out = Outcome::kGained;
  }
  settle(before);
  return out;
}

Elector::Outcome Elector::lost(std::uint64_t token, std::string_view why) {
  std::lock_guard lock(mu_);
  Told before = told();
  Outcome out = expire();
  if (claiming_ && token == token_) {
    out = end_claim(why);
  } else {
    ended_ = std::max(ended_, token);
  }
  settle(before);
  return out;
}

Elector::Outcome Elector::resign(std::string_view why) {
  std::lock_guard lock(mu_);
  Told before = told();
  Outcome out = expire();
  if (claiming_) {
    out = end_claim(why);
  }
  settle(before);
  return out;
}

Elector::Outcome Elector::observed(const Observed& leader) {
  std::lock_guard lock(mu_);
  Told before = told();
  Outcome out = expire();
  observed_ = leader;
  settle(before);
  if (out == Outcome::kNone && !(told() == before)) {
    out = Outcome::kChanged;
  }
  return out;
}

void Elector::contact(bool ok, std::string_view why) {
  std::lock_guard lock(mu_);
  backend_ok_ = ok;
  backend_error_ = ok ? std::string() : std::string(why);
}

Elector::Outcome Elector::tick() {
  std::lock_guard lock(mu_);
  Told before = told();
  Outcome out = expire();
  settle(before);
  return out;
}

bool Elector::leading() const {
  std::lock_guard lock(mu_);
  return claiming_ && clock_.now() < valid_until_;
}

std::optional<SteadyTime> Elector::deadline() const {
  std::lock_guard lock(mu_);
  if (!claiming_) {
    return std::nullopt;
  }
  return valid_until_;
}

View Elector::view() const {
  std::lock_guard lock(mu_);
  SteadyTime now = clock_.now();
  View v;
  v.version = version_;
  v.backend_ok = backend_ok_;
  v.backend_error = backend_error_;
  if (claiming_ && now < valid_until_) {
    v.leader = id_;
    v.token = token_;
    v.self = true;
    v.valid_for = left(valid_until_, now);
    v.term_started = term_seen_;
  } else if (!claiming_ && shows_observed()) {
    v.leader = observed_.name;
    v.token = observed_.token;
    v.term_started = term_seen_;
    if (observed_.expires) {
      v.valid_for = left(*observed_.expires, now);
    }
  }
  return v;
}

std::uint64_t Elector::own_token() const {
  std::lock_guard lock(mu_);
  return token_;
}

std::string Elector::last_loss() const {
  std::lock_guard lock(mu_);
  return last_loss_;
}

}  // namespace tender::election

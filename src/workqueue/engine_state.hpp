#pragma once
// The engine's in-memory state (engine.cpp): items' metadata and each queue's indexes. Private
// to the engine's translation units.

#include <array>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "workqueue/journal.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue::engine {

struct Queue;

struct Meta {
  Queue* queue = nullptr;
  State state = State::kReady;
  bool pending = false;  // its enqueue is not durable yet: not leasable, not visible
  int priority = 0;
  int attempts = 0;
  int max_attempts = 0;
  std::int64_t enqueued_ms = 0;
  std::int64_t due_ms = 0;  // delayed: ready time; leased: lease expiry
  std::int64_t finished_ms = 0;
  std::array<std::uint64_t, 2> lease{};  // the current lease id's 128 bits
  std::uint32_t version = 0;             // bumped by every change
};

struct Waiter {
  std::uint64_t token = 0;
  std::size_t n = 1;
  std::optional<Millis> ttl;
  std::int64_t deadline_ms = 0;
  Done<std::vector<Leased>> done;
};

struct Queue {
  std::string name;
  QueueSettings settings;
  bool paused = false;
  std::set<std::pair<int, std::uint64_t>> ready;  // (-priority, id)
  std::set<std::uint64_t> dead;
  std::deque<std::pair<std::int64_t, std::uint64_t>> done;  // (finished_ms, id), oldest first
  std::uint64_t delayed = 0;
  std::uint64_t leased = 0;
  std::uint64_t pending = 0;
  std::list<Waiter> waiters;

  // Items that count against max_items: all but done ones.
  [[nodiscard]] std::uint64_t held() const {
    return ready.size() + dead.size() + delayed + leased + pending;
  }
};

// A lease id as the API shows it: 32 hex digits.
[[nodiscard]] std::string lease_text(const std::array<std::uint64_t, 2>& lease);
// The 128 bits of a lease id's text; nullopt if it is not 32 hex digits.
[[nodiscard]] std::optional<std::array<std::uint64_t, 2>> parse_lease(std::string_view text);
// 128 fresh random bits (getrandom).
[[nodiscard]] std::array<std::uint64_t, 2> random_lease();

[[nodiscard]] ItemRow row_of(std::uint64_t id, const Meta& m);
[[nodiscard]] ItemView view_of(std::uint64_t id, const Meta& m);

}  // namespace tender::workqueue::engine

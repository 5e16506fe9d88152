#include "workqueue/engine_state.hpp"

#include <sys/random.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>

namespace tender::workqueue::engine {

std::string lease_text(const std::array<std::uint64_t, 2>& lease) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[(lease[half] >> (60 - 4 * i)) & 0xf];
    }
  }
  return out;
}

std::optional<std::array<std::uint64_t, 2>> parse_lease(std::string_view text) {
  if (text.size() != 32) {
    return std::nullopt;
  }
  std::array<std::uint64_t, 2> lease{};
  for (std::size_t i = 0; i < 32; ++i) {
    const char c = text[i];
    std::uint64_t v = 0;
    if (c >= '0' && c <= '9') {
      v = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    lease[i / 16] = (lease[i / 16] << 4) | v;
  }
  return lease;
}

std::array<std::uint64_t, 2> random_lease() {
  // Drawn from a buffer refilled by getrandom, a few thousand leases per system call.
  static std::mutex mu;
  static std::array<std::uint64_t, 512> pool;
  static std::size_t used = pool.size();
  std::lock_guard lk(mu);
  if (used + 2 > pool.size()) {
    auto* bytes = reinterpret_cast<char*>(pool.data());
    std::size_t got = 0;
    while (got < sizeof(pool)) {
      ssize_t n = getrandom(bytes + got, sizeof(pool) - got, 0);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        throw std::runtime_error("getrandom failed");
      }
      got += static_cast<std::size_t>(n);
    }
    used = 0;
  }
  std::array<std::uint64_t, 2> lease{pool[used], pool[used + 1]};
  used += 2;
  return lease;
}

ItemRow row_of(std::uint64_t id, const Meta& m) {
  ItemRow r;
  r.id = id;
  r.queue = m.queue->name;
  r.state = m.state == State::kDelayed ? State::kReady : m.state;
  r.priority = m.priority;
  r.attempts = m.attempts;
  r.max_attempts = m.max_attempts;
  r.enqueued_ms = m.enqueued_ms;
  r.due_ms = m.due_ms;
  r.finished_ms = m.finished_ms;
  if (m.state == State::kLeased) {
    r.lease_id = lease_text(m.lease);
  }
  return r;
}

ItemView view_of(std::uint64_t id, const Meta& m) {
  ItemView v;
  v.id = id;
  v.queue = m.queue->name;
  v.state = m.state;
  v.priority = m.priority;
  v.attempts = m.attempts;
  v.max_attempts = m.max_attempts;
  v.enqueued = WallTime(Millis(m.enqueued_ms));
  if (m.state == State::kDelayed) {
    v.ready_at = WallTime(Millis(m.due_ms));
  }
  if (m.state == State::kLeased) {
    v.lease_expires = WallTime(Millis(m.due_ms));
  }
  if (m.state == State::kDone || m.state == State::kDead) {
    v.finished = WallTime(Millis(m.finished_ms));
  }
  return v;
}

}  // namespace tender::workqueue::engine

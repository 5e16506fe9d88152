#pragma once
// The engine: the memory and SQLite stores' state machine. Every item's metadata (state,
// priority, attempts, lease, due time) lives in memory under one lock, indexed per queue
// (ready by priority then id; delayed and leased by due time; dead by id; done by finish time),
// so a lease is a few set operations. Bodies and durability belong to the Journal.
//
// Each operation changes the state in memory and hands the change to the journal in the same
// locked step (so the journal sees changes in their order), then answers once the journal has
// it: an enqueued item becomes leasable only then, and a change the journal fails is undone
// (unless the item has moved on since). Leases are the exception: they are answered at once
// and journaled behind; a lease lost in a crash only makes its item come back sooner.
//
// A timer thread moves due delayed items to ready, expires leases, ends long-poll waits and,
// once a second, forgets done items past the retention and idempotency keys past their window.
// tick() does the same on demand (tests with a FakeClock call it).

#include <memory>

#include "workqueue/journal.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue {

class EngineStore;

// The engine behind engine_store(), for tests that drive its clock.
class Engine : public Store {
 public:
  // Runs everything due at the clock's current time, as the timer thread does.
  virtual void tick() = 0;
};

// As engine_store(), typed for tests; `timer_thread` false leaves ticking to the caller.
[[nodiscard]] Result<std::unique_ptr<Engine>> make_engine(std::unique_ptr<Journal> journal,
                                                          StoreSettings settings,
                                                          bool timer_thread = true);

}  // namespace tender::workqueue

#pragma once
// What the engine (engine.hpp) keeps outside its memory: the items' bodies (payload, result,
// error) and, for a durable journal, every state change, written before the engine answers.
// Two journals: memory (bodies in a map; nothing survives) and SQLite (sqlite_journal.cpp).
//
// The engine calls write() while holding its own lock, in the order of its state changes, so a
// journal applies writes in the order given. A synchronous journal (memory) answers in the
// call; an asynchronous one (SQLite: group commit) answers later on its own thread, and the
// engine then takes its lock again.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue {

// An item's metadata as the journal records it (the engine's own record is smaller).
struct ItemRow {
  std::uint64_t id = 0;
  std::string queue;
  State state = State::kReady;  // kReady covers delayed (due_ms in the future)
  int priority = 0;
  int attempts = 0;
  int max_attempts = 0;
  std::int64_t enqueued_ms = 0;
  std::int64_t due_ms = 0;       // ready: when it is ready; leased: when the lease expires
  std::int64_t finished_ms = 0;  // done, dead
  std::string lease_id;          // leased
};

struct Mutation {
  enum class Kind {
    kInsert,       // a new item: row, payload
    kUpdate,       // row's metadata; result and error when set
    kDelete,       // id: the item and its bodies
    kQueue,        // a queue created, paused or resumed: queue, paused
    kIdempotency,  // queue, key, id, expires_ms (a new key)
    kForgetKeys,   // keys that expired before expires_ms
  };
  Kind kind = Kind::kUpdate;
  ItemRow row;
  std::string payload;
  std::optional<std::string> result;
  std::optional<std::string> error;
  bool paused = false;
  std::string key;
  std::int64_t expires_ms = 0;
};

struct Bodies {
  std::string payload;
  std::string result;
  std::string error;
};

// What a journal holds at open.
struct Loaded {
  std::vector<ItemRow> items;  // by id
  struct Queue {
    std::string name;
    bool paused = false;
  };
  std::vector<Queue> queues;
  struct Key {
    std::string queue;
    std::string key;
    std::uint64_t id = 0;
    std::int64_t expires_ms = 0;
  };
  std::vector<Key> keys;
  std::uint64_t last_id = 0;  // the largest id ever given (ids are never reused)
};

class Journal {
 public:
  virtual ~Journal() = default;
  [[nodiscard]] virtual std::string describe() const = 0;
  // The state at open. Errors name the file.
  [[nodiscard]] virtual Result<Loaded> load() = 0;
  // Applies `mutations` as one unit. Synchronous journals return the result and never call
  // `done`; asynchronous ones return nullopt and call `done` once, later, on their own thread
  // (after the unit is durable). Either way a failure means none of it was applied.
  [[nodiscard]] virtual std::optional<Result<>> write(std::vector<Mutation> mutations,
                                                      std::function<void(Result<>)> done) = 0;
  // Bodies of committed items; `with_payload` false leaves payloads empty. Items it does not
  // have are missing from the answer. Any thread.
  [[nodiscard]] virtual Result<std::vector<std::pair<std::uint64_t, Bodies>>> read(
      const std::vector<std::uint64_t>& ids, bool with_payload) = 0;
  [[nodiscard]] virtual StoreStats stats() const { return {}; }
  virtual void set_commit_observer(CommitObserver observer) { (void)observer; }
  // Finishes writes in flight (their `done` is called) and stops.
  virtual void close() = 0;
};

[[nodiscard]] std::unique_ptr<Journal> memory_journal();
// Opens (creating if missing) the SQLite file at `path`, with its schema. Errors name the path.
[[nodiscard]] Result<std::unique_ptr<Journal>> sqlite_journal(const std::string& path);

// A store on `journal`: items' state in memory, bodies and durability in the journal. Loads
// the journal's state. Errors: the journal's load errors.
[[nodiscard]] Result<std::unique_ptr<Store>> engine_store(std::unique_ptr<Journal> journal,
                                                          StoreSettings settings);

}  // namespace tender::workqueue

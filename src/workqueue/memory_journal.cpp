// The memory journal: bodies in a map; nothing is durable, every write succeeds at once.
#include <mutex>
#include <unordered_map>

#include "workqueue/journal.hpp"

namespace tender::workqueue {
namespace {

class MemoryJournal final : public Journal {
 public:
  std::string describe() const override { return "memory"; }
  Result<Loaded> load() override { return Loaded(); }

  std::optional<Result<>> write(std::vector<Mutation> mutations,
                                std::function<void(Result<>)> done) override {
    (void)done;
    std::lock_guard lk(mu_);
    for (auto& m : mutations) {
      switch (m.kind) {
        case Mutation::Kind::kInsert:
          bodies_[m.row.id].payload = std::move(m.payload);
          break;
        case Mutation::Kind::kUpdate: {
          auto it = bodies_.find(m.row.id);
          if (it == bodies_.end()) {
            break;
          }
          if (m.result) {
            it->second.result = std::move(*m.result);
          }
          if (m.error) {
            it->second.error = std::move(*m.error);
          }
          break;
        }
        case Mutation::Kind::kDelete:
          bodies_.erase(m.row.id);
          break;
        case Mutation::Kind::kQueue:
        case Mutation::Kind::kIdempotency:
        case Mutation::Kind::kForgetKeys:
          break;
      }
    }
    return Result<>();
  }

  Result<std::vector<std::pair<std::uint64_t, Bodies>>> read(const std::vector<std::uint64_t>& ids,
                                                             bool with_payload) override {
    std::vector<std::pair<std::uint64_t, Bodies>> out;
    std::lock_guard lk(mu_);
    for (auto id : ids) {
      auto it = bodies_.find(id);
      if (it == bodies_.end()) {
        continue;
      }
      Bodies b;
      if (with_payload) {
        b.payload = it->second.payload;
      }
      b.result = it->second.result;
      b.error = it->second.error;
      out.emplace_back(id, std::move(b));
    }
    return out;
  }

  void close() override {}

 private:
  std::mutex mu_;
  std::unordered_map<std::uint64_t, Bodies> bodies_;
};

}  // namespace

std::unique_ptr<Journal> memory_journal() { return std::make_unique<MemoryJournal>(); }

}  // namespace tender::workqueue

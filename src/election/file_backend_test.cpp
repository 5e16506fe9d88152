#include "election/file_backend.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/fd.hpp"
#include "election/file_record.hpp"

namespace tender::election {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr milliseconds kTtl{300};

// What a backend told its sink, and whether it holds a term now (held, not yet lost).
class Recorder final : public BackendSink {
 public:
  void held(std::uint64_t token, SteadyTime sent_at) override {
    holding = token;
    helds.push_back({token, sent_at});
  }
  void lost(std::uint64_t token, std::string_view why) override {
    EXPECT_EQ(token, holding) << "lost a term it did not hold: " << why;
    holding = 0;
    losts.emplace_back(token, std::string(why));
  }
  void observed(const Observed& leader) override { seen.push_back(leader); }
  void contact(bool ok, std::string_view why) override {
    if (!ok) {
      failures.emplace_back(why);
    }
  }
  void renewed_in(std::chrono::steady_clock::duration /*round_trip*/) override { ++renewals; }

  struct Held {
    std::uint64_t token;
    SteadyTime sent_at;
  };
  std::uint64_t holding = 0;
  std::vector<Held> helds;
  std::vector<std::pair<std::uint64_t, std::string>> losts;
  std::vector<Observed> seen;
  std::vector<std::string> failures;
  int renewals = 0;
};

struct Runner {
  std::string id;
  std::unique_ptr<Backend> backend;
  Recorder sink;
  asio::cancellation_signal stop;
  bool running = false;
  bool crashed = false;  // cancelled without resigning: its sink may still say it holds
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes `text` as the file's whole content, under the lock, as another writer would.
void put(const std::string& path, const std::string& text) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::flock(fd.get(), LOCK_EX), 0);
  ASSERT_EQ(::ftruncate(fd.get(), 0), 0);
  ASSERT_EQ(::pwrite(fd.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  ::flock(fd.get(), LOCK_UN);
}

class FileBackendTest : public ::testing::Test {
 protected:
  FileBackendTest() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tender-elect-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
    }
    dir_ = pattern;
    path_ = dir_ + "/leader.lock";
  }
  ~FileBackendTest() override {
    for (auto& r : runners_) {
      if (r->running) {
        r->stop.emit(asio::cancellation_type::terminal);
      }
    }
    EXPECT_TRUE(poll([&] {
      for (auto& r : runners_) {
        if (r->running) {
          return false;
        }
      }
      return true;
    })) << "a run() did not return once cancelled";
    runners_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Runner& start(std::string id, milliseconds ttl = kTtl, const std::string& path = {}) {
    BackendOptions options;
    options.election = "db";
    options.id = id;
    options.ttl = ttl;
    auto r = std::make_unique<Runner>();
    r->id = std::move(id);
    r->backend = make_file_backend(path.empty() ? path_ : path, options, ioc_);
    r->running = true;
    Runner* raw = r.get();
    asio::co_spawn(
        ioc_, r->backend->run(r->sink),
        asio::bind_cancellation_slot(raw->stop.slot(), [raw](const std::exception_ptr& e) {
          raw->running = false;
          EXPECT_FALSE(e) << "run() ended with an exception";
        }));
    runners_.push_back(std::move(r));
    return *raw;
  }

  void crash(Runner& r) {
    r.crashed = true;
    r.stop.emit(asio::cancellation_type::terminal);
    EXPECT_TRUE(poll([&] { return !r.running; })) << "run() did not return at once";
  }

  // Runs the io_context until `done` (true) or ~10 s have passed (false), checking after every
  // turn that no two live candidates hold a term at once.
  bool poll(const std::function<bool()>& done) {
    auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < limit) {
      if (done()) {
        return true;
      }
      if (ioc_.stopped()) {
        ioc_.restart();  // it ran out of work once every run() had returned
      }
      ioc_.run_for(milliseconds(2));
      EXPECT_LE(holders().size(), 1U) << "two candidates hold a term at once";
    }
    return done();
  }

  std::vector<Runner*> holders() {
    std::vector<Runner*> out;
    for (auto& r : runners_) {
      if (!r->crashed && r->sink.holding != 0) {
        out.push_back(r.get());
      }
    }
    return out;
  }

  Runner* holder() {
    auto h = holders();
    return h.size() == 1 ? h[0] : nullptr;
  }

  // Waits until exactly one live candidate holds, and returns it (nullptr after ~10 s).
  Runner* await_holder(const Runner* other_than = nullptr) {
    Runner* found = nullptr;
    poll([&] {
      found = holder();
      return found != nullptr && found != other_than;
    });
    return found != other_than ? found : nullptr;
  }

  FileRecord record() {
    auto r = parse_record(slurp(path_), "db", path_);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : FileRecord{};
  }

  asio::io_context ioc_;
  std::string dir_;
  std::string path_;
  std::vector<std::unique_ptr<Runner>> runners_;
};

bool has_failure(const Recorder& sink, std::string_view part) {
  for (const auto& f : sink.failures) {
    if (f.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_F(FileBackendTest, ExactlyOneOfThreeHoldsAndTheOthersSeeIt) {
  start("a");
  start("b");
  start("c");
  Runner* leader = await_holder();
  ASSERT_NE(leader, nullptr);
  EXPECT_EQ(leader->sink.holding, 1U);
  // Through several renewals, it alone holds (poll checks), and every candidate names it.
  ASSERT_TRUE(poll([&] {
    if (leader->sink.renewals < 4) {
      return false;
    }
    for (auto& r : runners_) {
      if (r->sink.seen.empty() || r->sink.seen.back().name != leader->id ||
          r->sink.seen.back().token != 1) {
        return false;
      }
    }
    return true;
  }));
  EXPECT_EQ(leader->sink.holding, 1U);
  EXPECT_TRUE(leader->sink.losts.empty());
  for (std::size_t i = 1; i < leader->sink.helds.size(); ++i) {
    EXPECT_LE(leader->sink.helds[i - 1].sent_at, leader->sink.helds[i].sent_at);
  }
  FileRecord on_disk = record();
  EXPECT_EQ(on_disk.holder, leader->id);
  EXPECT_EQ(on_disk.token, 1U);
  auto status = leader->backend->status();
  EXPECT_EQ(status.at("backend").as_string(), "file");
  EXPECT_EQ(status.at("path").as_string(), path_);
  EXPECT_EQ(status.at("holder").as_string(), leader->id);
  EXPECT_EQ(status.at("token").to_number<std::uint64_t>(), 1U);
}

TEST_F(FileBackendTest, ACrashedHolderIsSucceededAfterItsExpiryWithTheNextToken) {
  start("a");
  start("b");
  start("c");
  Runner* first = await_holder();
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(poll([&] { return first->sink.renewals >= 1; }));
  crash(*first);
  SteadyTime last_renewal = first->sink.helds.back().sent_at;
  Runner* second = await_holder(first);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->sink.holding, 2U);
  // Its term began (by the clock read before it locked the file) only after the crashed
  // holder's claim had run out.
  EXPECT_GE(second->sink.helds.front().sent_at, last_renewal + kTtl);
}

TEST_F(FileBackendTest, ResignAndLeaveHandsOverAtOnceWokenByTheWatch) {
  // A long ttl: neither the expiry timer nor the periodic re-read comes within the poll's
  // bound, so only the file watch can wake the followers.
  constexpr milliseconds kSlow = std::chrono::seconds(60);
  start("a", kSlow);
  start("b", kSlow);
  start("c", kSlow);
  Runner* first = await_holder();
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(poll([&] {
    for (auto& r : runners_) {
      if (r->sink.seen.empty() || r->sink.seen.back().name != first->id) {
        return false;
      }
    }
    return true;
  }));
  first->backend->resign(Resign::kLeave);
  ASSERT_TRUE(poll([&] { return !first->running; })) << "run() did not return after kLeave";
  ASSERT_EQ(first->sink.losts.size(), 1U);
  EXPECT_EQ(first->sink.losts[0], (std::pair<std::uint64_t, std::string>{1, "resigned"}));
  Runner* second = await_holder(first);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->sink.holding, 2U);
}

TEST_F(FileBackendTest, ResignAndRejoinHandsOverWithoutWinningItStraightBack) {
  // A ttl long enough that a slow machine cannot let the resigner's pause run out first.
  constexpr milliseconds kLongTtl = std::chrono::seconds(5);
  Runner& a = start("a", kLongTtl);
  ASSERT_EQ(await_holder(), &a);
  start("b", kLongTtl);
  start("c", kLongTtl);
  ASSERT_TRUE(poll([&] { return !runners_[1]->sink.seen.empty(); }));
  a.backend->resign(Resign::kRejoin);
  Runner* second = await_holder(&a);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->sink.holding, 2U);
  EXPECT_EQ(a.sink.losts.size(), 1U);
  EXPECT_EQ(a.sink.helds.back().token, 1U) << "the resigner took the term it gave away";
  EXPECT_TRUE(a.running);
  // Having seen another leader it stands again: when that one leaves, it or the third leads.
  second->backend->resign(Resign::kLeave);
  Runner* third = await_holder(second);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->sink.holding, 3U);
}

TEST_F(FileBackendTest, ALoneResignerStandsAgainOnceTheTtlHasPassed) {
  Runner& a = start("a");
  ASSERT_EQ(await_holder(), &a);
  a.backend->resign(Resign::kRejoin);
  ASSERT_TRUE(poll([&] { return a.sink.holding == 2; }));
  ASSERT_EQ(a.sink.losts.size(), 1U);
  EXPECT_EQ(a.sink.losts[0].second, "resigned");
  // Nobody else stood: it took the next term only after its pause of one ttl.
  EXPECT_GE(a.sink.helds.back().sent_at, a.sink.helds.front().sent_at + kTtl);
}

TEST_F(FileBackendTest, AFileDeletedUnderTheHolderNeverBringsAnOlderToken) {
  Runner& a = start("a");
  ASSERT_EQ(await_holder(), &a);
  ASSERT_TRUE(std::filesystem::remove(path_));
  ASSERT_TRUE(poll([&] { return a.sink.holding == 2; }));
  ASSERT_EQ(a.sink.losts.size(), 1U);
  EXPECT_EQ(a.sink.losts[0].first, 1U);
  EXPECT_EQ(record().token, 2U);
}

TEST_F(FileBackendTest, TheTokenSurvivesNewBackendInstances) {
  Runner& a1 = start("a");
  ASSERT_EQ(await_holder(), &a1);
  a1.backend->resign(Resign::kLeave);
  ASSERT_TRUE(poll([&] { return !a1.running; }));
  Runner& a2 = start("a");  // restarted: a new backend instance, same id, same file
  ASSERT_EQ(await_holder(), &a2);
  EXPECT_EQ(a2.sink.holding, 2U);
  crash(a2);
  Runner& a3 = start("a");
  ASSERT_EQ(await_holder(&a2), &a3);
  EXPECT_EQ(a3.sink.holding, 3U);
  EXPECT_EQ(record().token, 3U);
}

FileRecord ghost_record(std::uint64_t token, std::string holder) {
  return {.election = "db",
          .token = token,
          .holder = std::move(holder),
          .instance = "0123",
          .expires_ns =
              std::chrono::duration_cast<std::chrono::nanoseconds>(
                  (std::chrono::steady_clock::now() + std::chrono::hours(1)).time_since_epoch())
                  .count(),
          .boot = "00000000-0000-0000-0000-000000000000"};
}

TEST_F(FileBackendTest, ARecordOfAnotherBootIsTakenOverAtOnce) {
  put(path_, *format_record(ghost_record(41, "ghost")));
  Runner& a = start("a", std::chrono::seconds(60));
  ASSERT_EQ(await_holder(), &a);
  EXPECT_EQ(a.sink.holding, 42U);
  EXPECT_EQ(record().holder, "a");
}

TEST_F(FileBackendTest, AnotherBootThatComesBackIsAnotherMachineAndIsReported) {
  put(path_, *format_record(ghost_record(41, "ghost")));
  Runner& a = start("a");
  ASSERT_EQ(await_holder(), &a);
  // The "dead" boot writes again: a second machine shares the volume.
  put(path_, *format_record(ghost_record(43, "elsewhere")));
  ASSERT_TRUE(poll([&] { return has_failure(a.sink, "another machine"); }));
  ASSERT_EQ(a.sink.losts.size(), 1U);
  EXPECT_EQ(a.sink.losts[0],
            (std::pair<std::uint64_t, std::string>{42, "taken over by elsewhere"}));
  EXPECT_EQ(a.sink.holding, 0U);
  EXPECT_EQ(a.sink.helds.back().token, 42U);
  EXPECT_EQ(record().holder, "elsewhere");
}

TEST_F(FileBackendTest, AForeignFileIsReportedAndLeftByteForByte) {
  const std::string foreign = "#!/bin/sh\necho not yours\n";
  put(path_, foreign);
  Runner& a = start("a");
  ASSERT_TRUE(poll([&] { return a.sink.failures.size() >= 3; }));
  EXPECT_TRUE(has_failure(a.sink, path_)) << a.sink.failures[0];
  EXPECT_TRUE(has_failure(a.sink, "not a tender election record")) << a.sink.failures[0];
  EXPECT_TRUE(a.sink.helds.empty());
  EXPECT_EQ(slurp(path_), foreign);
  EXPECT_EQ(a.backend->status().at("error").as_string(), a.sink.failures.back());
}

TEST_F(FileBackendTest, TheRecordOfAnotherElectionIsReported) {
  FileRecord other;
  other.election = "cache";
  other.token = 5;
  const std::string text = *format_record(other);
  put(path_, text);
  Runner& a = start("a");
  ASSERT_TRUE(poll([&] { return a.sink.failures.size() >= 2; }));
  EXPECT_TRUE(has_failure(a.sink, "election 'cache', not 'db'")) << a.sink.failures[0];
  EXPECT_TRUE(a.sink.helds.empty());
  EXPECT_EQ(slurp(path_), text);
}

TEST_F(FileBackendTest, AMissingDirectoryIsReportedThenRecoveredFrom) {
  std::string dir = dir_ + "/not-yet";
  Runner& a = start("a", kTtl, dir + "/leader.lock");
  ASSERT_TRUE(poll([&] { return a.sink.failures.size() >= 2; }));
  EXPECT_TRUE(has_failure(a.sink, "its directory must exist")) << a.sink.failures[0];
  EXPECT_TRUE(a.sink.helds.empty());
  std::filesystem::create_directory(dir);
  ASSERT_EQ(await_holder(), &a);
  EXPECT_EQ(a.sink.holding, 1U);
}

TEST_F(FileBackendTest, ABusyLockIsReportedAndWaitedOutWithoutBlocking) {
  put(path_, "");
  Fd other(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(other);
  ASSERT_EQ(::flock(other.get(), LOCK_EX), 0);  // a process paused in its critical section
  Runner& a = start("a");
  ASSERT_TRUE(poll([&] { return a.sink.failures.size() >= 2; }));
  EXPECT_TRUE(has_failure(a.sink, "lock held by another process")) << a.sink.failures[0];
  EXPECT_TRUE(a.sink.helds.empty());
  ASSERT_EQ(::flock(other.get(), LOCK_UN), 0);
  ASSERT_EQ(await_holder(), &a);
}

TEST_F(FileBackendTest, ATermLockedOutPastItsExpiryIsNeverRenewedButTakenAnew) {
  Runner& a = start("a");
  ASSERT_EQ(await_holder(), &a);
  Fd other(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(other);
  ASSERT_EQ(::flock(other.get(), LOCK_EX), 0);  // another process, paused holding the lock
  SteadyTime last = a.sink.helds.back().sent_at;
  ASSERT_TRUE(poll([&] { return std::chrono::steady_clock::now() > last + kTtl; }));
  EXPECT_TRUE(has_failure(a.sink, "lock held by another process"));
  ASSERT_EQ(::flock(other.get(), LOCK_UN), 0);
  ASSERT_TRUE(poll([&] { return a.sink.holding == 2; }));
  ASSERT_EQ(a.sink.losts.size(), 1U);
  EXPECT_EQ(a.sink.losts[0].first, 1U);
  // Every acknowledgement of term 1 came before the claim it renewed had run out.
  for (std::size_t i = 1; i < a.sink.helds.size() && a.sink.helds[i].token == 1; ++i) {
    EXPECT_LT(a.sink.helds[i].sent_at, a.sink.helds[i - 1].sent_at + kTtl);
  }
}

TEST_F(FileBackendTest, TwoBackendsWithTheSameIdAreDistinctCandidates) {
  Runner& one = start("twin");
  Runner& two = start("twin");
  Runner* first = await_holder();
  ASSERT_NE(first, nullptr);
  Runner* other = first == &one ? &two : &one;
  ASSERT_TRUE(poll([&] { return first->sink.renewals >= 3 && !other->sink.seen.empty(); }));
  EXPECT_TRUE(other->sink.helds.empty()) << "the twin took the same term";
  EXPECT_EQ(other->sink.seen.back().name, "twin");
  crash(*first);
  ASSERT_EQ(await_holder(first), other);
  EXPECT_EQ(other->sink.holding, 2U);
}

}  // namespace
}  // namespace tender::election

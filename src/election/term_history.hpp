#pragma once
// The terms this replica has seen, newest last, for /statusz and the web view's timeline. A
// bounded list: the oldest entries are dropped and counted.
//
//   TermHistory history(32);
//   history.observe("pod-a", 7, now);   // a new entry: the leader or the token changed
//   history.observe("pod-a", 7, later); // the same term: nothing
//   history.observe("", 0, later);      // no leader this replica can name: an entry too
//   status["terms"] = history.to_json();  // [{"leader","token","observed_at"}, ...]
//   status["terms_left_out"] = history.left_out();
//
// Pure logic, not thread-safe: the caller holds its own lock. Nothing here fails.

#include <boost/json/array.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace tender::election {

class TermHistory {
 public:
  struct Term {
    std::string leader;  // empty: no leader
    std::uint64_t token = 0;
    std::chrono::system_clock::time_point observed_at;
  };

  explicit TermHistory(std::size_t capacity) : capacity_(capacity) {}

  // Notes the term seen now; a repeat of the newest entry's leader and token is not a new term.
  void observe(std::string_view leader, std::uint64_t token,
               std::chrono::system_clock::time_point at);

  [[nodiscard]] const std::deque<Term>& terms() const { return terms_; }
  // Entries dropped to keep within the capacity.
  [[nodiscard]] std::uint64_t left_out() const { return left_out_; }
  // [{"leader": "pod-a", "token": 7, "observed_at": "2026-...Z"}, ...], oldest first.
  [[nodiscard]] boost::json::array to_json() const;

 private:
  std::size_t capacity_;
  std::deque<Term> terms_;
  std::uint64_t left_out_ = 0;
};

}  // namespace tender::election

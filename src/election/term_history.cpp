#include "election/term_history.hpp"

#include <boost/json/object.hpp>

#include "core/units.hpp"

namespace tender::election {

void TermHistory::observe(std::string_view leader, std::uint64_t token,
                          std::chrono::system_clock::time_point at) {
  if (!terms_.empty() && terms_.back().leader == leader && terms_.back().token == token) {
    return;
  }
  if (capacity_ == 0) {
    ++left_out_;
    return;
  }
  if (terms_.size() == capacity_) {
    terms_.pop_front();
    ++left_out_;
  }
  terms_.push_back(Term{std::string(leader), token, at});
}

boost::json::array TermHistory::to_json() const {
  boost::json::array out;
  out.reserve(terms_.size());
  for (const Term& t : terms_) {
    out.push_back(boost::json::object{{"leader", t.leader},
                                      {"token", t.token},
                                      {"observed_at", format_utc(t.observed_at, true)}});
  }
  return out;
}

}  // namespace tender::election

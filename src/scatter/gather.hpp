#pragma once
// The pure parts of one fan-out: what a request asks for (its deadline, how to report timing),
// the bytes each leaf is sent, and how the answer reports where the time went and what is
// missing. No I/O, no Asio.
//
//   auto deadline = request_deadline(req, cfg.deadline, cfg.max_deadline);  // 400 if bad
//   std::string head = leaf_head(req, cfg.pass_headers);        // once per client request
//   leaf_request(bytes, head, endpoint_name, ms_left, body);    // once per try
//   resp.headers.set("X-Tender-Shards", timing_header(outcomes));

#include <boost/json/value.hpp>
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/http.hpp"
#include "scatter/scatter_config.hpp"

namespace tender::scatter {

// The time the client gives the request: X-Tender-Deadline-Ms (a whole number of ms from 1 to
// `max`), else `fallback`. Errors (invalid_argument) are the 400's reason.
[[nodiscard]] Result<milliseconds> request_deadline(const Request& req, milliseconds fallback,
                                                    milliseconds max);
// How the answer reports the shards: X-Tender-Timing (off, header, wrapper), else `fallback`.
[[nodiscard]] Result<Timing> request_timing(const Request& req, Timing fallback);
[[nodiscard]] Result<Timing> parse_timing(std::string_view text);
[[nodiscard]] std::string_view timing_name(Timing t);

// The start of every leaf's request: the request line as the client sent it (method, path,
// query; HEAD goes as GET, since the answers are needed to merge, and the client is sent the
// head alone) and the fields passed on (Content-Type and `pass` when present). Host, the deadline
// and the framing are added per try by leaf_request.
[[nodiscard]] std::string leaf_head(const Request& req, const std::vector<std::string>& pass);
// The whole request for one try into `out` (replacing it): `head`, Host, X-Tender-Deadline-Ms,
// Content-Length (when there is a body or the method has one), the body.
void leaf_request(std::string& out, std::string_view head, std::string_view host,
                  long long deadline_ms, std::string_view body, bool send_length);

// What became of one shard in one request, for the timing report.
struct ShardOutcome {
  std::string_view shard{};
  double ms = 0;             // until its answer, or until given up
  int status = 0;            // the answer's status; 0 when none came
  bool answered = false;     // merged
  bool hedged = false;       // a hedge was sent
  bool hedge_won = false;    // and answered first
  bool partial = false;      // a lower root's answer that was itself partial
  std::string_view error{};  // why not answered
};
// "s0;ms=1.23;hedged;won, s1;ms=0.80, s2;ms=1000.00;missing;error=\"timed out\"".
[[nodiscard]] std::string timing_header(std::span<const ShardOutcome> shards);
// {"result": result, "partial": ..., "missing": [...], "shards": [{"shard", "ms", "status",
//  "hedged", "hedge_won", "partial", "error"}]}.
[[nodiscard]] boost::json::value timing_wrapper(boost::json::value result, bool partial,
                                                std::span<const std::string> missing,
                                                std::span<const ShardOutcome> shards);

// The fewest answers that make a whole answer: ceil(fraction x shards), at least 1 when any
// shard was asked.
[[nodiscard]] std::size_t answers_needed(double fraction, std::size_t shards);

}  // namespace tender::scatter

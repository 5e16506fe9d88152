#pragma once
// HTTP/1.x bodies streamed from one connection to another as they arrive (the http listener),
// each wait within an idle timeout enforced by the listener's Deadlines.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "ambassador/worker.hpp"
#include "core/conn.hpp"
#include "core/http1.hpp"
#include "core/metrics.hpp"

namespace tender::ambassador {

enum class BodyEnd { kDone, kClientGone, kUpstreamGone, kTooLarge, kMalformed };

// The rest of a request body, from the client's buffer and socket to the upstream. A chunked
// body goes re-encoded (the chunk sizes as read here, without extensions, the trailer fields
// http1::forward_trailers keeps), so the upstream cannot read it another way than this proxy
// did; more than `max_bytes` of chunk data is kTooLarge, a malformed body or trailer kMalformed.
asio::awaitable<BodyEnd> stream_request_body(Deadlines& deadlines, Conn& client, Conn& up,
                                             http1::Framing framing, std::uint64_t length,
                                             std::uint64_t max_bytes,
                                             std::chrono::milliseconds idle);

// Sends `head` to the client, then the response body from the upstream's buffer and socket:
// by length, chunked (passed on as chunks, or decoded when `dechunk`, using `scratch`), or
// until the upstream closes. kUpstreamGone: it went, or sent a malformed body, before the end.
// `received` counts the bytes read from the upstream.
asio::awaitable<BodyEnd> stream_response(Deadlines& deadlines, Conn& client, Conn& up,
                                         std::string_view head, http1::Framing framing,
                                         std::uint64_t length, bool dechunk,
                                         std::chrono::milliseconds idle, Counter& received,
                                         std::string& scratch);

// After a 101 (Switching Protocols): bytes both ways between `client` and `up`, what is already
// in either buffer first, until both directions have ended. The end of one direction is passed
// on as a half-close; nothing moving either way for `idle` ends both (a peer slowly reading
// what waits for it is movement), and so does an error on either side. `sent` and `received` count
// the bytes to and from the upstream (those already in `up`'s buffer were counted when read).
asio::awaitable<void> tunnel(Deadlines& deadlines, Conn& client, Conn& up,
                             std::chrono::milliseconds idle, Counter& sent, Counter& received);

}  // namespace tender::ambassador

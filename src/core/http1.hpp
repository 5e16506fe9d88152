#pragma once
// HTTP/1.x message heads (RFC 9112), parsed in place from the bytes read: what the HTTP server
// and the proxy's http listener share, so that both frame requests exactly alike. The proxy
// also rewrites heads for the next hop field by field: no message object, no copy of the body.
//
//   http1::Head head;
//   http1::Error err;
//   switch (http1::parse_request(buffer, 16 * 1024, head, err)) {
//     case http1::Parse::kIncomplete: ...read more...
//     case http1::Parse::kError: ...answer err.status with err.reason, close...
//     case http1::Parse::kDone: ...head.size bytes are the head; the body follows...
//   }
//   http1::write_request_head(head, "10.0.0.7", out);    // what goes upstream
//
// The views in a Head point into the parsed bytes: use them before those bytes move.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tender::http1 {

// How the body of a message is delimited.
enum class Framing {
  kNone,        // no body
  kLength,      // Content-Length bytes
  kChunked,     // Transfer-Encoding: chunked
  kUntilClose,  // a response read until the server closes
};

struct Field {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

struct Head {
  std::string_view method;  // requests
  std::string_view target;
  int status = 0;  // responses
  std::string_view reason;
  int minor = 1;  // HTTP/1.minor
  std::vector<Field> fields;
  std::size_t size = 0;  // bytes of the head, up to and including its empty line
  Framing framing = Framing::kNone;
  std::uint64_t length = 0;  // the Content-Length field's value
  bool has_length = false;   // there is a Content-Length field
  bool has_te = false;       // there is a Transfer-Encoding field
  bool keep_alive = true;    // what the sender's version and Connection say
  bool expect_continue = false;
  std::string_view host;  // the Host field (requests)
  // The Upgrade field's value when Connection lists "upgrade" (HTTP/1.1): a request asking to
  // switch protocols (WebSocket), or a 101 response switching.
  std::string_view upgrade;

  [[nodiscard]] std::string_view field(std::string_view name) const;
};

enum class Parse { kIncomplete, kDone, kError };

// Why a head was refused: the status to answer (a request's 400, 431, 501, 505; a response's
// 502) and a reason.
struct Error {
  int status = 400;
  std::string reason;
  bool too_large = false;  // no complete head within max_head bytes (not malformed as such)
};

// A request head at the start of `in` (empty lines before it are skipped and counted in size).
// kError when it is malformed, or when more than `max_head` bytes hold no complete head (431).
Parse parse_request(std::string_view in, std::size_t max_head, Head& out, Error& err);
// A response head; `to_head` says the request was HEAD (no body whatever the fields say).
Parse parse_response(std::string_view in, std::size_t max_head, bool to_head, Head& out,
                     Error& err);

// The request head for the upstream: the request line as received, every field except the
// hop-by-hop ones (RFC 9110 7.6.1, those the Connection field names, Expect) and
// X-Forwarded-For, which is rewritten with `client_ip` appended; framing as one canonical
// Content-Length or Transfer-Encoding: chunked. HTTP/1.0 asks for keep-alive. A request with
// `upgrade` set asks the server for it ("Connection: Upgrade", "Upgrade: ...").
void write_request_head(const Head& head, std::string_view client_ip, std::string& out);
// The response head for the client: "HTTP/1.1", the status and reason, the end-to-end fields
// (one canonical Content-Length, none beside Transfer-Encoding), and Connection as `keep_alive`
// needs it for the client's version. `dechunk` drops Transfer-Encoding (the body is sent
// decoded, until close).
void write_response_head(const Head& head, int client_minor, bool keep_alive, bool dechunk,
                         std::string& out);
// The 101 response head for the client: the status line, the end-to-end fields, and
// "Connection: Upgrade" with the server's Upgrade field (head.upgrade).
void write_upgrade_response_head(const Head& head, std::string& out);
// The trailer fields of a chunked request body (lines as Chunked::feed gives them) that go to
// the next hop: all but framing, hop-by-hop, routing, credential and client-address fields,
// each "Name: value\r\n".
// False when a line is not a well-formed field.
bool forward_trailers(std::string_view lines, std::string& out);
// A small text/plain response made here (errors): status line, fields, body.
std::string local_response(int status, std::string_view body, bool keep_alive);

// The chunked body decoder: finds where a chunked body ends in the bytes as they arrive.
// `strict` (request bodies, which are re-encoded) accepts only CRLF line ends, extensions after
// ';' without control characters, and trailer lines without them. The trailer section (its
// lines with their line ends) may hold at most `max_trailers` bytes, whether or not they are
// kept: past that the body fails with trailers_too_large().
class Chunked {
 public:
  static constexpr std::size_t kMaxTrailers = 16 * 1024;
  explicit Chunked(bool strict = false, std::size_t max_trailers = kMaxTrailers)
      : strict_(strict), max_trailers_(max_trailers) {}
  // Consumes bytes of the body from the start of `in` and returns how many; they stop at the
  // end of the body (done()) or at the end of `in`. The chunk data among them is appended to
  // `data` when it is not null (decoding); the raw bytes can be forwarded as they are. The
  // trailer lines are appended to `trailers` when it is not null, each ended by CRLF.
  std::size_t feed(std::string_view in, std::string* data, std::string* trailers = nullptr);
  [[nodiscard]] bool done() const { return state_ == State::kDone; }
  [[nodiscard]] bool failed() const { return state_ == State::kFailed; }
  [[nodiscard]] std::uint64_t data_bytes() const { return total_; }
  // Failed because the trailer section passed max_trailers (not malformed as such).
  [[nodiscard]] bool trailers_too_large() const { return too_large_; }

 private:
  enum class State {
    kSize,
    kExtension,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,
    kTrailerLine,
    kTrailerLineLf,
    kTrailerLf,
    kDone,
    kFailed
  };
  bool strict_ = false;
  State state_ = State::kSize;
  std::uint64_t size_ = 0;
  int digits_ = 0;
  std::uint64_t total_ = 0;
  std::size_t line_ = 0;  // bytes of the current extension line
  std::size_t max_trailers_;
  std::size_t trailer_bytes_ = 0;  // of the trailer section so far
  bool too_large_ = false;
};

}  // namespace tender::http1

#pragma once
// One call of grpc.health.v1.Health/Check over plaintext HTTP/2 ("h2c" with prior knowledge),
// as Kubernetes' grpc probes make it: the bytes a client sends, and a reader of what the server
// sends back, with no I/O (core/probe.cpp moves the bytes). The reader takes any bytes a hostile
// server could send: frames are bounded to 16 KiB (the default SETTINGS_MAX_FRAME_SIZE, which the
// client keeps), the whole answer to 64 KiB, header lists to 16 KiB; anything malformed is an
// error with a reason, never a crash.
//
//   auto request = grpc::health_check_request("10.0.0.5:9000", "", 1s);   // preface, SETTINGS,
//   send(*request);                                                        // HEADERS, DATA
//   grpc::HealthCallReader reader;
//   for (;;) {
//     std::string reply;                  // SETTINGS and PING acknowledgements
//     auto ended = reader.feed(receive(), reply);
//     if (!ended) { fail(ended.error()); }
//     send(reply);
//     if (*ended) { break; }
//   }
//   bool ok = reader.answer().serving();  // grpc-status 0 and status SERVING
//   std::string why = reader.answer().describe();
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/hpack.hpp"

namespace tender::grpc {

inline constexpr std::size_t kMaxFrameSize = 16384;                     // what the reader accepts
inline constexpr std::size_t kMaxAnswerBytes = std::size_t{64} * 1024;  // all the server may send
inline constexpr std::size_t kMaxHeaderListSize = std::size_t{16} * 1024;  // announced in SETTINGS

// HealthCheckResponse.ServingStatus.
enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// What the server answered, once the call has ended.
struct HealthAnswer {
  int http_status = 0;             // :status of the response headers
  std::optional<int> grpc_status;  // grpc-status, from the trailers (or a trailers-only answer)
  std::string grpc_message;        // grpc-message, percent-decoded, printable, at most 200 bytes
  std::optional<std::int64_t> status;  // HealthCheckResponse.status, when a response came

  // HTTP 200, grpc-status 0 and status SERVING.
  [[nodiscard]] bool serving() const;
  // One line: "SERVING"; or why not: "health status NOT_SERVING", "grpc-status 12
  // (UNIMPLEMENTED): Method not found", "HTTP 404", "no grpc-status in the answer".
  [[nodiscard]] std::string describe() const;
};

// The name of grpc status `code` ("UNIMPLEMENTED"), or "" for a code gRPC does not define.
[[nodiscard]] std::string_view status_code_name(int code);

// The client's side of the whole call: the connection preface, its SETTINGS (push disabled,
// header lists up to kMaxHeaderListSize), then on stream 1 a HEADERS frame (POST
// /grpc.health.v1.Health/Check to `authority`, grpc-timeout of `timeout`) and a DATA frame with
// HealthCheckRequest{service} that ends the stream. Fails (errc::invalid_argument) when
// `service` or `authority` would not fit one frame.
[[nodiscard]] Result<std::string> health_check_request(std::string_view authority,
                                                       std::string_view service,
                                                       std::chrono::milliseconds timeout);

// Reads the server's side of the connection health_check_request() opened. Not thread-safe.
class HealthCallReader {
 public:
  // Takes the next `bytes` received, and appends to `reply` the frames to send back (an
  // acknowledgement of each SETTINGS and PING). True once the call has ended (answer() is
  // complete; bytes after that are ignored); false when more must be read. Fails
  // (errc::protocol_error, "HTTP/2: ...") when the server breaks HTTP/2, HPACK or gRPC framing,
  // resets the stream or goes away without answering, and (errc::message_size) past the bounds
  // above. After a failure the reader is done: feed() fails again.
  [[nodiscard]] Result<bool> feed(std::string_view bytes, std::string& reply);

  [[nodiscard]] const HealthAnswer& answer() const { return answer_; }

 private:
  Result<> frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                 std::string_view payload, std::string& reply);
  Result<> headers(std::uint8_t flags, std::uint32_t stream, std::string_view payload);
  Result<> data(std::uint8_t flags, std::uint32_t stream, std::string_view payload);
  Result<> control(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                   std::string_view payload, std::string& reply);
  Result<> header_block_done();
  Result<> finish();

  hpack::Decoder decoder_{4096, kMaxHeaderListSize};
  std::string buffer_;  // bytes of a frame not yet complete
  std::size_t total_ = 0;
  bool started_ = false;  // the server's SETTINGS came
  bool ended_ = false;
  std::optional<Error> failed_;
  std::string block_;        // a header block waiting for its CONTINUATION frames
  bool continuing_ = false;  // block_ is incomplete
  bool block_ends_stream_ = false;
  int blocks_ = 0;       // header blocks of stream 1 so far (headers, then trailers)
  std::string message_;  // DATA of stream 1
  HealthAnswer answer_;
};

}  // namespace tender::grpc

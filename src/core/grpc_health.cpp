#include "core/grpc_health.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/hpack.hpp"

namespace tender::grpc {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::size_t kFrameHeader = 9;
constexpr std::size_t kMaxMessageText = 200;  // of grpc-message, in a verdict

enum FrameType : std::uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum Flag : std::uint8_t {
  kEndStream = 0x1,
  kAck = 0x1,
  kEndHeaders = 0x4,
  kPadded = 0x8,
  kPriorityFlag = 0x20,
};

Error protocol(std::string what) {
  return {std::errc::protocol_error, "HTTP/2: " + std::move(what)};
}

std::uint32_t read_u32(std::string_view b) {
  return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[0])) << 24) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[2])) << 8) |
         static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[3]));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void put_frame(std::string& out, std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
               std::string_view payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  put_u32(out, stream);
  out += payload;
}

// The name of an HTTP/2 error code (RFC 9113 7), as RST_STREAM and GOAWAY carry them.
std::string error_code_name(std::uint32_t code) {
  static constexpr std::array<std::string_view, 14> kNames{"NO_ERROR",
                                                           "PROTOCOL_ERROR",
                                                           "INTERNAL_ERROR",
                                                           "FLOW_CONTROL_ERROR",
                                                           "SETTINGS_TIMEOUT",
                                                           "STREAM_CLOSED",
                                                           "FRAME_SIZE_ERROR",
                                                           "REFUSED_STREAM",
                                                           "CANCEL",
                                                           "COMPRESSION_ERROR",
                                                           "CONNECT_ERROR",
                                                           "ENHANCE_YOUR_CALM",
                                                           "INADEQUATE_SECURITY",
                                                           "HTTP_1_1_REQUIRED"};
  return code < kNames.size() ? std::string(kNames[code]) : "error code " + std::to_string(code);
}

// Removes the padding of a PADDED frame (RFC 9113 6.1): the first byte says how long it is.
Result<std::string_view> unpad(std::uint8_t flags, std::string_view payload) {
  if ((flags & kPadded) == 0) {
    return payload;
  }
  if (payload.empty()) {
    return protocol("padded frame without a pad length");
  }
  const std::size_t pad = static_cast<std::uint8_t>(payload[0]);
  payload.remove_prefix(1);
  if (pad > payload.size()) {
    return protocol("padding of " + std::to_string(pad) + " bytes is longer than the frame");
  }
  return payload.substr(0, payload.size() - pad);
}

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  }
  out.push_back(static_cast<char>(v));
}

// A protobuf varint from the front of `in`.
Result<std::uint64_t> varint(std::string_view& in) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) {
      return protocol("HealthCheckResponse: varint runs past the message");
    }
    const auto b = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      return v;
    }
  }
  return protocol("HealthCheckResponse: varint longer than 10 bytes");
}

// HealthCheckResponse.status (field 1, a varint) of protobuf `msg`; 0 when absent (proto3).
Result<std::int64_t> serving_status(std::string_view msg) {
  std::int64_t status = 0;
  while (!msg.empty()) {
    auto key = varint(msg);
    if (!key) {
      return key.error();
    }
    const std::uint64_t field = *key >> 3;
    const std::uint64_t wire = *key & 7;
    if (field == 0) {
      return protocol("HealthCheckResponse: field number 0");
    }
    std::uint64_t skip = 0;
    if (wire == 0) {
      auto v = varint(msg);
      if (!v) {
        return v.error();
      }
      if (field == 1) {
        status = static_cast<std::int64_t>(*v);
      }
    } else if (wire == 1 || wire == 5) {
      skip = wire == 1 ? 8 : 4;
    } else if (wire == 2) {
      auto len = varint(msg);
      if (!len) {
        return len.error();
      }
      skip = *len;
    } else {
      return protocol("HealthCheckResponse: wire type " + std::to_string(wire));
    }
    if (skip > msg.size()) {
      return protocol("HealthCheckResponse: field runs past the message");
    }
    msg.remove_prefix(skip);
  }
  return status;
}

// grpc-message is percent-encoded (gRPC over HTTP/2); a verdict keeps a printable prefix.
std::string decode_message(std::string_view v) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (std::size_t i = 0; i < v.size() && out.size() < kMaxMessageText; ++i) {
    char c = v[i];
    if (c == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
      c = static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2]));
      i += 2;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

// A decimal status code of at most 3 digits ("200", "12").
std::optional<int> small_number(std::string_view v) {
  if (v.empty() || v.size() > 3) {
    return std::nullopt;
  }
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string_view serving_status_name(std::int64_t s) {
  switch (s) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "";
  }
}

}  // namespace

std::string_view status_code_name(int code) {
  static constexpr std::array<std::string_view, 17> kNames{"OK",
                                                           "CANCELLED",
                                                           "UNKNOWN",
                                                           "INVALID_ARGUMENT",
                                                           "DEADLINE_EXCEEDED",
                                                           "NOT_FOUND",
                                                           "ALREADY_EXISTS",
                                                           "PERMISSION_DENIED",
                                                           "RESOURCE_EXHAUSTED",
                                                           "FAILED_PRECONDITION",
                                                           "ABORTED",
                                                           "OUT_OF_RANGE",
                                                           "UNIMPLEMENTED",
                                                           "INTERNAL",
                                                           "UNAVAILABLE",
                                                           "DATA_LOSS",
                                                           "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[code] : "";
}

bool HealthAnswer::serving() const {
  return http_status == 200 && grpc_status == 0 &&
         status == static_cast<std::int64_t>(ServingStatus::kServing);
}

std::string HealthAnswer::describe() const {
  if (http_status != 200) {
    return "HTTP " + std::to_string(http_status);
  }
  if (!grpc_status) {
    return "no grpc-status in the answer";
  }
  if (*grpc_status != 0) {
    std::string out = "grpc-status " + std::to_string(*grpc_status);
    if (auto name = status_code_name(*grpc_status); !name.empty()) {
      out += " (" + std::string(name) + ")";
    }
    return grpc_message.empty() ? out : out + ": " + grpc_message;
  }
  if (!status) {
    return "no HealthCheckResponse in the answer";
  }
  const std::string_view name = serving_status_name(*status);
  const std::string text = name.empty() ? std::to_string(*status) : std::string(name);
  return serving() ? text : "health status " + text;
}

Result<std::string> health_check_request(std::string_view authority, std::string_view service,
                                         std::chrono::milliseconds timeout) {
  // Frames this side sends stay under the smallest SETTINGS_MAX_FRAME_SIZE a server may have.
  if (service.size() > kMaxFrameSize - 16) {
    return invalid_argument("service name of " + std::to_string(service.size()) +
                            " bytes is too long");
  }
  if (authority.size() > 1024) {
    return invalid_argument("authority too long");
  }
  std::string out(kPreface);
  std::string settings;
  for (auto [id, value] : {std::pair<std::uint16_t, std::uint32_t>{2, 0},  // ENABLE_PUSH
                           {6, kMaxHeaderListSize}}) {                     // MAX_HEADER_LIST_SIZE
    settings.push_back(static_cast<char>(id >> 8));
    settings.push_back(static_cast<char>(id & 0xff));
    put_u32(settings, value);
  }
  put_frame(out, kSettings, 0, 0, settings);

  // grpc-timeout: at most 8 digits, in milliseconds while they fit.
  const auto ms = std::max<std::int64_t>(timeout.count(), 1);
  const std::string deadline =
      ms <= 99'999'999 ? std::to_string(ms) + "m"
                       : std::to_string(std::min<std::int64_t>(ms / 1000, 99'999'999)) + "S";
  std::string block;
  hpack::encode_literal(block, ":method", "POST");
  hpack::encode_literal(block, ":scheme", "http");
  hpack::encode_literal(block, ":path", "/grpc.health.v1.Health/Check");
  hpack::encode_literal(block, ":authority", authority);
  hpack::encode_literal(block, "content-type", "application/grpc");
  hpack::encode_literal(block, "te", "trailers");
  hpack::encode_literal(block, "grpc-timeout", deadline);
  hpack::encode_literal(block, "user-agent", "tender-probe");
  put_frame(out, kHeaders, kEndHeaders, 1, block);

  std::string msg;  // HealthCheckRequest: field 1 (service), length-delimited, unless empty
  if (!service.empty()) {
    msg.push_back(0x0a);
    put_varint(msg, service.size());
    msg += service;
  }
  std::string body(1, '\0');  // not compressed
  put_u32(body, static_cast<std::uint32_t>(msg.size()));
  body += msg;
  put_frame(out, kData, kEndStream, 1, body);
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

Result<bool> HealthCallReader::feed(std::string_view bytes, std::string& reply) {
  if (failed_) {
    return *failed_;
  }
  if (ended_) {
    return true;
  }
  auto fail = [&](Error e) -> Result<bool> {
    failed_ = e;
    return e;
  };
  total_ += bytes.size();
  if (total_ > kMaxAnswerBytes) {
    return fail(Error(std::errc::message_size,
                      "HTTP/2: the answer passed " + std::to_string(kMaxAnswerBytes) + " bytes"));
  }
  buffer_ += bytes;
  if (!started_ && std::string_view(buffer_).starts_with("HTTP/")) {
    return fail(protocol("the server answered HTTP/1, not HTTP/2 without TLS (h2c)"));
  }
  std::size_t at = 0;
  while (!ended_ && buffer_.size() - at >= kFrameHeader) {
    const std::string_view h(buffer_.data() + at, kFrameHeader);
    const std::size_t len = read_u32(h) >> 8;
    const auto type = static_cast<std::uint8_t>(h[3]);
    const auto flags = static_cast<std::uint8_t>(h[4]);
    const std::uint32_t stream = read_u32(h.substr(5)) & 0x7fffffffU;
    if (len > kMaxFrameSize) {
      return fail(Error(std::errc::message_size, "HTTP/2: frame of " + std::to_string(len) +
                                                     " bytes, larger than " +
                                                     std::to_string(kMaxFrameSize)));
    }
    if (buffer_.size() - at - kFrameHeader < len) {
      break;
    }
    const std::string_view payload(buffer_.data() + at + kFrameHeader, len);
    if (Result<> r = frame(type, flags, stream, payload, reply); !r) {
      return fail(r.error());
    }
    at += kFrameHeader + len;
  }
  buffer_.erase(0, at);
  return ended_;
}

Result<> HealthCallReader::frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                                 std::string_view payload, std::string& reply) {
  if (!started_ && (type != kSettings || (flags & kAck) != 0)) {
    return protocol("the server did not begin with SETTINGS (frame type " + std::to_string(type) +
                    "): not an HTTP/2 server?");
  }
  if (continuing_ && type != kContinuation) {
    return protocol("frame type " + std::to_string(type) + " where CONTINUATION was due");
  }
  switch (type) {
    case kData:
      return data(flags, stream, payload);
    case kHeaders:
      return headers(flags, stream, payload);
    case kContinuation:
      if (!continuing_ || stream != 1) {
        return protocol("CONTINUATION without HEADERS before it");
      }
      block_ += payload;
      if ((flags & kEndHeaders) != 0) {
        continuing_ = false;
        return header_block_done();
      }
      return {};
    case kPushPromise:
      return protocol("PUSH_PROMISE, though push was disabled");
    default:
      return control(type, flags, stream, payload, reply);
  }
}

Result<> HealthCallReader::headers(std::uint8_t flags, std::uint32_t stream,
                                   std::string_view payload) {
  if (stream != 1) {
    return protocol("HEADERS on stream " + std::to_string(stream));
  }
  auto fragment = unpad(flags, payload);
  if (!fragment) {
    return fragment.error();
  }
  if ((flags & kPriorityFlag) != 0) {
    if (fragment->size() < 5) {
      return protocol("HEADERS too short for its priority");
    }
    fragment->remove_prefix(5);
  }
  block_ = *fragment;
  block_ends_stream_ = (flags & kEndStream) != 0;
  if ((flags & kEndHeaders) != 0) {
    return header_block_done();
  }
  continuing_ = true;
  return {};
}

Result<> HealthCallReader::header_block_done() {
  auto fields = decoder_.decode(block_);
  block_.clear();
  if (!fields) {
    return fields.error();
  }
  ++blocks_;
  if (blocks_ > 2) {
    return protocol("a third header block on the stream");
  }
  if (blocks_ == 2 && !block_ends_stream_) {
    return protocol("trailers that do not end the stream");
  }
  for (const auto& f : *fields) {
    if (blocks_ == 1 && f.name == ":status") {
      auto n = small_number(f.value);
      if (!n) {
        return protocol(":status " + f.value.substr(0, 20) + " is not a status code");
      }
      answer_.http_status = *n;
    } else if (f.name == "grpc-status") {
      answer_.grpc_status = small_number(f.value);
      if (!answer_.grpc_status) {
        return protocol("grpc-status " + decode_message(f.value.substr(0, 20)) +
                        " is not a status code");
      }
    } else if (f.name == "grpc-message") {
      answer_.grpc_message = decode_message(f.value);
    }
  }
  if (blocks_ == 1 && answer_.http_status == 0) {
    return protocol("response headers without :status");
  }
  if (blocks_ == 1 && answer_.http_status != 200) {
    ended_ = true;  // not a gRPC answer: what follows does not matter
    return {};
  }
  return block_ends_stream_ ? finish() : Result<>();
}

Result<> HealthCallReader::data(std::uint8_t flags, std::uint32_t stream,
                                std::string_view payload) {
  if (stream != 1) {
    return protocol("DATA on stream " + std::to_string(stream));
  }
  if (blocks_ != 1) {
    return protocol(blocks_ == 0 ? "DATA before the response headers" : "DATA after the trailers");
  }
  auto bytes = unpad(flags, payload);
  if (!bytes) {
    return bytes.error();
  }
  message_ += *bytes;  // bounded by kMaxAnswerBytes
  return (flags & kEndStream) != 0 ? finish() : Result<>();
}

Result<> HealthCallReader::finish() {
  ended_ = true;
  if (answer_.grpc_status != 0 || message_.empty()) {
    return {};
  }
  if (message_.size() < 5) {
    return protocol("gRPC message shorter than its 5-byte prefix");
  }
  if (message_[0] != 0) {
    return protocol("gRPC message compressed, though no compression was offered");
  }
  const std::uint32_t len = read_u32(std::string_view(message_).substr(1));
  if (len != message_.size() - 5) {
    return protocol("gRPC message prefix says " + std::to_string(len) + " bytes, " +
                    std::to_string(message_.size() - 5) + " came");
  }
  auto status = serving_status(std::string_view(message_).substr(5));
  if (!status) {
    return status.error();
  }
  answer_.status = *status;
  return {};
}

Result<> HealthCallReader::control(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                                   std::string_view payload, std::string& reply) {
  switch (type) {
    case kSettings:
      if (stream != 0 || ((flags & kAck) != 0 && !payload.empty()) || payload.size() % 6 != 0) {
        return protocol("malformed SETTINGS (" + std::to_string(payload.size()) + " bytes)");
      }
      if ((flags & kAck) == 0) {
        for (std::size_t i = 0; i < payload.size(); i += 6) {
          const auto id = static_cast<unsigned>(read_u32(payload.substr(i)) >> 16);
          const std::uint32_t v = read_u32(payload.substr(i + 2));
          if ((id == 2 && v > 1) || (id == 4 && v > 0x7fffffffU) ||
              (id == 5 && (v < kMaxFrameSize || v > 0xffffffU))) {
            return protocol("SETTINGS " + std::to_string(id) + " = " + std::to_string(v) +
                            " is out of range");
          }
        }
        started_ = true;
        put_frame(reply, kSettings, kAck, 0, {});
      }
      return {};
    case kPing:
      if (stream != 0 || payload.size() != 8) {
        return protocol("malformed PING");
      }
      if ((flags & kAck) == 0) {
        put_frame(reply, kPing, kAck, 0, payload);
      }
      return {};
    case kGoaway:
      if (stream != 0 || payload.size() < 8) {
        return protocol("malformed GOAWAY");
      }
      if ((read_u32(payload) & 0x7fffffffU) < 1) {  // the call's stream was never taken up
        std::string debug = decode_message(payload.substr(8));
        return protocol("the server went away (GOAWAY " +
                        error_code_name(read_u32(payload.substr(4))) +
                        (debug.empty() ? "" : ": " + debug) + ")");
      }
      return {};  // the call may still end
    case kRstStream:
      if (stream == 0 || payload.size() != 4) {
        return protocol("malformed RST_STREAM");
      }
      if (stream == 1) {
        return protocol("the server reset the stream (" + error_code_name(read_u32(payload)) + ")");
      }
      return {};
    case kWindowUpdate:
      // Flow control never holds this side back: what it sends fits the initial windows.
      return payload.size() == 4 ? Result<>() : protocol("malformed WINDOW_UPDATE");
    case kPriority:
      return stream != 0 && payload.size() == 5 ? Result<>() : protocol("malformed PRIORITY");
    default:
      return {};  // frames of unknown types are ignored (RFC 9113 4.1)
  }
}

}  // namespace tender::grpc

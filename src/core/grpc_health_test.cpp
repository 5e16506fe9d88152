// The gRPC health call without sockets: the request's frames, then servers' answers (well formed,
// split anywhere, padded, continued, and hostile) fed to the reader.
#include "core/grpc_health.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/hpack.hpp"

namespace tender::grpc {
namespace {

using namespace std::chrono_literals;

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

std::string frame(int type, int flags, std::uint32_t stream, std::string_view payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string out = u32(n).substr(1);
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  return out + u32(stream) + std::string(payload);
}

struct Frame {
  int type = 0;
  int flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

// The frames of `in` (which must hold whole frames).
std::vector<Frame> frames(std::string_view in) {
  std::vector<Frame> out;
  while (in.size() >= 9) {
    const std::size_t n = (static_cast<std::uint8_t>(in[0]) << 16) |
                          (static_cast<std::uint8_t>(in[1]) << 8) |
                          static_cast<std::uint8_t>(in[2]);
    Frame f;
    f.type = static_cast<std::uint8_t>(in[3]);
    f.flags = static_cast<std::uint8_t>(in[4]);
    f.stream = (static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[5])) << 24) |
               (static_cast<std::uint8_t>(in[6]) << 16) | (static_cast<std::uint8_t>(in[7]) << 8) |
               static_cast<std::uint8_t>(in[8]);
    f.payload = std::string(in.substr(9, n));
    out.push_back(f);
    in.remove_prefix(9 + n);
  }
  EXPECT_TRUE(in.empty());
  return out;
}

const std::string settings_frame = frame(4, 0, 0, std::string("\x00\x03\x00\x00\x00\x64", 6));
const std::string settings_ack = frame(4, 1, 0, "");

std::string block(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    hpack::encode_literal(out, name, value);
  }
  return out;
}

// HEADERS :status 200 (the static table's 8) and content-type, on stream 1.
const std::string response_headers =
    frame(1, 4, 1, "\x88" + block({{"content-type", "application/grpc"}}));

std::string response_message(std::string_view protobuf) {
  return std::string(1, '\0') + u32(static_cast<std::uint32_t>(protobuf.size())) +
         std::string(protobuf);
}

std::string trailers(std::string_view status, std::string_view message = "") {
  std::string b = block({{"grpc-status", status}});
  if (!message.empty()) {
    hpack::encode_literal(b, "grpc-message", message);
  }
  return frame(1, 4 | 1, 1, b);
}

// A whole answer with HealthCheckResponse `protobuf` and grpc-status 0.
std::string answer(std::string_view protobuf) {
  return settings_frame + settings_ack + response_headers +
         frame(0, 0, 1, response_message(protobuf)) + trailers("0");
}

struct Fed {
  Result<bool> ended;
  std::string reply;
};

Fed feed(HealthCallReader& r, std::string_view bytes) {
  Fed out{false, {}};
  out.ended = r.feed(bytes, out.reply);
  return out;
}

std::string error_of(std::string_view bytes) {
  HealthCallReader r;
  Fed f = feed(r, bytes);
  return f.ended ? (*f.ended ? "ended" : "more") : f.ended.error().message();
}

TEST(GrpcHealthRequest, PrefaceSettingsHeadersAndTheMessage) {
  auto req = health_check_request("10.1.2.3:9000", "shop", 1500ms);
  ASSERT_TRUE(req);
  const std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  ASSERT_EQ(req->substr(0, preface.size()), preface);
  auto f = frames(std::string_view(*req).substr(preface.size()));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].type, 4);  // SETTINGS: ENABLE_PUSH 0, MAX_HEADER_LIST_SIZE 16384
  EXPECT_EQ(f[0].payload, std::string("\x00\x02\x00\x00\x00\x00\x00\x06\x00\x00\x40\x00", 12));
  EXPECT_EQ(f[1].type, 1);
  EXPECT_EQ(f[1].flags, 4);  // END_HEADERS
  EXPECT_EQ(f[1].stream, 1u);
  hpack::Decoder d;
  auto fields = d.decode(f[1].payload);
  ASSERT_TRUE(fields);
  EXPECT_EQ(*fields, (std::vector<hpack::Field>{{":method", "POST"},
                                                {":scheme", "http"},
                                                {":path", "/grpc.health.v1.Health/Check"},
                                                {":authority", "10.1.2.3:9000"},
                                                {"content-type", "application/grpc"},
                                                {"te", "trailers"},
                                                {"grpc-timeout", "1500m"},
                                                {"user-agent", "tender-probe"}}));
  EXPECT_EQ(f[2].type, 0);
  EXPECT_EQ(f[2].flags, 1);  // END_STREAM
  // Not compressed, 6 bytes: field 1, length-delimited (0x0a), 4 bytes.
  EXPECT_EQ(f[2].payload, std::string("\x00\x00\x00\x00\x06\x0a\x04shop", 11));

  auto empty = health_check_request("h:1", "", 1s);
  EXPECT_EQ(frames(std::string_view(*empty).substr(preface.size()))[2].payload,
            std::string(5, '\0'));
  EXPECT_FALSE(health_check_request("h:1", std::string(20000, 's'), 1s));
}

TEST(GrpcHealthReader, ServingPassesAndSettingsAreAcknowledged) {
  HealthCallReader r;
  Fed f = feed(r, answer("\x08\x01"));
  ASSERT_TRUE(f.ended) << f.ended.error().message();
  EXPECT_TRUE(*f.ended);
  EXPECT_EQ(f.reply, settings_ack);
  EXPECT_EQ(r.answer().http_status, 200);
  EXPECT_EQ(r.answer().grpc_status, 0);
  EXPECT_EQ(r.answer().status, 1);
  EXPECT_TRUE(r.answer().serving());
  EXPECT_EQ(r.answer().describe(), "SERVING");
}

TEST(GrpcHealthReader, OtherStatusesFail) {
  for (auto [msg, text] :
       {std::pair<std::string, std::string>{"\x08\x02", "health status NOT_SERVING"},
        {"\x08\x03", "health status SERVICE_UNKNOWN"},
        {"", "health status UNKNOWN"},  // proto3: 0 is not sent
        {"\x08\x07", "health status 7"}}) {
    HealthCallReader r;
    Fed f = feed(r, answer(msg));
    ASSERT_TRUE(f.ended && *f.ended) << text;
    EXPECT_FALSE(r.answer().serving());
    EXPECT_EQ(r.answer().describe(), text);
  }
}

TEST(GrpcHealthReader, TrailersOnlyErrorsCarryStatusAndMessage) {
  HealthCallReader r;
  const std::string only =
      frame(1, 5, 1,
            "\x88" + block({{"grpc-status", "12"}, {"grpc-message", "Method%20not%20found%0A"}}));
  Fed f = feed(r, settings_frame + only);
  ASSERT_TRUE(f.ended && *f.ended);
  EXPECT_EQ(r.answer().describe(), "grpc-status 12 (UNIMPLEMENTED): Method not found?");
  HealthCallReader r2;
  ASSERT_TRUE(
      *feed(r2, settings_frame + response_headers + trailers("5", "unknown service")).ended);
  EXPECT_EQ(r2.answer().describe(), "grpc-status 5 (NOT_FOUND): unknown service");
  HealthCallReader r3;
  ASSERT_TRUE(*feed(r3, settings_frame + response_headers + trailers("99")).ended);
  EXPECT_EQ(r3.answer().describe(), "grpc-status 99");
}

TEST(GrpcHealthReader, AnswersSplitAnywhereReadTheSame) {
  const std::string all = answer("\x08\x01");
  for (std::size_t step : {1, 2, 5, 9, 13}) {
    HealthCallReader r;
    std::string reply;
    Result<bool> ended = false;
    for (std::size_t at = 0; at < all.size(); at += step) {
      ended = r.feed(std::string_view(all).substr(at, step), reply);
      ASSERT_TRUE(ended) << ended.error().message();
      EXPECT_EQ(*ended, at + step >= all.size());
    }
    EXPECT_TRUE(r.answer().serving()) << step;
    EXPECT_EQ(reply, settings_ack);
  }
}

TEST(GrpcHealthReader, PaddingPriorityContinuationPingAndUnknownFrames) {
  const std::string headers = "\x88" + block({{"content-type", "application/grpc"}});
  std::string in = settings_frame;
  in += frame(0xfa, 0, 0, "an extension frame");  // ignored
  in += frame(6, 0, 0, "12345678");               // PING: acknowledged
  in += frame(8, 0, 0, u32(1000));                // WINDOW_UPDATE
  in += frame(2, 0, 3, std::string(5, '\0'));     // PRIORITY of another stream
  // HEADERS padded (3 bytes) with a priority, its block split over two CONTINUATIONs.
  in += frame(1, 0x8 | 0x20, 1,
              std::string(1, '\3') + std::string(5, '\0') + headers.substr(0, 4) + "pad");
  in += frame(9, 0, 1, headers.substr(4, 3));
  in += frame(9, 4, 1, headers.substr(7));
  // DATA padded, then the trailers.
  in += frame(0, 0x8, 1, std::string(1, '\2') + response_message("\x08\x01") + "xx");
  in += trailers("0");
  HealthCallReader r;
  Fed f = feed(r, in);
  ASSERT_TRUE(f.ended) << f.ended.error().message();
  EXPECT_TRUE(*f.ended);
  EXPECT_TRUE(r.answer().serving());
  EXPECT_EQ(f.reply, settings_ack + frame(6, 1, 0, "12345678"));
}

TEST(GrpcHealthReader, GoawayAfterTheCallsStreamStillLetsItEnd) {
  HealthCallReader r;
  Fed f = feed(r, settings_frame + frame(7, 0, 0, u32(1) + u32(0)) + response_headers +
                      frame(0, 0, 1, response_message("\x08\x01")) + trailers("0"));
  ASSERT_TRUE(f.ended && *f.ended);
  EXPECT_TRUE(r.answer().serving());
  EXPECT_EQ(error_of(settings_frame + frame(7, 0, 0, u32(0) + u32(11) + "calm down")),
            "HTTP/2: the server went away (GOAWAY ENHANCE_YOUR_CALM: calm down)");
}

TEST(GrpcHealthReader, NonGrpcAnswersFail) {
  HealthCallReader r;
  // :status 404 (static index 13) ends the call at once.
  ASSERT_TRUE(*feed(r, settings_frame + frame(1, 4, 1, "\x8d")).ended);
  EXPECT_EQ(r.answer().describe(), "HTTP 404");
  EXPECT_FALSE(r.answer().serving());
  EXPECT_EQ(error_of("HTTP/1.1 400 Bad Request\r\n\r\n"),
            "HTTP/2: the server answered HTTP/1, not HTTP/2 without TLS (h2c)");
  EXPECT_EQ(error_of(response_headers),
            "HTTP/2: the server did not begin with SETTINGS (frame type 1): not an HTTP/2 server?");
  HealthCallReader r2;
  ASSERT_TRUE(
      *feed(r2, settings_frame + response_headers + frame(0, 1, 1, response_message("\x08\x01")))
           .ended);
  EXPECT_EQ(r2.answer().describe(), "no grpc-status in the answer");
  HealthCallReader r3;
  ASSERT_TRUE(*feed(r3, settings_frame + response_headers + trailers("0")).ended);
  EXPECT_EQ(r3.answer().describe(), "no HealthCheckResponse in the answer");
}

TEST(GrpcHealthReader, ProtocolViolationsFailWithAReason) {
  const std::string h = settings_frame + response_headers;
  auto has = [](const std::string& error, std::string_view what) {
    return error.find(what) != std::string::npos;
  };
  EXPECT_TRUE(has(error_of(settings_frame + frame(3, 0, 1, u32(8))), "reset the stream (CANCEL)"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(5, 4, 1, u32(2))), "PUSH_PROMISE"));
  EXPECT_TRUE(
      has(error_of(settings_frame + frame(0, 0, 1, "x")), "DATA before the response headers"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(1, 4, 3, "\x88")), "HEADERS on stream 3"));
  EXPECT_TRUE(
      has(error_of(settings_frame + frame(9, 4, 1, "\x88")), "CONTINUATION without HEADERS"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(1, 0, 1, "\x88") + frame(6, 0, 0, "12345678")),
                  "where CONTINUATION was due"));
  EXPECT_TRUE(
      has(error_of(settings_frame + frame(1, 0x8 | 4, 1, "\x09\x88")), "padding of 9 bytes"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(1, 4, 1, "\x82")), "without :status"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(1, 4, 1, "\x80")), "HPACK: index 0"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(4, 0, 0, "12345")), "malformed SETTINGS"));
  EXPECT_TRUE(has(error_of(frame(4, 0, 0, std::string("\x00\x05\x00\x00\x00\x01", 6))),
                  "SETTINGS 5 = 1 is out of range"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(6, 0, 0, "1234")), "malformed PING"));
  EXPECT_TRUE(has(error_of(settings_frame + frame(8, 0, 0, "12")), "malformed WINDOW_UPDATE"));
  EXPECT_TRUE(has(error_of(h + frame(1, 4, 1, block({{"x", "y"}}))), "do not end the stream"));
  EXPECT_TRUE(has(error_of(h + frame(1, 5, 1, block({{"grpc-status", "zero"}}))),
                  "grpc-status zero is not a status code"));
  // The gRPC message: compressed, shorter or longer than its prefix says, not protobuf.
  const std::string end = trailers("0");
  EXPECT_TRUE(has(error_of(h + frame(0, 0, 1, "\x01" + u32(0)) + end), "compressed"));
  EXPECT_TRUE(has(error_of(h + frame(0, 0, 1, std::string("\0\0\0\0\3\x08\x01", 7)) + end),
                  "prefix says 3 bytes, 2 came"));
  EXPECT_TRUE(
      has(error_of(h + frame(0, 0, 1, response_message("\x08")) + end), "varint runs past"));
  EXPECT_TRUE(has(error_of(h + frame(0, 0, 1, response_message("\x0f")) + end), "wire type 7"));
  EXPECT_TRUE(
      has(error_of(h + frame(0, 0, 1, response_message("\x12\x05x")) + end), "field runs past"));
}

TEST(GrpcHealthReader, OtherFieldsOfTheResponseAreSkipped) {
  HealthCallReader r;
  // field 2 string "ab", field 3 fixed64, field 4 fixed32, then status 1.
  const std::string msg = std::string(
                              "\x12\x02"
                              "ab"
                              "\x19",
                              5) +
                          std::string(8, '\1') + "\x25" + std::string(4, '\2') + "\x08\x01";
  ASSERT_TRUE(*feed(r, answer(msg)).ended);
  EXPECT_TRUE(r.answer().serving());
}

TEST(GrpcHealthReader, SizesAreBounded) {
  auto too_big = error_of(settings_frame + std::string("\x00\x40\x01\x00\x00\x00\x00\x00\x01", 9));
  EXPECT_EQ(too_big, "HTTP/2: frame of 16385 bytes, larger than 16384");
  // Frames of an unknown type, each within bounds, add up past 64 KiB.
  HealthCallReader r;
  std::string reply;
  Result<bool> ended = r.feed(settings_frame, reply);
  const std::string big = frame(0xfa, 0, 0, std::string(16384, 'x'));
  for (int i = 0; i < 5 && ended; ++i) {
    ended = r.feed(big, reply);
  }
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), std::errc::message_size);
  EXPECT_FALSE(r.feed(response_headers, reply));  // a failed reader stays failed
}

// Random frames after a valid start: every outcome is a result, never a crash.
TEST(GrpcHealthReader, HostileFramesNeverCrash) {
  std::mt19937 rng(11);  // NOLINT(cert-msc51-cpp): the same bytes each run
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string valid = answer("\x08\x01");
  for (int round = 0; round < 5000; ++round) {
    std::string in = valid;
    for (int k = 0; k < 3; ++k) {
      in[static_cast<std::size_t>(rng()) % in.size()] = static_cast<char>(byte(rng));
    }
    if (round % 3 == 0) {
      std::string junk(static_cast<std::size_t>(byte(rng)), '\0');
      for (char& c : junk) {
        c = static_cast<char>(byte(rng));
      }
      in.insert(static_cast<std::size_t>(rng()) % in.size(), junk);
    }
    HealthCallReader r;
    std::string reply;
    auto ended = r.feed(in, reply);
    if (ended && *ended) {
      (void)r.answer().describe();
    }
  }
}

}  // namespace
}  // namespace tender::grpc

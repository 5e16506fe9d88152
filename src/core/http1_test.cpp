#include "core/http1.hpp"

#include <gtest/gtest.h>

namespace tender::http1 {
namespace {

Parse request(std::string_view in, Head& h, Error& err, std::size_t max = 16 * 1024) {
  return parse_request(in, max, h, err);
}

TEST(Http1Request, ParsesTheHeadInPlace) {
  std::string in = "GET /a/b?c=1 HTTP/1.1\r\nHost: example.test:8080\r\nAccept:  */* \r\n\r\nnext";
  Head h;
  Error err;
  ASSERT_EQ(request(in, h, err), Parse::kDone) << err.reason;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a/b?c=1");
  EXPECT_EQ(h.minor, 1);
  EXPECT_EQ(h.host, "example.test:8080");
  EXPECT_EQ(h.field("accept"), "*/*");
  EXPECT_EQ(h.size, in.size() - 4);
  EXPECT_EQ(h.framing, Framing::kNone);
  EXPECT_TRUE(h.keep_alive);
}

TEST(Http1Request, WaitsForTheWholeHeadAndBoundsIt) {
  Head h;
  Error err;
  std::string part = "GET / HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(request(part, h, err), Parse::kIncomplete);
  EXPECT_EQ(request(part + "\r", h, err), Parse::kIncomplete);
  EXPECT_EQ(request(part + "\r\n", h, err), Parse::kDone);
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  EXPECT_EQ(request(big, h, err, 100), Parse::kError);
  EXPECT_EQ(err.status, 431);
  EXPECT_EQ(request(big + "\r\n\r\n", h, err, 100), Parse::kError);
  EXPECT_EQ(err.status, 431);
  EXPECT_TRUE(err.too_large);
}

TEST(Http1Request, SkipsLeadingEmptyLinesAndTakesBareLineFeeds) {
  Head h;
  Error err;
  std::string in = "\r\n\r\nPOST /x HTTP/1.0\nContent-Length: 3\n\nabc";
  ASSERT_EQ(request(in, h, err), Parse::kDone) << err.reason;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.size, in.size() - 3);
  EXPECT_EQ(h.framing, Framing::kLength);
  EXPECT_EQ(h.length, 3U);
  EXPECT_FALSE(h.keep_alive);  // HTTP/1.0 without keep-alive
}

TEST(Http1Request, ConnectionFieldDecidesKeepAlive) {
  Head h;
  Error err;
  ASSERT_EQ(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", h, err), Parse::kDone);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.minor, 0);
}

TEST(Http1Request, FramingByLengthOrChunked) {
  Head h;
  Error err;
  ASSERT_EQ(request("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kLength);
  EXPECT_EQ(h.length, 5U);
  ASSERT_EQ(request("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(request("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kChunked);
  ASSERT_EQ(
      request("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", h,
              err),
      Parse::kDone);
  EXPECT_TRUE(h.expect_continue);
}

TEST(Http1Request, RefusesAmbiguousOrMalformedHeads) {
  struct Case {
    const char* in;
    int status;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      // A request's codings end in chunked, listed once (400 otherwise: a server or an
      // upstream could read the body another way); other codings are not supported (501).
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n",
       501},
      // RFC 9112 6.3: a request whose codings do not end in one chunked has no framing a
      // server may guess at. Each of these was once read as a request without a body.
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
      {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET /a b HTTP/1.1\r\n\r\n", 400},
      {"GET\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / FTP/1.1\r\n\r\n", 400},
      {"CONNECT a:443 HTTP/1.1\r\n\r\n", 501},
  };
  for (const auto& c : cases) {
    Head h;
    Error err;
    EXPECT_EQ(request(c.in, h, err), Parse::kError) << c.in;
    EXPECT_EQ(err.status, c.status) << c.in;
    EXPECT_FALSE(err.reason.empty()) << c.in;
  }
}

Parse response(std::string_view in, Head& h, bool to_head = false) {
  Error err;
  return parse_response(in, 16 * 1024, to_head, h, err);
}

TEST(Http1Response, FramingFollowsRfc9112) {
  Head h;
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.framing, Framing::kLength);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", h, true), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kNone);  // an answer to HEAD
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 204 No Content\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kNone);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(response("HTTP/1.1 100 Continue\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kUntilClose);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kChunked);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(
      response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", h),
      Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kChunked);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.framing, Framing::kUntilClose);
  ASSERT_EQ(response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", h), Parse::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(response("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", h), Parse::kDone);
  EXPECT_EQ(h.reason, "");
}

TEST(Http1Response, MalformedIsA502) {
  for (const char* in :
       {"HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n", "garbage\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: z\r\n\r\n"}) {
    Head h;
    Error err;
    EXPECT_EQ(parse_response(in, 16 * 1024, false, h, err), Parse::kError) << in;
    EXPECT_EQ(err.status, 502) << in;
    EXPECT_FALSE(err.too_large) << in;
  }
}

TEST(Http1Response, AHeadOverMaxHeadIsTooLarge) {
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a');
  for (const std::string& in : {big, big + "\r\n\r\n"}) {
    Head h;
    Error err;
    EXPECT_EQ(parse_response(in, 100, false, h, err), Parse::kError);
    EXPECT_EQ(err.status, 502);
    EXPECT_TRUE(err.too_large);  // what a client tells apart from a malformed head
  }
}

TEST(Http1Rewrite, RequestHeadDropsHopByHopAndAppendsForwardedFor) {
  Head h;
  Error err;
  std::string in =
      "POST /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Content-Length\r\n"
      "X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: websocket\r\n"
      "Proxy-Connection: x\r\nExpect: 100-continue\r\nX-Forwarded-For: 1.1.1.1\r\n"
      "x-forwarded-for: 2.2.2.2\r\nContent-Length: 2\r\n\r\nhi";
  ASSERT_EQ(request(in, h, err), Parse::kDone) << err.reason;
  std::string out;
  write_request_head(h, "10.0.0.7", out);
  EXPECT_EQ(out,  // X-Secret is named by Connection; Content-Length is not dropped that way
            "POST /p HTTP/1.1\r\nHost: h\r\n"
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.7\r\nContent-Length: 2\r\n\r\n");
}

TEST(Http1Rewrite, Http10RequestAsksTheUpstreamForKeepAlive) {
  Head h;
  Error err;
  ASSERT_EQ(request("GET / HTTP/1.0\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n", h, err), Parse::kDone);
  std::string out;
  write_request_head(h, "", out);  // no client address: the field goes as it came
  EXPECT_EQ(out, "GET / HTTP/1.0\r\nX-Forwarded-For: 9.9.9.9\r\nConnection: keep-alive\r\n\r\n");
}

TEST(Http1Rewrite, ResponseHeadForTheClient) {
  Head h;
  ASSERT_EQ(response("HTTP/1.0 200 Fine\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                     "Content-Length: 2\r\nX-A: b\r\n\r\n",
                     h),
            Parse::kDone);
  std::string out;
  write_response_head(h, 1, true, false, out);
  EXPECT_EQ(out, "HTTP/1.1 200 Fine\r\nX-A: b\r\nContent-Length: 2\r\n\r\n");
  write_response_head(h, 1, false, false, out);
  EXPECT_EQ(out, "HTTP/1.1 200 Fine\r\nX-A: b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  write_response_head(h, 0, true, false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 Fine\r\nX-A: b\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  // Beside Transfer-Encoding a Content-Length is dropped, and duplicates become one.
  ASSERT_EQ(
      response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n", h),
      Parse::kDone);
  write_response_head(h, 1, false, false, out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\n", h),
            Parse::kDone);
  write_response_head(h, 1, true, false, out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  ASSERT_EQ(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h), Parse::kDone);
  write_response_head(h, 0, false, true, out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

TEST(Http1Upgrade, OnlyWhenConnectionAsksForIt) {
  Head h;
  Error err;
  ASSERT_EQ(request("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
                    h, err),
            Parse::kDone);
  EXPECT_EQ(h.upgrade, "websocket");
  // An Upgrade field that Connection does not name, or an HTTP/1.0 request: no upgrade.
  ASSERT_EQ(request("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.upgrade, "");
  ASSERT_EQ(request("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.upgrade, "");
  ASSERT_EQ(request("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", h, err),
            Parse::kDone);
  EXPECT_EQ(h.upgrade, "");
}

TEST(Http1Upgrade, RequestAndResponseHeadsCarryIt) {
  Head h;
  Error err;
  ASSERT_EQ(request("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
                    h, err),
            Parse::kDone);
  std::string out;
  write_request_head(h, "10.0.0.7", out);
  EXPECT_EQ(out,
            "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: 10.0.0.7\r\n"
            "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: a\r\nKeep-Alive: 5\r\n\r\n",
                     h),
            Parse::kDone);
  EXPECT_EQ(h.status, 101);
  EXPECT_EQ(h.upgrade, "websocket");
  write_upgrade_response_head(h, out);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: a\r\n"
            "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(Http1Local, ResponseIsComplete) {
  EXPECT_EQ(local_response(503, "busy\n", true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Server: tender-proxy\r\nContent-Length: 5\r\n\r\nbusy\n");
  EXPECT_NE(local_response(400, "x", false).find("Connection: close\r\n\r\nx"), std::string::npos);
}

TEST(Http1Chunked, FindsTheEndInAnySplitAndDecodes) {
  const std::string body =
      "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\n";
  const std::string after = "GET /next HTTP/1.1\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{7}, body.size() + 100}) {
    Chunked c;
    std::string all = body + after;
    std::string decoded;
    std::size_t used = 0;
    while (!c.done() && used < all.size()) {
      std::size_t n = c.feed(std::string_view(all).substr(used, step), &decoded);
      ASSERT_FALSE(c.failed());
      used += n;
    }
    EXPECT_TRUE(c.done()) << step;
    EXPECT_EQ(used, body.size()) << step;
    EXPECT_EQ(decoded, "helloabcdefghijklmnopqrstuvwxyz") << step;
    EXPECT_EQ(c.data_bytes(), 31U);
  }
}

TEST(Http1Chunked, BareLineFeedsAndEmptyTrailers) {
  Chunked c;
  std::string in = "3\nabc\n0\n\n";
  EXPECT_EQ(c.feed(in, nullptr), in.size());
  EXPECT_TRUE(c.done());
}

TEST(Http1Chunked, StrictTakesOnlyCrLfAndNoControlCharacters) {
  Chunked ok(true);
  std::string in = "3;name=\"v\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
  EXPECT_EQ(ok.feed(in, nullptr), in.size());
  EXPECT_TRUE(ok.done());
  for (const char* bad :
       {"3\nabc\r\n0\r\n\r\n", "3\r\nabc\n0\r\n\r\n", "2;\nxx\r\n", "2;a\x01\r\nxx\r\n",
        "3 junk\r\nabc\r\n", "0\r\n\n", "0\r\nX: a\nY: b\r\n\r\n", "0\r\nX: \x01\r\n\r\n"}) {
    Chunked c(true);
    c.feed(bad, nullptr);
    EXPECT_TRUE(c.failed()) << bad;
  }
}

TEST(Http1Chunked, TrailersAreCollectedInAnySplit) {
  const std::string body = "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Two:  a b \r\n\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{4}, body.size()}) {
    Chunked c(true);
    std::string data;
    std::string trailers;
    std::size_t used = 0;
    while (!c.done() && !c.failed() && used < body.size()) {
      used += c.feed(std::string_view(body).substr(used, step), &data, &trailers);
    }
    EXPECT_TRUE(c.done()) << step;
    EXPECT_EQ(data, "abc");
    EXPECT_EQ(trailers, "X-Sum: 1\r\nX-Two:  a b \r\n") << step;
  }
}

TEST(Http1Trailers, ForwardedLessWhatWouldChangeTheMessage) {
  std::string out;
  ASSERT_TRUE(forward_trailers(
      "X-Sum: 1\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n"
      "Connection: close\r\nX-Forwarded-For: 6.6.6.6\r\nCookie: c\r\nX-Two:  a b \r\n",
      out));
  EXPECT_EQ(out, "X-Sum: 1\r\nX-Two: a b\r\n");
  ASSERT_TRUE(forward_trailers("", out));
  EXPECT_EQ(out, "");
  for (const char* bad : {"no colon\r\n", "Bad Name: x\r\n", ": empty name\r\n"}) {
    EXPECT_FALSE(forward_trailers(bad, out)) << bad;
  }
}

TEST(Http1Chunked, TrailerSectionIsBoundedKeptOrNot) {
  for (bool keep : {false, true}) {
    Chunked c(true, 64);
    std::string trailers;
    std::string in = "1\r\na\r\n0\r\n";
    for (int i = 0; i < 10; ++i) {
      in += "X-Pad: 0123456789\r\n";  // 19 bytes a line
    }
    std::size_t used = c.feed(in, nullptr, keep ? &trailers : nullptr);
    EXPECT_TRUE(c.failed()) << keep;
    EXPECT_TRUE(c.trailers_too_large()) << keep;
    EXPECT_LE(used, std::string("1\r\na\r\n0\r\n").size() + 64) << keep;
    EXPECT_LE(trailers.size(), 64U) << keep;
  }
  // Exactly at the limit is fine, byte by byte too.
  const std::string body = "0\r\nX-A: 1\r\n\r\n";  // a trailer section of 8 + 2 bytes
  for (std::size_t step : {std::size_t{1}, body.size()}) {
    Chunked c(true, 10);
    std::size_t used = 0;
    while (!c.done() && !c.failed() && used < body.size()) {
      used += c.feed(std::string_view(body).substr(used, step), nullptr);
    }
    EXPECT_TRUE(c.done()) << step;
    Chunked over(true, 9);
    over.feed(body, nullptr);
    EXPECT_TRUE(over.trailers_too_large()) << step;
  }
}

TEST(Http1Chunked, MalformedFails) {
  for (const char* in :
       {"x\r\n", "\r\n", "5\r\nhelloX", "3\r\nabc\r\n0\r\n\rX", "1000000000000000\r\n"}) {
    Chunked c;
    c.feed(in, nullptr);
    EXPECT_TRUE(c.failed()) << in;
  }
}

}  // namespace
}  // namespace tender::http1

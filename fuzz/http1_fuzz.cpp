// libFuzzer target: the HTTP/1 head parsers and the chunked decoder on arbitrary bytes. Beyond
// not crashing, it checks what the proxy relies on: a head it forwards parses back to the same
// request or response (so the next hop cannot read it otherwise), and the chunked decoder
// gives the same result whether the body comes at once or in pieces, and keeps no more trailer
// bytes than its limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "core/http1.hpp"

namespace http1 = tender::http1;

namespace {

void request(std::string_view in) {
  http1::Head head;
  http1::Error err;
  auto r = http1::parse_request(in, 4096, head, err);
  if (r == http1::Parse::kError) {
    CHECK(err.status >= 400 && err.status < 600 && !err.reason.empty());
    return;
  }
  if (r != http1::Parse::kDone) {
    return;
  }
  CHECK(head.size > 0 && head.size <= in.size());
  std::string out;
  http1::write_request_head(head, "10.0.0.7", out);
  http1::Head again;
  http1::Error err2;
  CHECK(http1::parse_request(out, 1 << 20, again, err2) == http1::Parse::kDone);
  CHECK(again.size == out.size());
  CHECK(again.method == head.method && again.target == head.target);
  CHECK(again.framing == head.framing);
  CHECK(head.framing != http1::Framing::kLength || again.length == head.length);
  CHECK(again.host == head.host);
  CHECK(again.upgrade == head.upgrade);
}

void response(std::string_view in, bool to_head, int client_minor, bool keep_alive) {
  http1::Head head;
  http1::Error err;
  auto r = http1::parse_response(in, 4096, to_head, head, err);
  if (r != http1::Parse::kDone) {
    return;
  }
  CHECK(head.size > 0 && head.size <= in.size());
  for (bool dechunk : {false, true}) {
    std::string out;
    http1::write_response_head(head, client_minor, keep_alive, dechunk, out);
    http1::Head again;
    http1::Error err2;
    CHECK(http1::parse_response(out, 1 << 20, to_head, again, err2) == http1::Parse::kDone);
    CHECK(again.size == out.size() && again.status == head.status);
  }
  if (head.status == 101) {
    std::string out;
    http1::write_upgrade_response_head(head, out);
  }
}

// The chunked decoder fed the whole body at once, then `step` bytes at a time: the same.
void chunked(std::string_view in, std::size_t step, bool strict) {
  http1::Chunked whole(strict);
  std::string data1;
  std::string trailers1;
  std::size_t used1 = whole.feed(in, &data1, &trailers1);
  CHECK(used1 <= in.size());
  http1::Chunked pieces(strict);
  std::string data2;
  std::string trailers2;
  std::size_t used2 = 0;
  while (used2 < in.size() && !pieces.done() && !pieces.failed()) {
    std::size_t n = std::min(step, in.size() - used2);
    std::size_t took = pieces.feed(in.substr(used2, n), &data2, &trailers2);
    CHECK(took <= n);
    used2 += took;
    if (took < n && !pieces.done() && !pieces.failed()) {
      std::abort();  // it stops early only at the end of the body or on an error
    }
  }
  CHECK(whole.done() == pieces.done() && whole.failed() == pieces.failed());
  if (!whole.failed()) {
    CHECK(used1 == used2 && data1 == data2 && trailers1 == trailers2);
    CHECK(whole.data_bytes() == data1.size());
  }
  // With a small trailer limit: never more kept than the limit, and the same body otherwise.
  http1::Chunked small(strict, 32);
  std::string data3;
  std::string trailers3;
  small.feed(in, &data3, &trailers3);
  CHECK(trailers3.size() <= 32);
  if (!small.failed()) {
    CHECK(small.done() == whole.done() && data3 == data1 && trailers3 == trailers1);
  } else if (!whole.failed()) {
    CHECK(small.trailers_too_large() && trailers1.size() > 0);
  }
  if (whole.done()) {
    std::string out;
    if (http1::forward_trailers(trailers1, out)) {
      std::string again;
      CHECK(http1::forward_trailers(out, again) && again == out);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  request(in);
  response(in, (flags & 1) != 0, (flags & 2) != 0 ? 0 : 1, (flags & 4) != 0);
  chunked(in, 1 + (flags >> 3), (flags & 2) != 0);
  return 0;
}

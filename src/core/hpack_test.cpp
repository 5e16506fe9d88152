// HPACK: integers, Huffman coding and the decoder's tables, with vectors worked out by hand from
// RFC 7541, and hostile blocks that must fail cleanly.
#include "core/hpack.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tender::hpack {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) {
    out.push_back(static_cast<char>(b));
  }
  return out;
}

// A string literal: its length with the H bit, then its bytes.
std::string literal(std::string_view s, bool huffman = false) {
  std::string out;
  const std::string body = huffman ? huffman_encode(s) : std::string(s);
  encode_integer(out, body.size(), 7, huffman ? 0x80 : 0);
  return out + body;
}

std::vector<Field> decode_ok(Decoder& d, const std::string& block) {
  auto r = d.decode(block);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  return r ? *r : std::vector<Field>{};
}

std::string decode_error(Decoder& d, const std::string& block) {
  auto r = d.decode(block);
  return r ? "decoded" : r.error().message();
}

TEST(HpackInteger, FitsThePrefixOrContinuesSevenBitsAtATime) {
  std::string out;
  encode_integer(out, 10, 5, 0x20);  // below 31: one byte, the prefix's bits kept
  EXPECT_EQ(out, bytes({0x2a}));
  out.clear();
  // 300 with a 6-bit prefix: 63, then 237 = 0b1'1101101 as 0xed (1101101 and "more"), 0x01.
  encode_integer(out, 300, 6, 0x40);
  EXPECT_EQ(out, bytes({0x7f, 0xed, 0x01}));
  out.clear();
  encode_integer(out, 127, 7, 0);  // exactly the prefix's maximum: a zero continuation follows
  EXPECT_EQ(out, bytes({0x7f, 0x00}));
}

TEST(HpackHuffman, CodesWorkedOutFromTheTable) {
  // 'a' is 00011; three ones of EOS pad the byte.
  EXPECT_EQ(huffman_encode("a"), bytes({0x1f}));
  // 'o' 00111, 'k' 1110101, then 1111: 00111111 01011111.
  EXPECT_EQ(huffman_encode("ok"), bytes({0x3f, 0x5f}));
  // '2' 00010, '0' 00000, '0' 00000, then one 1: 00010000 00000001.
  EXPECT_EQ(huffman_encode("200"), bytes({0x10, 0x01}));
  // '/' 011000 and '?' 1111111100: 16 bits, 01100011 11111100, and no padding.
  EXPECT_EQ(huffman_encode("/?"), bytes({0x63, 0xfc}));
  EXPECT_EQ(*huffman_decode(bytes({0x3f, 0x5f}), 100), "ok");
  EXPECT_EQ(*huffman_decode(bytes({0x10, 0x01}), 100), "200");
  EXPECT_EQ(*huffman_decode("", 100), "");
}

TEST(HpackHuffman, EveryByteRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  for (std::size_t len : {1, 2, 3, 7, 256}) {
    for (std::size_t start = 0; start + len <= all.size(); start += len) {
      const std::string s = all.substr(start, len);
      auto back = huffman_decode(huffman_encode(s), 1024);
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_EQ(*back, s);
    }
  }
}

TEST(HpackHuffman, RefusesBadPaddingAndEos) {
  // "a" padded with zeros instead of ones.
  EXPECT_EQ(huffman_decode(bytes({0x18}), 100).error().code(), std::errc::protocol_error);
  // "a" then a whole byte of ones: padding longer than 7 bits.
  EXPECT_NE(huffman_decode(bytes({0x1f, 0xff}), 100).error().message().find("longer than 7"),
            std::string::npos);
  // 32 ones: EOS (30 of them) is decoded, which a string must not hold.
  EXPECT_NE(huffman_decode(bytes({0xff, 0xff, 0xff, 0xff}), 100).error().message().find("EOS"),
            std::string::npos);
  // The output bound holds.
  EXPECT_EQ(huffman_decode(huffman_encode("abcdef"), 5).error().code(), std::errc::message_size);
}

TEST(HpackDecoder, StaticTableEntries) {
  Decoder d;
  // 2 :method GET, 8 :status 200, 31 content-type (name only, through a literal).
  auto f = decode_ok(d, bytes({0x82, 0x88, 0x0f, 0x10}) + literal("application/grpc"));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0], (Field{":method", "GET"}));
  EXPECT_EQ(f[1], (Field{":status", "200"}));
  EXPECT_EQ(f[2], (Field{"content-type", "application/grpc"}));
  EXPECT_EQ(d.table_size(), 0u);  // 0000 (without indexing) left the table alone
}

TEST(HpackDecoder, IncrementalIndexingFillsTheDynamicTableNewestFirst) {
  Decoder d;
  decode_ok(d, bytes({0x40}) + literal("grpc-status") + literal("0"));
  // Index 8's name (:status) with a new value; then index 62 is the newest entry.
  auto f = decode_ok(d, bytes({0x48}) + literal("204", true) + bytes({0xbe, 0xbf}));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1], (Field{":status", "204"}));
  EXPECT_EQ(f[2], (Field{"grpc-status", "0"}));
  // grpc-status: 11 + 1 + 32; :status: 7 + 3 + 32.
  EXPECT_EQ(d.table_size(), 44u + 42u);
  ASSERT_EQ(d.table().size(), 2u);
  EXPECT_EQ(d.table()[0].name, ":status");
  // Never indexed (0001) leaves the table alone too.
  decode_ok(d, bytes({0x10}) + literal("x") + literal("y"));
  EXPECT_EQ(d.table().size(), 2u);
}

TEST(HpackDecoder, EvictsTheOldestEntriesToStayWithinTheTableSize) {
  Decoder d(100);
  for (const char* v : {"1", "2", "3"}) {
    decode_ok(d, bytes({0x40}) + literal("aaaaa") + literal(v));  // 38 bytes each
  }
  ASSERT_EQ(d.table().size(), 2u);
  EXPECT_EQ(d.table_size(), 76u);
  auto f = decode_ok(d, bytes({0xbe, 0xbf}));
  EXPECT_EQ(f[0].value, "3");
  EXPECT_EQ(f[1].value, "2");
  EXPECT_NE(decode_error(d, bytes({0xc0})).find("past the table"), std::string::npos);
  // An entry larger than the whole table empties it, without an error.
  decode_ok(d, bytes({0x40}) + literal(std::string(90, 'n')) + literal("v"));
  EXPECT_EQ(d.table().size(), 0u);
  EXPECT_EQ(d.table_size(), 0u);
}

TEST(HpackDecoder, TableSizeUpdatesComeFirstAndStayWithinTheLimit) {
  Decoder d(4096);
  decode_ok(d, bytes({0x40}) + literal("k") + literal("v"));
  EXPECT_EQ(d.table().size(), 1u);
  decode_ok(d, bytes({0x20, 0x3f, 0xe1, 0x1f}));  // to 0 (evicting everything), then to 4096
  EXPECT_EQ(d.table().size(), 0u);
  std::string too_big;
  encode_integer(too_big, 4097, 5, 0x20);
  EXPECT_NE(decode_error(d, too_big).find("above the 4096 allowed"), std::string::npos);
  EXPECT_NE(decode_error(d, bytes({0x82, 0x20})).find("after a field"), std::string::npos);
}

TEST(HpackDecoder, MalformedBlocksFail) {
  Decoder d;
  EXPECT_NE(decode_error(d, bytes({0x80})).find("index 0"), std::string::npos);
  EXPECT_NE(decode_error(d, bytes({0xff, 0x00})).find("past the table"), std::string::npos);
  // An integer whose continuation never comes, and one too large for any block.
  EXPECT_NE(decode_error(d, bytes({0xff, 0x80})).find("runs past"), std::string::npos);
  EXPECT_NE(decode_error(d, bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})).find("too large"),
            std::string::npos);
  // A literal whose value is missing, or longer than what is left.
  EXPECT_NE(decode_error(d, bytes({0x00}) + literal("name")).find("runs past"), std::string::npos);
  EXPECT_NE(decode_error(d, bytes({0x00, 0x05, 'a', 'b'})).find("runs past"), std::string::npos);
  // A Huffman value with bad padding.
  EXPECT_EQ(decode_error(d, bytes({0x00}) + literal("n") + bytes({0x81, 0x18})),
            "HPACK: Huffman padding is not the start of EOS");
}

TEST(HpackDecoder, HeaderListsAreBounded) {
  Decoder d(4096, 100);
  decode_ok(d, bytes({0x00}) + literal("name") + literal(std::string(60, 'v')));  // 96
  auto r = d.decode(bytes({0x00}) + literal("name") + literal(std::string(70, 'v')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::message_size);
  // Many small fields add up too.
  std::string block;
  for (int i = 0; i < 4; ++i) {
    block += bytes({0x82});  // 7 + 3 + 32 each
  }
  EXPECT_EQ(d.decode(block).error().code(), std::errc::message_size);
}

// Random bytes, and valid blocks with bytes flipped: every outcome is a result, never a crash.
TEST(HpackDecoder, HostileBytesNeverCrash) {
  std::mt19937 rng(7);  // NOLINT(cert-msc51-cpp): the same bytes each run
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string valid = bytes({0x82, 0x40}) + literal("grpc-status") + literal("0", true) +
                            bytes({0xbe, 0x3f, 0xe1, 0x1f});
  for (int round = 0; round < 20000; ++round) {
    Decoder d(4096, 1024);
    std::string block;
    if (round % 2 == 0) {
      block = valid;
      block[static_cast<std::size_t>(byte(rng)) % block.size()] = static_cast<char>(byte(rng));
    } else {
      block.resize(static_cast<std::size_t>(byte(rng)) % 64);
      for (char& c : block) {
        c = static_cast<char>(byte(rng));
      }
    }
    auto r = d.decode(block);
    if (r) {
      EXPECT_LE(d.table_size(), 4096u);
    }
  }
}

}  // namespace
}  // namespace tender::hpack

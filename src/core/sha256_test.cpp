#include "core/sha256.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace tender {
namespace {

// The examples of FIPS 180-2, appendix B.
TEST(Sha256, MatchesTheFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, GivesTheSameDigestHoweverTheBytesAreSplit) {
  std::string message;
  for (int i = 0; i < 1000; ++i) {
    message += static_cast<char>(i * 7 + 3);
  }
  std::string whole = sha256_hex(message);
  for (std::size_t piece : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 127u, 999u}) {
    Sha256 h;
    for (std::size_t i = 0; i < message.size(); i += piece) {
      h.update(std::string_view(message).substr(i, piece));
    }
    EXPECT_EQ(h.hex_digest(), whole) << "pieces of " << piece;
  }
}

TEST(Sha256, PadsLengthsAroundABlockBoundary) {
  // 55 bytes pad within one block, 56 need a second: both as other implementations give them.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256, HashesAFileAndNamesOneItCannotRead) {
  char tmpl[] = "/tmp/sha256-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(tmpl, std::ios::binary) << std::string(300'000, 'x');
  auto hex = sha256_file(tmpl);
  ASSERT_TRUE(hex) << hex.error().message();
  EXPECT_EQ(*hex, sha256_hex(std::string(300'000, 'x')));
  ::unlink(tmpl);
  auto missing = sha256_file(tmpl);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find(tmpl), std::string::npos);
}

}  // namespace
}  // namespace tender

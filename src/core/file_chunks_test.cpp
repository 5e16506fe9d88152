#include "core/file_chunks.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/temp_dir.hpp"

namespace tender {
namespace {

// A directory of the test's own, removed with it.
struct Dir {
  std::string path = make_temp_dir("tender-chunks.").value();
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

TEST(ReadChunks, EveryByteInOrderInChunksOfAtMostTheSize) {
  Dir dir;
  const std::string path = dir.path + "/f";
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text += std::to_string(i) + ",";
  }
  std::ofstream(path) << text;
  std::string seen;
  std::size_t largest = 0;
  auto r = read_chunks(path, 100, [&](std::string_view bytes) -> Result<> {
    seen += bytes;
    largest = std::max(largest, bytes.size());
    return {};
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(seen, text);
  EXPECT_LE(largest, 100U);
}

TEST(ReadChunks, AMissingFileAndTheCallersErrorAreReturned) {
  Dir dir;
  auto missing =
      read_chunks(dir.path + "/none", 10, [](std::string_view) -> Result<> { return {}; });
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("open " + dir.path + "/none"), std::string::npos);
  const std::string path = dir.path + "/f";
  std::ofstream(path) << "abcdefghij";
  int calls = 0;
  auto stopped = read_chunks(path, 2, [&](std::string_view) -> Result<> {
    ++calls;
    return Error(std::errc::invalid_argument, "enough");
  });
  ASSERT_FALSE(stopped);
  EXPECT_EQ(calls, 1);
  EXPECT_NE(stopped.error().message().find("enough"), std::string::npos);
}

}  // namespace
}  // namespace tender

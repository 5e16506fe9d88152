// The log tail behind GET /v1/pods/{name}/containers/{c}/logs: whole lines, offsets, resets.
#include "pod/log_tail.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

namespace tender::pod {
namespace {

namespace fs = std::filesystem;

class LogTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("log_tail_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "app.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void append(const std::string& s) { std::ofstream(path_, std::ios::app) << s; }
  LogChunk read(std::optional<LogCursor> cursor, std::size_t limit) {
    auto r = read_log_tail(path_, cursor, limit);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : LogChunk{};
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(LogTailTest, WithoutOffsetTheLastBytesCutToWholeLines) {
  append("one\ntwo\nthree\n");
  LogChunk all = read(std::nullopt, 1024);
  EXPECT_EQ(all.text, "one\ntwo\nthree\n");
  EXPECT_EQ(all.offset, 0U);
  EXPECT_EQ(all.next, 14U);
  EXPECT_EQ(all.size, 14U);
  // The last 8 bytes are "o\nthree\n": the cut line is dropped.
  LogChunk tail = read(std::nullopt, 8);
  EXPECT_EQ(tail.text, "three\n");
  EXPECT_EQ(tail.offset, 8U);
  EXPECT_EQ(tail.next, 14U);
  // Starting right after a newline keeps the first line.
  EXPECT_EQ(read(std::nullopt, 10).text, "two\nthree\n");
  EXPECT_FALSE(tail.reset);
}

TEST_F(LogTailTest, FromAnOffsetOnlyWhatCameAfterIt) {
  append("one\ntwo\n");
  LogChunk first = read(std::nullopt, 1024);
  append("three\nfour\n");
  LogChunk next = read(LogCursor{first.next, first.file}, 1024);
  EXPECT_EQ(next.text, "three\nfour\n");
  EXPECT_EQ(next.offset, 8U);
  EXPECT_EQ(next.next, 19U);
  EXPECT_FALSE(next.reset);
  LogChunk none = read(LogCursor{next.next, next.file}, 1024);
  EXPECT_EQ(none.text, "");
  EXPECT_EQ(none.next, next.next);
  // A limit smaller than what is new: whole lines, the rest next time.
  append("five\nsix\n");
  LogChunk part = read(LogCursor{next.next, ""}, 7);
  EXPECT_EQ(part.text, "five\n");
  EXPECT_EQ(read(LogCursor{part.next, ""}, 7).text, "six\n");
}

TEST_F(LogTailTest, ALineLongerThanTheLimitComesInPieces) {
  append(std::string(10, 'x') + "\n");
  LogChunk a = read(LogCursor{0, ""}, 4);
  EXPECT_EQ(a.text, "xxxx");
  LogChunk b = read(LogCursor{a.next, a.file}, 100);
  EXPECT_EQ(b.text, "xxxxxx\n");
}

TEST_F(LogTailTest, ARotatedOrTruncatedFileStartsAgainFromItsTail) {
  append("old line one\nold line two\n");
  LogChunk before = read(std::nullopt, 1024);
  // Rotation by rename, as LogFile does, and a new, shorter file.
  fs::rename(path_, path_ + ".1");
  append("new\n");
  LogChunk after = read(LogCursor{before.next, before.file}, 1024);
  EXPECT_TRUE(after.reset);
  EXPECT_EQ(after.text, "new\n");
  EXPECT_EQ(after.offset, 0U);
  // A new file that has already grown past the old offset is told apart by its identity.
  append(std::string(40, 'y') + "\n");
  LogChunk grown = read(LogCursor{before.next, before.file}, 1024);
  EXPECT_TRUE(grown.reset);
  EXPECT_EQ(grown.offset, 0U);
  // Without an identity, only shrinking shows.
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  append("x\n");
  LogChunk shrunk = read(LogCursor{grown.next, ""}, 1024);
  EXPECT_TRUE(shrunk.reset);
  EXPECT_EQ(shrunk.text, "x\n");
}

TEST_F(LogTailTest, AMissingFileIsAnEmptyLog) {
  LogChunk none = read(std::nullopt, 1024);
  EXPECT_EQ(none.size, 0U);
  EXPECT_EQ(none.text, "");
  EXPECT_FALSE(none.reset);
  EXPECT_TRUE(read(LogCursor{5, ""}, 1024).reset);
}

TEST_F(LogTailTest, TheJsonIsValidUtf8WhateverTheBytes) {
  append("caf\xc3\xa9 \xff\xfe \"quoted\"\n");
  std::string text = log_chunk_json(read(std::nullopt, 1024));
  auto v = boost::json::parse(text);
  EXPECT_EQ(v.at("text").as_string(), "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \"quoted\"\n");
  EXPECT_EQ(v.at("offset").as_int64(), 0);
  EXPECT_FALSE(v.as_object().contains("reset"));
}

}  // namespace
}  // namespace tender::pod

#include "sidecar/checkpoint.hpp"

#include "core/sqlite.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>

namespace tender::sidecar {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("checkpoint_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "tail.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  Checkpoint open() {
    auto cp = Checkpoint::open(path_);
    EXPECT_TRUE(cp) << cp.error().message();
    return std::move(*cp);
  }
  fs::path dir_;
  std::string path_;
};

FileRow row(const std::string& key) {
  return {.key = key,
          .dev = 0xFFFF'FFFF'FFFF'FFF0ULL,  // past INT64_MAX: stored as its bits
          .ino = 42,
          .fp = {.len = 7, .hash = 0x8000'0000'0000'0001ULL},
          .path = "/var/log/app.log",
          .input = "default",
          .offsets = {{"s", 0}}};
}

TEST_F(CheckpointTest, WhatIsAppliedIsThereAfterReopening) {
  {
    Checkpoint cp = open();
    ASSERT_TRUE(
        cp.apply({FileOp::upsert(row("00000000000000aa")), FileOp::input_started("default")}));
    ASSERT_TRUE(cp.apply({FileOp::set_offset("00000000000000aa", "s", 128),
                          FileOp::set_offset("00000000000000aa", "t", 64)}));
  }
  Checkpoint cp = open();
  auto rows = cp.load();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1U);
  const FileRow& r = rows->front();
  EXPECT_EQ(r.key, "00000000000000aa");
  EXPECT_EQ(r.dev, 0xFFFF'FFFF'FFFF'FFF0ULL);
  EXPECT_EQ(r.ino, 42U);
  EXPECT_EQ(r.fp, (Fingerprint{.len = 7, .hash = 0x8000'0000'0000'0001ULL}));
  EXPECT_EQ(r.path, "/var/log/app.log");
  EXPECT_EQ(r.offsets, (std::map<std::string, std::uint64_t>{{"s", 128}, {"t", 64}}));
  EXPECT_EQ(*cp.started_inputs(), std::vector<std::string>{"default"});
}

TEST_F(CheckpointTest, AnUpsertChangesTheFileButKeepsOffsetsItDoesNotName) {
  Checkpoint cp = open();
  ASSERT_TRUE(cp.apply({FileOp::upsert(row("k1")), FileOp::set_offset("k1", "s", 10)}));
  FileRow moved = row("k1");
  moved.path = "/var/log/app.log.1";
  moved.offsets.clear();
  ASSERT_TRUE(cp.apply({FileOp::upsert(moved)}));
  auto rows = cp.load();
  ASSERT_EQ(rows->size(), 1U);
  EXPECT_EQ(rows->front().path, "/var/log/app.log.1");
  EXPECT_EQ(rows->front().offsets.at("s"), 10U);
}

TEST_F(CheckpointTest, ARemovedFileLeavesNothing) {
  Checkpoint cp = open();
  ASSERT_TRUE(cp.apply({FileOp::upsert(row("k1")), FileOp::upsert(row("k2"))}));
  ASSERT_TRUE(cp.apply({FileOp::remove("k1")}));
  auto rows = cp.load();
  ASSERT_EQ(rows->size(), 1U);
  EXPECT_EQ(rows->front().key, "k2");
}

TEST_F(CheckpointTest, SubmitCallsDoneOnceDurable) {
  Checkpoint cp = open();
  std::promise<Result<>> done;
  ASSERT_TRUE(cp.submit({FileOp::upsert(row("k1"))}, [&](Result<> r) { done.set_value(r); }));
  EXPECT_TRUE(done.get_future().get());
  auto other = sqlite::Database::open(path_);  // another connection sees the commit
  ASSERT_TRUE(other);
  auto count = other->prepare("SELECT COUNT(*) FROM tail_files");
  ASSERT_TRUE(count && count->step() && count->column_int64(0) == 1);
}

TEST_F(CheckpointTest, AMissingDirectoryOrANonDatabaseFailsNamingTheFile) {
  auto missing = Checkpoint::open((dir_ / "nope" / "tail.db").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("nope/tail.db"), std::string::npos)
      << missing.error().message();
  std::FILE* f = std::fopen(path_.c_str(), "w");
  std::fputs("this is not a database, it is a log line that is long enough\n", f);
  std::fclose(f);
  auto junk = Checkpoint::open(path_);
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message().find(path_), std::string::npos) << junk.error().message();
}

TEST_F(CheckpointTest, OneCheckpointServesOneShipperAtATime) {
  Checkpoint first = open();
  auto second = Checkpoint::open(path_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("in use by another tender tail"), std::string::npos)
      << second.error().message();
}

TEST(FileKey, KeysAreSixteenHexDigitsAndDiffer) {
  std::string a = new_file_key();
  std::string b = new_file_key();
  EXPECT_EQ(a.size(), 16U);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(Fingerprint, HashesTheBytes) {
  EXPECT_EQ(fingerprint_hash(""), 14695981039346656037ULL);  // FNV-1a's offset basis
  EXPECT_NE(fingerprint_hash("n=1\n"), fingerprint_hash("n=2\n"));
}

}  // namespace
}  // namespace tender::sidecar

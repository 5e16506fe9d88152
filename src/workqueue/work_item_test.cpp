#include "workqueue/work_item.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tender::workqueue {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ItemFiles, APrivateDirectoryWithThePayloadRemovedAfter) {
  std::string dir;
  {
    auto files = ItemFiles::create(std::string("pay\0load", 8));
    ASSERT_TRUE(files) << files.error().message();
    dir = files->dir();
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(read(files->item_file()), std::string("pay\0load", 8));
    EXPECT_EQ(fs::path(files->output_file()).parent_path(), fs::path(dir));
    std::ofstream(files->output_file()) << "left behind";
    fs::create_directory(dir + "/sub");
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST(ItemFiles, TheOutputFileIfWrittenBoundedByMax) {
  auto files = ItemFiles::create("x");
  ASSERT_TRUE(files);
  auto none = files->read_output(100);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  std::ofstream(files->output_file()) << "0123456789";
  auto all = files->read_output(100);
  ASSERT_TRUE(all && *all);
  EXPECT_EQ((*all)->bytes, "0123456789");
  EXPECT_FALSE((*all)->truncated);
  auto cut = files->read_output(4);
  ASSERT_TRUE(cut && *cut);
  EXPECT_EQ((*cut)->bytes, "0123");
  EXPECT_TRUE((*cut)->truncated);
}

TEST(ItemFiles, AnOutputThatCannotBeReadIsAnError) {
  auto files = ItemFiles::create("x");
  ASSERT_TRUE(files);
  fs::create_directory(files->output_file());
  auto r = files->read_output(100);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(files->output_file()), std::string::npos);
}

TEST(ItemFiles, AParentThatDoesNotExistIsAnErrorNamingIt) {
  auto files = ItemFiles::create("x", "/nonexistent/dir");
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message().find("/nonexistent/dir"), std::string::npos);
}

TEST(ItemFiles, MovedFilesAreRemovedOnce) {
  auto files = ItemFiles::create("x");
  ASSERT_TRUE(files);
  const std::string dir = files->dir();
  ItemFiles moved = std::move(*files);
  EXPECT_TRUE(fs::exists(moved.item_file()));
  EXPECT_EQ(moved.dir(), dir);
}

TEST(FindProgram, LooksInPathOrTakesAPathAsItIs) {
  auto sh = find_program("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(sh) << sh.error().message();
  EXPECT_EQ(*sh, "/bin/sh");
  auto direct = find_program("/bin/sh", "");
  ASSERT_TRUE(direct);
  EXPECT_EQ(*direct, "/bin/sh");
  auto missing = find_program("no-such-program-here", "/bin:/usr/bin");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), std::errc::no_such_file_or_directory);
  EXPECT_NE(missing.error().message().find("no-such-program-here"), std::string::npos);
  EXPECT_NE(missing.error().message().find("/bin:/usr/bin"), std::string::npos);
  // A directory or a file that cannot be run is not a program.
  EXPECT_FALSE(find_program("/tmp", ""));
  auto files = ItemFiles::create("not a program");
  ASSERT_TRUE(files);
  EXPECT_FALSE(find_program(files->item_file(), ""));
}

TEST(ItemEnvironment, OursReplaceInheritedOnes) {
  const char* base[] = {"PATH=/bin", "TENDER_ITEM_ID=99", "TENDER_QUEUE_X=kept", "HOME=/h",
                        nullptr};
  auto env = item_environment(base, {.id = 7,
                                     .attempt = 2,
                                     .queue = "images",
                                     .item_file = "/t/item",
                                     .output_file = "/t/output"});
  EXPECT_EQ(env,
            (std::vector<std::string>{"PATH=/bin", "TENDER_QUEUE_X=kept", "HOME=/h",
                                      "TENDER_ITEM_ID=7", "TENDER_ATTEMPT=2", "TENDER_QUEUE=images",
                                      "TENDER_ITEM_FILE=/t/item", "TENDER_OUTPUT_FILE=/t/output"}));
}

TEST(Verdict, ExitCodesAndTimeouts) {
  EXPECT_EQ(verdict(true, 0, false, std::nullopt), Verdict::kAck);
  EXPECT_EQ(verdict(true, 1, false, std::nullopt), Verdict::kNack);
  EXPECT_EQ(verdict(true, 42, false, 42), Verdict::kBury);
  EXPECT_EQ(verdict(true, 43, false, 42), Verdict::kNack);
  EXPECT_EQ(verdict(false, 137, false, 137), Verdict::kNack);  // killed by a signal
  EXPECT_EQ(verdict(true, 0, true, std::nullopt), Verdict::kNack);
}

TEST(FailureText, WhatThenTheTailOfStderr) {
  EXPECT_EQ(failure_text("exited 3", "", false), "exited 3");
  EXPECT_EQ(failure_text("exited 3", "no such file\n", false), "exited 3: no such file");
  EXPECT_EQ(failure_text("timed out after 1s", "working\n", true),
            "timed out after 1s: ...working");
  const std::string big = std::string(10000, 'a') + "the end";
  const std::string text = failure_text("exited 1", big, false);
  EXPECT_EQ(text.size(), std::string("exited 1: ...").size() + kErrorTailBytes);
  EXPECT_TRUE(text.ends_with("the end"));
}

}  // namespace
}  // namespace tender::workqueue

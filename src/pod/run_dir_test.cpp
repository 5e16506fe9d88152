// Where a runner keeps its logs and volumes (pod/run_dir.hpp).
#include "pod/run_dir.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace tender::pod {
namespace {

namespace fs = std::filesystem;

// A fresh $TMPDIR for one test, put back and removed at its end.
class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/run-dir-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    const char* old = std::getenv("TMPDIR");
    old_ = old != nullptr ? old : "";
    ::setenv("TMPDIR", tmp_.c_str(), 1);
  }
  void TearDown() override {
    if (old_.empty()) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", old_.c_str(), 1);
    }
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  static void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  int entries() const {
    int n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp_)) {
      ++n;
    }
    return n;
  }

  std::string tmp_;
  std::string old_;
};

TEST_F(RunDirTest, TheDefaultIsNamedForTheAdminPortAndTheNextRunTakesItOver) {
  std::string log;
  {
    RunDir d = RunDir::claim("", 9900);
    EXPECT_EQ(d.path(), tmp_ + "/tender-pod-9900");
    EXPECT_FALSE(d.temporary());
    EXPECT_TRUE(fs::is_directory(d.path() + "/pods"));
    EXPECT_EQ(fs::status(d.path()).permissions() & fs::perms::all, fs::perms::owner_all);
    log = d.path() + "/pods/web/logs/app.log";
    write(log, "the last run's line\n");
    d.release();
  }
  EXPECT_TRUE(fs::exists(log));  // to read after the runner has exited
  RunDir next = RunDir::claim("", 9900);
  EXPECT_EQ(next.path(), tmp_ + "/tender-pod-9900");
  EXPECT_FALSE(fs::exists(log));  // replaced by this run's
  EXPECT_TRUE(fs::is_directory(next.path() + "/pods"));
  next.release();
  EXPECT_EQ(entries(), 1);  // one directory per admin port, not per run
}

TEST_F(RunDirTest, WithoutAPortANewDirectoryIsRemovedAtACleanExit) {
  RunDir d = RunDir::claim("", 0);
  EXPECT_TRUE(d.temporary());
  EXPECT_EQ(d.path().rfind(tmp_ + "/tender-pod-", 0), 0U) << d.path();
  write(d.path() + "/pods/web/logs/app.log", "x\n");
  d.release();
  EXPECT_FALSE(fs::exists(d.path()));
  EXPECT_EQ(entries(), 0);
}

TEST_F(RunDirTest, AGivenDirectoryIsMadeAndKept) {
  std::string given = tmp_ + "/mine/run";
  RunDir d = RunDir::claim(given, 9900);
  EXPECT_EQ(d.path(), given);
  EXPECT_FALSE(d.temporary());
  write(given + "/pods/web/logs/app.log", "x\n");
  d.release();
  EXPECT_TRUE(fs::exists(given + "/pods/web/logs/app.log"));
  RunDir again = RunDir::claim(given, 9900);
  EXPECT_TRUE(fs::exists(given + "/pods/web/logs/app.log"));  // the user's to clear
  EXPECT_FALSE(fs::exists(tmp_ + "/tender-pod-9900"));
}

TEST_F(RunDirTest, OneRunnerAtATime) {
  RunDir first = RunDir::claim("", 9900);
  try {
    (void)RunDir::claim("", 9900);
    ADD_FAILURE() << "a second runner took the run directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is in use by another tender pod run"), std::string::npos)
        << e.what();
  }
  first.release();
  RunDir second = RunDir::claim("", 9900);  // free once the first has gone
  second.release();
}

TEST_F(RunDirTest, ALinkInPlaceOfTheDefaultIsRefused) {
  fs::create_directories(tmp_ + "/elsewhere");
  fs::create_directory_symlink(tmp_ + "/elsewhere", tmp_ + "/tender-pod-9900");
  try {
    (void)RunDir::claim("", 9900);
    ADD_FAILURE() << "a symbolic link was taken for the run directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a directory of this user"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::is_empty(tmp_ + "/elsewhere"));
}

TEST_F(RunDirTest, TheLeftoversOfARunnerThatDidNotExitCleanlyAreRemoved) {
  std::string given = tmp_ + "/run";
  {
    RunDir crashed = RunDir::claim(given, 0);  // not released: as if killed
    write(given + "/pods/web/volumes/cache/data", "x");
    write(given + "/pods/web/logs/app.log", "what it said before it died\n");
    write(given + "/hosts", "10.217.0.2 web\n");
  }
  RunDir d = RunDir::claim(given, 0);
  EXPECT_FALSE(fs::exists(given + "/pods/web/volumes"));
  EXPECT_FALSE(fs::exists(given + "/hosts"));
  EXPECT_TRUE(fs::exists(given + "/pods/web/logs/app.log"));
  d.release();
}

}  // namespace
}  // namespace tender::pod

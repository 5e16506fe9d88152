#include "core/temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace tender {
namespace {

namespace fs = std::filesystem;

// Sets TMPDIR for one test and puts it back.
class TmpdirSet {
 public:
  explicit TmpdirSet(const char* value) {
    if (const char* old = std::getenv("TMPDIR")) {
      old_ = old;
    }
    if (value == nullptr) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", value, 1);
    }
  }
  ~TmpdirSet() {
    if (old_) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  TmpdirSet(const TmpdirSet&) = delete;
  TmpdirSet& operator=(const TmpdirSet&) = delete;

 private:
  std::optional<std::string> old_;
};

TEST(TempDir, TheBaseIsTmpdirOrTmp) {
  {
    TmpdirSet set("/var/tmp");
    EXPECT_EQ(temp_base(), "/var/tmp");
  }
  {
    TmpdirSet set("");
    EXPECT_EQ(temp_base(), "/tmp");
  }
  TmpdirSet set(nullptr);
  EXPECT_EQ(temp_base(), "/tmp");
}

TEST(TempDir, APrivateNewDirectoryUnderTheParentOrTheBase) {
  auto parent = make_temp_dir("tender-temp-test.");
  ASSERT_TRUE(parent) << parent.error().message();
  TmpdirSet set(parent->c_str());
  auto a = make_temp_dir("run-");
  auto b = make_temp_dir("run-");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(fs::path(*a).parent_path(), fs::path(*parent));
  EXPECT_EQ(fs::path(*a).filename().string().rfind("run-", 0), 0U) << *a;
  struct stat st {};
  ASSERT_EQ(::stat(a->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  auto given = make_temp_dir("x.", *a);
  ASSERT_TRUE(given);
  EXPECT_EQ(fs::path(*given).parent_path(), fs::path(*a));
  auto missing = make_temp_dir("x.", *parent + "/nothing");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("cannot create a directory in " + *parent + "/nothing"),
            std::string::npos)
      << missing.error().message();
  fs::remove_all(*parent);
}

}  // namespace
}  // namespace tender

#include "core/file_watch.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/file_snapshot.hpp"

namespace tender {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using K = FileEventKind;

// ---- diff_snapshots: the logic both inotify and the rescan go through ----

FileState file(std::uint64_t ino, std::uint64_t size, std::int64_t mtime = 1) {
  return FileState{1, ino, size, mtime};
}

// "kind path" or "renamed from>path": short to compare.
std::vector<std::string> brief(const std::vector<FileEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    std::string s(to_string(e.kind));
    s += " " + (e.from.empty() ? "" : e.from + ">") + e.path;
    out.push_back(s);
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(DiffSnapshots, NothingChangedNothingReported) {
  Snapshot s = {{"/d/a", file(1, 10)}, {"/d/b", file(2, 0)}};
  EXPECT_TRUE(diff_snapshots(s, s).empty());
  EXPECT_TRUE(diff_snapshots({}, {}).empty());
}

TEST(DiffSnapshots, CreatedGrownTruncatedDeleted) {
  Snapshot before = {{"/d/grow", file(1, 10)}, {"/d/cut", file(2, 100)}, {"/d/gone", file(3, 5)}};
  Snapshot after = {{"/d/grow", file(1, 20)}, {"/d/cut", file(2, 4)}, {"/d/new", file(4, 1)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)),
            (Lines{"truncated /d/cut", "modified /d/grow", "deleted /d/gone", "created /d/new"}));
  auto events = diff_snapshots(before, after);
  EXPECT_EQ(events.back().id, (FileId{1, 4}));
  EXPECT_EQ(events.back().size, 1u);
}

TEST(DiffSnapshots, SameSizeWithANewMtimeIsModified) {
  Snapshot before = {{"/d/a", file(1, 10, 100)}};
  Snapshot after = {{"/d/a", file(1, 10, 200)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)), (Lines{"modified /d/a"}));
}

TEST(DiffSnapshots, RotationIsRenameThenTheOldTailThenTheNewFile) {
  // app.log grew to 1000 bytes, was renamed app.log.1, and a new app.log got 40 bytes.
  Snapshot before = {{"/d/app.log", file(10, 900)}};
  Snapshot after = {{"/d/app.log.1", file(10, 1000)}, {"/d/app.log", file(11, 40)}};
  auto events = diff_snapshots(before, after);
  EXPECT_EQ(brief(events), (Lines{"renamed /d/app.log>/d/app.log.1", "modified /d/app.log.1",
                                  "replaced /d/app.log"}));
  EXPECT_EQ(events[0].id, (FileId{1, 10}));
  EXPECT_EQ(events[2].id, (FileId{1, 11}));
}

TEST(DiffSnapshots, RotationByCopyTruncateIsTruncatedSameInode) {
  Snapshot before = {{"/d/app.log", file(10, 900)}};
  Snapshot after = {{"/d/app.log", file(10, 0)}, {"/d/app.log.1", file(12, 900)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)),
            (Lines{"truncated /d/app.log", "created /d/app.log.1"}));
}

TEST(DiffSnapshots, AtomicUpdateFromAnUnwatchedTempIsReplaced) {
  Snapshot before = {{"/d/endpoints", file(1, 30)}};
  Snapshot after = {{"/d/endpoints", file(2, 31)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)), (Lines{"replaced /d/endpoints"}));
}

TEST(DiffSnapshots, RenameOverAWatchedNameReportsTheRenameOnly) {
  // Both the temp and the target are watched: the target's old file is not "deleted" as well.
  Snapshot before = {{"/d/endpoints", file(1, 30)}, {"/d/endpoints.new", file(2, 31)}};
  Snapshot after = {{"/d/endpoints", file(2, 31)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)), (Lines{"renamed /d/endpoints.new>/d/endpoints"}));
}

TEST(DiffSnapshots, DeletedAndRecreatedIsReplaced) {
  Snapshot before = {{"/d/a", file(1, 30)}};
  Snapshot after = {{"/d/a", file(5, 0)}};
  EXPECT_EQ(brief(diff_snapshots(before, after)), (Lines{"replaced /d/a"}));
}

TEST(DiffSnapshots, SameInodeOnAnotherDeviceIsAnotherFile) {
  Snapshot before = {{"/d/a", FileState{1, 7, 10, 1}}};
  Snapshot after = {{"/d/a", FileState{2, 7, 10, 1}}};
  EXPECT_EQ(brief(diff_snapshots(before, after)), (Lines{"replaced /d/a"}));
}

// ---- FileWatch on a real directory ----

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tender-watch-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}
void overwrite(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc | std::ios::binary) << text;
}

class FileWatchTest : public ::testing::Test {
 protected:
  FileWatch make() {
    auto w = FileWatch::create({.rescan_interval = seconds(2), .clock = &clock_});
    EXPECT_TRUE(w) << w.error().message();
    return std::move(*w);
  }
  // The events that are ready now. inotify queues an event within the system call that makes
  // the change, so what was done before this call is there to read.
  static Lines ready(FileWatch& w) {
    auto events = w.read_events();
    EXPECT_TRUE(events) << events.error().message();
    return events ? brief(*events) : Lines{};
  }
  Lines strip(Lines lines) const {  // drop the temp dir's name
    for (auto& l : lines) {
      for (auto at = l.find(dir_.path() + "/"); at != std::string::npos;
           at = l.find(dir_.path() + "/")) {
        l.erase(at, dir_.path().size() + 1);
      }
    }
    return lines;
  }

  FakeClock clock_;
  TempDir dir_;
};

TEST_F(FileWatchTest, CreateAppendTruncateDelete) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path(), "*.log"));
  append(dir_ / "a.log", "one\n");
  EXPECT_EQ(strip(ready(w)), (Lines{"created a.log"}));
  append(dir_ / "a.log", "two\n");
  EXPECT_EQ(strip(ready(w)), (Lines{"modified a.log"}));
  overwrite(dir_ / "a.log", "");  // `> a.log`
  EXPECT_EQ(strip(ready(w)), (Lines{"truncated a.log"}));
  fs::remove(dir_ / "a.log");
  EXPECT_EQ(strip(ready(w)), (Lines{"deleted a.log"}));
  EXPECT_TRUE(ready(w).empty());
}

TEST_F(FileWatchTest, EventsCarryTheFilesIdentity) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path()));
  append(dir_ / "a", "12345");
  auto events = w.read_events();
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "a").c_str(), &st), 0);
  EXPECT_EQ((*events)[0].id, (FileId{st.st_dev, st.st_ino}));
  EXPECT_EQ((*events)[0].size, 5u);
  EXPECT_EQ((*events)[0].path, dir_ / "a");
}

TEST_F(FileWatchTest, FilesPresentAtAddAreTheStartingPoint) {
  append(dir_ / "old.log", "x");
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path(), "*.log"));
  EXPECT_TRUE(ready(w).empty());
  EXPECT_TRUE(w.rescan().empty());
  EXPECT_EQ(w.snapshot().size(), 1u);
  EXPECT_TRUE(w.snapshot().contains(dir_ / "old.log"));
}

TEST_F(FileWatchTest, RenameWithinTheDirectoryAndAway) {
  TempDir elsewhere;
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path()));
  append(dir_ / "a", "x");
  EXPECT_EQ(strip(ready(w)), (Lines{"created a"}));
  fs::rename(dir_ / "a", dir_ / "b");
  EXPECT_EQ(strip(ready(w)), (Lines{"renamed a>b"}));
  fs::rename(dir_ / "b", elsewhere / "b");  // out of what is watched
  EXPECT_EQ(strip(ready(w)), (Lines{"deleted b"}));
}

TEST_F(FileWatchTest, RenameAcrossTwoWatchedDirectories) {
  TempDir other;
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path()));
  ASSERT_TRUE(w.add(other.path()));
  append(dir_ / "a", "x");
  ASSERT_EQ(ready(w).size(), 1u);
  fs::rename(dir_ / "a", other / "a");
  EXPECT_EQ(ready(w), (Lines{"renamed " + (dir_ / "a") + ">" + (other / "a")}));
}

TEST_F(FileWatchTest, LogRotationByRenameAndCreate) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path(), "app.log*"));
  append(dir_ / "app.log", "1\n");
  ASSERT_EQ(strip(ready(w)), (Lines{"created app.log"}));
  append(dir_ / "app.log", "2\n");
  fs::rename(dir_ / "app.log", dir_ / "app.log.1");
  append(dir_ / "app.log", "3\n");
  EXPECT_EQ(strip(ready(w)),
            (Lines{"renamed app.log>app.log.1", "modified app.log.1", "replaced app.log"}));
}

TEST_F(FileWatchTest, ReplaceByRenameOfOneWatchedFile) {
  // An atomic config update: write a temp file, rename it over the watched one.
  append(dir_ / "endpoints", "a\n");
  FileWatch w = make();
  ASSERT_TRUE(w.add_file(dir_ / "endpoints"));
  append(dir_ / ".endpoints.tmp", "a\nb\n");
  EXPECT_TRUE(ready(w).empty()) << "the temp file is not watched";
  fs::rename(dir_ / ".endpoints.tmp", dir_ / "endpoints");
  EXPECT_EQ(strip(ready(w)), (Lines{"replaced endpoints"}));
  EXPECT_EQ(w.snapshot().at(dir_ / "endpoints").size, 4u);
}

TEST_F(FileWatchTest, AddFileTakesTheNameLiterally) {
  FileWatch w = make();
  ASSERT_TRUE(w.add_file(dir_ / "a[1]*"));
  append(dir_ / "a1", "x");
  append(dir_ / "a[1]*", "x");
  EXPECT_EQ(strip(ready(w)), (Lines{"created a[1]*"}));
}

TEST_F(FileWatchTest, GlobsFilterByFileNameAndSkipHiddenFilesAndDirectories) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path(), "*.log"));
  ASSERT_TRUE(w.add(dir_.path(), "*.txt"));
  append(dir_ / "a.log", "x");
  append(dir_ / "b.txt", "x");
  append(dir_ / "c.json", "x");
  append(dir_ / ".hidden.log", "x");
  fs::create_directory(dir_ / "sub.log");
  EXPECT_EQ(strip(ready(w)), (Lines{"created a.log", "created b.txt"}));
  append(dir_ / "c.json", "more");
  EXPECT_TRUE(ready(w).empty());
}

TEST_F(FileWatchTest, AChangeIsReportedOnceWhoeverSeesItFirst) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path()));
  append(dir_ / "a", "x");
  // The rescan sees it first; the inotify event still queued then finds nothing new.
  EXPECT_EQ(strip(brief(w.rescan())), (Lines{"created a"}));
  EXPECT_TRUE(ready(w).empty());
  // inotify first; the rescan then finds nothing new.
  append(dir_ / "a", "y");
  EXPECT_EQ(strip(ready(w)), (Lines{"modified a"}));
  EXPECT_TRUE(w.rescan().empty());
}

TEST_F(FileWatchTest, RescanFindsADirectoryCreatedAfterAdd) {
  // inotify cannot watch what does not exist: the rescan adds the watch when it appears.
  FileWatch w = make();
  std::string later = dir_ / "later";
  ASSERT_TRUE(w.add(later, "*.log"));
  fs::create_directory(later);
  append(later + "/a.log", "x");
  EXPECT_TRUE(ready(w).empty());
  EXPECT_EQ(w.until_rescan(), seconds(2));
  clock_.advance(seconds(2));
  EXPECT_EQ(w.until_rescan(), milliseconds(0));
  auto events = w.wait(milliseconds(0));  // the rescan is due: wait does it
  ASSERT_TRUE(events);
  EXPECT_EQ(strip(brief(*events)), (Lines{"created later/a.log"}));
  EXPECT_EQ(w.next_rescan(), clock_.now() + seconds(2));
  // Now watched: no rescan needed.
  append(later + "/a.log", "y");
  EXPECT_EQ(strip(ready(w)), (Lines{"modified later/a.log"}));
  // Deleted with its files, and found again when it comes back.
  fs::remove_all(later);
  EXPECT_EQ(strip(ready(w)), (Lines{"deleted later/a.log"}));
  fs::create_directory(later);
  append(later + "/b.log", "x");
  EXPECT_TRUE(ready(w).empty());
  EXPECT_EQ(strip(brief(w.rescan())), (Lines{"created later/b.log"}));
  append(later + "/b.log", "y");
  EXPECT_EQ(strip(ready(w)), (Lines{"modified later/b.log"}));
}

TEST_F(FileWatchTest, ADirectoryReplacedBeforeTheEventsAreReadIsWatchedAgainAtOnce) {
  std::string sub = dir_ / "sub";
  fs::create_directory(sub);
  append(sub + "/a.log", "x");
  FileWatch w = make();
  ASSERT_TRUE(w.add(sub, "*.log"));
  fs::rename(sub, dir_ / "old-sub");
  fs::create_directory(sub);
  EXPECT_EQ(strip(ready(w)), (Lines{"deleted sub/a.log"}));
  append(sub + "/b.log", "x");
  EXPECT_EQ(strip(ready(w)), (Lines{"created sub/b.log"})) << "without waiting for a rescan";
}

TEST_F(FileWatchTest, WaitReturnsTheFirstEventsOrNothingAtTheTimeout) {
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path()));
  auto none = w.wait(milliseconds(1));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  append(dir_ / "a", "x");
  auto some = w.wait(seconds(30));
  ASSERT_TRUE(some);
  EXPECT_EQ(strip(brief(*some)), (Lines{"created a"}));
}

TEST_F(FileWatchTest, QueueOverflowIsAnsweredByARescan) {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  long limit = 0;
  if (!(limit_file >> limit) || limit > 100000) {
    GTEST_SKIP() << "inotify queue limit unknown or too large to overflow here: " << limit;
  }
  FileWatch w = make();
  ASSERT_TRUE(w.add(dir_.path(), "*.log"));
  append(dir_ / "kept.log", "x");
  ASSERT_EQ(ready(w).size(), 1u);
  // Changes made while nobody reads, more than the queue holds: most events are lost.
  for (long i = 0; i <= limit; ++i) {
    int fd = ::open((dir_ / ("noise-" + std::to_string(i))).c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  append(dir_ / "new.log", "x");
  fs::remove(dir_ / "kept.log");
  EXPECT_EQ(strip(ready(w)), (Lines{"deleted kept.log", "created new.log"}));
  EXPECT_EQ(w.overflows(), 1u);
}

TEST_F(FileWatchTest, BadArgumentsAndUnwatchableDirectoriesFail) {
  auto bad = FileWatch::create({.rescan_interval = milliseconds(0)});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), std::errc::invalid_argument);
  FileWatch w = make();
  auto empty = w.add(dir_.path(), "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), std::errc::invalid_argument);
  EXPECT_FALSE(w.add(dir_.path(), "a/b"));
  EXPECT_FALSE(w.add("", "*"));
  append(dir_ / "plain", "x");
  auto not_dir = w.add(dir_ / "plain", "*");
  ASSERT_FALSE(not_dir);
  EXPECT_EQ(not_dir.error().code(), std::errc::not_a_directory) << not_dir.error().message();
  EXPECT_TRUE(w.snapshot().empty());
}

}  // namespace
}  // namespace tender

namespace tender {
namespace {

TEST(SplitPath, GivesTheDirectoryAndTheNameAddFileWatches) {
  EXPECT_EQ(split_path("/var/log/app.log"),
            (std::pair<std::string, std::string>{"/var/log", "app.log"}));
  EXPECT_EQ(split_path("/app.log"), (std::pair<std::string, std::string>{"/", "app.log"}));
  EXPECT_EQ(split_path("app.log"), (std::pair<std::string, std::string>{".", "app.log"}));
}

TEST(GlobMatches, MatchesNamesAsTheWatchDoes) {
  EXPECT_TRUE(glob_matches("*.log", "app.log"));
  EXPECT_FALSE(glob_matches("*.log", "app.log.1"));
  EXPECT_FALSE(glob_matches("*", ".hidden"));  // FNM_PERIOD: "*" does not match a leading dot
  EXPECT_TRUE(glob_matches("app.log*", "app.log.1"));
}

}  // namespace
}  // namespace tender

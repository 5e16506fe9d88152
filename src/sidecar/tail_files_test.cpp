#include "sidecar/tail_files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/file_watch.hpp"

namespace tender::sidecar {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TailFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tail_files_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "logs");
    configure("*.log");
  }
  void TearDown() override {
    files_.reset();
    checkpoint_.reset();
    fs::remove_all(dir_);
  }

  void configure(const std::string& pattern, bool from_end = false) {
    cfg_ = TailConfig{};
    cfg_.checkpoint = (dir_ / "tail.db").string();
    SinkConfig sink;
    sink.name = "s";
    cfg_.sinks.push_back(sink);
    Input in;
    in.name = "default";
    in.paths.push_back({.text = (dir_ / "logs" / pattern).string(),
                        .dir = (dir_ / "logs").string(),
                        .pattern = pattern});
    in.from_end = from_end;
    in.sinks = {0};
    cfg_.inputs.push_back(in);
    cfg_.rotate_wait = 1s;
  }

  // (Re)starts: a fresh TailFiles over the checkpoint, as a restarted process would be.
  void start() {
    files_.reset();
    checkpoint_.reset();
    auto cp = Checkpoint::open(cfg_.checkpoint);
    ASSERT_TRUE(cp) << cp.error().message();
    checkpoint_.emplace(std::move(*cp));
    auto w = FileWatch::create({.rescan_interval = 1h});
    ASSERT_TRUE(w);
    watch_.emplace(std::move(*w));
    ASSERT_TRUE(watch_->add(cfg_.inputs[0].paths[0].dir, cfg_.inputs[0].paths[0].pattern));
    files_ = std::make_unique<TailFiles>(cfg_, *checkpoint_, clock_);
    files_->recover(watch_->snapshot());
  }
  void reconcile() {
    (void)watch_->rescan();
    files_->reconcile(watch_->snapshot());
  }
  // Reads everything readable now; acknowledges and commits the first `ack` records (all when
  // negative).
  std::vector<Record> drain(long ack = -1) {
    std::vector<Record> out;
    for (;;) {
      std::vector<Record> batch;
      files_->read(0, 1000, 1 << 20, batch);
      if (batch.empty()) {
        break;
      }
      out.insert(out.end(), batch.begin(), batch.end());
    }
    std::size_t n =
        ack < 0 ? out.size() : std::min<std::size_t>(out.size(), static_cast<std::size_t>(ack));
    if (n > 0) {
      auto ops = files_->acknowledged(0, std::span<const Record>(out.data(), n));
      EXPECT_TRUE(checkpoint_->apply(ops));
      files_->committed(0, ops);
    }
    return out;
  }
  std::string path(const std::string& name) const { return (dir_ / "logs" / name).string(); }
  void append(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::app) << text;
  }
  static std::vector<std::string> texts(const std::vector<Record>& rs) {
    std::vector<std::string> out;
    for (const Record& r : rs) {
      out.push_back(r.text);
    }
    return out;
  }

  fs::path dir_;
  TailConfig cfg_;
  FakeClock clock_;
  std::optional<Checkpoint> checkpoint_;
  std::optional<FileWatch> watch_;
  std::unique_ptr<TailFiles> files_;
};

using Texts = std::vector<std::string>;

TEST_F(TailFilesTest, FollowsFilesFromTheirStartWithExactOffsets) {
  append("a.log", "one\ntwo\n");
  start();
  auto rs = drain();
  ASSERT_EQ(texts(rs), (Texts{"one", "two"}));
  EXPECT_EQ(rs[0].offset, 0U);
  EXPECT_EQ(rs[1].offset, 4U);
  EXPECT_EQ(rs[1].end, 8U);
  EXPECT_EQ(rs[0].source->key.size(), 16U);
  EXPECT_EQ(rs[0].source->path, path("a.log"));
  append("a.log", "three\n");
  EXPECT_EQ(texts(drain()), (Texts{"three"}));
}

TEST_F(TailFilesTest, AFileRenamedAwayIsReadToItsEndAndLetGoAfterRotateWait) {
  append("a.log", "one\n");
  start();
  auto first = drain();
  ::rename(path("a.log").c_str(), path("a.log.1").c_str());
  append("a.log.1", "late\n");  // the writer had not reopened yet
  append("a.log", "new\n");
  reconcile();
  auto rs = drain();
  ASSERT_EQ(texts(rs), (Texts{"late", "new"}));
  EXPECT_EQ(rs[0].source->key, first[0].source->key);
  EXPECT_NE(rs[1].source->key, first[0].source->key);
  EXPECT_EQ(files_->size(), 2U);
  clock_.advance(999ms);
  (void)drain();
  EXPECT_EQ(files_->size(), 2U) << "let go before rotate_wait";
  clock_.advance(1ms);
  (void)drain();
  EXPECT_EQ(files_->size(), 1U);
  EXPECT_EQ(files_->counters().rotations, 1U);
  EXPECT_EQ(files_->counters().files_released, 1U);
}

TEST_F(TailFilesTest, ALastLineWithoutNewlineGoesOutWhenTheRotatedFileIsLetGo) {
  append("a.log", "one\npartial");
  start();
  EXPECT_EQ(texts(drain()), (Texts{"one"}));
  ::unlink(path("a.log").c_str());
  reconcile();
  clock_.advance(1s);
  EXPECT_EQ(texts(drain()), (Texts{"partial"}));
  EXPECT_EQ(files_->size(), 0U);
}

TEST_F(TailFilesTest, ALastLineCutWhenItsFileIsLetGoIsCounted) {
  cfg_.inputs[0].records.max_record_bytes = 4;
  append("a.log", "0123456789");
  start();
  EXPECT_TRUE(drain().empty());
  ::unlink(path("a.log").c_str());
  reconcile();
  clock_.advance(1s);
  auto rs = drain();
  ASSERT_EQ(texts(rs), (Texts{"0123"}));
  EXPECT_TRUE(rs[0].cut);
  EXPECT_EQ(files_->counters().cut_records, 1U);
  EXPECT_EQ(files_->counters().cut_bytes, 6U);
}

TEST_F(TailFilesTest, CopytruncateContinuesFromTheCopyUnderTheSameKey) {
  append("a.log", "one\n");
  start();
  auto first = drain();
  append("a.log", "two\n");  // written, not read yet
  fs::copy_file(path("a.log"), path("a.log.1"));
  ::truncate(path("a.log").c_str(), 0);
  append("a.log", "three-after-truncation\n");  // grew past the old size: only the
                                                // fingerprint tells
  reconcile();
  auto rs = drain();
  ASSERT_EQ(texts(rs), (Texts{"two", "three-after-truncation"}));
  EXPECT_EQ(rs[0].source->key, first[0].source->key);
  EXPECT_EQ(rs[0].offset, 4U);
  EXPECT_EQ(rs[0].source->path, path("a.log.1"));
  EXPECT_NE(rs[1].source->key, first[0].source->key);
  EXPECT_EQ(rs[1].offset, 0U);
  EXPECT_EQ(files_->counters().copies_followed, 1U);
  EXPECT_EQ(files_->counters().lost_bytes, 0U);
}

TEST_F(TailFilesTest, AFileTruncatedThenRenamedAwayWhileTheSinkLaggedLosesNeitherContent) {
  append("a.log", "b1\n");
  start();  // nothing read yet: the sink is down
  fs::copy_file(path("a.log"), path("a.log.2"));
  ::truncate(path("a.log").c_str(), 0);
  append("a.log", "b2-longer-than-before\n");
  reconcile();
  ::rename(path("a.log").c_str(), path("a.log.3").c_str());
  append("a.log", "d1\n");
  reconcile();
  auto rs = drain();
  std::sort(rs.begin(), rs.end(), [](const Record& a, const Record& b) { return a.text < b.text; });
  ASSERT_EQ(texts(rs), (Texts{"b1", "b2-longer-than-before", "d1"}));
  EXPECT_EQ(rs[0].source->path, path("a.log.2"));
  EXPECT_NE(rs[0].source->key, rs[1].source->key);
  EXPECT_EQ(files_->counters().lost_bytes, 0U);
  clock_.advance(1s);
  (void)drain();
  EXPECT_EQ(files_->size(), 1U) << "only the live a.log is left";
}

TEST_F(TailFilesTest, ATruncationWithNoCopyCountsWhatWasUnreadAsLost) {
  append("a.log", "one\n");
  start();
  (void)drain();
  append("a.log", "unread\n");
  reconcile();  // seen by the watch, not read
  ::truncate(path("a.log").c_str(), 0);
  append("a.log", "x\n");
  reconcile();
  EXPECT_EQ(texts(drain()), (Texts{"x"}));
  EXPECT_EQ(files_->counters().lost_bytes, 7U);
}

TEST_F(TailFilesTest, ACopyUnderAWatchedNameIsNotShippedTwice) {
  configure("a.log*");
  append("a.log", "one\n");
  start();
  (void)drain();
  append("a.log", "two\n");
  fs::copy_file(path("a.log"), path("a.log.1"));
  reconcile();  // the copy is seen before the truncation: held back
  EXPECT_EQ(texts(drain()), (Texts{"two"}));
  ::truncate(path("a.log").c_str(), 0);
  append("a.log", "three\n");
  reconcile();
  EXPECT_EQ(texts(drain()), (Texts{"three"}));
  clock_.advance(5s);
  reconcile();
  EXPECT_TRUE(drain().empty()) << "the copy was shipped again as a file of its own";
}

TEST_F(TailFilesTest, AFileWithTheSameFirstBytesThatIsNoCopyIsShippedAfterRotateWait) {
  configure("*.log");
  append("a.log", "banner\n");
  start();
  (void)drain();
  append("b.log", "banner\nb\n");
  reconcile();
  EXPECT_TRUE(drain().empty());
  ASSERT_TRUE(files_->next_due().has_value());
  EXPECT_EQ(*files_->next_due(), clock_.now() + 1s);
  clock_.advance(1s);  // no file event: the wait alone ends it
  EXPECT_EQ(texts(drain()), (Texts{"banner", "b"}));
}

TEST_F(TailFilesTest, ARestartResumesAtTheLastCommittedRecord) {
  append("a.log", "one\ntwo\nthree\n");
  start();
  auto rs = drain(1);  // "two" and "three" were read, not acknowledged
  start();
  auto again = drain();
  ASSERT_EQ(texts(again), (Texts{"two", "three"}));
  EXPECT_EQ(again[0].source->key, rs[0].source->key);
  EXPECT_EQ(again[0].offset, rs[1].offset);
}

TEST_F(TailFilesTest, ARestartFindsAFileRenamedWhileItWasDown) {
  append("a.log", "one\n");
  start();
  auto rs = drain();
  files_.reset();
  append("a.log", "two\n");
  ::rename(path("a.log").c_str(), path("a.log.1").c_str());
  append("a.log", "three\n");
  start();
  auto again = drain();
  std::sort(again.begin(), again.end(),
            [](const Record& a, const Record& b) { return a.text > b.text; });  // two, three
  ASSERT_EQ(texts(again), (Texts{"two", "three"}));
  EXPECT_EQ(again[0].source->key, rs[0].source->key);
  EXPECT_EQ(again[0].offset, 4U);
}

TEST_F(TailFilesTest, ARestartFindsTheCopyOfAFileTruncatedWhileItWasDown) {
  append("a.log", "one\n");
  start();
  auto rs = drain();
  files_.reset();
  append("a.log", "two\n");
  fs::copy_file(path("a.log"), path("a.log-20261206"));
  ::truncate(path("a.log").c_str(), 0);
  append("a.log", "three\n");
  start();
  auto again = drain();
  std::sort(again.begin(), again.end(),
            [](const Record& a, const Record& b) { return a.text > b.text; });  // two, three
  ASSERT_EQ(texts(again), (Texts{"two", "three"}));
  EXPECT_EQ(again[0].source->key, rs[0].source->key);
  EXPECT_EQ(files_->counters().files_gone, 0U);
}

TEST_F(TailFilesTest, ARestartCountsAFileThatIsGoneForGood) {
  append("a.log", "one\n");
  start();
  (void)drain(0);
  files_.reset();
  ::unlink(path("a.log").c_str());
  start();
  EXPECT_EQ(files_->counters().files_gone, 1U);
  EXPECT_EQ(files_->size(), 0U);
}

TEST_F(TailFilesTest, ReadingFromTheTailSkipsWhatWasThereAtTheFirstStartOnly) {
  configure("*.log", /*from_end=*/true);
  append("a.log", "old\n");
  start();
  append("a.log", "new\n");
  EXPECT_EQ(texts(drain()), (Texts{"new"}));
  files_.reset();
  append("b.log", "while-down\n");
  start();
  EXPECT_EQ(texts(drain()), (Texts{"while-down"}));
}

TEST_F(TailFilesTest, DeletedFilesHeldPastTheLimitAreLetGoAndCounted) {
  cfg_.max_held_bytes = 10;
  append("a.log", "0123456789abcdef\n");
  start();
  ::unlink(path("a.log").c_str());
  reconcile();
  EXPECT_EQ(files_->size(), 0U);
  EXPECT_EQ(files_->counters().dropped_bytes, 17U);
}

TEST_F(TailFilesTest, StatusShowsOffsetsAndLag) {
  append("a.log", "one\ntwo\n");
  start();
  (void)drain(1);
  auto status = files_->status();
  ASSERT_EQ(status.size(), 1U);
  const auto& sink = status[0].at("sinks").at("s").as_object();
  EXPECT_EQ(sink.at("read").to_number<std::int64_t>(), 8);
  EXPECT_EQ(sink.at("committed").to_number<std::int64_t>(), 4);
  EXPECT_EQ(sink.at("lag_bytes").to_number<std::int64_t>(), 4);
  EXPECT_EQ(files_->lag_by_origin().at(path("a.log")), 4U);
}

TEST_F(TailFilesTest, StatusSaysWhenAFileLastGrew) {
  append("a.log", "one\n");
  start();
  (void)drain();
  auto grew_at = [&] { return std::string(files_->status()[0].at("grew_at").as_string()); };
  EXPECT_EQ(grew_at(), "2024-01-01T00:00:00Z");  // found then
  clock_.advance(90s);
  append("a.log", "two\n");
  (void)drain();
  EXPECT_EQ(grew_at(), "2024-01-01T00:01:30Z");
  clock_.advance(10s);
  (void)drain();  // nothing new: it did not grow
  EXPECT_EQ(grew_at(), "2024-01-01T00:01:30Z");
}

}  // namespace
}  // namespace tender::sidecar

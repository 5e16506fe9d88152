#include "core/file_watch_asio.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/clock.hpp"

namespace tender {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tender-watch-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string path;
};

TEST(AsyncFileWatch, DeliversInotifyEventsAndRescansOnTheLoop) {
  TempDir dir;
  FakeClock clock;
  auto watch =
      FileWatch::create({.rescan_interval = std::chrono::milliseconds(50), .clock = &clock});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->add(dir.path, "*.log"));
  ASSERT_TRUE(watch->add(dir.path + "/later", "*.log"));  // found by a rescan only

  boost::asio::io_context ioc;
  std::vector<FileEvent> seen;
  AsyncFileWatch async(ioc, *watch, [&](const std::vector<FileEvent>& events) {
    seen.insert(seen.end(), events.begin(), events.end());
    if (seen.size() == 1) {
      // Then something only a rescan finds: a directory that appeared after add.
      fs::create_directory(dir.path + "/later");
      std::ofstream(dir.path + "/later/b.log") << "x";
      clock.advance(std::chrono::milliseconds(50));
    } else {
      ioc.stop();
    }
  });
  boost::asio::post(ioc, [&] { std::ofstream(dir.path + "/a.log") << "x"; });
  ioc.run_for(std::chrono::seconds(30));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, FileEventKind::kCreated);
  EXPECT_EQ(seen[0].path, dir.path + "/a.log");
  EXPECT_EQ(seen[1].kind, FileEventKind::kCreated);
  EXPECT_EQ(seen[1].path, dir.path + "/later/b.log");
}

TEST(AsyncFileWatch, NoCallbackAfterStop) {
  TempDir dir;
  auto watch = FileWatch::create();
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->add(dir.path));
  boost::asio::io_context ioc;
  int calls = 0;
  AsyncFileWatch async(ioc, *watch, [&](const std::vector<FileEvent>&) { ++calls; });
  async.stop();
  std::ofstream(dir.path + "/a") << "x";
  ioc.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(watch->read_events()->size(), 1u) << "the FileWatch itself still works";
}

}  // namespace
}  // namespace tender

#include "adapter/log_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tender::adapter {
namespace {

struct Collect final : InputSink {
  std::string got;
  int ends = 0;
  void data(std::string_view bytes) override { got += bytes; }
  void end() override {
    ++ends;
    got += "|";
  }
};

struct Dir {
  std::string path;
  Dir() {
    std::string t = std::filesystem::temp_directory_path() / "log_io_test.XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~Dir() { std::filesystem::remove_all(path); }
};

void append(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

// Pumps until it says there is no more.
void pump_all(LogInput& in, Collect& c) {
  std::string buffer(7, '\0');  // small: reads take several turns
  for (int i = 0; i < 1000 && in.pump(buffer, c); ++i) {
  }
}

TEST(LogInput, AFileIsFollowedThroughRotationAndTruncation) {
  Dir d;
  const std::string log = d.path + "/app.log";
  append(log, "old\n");
  FakeClock clock;
  auto in = LogInput::open(log, /*read_from_head=*/false, clock);
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ((*in)->kind(), LogInput::Kind::kFile);
  EXPECT_EQ((*in)->poll_fd(), -1);
  Collect c;
  pump_all(**in, c);
  EXPECT_EQ(c.got, "");  // read_from tail: what was there is skipped
  append(log, "one\ntwo\n");
  pump_all(**in, c);
  EXPECT_EQ(c.got, "one\ntwo\n");
  append(log, "three\n");
  std::filesystem::rename(log, log + ".1");
  append(log, "four\n");
  pump_all(**in, c);
  EXPECT_EQ(c.got, "one\ntwo\nthree\n");  // the old file's rest; the writer may come back to it
  clock.advance(LogInput::kRotateWait / 2);
  append(log + ".1", "late\n");  // it does: the wait starts again
  pump_all(**in, c);
  clock.advance(LogInput::kRotateWait / 2);
  pump_all(**in, c);
  EXPECT_EQ(c.got, "one\ntwo\nthree\nlate\n");
  clock.advance(LogInput::kRotateWait);
  pump_all(**in, c);
  EXPECT_EQ(c.got, "one\ntwo\nthree\nlate\n|four\n");  // quiet long enough: its end, the new one
  { std::ofstream(log, std::ios::trunc) << "x\n"; }
  pump_all(**in, c);
  EXPECT_EQ(c.got, "one\ntwo\nthree\nlate\n|four\n|x\n");  // truncation: no wait
}

TEST(LogInput, AFileThatAppearsLaterIsReadFromItsStart) {
  Dir d;
  const std::string log = d.path + "/late.log";
  auto in = LogInput::open(log, false);
  ASSERT_TRUE(in);
  Collect c;
  pump_all(**in, c);
  EXPECT_EQ(c.got, "");
  append(log, "first\n");
  pump_all(**in, c);
  EXPECT_EQ(c.got, "first\n");
}

TEST(LogInput, AFifoIsReopenedForItsNextWriter) {
  Dir d;
  const std::string fifo = d.path + "/f";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto in = LogInput::open(fifo, false);
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ((*in)->kind(), LogInput::Kind::kFifo);
  Collect c;
  std::string buffer(64, '\0');
  for (const char* text : {"a\nb", "c\n"}) {
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    ASSERT_GE(w, 0);
    ASSERT_EQ(::write(w, text, std::strlen(text)), static_cast<ssize_t>(std::strlen(text)));
    ::close(w);
    (void)(*in)->pump(buffer, c);  // the bytes
    (void)(*in)->pump(buffer, c);  // the writer has gone: the end, and a reopen
    EXPECT_GE((*in)->poll_fd(), 0);
  }
  EXPECT_EQ(c.got, "a\nb|c\n|");
  EXPECT_FALSE((*in)->ended());
}

TEST(LogInput, WhatIsNeitherFileNorFifoIsRefused) {
  Dir d;
  auto in = LogInput::open(d.path, false);
  ASSERT_FALSE(in);
  EXPECT_NE(in.error().message().find("neither a regular file nor a FIFO"), std::string::npos);
}

TEST(LogOutput, AppendsWholeLinesAndBreaksWhenTheReaderGoes) {
  Dir d;
  const std::string path = d.path + "/out.jsonl";
  append(path, "before\n");
  auto out = LogOutput::open(path);
  ASSERT_TRUE(out) << out.error().message();
  (*out)->pending() += "{\"a\":1}\n";
  ASSERT_TRUE((*out)->flush());
  EXPECT_TRUE((*out)->idle());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "before\n{\"a\":1}\n");

  const std::string fifo = d.path + "/pipe";
  std::signal(SIGPIPE, SIG_IGN);  // as run_role does: a reader gone is EPIPE, not a death
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(LogOutput::open(fifo));  // no reader: refused at once, not a hang
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  auto piped = LogOutput::open(fifo);
  ASSERT_TRUE(piped);
  ::close(reader);
  (*piped)->pending() += "x\n";
  auto r = (*piped)->flush();
  ASSERT_FALSE(r);
  EXPECT_TRUE((*piped)->broken());
  EXPECT_TRUE((*piped)->idle());
}

}  // namespace
}  // namespace tender::adapter

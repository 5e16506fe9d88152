#pragma once
// The log adapter's inputs and outputs: plain POSIX descriptors, driven by the adapter's own
// thread with poll(2) (logs.cpp). No Asio here.
//
//   auto in = LogInput::open("/var/log/app.log", /*read_from_head=*/false);   // Result
//   auto more = in->pump(buffer, sink);   // reads what is there now: sink.data(...), sink.end()
//   auto out = LogOutput::open("-");      // stdout; or a file path, appended
//   out->pending() += json_line;  (void)out->flush();
//
// Inputs:
// - "-": stdin, read as a stream; its end is the end (ended() turns true).
// - a FIFO: opened non-blocking; when every writer has closed it, the stream's last line is
//   handed on (sink.end()) and the FIFO is opened again (before the old descriptor is closed,
//   so a writer that comes meanwhile never meets a FIFO without a reader) to wait for the
//   next writer. Never ends.
// - a file (or a path with nothing yet): followed by name, as `tail -F` does. At start, an
//   existing file is read from its end (or from its start with read_from_head); a file that
//   appears later, or replaces the one read (rotation by rename, a new inode under the name),
//   is read from its start, once the old one has had nothing new for kRotateWait (a writer
//   appends to the old file until it reopens by name); a file that shrinks
//   (truncation) is read again from its start. pump() notices these itself whenever it
//   reaches the end of what it reads, so a FileWatch only has to say when to look.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"

namespace tender::adapter {

// Where read bytes go.
class InputSink {
 public:
  virtual ~InputSink() = default;
  virtual void data(std::string_view bytes) = 0;
  // The end of one stream (a FIFO's writer left, a file was replaced or truncated, stdin
  // ended): a last line without a newline is a line.
  virtual void end() = 0;
};

class LogInput {
 public:
  enum class Kind { kStdin, kFifo, kFile };

  // Opens `path` ("-": stdin). Fails (EINVAL) for a path that exists but is neither a regular
  // file nor a FIFO, and with open(2)'s errno for one that cannot be opened (EACCES).
  // `clock` (which must outlive the input) times the wait after a rotation.
  [[nodiscard]] static Result<std::unique_ptr<LogInput>> open(const std::string& path,
                                                              bool read_from_head,
                                                              const Clock& clock = system_clock());

  // After a file is replaced under its name, the old one is read until it has had nothing new
  // for this long (the writer may not have reopened yet), then the new one.
  static constexpr std::chrono::milliseconds kRotateWait{1000};
  ~LogInput();
  LogInput(const LogInput&) = delete;
  LogInput& operator=(const LogInput&) = delete;

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  // The descriptor to poll for reading (stdin, a FIFO), or -1 (a file: it is pumped when its
  // FileWatch says, and while pump() says there is more).
  [[nodiscard]] int poll_fd() const;
  // Reads once into `buffer` (its size is the most read), handing what it read to `sink`.
  // True if there may be more to read at once (a file not at its end). Failures to read are
  // logged and treated as the end of the stream (stdin then ends; a FIFO is reopened).
  bool pump(std::string& buffer, InputSink& sink);
  // stdin only: its end was reached.
  [[nodiscard]] bool ended() const { return ended_; }
  // Bytes read so far.
  [[nodiscard]] std::uint64_t bytes_read() const { return bytes_; }

 private:
  LogInput() = default;
  bool pump_stream(std::string& buffer, InputSink& sink);
  bool pump_file(std::string& buffer, InputSink& sink);
  // (Re)opens the FIFO; the old descriptor is closed after the new one is open.
  void reopen_fifo();
  // A file: opens `path_` if it is there and is not the file open now.
  bool open_file();

  Kind kind_ = Kind::kStdin;
  std::string path_;
  Fd fd_;
  bool ended_ = false;
  std::uint64_t bytes_ = 0;
  // A file: what is open, and where reading is.
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::uint64_t offset_ = 0;
  const Clock* clock_ = nullptr;
  // When the name was first seen holding another file, while the old one is still read.
  std::optional<std::chrono::steady_clock::time_point> replaced_seen_;
};

class LogOutput {
 public:
  // Opens `path` ("-": stdout, see stdout_data_fd) for appending (O_APPEND, created 0644).
  // Fails with open(2)'s errno.
  [[nodiscard]] static Result<std::unique_ptr<LogOutput>> open(const std::string& path);
  ~LogOutput();
  LogOutput(const LogOutput&) = delete;
  LogOutput& operator=(const LogOutput&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  // Whole lines waiting to be written; append to it.
  [[nodiscard]] std::string& pending() { return pending_; }
  // Whether more may be appended (the writer keeps up): inputs feeding this output are read
  // only while it has room, so a slow reader of stdout holds back the inputs, not memory.
  [[nodiscard]] bool has_room() const { return pending_.size() < kMaxPending; }
  [[nodiscard]] bool idle() const { return pending_.empty() || broken_; }
  // The descriptor to poll for writing while flush() left bytes (a pipe that is full), or -1.
  [[nodiscard]] int poll_fd() const;
  // Writes what is pending, as much as the descriptor takes now. Fails with write(2)'s errno;
  // EPIPE (no reader any more) and EBADF break the output for good: what is pending and
  // later lines are dropped (dropped() counts their bytes). Other failures (ENOSPC) keep the
  // bytes for the next try.
  [[nodiscard]] Result<> flush();
  [[nodiscard]] bool broken() const { return broken_; }

  static constexpr std::size_t kMaxPending = std::size_t{1} << 20;

 private:
  LogOutput() = default;
  std::string path_;
  int fd_ = -1;
  Fd owned_;  // a file's descriptor (stdout's is shared and never closed)
  bool nonblocking_ = false;
  bool blocked_ = false;  // the last flush met EAGAIN
  bool broken_ = false;
  std::string pending_;
  std::size_t written_ = 0;  // of pending_, already written
};

// The descriptor the log adapter writes "-" to. The first call moves the process's stdout
// out of everyone else's way: fd 1 is duplicated for the adapter, and fd 1 then points at
// stderr, so stdout carries the JSON lines only (the `listening` line and anything else
// printed to stdout go to stderr). When stdout is a pipe, the adapter's copy is opened anew
// non-blocking (through /proc/self/fd), so that a reader who stops reading cannot block the
// adapter's stop. Later calls return the same descriptor. Thread-safe.
[[nodiscard]] int stdout_data_fd(bool* nonblocking);

}  // namespace tender::adapter

#pragma once
// Container logs: a size-rotated file per container, and the prefixed live view on stdout.
//
//   LogFile log;
//   log.open("/run/pods/web-0/logs/app.log", 10 << 20, 3);   // app.log, app.log.1 ... .3
//   log.write("listening on :8080");                          // one line, newline added
//   LogView view;                                             // colour when stdout is a tty
//   view.write("web-0", "app", "listening on :8080");         // "web-0/app | listening ..."

#include <cstdint>
#include <string>
#include <string_view>

namespace tender::pod {

class LogFile {
 public:
  LogFile() = default;
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Opens (appends to) `path`. Returns false and logs a warning if it cannot.
  bool open(std::string path, std::uint64_t max_bytes, int keep);
  // Appends `line` and a newline, rotating first when the file would pass max_bytes.
  void write(std::string_view line);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  void rotate();
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t max_bytes_ = 0;
  int keep_ = 0;
};

class LogView {
 public:
  LogView();
  void set_enabled(bool on) { enabled_ = on; }
  // Writes "pod/container | line". Never blocks when stdout is a pipe or file: lines that do
  // not fit are dropped (and counted) rather than stalling the supervisor.
  void write(std::string_view pod, std::string_view container, std::string_view line);
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

 private:
  bool enabled_ = true;
  bool color_ = false;
  std::uint64_t dropped_ = 0;
};

}  // namespace tender::pod

#pragma once
// Cutting a byte stream into lines with a bound on what is held: a line longer than
// `max_line_bytes` is handed on cut (its first max_line_bytes bytes, flagged) as soon as it
// is that long, and the rest of it, up to its newline, is skipped. So a 1 GB line without a
// newline costs at most max_line_bytes. No I/O.
//
//   LineSplitter lines(64 << 10);
//   lines.feed(chunk, [&](std::string_view line, bool cut) { ... });  // each complete line
//   lines.finish(on_line);   // at the end of the stream: a last line without '\n' is a line
//
// A line ending in "\r\n" is handed on without the '\r'.
#include <cstddef>
#include <string>
#include <string_view>

namespace tender::adapter {

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Calls `on_line(line, cut)` for every line `data` completes, in order. The view is valid
  // during the call only.
  template <typename OnLine>
  void feed(std::string_view data, OnLine&& on_line) {
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      const bool ended = nl != std::string_view::npos;
      const std::string_view seg = data.substr(0, ended ? nl : data.size());
      data.remove_prefix(ended ? nl + 1 : data.size());
      if (skipping_) {
        skipping_ = !ended;
        continue;
      }
      if (partial_.size() + seg.size() > max_) {
        if (partial_.empty()) {
          on_line(seg.substr(0, max_), true);
        } else {
          partial_.append(seg.substr(0, max_ - partial_.size()));
          on_line(std::string_view(partial_), true);
          partial_.clear();
        }
        skipping_ = !ended;
        continue;
      }
      if (!ended) {
        partial_.append(seg);
      } else if (partial_.empty()) {
        on_line(chomp(seg), false);
      } else {
        partial_.append(seg);
        on_line(chomp(partial_), false);
        partial_.clear();
      }
    }
  }

  // The end of the stream: a partial last line is handed on as a line; the splitter starts
  // afresh (the next stream of a FIFO, a new file after rotation).
  template <typename OnLine>
  void finish(OnLine&& on_line) {
    if (!partial_.empty()) {
      on_line(chomp(partial_), false);
      partial_.clear();
    }
    skipping_ = false;
  }

  // Bytes held of a line not complete yet (at most max_line_bytes).
  [[nodiscard]] std::size_t held() const { return partial_.size(); }

 private:
  static std::string_view chomp(std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    return line;
  }

  std::size_t max_;
  std::string partial_;
  bool skipping_ = false;  // in the rest of a cut line, up to its newline
};

}  // namespace tender::adapter

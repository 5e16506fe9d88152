#pragma once
// For tests: what the logger writes while a LogCapture lives, in the text format.
//
//   LogCapture logs;
//   load_manifests({path});
//   EXPECT_EQ(logs.count("unknown configuration field ignored"), 1U);

#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"

namespace tender {

class LogCapture {
 public:
  LogCapture() : saved_(log::settings()), file_(std::tmpfile()) {
    log::Settings s = saved_;
    s.format = log::Format::kText;
    s.fd = fileno(file_);
    log::configure(s);
  }
  ~LogCapture() {
    log::configure(saved_);
    std::fclose(file_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Everything written so far.
  [[nodiscard]] std::string text() const {
    std::string all;
    char buf[4096];
    ssize_t n = 0;
    off_t at = 0;
    while ((n = ::pread(fileno(file_), buf, sizeof buf, at)) > 0) {
      all.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return all;
  }
  // The lines written so far, without their newlines.
  [[nodiscard]] std::vector<std::string> lines() const {
    std::vector<std::string> out;
    const std::string all = text();
    std::size_t start = 0;
    while (start < all.size()) {
      auto nl = all.find('\n', start);
      out.push_back(all.substr(start, nl - start));
      start = nl == std::string::npos ? all.size() : nl + 1;
    }
    return out;
  }
  // How many times `needle` occurs in what was written.
  [[nodiscard]] std::size_t count(std::string_view needle) const {
    std::size_t n = 0;
    const std::string all = text();
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }

 private:
  log::Settings saved_;
  std::FILE* file_;
};

}  // namespace tender

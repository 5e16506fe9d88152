// The sinks: stdout, a file with size rotation, HTTP (JSON lines POST) and Loki's push API.
// Each runs on the tail's one thread; a write is one coroutine, never two at a time.
#include "sidecar/sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "core/asio_util.hpp"
#include "core/file_watch.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"
#include "core/units.hpp"
#include "sidecar/sink_internal.hpp"

namespace tender::sidecar {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// What every sink counts for /statusz, and how it reports a failure.
class SinkBase : public Sink {
 public:
  explicit SinkBase(SinkConfig config) : config_(std::move(config)) {}
  [[nodiscard]] const SinkConfig& config() const override { return config_; }
  [[nodiscard]] json::object status() const override {
    json::object o;
    o["name"] = config_.name;
    o["batches"] = batches_;
    o["records"] = records_;
    o["bytes"] = bytes_;
    o["errors"] = errors_;
    o["last_error"] = last_error_;
    add_status(o);
    return o;
  }

 protected:
  virtual void add_status(json::object& /*o*/) const {}

  // `e` with the sink's name before it, counted and kept as the last error.
  Error failed(const Error& e) {
    ++errors_;
    Error named = e.with_context("sink " + config_.name);
    last_error_ = named.message();
    return named;
  }
  void delivered(std::size_t records, std::size_t bytes) {
    ++batches_;
    records_ += records;
    bytes_ += bytes;
  }
  // `batch` in the sink's format into buf_; with `ends`, where each record's line ends.
  void encode(std::span<const Record> batch, std::vector<std::size_t>* ends = nullptr) {
    buf_.clear();
    std::size_t text = 0;
    for (const auto& r : batch) {
      text += r.text.size();
    }
    buf_.reserve(text + batch.size() * (config_.format == RecordFormat::kJson ? 160 : 1));
    if (ends != nullptr) {
      ends->clear();
      ends->reserve(batch.size());
    }
    for (const auto& r : batch) {
      encode_record(r, config_.format, buf_);
      if (ends != nullptr) {
        ends->push_back(buf_.size());
      }
    }
  }

  SinkConfig config_;
  std::string buf_;  // the batch being written, kept to reuse its memory

 private:
  std::uint64_t batches_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t errors_ = 0;
  std::string last_error_;
};

// stdout, or any descriptor: written with write(2) as it is (blocking or not); when it is
// non-blocking and full, the write waits until it can go on.
class FdSink final : public SinkBase {
 public:
  FdSink(const SinkConfig& config, asio::any_io_executor executor, int fd)
      : SinkBase(config), executor_(std::move(executor)), fd_(fd) {}

  asio::awaitable<Result<>> write(std::span<const Record> batch) override {
    encode(batch);
    std::size_t pos = 0;
    while (pos < buf_.size()) {
      ssize_t n = ::write(fd_, buf_.data() + pos, buf_.size() - pos);
      if (n >= 0) {
        pos += static_cast<std::size_t>(n);
        continue;
      }
      int err = errno;
      if (err == EINTR) {
        continue;
      }
      if (err != EAGAIN && err != EWOULDBLOCK) {
        co_return failed(Error::from_errno(err, "write"));
      }
      if (!waiter_) {
        // A duplicate, so that the descriptor's flags and life stay the owner's.
        int dup = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
        if (dup < 0) {
          co_return failed(Error::from_errno(errno, "dup"));
        }
        waiter_.emplace(executor_, dup);
      }
      auto [ec] = co_await waiter_->async_wait(asio::posix::descriptor_base::wait_write, kTuple);
      if (ec) {
        co_return failed(Error(ec, "waiting to write: " + ec.message()));
      }
    }
    delivered(batch.size(), buf_.size());
    co_return Result<>{};
  }

 private:
  asio::any_io_executor executor_;
  int fd_;
  std::optional<asio::posix::stream_descriptor> waiter_;
};

// A file opened for appending, rotated by size: path -> path.1 -> ... -> path.keep_files.
class FileSink final : public SinkBase {
 public:
  explicit FileSink(const SinkConfig& config) : SinkBase(config) {
    if (auto opened = open(); !opened) {
      throw ConfigError("sink " + config_.name, 0, "", opened.error().message());
    }
  }
  ~FileSink() override {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  asio::awaitable<Result<>> write(std::span<const Record> batch) override {
    co_return write_now(batch);
  }

 private:
  Result<> write_now(std::span<const Record> batch) {
    if (fd_ >= 0 && moved_away()) {
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ < 0) {
      if (auto opened = open(); !opened) {
        return failed(opened.error());
      }
    }
    encode(batch, &ends_);
    std::size_t pos = 0;
    std::size_t next = 0;  // the first record not yet written
    while (pos < buf_.size()) {
      std::size_t until = buf_.size();
      if (config_.max_file_bytes > 0) {
        // As many whole records as fit in what is left of the file.
        std::uint64_t room = size_ < config_.max_file_bytes ? config_.max_file_bytes - size_ : 0;
        std::size_t k = next;
        while (k < ends_.size() && ends_[k] - pos <= room) {
          ++k;
        }
        if (k == next) {
          if (size_ > 0) {
            if (auto rotated = rotate(); !rotated) {
              return failed(rotated.error());
            }
            continue;
          }
          k = next + 1;  // a record larger than max_file_bytes: alone in a file of its own
        }
        until = ends_[k - 1];
        next = k;
      }
      if (auto written = append(pos, until); !written) {
        return failed(written.error());
      }
      pos = until;
    }
    if (config_.fsync && ::fdatasync(fd_) != 0) {
      return failed(Error::from_errno(errno, "fdatasync " + config_.path));
    }
    delivered(batch.size(), buf_.size());
    return {};
  }

  void add_status(json::object& o) const override {
    o["path"] = config_.path;
    o["file_bytes"] = size_;
    o["rotations"] = rotations_;
  }

  // Whether the path no longer names the open file (another program rotated or removed it):
  // then the sink opens the path anew rather than write where nobody looks.
  [[nodiscard]] bool moved_away() const {
    struct stat st {};
    return ::stat(config_.path.c_str(), &st) != 0 || st.st_ino != ino_ || st.st_dev != dev_;
  }

  Result<> open() {
    fd_ = ::open(config_.path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return Error::from_errno(errno, "cannot open " + config_.path + " for appending");
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      return Error::from_errno(err, "cannot stat " + config_.path);
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    // A write cut by a crash (SIGKILL between two write(2)s of a batch) left half a line: end
    // it, so the records written next (that batch again) start on a line of their own.
    char last = '\n';
    if (size_ > 0 && ::pread(fd_, &last, 1, static_cast<off_t>(size_ - 1)) == 1 && last != '\n') {
      log::warn("the file ended in the middle of a line (a write cut short): ending it",
                {{"path", config_.path}});
      if (::write(fd_, "\n", 1) == 1) {
        ++size_;
      }
    }
    return {};
  }

  // Writes buf_[from, to). A failure leaves no part of it in the file (it is cut back to where
  // it was), so the file never holds half a line.
  Result<> append(std::size_t from, std::size_t to) {
    std::size_t pos = from;
    while (pos < to) {
      ssize_t n = ::write(fd_, buf_.data() + pos, to - pos);
      if (n >= 0) {
        pos += static_cast<std::size_t>(n);
        continue;
      }
      int err = errno;
      if (err == EINTR) {
        continue;
      }
      if (pos > from) {
        (void)::ftruncate(fd_, static_cast<off_t>(size_));
      }
      return Error::from_errno(err, "cannot write " + config_.path);
    }
    size_ += to - from;
    return {};
  }

  // path.(N-1) -> path.N, ..., path -> path.1 (the oldest beyond keep_files is overwritten);
  // with keep_files 0 the file is removed. Then a new, empty path.
  Result<> rotate() {
    if (config_.fsync && ::fdatasync(fd_) != 0) {
      return Error::from_errno(errno, "fdatasync " + config_.path);
    }
    ::close(fd_);
    fd_ = -1;
    auto name = [&](int i) { return config_.path + "." + std::to_string(i); };
    if (config_.keep_files == 0) {
      if (::unlink(config_.path.c_str()) != 0 && errno != ENOENT) {
        return Error::from_errno(errno, "cannot remove " + config_.path);
      }
    } else {
      for (int i = config_.keep_files - 1; i >= 1; --i) {
        if (::rename(name(i).c_str(), name(i + 1).c_str()) != 0 && errno != ENOENT) {
          return Error::from_errno(errno, "cannot rename " + name(i) + " to " + name(i + 1));
        }
      }
      if (::rename(config_.path.c_str(), name(1).c_str()) != 0 && errno != ENOENT) {
        return Error::from_errno(errno, "cannot rename " + config_.path + " to " + name(1));
      }
    }
    ++rotations_;
    if (auto opened = open(); !opened) {
      return opened.error();
    }
    if (config_.fsync) {
      sync_directory();
    }
    return {};
  }

  // Makes the renames durable (best effort: a directory that cannot be opened is skipped).
  void sync_directory() const {
    std::string dir = split_path(config_.path).first;
    int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
      (void)::fsync(d);
      ::close(d);
    }
  }

  int fd_ = -1;
  std::uint64_t size_ = 0;  // the current file's size
  dev_t dev_ = 0;           // and its identity
  ino_t ino_ = 0;
  std::uint64_t rotations_ = 0;
  std::vector<std::size_t> ends_;
};

// The start of an error answer's body, on one line, for a message.
std::string body_start(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out(body.substr(0, kMax));
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) {
      c = ' ';
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  if (body.size() > kMax) {
    out += "...";
  }
  return out;
}

// POSTs each batch: JSON lines (or raw lines) for http, encode_loki's request for loki.
class HttpSink final : public SinkBase {
 public:
  HttpSink(const SinkConfig& config, const asio::any_io_executor& executor)
      : SinkBase(config), executor_(executor), client_(executor, options(config)) {}

  asio::awaitable<Result<>> write(std::span<const Record> batch) override {
    using asio::experimental::awaitable_operators::operator||;
    if (batch.empty()) {
      co_return Result<>{};  // nothing to deliver; no request
    }
    ClientRequest req;
    req.method = "POST";
    req.host = config_.host;
    req.port = config_.port;
    req.target = config_.target;
    req.timeout = config_.timeout;
    for (const auto& [k, v] : config_.headers) {
      req.headers.add(k, v);
    }
    if (config_.kind == SinkKind::kLoki) {
      req.body = encode_loki(batch, config_.labels);
      if (!req.headers.get("Content-Type")) {
        req.headers.set("Content-Type", "application/json");
      }
    } else {
      encode(batch);
      req.body = std::move(buf_);
      buf_.clear();
      if (!req.headers.get("Content-Type")) {
        req.headers.set("Content-Type", config_.format == RecordFormat::kJson
                                            ? "application/x-ndjson"
                                            : "text/plain; charset=utf-8");
      }
    }
    std::size_t bytes = req.body.size();
    // The query is left out: it may hold a token.
    std::string where = "POST http://" + config_.host + ":" + std::to_string(config_.port) +
                        config_.target.substr(0, config_.target.find('?'));
    // The timeout bounds the whole write, connecting included.
    asio::steady_timer timer(executor_, config_.timeout);
    auto raced = co_await (client_.request(std::move(req)) || timer.async_wait(kTuple));
    if (raced.index() == 1) {
      co_return failed(Error(std::errc::timed_out,
                             where + ": no answer within " + format_duration(config_.timeout)));
    }
    auto& res = std::get<0>(raced);
    if (!res) {
      co_return failed(Error(res.error(), where + ": " + res.error().message()));
    }
    if (res->status < 200 || res->status > 299) {
      std::string msg = where + ": HTTP " + std::to_string(res->status);
      if (auto start = body_start(res->body); !start.empty()) {
        msg += ": " + start;
      }
      co_return failed(Error(std::errc::io_error, msg));
    }
    delivered(batch.size(), bytes);
    co_return Result<>{};
  }

 private:
  static ClientOptions options(const SinkConfig& config) {
    ClientOptions o;
    o.connect_timeout = config.timeout;
    o.request_timeout = config.timeout;
    o.max_idle_per_host = 2;
    o.max_response_body_bytes = std::size_t{1} << 20;
    return o;
  }
  void add_status(json::object& o) const override {
    o["host"] = config_.host;
    o["port"] = config_.port;
  }

  asio::any_io_executor executor_;
  HttpClient client_;
};

}  // namespace

std::unique_ptr<Sink> make_fd_sink(const SinkConfig& config, const asio::any_io_executor& executor,
                                   int fd) {
  return std::make_unique<FdSink>(config, executor, fd);
}

std::unique_ptr<Sink> make_sink(const SinkConfig& config, const asio::any_io_executor& executor) {
  switch (config.kind) {
    case SinkKind::kStdout:
      return make_fd_sink(config, executor, STDOUT_FILENO);
    case SinkKind::kFile:
      return std::make_unique<FileSink>(config);
    case SinkKind::kHttp:
    case SinkKind::kLoki:
      return std::make_unique<HttpSink>(config, executor);
  }
  throw ConfigError("sink " + config.name, 0, "", "unknown kind of sink");
}

}  // namespace tender::sidecar

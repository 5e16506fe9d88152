// The log adapter (logs.hpp): every adapter of the `logs:` section runs on one thread of its
// own, which polls the inputs (stdin, FIFOs), a FileWatch for file inputs, and the outputs that
// are full, then reads, parses, formats and writes. The role's io thread (statsd at high rates,
// scrapes) never parses a log line, and a slow output holds back only the log inputs.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "adapter/log_format.hpp"
#include "adapter/log_io.hpp"
#include "adapter/log_lines.hpp"
#include "adapter/logs.hpp"
#include "core/file_watch.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

constexpr std::size_t kReadChunk = std::size_t{64} << 10;
// Reads of one input per loop turn, so that one busy input cannot starve the others.
constexpr int kReadsPerTurn = 16;

// One entry of `logs:` while it runs: its input, its lines, its output.
struct Adapter final : InputSink {
  Adapter(LogSettings s, LineFormatter f)
      : settings(std::move(s)), formatter(std::move(f)), splitter(settings.max_line_bytes) {}

  LogSettings settings;
  LineFormatter formatter;
  LineSplitter splitter;
  std::unique_ptr<LogInput> input;
  LogOutput* output = nullptr;
  const Clock* clock = nullptr;
  Counter* counted[3] = {nullptr, nullptr, nullptr};  // by LineResult
  std::atomic<std::uint64_t> lines[3] = {0, 0, 0};
  std::atomic<std::uint64_t> dropped{0};  // lines its broken output could not take
  bool more = false;                      // a file input: more to read at once
  LogTime read_at;

  void data(std::string_view bytes) override {
    read_at = log_time_from(clock->wall());
    splitter.feed(bytes, [this](std::string_view line, bool cut) { emit(line, cut); });
  }
  void end() override {
    read_at = log_time_from(clock->wall());
    splitter.finish([this](std::string_view line, bool cut) { emit(line, cut); });
  }
  void emit(std::string_view line, bool cut) {
    const LineResult r = formatter.format(line, cut, read_at, output->pending());
    const auto i = static_cast<std::size_t>(r);
    lines[i].fetch_add(1, std::memory_order_relaxed);
    counted[i]->inc();
    if (output->broken()) {
      output->pending().clear();
      dropped.fetch_add(1, std::memory_order_relaxed);
    }
  }
};

std::string_view kind_name(LogInput::Kind k) {
  switch (k) {
    case LogInput::Kind::kStdin:
      return "stdin";
    case LogInput::Kind::kFifo:
      return "fifo";
    case LogInput::Kind::kFile:
      return "file";
  }
  return "file";
}

class Adapters final : public LogAdapters {
 public:
  explicit Adapters(std::vector<LogSettings> settings) : settings_(std::move(settings)) {}
  ~Adapters() override { stop(); }

  std::size_t size() const override { return settings_.size(); }
  void start(const SourceContext& ctx) override;
  void drain() override {
    draining_ = true;
    wake();
  }
  bool drained() const override { return !started_ || drained_.load(); }
  void stop() override;
  bool finished() const override { return finished_.load(); }
  json::object status() const override;
  json::object config() const override {
    json::object o;
    for (const auto& s : settings_) {
      o[s.name] = s.to_json();
    }
    return o;
  }

 private:
  void wake() {
    if (wake_) {
      const std::uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
    }
  }
  // What a wait found ready to read.
  struct Ready {
    std::vector<Adapter*> streams;  // stdin, FIFOs
    bool watch = false;             // the FileWatch has events
  };
  void run();
  // One turn of the thread: wait for work, read, parse, write.
  void turn(std::string& buffer);
  // Polls what can be read or written (not inputs while draining or their output is full),
  // up to the next rescan of the FileWatch.
  Ready wait(bool draining);
  // Pumps the file inputs the watch (or a rescan, or the last pump) says may have more.
  void read_files(std::string& buffer, bool watch_readable);
  void flush_outputs();
  // Sets drained_ (draining and every output written) and finished_ (every input is stdin,
  // it has ended, and every output is written).
  void update_state(bool draining);

  std::vector<LogSettings> settings_;
  std::vector<std::unique_ptr<Adapter>> adapters_;
  std::map<std::string, std::unique_ptr<LogOutput>, std::less<>> outputs_;
  std::map<std::string, std::string, std::less<>> output_errors_;  // guarded by mu_
  std::optional<FileWatch> watch_;
  Fd wake_;
  std::thread thread_;
  bool started_ = false;
  bool partials_written_ = false;  // draining: the lines without '\n' yet are written
  std::atomic<bool> stop_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> drained_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex mu_;
};

void Adapters::start(const SourceContext& ctx) {
  if (settings_.empty() || started_) {
    return;
  }
  auto& family = ctx.metrics.counter_family(
      "tender_adapt_log_lines_total",
      "Log lines read and written as JSON, by result: ok (parsed), unparsed (written with "
      "parse_error), cut (longer than max_line_bytes).",
      {"log", "result"});
  for (const auto& s : settings_) {
    auto fail = [&s](const std::string& key, const std::string& why) {
      throw ConfigError(s.file, s.line, s.path + "." + key, why);
    };
    auto formatter = LineFormatter::create(s);
    if (!formatter) {
      fail("pattern", formatter.error().message());
    }
    auto a = std::make_unique<Adapter>(s, std::move(*formatter));
    a->clock = &ctx.clock;
    for (LineResult r : {LineResult::kOk, LineResult::kUnparsed, LineResult::kCut}) {
      a->counted[static_cast<std::size_t>(r)] = &family.with({s.name, std::string(to_string(r))});
    }
    auto in = LogInput::open(s.input, s.read_from_head, ctx.clock);
    if (!in) {
      fail("input", in.error().message());
    }
    a->input = std::move(*in);
    auto out = outputs_.find(s.output);
    if (out == outputs_.end()) {
      auto opened = LogOutput::open(s.output);
      if (!opened) {
        fail("output", opened.error().message());
      }
      out = outputs_.emplace(s.output, std::move(*opened)).first;
    }
    a->output = out->second.get();
    if (a->input->kind() == LogInput::Kind::kFile) {
      if (!watch_) {
        auto w =
            FileWatch::create({.rescan_interval = std::chrono::seconds(1), .clock = &ctx.clock});
        if (!w) {
          fail("input", w.error().message());
        }
        watch_.emplace(std::move(*w));
      }
      if (auto added = watch_->add_file(s.input); !added) {
        fail("input", added.error().message());
      }
      a->more = true;  // what is there now (from its start with read_from: head)
    }
    adapters_.push_back(std::move(a));
  }
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  wake_.reset(efd);
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void Adapters::stop() {
  stop_ = true;
  wake();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Adapters::run() {
  std::string buffer(kReadChunk, '\0');
  while (!stop_.load()) {
    turn(buffer);
  }
  flush_outputs();  // what is pending and can be written now
}

void Adapters::turn(std::string& buffer) {
  const bool draining = draining_.load();
  if (draining && !partials_written_) {
    for (auto& a : adapters_) {
      a->end();  // what was read is written, a last line without '\n' too
    }
    partials_written_ = true;
  }
  flush_outputs();
  update_state(draining);  // before a poll that may wait: drain() is waiting for it
  Ready ready = wait(draining);
  if (stop_.load()) {
    return;
  }
  for (Adapter* a : ready.streams) {
    for (int k = 0; k < kReadsPerTurn && a->output->has_room(); ++k) {
      if (!a->input->pump(buffer, *a)) {
        break;
      }
    }
  }
  if (watch_ && !draining) {
    read_files(buffer, ready.watch);
  }
  flush_outputs();
  update_state(draining);
}

Adapters::Ready Adapters::wait(bool draining) {
  std::vector<pollfd> fds;
  std::vector<Adapter*> streams;
  fds.push_back({wake_.get(), POLLIN, 0});
  bool busy = false;
  for (auto& a : adapters_) {
    if (draining || !a->output->has_room()) {
      continue;  // an output that is full holds back its inputs
    }
    if (a->input->kind() == LogInput::Kind::kFile) {
      busy = busy || a->more;
    } else if (const int fd = a->input->poll_fd(); fd >= 0) {
      fds.push_back({fd, POLLIN, 0});
      streams.push_back(a.get());
    }
  }
  bool retry_output = false;
  for (auto& [path, out] : outputs_) {
    if (const int fd = out->poll_fd(); fd >= 0) {
      fds.push_back({fd, POLLOUT, 0});
    } else if (!out->idle()) {
      retry_output = true;  // a failure that may pass (a full disk): try again in a while
    }
  }
  const std::size_t watch_at = fds.size();
  int timeout = -1;
  if (watch_ && !draining) {
    fds.push_back({watch_->fd(), POLLIN, 0});
    timeout = static_cast<int>(watch_->until_rescan().count());
  }
  if (retry_output && (timeout < 0 || timeout > 1000)) {
    timeout = 1000;
  }
  if (busy) {
    timeout = 0;
  }
  Ready ready;
  if (::poll(fds.data(), fds.size(), timeout) < 0) {
    if (errno != EINTR) {
      log::error("log adapters: poll failed",
                 {{"error", Error::from_errno(errno, "poll").message()}});
    }
    return ready;
  }
  if (fds[0].revents != 0) {
    std::uint64_t n = 0;
    (void)!::read(wake_.get(), &n, sizeof n);
  }
  for (std::size_t i = 0; i < streams.size(); ++i) {
    if (fds[1 + i].revents != 0) {
      ready.streams.push_back(streams[i]);
    }
  }
  ready.watch = watch_at < fds.size() && fds[watch_at].revents != 0;
  return ready;
}

void Adapters::read_files(std::string& buffer, bool watch_readable) {
  bool look = watch_readable;
  if (look) {
    (void)watch_->read_events();  // only a reason to look: pump() sees what changed
  }
  if (watch_->until_rescan().count() == 0) {
    (void)watch_->rescan();
    look = true;
  }
  for (auto& a : adapters_) {
    if (a->input->kind() != LogInput::Kind::kFile) {
      continue;
    }
    a->more = a->more || look;
    for (int k = 0; k < kReadsPerTurn && a->more && a->output->has_room(); ++k) {
      a->more = a->input->pump(buffer, *a);
    }
  }
}

void Adapters::update_state(bool draining) {
  bool idle = true;
  for (auto& [path, out] : outputs_) {
    idle = idle && out->idle();
  }
  if (draining && idle) {
    drained_ = true;
  }
  bool ended = true;
  for (auto& a : adapters_) {
    ended = ended && a->input->kind() == LogInput::Kind::kStdin && a->input->ended();
  }
  finished_ = ended && idle;
}

void Adapters::flush_outputs() {
  for (auto& [path, out] : outputs_) {
    if (out->idle()) {
      continue;
    }
    Result<> r = out->flush();
    std::lock_guard lock(mu_);
    std::string& last = output_errors_[path];
    if (!r && last != r.error().message()) {
      last = r.error().message();
      log::warn(out->broken() ? "log output broken; its lines are dropped from now on"
                              : "log output failed; retrying",
                {{"output", path}, {"error", last}});
    } else if (r && !last.empty() && !out->broken()) {
      last.clear();
    }
  }
}

json::object Adapters::status() const {
  json::object adapters;
  std::lock_guard lock(mu_);
  for (const auto& a : adapters_) {
    json::object s;
    s["input"] = a->settings.input;
    s["input_kind"] = kind_name(a->input->kind());
    s["format"] = to_string(a->settings.format);
    s["output"] = a->settings.output;
    json::object lines;
    for (LineResult r : {LineResult::kOk, LineResult::kUnparsed, LineResult::kCut}) {
      lines[to_string(r)] = a->lines[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    }
    s["lines"] = std::move(lines);
    s["dropped"] = a->dropped.load(std::memory_order_relaxed);
    auto err = output_errors_.find(a->settings.output);
    s["output_error"] = err == output_errors_.end() ? "" : err->second;
    adapters[a->settings.name] = std::move(s);
  }
  json::object o;
  o["adapters"] = std::move(adapters);
  o["finished"] = finished_.load();
  return o;
}

}  // namespace

std::unique_ptr<LogAdapters> LogAdapters::parse(const ConfigNode& logs) {
  std::vector<LogSettings> settings;
  if (logs.defined() && !logs.is_sequence()) {
    logs.fail("", "logs is a list of log adapters");
  }
  std::set<std::string, std::less<>> names;
  bool stdin_taken = false;
  for (const auto& entry : logs.items()) {
    LogSettings s = parse_log_settings(entry);
    if (!names.insert(s.name).second) {
      entry.fail("name", "two log adapters are named " + s.name);
    }
    if (s.input == "-") {
      if (stdin_taken) {
        entry.fail("input", "stdin is read by one log adapter only");
      }
      stdin_taken = true;
    }
    settings.push_back(std::move(s));
  }
  return std::make_unique<Adapters>(std::move(settings));
}

}  // namespace tender::adapter

// `tender queue push` and `tender queue stats`: blocking clients of the queue server's API.
#include "workqueue/client.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/cli.hpp"
#include "core/http_client.hpp"
#include "workqueue/client_api.hpp"
#include "workqueue/client_text.hpp"
#include "workqueue/store.hpp"
#include "workqueue/work_progress.hpp"

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;

struct PushFlags {
  std::string queue;
  std::string name;
  std::string file;
  std::string priority;
  std::string delay_ms;
  std::string max_attempts;
  int batch = 1000;
  std::string progress;
};

struct StatsFlags {
  std::string queue;
  std::string name;
  bool json = false;
};

long long int_flag(std::string_view flag, const std::string& value, long long min, long long max) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < min || v > max) {
    throw UsageError("--" + std::string(flag) + ": must be an integer from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", not \"" + value + "\"");
  }
  return v;
}

QueueUrl queue_url(const std::string& flag) {
  auto url = parse_queue_url(flag);
  if (!url) {
    throw UsageError("--queue: " + url.error().message());
  }
  return *url;
}

void check_name(const std::string& name) {
  if (auto ok = check_queue_name(name); !ok) {
    throw UsageError(ok.error().message());
  }
}

// The answer to one request, or the error it stands for: the server not reached, or a status
// other than 2xx.
Result<Response> call(const QueueUrl& url, const std::string& method, const std::string& target,
                      const std::string& body = "") {
  auto r = fetch(url.str() + target, method, body, 60s);
  if (!r) {
    return Error(r.error(),
                 "cannot reach the queue server at " + url.str() + ": " + r.error().message());
  }
  if (r->status < 200 || r->status >= 300) {
    return http_status_error(r->status, r->body);
  }
  return std::move(*r);
}

void print_out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void print_err(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stderr); }

// The bar on stderr while a large file is pushed: shown once a first batch has gone and more
// is left, refreshed at most every 100 ms, erased at the end.
class PushBar {
 public:
  PushBar(bool on, std::uint64_t total) : on_(on && total > 0), total_(total) {}
  ~PushBar() {
    if (shown_) {
      print_err("\r\x1b[K");
    }
  }
  PushBar(const PushBar&) = delete;
  PushBar& operator=(const PushBar&) = delete;
  void update(std::uint64_t read, std::uint64_t items) {
    const auto now = std::chrono::steady_clock::now();
    if (!on_ || read >= total_ || now - last_ < 100ms) {
      return;
    }
    last_ = now;
    shown_ = true;
    print_err("\r\x1b[K" + format_bar(read, total_, items));
  }

 private:
  bool on_;
  bool shown_ = false;
  std::uint64_t total_;
  std::chrono::steady_clock::time_point last_{};
};

// The batches' options from the flags. Throws UsageError naming a bad flag.
BatchOptions batch_options(const PushFlags& f) {
  BatchOptions options;
  if (f.batch < 1 || f.batch > 1000) {
    throw UsageError("--batch: must be from 1 to 1000");
  }
  options.max_items = static_cast<std::size_t>(f.batch);
  if (!f.priority.empty()) {
    options.priority = static_cast<int>(int_flag("priority", f.priority, -1000, 1000));
  }
  if (!f.delay_ms.empty()) {
    options.delay_ms = int_flag("delay-ms", f.delay_ms, 0, 30LL * 24 * 3600 * 1000);
  }
  if (!f.max_attempts.empty()) {
    options.max_attempts = static_cast<int>(int_flag("max-attempts", f.max_attempts, 1, 1000));
  }
  if (!f.progress.empty() && f.progress != "auto" && f.progress != "always" &&
      f.progress != "never") {
    throw UsageError("--progress: must be auto, always or never, not \"" + f.progress + "\"");
  }
  return options;
}

// Sends every line of `in` to `target` in batches; `pushed` counts the items enqueued, also
// when it fails (with the server's error, or the input's).
Result<> push_lines(std::FILE* in, const QueueUrl& url, const std::string& target,
                    BatchOptions options, PushBar& bar, std::uint64_t& pushed) {
  BatchBuilder batch(options);
  std::uint64_t read = 0;
  auto send = [&]() -> Result<> {
    const std::size_t n = batch.items();
    auto r = call(url, "POST", target, batch.take());
    if (!r) {
      return r.error();
    }
    pushed += n;
    bar.update(read, pushed);
    return {};
  };
  std::string pending;
  std::vector<std::string> lines;
  std::string chunk(64 << 10, '\0');
  for (bool last = false; !last;) {
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), in);
    if (n == 0 && std::ferror(in)) {
      return Error::from_errno(errno, "cannot read the input");
    }
    read += n;
    last = n == 0;
    split_lines(pending, std::string_view(chunk.data(), n), last, lines);
    for (const auto& line : lines) {
      if (batch.add(line)) {
        continue;
      }
      if (auto sent = send(); !sent) {
        return sent;
      }
      (void)batch.add(line);  // an empty batch takes any payload
    }
    lines.clear();
  }
  if (batch.items() > 0) {
    return send();
  }
  return {};
}

int push(const PushFlags& f) {
  const QueueUrl url = queue_url(f.queue);
  check_name(f.name);
  const BatchOptions options = batch_options(f);
  std::FILE* in = stdin;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> owned(nullptr, &std::fclose);
  if (!f.file.empty() && f.file != "-") {
    owned.reset(std::fopen(f.file.c_str(), "rb"));
    if (!owned) {
      throw UsageError("--file: cannot read " + f.file + ": " + std::strerror(errno));
    }
    in = owned.get();
  }
  struct stat st {};
  const std::uint64_t total =
      ::fstat(::fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
  const bool tty = f.progress == "always" || (f.progress != "never" && ::isatty(2) == 1);
  std::uint64_t pushed = 0;
  Result<> done = [&] {
    PushBar bar(tty, total);  // erased before the result is printed
    return push_lines(in, url, "/v1/queues/" + f.name + "/items:batch", options, bar, pushed);
  }();
  if (!done) {
    print_err("tender queue push: " + done.error().message() + "; " + std::to_string(pushed) +
              " items were pushed before the error\n");
    return 1;
  }
  print_out("pushed " + std::to_string(pushed) + " items to " + f.name + "\n");
  return 0;
}

int stats(const StatsFlags& f) {
  const QueueUrl url = queue_url(f.queue);
  if (!f.name.empty()) {
    check_name(f.name);
  }
  auto r = call(url, "GET", f.name.empty() ? "/v1/queues" : "/v1/queues/" + f.name);
  if (!r) {
    print_err("tender queue stats: " + r.error().message() + "\n");
    return 1;
  }
  if (f.json) {
    print_out(r->body.ends_with('\n') ? r->body : r->body + "\n");
    return 0;
  }
  if (f.name.empty()) {
    auto queues = parse_queues_answer(r->body);
    if (!queues) {
      print_err("tender queue stats: " + queues.error().message() + "\n");
      return 1;
    }
    print_out(format_queues_table(*queues));
    return 0;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(r->body, ec);
  if (ec) {
    print_err("tender queue stats: the queue server's answer is not JSON: " + ec.message() + "\n");
    return 1;
  }
  print_out(format_queue_detail(v));
  return 0;
}

}  // namespace

CLI::App* add_push_command(CLI::App& queue, int& exit_code) {
  auto* cmd = queue.add_subcommand(
      "push", "Enqueue one item per line of a file or stdin (empty lines are skipped)");
  auto f = std::make_shared<PushFlags>();
  cmd->add_option("--queue", f->queue, "The queue server, e.g. http://127.0.0.1:7700")->required();
  cmd->add_option("name", f->name, "The queue to push to")->required();
  cmd->add_option("--file", f->file, "Read items from this file (default stdin)");
  cmd->add_option("--priority", f->priority, "Priority of every item, -1000..1000 (default 0)");
  cmd->add_option("--delay-ms", f->delay_ms, "Make every item leasable this many ms from now");
  cmd->add_option("--max-attempts", f->max_attempts,
                  "Leases before an item goes dead, 1..1000 (default: the queue's)");
  cmd->add_option("--batch", f->batch, "Items per request, 1..1000 (default 1000)");
  cmd->add_option("--progress", f->progress,
                  "auto (a bar on a terminal for a large file), always or never");
  cmd->callback([f, &exit_code] { exit_code = push(*f); });
  return cmd;
}

CLI::App* add_stats_command(CLI::App& queue, int& exit_code) {
  auto* cmd = queue.add_subcommand("stats", "Show the queues and their counts, or one queue");
  auto f = std::make_shared<StatsFlags>();
  cmd->add_option("--queue", f->queue, "The queue server, e.g. http://127.0.0.1:7700")->required();
  cmd->add_option("name", f->name, "One queue to show in detail");
  cmd->add_flag("--json", f->json, "Print the server's JSON");
  cmd->callback([f, &exit_code] { exit_code = stats(*f); });
  return cmd;
}

}  // namespace tender::workqueue

#include "workqueue/work_config.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "core/cli.hpp"
#include "core/units.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMinTtl{1'000};
constexpr milliseconds kMaxLeaseTtl{12 * 3'600'000};
constexpr milliseconds kMaxLeaseWait{300'000};
constexpr std::size_t kMaxResult = std::size_t{64} << 20;

int flag_int(std::string_view flag, const std::string& value, int min, int max) {
  int v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size() || v < min || v > max) {
    throw UsageError("--" + std::string(flag) + ": must be an integer from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", not \"" + value + "\"");
  }
  return v;
}

std::optional<ProgressMode> parse_progress(std::string_view s) {
  if (s == "auto") {
    return ProgressMode::kAuto;
  }
  if (s == "always") {
    return ProgressMode::kAlways;
  }
  if (s == "never") {
    return ProgressMode::kNever;
  }
  return std::nullopt;
}

std::string_view progress_name(ProgressMode m) {
  switch (m) {
    case ProgressMode::kAlways:
      return "always";
    case ProgressMode::kNever:
      return "never";
    case ProgressMode::kAuto:
      break;
  }
  return "auto";
}

// The settings of the file, over the defaults.
WorkConfig from_file(const ConfigNode& file) {
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "queue",
                     "queue_name", "concurrency", "command", "timeout", "lease_ttl", "lease_wait",
                     "nack_delay", "max_result", "dead_exit_code", "exit_when_empty", "progress"});
  WorkConfig c;
  if (auto v = file.string("queue")) {
    auto url = parse_queue_url(*v);
    if (!url) {
      file.fail("queue", url.error().message());
    }
    c.queue = *url;
  }
  if (auto v = file.string("queue_name")) {
    if (auto ok = check_queue_name(*v); !ok) {
      file.fail("queue_name", ok.error().message());
    }
    c.queue_name = *v;
  }
  c.concurrency = static_cast<int>(file.integer("concurrency", 1, 1024).value_or(c.concurrency));
  c.command = file.strings("command").value_or(c.command);
  c.timeout = file.duration("timeout").value_or(c.timeout);
  c.lease_ttl = file.duration("lease_ttl").value_or(c.lease_ttl);
  if (c.lease_ttl < kMinTtl || c.lease_ttl > kMaxLeaseTtl) {
    file.fail("lease_ttl", "must be from 1s to 12h");
  }
  c.lease_wait = file.duration("lease_wait").value_or(c.lease_wait);
  if (c.lease_wait > kMaxLeaseWait) {
    file.fail("lease_wait", "must be at most 5m");
  }
  if (auto v = file.duration("nack_delay")) {
    c.nack_delay = *v;
  }
  c.max_result = file.bytes("max_result").value_or(c.max_result);
  if (c.max_result > kMaxResult) {
    file.fail("max_result", "must be at most 64MiB");
  }
  if (auto v = file.integer("dead_exit_code", 1, 255)) {
    c.dead_exit_code = static_cast<int>(*v);
  }
  c.exit_when_empty = file.boolean("exit_when_empty").value_or(false);
  if (auto v = file.string("progress")) {
    auto m = parse_progress(*v);
    if (!m) {
      file.fail("progress", "must be auto, always or never, not \"" + *v + "\"");
    }
    c.progress = *m;
  }
  return c;
}

}  // namespace

WorkConfig resolve_work(const WorkFlags& f, const ConfigNode& file) {
  WorkConfig c = from_file(file);
  if (!f.queue.empty()) {
    auto url = parse_queue_url(f.queue);
    if (!url) {
      throw UsageError("--queue: " + url.error().message());
    }
    c.queue = *url;
  }
  if (!f.queue_name.empty()) {
    if (auto ok = check_queue_name(f.queue_name); !ok) {
      throw UsageError("--queue-name: " + ok.error().message());
    }
    c.queue_name = f.queue_name;
  }
  if (f.concurrency != 0) {
    if (f.concurrency < 1 || f.concurrency > 1024) {
      throw UsageError("--concurrency: must be from 1 to 1024");
    }
    c.concurrency = f.concurrency;
  }
  if (!f.command.empty()) {
    c.command = f.command;
  }
  if (!f.timeout.empty()) {
    c.timeout = flag_duration("timeout", f.timeout);
  }
  if (!f.lease_ttl.empty()) {
    c.lease_ttl = flag_duration("lease-ttl", f.lease_ttl);
    if (c.lease_ttl < kMinTtl || c.lease_ttl > kMaxLeaseTtl) {
      throw UsageError("--lease-ttl: must be from 1s to 12h");
    }
  }
  if (!f.lease_wait.empty()) {
    c.lease_wait = flag_duration("lease-wait", f.lease_wait);
    if (c.lease_wait > kMaxLeaseWait) {
      throw UsageError("--lease-wait: must be at most 5m");
    }
  }
  if (!f.nack_delay.empty()) {
    c.nack_delay = flag_duration("nack-delay", f.nack_delay);
  }
  if (!f.max_result.empty()) {
    c.max_result = flag_bytes("max-result", f.max_result);
    if (c.max_result > kMaxResult) {
      throw UsageError("--max-result: must be at most 64MiB");
    }
  }
  if (!f.dead_exit_code.empty()) {
    c.dead_exit_code = flag_int("dead-exit-code", f.dead_exit_code, 1, 255);
  }
  c.exit_when_empty = c.exit_when_empty || f.exit_when_empty;
  if (!f.progress.empty()) {
    auto m = parse_progress(f.progress);
    if (!m) {
      throw UsageError("--progress: must be auto, always or never, not \"" + f.progress + "\"");
    }
    c.progress = *m;
  }
  if (c.queue.host.empty()) {
    throw UsageError("--queue is required: the queue server, e.g. http://127.0.0.1:7700");
  }
  if (c.queue_name.empty()) {
    throw UsageError("--queue-name is required: the queue to take items from");
  }
  if (c.command.empty()) {
    throw UsageError("a command is required after --, e.g. tender work ... -- ./process-item");
  }
  return c;
}

boost::json::object to_json(const WorkConfig& c) {
  boost::json::object o;
  o["queue"] = c.queue.str();
  o["queue_name"] = c.queue_name;
  o["concurrency"] = c.concurrency;
  boost::json::array argv;
  for (const auto& a : c.command) {
    argv.emplace_back(a);
  }
  o["command"] = std::move(argv);
  o["timeout"] = c.timeout.count() == 0 ? "none" : format_duration(c.timeout);
  o["lease_ttl"] = format_duration(c.lease_ttl);
  o["lease_wait"] = format_duration(c.lease_wait);
  o["nack_delay"] = c.nack_delay ? format_duration(*c.nack_delay) : "queue backoff";
  o["max_result_bytes"] = c.max_result;
  if (c.dead_exit_code) {
    o["dead_exit_code"] = *c.dead_exit_code;
  } else {
    o["dead_exit_code"] = nullptr;
  }
  o["exit_when_empty"] = c.exit_when_empty;
  o["progress"] = progress_name(c.progress);
  return o;
}

}  // namespace tender::workqueue

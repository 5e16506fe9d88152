#include "workqueue/work_runner.hpp"

#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "core/asio_util.hpp"
#include "core/backoff.hpp"
#include "core/command.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/units.hpp"
#include "workqueue/queue_client.hpp"
#include "workqueue/ui_assets.hpp"
#include "workqueue/work_item.hpp"
#include "workqueue/work_progress.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace tender::workqueue {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
// NOLINTNEXTLINE(misc-unused-using-decls): the `a || b` of awaitables below use it
using asio::experimental::awaitable_operators::operator||;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// Retries of a queue server that cannot be reached or answers 5xx: 250 ms doubling to 10 s.
BackoffPolicy retry_policy() {
  BackoffPolicy p;
  p.initial = 250ms;
  p.max = 10s;
  p.jitter = 0.2;
  return p;
}

// How long stop() waits for the nacks of the items it killed.
constexpr auto kStopWait = 5s;

constexpr double kDurationBuckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                       5,    10,   30,  60,   300, 900, 3600};
constexpr double kWaitBuckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};

// Ends when `signal` (a timer that never expires) is cancelled: the drain and the stop.
asio::awaitable<void> wait_for(asio::steady_timer& signal) { co_await signal.async_wait(kTuple); }

// Never ends (until cancelled).
asio::awaitable<void> forever() {
  asio::steady_timer t(co_await asio::this_coro::executor, Steady::time_point::max());
  co_await t.async_wait(kTuple);
}

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

struct Metrics {
  Counter* acked = nullptr;
  Counter* nacked = nullptr;
  Counter* dead = nullptr;
  Counter* buried = nullptr;
  Counter* stopped = nullptr;
  Counter* lease_lost = nullptr;
  Counter* unreported = nullptr;
  Counter* timeouts = nullptr;
  Counter* server_errors = nullptr;
  Counter* extends = nullptr;
  Histogram* duration = nullptr;
  Histogram* lease_wait = nullptr;
  Gauge* in_flight = nullptr;

  void register_in(Registry& r) {
    auto& items = r.counter_family("tender_work_items_total",
                                   "Items this runner finished, by outcome.", {"outcome"});
    acked = &items.with({"acked"});
    nacked = &items.with({"nacked"});
    dead = &items.with({"dead"});
    buried = &items.with({"buried"});
    stopped = &items.with({"stopped"});
    lease_lost = &items.with({"lease_lost"});
    unreported = &items.with({"unreported"});
    timeouts = &r.counter("tender_work_timeouts_total", "Commands killed at --timeout.");
    server_errors = &r.counter("tender_work_server_errors_total",
                               "Calls to the queue server that failed: not reached, or 5xx.");
    extends = &r.counter("tender_work_lease_extensions_total", "Leases extended while running.");
    duration = &r.histogram("tender_work_command_duration_seconds",
                            "How long the command ran for an item.", kDurationBuckets);
    lease_wait = &r.histogram("tender_work_lease_wait_seconds",
                              "From asking for an item to getting one.", kWaitBuckets);
    in_flight = &r.gauge("tender_work_in_flight", "Items leased and not yet reported.");
  }
};

// The loop thread's objects, destroyed together once it has stopped.
struct Loop {
  explicit Loop(const WorkConfig& cfg)
      : drain_signal(ioc, Steady::time_point::max()),
        stop_signal(ioc, Steady::time_point::max()),
        client(ioc.get_executor(), cfg.queue, cfg.queue_name) {}
  asio::io_context ioc{1};
  asio::steady_timer drain_signal;  // cancelled by drain(): lease waits end
  asio::steady_timer stop_signal;   // cancelled by stop(): running commands are killed
  QueueClient client;
};

// What the run of one item comes to, to be reported to the server.
struct Finish {
  Verdict verdict = Verdict::kNack;
  std::string text;  // the result (ack) or the error (nack, bury)
  bool stopped = false;
};

}  // namespace

struct WorkRunner::Impl {
  explicit Impl(WorkConfig c) : cfg(std::move(c)) {}

  asio::awaitable<void> slot_loop();
  asio::awaitable<Finish> run(const LeasedItem& item, Steady::time_point& lease_until);
  asio::awaitable<void> run_item(LeasedItem item);
  asio::awaitable<void> keep_lease(const LeasedItem& item, Steady::time_point& lease_until);
  asio::awaitable<void> report(const LeasedItem& item, Finish finish, Steady::time_point until);
  void count(const LeasedItem& item, const Finish& finish, std::string_view state);
  asio::awaitable<void> check_empty();
  asio::awaitable<void> progress_loop();
  void print_progress(bool final);
  void server_trouble(const Error& e);

  WorkConfig cfg;
  Runtime* rt = nullptr;
  Metrics m;
  std::unique_ptr<Loop> loop;
  std::thread thread;
  bool progress_on = false;
  RateMeter rate{system_clock()};  // loop thread

  // Loop thread only.
  bool draining = false;
  bool stopping = false;
  bool exiting = false;
  bool checking_empty = false;

  // Any thread.
  std::atomic<bool> drain_asked{false};
  std::atomic<int> slots_alive{0};
  std::atomic<int> busy{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> dead{0};
  std::atomic<std::uint64_t> lost{0};
  std::atomic<std::int64_t> remaining{-1};  // the queue's unfinished items; -1: not known
  std::atomic<bool> server_down{false};
  mutable std::mutex mu;
  std::string server_error;  // the last failure to reach the server, for /readyz and /statusz
  struct Running {
    int attempt = 0;
    std::chrono::system_clock::time_point since;
  };
  std::map<std::uint64_t, Running> running;  // items leased and not yet reported, by id
};

// /statusz lists this many of the items in flight (--concurrency may be 1024).
constexpr std::size_t kRunningShown = 32;

void WorkRunner::Impl::server_trouble(const Error& e) {
  m.server_errors->inc();
  server_down = true;
  std::lock_guard lock(mu);
  server_error = e.message();
}

asio::awaitable<void> WorkRunner::Impl::slot_loop() {
  Backoff backoff(retry_policy(), system_clock());
  co_await check_empty();  // a queue empty from the start need not wait out a long poll
  while (!draining) {
    const auto asked = Steady::now();
    // After a failure, the first lease does not wait: an answer at once says the server is
    // back (and the runner ready) without a long poll's wait on an empty queue.
    const auto wait = server_down ? std::chrono::milliseconds(0) : cfg.lease_wait;
    auto leased =
        co_await (loop->client.lease(1, wait, cfg.lease_ttl) || wait_for(loop->drain_signal));
    if (leased.index() != 0) {
      break;  // draining: the long poll is abandoned
    }
    auto& items = std::get<0>(leased);
    if (!items) {
      const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next());
      if (is_transient(items.error())) {
        server_trouble(items.error());
        log::warn("cannot lease from the queue server; retrying",
                  {{"error", items.error().message()}, {"in", format_duration(delay)}});
      } else {
        log::error("the queue server refuses to lease; retrying",
                   {{"error", items.error().message()}, {"in", format_duration(delay)}});
      }
      if (draining) {
        break;  // the drain came as the lease failed: its signal has fired already
      }
      co_await (sleep_for(delay) || wait_for(loop->drain_signal));
      continue;
    }
    backoff.reset();
    server_down = false;
    if (items->empty()) {
      co_await check_empty();
      if (Steady::now() - asked < 100ms && !draining) {
        // An empty answer at once (no long poll): do not ask again in a tight loop.
        co_await (sleep_for(250ms) || wait_for(loop->drain_signal));
      }
      continue;
    }
    m.lease_wait->observe(seconds_since(asked));
    for (auto& item : *items) {
      co_await run_item(std::move(item));
    }
    co_await check_empty();
  }
}

asio::awaitable<void> WorkRunner::Impl::run_item(LeasedItem item) {
  ++busy;
  m.in_flight->inc();
  {
    std::lock_guard lock(mu);
    running[item.id] = Running{item.attempt, std::chrono::system_clock::now()};
  }
  auto lease_until = Steady::now() + cfg.lease_ttl;
  Finish finish;
  if (stopping) {
    finish = {Verdict::kNack, "worker stopped", true};
  } else {
    finish = co_await run(item, lease_until);
  }
  co_await report(item, std::move(finish), lease_until);
  {
    std::lock_guard lock(mu);
    running.erase(item.id);
  }
  m.in_flight->dec();
  --busy;
}

asio::awaitable<Finish> WorkRunner::Impl::run(const LeasedItem& item,
                                              Steady::time_point& lease_until) {
  auto files = ItemFiles::create(item.payload);
  if (!files) {
    log::error("cannot write the item's file",
               {{"item", item.id}, {"error", files.error().message()}});
    co_return Finish{Verdict::kNack, "tender work: " + files.error().message()};
  }
  CommandOptions o;
  o.spawn.argv = cfg.command;
  o.spawn.env = item_environment(environ, {.id = item.id,
                                           .attempt = item.attempt,
                                           .queue = cfg.queue_name,
                                           .item_file = files->item_file(),
                                           .output_file = files->output_file()});
  o.stdin_file = files->item_file();
  o.timeout = cfg.timeout;
  o.max_stdout_bytes = cfg.max_result;
  o.max_stderr_bytes = kErrorTailBytes;
  o.keep_stderr_tail = true;
  const auto started = Steady::now();
  auto ran = co_await (run_command(std::move(o)) || keep_lease(item, lease_until) ||
                       wait_for(loop->stop_signal));
  m.duration->observe(seconds_since(started));
  if (ran.index() != 0) {
    log::warn("stopped while the command ran; giving the item back", {{"item", item.id}});
    co_return Finish{Verdict::kNack, "worker stopped", true};
  }
  auto& outcome = std::get<0>(ran);
  if (!outcome) {
    log::warn("the command did not start",
              {{"item", item.id}, {"error", outcome.error().message()}});
    co_return Finish{Verdict::kNack, outcome.error().message()};
  }
  if (outcome->timed_out) {
    m.timeouts->inc();
  }
  const Verdict v =
      verdict(outcome->exit.exited, outcome->exit.code, outcome->timed_out, cfg.dead_exit_code);
  if (v != Verdict::kAck) {
    std::string error =
        failure_text(outcome->describe(), outcome->stderr_text, outcome->stderr_truncated);
    log::info("the command failed", {{"item", item.id},
                                     {"attempt", item.attempt},
                                     {"error", std::string_view(error).substr(0, 200)}});
    co_return Finish{v, std::move(error)};
  }
  auto output = files->read_output(cfg.max_result);
  if (!output) {
    co_return Finish{Verdict::kNack, "tender work: " + output.error().message()};
  }
  co_return Finish{Verdict::kAck,
                   *output ? std::move((*output)->bytes) : std::move(outcome->stdout_text)};
}

asio::awaitable<void> WorkRunner::Impl::keep_lease(const LeasedItem& item,
                                                   Steady::time_point& lease_until) {
  for (;;) {
    co_await sleep_for(cfg.extend_every());
    auto extended = co_await loop->client.extend(item.id, item.lease_id, cfg.lease_ttl);
    if (extended) {
      lease_until = Steady::now() + cfg.lease_ttl;
      m.extends->inc();
      continue;
    }
    if (!is_transient(extended.error())) {
      log::warn("the item's lease was lost while its command runs; its outcome will not count",
                {{"item", item.id}, {"error", extended.error().message()}});
      co_await forever();
    }
    server_trouble(extended.error());
    log::warn("cannot extend the item's lease; trying again",
              {{"item", item.id}, {"error", extended.error().message()}});
  }
}

asio::awaitable<void> WorkRunner::Impl::report(const LeasedItem& item, Finish finish,
                                               Steady::time_point until) {
  Backoff backoff(retry_policy(), system_clock());
  for (;;) {
    Result<std::string> state(boost::system::in_place_value, "done");
    if (finish.verdict == Verdict::kAck) {
      if (auto r = co_await loop->client.ack(item.id, item.lease_id, finish.text); !r) {
        state = r.error();
      }
    } else if (finish.verdict == Verdict::kBury) {
      if (auto r = co_await loop->client.bury(item.id, item.lease_id, finish.text); !r) {
        state = r.error();
      } else {
        state = Result<std::string>(boost::system::in_place_value, "dead");
      }
    } else if (finish.stopped) {
      // An item given back because this runner stops is not at fault: ready again at once,
      // and this delivery is not counted as an attempt.
      if (auto r = co_await loop->client.release(item.id, item.lease_id); !r) {
        state = r.error();
      } else {
        state = Result<std::string>(boost::system::in_place_value, "ready");
      }
    } else {
      state = co_await loop->client.nack(item.id, item.lease_id, finish.text, cfg.nack_delay);
    }
    if (state) {
      count(item, finish, *state);
      co_return;
    }
    const Error& e = state.error();
    const int status = http_status_of(e);
    if (status == 409 || status == 404) {
      m.lease_lost->inc();
      ++lost;
      log::warn(
          "the item's lease was lost; its outcome was not recorded (it expired, and the "
          "item may be with another worker now)",
          {{"item", item.id}, {"error", e.message()}});
      co_return;
    }
    const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next());
    if (!is_transient(e) || stopping || Steady::now() + delay >= until) {
      m.unreported->inc();
      ++lost;
      log::error(
          "cannot report the item's outcome; it will be delivered again once its lease "
          "expires",
          {{"item", item.id}, {"error", e.message()}});
      co_return;
    }
    server_trouble(e);
    log::warn("cannot report the item's outcome; retrying",
              {{"item", item.id}, {"error", e.message()}, {"in", format_duration(delay)}});
    co_await (sleep_for(delay) || wait_for(loop->stop_signal));
  }
}

void WorkRunner::Impl::count(const LeasedItem& item, const Finish& finish, std::string_view state) {
  if (finish.verdict == Verdict::kAck) {
    m.acked->inc();
    ++done;
    return;
  }
  ++failed;
  if (finish.verdict == Verdict::kBury) {
    m.buried->inc();
    ++dead;
  } else if (state == "dead") {
    m.dead->inc();
    ++dead;
  } else if (finish.stopped) {
    m.stopped->inc();
  } else {
    m.nacked->inc();
  }
  if (state == "dead") {
    log::warn("the item went dead",
              {{"item", item.id}, {"error", std::string_view(finish.text).substr(0, 200)}});
  }
}

asio::awaitable<void> WorkRunner::Impl::check_empty() {
  if (!cfg.exit_when_empty || exiting || draining || checking_empty || busy > 0) {
    co_return;
  }
  checking_empty = true;
  auto q = co_await loop->client.summary();
  checking_empty = false;
  bool empty = false;
  if (q) {
    remaining = static_cast<std::int64_t>(q->unfinished());
    empty = q->unfinished() == 0;
  } else {
    // A queue that does not exist has nothing to do; any other failure: ask again later.
    empty = http_status_of(q.error()) == 404;
  }
  if (!empty || busy > 0 || exiting || draining) {
    co_return;
  }
  exiting = true;
  const int code = dead > 0 ? 1 : 0;
  log::info("the queue is empty; exiting", {{"done", done.load()},
                                            {"failed", failed.load()},
                                            {"dead", dead.load()},
                                            {"exit_code", code}});
  rt->shutdown(code);
}

asio::awaitable<void> WorkRunner::Impl::progress_loop() {
  while (!stopping) {
    auto q = co_await (loop->client.summary() || wait_for(loop->stop_signal));
    if (q.index() != 0) {
      break;
    }
    if (auto& summary = std::get<0>(q)) {
      remaining = static_cast<std::int64_t>(summary->unfinished());
    }
    rate.record(done + failed);
    print_progress(false);
    co_await (sleep_for(1s) || wait_for(loop->stop_signal));
  }
}

void WorkRunner::Impl::print_progress(bool final) {
  ProgressView v;
  v.done = done;
  v.failed = failed;
  v.rate = rate.rate();
  if (const auto r = remaining.load(); r >= 0) {
    v.remaining = static_cast<std::uint64_t>(r);
  }
  std::string line = "\r\x1b[K" + format_progress(v) + (final ? "\n" : "\r");
  (void)!::write(2, line.data(), line.size());
}

WorkRunner::WorkRunner(WorkConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

WorkRunner::~WorkRunner() { stop(); }

void WorkRunner::start(Runtime& runtime) {
  Impl& s = *impl_;
  s.rt = &runtime;
  s.m.register_in(runtime.metrics());
  s.progress_on = s.cfg.progress == ProgressMode::kAlways ||
                  (s.cfg.progress == ProgressMode::kAuto && ::isatty(2) == 1);
  // Items are run in directories of their own: if none can be made, no item could run.
  if (auto probe = ItemFiles::create(""); !probe) {
    throw std::runtime_error("cannot make an item's directory: " + probe.error().message());
  }
  s.loop = std::make_unique<Loop>(s.cfg);
  log::info("working", {{"queue", s.cfg.queue.str()},
                        {"queue_name", s.cfg.queue_name},
                        {"concurrency", s.cfg.concurrency},
                        {"command", s.cfg.command.front()}});
  s.slots_alive = s.cfg.concurrency;
  for (int i = 0; i < s.cfg.concurrency; ++i) {
    asio::co_spawn(s.loop->ioc, s.slot_loop(), [&s](const std::exception_ptr& e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("a work slot failed", {{"error", ex.what()}});
        }
      }
      --s.slots_alive;
    });
  }
  if (s.progress_on) {
    asio::co_spawn(s.loop->ioc, s.progress_loop(), asio::detached);
  }
  // Commands die with the thread that spawned them (PR_SET_PDEATHSIG): this one lives until
  // stop().
  s.thread = std::thread([&s] {
    auto guard = asio::make_work_guard(s.loop->ioc);
    s.loop->ioc.run();
  });
}

void WorkRunner::drain() {
  Impl& s = *impl_;
  if (!s.loop || s.drain_asked.exchange(true)) {
    return;
  }
  asio::post(s.loop->ioc, [&s] {
    s.draining = true;
    s.loop->drain_signal.cancel();
  });
}

bool WorkRunner::drained() const { return impl_->drain_asked && impl_->slots_alive == 0; }

void WorkRunner::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) {
    return;
  }
  asio::post(s.loop->ioc, [&s] {
    s.draining = true;
    s.stopping = true;
    s.loop->drain_signal.cancel();
    s.loop->stop_signal.cancel();
  });
  // The items killed now are released; their answers are waited for a while.
  const auto until = Steady::now() + kStopWait;
  while (s.slots_alive > 0 && Steady::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  if (s.slots_alive > 0) {
    log::warn(
        "stopping with items unreported; they will be delivered again once their leases "
        "expire",
        {{"items", s.busy.load()}});
  }
  s.loop->ioc.stop();
  s.thread.join();
  s.loop.reset();  // kills and reaps what still runs
  if (s.progress_on) {
    s.print_progress(true);
  }
}

Health WorkRunner::ready() const {
  if (impl_->server_down) {
    std::lock_guard lock(impl_->mu);
    return Health::failing("the queue server cannot be reached: " + impl_->server_error);
  }
  return {};
}

json::object WorkRunner::status() const {
  const Impl& s = *impl_;
  json::object o;
  o["queue"] = s.cfg.queue.str();
  o["queue_name"] = s.cfg.queue_name;
  o["concurrency"] = s.cfg.concurrency;
  o["in_flight"] = s.busy.load();
  o["done"] = s.done.load();
  o["failed"] = s.failed.load();
  o["dead"] = s.dead.load();
  o["lost"] = s.lost.load();
  if (const auto r = s.remaining.load(); r >= 0) {
    o["remaining"] = r;
  }
  o["draining"] = s.drain_asked.load();
  {
    std::lock_guard lock(s.mu);
    o["server_error"] = s.server_down ? json::value(s.server_error) : json::value(nullptr);
    json::array running;
    for (const auto& [id, r] : s.running) {
      if (running.size() == kRunningShown) {
        break;
      }
      running.push_back(
          json::object{{"id", id}, {"attempt", r.attempt}, {"since", format_utc(r.since, true)}});
    }
    o["running_left_out"] = s.running.size() - running.size();
    o["running"] = std::move(running);
  }
  json::array command;
  for (const auto& arg : s.cfg.command) {
    command.emplace_back(arg);
  }
  o["command"] = std::move(command);
  return o;
}

json::object WorkRunner::config() const { return to_json(impl_->cfg); }

std::span<const UiAsset> WorkRunner::ui_assets() const { return panel_asset("work.js"); }

}  // namespace tender::workqueue

#include "sidecar/tail_role.hpp"

#include <malloc.h>

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <mutex>
#include <thread>

#include "core/backoff.hpp"
#include "core/config.hpp"
#include "core/file_watch_asio.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "sidecar/checkpoint.hpp"
#include "sidecar/sink.hpp"
#include "sidecar/tail_files.hpp"

namespace tender::sidecar {

namespace asio = boost::asio;

namespace {
// A pipeline with nothing to read looks again this often even without a file event.
constexpr auto kIdleLook = std::chrono::milliseconds(250);
// Checkpoint commits a sink may have queued while it reads and writes the next batches: they
// land in order (the writer's queue is FIFO) and share fsyncs, and a crash re-sends at most
// this many acknowledged batches.
constexpr int kCommitsInFlight = 4;
}  // namespace

// One sink's delivery state, owned by the I/O thread; the atomics are read by the admin thread.
struct SinkState {
  explicit SinkState(asio::io_context& ioc) : wake(ioc), pause(ioc), commit_done(ioc) {}
  std::unique_ptr<Sink> sink;
  asio::steady_timer wake;         // a pipeline waiting for data; cancelled by notify()
  asio::steady_timer pause;        // a pipeline waiting to retry; cancelled by stop()
  asio::steady_timer commit_done;  // a pipeline waiting for its previous commit
  int commits_in_flight = 0;
  bool notified = false;
  std::atomic<std::uint64_t> in_flight_records{0};
  std::atomic<std::uint64_t> buffer_bytes{0};
  std::atomic<std::uint64_t> consecutive_failures{0};
  std::string last_error;  // guarded by Impl::status_mutex
  Counter* errors = nullptr;
  Counter* retries = nullptr;
  Counter* batches = nullptr;
  Gauge* buffer = nullptr;
};

struct TailRole::Impl {
  explicit Impl(TailConfig c) : cfg(std::move(c)) {}

  TailConfig cfg;
  asio::io_context ioc;
  std::thread thread;
  std::optional<Checkpoint> checkpoint;
  std::unique_ptr<TailFiles> files;
  std::optional<FileWatch> watch;
  std::unique_ptr<AsyncFileWatch> async_watch;
  std::vector<std::unique_ptr<SinkState>> sinks;
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  std::atomic<int> pipelines_left{0};
  mutable std::mutex status_mutex;
  TailCounters counters;  // a copy, under status_mutex
  std::size_t followed = 0;
  std::map<std::string, std::uint64_t> lag;
  CounterFamily* read_records = nullptr;
  CounterFamily* read_bytes = nullptr;
  CounterFamily* sent_records = nullptr;
  CounterFamily* sent_bytes = nullptr;
  GaugeFamily* lag_gauge = nullptr;

  void register_metrics(Registry& m);
  void notify_all();
  void publish();  // copies the I/O thread's counters for the admin thread
  asio::awaitable<void> pipeline(std::size_t s);
  asio::awaitable<void> wait_for_data(SinkState& st);
  asio::awaitable<Result<>> commit(std::vector<FileOp> ops);
  asio::awaitable<void> commit_after(std::size_t s, std::vector<FileOp> ops);
  asio::awaitable<void> commits_below(SinkState& st, int limit);
  asio::awaitable<bool> deliver(std::size_t s, const std::vector<Record>& batch, Backoff& backoff);
};

void TailRole::Impl::register_metrics(Registry& m) {
  read_records = &m.counter_family("tender_tail_read_records_total",
                                   "Records read, per file (the name it was first seen under) "
                                   "and sink",
                                   {"file", "sink"});
  read_bytes = &m.counter_family("tender_tail_read_bytes_total",
                                 "Bytes of files read, per file and sink", {"file", "sink"});
  sent_records =
      &m.counter_family("tender_tail_sent_records_total",
                        "Records the sink acknowledged, per file and sink", {"file", "sink"});
  sent_bytes = &m.counter_family("tender_tail_sent_bytes_total",
                                 "Bytes of files the sink acknowledged, per file and sink",
                                 {"file", "sink"});
  lag_gauge = &m.gauge_family("tender_tail_lag_bytes",
                              "Bytes of a file not yet acknowledged and committed, summed over "
                              "sinks and over its rotated predecessors",
                              {"file"});
  auto& errors = m.counter_family("tender_tail_sink_errors_total",
                                  "Batches a sink failed to acknowledge", {"sink"});
  auto& retries = m.counter_family("tender_tail_sink_retries_total",
                                   "Batches written again after a failure", {"sink"});
  auto& batches =
      m.counter_family("tender_tail_sink_batches_total", "Batches a sink acknowledged", {"sink"});
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    const std::string& name = cfg.sinks[s].name;
    sinks[s]->errors = &errors.with({name});
    sinks[s]->retries = &retries.with({name});
    sinks[s]->batches = &batches.with({name});
  }
  auto& buffer =
      m.gauge_family("tender_tail_buffer_bytes",
                     "Bytes held in memory for a sink: its batch and partial records", {"sink"});
  auto& limit = m.gauge_family("tender_tail_buffer_limit_bytes",
                               "The most bytes of records a sink's batch holds", {"sink"});
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    limit.with({cfg.sinks[s].name}).set(static_cast<double>(cfg.sinks[s].batch_bytes));
  }
  auto counter = [&](const char* name, const char* help, std::uint64_t TailCounters::*field) {
    m.counter_callback(name, help, [this, field] {
      std::lock_guard lock(status_mutex);
      return static_cast<double>(counters.*field);
    });
  };
  counter("tender_tail_files_discovered_total", "Files found and followed",
          &TailCounters::files_discovered);
  counter("tender_tail_files_released_total", "Files read to their end, shipped and let go",
          &TailCounters::files_released);
  counter("tender_tail_rotations_total", "Followed files renamed away or deleted",
          &TailCounters::rotations);
  counter("tender_tail_truncations_total", "Followed files truncated or rewritten in place",
          &TailCounters::truncations);
  counter("tender_tail_copies_followed_total",
          "Truncations whose unread rest was read from the file's copy",
          &TailCounters::copies_followed);
  counter("tender_tail_lost_bytes_total",
          "Unread bytes of files truncated with no copy, or of checkpointed files not found "
          "again",
          &TailCounters::lost_bytes);
  counter("tender_tail_dropped_bytes_total",
          "Unread bytes of deleted files let go at max_held_bytes", &TailCounters::dropped_bytes);
  counter("tender_tail_files_gone_total", "Checkpointed files not found again after a restart",
          &TailCounters::files_gone);
  counter("tender_tail_cut_records_total", "Records longer than max_record_bytes, shipped cut",
          &TailCounters::cut_records);
  counter("tender_tail_cut_bytes_total", "Bytes the cut records left out",
          &TailCounters::cut_bytes);
  counter("tender_tail_parse_errors_total", "Records that did not parse, shipped raw",
          &TailCounters::parse_errors);
  counter("tender_tail_files_refused_total", "New files not followed at max_files",
          &TailCounters::files_refused);
  m.gauge_callback("tender_tail_files", "Files followed now, rotated ones included", [this] {
    std::lock_guard lock(status_mutex);
    return static_cast<double>(followed);
  });
  m.counter_callback(
      "tender_tail_checkpoint_commits_total", "Checkpoint transactions committed",
      [this] { return checkpoint ? static_cast<double>(checkpoint->commits()) : 0.0; });
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    sinks[s]->buffer = &buffer.with({cfg.sinks[s].name});
  }
}

void TailRole::Impl::publish() {
  auto lag_now = files->lag_by_origin();
  {
    std::lock_guard lock(status_mutex);
    counters = files->counters();
    followed = files->size();
    for (auto& [origin, bytes] : lag) {
      if (!lag_now.contains(origin)) {
        lag_gauge->with({origin}).set(0);
      }
    }
    for (const auto& [origin, bytes] : lag_now) {
      lag_gauge->with({origin}).set(static_cast<double>(bytes));
    }
    lag = std::move(lag_now);
  }
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    sinks[s]->buffer->set(
        static_cast<double>(sinks[s]->buffer_bytes.load() + files->held_bytes(s)));
  }
}

void TailRole::Impl::notify_all() {
  for (auto& st : sinks) {
    st->notified = true;
    st->wake.cancel();
  }
}

asio::awaitable<void> TailRole::Impl::wait_for_data(SinkState& st) {
  if (std::exchange(st.notified, false)) {
    co_return;
  }
  auto until = std::chrono::steady_clock::now() + kIdleLook;
  if (auto due = files->next_due(); due && *due < until) {
    until = *due;
  }
  st.wake.expires_at(until);
  boost::system::error_code ec;
  co_await st.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  st.notified = false;
}

// Not a coroutine: the ops travel as an argument of the initiation, never in a coroutine frame.
asio::awaitable<Result<>> TailRole::Impl::commit(std::vector<FileOp> ops) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<>)>(
      [this](auto handler, std::vector<FileOp> writes) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto queued = checkpoint->submit(std::move(writes), [this, h](Result<> r) {
          asio::post(ioc, [h, r]() mutable { (*h)(r); });
        });
        if (!queued) {
          asio::post(ioc, [h, r = Result<>(queued.error())]() mutable { (*h)(r); });
        }
      },
      asio::use_awaitable, std::move(ops));
}

asio::awaitable<void> TailRole::Impl::commit_after(std::size_t s, std::vector<FileOp> ops) {
  SinkState& st = *sinks[s];
  auto done = co_await commit(ops);
  if (!done) {
    log::error("checkpoint commit failed: these records may be sent again after a restart",
               {{"sink", cfg.sinks[s].name}, {"error", done.error().message()}});
  } else {
    files->committed(s, ops);
  }
  --st.commits_in_flight;
  publish();
  st.commit_done.cancel();
}

// Until fewer than `limit` of the sink's commits are queued (or tail stops).
asio::awaitable<void> TailRole::Impl::commits_below(SinkState& st, int limit) {
  while (st.commits_in_flight >= limit && !stopping) {
    st.commit_done.expires_after(std::chrono::hours(1));
    boost::system::error_code ec;
    co_await st.commit_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// Writes `batch` until the sink acknowledges it, with backoff between tries; false when tail
// stops first (the batch is not committed: sent again after a restart).
asio::awaitable<bool> TailRole::Impl::deliver(std::size_t s, const std::vector<Record>& batch,
                                              Backoff& backoff) {
  SinkState& st = *sinks[s];
  const SinkConfig& sc = cfg.sinks[s];
  for (;;) {
    auto written = co_await st.sink->write(batch);
    if (written) {
      break;
    }
    st.errors->inc();
    std::uint64_t failures = ++st.consecutive_failures;
    publish();  // the lag grows while the sink is down: show it
    {
      std::lock_guard lock(status_mutex);
      st.last_error = written.error().message();
    }
    if (failures == 1 || failures % 100 == 0) {
      log::warn("sink write failed; retrying with backoff (reading pauses meanwhile)",
                {{"sink", sc.name},
                 {"error", written.error().message()},
                 {"failures", static_cast<std::int64_t>(failures)}});
    }
    if (stopping) {
      co_return false;
    }
    st.retries->inc();
    st.pause.expires_after(backoff.next());
    boost::system::error_code ec;
    co_await st.pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) {
      co_return false;
    }
  }
  if (st.consecutive_failures.exchange(0) > 0) {
    log::info("sink delivering again", {{"sink", sc.name}});
  }
  backoff.reset();
  st.batches->inc();
  co_return true;
}

asio::awaitable<void> TailRole::Impl::pipeline(std::size_t s) {
  SinkState& st = *sinks[s];
  const SinkConfig& sc = cfg.sinks[s];
  Backoff backoff(cfg.retry, system_clock());
  std::vector<Record> batch;
  bool busy = false;
  while (!stopping && !draining) {
    batch.clear();
    files->read(s, sc.batch_records, sc.batch_bytes, batch);
    if (batch.empty()) {
      if (std::exchange(busy, false)) {
        // Caught up after a burst: give the batches' memory back to the system, so a
        // sidecar's resident size is what it follows, not the largest burst it has seen.
        batch.shrink_to_fit();
        ::malloc_trim(0);
      }
      publish();
      co_await wait_for_data(st);
      continue;
    }
    busy = true;
    std::uint64_t bytes = 0;
    for (const Record& r : batch) {
      bytes += r.text.size();
    }
    st.buffer_bytes = bytes;
    st.in_flight_records = batch.size();
    if (!co_await deliver(s, batch, backoff)) {
      co_return;
    }
    // The commit runs while the next batches are read and written; it publishes the state.
    co_await commits_below(st, kCommitsInFlight);
    ++st.commits_in_flight;
    asio::co_spawn(ioc, commit_after(s, files->acknowledged(s, batch)), asio::detached);
    st.buffer_bytes = 0;
    st.in_flight_records = 0;
  }
  co_await commits_below(st, 1);
  --pipelines_left;
}

TailRole::TailRole(TailConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

TailRole::~TailRole() { stop(); }

void TailRole::start(Runtime& runtime) {
  Impl& m = *impl_;
  auto cp = Checkpoint::open(m.cfg.checkpoint);
  if (!cp) {
    throw ConfigError(m.cfg.checkpoint, 0, "checkpoint", cp.error().message());
  }
  m.checkpoint.emplace(std::move(*cp));
  for (const SinkConfig& sc : m.cfg.sinks) {
    auto st = std::make_unique<SinkState>(m.ioc);
    st->sink = make_sink(sc, m.ioc.get_executor());
    m.sinks.push_back(std::move(st));
  }
  m.register_metrics(runtime.metrics());
  auto watch = FileWatch::create({.rescan_interval = m.cfg.rescan});
  if (!watch) {
    throw std::runtime_error("inotify: " + watch.error().message());
  }
  m.watch.emplace(std::move(*watch));
  for (const Input& in : m.cfg.inputs) {
    for (const Glob& g : in.paths) {
      if (auto added = m.watch->add(g.dir, g.pattern); !added) {
        throw ConfigError(m.cfg.path.empty() ? "--path" : m.cfg.path, 0, "paths",
                          g.text + ": " + added.error().message());
      }
    }
  }
  m.files = std::make_unique<TailFiles>(m.cfg, *m.checkpoint, system_clock());
  m.files->set_meters(
      [&m](const std::string& origin, std::size_t s, std::uint64_t records, std::uint64_t bytes) {
        m.read_records->with({origin, m.cfg.sinks[s].name}).inc(records);
        m.read_bytes->with({origin, m.cfg.sinks[s].name}).inc(bytes);
      },
      [&m](const std::string& origin, std::size_t s, std::uint64_t records, std::uint64_t bytes) {
        m.sent_records->with({origin, m.cfg.sinks[s].name}).inc(records);
        m.sent_bytes->with({origin, m.cfg.sinks[s].name}).inc(bytes);
      });
  m.files->recover(m.watch->snapshot());
  m.publish();
  m.async_watch =
      std::make_unique<AsyncFileWatch>(m.ioc, *m.watch, [&m](const std::vector<FileEvent>&) {
        m.files->reconcile(m.watch->snapshot());
        m.notify_all();
      });
  m.pipelines_left = static_cast<int>(m.sinks.size());
  for (std::size_t s = 0; s < m.sinks.size(); ++s) {
    asio::co_spawn(m.ioc, m.pipeline(s), [](const std::exception_ptr& e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("tail pipeline failed", {{"error", ex.what()}});
        }
      }
    });
  }
  m.thread = std::thread([&m] { m.ioc.run(); });
}

void TailRole::drain() {
  Impl& m = *impl_;
  if (m.draining.exchange(true) || !m.thread.joinable()) {
    return;
  }
  asio::post(m.ioc, [&m] { m.notify_all(); });
}

bool TailRole::drained() const { return impl_->pipelines_left.load() == 0; }

void TailRole::stop() {
  Impl& m = *impl_;
  if (m.stopping.exchange(true)) {
    return;
  }
  if (m.thread.joinable()) {
    asio::post(m.ioc, [&m] {
      if (m.async_watch) {
        m.async_watch->stop();
      }
      for (auto& st : m.sinks) {
        st->wake.cancel();
        st->pause.cancel();
        st->commit_done.cancel();
      }
    });
    m.ioc.stop();  // a write in flight is abandoned: not committed, sent again after a restart
    m.thread.join();
  }
  if (m.checkpoint) {
    m.checkpoint->stop();
  }
}

boost::json::object TailRole::status() const {
  const Impl& m = *impl_;
  boost::json::object o;
  if (!m.thread.joinable() || m.stopping) {
    return o;
  }
  // The files' state lives on the I/O thread: asked there.
  auto live = std::make_shared<std::promise<boost::json::object>>();
  auto got = live->get_future();
  asio::post(const_cast<asio::io_context&>(m.ioc), [&m, live] {
    boost::json::object now;
    now["files"] = m.files->status();
    boost::json::array sinks;
    for (const auto& st : m.sinks) {
      sinks.emplace_back(st->sink->status());
    }
    now["sinks"] = std::move(sinks);
    live->set_value(std::move(now));
  });
  boost::json::object io;
  if (got.wait_for(std::chrono::seconds(2)) == std::future_status::ready) {
    io = got.get();
    o["files"] = std::move(io["files"]);
  } else {
    o["files"] = "busy: the I/O thread did not answer within 2s";
  }
  boost::json::array sinks;
  std::lock_guard lock(m.status_mutex);
  for (std::size_t s = 0; s < m.sinks.size(); ++s) {
    const SinkState& st = *m.sinks[s];
    boost::json::object j;
    if (auto* own = io.if_contains("sinks"); own != nullptr && own->is_array() &&
                                             s < own->as_array().size() &&
                                             own->as_array()[s].is_object()) {
      j = own->as_array()[s].as_object();
    }
    j["name"] = m.cfg.sinks[s].name;
    j["in_flight_records"] = st.in_flight_records.load();
    j["batch_bytes"] = st.buffer_bytes.load();
    j["consecutive_failures"] = st.consecutive_failures.load();
    j["last_error"] = st.last_error;
    sinks.emplace_back(std::move(j));
  }
  o["sinks"] = std::move(sinks);
  o["lost_bytes"] = m.counters.lost_bytes;
  o["dropped_bytes"] = m.counters.dropped_bytes;
  o["checkpoint"] = m.cfg.checkpoint;
  return o;
}

boost::json::object TailRole::config() const { return impl_->cfg.json(); }

}  // namespace tender::sidecar

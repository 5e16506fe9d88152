#include "election/file_backend.hpp"

// The file backend. Every access to the record is made under flock on the file itself, taken
// without blocking and retried every millisecond for a bounded time, so a process paused inside
// its critical section (SIGSTOP) never blocks the elector's thread: the round fails, is reported
// through contact(false, ...) and retried with backoff. Followers learn of changes through an
// inotify watch (a resign wakes them at once), a timer at the holder's expiry, and a re-read
// every renew_every as the safety net.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "core/asio_util.hpp"
#include "core/backoff.hpp"
#include "core/fd.hpp"
#include "core/file_watch.hpp"
#include "core/file_watch_asio.hpp"
#include "core/log.hpp"
#include "election/file_record.hpp"

namespace tender::election {

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr milliseconds kLockPoll{1};       // between two tries of a busy lock
constexpr milliseconds kLockPatience{50};  // how long a round waits for a busy lock
constexpr milliseconds kAfterExpiry{1};    // a follower tries this long after the expiry

// Whether the awaiting coroutine was cancelled. Read with `co_await
// asio::this_coro::cancellation_state`, never through a nested awaitable: co_await-ing one once
// cancelled throws.
bool cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

// This boot's id: a record written under another boot has a meaningless steady-clock expiry.
// Fails if /proc/sys/kernel/random/boot_id cannot be read.
Result<std::string> read_boot_id() {
  constexpr const char* kPath = "/proc/sys/kernel/random/boot_id";
  std::ifstream in(kPath);
  std::string id;
  if (!in || !std::getline(in, id) || id.empty()) {
    return Error(std::errc::io_error, std::string("cannot read ") + kPath);
  }
  return Result<std::string>(boost::system::in_place_value, std::move(id));
}

// 128 random bits in hex: tells this backend instance from another with the same --id.
std::string make_nonce() {
  std::random_device device;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(device()));
    out += buf;
  }
  return out;
}

// Releases a flock when it goes out of scope.
class FlockGuard {
 public:
  explicit FlockGuard(int fd) : fd_(fd) {}
  ~FlockGuard() { ::flock(fd_, LOCK_UN); }
  FlockGuard(const FlockGuard&) = delete;
  FlockGuard& operator=(const FlockGuard&) = delete;

 private:
  int fd_;
};

// The record's content: the whole file, up to one byte past what a record may hold.
// Fails with pread's errno.
Result<std::string> read_all(int fd, const std::string& path) {
  std::string text(kMaxRecordBytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::from_errno(errno, "cannot read " + path);
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

// Moves the file's mtime on by a nanosecond if a write left it where it was. Followers' file
// watches see a change as a new size or mtime; a record mostly keeps its size (padding), and the
// kernel stamps mtimes from a coarse clock (a tick of some milliseconds), so a write close
// behind the previous one could look like none. Best effort: the periodic re-read still sees it.
void make_change_visible(int fd, const struct stat& before) {
  struct stat after {};
  if (::fstat(fd, &after) != 0 || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
      after.st_mtim.tv_nsec != before.st_mtim.tv_nsec) {
    return;
  }
  timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
  if (++times[1].tv_nsec == 1'000'000'000) {
    times[1].tv_nsec = 0;
    ++times[1].tv_sec;
  }
  ::futimens(fd, times);
}

// Writes `text` over the file's first bytes, padded with blank lines to `old_size` (so a
// writer killed before its truncation leaves a readable record), then truncates to that.
// Fails with pwrite's or ftruncate's errno.
Result<> write_all(int fd, std::string text, std::size_t old_size, const std::string& path) {
  if (text.size() < old_size) {
    text.append(old_size - text.size(), '\n');
  }
  struct stat before {};
  bool stamped = ::fstat(fd, &before) == 0;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::from_errno(errno, "cannot write " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
    return Error::from_errno(errno, "cannot truncate " + path);
  }
  if (stamped) {
    make_change_visible(fd, before);
  }
  return {};
}

class FileBackend final : public Backend {
 public:
  FileBackend(std::string path, const BackendOptions& options, asio::io_context& ioc)
      : path_(std::move(path)),
        options_(options),
        renew_every_(options.renew_every.count() > 0 ? options.renew_every : options.ttl / 3),
        ioc_(ioc),
        instance_(make_nonce()),
        wake_(ioc),
        lock_timer_(ioc) {
    if (renew_every_.count() <= 0) {
      renew_every_ = milliseconds(1);
    }
    if (auto boot = read_boot_id()) {
      boot_ = std::move(*boot);
    } else {
      setup_error_ = boot.error();
    }
    for (auto [name, what] :
         {std::pair{&options_.id, "--id"}, {&options_.election, "--election"}}) {
      if (auto ok = check_record_name(*name, what); !ok && !setup_error_) {
        setup_error_ = ok.error();
      }
    }
  }

  asio::awaitable<void> run(BackendSink& sink) override;
  void resign(Resign how) override;
  [[nodiscard]] boost::json::object status() const override;

 private:
  struct Pending {  // a resigned term whose record is still to be cleared
    std::uint64_t token = 0;
    SteadyTime expires;
  };

  [[nodiscard]] SteadyTime now() const { return options_.clock->now(); }
  void poke() {
    poked_ = true;
    wake_.cancel();
  }
  void start_watch(std::optional<FileWatch>& watch, std::unique_ptr<AsyncFileWatch>& async);
  void take_resign_request(SteadyTime now);
  [[nodiscard]] bool standing(SteadyTime now) const {
    return !leaving_ && (standing_ || now >= rejoin_at_);
  }
  void report_contact(bool ok, std::string_view why);

  [[nodiscard]] Result<> open_file();
  [[nodiscard]] asio::awaitable<Result<>> lock(int how);
  [[nodiscard]] asio::awaitable<Result<SteadyTime>> round(SteadyTime sent_at);
  [[nodiscard]] Result<FileRecord> read_record();
  [[nodiscard]] Result<> write_record(const FileRecord& record, bool durable);
  [[nodiscard]] Result<> update(FileRecord record, SteadyTime sent_at);
  void note(const FileRecord& record, SteadyTime now);
  [[nodiscard]] Result<> check_boot(const FileRecord& record) const;
  [[nodiscard]] SteadyTime next_wake(SteadyTime sent_at) const;
  [[nodiscard]] asio::awaitable<bool> sleep_until(SteadyTime at);

  std::string path_;
  BackendOptions options_;
  milliseconds renew_every_;
  asio::io_context& ioc_;
  std::string instance_;
  std::string boot_;
  std::optional<Error> setup_error_;  // a bad --id or election name, or no boot id

  Fd fd_;
  FileId fd_id_;
  std::size_t file_size_ = 0;  // as last read
  asio::steady_timer wake_;
  asio::steady_timer lock_timer_;
  bool poked_ = false;
  BackendSink* sink_ = nullptr;

  std::uint64_t token_ = 0;  // the term this instance holds and has reported held()
  std::uint64_t seen_ = 0;   // the highest token read or written
  SteadyTime expires_;       // its claim's end as last written
  SteadyTime next_renew_;
  std::optional<Pending> to_clear_;
  std::optional<Resign> resign_;  // asked for, not yet acted on
  bool leaving_ = false;
  bool standing_ = true;  // false after kRejoin until another leader is seen or rejoin_at_
  SteadyTime rejoin_at_;

  // Boot ids whose records this instance took over: seen again, they are another machine's.
  std::set<std::string> gone_boots_;

  std::optional<FileRecord> last_record_;
  std::optional<Observed> last_observed_;
  std::optional<bool> contact_ok_;
  std::string last_error_;
};

void FileBackend::resign(Resign how) {
  if (!resign_ || how == Resign::kLeave) {
    resign_ = how;
  }
  poke();
}

// Acts on a resign request: the held term is reported lost at once (before its record is
// cleared, so this replica stops acting before another can take over).
void FileBackend::take_resign_request(SteadyTime now) {
  if (!resign_) {
    return;
  }
  if (token_ != 0) {
    to_clear_ = Pending{token_, expires_};
    std::uint64_t token = std::exchange(token_, 0);
    sink_->lost(token, "resigned");
  }
  if (*resign_ == Resign::kLeave) {
    leaving_ = true;
  } else {
    standing_ = false;
    rejoin_at_ = now + options_.ttl;
  }
  resign_.reset();
}

void FileBackend::report_contact(bool ok, std::string_view why) {
  if (ok) {
    last_error_.clear();
    if (contact_ok_ != true) {
      contact_ok_ = true;
      sink_->contact(true, "");
    }
    return;
  }
  contact_ok_ = false;
  last_error_ = std::string(why);
  sink_->contact(false, why);
}

void FileBackend::start_watch(std::optional<FileWatch>& watch,
                              std::unique_ptr<AsyncFileWatch>& async) {
  auto created = FileWatch::create(
      {.rescan_interval = std::max(options_.ttl, milliseconds(1000)), .clock = options_.clock});
  if (!created) {
    log::warn("election: cannot watch the lock file; re-reading it every renew interval",
              {{"path", path_}, {"error", created.error().message()}});
    return;
  }
  watch.emplace(std::move(*created));
  if (auto added = watch->add_file(path_); !added) {
    log::warn("election: cannot watch the lock file; re-reading it every renew interval",
              {{"path", path_}, {"error", added.error().message()}});
    return;
  }
  try {
    async = std::make_unique<AsyncFileWatch>(
        ioc_, *watch, [this](const std::vector<FileEvent>& /*events*/) { poke(); });
  } catch (const std::system_error& e) {
    log::warn("election: cannot watch the lock file; re-reading it every renew interval",
              {{"path", path_}, {"error", e.what()}});
  }
}

// Waits until `at` (by the options' clock) or a poke. False once run() is cancelled.
asio::awaitable<bool> FileBackend::sleep_until(SteadyTime at) {
  if (!poked_) {
    auto delay = at - now();
    if (delay.count() > 0) {
      wake_.expires_after(delay);
      co_await wake_.async_wait(kTuple);
    }
  }
  poked_ = false;
  co_return !cancelled(co_await asio::this_coro::cancellation_state);
}

asio::awaitable<void> FileBackend::run(BackendSink& sink) {
  sink_ = &sink;
  std::optional<FileWatch> watch;
  std::unique_ptr<AsyncFileWatch> async_watch;  // declared after `watch`: stops first
  start_watch(watch, async_watch);
  BackoffPolicy policy{.initial = milliseconds(10),
                       .max = std::max(renew_every_, milliseconds(100)),
                       .multiplier = 2.0,
                       .jitter = 0.2,
                       .reset_after = std::nullopt};
  Backoff backoff(policy, *options_.clock);
  for (;;) {
    SteadyTime sent_at = now();  // before the lock: a renewal's term counts from here
    take_resign_request(sent_at);
    if (to_clear_ && sent_at >= to_clear_->expires) {
      to_clear_.reset();  // its claim has lapsed by itself
    }
    if (leaving_ && !to_clear_) {
      co_return;
    }
    auto next = co_await round(sent_at);
    if (cancelled(co_await asio::this_coro::cancellation_state)) {
      co_return;
    }
    SteadyTime wake_at;
    if (next) {
      report_contact(true, "");
      backoff.reset();
      wake_at = *next;
    } else {
      report_contact(false, next.error().message());
      wake_at = now() + backoff.next();
    }
    if (!co_await sleep_until(wake_at)) {
      co_return;
    }
  }
}

// Opens the file (creating it), again if the name now holds another file. Fails with open's
// or stat's errno.
Result<> FileBackend::open_file() {
  struct stat st {};
  if (fd_ && ::stat(path_.c_str(), &st) == 0 &&
      FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)} ==
          fd_id_) {
    return {};
  }
  Fd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    int err = errno;
    std::string context = "cannot open " + path_;
    if (err == ENOENT) {
      context += " (its directory must exist)";
    }
    return Error::from_errno(err, context);
  }
  if (::fstat(fd.get(), &st) != 0) {
    return Error::from_errno(errno, "cannot stat " + path_);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error(std::errc::invalid_argument, path_ + " is not a regular file");
  }
  fd_ = std::move(fd);
  fd_id_ = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  return {};
}

// Takes flock `how` (LOCK_SH or LOCK_EX) on the file without ever blocking the thread: tried
// every kLockPoll for kLockPatience. Fails with errc::resource_unavailable_try_again while
// another process holds it, operation_canceled when run() is cancelled, or flock's errno.
asio::awaitable<Result<>> FileBackend::lock(int how) {
  auto deadline = std::chrono::steady_clock::now() + kLockPatience;
  for (;;) {
    if (::flock(fd_.get(), how | LOCK_NB) == 0) {
      co_return Result<>{};
    }
    int err = errno;
    if (err == EINTR) {
      continue;
    }
    if (err != EWOULDBLOCK) {
      co_return Error::from_errno(err, "cannot lock " + path_);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return Error(std::errc::resource_unavailable_try_again,
                      path_ + ": lock held by another process");
    }
    lock_timer_.expires_after(kLockPoll);
    co_await lock_timer_.async_wait(kTuple);
    if (cancelled(co_await asio::this_coro::cancellation_state)) {
      co_return Error(std::errc::operation_canceled, "cancelled");
    }
  }
}

Result<FileRecord> FileBackend::read_record() {
  auto text = read_all(fd_.get(), path_);
  if (!text) {
    return text.error();
  }
  file_size_ = text->size();
  auto record = parse_record(*text, options_.election, path_);
  if (record) {
    last_record_ = *record;
    seen_ = std::max(seen_, record->token);
  }
  return record;
}

// Writes `record`; with `durable`, fdatasync before returning (a new term's token must
// survive a crash of the machine). Fails as write_all, or with fdatasync's errno.
Result<> FileBackend::write_record(const FileRecord& record, bool durable) {
  auto text = format_record(record);
  if (!text) {
    return text.error();
  }
  if (auto written = write_all(fd_.get(), std::move(*text), file_size_, path_); !written) {
    return written;
  }
  if (durable && ::fdatasync(fd_.get()) != 0) {
    return Error::from_errno(errno, "cannot sync " + path_);
  }
  last_record_ = record;
  seen_ = std::max(seen_, record.token);
  return {};
}

// What a read of `record` tells: whether this instance's term was taken over, whether another
// leader now stands (ending a kRejoin pause), and who leads.
void FileBackend::note(const FileRecord& record, SteadyTime now) {
  if (token_ != 0 && !holds(record, instance_, token_)) {
    std::string by = record.holder.empty() ? "nobody (the record was cleared)" : record.holder;
    std::uint64_t token = std::exchange(token_, 0);
    sink_->lost(token, "taken over by " + by);
  }
  Observed seen = observe(record, now, boot_);
  if (!standing_ && !seen.name.empty() && record.instance != instance_) {
    standing_ = true;
  }
  if (last_observed_ != seen) {
    last_observed_ = seen;
    sink_->observed(seen);
  }
}

// A record of another boot is taken over at once, as its holder died with that boot; but one
// whose boot id comes back after that was written by another machine sharing the volume, which
// this backend cannot arbitrate (its expiries are on this machine's clock). Fails with
// errc::operation_not_supported then, so it is reported and nothing is taken.
Result<> FileBackend::check_boot(const FileRecord& record) const {
  if (record.boot == boot_ || !gone_boots_.contains(record.boot)) {
    return {};
  }
  return Error(std::errc::operation_not_supported,
               path_ + " is written from another machine too (boot id " + record.boot +
                   " came back after its record was taken over): the file backend works on " +
                   "one machine only; use etcd");
}

// Under the exclusive lock: clears a resigned term, then takes, renews or waits.
Result<> FileBackend::update(FileRecord record, SteadyTime sent_at) {
  if (to_clear_) {
    if (holds(record, instance_, to_clear_->token)) {
      record = released(std::move(record));
      if (auto written = write_record(record, false); !written) {
        return written;
      }
    }
    to_clear_.reset();
  }
  note(record, sent_at);
  if (auto alive = check_boot(record); !alive) {
    return alive;
  }
  if (!standing(sent_at)) {
    return {};
  }
  Candidate me{
      .id = options_.id, .instance = instance_, .boot = boot_, .token = token_, .seen = seen_};
  Decision d = decide(record, me, sent_at, options_.ttl);
  if (d.action == Action::kWait) {
    return {};
  }
  if (d.action == Action::kTake && !record.boot.empty() && record.boot != boot_) {
    gone_boots_.insert(record.boot);
  }
  if (d.action == Action::kTake && token_ != 0) {
    sink_->lost(std::exchange(token_, 0), "its claim expired before it could be renewed");
  }
  if (auto written = write_record(d.next, d.action == Action::kTake); !written) {
    return written;
  }
  token_ = d.next.token;
  expires_ = d.next.expires();
  next_renew_ = sent_at + renew_every_;
  sink_->held(token_, sent_at);
  if (d.action == Action::kRenew) {
    sink_->renewed_in(now() - sent_at);
  }
  note(d.next, sent_at);
  return {};
}

// One look at the record, read under a shared lock, and under an exclusive one if something is
// to be written. Returns when to look next.
asio::awaitable<Result<SteadyTime>> FileBackend::round(SteadyTime sent_at) {
  if (setup_error_) {
    co_return *setup_error_;
  }
  if (auto opened = open_file(); !opened) {
    co_return opened.error();
  }
  bool exclusive = to_clear_ || (token_ != 0 && sent_at >= next_renew_);
  if (!exclusive) {
    if (auto locked = co_await lock(LOCK_SH); !locked) {
      co_return locked.error();
    }
    FlockGuard guard(fd_.get());
    auto record = read_record();
    if (!record) {
      co_return record.error();
    }
    note(*record, sent_at);
    if (auto alive = check_boot(*record); !alive) {
      co_return alive.error();
    }
    Candidate me{
        .id = options_.id, .instance = instance_, .boot = boot_, .token = token_, .seen = seen_};
    exclusive = token_ == 0 && standing(sent_at) &&
                decide(*record, me, sent_at, options_.ttl).action != Action::kWait;
  }
  if (exclusive) {
    if (auto locked = co_await lock(LOCK_EX); !locked) {
      co_return locked.error();
    }
    FlockGuard guard(fd_.get());
    take_resign_request(sent_at);  // one may have come while the lock was busy
    auto record = read_record();
    if (!record) {
      co_return record.error();
    }
    if (auto updated = update(std::move(*record), sent_at); !updated) {
      co_return updated.error();
    }
  }
  co_return next_wake(sent_at);
}

// When to look again: the holder at its next renewal; a follower at the leader's expiry, at the
// end of a kRejoin pause, or one renew interval on (the safety net), whichever comes first.
SteadyTime FileBackend::next_wake(SteadyTime sent_at) const {
  if (token_ != 0) {
    return next_renew_;
  }
  SteadyTime at = sent_at + renew_every_;
  if (last_observed_ && last_observed_->expires) {
    at = std::min(at, *last_observed_->expires + kAfterExpiry);
  }
  if (!leaving_ && !standing_) {
    at = std::min(at, rejoin_at_);
  }
  return at;
}

boost::json::object FileBackend::status() const {
  boost::json::object out;
  out["backend"] = "file";
  out["path"] = path_;
  out["instance"] = instance_;
  std::uint64_t token = last_record_ ? last_record_->token : 0;
  out["token"] = token;
  out["holder"] = last_observed_ ? last_observed_->name : std::string();
  std::int64_t left_ms = 0;
  if (last_observed_ && last_observed_->expires) {
    left_ms = std::chrono::duration_cast<milliseconds>(*last_observed_->expires - now()).count();
  }
  out["expires_in_ms"] = std::max<std::int64_t>(left_ms, 0);
  out["held_token"] = token_;
  if (!last_error_.empty()) {
    out["error"] = last_error_;
  }
  return out;
}

}  // namespace

std::unique_ptr<Backend> make_file_backend(std::string path, const BackendOptions& options,
                                           boost::asio::io_context& ioc) {
  return std::make_unique<FileBackend>(std::move(path), options, ioc);
}

}  // namespace tender::election

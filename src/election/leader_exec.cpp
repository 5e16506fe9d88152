#include "election/leader_exec.hpp"

#include <csignal>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/asio_util.hpp"
#include "core/log.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX

namespace tender::election {

namespace asio = boost::asio;

namespace {}  // namespace

struct LeaderExec::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, ExecOptions o, std::function<void(const ExitStatus&)> cb)
      : ioc(io), options(std::move(o)), on_exit(std::move(cb)), kill_timer(io), idle(io) {}

  asio::io_context& ioc;
  ExecOptions options;
  std::function<void(const ExitStatus&)> on_exit;
  std::unique_ptr<Process> child;
  std::unique_ptr<asio::posix::stream_descriptor> exit_fd;
  asio::steady_timer kill_timer;
  asio::steady_timer idle;  // woken (cancelled) when the child is gone
  bool stopping = false;
  std::uint64_t token = 0;
  std::uint64_t starts = 0;

  void watch_exit();
  void exited();
};

void LeaderExec::Impl::watch_exit() {
  int fd = child->pidfd();
  if (fd < 0) {
    return;  // no pidfd (kernel < 5.3): exits are found by the polling in stopped()
  }
  exit_fd = std::make_unique<asio::posix::stream_descriptor>(ioc, fd);
  exit_fd->async_wait(asio::posix::descriptor_base::wait_read,
                      [self = shared_from_this(), p = child.get()](boost::system::error_code ec) {
                        if (!ec && self->child.get() == p) {
                          self->exited();
                        }
                      });
}

void LeaderExec::Impl::exited() {
  ExitStatus status = child->wait();
  (void)child->kill_group(SIGKILL);  // whatever it left in its group goes with it
  if (exit_fd) {
    (void)exit_fd->release();  // the pidfd is the Process's own
    exit_fd.reset();
  }
  child.reset();
  kill_timer.cancel();
  idle.cancel();
  bool asked = std::exchange(stopping, false);
  log::info("leader command ended", {{"status", status.describe()},
                                     {"token", static_cast<std::int64_t>(token)},
                                     {"stopped", asked}});
  if (!asked && on_exit) {
    on_exit(status);
  }
}

LeaderExec::LeaderExec(asio::io_context& ioc, ExecOptions options,
                       std::function<void(const ExitStatus&)> on_exit)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), std::move(on_exit))) {}

LeaderExec::~LeaderExec() {
  if (impl_->child) {
    (void)impl_->child->kill_group(SIGKILL);
    if (impl_->exit_fd) {
      (void)impl_->exit_fd->release();
    }
    impl_->child.reset();  // reaps
  }
}

Result<> LeaderExec::start(std::uint64_t token, std::vector<std::string> env) {
  Impl& m = *impl_;
  if (m.options.argv.empty()) {
    return {};
  }
  if (m.child) {
    return Error(std::errc::device_or_resource_busy, "the leader command still runs");
  }
  SpawnOptions spawn;
  spawn.argv = m.options.argv;
  std::vector<std::string> all;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    all.emplace_back(*e);
  }
  all.push_back("TENDER_ELECT_TOKEN=" + std::to_string(token));
  for (auto& kv : env) {
    all.push_back(std::move(kv));
  }
  spawn.env = std::move(all);
  spawn.new_process_group = true;
  auto process = Process::spawn(spawn);
  if (!process) {
    return Error(process.error(), m.options.argv[0] + ": " + process.error().message());
  }
  m.child = std::make_unique<Process>(std::move(*process));
  m.token = token;
  ++m.starts;
  m.watch_exit();
  log::info("leader command started", {{"pid", static_cast<std::int64_t>(m.child->pid())},
                                       {"token", static_cast<std::int64_t>(token)}});
  return {};
}

void LeaderExec::stop() {
  Impl& m = *impl_;
  if (!m.child || m.stopping) {
    return;
  }
  m.stopping = true;
  (void)m.child->kill_group(SIGTERM);
  m.kill_timer.expires_after(m.options.grace);
  m.kill_timer.async_wait([self = impl_](boost::system::error_code ec) {
    if (!ec && self->child) {
      log::warn("leader command outlived its grace: SIGKILL",
                {{"pid", static_cast<std::int64_t>(self->child->pid())}});
      (void)self->child->kill_group(SIGKILL);
    }
  });
}

asio::awaitable<void> LeaderExec::stopped() {
  auto self = impl_;
  while (self->child) {
    if (self->child->pidfd() < 0) {
      if (self->child->try_wait()) {
        self->exited();
        break;
      }
      self->idle.expires_after(std::chrono::milliseconds(10));
    } else {
      self->idle.expires_at(asio::steady_timer::time_point::max());
    }
    co_await self->idle.async_wait(kTuple);
  }
}

bool LeaderExec::running() const { return static_cast<bool>(impl_->child); }

std::int64_t LeaderExec::pid() const { return impl_->child ? impl_->child->pid() : 0; }

std::uint64_t LeaderExec::starts() const { return impl_->starts; }

}  // namespace tender::election

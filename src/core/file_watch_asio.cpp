#include "core/file_watch_asio.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <system_error>

#include "core/log.hpp"

namespace tender {

struct AsyncFileWatch::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& ioc, FileWatch& w, Handler h)
      : watch(w), handler(std::move(h)), fd(ioc), timer(ioc) {}

  void deliver(const std::vector<FileEvent>& events) {
    if (!stopped && !events.empty()) {
      handler(events);
    }
  }

  void arm_read() {
    fd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [self = shared_from_this()](boost::system::error_code ec) {
                    if (ec || self->stopped) {
                      return;
                    }
                    auto events = self->watch.read_events();
                    if (events) {
                      self->deliver(*events);
                    } else {
                      log::warn("file watch", {{"error", events.error().message()}});
                    }
                    self->arm_read();
                  });
  }

  void arm_timer() {
    timer.expires_after(watch.until_rescan());
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped) {
        return;
      }
      if (self->watch.until_rescan().count() == 0) {
        self->deliver(self->watch.rescan());
      }
      self->arm_timer();
    });
  }

  FileWatch& watch;
  Handler handler;
  boost::asio::posix::stream_descriptor fd;
  boost::asio::steady_timer timer;
  bool stopped = false;
};

AsyncFileWatch::AsyncFileWatch(boost::asio::io_context& ioc, FileWatch& watch, Handler on_events)
    : impl_(std::make_shared<Impl>(ioc, watch, std::move(on_events))) {
  // A duplicate, so the stream_descriptor may close its own without touching the FileWatch's.
  int dup = ::dup(watch.fd());
  if (dup < 0) {
    throw std::system_error(errno, std::generic_category(), "dup of the inotify descriptor");
  }
  impl_->fd.assign(dup);
  impl_->arm_read();
  impl_->arm_timer();
}

AsyncFileWatch::~AsyncFileWatch() { stop(); }

void AsyncFileWatch::stop() {
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->fd.cancel(ignored);
  impl_->fd.close(ignored);
  impl_->timer.cancel();
}

}  // namespace tender

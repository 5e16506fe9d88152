#pragma once
// A FileWatch (core/file_watch.hpp) driven by an io_context: inotify readiness through a
// stream_descriptor, the periodic rescan through a timer, events handed to a callback on the
// io_context's thread.
//
//   auto watch = tender::FileWatch::create();
//   ... watch->add_file("/etc/tender/endpoints.txt") ...
//   tender::AsyncFileWatch async(ioc, *watch, [](const std::vector<tender::FileEvent>& events) {
//     for (const auto& e : events) { ... reload on kModified, kReplaced, kCreated ... }
//   });
//   ioc.run();
//
// Asio stays out of this header: roles include it without paying for Asio's compile time.

#include <functional>
#include <memory>
#include <vector>

#include "core/file_watch.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender {

class AsyncFileWatch {
 public:
  using Handler = std::function<void(const std::vector<FileEvent>&)>;

  // Starts at once: `on_events` is called on `ioc`'s thread with each non-empty batch. A
  // failure to read inotify is logged as a warning and watching goes on (rescans find every
  // change). Throws std::system_error if the descriptor cannot be registered with `ioc`.
  // `watch` must outlive this object and not be used elsewhere meanwhile.
  AsyncFileWatch(boost::asio::io_context& ioc, FileWatch& watch, Handler on_events);
  // Stops; to be destroyed on `ioc`'s thread, or once `ioc` no longer runs.
  ~AsyncFileWatch();
  AsyncFileWatch(const AsyncFileWatch&) = delete;
  AsyncFileWatch& operator=(const AsyncFileWatch&) = delete;

  // No more callbacks after this returns (call it on `ioc`'s thread). Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tender

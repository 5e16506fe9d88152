#pragma once
// The runner's run directory: container logs (pods/<pod>/logs/), emptyDir volumes
// (pods/<pod>/volumes/), the pods' hosts file and partition rules. One runner at a time uses a
// run directory; runner.pid in it is locked while it does.
//
//   RunDir dir = RunDir::claim(opts.run_dir, admin_port);   // throws std::runtime_error
//   ... dir.path() + "/pods/web/logs/app.log" ...
//   dir.release();                                           // at a clean exit
//
// Without --run-dir, the directory is $TMPDIR/tender-pod-PORT (or /tmp/...), PORT the admin
// port asked for: the next run on that port takes it over and replaces the last run's logs, so
// they can be read after the runner has exited, and there is one such directory per admin port
// in use rather than one per run. With --admin HOST:0 there is no port to name it for: a new
// directory is made, and removed at a clean exit.

#include <cstdint>
#include <string>

#include "core/fd.hpp"

namespace tender::pod {

class RunDir {
 public:
  // Takes `given` (--run-dir; created if missing, kept at exit) or, when empty, the default
  // above for `admin_port`. A directory left by a runner that did not exit cleanly has its
  // leftovers removed (volumes, the hosts file, partition rules); a default directory taken
  // over also loses the last run's logs. Throws std::runtime_error when the directory cannot
  // be made, when another runner holds it, or when the default exists but is not a directory
  // of this user (another user's, or a symbolic link: a shared /tmp).
  [[nodiscard]] static RunDir claim(const std::string& given, std::uint16_t admin_port);

  RunDir() = default;
  RunDir(RunDir&&) noexcept = default;
  RunDir& operator=(RunDir&&) noexcept = default;
  // Leaves the lock file as it is: the next runner here sees that this one did not finish.
  ~RunDir() = default;

  [[nodiscard]] const std::string& path() const { return path_; }
  // Whether release() removes the directory (the default with admin port 0).
  [[nodiscard]] bool temporary() const { return temporary_; }
  // A clean exit: clears the lock file, so the next runner here has nothing to clean up, and
  // removes a temporary directory. Call once every container is gone.
  void release();

 private:
  std::string path_;
  bool temporary_ = false;
  Fd lock_;
};

}  // namespace tender::pod

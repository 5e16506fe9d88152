#include "core/file_watch.hpp"

#include <dirent.h>
#include <fnmatch.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <optional>
#include <set>

#include "core/fd.hpp"
#include "core/log.hpp"

namespace tender {
namespace {

constexpr std::uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY |
                                   IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF |
                                   IN_ONLYDIR | IN_EXCL_UNLINK;
// Events that change which names a directory holds: rescan the whole directory.
constexpr std::uint32_t kNameEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;
// Events about the directory itself going away.
constexpr std::uint32_t kSelfEvents = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT;

std::optional<FileState> stat_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  FileState s;
  s.dev = static_cast<std::uint64_t>(st.st_dev);
  s.ino = static_cast<std::uint64_t>(st.st_ino);
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

}  // namespace

std::pair<std::string, std::string> split_path(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return {".", path};
  }
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

bool glob_matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) == 0;
}

namespace {

// "a*b" -> "a\*b": a file name fnmatch takes literally.
std::string escape_glob(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

struct Dir {
  std::string path;
  std::vector<std::string> patterns;
  int wd = -1;
  bool warned_no_watch = false;
  Snapshot files;  // full path -> state, for the names matching a pattern

  [[nodiscard]] bool matches(const char* name) const {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return glob_matches(p, name); });
  }
  [[nodiscard]] std::string child(std::string_view name) const {
    return path == "/" ? "/" + std::string(name) : path + "/" + std::string(name);
  }
  // The matching regular files of the directory now; empty if it cannot be read.
  [[nodiscard]] Snapshot scan() const {
    Snapshot out;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      return out;
    }
    while (const dirent* e = ::readdir(d)) {
      if (!matches(e->d_name)) {
        continue;
      }
      std::string full = child(e->d_name);
      if (auto st = stat_file(full)) {
        out.emplace(std::move(full), *st);
      }
    }
    ::closedir(d);
    return out;
  }
};

}  // namespace

struct FileWatch::Impl {
  FileWatchOptions options;
  Fd inotify;
  std::vector<Dir> dirs;
  std::map<int, std::vector<std::size_t>> by_wd;  // one inode may be added under two paths
  std::chrono::steady_clock::time_point next_rescan;
  std::uint64_t overflows = 0;

  // Adds the inotify watch of `dirs[i]` if it has none. A missing directory stays unwatched
  // (retried at rescans); other failures are returned.
  Result<> try_watch(std::size_t i) {
    Dir& dir = dirs[i];
    if (dir.wd >= 0) {
      return {};
    }
    int wd = ::inotify_add_watch(inotify.get(), dir.path.c_str(), kDirMask);
    if (wd < 0) {
      int err = errno;
      if (err == ENOENT) {
        return {};
      }
      if (err == ENOSPC) {
        if (!dir.warned_no_watch) {
          log::warn("inotify watch limit reached: the directory is rescanned only",
                    {{"dir", dir.path}});
          dir.warned_no_watch = true;
        }
        return {};
      }
      return Error::from_errno(err, "cannot watch " + dir.path);
    }
    dir.wd = wd;
    by_wd[wd].push_back(i);
    return {};
  }

  void forget_watch(int wd) {
    auto it = by_wd.find(wd);
    if (it == by_wd.end()) {
      return;
    }
    for (std::size_t i : it->second) {
      dirs[i].wd = -1;
    }
    by_wd.erase(it);
  }

  // Rescans the directories `whole` and re-stats the single `paths` (not in those
  // directories), returning the events and keeping what was seen.
  std::vector<FileEvent> refresh(const std::set<std::size_t>& whole,
                                 const std::map<std::string, std::size_t>& paths) {
    Snapshot before;
    Snapshot after;
    std::vector<std::pair<std::size_t, Snapshot>> scanned;
    for (std::size_t i : whole) {
      before.insert(dirs[i].files.begin(), dirs[i].files.end());
      Snapshot now = dirs[i].scan();
      after.insert(now.begin(), now.end());
      scanned.emplace_back(i, std::move(now));
    }
    std::vector<std::pair<std::string, std::optional<FileState>>> stated;
    for (const auto& [path, i] : paths) {
      auto old = dirs[i].files.find(path);
      if (old != dirs[i].files.end()) {
        before.insert(*old);
      }
      auto now = stat_file(path);
      if (now) {
        after.emplace(path, *now);
      }
      stated.emplace_back(path, now);
    }
    std::vector<FileEvent> events = diff_snapshots(before, after);
    for (auto& [i, now] : scanned) {
      dirs[i].files = std::move(now);
    }
    for (auto& [path, now] : stated) {
      std::size_t i = paths.at(path);
      if (now) {
        dirs[i].files[path] = *now;
      } else {
        dirs[i].files.erase(path);
      }
    }
    return events;
  }

  std::vector<FileEvent> rescan_all() {
    std::set<std::size_t> all;
    for (std::size_t i = 0; i < dirs.size(); ++i) {
      if (auto watched = try_watch(i); !watched) {
        log::warn("cannot watch a directory: it is rescanned only",
                  {{"dir", dirs[i].path}, {"error", watched.error().message()}});
      }
      all.insert(i);
    }
    next_rescan = options.clock->now() + options.rescan_interval;
    return refresh(all, {});
  }
};

Result<FileWatch> FileWatch::create(FileWatchOptions options) {
  if (options.rescan_interval.count() <= 0 || options.clock == nullptr) {
    return Error(std::errc::invalid_argument, "file watch: rescan_interval must be positive");
  }
  Fd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) {
    return Error::from_errno(errno, "inotify_init1");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->inotify = std::move(fd);
  impl->next_rescan = options.clock->now() + options.rescan_interval;
  return FileWatch(std::move(impl));
}

FileWatch::FileWatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FileWatch::FileWatch(FileWatch&&) noexcept = default;
FileWatch& FileWatch::operator=(FileWatch&&) noexcept = default;
FileWatch::~FileWatch() = default;

Result<> FileWatch::add(const std::string& dir, const std::string& pattern) {
  if (dir.empty() || pattern.empty() || pattern.find('/') != std::string::npos) {
    return Error(std::errc::invalid_argument,
                 "file watch: expected a directory and a file-name pattern, not \"" + dir +
                     "\" and \"" + pattern + "\"");
  }
  std::string path = dir;
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  auto& dirs = impl_->dirs;
  auto it = std::find_if(dirs.begin(), dirs.end(), [&](const Dir& d) { return d.path == path; });
  bool is_new = it == dirs.end();
  std::size_t i = is_new ? dirs.size() : static_cast<std::size_t>(it - dirs.begin());
  if (is_new) {
    dirs.push_back(Dir{path, {}, -1, false, {}});
  }
  // The watch first, then the scan: a change in between is seen by both, never by neither.
  if (auto watched = impl_->try_watch(i); !watched) {
    if (is_new) {
      dirs.pop_back();
    }
    return watched;
  }
  dirs[i].patterns.push_back(pattern);
  // Files newly matched are the starting point, not events.
  for (auto& [file, st] : dirs[i].scan()) {
    dirs[i].files.try_emplace(file, st);
  }
  return {};
}

Result<> FileWatch::add_file(const std::string& path) {
  auto [dir, name] = split_path(path);
  return add(dir, escape_glob(name));
}

int FileWatch::fd() const { return impl_->inotify.get(); }

Result<std::vector<FileEvent>> FileWatch::read_events() {
  Impl& m = *impl_;
  alignas(inotify_event) std::array<char, 16384> buf{};
  std::set<std::size_t> whole;
  std::map<std::string, std::size_t> paths;
  bool overflow = false;
  for (;;) {
    ssize_t n = ::read(m.inotify.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN) {
        break;
      }
      return Error::from_errno(errno, "reading inotify events");
    }
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if ((ev->mask & IN_Q_OVERFLOW) != 0) {
        overflow = true;
        continue;
      }
      auto found = m.by_wd.find(ev->wd);
      if (found == m.by_wd.end()) {
        continue;  // a watch already forgotten
      }
      std::vector<std::size_t> owners = found->second;
      if ((ev->mask & kSelfEvents) != 0) {
        // The directory went away (or was renamed): what it held is gone from its path.
        if ((ev->mask & IN_IGNORED) == 0) {
          ::inotify_rm_watch(m.inotify.get(), ev->wd);
        }
        m.forget_watch(ev->wd);
        whole.insert(owners.begin(), owners.end());
        continue;
      }
      if (ev->len == 0) {
        continue;
      }
      for (std::size_t i : owners) {
        const Dir& dir = m.dirs[i];
        if (!dir.matches(ev->name)) {
          continue;
        }
        if ((ev->mask & kNameEvents) != 0) {
          whole.insert(i);
        } else {
          paths.emplace(dir.child(ev->name), i);
        }
      }
    }
  }
  if (overflow) {
    ++m.overflows;
    return m.rescan_all();
  }
  for (std::size_t i : whole) {
    // A directory that lost its watch may already be back: watch it before scanning it, so
    // what happens in it next is not left to the periodic rescan. Failures wait for that.
    if (m.dirs[i].wd < 0) {
      (void)m.try_watch(i);
    }
  }
  std::erase_if(paths, [&](const auto& p) { return whole.contains(p.second); });
  if (whole.empty() && paths.empty()) {
    return std::vector<FileEvent>{};
  }
  return m.refresh(whole, paths);
}

std::vector<FileEvent> FileWatch::rescan() { return impl_->rescan_all(); }

std::chrono::steady_clock::time_point FileWatch::next_rescan() const { return impl_->next_rescan; }

std::chrono::milliseconds FileWatch::until_rescan() const {
  auto left = impl_->next_rescan - impl_->options.clock->now();
  if (left <= std::chrono::steady_clock::duration::zero()) {
    return std::chrono::milliseconds(0);
  }
  // Rounded up, so a poll that times out finds the rescan due.
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

Result<std::vector<FileEvent>> FileWatch::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<FileEvent> events;
    if (until_rescan().count() == 0) {
      events = rescan();
    }
    auto more = read_events();
    if (!more) {
      if (!events.empty()) {
        return events;  // the error comes back at the next call
      }
      return more.error();
    }
    events.insert(events.end(), more->begin(), more->end());
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!events.empty() || left.count() <= 0) {
      return events;
    }
    pollfd pfd{impl_->inotify.get(), POLLIN, 0};
    auto wait_ms = std::min(left, until_rescan());
    if (::poll(&pfd, 1, static_cast<int>(wait_ms.count())) < 0 && errno != EINTR) {
      return Error::from_errno(errno, "polling inotify");
    }
  }
}

Snapshot FileWatch::snapshot() const {
  Snapshot out;
  for (const Dir& d : impl_->dirs) {
    out.insert(d.files.begin(), d.files.end());
  }
  return out;
}

std::uint64_t FileWatch::overflows() const { return impl_->overflows; }

}  // namespace tender

#include <dirent.h>
#include <fcntl.h>

#include <cstring>
#include <set>
#include <stdexcept>

#include "core/log.hpp"
#include "sidecar/tail_file_state.hpp"

// Finding files: at start (the checkpoint's files found again), as the watch reports them, and
// the copy a truncated file's rest may be in. (TailFiles, continued from tail_files.cpp.)

namespace tender::sidecar {

using namespace tail_internal;

TailFiles::File* TailFiles::follow_row(const FileRow& row, Fd fd, const std::string& path,
                                       std::uint64_t size, bool live) {
  const Input* input = nullptr;
  for (const Input& in : config_.inputs) {
    if (in.name == row.input) {
      input = &in;
    }
  }
  if (input == nullptr) {
    input = input_for(path);
  }
  if (input == nullptr) {
    log::warn("a checkpointed file belongs to no input any more; forgetting it",
              {{"path", path}, {"input", row.input}});
    persist({FileOp::remove(row.key)});
    return nullptr;
  }
  auto f = std::make_unique<File>();
  f->key = row.key;
  f->input = input;
  f->origin = row.path;
  f->source = std::make_shared<Source>(
      Source{.key = row.key, .path = path, .input = input->name, .labels = input->labels});
  struct stat st {};
  (void)::fstat(fd.get(), &st);
  f->id = id_of(st);
  f->nlink = st.st_nlink;
  f->fd = std::move(fd);
  f->fp = row.fp;
  f->size = size;
  f->live = live;
  f->grew_at = clock_.now();
  f->rotated_at = f->grew_at;
  f->row_dirty = path != row.path || f->id.ino != row.ino || f->id.dev != row.dev;
  f->cursors.resize(config_.sinks.size());
  for (std::size_t s : input->sinks) {
    auto it = row.offsets.find(config_.sinks[s].name);
    std::uint64_t at = it == row.offsets.end() ? 0 : it->second;
    // A checkpointed offset past the end: the file shrank; check() sees it as truncated.
    f->size = std::max(f->size, at);
    auto a = RecordAssembler::create(input->records, f->source, at);
    if (!a) {
      throw std::runtime_error(a.error().message());
    }
    f->cursors[s].assembler.emplace(std::move(*a));
    f->cursors[s].acked = f->cursors[s].committed = at;
  }
  File* raw = f.get();
  if (live) {
    live_[raw->id] = raw;
  } else {
    ++counters_.rotations;
  }
  files_[raw->key] = std::move(f);
  return raw;
}

TailFiles::File* TailFiles::discover(const std::string& path, bool first_start) {
  const Input* input = input_for(path);
  if (input == nullptr) {
    return nullptr;
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    log::warn("cannot open a file to follow", {{"path", path}, {"error", std::strerror(errno)}});
    return nullptr;
  }
  return adopt(std::move(fd), path, *input, first_start, true);
}

TailFiles::File* TailFiles::adopt(Fd fd, const std::string& path, const Input& in, bool first_start,
                                  bool live) {
  const Input* input = &in;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    return nullptr;  // nothing to identify it by yet: looked at again when it grows
  }
  FileId id = id_of(st);
  for (auto& [key, other] : files_) {
    if (other->id == id) {  // followed already (renamed back under a watched name)
      if (!other->live) {
        other->live = true;
        live_[id] = other.get();
      }
      if (other->source->path != path) {
        other->set_path(path);
      }
      return other.get();
    }
  }
  if (files_.size() >= config_.max_files) {
    ++counters_.files_refused;
    if (!warned_max_files_) {
      warned_max_files_ = true;
      log::warn("max_files reached: new files are not followed until some are let go",
                {{"path", path}, {"max_files", static_cast<std::int64_t>(config_.max_files)}});
    }
    return nullptr;
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  std::string prefix = read_prefix(fd.get(), std::min<std::uint64_t>(size, kFingerprintBytes));
  // The same first bytes as a followed file: perhaps its copytruncate copy. Hold it back until
  // that file's fate is known (truncated: this continues it), at most rotate_wait.
  auto now = clock_.now();
  for (auto& [key, other] : files_) {
    if (live && other->live && prefix_matches(prefix, other->fp)) {
      auto [it, fresh] = suspects_.emplace(id, Suspect{now, path});
      if (now - it->second.since < config_.rotate_wait) {
        return nullptr;
      }
      break;
    }
  }
  suspects_.erase(id);

  std::uint64_t start = first_start && input->from_end ? size : 0;
  FileRow row{.key = new_file_key(),
              .dev = id.dev,
              .ino = id.ino,
              .fp = {static_cast<std::uint32_t>(prefix.size()), fingerprint_hash(prefix)},
              .path = path,
              .input = input->name,
              .offsets = {}};
  for (std::size_t s : input->sinks) {
    row.offsets[config_.sinks[s].name] = start;
  }
  // The key must be durable before any record carrying it leaves.
  if (auto ok = checkpoint_.apply({FileOp::upsert(row)}); !ok) {
    log::error("cannot record a new file in the checkpoint; retrying later",
               {{"path", path}, {"error", ok.error().message()}});
    return nullptr;
  }
  File* f = follow_row(row, std::move(fd), path, size, live);
  if (f != nullptr) {
    f->row_dirty = false;
    ++counters_.files_discovered;
    log::info("following", {{"path", path}, {"key", f->key}, {"from", start}});
  }
  return f;
}

void TailFiles::recover(const Snapshot& snapshot) {
  auto rows = checkpoint_.load();
  if (!rows) {
    throw std::runtime_error(rows.error().message());
  }
  auto started = checkpoint_.started_inputs();
  if (!started) {
    throw std::runtime_error(started.error().message());
  }
  started_inputs_.insert(started->begin(), started->end());
  last_snapshot_ = snapshot;
  std::vector<bool> used(rows->size(), false);
  std::set<FileId> claimed;
  resume_named(snapshot, *rows, used, claimed);
  resume_moved(*rows, used, claimed);
  // Everything else is new.
  for (const auto& [path, state] : snapshot) {
    const Input* input = input_for(path);
    if (input != nullptr && !claimed.contains(state.id())) {
      (void)discover(path, !started_inputs_.contains(input->name));
    }
  }
  std::vector<FileOp> ops;
  for (const Input& in : config_.inputs) {
    if (!started_inputs_.contains(in.name)) {
      ops.push_back(FileOp::input_started(in.name));
      started_inputs_.insert(in.name);
    }
  }
  if (!ops.empty()) {
    if (auto ok = checkpoint_.apply(std::move(ops)); !ok) {
      throw std::runtime_error(ok.error().message());
    }
  }
}

// Checkpointed files still under a watched name: same inode, same first bytes.
void TailFiles::resume_named(const Snapshot& snapshot, const std::vector<FileRow>& rows,
                             std::vector<bool>& used, std::set<FileId>& claimed) {
  for (const auto& [path, state] : snapshot) {
    if (input_for(path) == nullptr) {
      continue;
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::string prefix = read_prefix(fd.get(), std::min<std::uint64_t>(size, kFingerprintBytes));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const FileRow& row = rows[i];
      if (!used[i] && FileId{row.dev, row.ino} == id_of(st) && prefix_matches(prefix, row.fp)) {
        used[i] = true;
        if (follow_row(row, std::move(fd), path, size, true) != nullptr) {
          claimed.insert(id_of(st));
        }
        break;
      }
    }
  }
}

// The others: renamed away (same inode, any name in their directory) or copied before a
// truncation (same first bytes, another inode); a file found nowhere is counted as gone.
void TailFiles::resume_moved(const std::vector<FileRow>& rows, const std::vector<bool>& used,
                             std::set<FileId>& claimed) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (used[i]) {
      continue;
    }
    const FileRow& row = rows[i];
    std::uint64_t least = UINT64_MAX;
    for (const auto& [sink, offset] : row.offsets) {
      least = std::min(least, offset);
    }
    least = least == UINT64_MAX ? 0 : least;
    std::optional<std::string> found =
        find_copy({row.dev, row.ino}, row.fp, split_path(row.path).first, least, true);
    Fd fd;
    struct stat st {};
    if (found) {
      fd.reset(::open(found->c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd || ::fstat(fd.get(), &st) != 0 || claimed.contains(id_of(st))) {
        found.reset();
      }
    }
    if (!found) {
      ++counters_.files_gone;
      log::warn(
          "a checkpointed file was not found again; what it held after its offset is lost",
          {{"path", row.path}, {"key", row.key}, {"offset", static_cast<std::int64_t>(least)}});
      persist({FileOp::remove(row.key)});
      continue;
    }
    bool live = input_for(*found) != nullptr;
    if (follow_row(row, std::move(fd), *found, static_cast<std::uint64_t>(st.st_size), live) !=
        nullptr) {
      claimed.insert(id_of(st));
      log::info("resuming a rotated file", {{"path", *found}, {"key", row.key}});
    }
  }
}

void TailFiles::discover_suspects() {
  auto now = clock_.now();
  std::vector<std::string> due;
  for (const auto& [id, suspect] : suspects_) {
    if (now - suspect.since >= config_.rotate_wait) {
      due.push_back(suspect.path);
    }
  }
  for (const std::string& path : due) {
    (void)discover(path, false);
  }
}

void TailFiles::reconcile(const Snapshot& snapshot) {
  last_snapshot_ = snapshot;
  std::set<FileId> present;
  for (const auto& [path, state] : snapshot) {
    FileId id = state.id();
    present.insert(id);
    auto it = live_.find(id);
    if (it != live_.end()) {
      if (it->second->source->path != path) {
        it->second->set_path(path);
      }
      // What the watch saw counts for lag, and as the size a truncation cuts from.
      it->second->size = std::max(it->second->size, state.size);
    } else if (state.size > 0) {
      (void)discover(path, false);
    }
  }
  auto now = clock_.now();
  for (auto it = live_.begin(); it != live_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    File* f = it->second;
    f->live = false;
    f->rotated_at = now;
    ++counters_.rotations;
    log::info("rotated away: reading it to its end", {{"path", f->source->path}, {"key", f->key}});
    it = live_.erase(it);
  }
  for (auto it = suspects_.begin(); it != suspects_.end();) {
    it = present.contains(it->first) ? std::next(it) : suspects_.erase(it);
  }
  enforce_held_limit();
}

std::optional<std::string> TailFiles::find_copy(FileId self, const Fingerprint& fp,
                                                const std::string& dir, std::uint64_t min_size,
                                                bool same_inode_too) const {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return std::nullopt;
  }
  std::optional<std::string> same_inode;
  std::optional<std::string> best;
  std::int64_t best_mtime = INT64_MIN;
  std::size_t seen = 0;
  while (dirent* e = ::readdir(d)) {
    if (++seen > kMaxDirEntries) {
      break;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    std::string path = dir == "/" ? "/" + name : dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) < std::max<std::uint64_t>(min_size, fp.len)) {
      continue;
    }
    FileId id = id_of(st);
    bool followed = id != self && std::any_of(files_.begin(), files_.end(),
                                              [&](const auto& kv) { return kv.second->id == id; });
    if (followed) {
      continue;
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || !prefix_matches(read_prefix(fd.get(), fp.len), fp)) {
      continue;
    }
    if (id == self) {
      if (same_inode_too) {
        same_inode = path;
      }
      continue;
    }
    std::int64_t mtime = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
    if (mtime > best_mtime) {
      best_mtime = mtime;
      best = path;
    }
  }
  ::closedir(d);
  return same_inode ? same_inode : best;
}

void TailFiles::truncated(File& f, std::uint64_t old_size) {
  ++counters_.truncations;
  std::uint64_t needed = f.min_fed();
  std::string old_path = f.source->path;
  FileId old_id = f.id;
  bool was_live = f.live;
  const Input* input = f.input;
  Fd old_fd = std::move(f.fd);  // the truncated inode: a new file from now on
  std::optional<std::string> copy;
  // Unread bytes may be in a copy (copytruncate copies first, then truncates).
  std::optional<std::string> found =
      find_copy(f.id, f.fp, split_path(old_path).first, needed, false);
  Fd fd;
  struct stat st {};
  if (found) {
    fd.reset(::open(found->c_str(), O_RDONLY | O_CLOEXEC));
    if (fd && ::fstat(fd.get(), &st) == 0 && id_of(st) != old_id) {
      copy = found;
    }
  }
  if (auto it = live_.find(old_id); it != live_.end() && it->second == &f) {
    live_.erase(it);
  }
  if (copy) {
    ++counters_.copies_followed;
    f.fd = std::move(fd);
    f.id = id_of(st);
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.nlink = st.st_nlink;
    f.grew_at = clock_.now();
    suspects_.erase(f.id);
    f.live = input_for(*copy) != nullptr && !live_.contains(f.id);
    if (f.live) {
      live_[f.id] = &f;
    } else {
      f.rotated_at = f.grew_at;
    }
    f.set_path(*copy);
    persist({FileOp::upsert(f.row())});
    f.row_dirty = false;
    log::info("truncated in place: the rest is read from its copy",
              {{"path", old_path}, {"copy", *copy}, {"key", f.key}});
  } else {
    std::uint64_t lost = old_size > needed ? old_size - needed : 0;
    counters_.lost_bytes += lost;
    if (lost > 0) {
      log::warn(
          "truncated in place before it was read to its end, and no copy was found",
          {{"path", old_path}, {"key", f.key}, {"lost_bytes", static_cast<std::int64_t>(lost)}});
    } else {
      log::info("truncated in place", {{"path", old_path}, {"key", f.key}});
    }
    release(f);  // f is gone
  }
  // The truncated inode holds a new file now: followed by name if it still has its watched
  // name, else (renamed away, then truncated) read to its end and let go like any rotated file.
  auto named = last_snapshot_.find(old_path);
  bool still_named = was_live && named != last_snapshot_.end() && named->second.id() == old_id;
  (void)adopt(std::move(old_fd), old_path, *input, false, still_named);
}

}  // namespace tender::sidecar

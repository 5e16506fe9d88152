#include "sidecar/tail_files.hpp"

#include <cstring>
#include <stdexcept>

#include "core/log.hpp"
#include "core/units.hpp"
#include "sidecar/tail_file_state.hpp"

namespace tender::sidecar {

using namespace tail_internal;

namespace {

// Adds to `t` the cuts and parse errors an assembler made between `before` and `after`.
void count(TailCounters& t, const RecordStats& before, const RecordStats& after) {
  t.cut_records += after.cut_records - before.cut_records;
  t.cut_bytes += after.cut_bytes - before.cut_bytes;
  t.parse_errors += after.parse_errors - before.parse_errors;
}

}  // namespace

TailFiles::TailFiles(const TailConfig& config, Checkpoint& checkpoint, const Clock& clock)
    : config_(config), checkpoint_(checkpoint), clock_(clock), next_(config.sinks.size(), 0) {}

TailFiles::~TailFiles() = default;

std::int64_t TailFiles::wall_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.wall().time_since_epoch())
      .count();
}

const Input* TailFiles::input_for(const std::string& path) const {
  auto [dir, name] = split_path(path);
  for (const Input& in : config_.inputs) {
    for (const Glob& g : in.paths) {
      if (g.dir == dir && glob_matches(g.pattern, name)) {
        return &in;
      }
    }
  }
  return nullptr;
}

void TailFiles::persist(std::vector<FileOp> ops) {
  if (ops.empty()) {
    return;
  }
  if (auto queued = checkpoint_.submit(
          std::move(ops),
          [](Result<> r) {
            if (!r) {
              log::error("checkpoint write failed", {{"error", r.error().message()}});
            }
          });
      !queued) {
    log::error("checkpoint write not queued", {{"error", queued.error().message()}});
  }
}

bool TailFiles::check(File& f) {
  struct stat st {};
  if (::fstat(f.fd.get(), &st) != 0) {
    return true;
  }
  f.nlink = st.st_nlink;
  auto size = static_cast<std::uint64_t>(st.st_size);
  bool replaced = size < f.size;
  if (!replaced && f.fp.len > 0) {
    std::uint32_t want = f.fp.len;
    if (f.fp.len < kFingerprintBytes && size > f.fp.len) {
      want = static_cast<std::uint32_t>(std::min<std::uint64_t>(size, kFingerprintBytes));
    }
    std::string prefix = read_prefix(f.fd.get(), want);
    if (!prefix_matches(prefix, f.fp)) {
      replaced = true;
    } else if (prefix.size() > f.fp.len) {
      f.fp = {static_cast<std::uint32_t>(prefix.size()), fingerprint_hash(prefix)};
      f.row_dirty = true;
    }
  }
  if (replaced) {
    truncated(f, f.size);
    return false;
  }
  if (size > f.size) {
    f.size = size;
    f.grew_at = clock_.now();
  }
  return true;
}

void TailFiles::read_file(File& f, std::size_t sink, std::size_t max_bytes,
                          std::vector<Record>& out) {
  Cursor& c = f.cursors[sink];
  std::uint64_t at = c.assembler->fed_offset();
  buffer_.resize(std::min(max_bytes, kChunk));
  ssize_t n = 0;
  do {
    n = ::pread(f.fd.get(), buffer_.data(), buffer_.size(), static_cast<off_t>(at));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    log::warn("read failed", {{"path", f.source->path}, {"error", std::strerror(errno)}});
    return;
  }
  if (n > 0) {
    std::size_t had = out.size();
    RecordStats before = c.assembler->stats();
    c.assembler->feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)), wall_ns(),
                      out);
    count(counters_, before, c.assembler->stats());
    if (on_read_) {
      on_read_(f.origin, sink, out.size() - had, static_cast<std::uint64_t>(n));
    }
  }
}

void TailFiles::read(std::size_t sink, std::size_t max_records, std::size_t max_bytes,
                     std::vector<Record>& out) {
  std::uint64_t pass = ++pass_;
  if (!suspects_.empty()) {
    discover_suspects();  // held back as possible copies, and their wait is over
  }
  // Rotated files first, in the order they were let go of by name, so that a log's older
  // lines go out before its successor's; then the live ones, round robin.
  std::size_t first_live = 0;
  auto readable_keys = [&] {
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> rotated;
    std::vector<std::string> live;
    for (const auto& [key, f] : files_) {
      if (f->cursors[sink].assembler && !f->cursors[sink].finished) {
        if (f->live) {
          live.push_back(key);
        } else {
          rotated.emplace_back(f->rotated_at, key);
        }
      }
    }
    std::sort(rotated.begin(), rotated.end());
    std::vector<std::string> keys;
    for (auto& [at, key] : rotated) {
      keys.push_back(std::move(key));
    }
    first_live = keys.size();
    if (!live.empty()) {
      std::size_t start = next_[sink] % live.size();
      std::rotate(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(start), live.end());
      keys.insert(keys.end(), live.begin(), live.end());
    }
    return keys;
  };
  std::vector<std::string> keys = readable_keys();
  std::size_t bytes = 0;
  for (const Record& r : out) {
    bytes += r.text.size();
  }
  auto full = [&] { return out.size() >= max_records || bytes >= max_bytes; };
  bool progress = true;
  while (progress && !full() && !keys.empty()) {
    progress = false;
    bool changed = false;  // a truncation let a file go or found another: list them again
    for (std::size_t k = 0; k < keys.size() && !full(); ++k) {
      auto it = files_.find(keys[k]);
      if (it == files_.end()) {
        continue;
      }
      File& f = *it->second;
      Cursor& c = f.cursors[sink];
      if (!c.assembler || c.finished) {
        continue;
      }
      if (f.checked_pass != pass) {
        f.checked_pass = pass;
        if (!check(f)) {
          changed = true;
          continue;  // truncated: f may be gone; its copy or successor is read next round
        }
      }
      std::uint64_t before = c.assembler->fed_offset();
      std::size_t had = out.size();
      read_file(f, sink, max_bytes - bytes, out);
      for (std::size_t i = had; i < out.size(); ++i) {
        bytes += out[i].text.size();
      }
      if (c.assembler->fed_offset() != before) {
        progress = true;
        if (k >= first_live) {
          ++next_[sink];  // the next round starts with the next live file
        }
      }
    }
    if (changed) {
      keys = readable_keys();
      progress = true;
    }
  }
  // What is due without new bytes: a multiline record's wait, a rotated file's end.
  std::int64_t now_ns = wall_ns();
  auto now = clock_.now();
  std::vector<File*> done;
  for (const std::string& key : keys) {
    auto it = files_.find(key);
    if (it == files_.end()) {
      continue;
    }
    File& f = *it->second;
    Cursor& c = f.cursors[sink];
    if (!c.assembler || c.finished) {
      continue;
    }
    RecordStats before = c.assembler->stats();
    c.assembler->flush_due(now_ns, out);
    count(counters_, before, c.assembler->stats());
    if (!f.live && c.assembler->fed_offset() >= f.size && now - f.grew_at >= config_.rotate_wait &&
        !full()) {
      struct stat st {};
      if (::fstat(f.fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > f.size) {
        continue;  // it grew after all: read it next time
      }
      before = c.assembler->stats();
      c.assembler->finish(now_ns, out);
      count(counters_, before, c.assembler->stats());
      c.finished = true;
      c.final_end = c.assembler->fed_offset();
      done.push_back(&f);
    }
  }
  for (File* f : done) {
    maybe_release(*f);
  }
}

std::vector<FileOp> TailFiles::acknowledged(std::size_t sink, std::span<const Record> batch) {
  std::map<std::string, std::uint64_t> last;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> sent;  // key -> records, bytes
  for (const Record& r : batch) {
    last[r.source->key] = r.end;
    auto& [records, bytes] = sent[r.source->key];
    ++records;
    bytes += r.end - r.offset;
  }
  std::vector<FileOp> ops;
  for (const auto& [key, end] : last) {
    auto it = files_.find(key);
    if (it == files_.end()) {
      continue;  // let go meanwhile (truncated with no copy)
    }
    File& f = *it->second;
    Cursor& c = f.cursors[sink];
    c.acked = std::max(c.acked, end);
    if (on_sent_) {
      on_sent_(f.origin, sink, sent[key].first, sent[key].second);
    }
    if (f.row_dirty) {
      ops.push_back(FileOp::upsert(f.row()));
      f.row_dirty = false;
    }
    ops.push_back(FileOp::set_offset(key, config_.sinks[sink].name, c.acked));
  }
  return ops;
}

void TailFiles::committed(std::size_t sink, const std::vector<FileOp>& ops) {
  for (const FileOp& op : ops) {
    if (op.kind != FileOp::Kind::kOffset) {
      continue;
    }
    auto it = files_.find(op.key);
    if (it == files_.end()) {
      continue;
    }
    Cursor& c = it->second->cursors[sink];
    c.committed = std::max(c.committed, op.offset);
    maybe_release(*it->second);
  }
}

void TailFiles::maybe_release(File& f) {
  if (f.live) {
    return;
  }
  for (const Cursor& c : f.cursors) {
    if (c.assembler && (!c.finished || c.committed < c.final_end)) {
      return;
    }
  }
  log::info("read to its end and shipped: let go", {{"path", f.source->path}, {"key", f.key}});
  release(f);
}

void TailFiles::release(File& f) {
  ++counters_.files_released;
  if (auto it = live_.find(f.id); it != live_.end() && it->second == &f) {
    live_.erase(it);
  }
  persist({FileOp::remove(f.key)});
  files_.erase(f.key);
}

void TailFiles::enforce_held_limit() {
  for (;;) {
    std::uint64_t held = 0;
    File* oldest = nullptr;
    for (auto& [key, f] : files_) {
      struct stat st {};
      if (!f->live && ::fstat(f->fd.get(), &st) == 0) {
        f->nlink = st.st_nlink;
      }
      if (!f->live && f->nlink == 0) {
        held += f->size;
        if (oldest == nullptr || f->rotated_at < oldest->rotated_at) {
          oldest = f.get();
        }
      }
    }
    if (held <= config_.max_held_bytes || oldest == nullptr) {
      return;
    }
    std::uint64_t unread = oldest->size > oldest->min_fed() ? oldest->size - oldest->min_fed() : 0;
    counters_.dropped_bytes += unread;
    log::warn("max_held_bytes reached: letting go of a deleted file before it was shipped",
              {{"path", oldest->source->path},
               {"key", oldest->key},
               {"dropped_bytes", static_cast<std::int64_t>(unread)},
               {"held_bytes", static_cast<std::int64_t>(held)}});
    release(*oldest);
  }
}

std::optional<std::chrono::steady_clock::time_point> TailFiles::next_due() const {
  std::optional<std::chrono::steady_clock::time_point> due;
  auto now = clock_.now();
  std::int64_t now_ns = wall_ns();
  auto consider = [&](std::chrono::steady_clock::time_point t) {
    if (!due || t < *due) {
      due = t;
    }
  };
  for (const auto& [id, suspect] : suspects_) {
    consider(suspect.since + config_.rotate_wait);
  }
  for (const auto& [key, f] : files_) {
    for (const Cursor& c : f->cursors) {
      if (!c.assembler || c.finished) {
        continue;
      }
      if (std::int64_t at = c.assembler->due_ns(); at > 0) {
        consider(now + std::chrono::nanoseconds(std::max<std::int64_t>(0, at - now_ns)));
      }
      if (!f->live) {
        consider(f->grew_at + config_.rotate_wait);
      }
    }
  }
  return due;
}

std::uint64_t TailFiles::held_bytes(std::size_t sink) const {
  std::uint64_t held = 0;
  for (const auto& [key, f] : files_) {
    if (f->cursors[sink].assembler) {
      held += f->cursors[sink].assembler->held_bytes();
    }
  }
  return held;
}

std::size_t TailFiles::size() const { return files_.size(); }

boost::json::array TailFiles::status() const {
  boost::json::array out;
  for (const auto& [key, f] : files_) {
    boost::json::object o;
    o["key"] = key;
    o["path"] = f->source->path;
    o["first_seen_as"] = f->origin;
    o["input"] = f->input->name;
    o["size"] = f->size;
    o["followed_by_name"] = f->live;
    // When it last grew (or was found), on the wall clock: the steady time it grew, as long ago.
    o["grew_at"] =
        format_utc(clock_.wall() - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                       clock_.now() - f->grew_at));
    boost::json::object sinks;
    for (std::size_t s = 0; s < f->cursors.size(); ++s) {
      const Cursor& c = f->cursors[s];
      if (!c.assembler) {
        continue;
      }
      boost::json::object j;
      j["read"] = c.assembler->fed_offset();
      j["acknowledged"] = c.acked;
      j["committed"] = c.committed;
      j["lag_bytes"] = f->size > c.committed ? f->size - c.committed : 0;
      sinks[config_.sinks[s].name] = std::move(j);
    }
    o["sinks"] = std::move(sinks);
    out.emplace_back(std::move(o));
  }
  return out;
}

std::map<std::string, std::uint64_t> TailFiles::lag_by_origin() const {
  std::map<std::string, std::uint64_t> lag;
  for (const auto& [key, f] : files_) {
    std::uint64_t& l = lag[f->origin];
    for (const Cursor& c : f->cursors) {
      if (c.assembler && f->size > c.committed) {
        l += f->size - c.committed;
      }
    }
  }
  return lag;
}

}  // namespace tender::sidecar

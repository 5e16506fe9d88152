#include "core/file_snapshot.hpp"

namespace tender {

std::string_view to_string(FileEventKind kind) {
  switch (kind) {
    case FileEventKind::kCreated:
      return "created";
    case FileEventKind::kModified:
      return "modified";
    case FileEventKind::kTruncated:
      return "truncated";
    case FileEventKind::kRenamed:
      return "renamed";
    case FileEventKind::kDeleted:
      return "deleted";
    case FileEventKind::kReplaced:
      return "replaced";
  }
  return "unknown";
}

std::vector<FileEvent> diff_snapshots(const Snapshot& before, const Snapshot& after) {
  // Identity -> name. A file with two watched names (hard links) keeps the first in path order.
  std::map<FileId, const std::string*> after_names;
  for (const auto& [path, st] : after) {
    after_names.try_emplace(st.id(), &path);
  }
  std::map<FileId, const std::string*> before_names;
  for (const auto& [path, st] : before) {
    before_names.try_emplace(st.id(), &path);
  }

  std::vector<FileEvent> events;
  // 1. Files present in both: renamed, truncated, modified.
  for (const auto& [path, old] : before) {
    auto found = after_names.find(old.id());
    if (found == after_names.end() || before_names.at(old.id()) != &path) {
      continue;
    }
    const std::string& now_path = *found->second;
    const FileState& now = after.at(now_path);
    if (now_path != path) {
      events.push_back({FileEventKind::kRenamed, now_path, path, now.id(), now.size});
    }
    if (now.size < old.size) {
      events.push_back({FileEventKind::kTruncated, now_path, {}, now.id(), now.size});
    } else if (now.size > old.size || now.mtime_ns != old.mtime_ns) {
      events.push_back({FileEventKind::kModified, now_path, {}, now.id(), now.size});
    }
  }
  // 2. Files gone, unless another file took their name.
  for (const auto& [path, old] : before) {
    if (after_names.contains(old.id()) || before_names.at(old.id()) != &path) {
      continue;
    }
    auto taken = after.find(path);
    if (taken != after.end()) {
      continue;  // reported as the kReplaced or kRenamed of the file that took the name
    }
    events.push_back({FileEventKind::kDeleted, path, {}, old.id(), old.size});
  }
  // 3. New files.
  for (const auto& [path, now] : after) {
    if (before_names.contains(now.id()) || after_names.at(now.id()) != &path) {
      continue;
    }
    FileEventKind kind = before.contains(path) ? FileEventKind::kReplaced : FileEventKind::kCreated;
    events.push_back({kind, path, {}, now.id(), now.size});
  }
  return events;
}

}  // namespace tender

#pragma once
// `tender sync`'s publication on disk: the layout under --dest, the atomic swap of the
// published symlink, the removal of old trees, and the copy and fingerprint of a dir: source.
// Blocking file-system calls, no Asio.
//
//   DEST/current -> .tender-sync/rev-<revision>      the published link (--link), relative
//   DEST/.tender-sync/rev-<revision>/...             published trees: the current one and the
//                                                    one before it (for readers still in it)
//   DEST/.tender-sync/tmp-<revision>-<n>/...         a tree being written (removed if left)
//   DEST/.tender-sync/cache/                         the git mirror, the downloaded archive
//
//   TreeLayout layout{"/shared/site", "current"};
//   if (auto r = prepare_dest(layout); !r) { ...exit 2... }
//   auto staging = make_staging(layout, "3f2a...");   // write the new tree into *staging
//   auto published = publish(layout, *staging, "3f2a...");
//   remove_old_trees(layout);                          // keeps the current and previous tree
//
// A reader that resolves DEST/current once (opens it, or realpath) and reads under what it got
// sees one revision only: the link is replaced by rename(2) of a new symlink over it, and a
// tree is never changed once published.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace tender::sidecar {

// A Result holding `s` (Error is constructible from a string too, so it must be said).
[[nodiscard]] inline Result<std::string> string_result(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

struct TreeLayout {
  std::string dest;  // absolute
  std::string link = "current";

  [[nodiscard]] std::string state_dir() const { return dest + "/.tender-sync"; }
  [[nodiscard]] std::string cache_dir() const { return state_dir() + "/cache"; }
  [[nodiscard]] std::string link_path() const { return dest + "/" + link; }
};

// A 128-bit FNV-1a fingerprint (two 64-bit lanes) as 32 hex digits: revisions of archives and
// directories. Not cryptographic: it tells versions apart, it does not authenticate them.
class RevisionHash {
 public:
  void add(std::string_view bytes);
  void add_u64(std::uint64_t v);
  [[nodiscard]] std::string hex() const;

 private:
  std::uint64_t a_ = 0xcbf29ce484222325ULL;
  std::uint64_t b_ = 0x84222325cbf29ce4ULL;
};

// The tree directory's name for `revision`: "rev-" and the revision's letters, digits, '-',
// '_' and '.' (others become '_'), at most 64 of them.
[[nodiscard]] std::string tree_name(std::string_view revision);

// Creates dest and its .tender-sync/cache (like mkdir -p) and checks that a file can be
// created there. Fails with the errno of what failed and the path in the message.
[[nodiscard]] Result<> prepare_dest(const TreeLayout& layout);

// The revision the link points at now ("" when nothing is published yet, or the link is not
// one of ours). Fails only if the link exists and cannot be read.
[[nodiscard]] Result<std::string> published_revision(const TreeLayout& layout);

// A new empty directory under state_dir() to write the tree of `revision` into. Fails with
// the errno of mkdir.
[[nodiscard]] Result<std::string> make_staging(const TreeLayout& layout, std::string_view revision);

// Renames `staging` to the tree of `revision` (replacing a leftover of the same name that is
// not published), fsyncs it, points a new symlink at it and renames that over link_path().
// Returns the tree's path. On failure the published link is unchanged; errors name the call.
[[nodiscard]] Result<std::string> publish(const TreeLayout& layout, const std::string& staging,
                                          std::string_view revision);

// Removes every tree and staging directory of state_dir() except the published one and
// `keep_also` (a tree name, e.g. the previously published one). Returns how many it removed;
// fails with the first error (the others are still tried).
[[nodiscard]] Result<int> remove_old_trees(const TreeLayout& layout,
                                           std::string_view keep_also = {});

// The tree name the link points at ("" if none).
[[nodiscard]] std::string published_tree_name(const TreeLayout& layout);

// A fingerprint of the tree at `root`: every entry's relative path, type, size, mtime
// (nanoseconds) and symlink target, in sorted order; contents are not read. Fails with the
// errno and path of what could not be read.
[[nodiscard]] Result<std::string> dir_revision(const std::string& root);

// Copies the tree at `from` into the existing empty directory `to`: regular files (with their
// permission bits), directories and symlinks (as they are); other types are skipped. Fails
// with the path and errno of what failed, or file_too_large when more than `max_bytes` of
// file contents would be copied.
[[nodiscard]] Result<std::uint64_t> copy_tree(const std::string& from, const std::string& to,
                                              std::uint64_t max_bytes);

// Removes `path` and everything under it; a missing path is not an error.
[[nodiscard]] Result<> remove_tree(const std::string& path);

}  // namespace tender::sidecar

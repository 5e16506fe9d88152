#pragma once
// The image store's insides, shared by its sources and tests: file helpers, images.json, locks,
// garbage collection (image_store_files.cpp) and unpacking layers (image_store_layers.cpp).
// Nothing here runs a command or touches an event loop; image_store.cpp does both.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/tar_check.hpp"
#include "pod/image_store.hpp"

namespace tender::pod::image_store_detail {

// ---- files (image_store_files.cpp) ---------------------------------------------------------

// The whole file at `path` if it holds at most `max` bytes; `what` names it in errors.
[[nodiscard]] Result<std::string> read_file_bounded(const std::string& path, std::size_t max,
                                                    std::string_view what);

// Replaces the file at `path` with `bytes` whole: written to a temporary file beside it,
// fsync'ed, renamed over it. A reader sees the old file or the new one, never a part.
[[nodiscard]] Result<> replace_file(const std::string& path, std::string_view bytes);

// oci/blobs/sha256/<hex> of the store at `dir`; `digest` must have passed digest_hex.
[[nodiscard]] std::string blob_path(const std::string& dir, std::string_view digest);

// The blob `digest` of the store at `dir` (at most `max` bytes), checked against its digest.
[[nodiscard]] Result<std::string> read_blob(const std::string& dir, std::string_view digest,
                                            std::size_t max);

// Opens (creating) the lock file at `path` and flocks it with `operation` (LOCK_SH or LOCK_EX,
// with LOCK_NB or not). If the file was replaced while this waited (a remover unlinks a layer's
// lock file), it starts again, so the lock returned is on the file the path names. With LOCK_NB
// and the lock held elsewhere: operation_would_block.
[[nodiscard]] Result<Fd> take_flock(const std::string& path, int operation);

// images.json: the store's records, read (a missing file is an empty store) and written whole.
[[nodiscard]] Result<std::vector<StoredImage>> read_records(const std::string& dir);
[[nodiscard]] Result<> write_records(const std::string& dir, const std::vector<StoredImage>& all);
[[nodiscard]] Result<std::vector<StoredImage>> parse_records(std::string_view json);
[[nodiscard]] std::string serialize_records(const std::vector<StoredImage>& all);

// What a garbage collection did.
struct Collected {
  std::size_t blobs = 0;        // blob files removed
  std::size_t layers = 0;       // unpacked layers removed
  std::size_t layers_kept = 0;  // unreferenced layers kept because a container holds them
};

// With the store lock held: removes the blobs of oci/ that no record in `images` uses, skopeo's
// leftovers, and every unpacked layer (with its lock file and unfinished unpackings) that no
// record uses and that it can flock exclusively without waiting.
[[nodiscard]] Result<Collected> collect_garbage(const std::string& dir,
                                                const std::vector<StoredImage>& images);

// ---- layers (image_store_layers.cpp) -------------------------------------------------------

// One layer of an image, as its manifest and config describe it.
struct LayerSource {
  std::size_t index = 0;  // 0 is the bottom layer
  std::size_t count = 0;
  std::string blob_digest;
  std::string media_type;
  std::string diff_id;
};

// "layer 2 of 3 (sha256:0123456789ab)", for errors.
[[nodiscard]] std::string layer_label(const LayerSource& layer);

// layers/<hex of diff_id> and its lock file.
[[nodiscard]] std::string layer_dir(const std::string& dir, const LayerSource& layer);
[[nodiscard]] std::string layer_lock_path(const std::string& dir, std::string_view hex);

// A layer on its way into the cache: a private directory layers/.tmp-<hex>-XXXXXX holding the
// plain tar (if the blob was compressed) and root/, where tar extracts.
struct StagedLayer {
  std::string tmp_dir;
  std::string tar_file;  // what `tar --extract` reads: the blob itself if it was plain tar
  std::string root;
};

// Reads the layer's blob once: its sha256 must be its digest, the plain tar's its diff_id, and
// every member must pass the tar check. On failure nothing is left behind, and the error names
// the layer (and the member).
[[nodiscard]] Result<StagedLayer> stage_layer(const std::string& dir, const LayerSource& layer,
                                              std::uint64_t max_bytes);

// The `tar` command that unpacks a staged layer (as root it keeps owners and modes).
[[nodiscard]] std::vector<std::string> tar_extract_argv(const StagedLayer& staged);

// After tar: whiteouts made overlayfs's, then root/ renamed to layers/<hex> (if another process
// got there first, its copy stays and this one is dropped), then the staging removed.
[[nodiscard]] Result<> finish_layer(const std::string& dir, const LayerSource& layer,
                                    const StagedLayer& staged);

// Removes a staging directory and all in it (after a failure).
void drop_staging(const StagedLayer& staged);

// Turns OCI whiteouts under `root` into overlayfs's: `.wh.NAME` becomes a 0/0 character device
// NAME (unless this layer has NAME itself), `.wh..wh..opq` in a directory makes it opaque
// (xattr trusted.overlay.opaque=y); other `.wh..wh.*` entries (aufs's) are dropped. Symlinks are
// never followed. Needs CAP_MKNOD and CAP_SYS_ADMIN (root) when there are whiteouts.
[[nodiscard]] Result<> apply_whiteouts(const std::string& root);

}  // namespace tender::pod::image_store_detail

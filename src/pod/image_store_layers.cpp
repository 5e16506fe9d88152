#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "core/sha256.hpp"
#include "pod/image_layout.hpp"
#include "pod/image_store_internal.hpp"

namespace tender::pod::image_store_detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";
// How deep apply_whiteouts walks (a tar could nest directories very deep).
constexpr int kMaxWhiteoutDepth = 512;

std::string hex_of(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1));
}

Result<> whiteout_one(const fs::path& dir, const std::string& name) {
  std::string path = (dir / name).string();
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    return Error(ec, "remove whiteout " + path + ": " + ec.message());
  }
  if (name == kOpaqueWhiteout) {
    if (::lsetxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return Error::from_errno(errno, "mark " + dir.string() + " opaque");
    }
    return {};
  }
  std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden.starts_with(kWhiteoutPrefix)) {  // aufs's own entries (.wh..wh.plnk, ...)
    return {};
  }
  struct stat st {};
  std::string target = (dir / hidden).string();
  if (::lstat(target.c_str(), &st) == 0) {  // this layer has it: only lower layers' is hidden
    return {};
  }
  if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    return Error::from_errno(errno, "whiteout " + target);
  }
  return {};
}

Result<> whiteouts_in(const fs::path& dir, int depth) {
  if (depth > kMaxWhiteoutDepth) {
    return invalid_argument(dir.string() + ": directories nested deeper than " +
                            std::to_string(kMaxWhiteoutDepth));
  }
  std::vector<std::string> whiteouts;
  std::vector<fs::path> subdirs;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename();
    if (name.starts_with(kWhiteoutPrefix)) {
      whiteouts.push_back(std::move(name));
    } else if (it->is_directory(ec) && !it->is_symlink(ec)) {
      subdirs.push_back(it->path());
    }
  }
  if (ec) {
    return Error(ec, "read " + dir.string() + ": " + ec.message());
  }
  // Whiteouts after the rest of the directory was listed, so NAME in this layer is seen.
  for (const std::string& name : whiteouts) {
    if (auto r = whiteout_one(dir, name); !r) {
      return r;
    }
  }
  for (const fs::path& sub : subdirs) {
    if (auto r = whiteouts_in(sub, depth + 1); !r) {
      return r;
    }
  }
  return {};
}

}  // namespace

std::string layer_label(const LayerSource& layer) {
  return "layer " + std::to_string(layer.index + 1) + " of " + std::to_string(layer.count) + " (" +
         layer.blob_digest.substr(0, 19) + ")";
}

std::string layer_dir(const std::string& dir, const LayerSource& layer) {
  return dir + "/layers/" + hex_of(layer.diff_id);
}

std::string layer_lock_path(const std::string& dir, std::string_view hex) {
  return dir + "/layers/" + std::string(hex) + ".lock";
}

Result<StagedLayer> stage_layer(const std::string& dir, const LayerSource& layer,
                                std::uint64_t max_bytes) {
  auto compression = layer_compression(layer.media_type);
  auto blob_hex = digest_hex(layer.blob_digest);
  auto diff_hex = digest_hex(layer.diff_id);
  if (!compression || !blob_hex || !diff_hex) {
    Error e = !compression ? compression.error() : !blob_hex ? blob_hex.error() : diff_hex.error();
    return e.with_context(layer_label(layer));
  }
  std::string tmpl = dir + "/layers/.tmp-" + *diff_hex + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Error::from_errno(errno, "make " + tmpl);
  }
  StagedLayer staged{tmpl, tmpl + "/layer.tar", tmpl + "/root"};
  std::string blob = blob_path(dir, layer.blob_digest);
  bool gzip = *compression == ArchiveCompression::kGzip;
  auto scanned = scan_archive(blob, *compression, staged.tar_file, max_bytes, "max_layer_bytes");
  auto refuse = [&](const Error& e) -> Result<StagedLayer> {
    drop_staging(staged);
    return e.with_context(layer_label(layer));
  };
  if (!scanned) {
    // A corrupt blob makes gunzip or the tar check fail before its digest is known: say so.
    if (auto whole = sha256_file(blob); whole && *whole != *blob_hex) {
      return refuse(Error(std::errc::illegal_byte_sequence,
                          "the blob does not match its digest (its sha256 is " + *whole + ")"));
    }
    return refuse(scanned.error());
  }
  if (scanned->file_sha256 != *blob_hex) {
    return refuse(
        Error(std::errc::illegal_byte_sequence,
              "the blob does not match its digest (its sha256 is " + scanned->file_sha256 + ")"));
  }
  if (scanned->tar_sha256 != *diff_hex) {
    return refuse(Error(std::errc::illegal_byte_sequence,
                        "its tar does not match the config's diff_id " + layer.diff_id +
                            " (its sha256 is " + scanned->tar_sha256 + ")"));
  }
  if (!gzip) {
    staged.tar_file = blob;
  }
  // The layer's root: 0755 unless the tar says otherwise (mkdtemp makes 0700).
  if (::mkdir(staged.root.c_str(), 0755) != 0) {
    return refuse(Error::from_errno(errno, "make " + staged.root));
  }
  return staged;
}

std::vector<std::string> tar_extract_argv(const StagedLayer& staged) {
  return {"tar",    "--extract",     "--numeric-owner", "--same-permissions",
          "--file", staged.tar_file, "--directory",     staged.root};
}

Result<> finish_layer(const std::string& dir, const LayerSource& layer, const StagedLayer& staged) {
  if (auto r = apply_whiteouts(staged.root); !r) {
    drop_staging(staged);
    return r.error().with_context(layer_label(layer));
  }
  std::string final_dir = layer_dir(dir, layer);
  if (::rename(staged.root.c_str(), final_dir.c_str()) != 0 && errno != EEXIST &&
      errno != ENOTEMPTY) {
    int err = errno;
    drop_staging(staged);
    return Error::from_errno(err, "move " + layer_label(layer) + " into " + final_dir);
  }
  drop_staging(staged);  // whatever is left: the plain tar, or a copy that lost the race
  return {};
}

void drop_staging(const StagedLayer& staged) {
  std::error_code ec;
  fs::remove_all(staged.tmp_dir, ec);
}

Result<> apply_whiteouts(const std::string& root) { return whiteouts_in(root, 0); }

}  // namespace tender::pod::image_store_detail

#pragma once
// The image store of `tender pod`: images copied in with skopeo, kept in an OCI image layout,
// and their layers unpacked once each into a cache that every container on them shares. The
// runner asks for an image by reference and gets back the directories of its layers, top layer
// first, to mount as an overlay's lowerdir.
//
//   ImageStore store("/var/lib/tender/images");
//   auto ref = parse_image_ref("busybox:1.35");
//   auto stored = co_await store.copy_in("oci-archive:/tmp/busybox.tar", *ref);
//   auto image = co_await store.prepare(*ref);       // layers unpacked (once), locked shared
//   mount_overlay(image->layers, ...);               // lowerdir=layers[0]:layers[1]:...
//   // ... while the container runs, image->locks stay open; closing them frees the layers
//   co_await store.remove(*ref);                     // untag; drop what nobody uses
//
// On disk, under the store's directory:
//   oci/               an OCI image layout as `skopeo copy ... oci:DIR/oci:NAME` writes it. An
//                      image is named (org.opencontainers.image.ref.name) by its canonical
//                      reference as it is: skopeo accepts names such as
//                      "docker.io/library/busybox:1.35" or "localhost:5000/a@sha256:...", so
//                      no encoding is needed and `skopeo copy oci:DIR/oci:NAME ...` copies one
//                      out. skopeo copies in under a temporary name (tender-incoming-*), which
//                      the store renames once it has checked the image
//   images.json        the store's own index: name, manifest digest, size, blobs and diff_ids
//                      of each image. skopeo rewrites oci/index.json in place while it copies,
//                      so readers (find, list, prepare) read this file instead, which is only
//                      ever replaced whole (rename); it names every image oci/index.json does
//   store.lock         flock'ed exclusively by copy_in and remove: one writer at a time (a
//                      waiter polls, so it holds no thread and can be cancelled)
//   layers/<hex>/      a layer unpacked, keyed by its diff_id (the digest of its plain tar), so
//                      the same layer compressed two ways is unpacked once; mode 0700, since
//                      images hold setuid files that no user of this machine should run
//   layers/<hex>.lock  flock'ed shared by every PreparedImage that uses the layer (and while
//                      unpacking it); remove deletes a layer only if it can lock it exclusively
//   layers/.tmp-*      layers being unpacked, renamed into place when whole
//
// Every blob read is checked against its digest; every layer's plain tar against the config's
// diff_id; every tar member by core/tar_check.hpp before `tar` extracts it. Several processes
// may use one store at once (two runners preparing the same layer both succeed; one rename
// wins). A lock dies with its process, so a SIGKILLed runner leaves none.
//
// The store runs skopeo and tar with core/command.hpp's run_command, from the awaiting
// coroutine's executor, and does its hashing, gunzip, tar checks and the whiteout walk on a
// thread pool of its own, so the caller's event loop keeps answering while a big layer
// unpacks. Its coroutines must be awaited from one thread (or strand) at a time; the store
// must outlive them.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "pod/image_spec.hpp"

namespace tender::pod {

struct ImageStoreOptions {
  // The most bytes one layer's plain tar may hold once gunzipped.
  std::uint64_t max_layer_bytes = std::uint64_t{16} << 30;
  // How long one `skopeo copy` may run (a registry pull of a big image takes minutes).
  std::chrono::milliseconds copy_timeout = std::chrono::hours(1);
  // How long one `tar --extract` of a layer may run.
  std::chrono::milliseconds unpack_timeout = std::chrono::hours(1);
  // Threads of the store's pool (hashing, gunzip, checks, whiteouts, locks).
  unsigned threads = 2;
};

struct StoredImage {
  std::string name;                   // the canonical reference (ImageRef::canonical())
  std::string digest;                 // its manifest's, as oci/index.json names it
  std::uint64_t size = 0;             // bytes of its blobs as stored: manifests, config, layers
  std::string architecture;           // from its configuration
  std::vector<std::string> blobs;     // every blob digest it uses
  std::vector<std::string> diff_ids;  // its layers' plain tar digests, bottom first
};

struct PreparedImage {
  ImageConfig config;               // parse_image_config of its config blob
  std::vector<std::string> layers;  // unpacked layer dirs, TOP layer first (overlay lowerdir order)
  std::vector<Fd> locks;  // shared flocks on those layers, held while a container uses them
  std::string digest;     // the manifest's
};

class ImageStore {
 public:
  // A store under `dir` (created on the first copy_in). No I/O until asked.
  explicit ImageStore(std::string dir, ImageStoreOptions options = {});
  ~ImageStore();  // waits for the pool's work in progress
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  [[nodiscard]] const std::string& dir() const;

  // Copies the image at `source` into the store as `name` (replacing an image of that name).
  // `source` is as skopeo writes it: oci:DIR[:REF], oci-archive:FILE[:REF],
  // docker-archive:FILE[:REF] or docker://REF (a registry). Other transports (dir:,
  // containers-storage:, docker-daemon:, ...) are refused with invalid_argument. Fails also when
  // skopeo fails (its stderr in the message), or when the image is not one the store can run:
  // a manifest or config it cannot read, no manifest for linux on this machine's
  // architecture, or a layer media type other than tar and tar+gzip (named). Blobs of a
  // replaced or refused image are dropped unless another image uses them.
  [[nodiscard]] boost::asio::awaitable<Result<StoredImage>> copy_in(std::string source,
                                                                    ImageRef name);

  // The image stored as `name` (by its canonical form; a reference with a digest also matches
  // an image of the same repository whose manifest has that digest), or nullopt. Fails only
  // when images.json cannot be read.
  [[nodiscard]] Result<std::optional<StoredImage>> find(const ImageRef& name) const;

  // Every image, by name.
  [[nodiscard]] Result<std::vector<StoredImage>> list() const;

  // Unpacks what is missing of `name`'s layers and returns them, locked shared. Fails with
  // no_such_file_or_directory if the image is not stored; otherwise with an error naming the
  // layer (its index and digest) for a blob that does not match its digest, a tar stream that
  // does not match its diff_id, a hostile member (named), more than max_layer_bytes, or tar's
  // failure.
  [[nodiscard]] boost::asio::awaitable<Result<PreparedImage>> prepare(ImageRef name);

  // Untags `name`, then drops the blobs and unpacked layers no stored image references (a
  // layer locked by a running container stays, to be dropped by a later remove). Fails with
  // no_such_file_or_directory if the image is not stored.
  [[nodiscard]] boost::asio::awaitable<Result<>> remove(ImageRef name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::pod

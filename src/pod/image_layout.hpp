#pragma once
// The JSON of an OCI image layout, read without I/O: index.json and image indexes (a list of
// manifests, multi-arch), image manifests (OCI v1 and Docker schema 2, which have one shape),
// the media types of layers the image store unpacks, and the machine's architecture by OCI's
// names. The image store (image_store.hpp) reads the files and calls these.
//
//   auto index = parse_image_index(index_json);              // descriptors, ref names
//   auto chosen = pick_platform(*index, machine_architecture());   // linux/amd64 here
//   auto manifest = parse_image_manifest(manifest_json);    // config and layers, bottom first
//   auto gzip = layer_compression(manifest->layers[0].media_type);  // or refused, named
//
// Everything here comes from outside (an image someone else built): every digest is checked to
// be sha256:<64 lowercase hex> before anyone may make a path of it, documents are bounded, and
// what cannot be read exactly is an invalid_argument error saying what is wrong.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/tar_check.hpp"

namespace tender::pod {

// The largest index, manifest or configuration read from a layout.
inline constexpr std::size_t kMaxImageJsonBytes = std::size_t{4} << 20;

// The most layers an image may have: overlayfs stacks at most 500 lower directories.
inline constexpr std::size_t kMaxImageLayers = 500;

// The annotation that names an image in an OCI layout's index.json (what skopeo and umoci write).
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// The hex of "sha256:<64 lowercase hex>". Fails with invalid_argument for anything else (other
// algorithms, upper case, a path), so what it returns is safe as a file name.
[[nodiscard]] Result<std::string> digest_hex(std::string_view digest);

// A content descriptor: what a blob is, which one, and how big.
struct Descriptor {
  std::string media_type;
  std::string digest;  // sha256:<64 lowercase hex>, checked
  std::uint64_t size = 0;
  std::string ref_name;      // the kRefNameAnnotation, in an index.json
  std::string os;            // platform.os, in an image index
  std::string architecture;  // platform.architecture, in an image index
};

enum class ManifestKind {
  kIndex,     // OCI image index, Docker manifest list
  kManifest,  // OCI image manifest v1, Docker schema 2
  kUnknown,
};

// What a manifest's media type says it is.
[[nodiscard]] ManifestKind manifest_kind(std::string_view media_type);

// The `mediaType` field of a manifest or index document. OCI makes it optional: without it, a
// document with a list of manifests is taken for an OCI image index, anything else gets "".
[[nodiscard]] Result<std::string> document_media_type(std::string_view json);

// The manifests of index.json or of an image index blob, in order. Fails for malformed JSON, a
// descriptor without a valid digest or size, or more than kMaxImageJsonBytes.
[[nodiscard]] Result<std::vector<Descriptor>> parse_image_index(std::string_view json);

struct ImageManifest {
  Descriptor config;
  std::vector<Descriptor> layers;  // bottom layer first, as in the manifest
};

// An image manifest (OCI v1 or Docker schema 2). Fails for malformed JSON, a missing config,
// a config that is not an image configuration (an artifact's, say), bad descriptors, more than
// kMaxImageLayers layers, or a Docker schema 1 manifest.
[[nodiscard]] Result<ImageManifest> parse_image_manifest(std::string_view json);

// How a layer of this media type is stored: plain tar or tar+gzip, by OCI's and Docker's
// names. Fails with invalid_argument naming the media type for anything else (zstd, encrypted,
// an artifact's blobs).
[[nodiscard]] Result<ArchiveCompression> layer_compression(std::string_view media_type);

// From an image index's manifests, the first for linux on `architecture` (OCI's name: amd64,
// arm64, ...). Fails with invalid_argument listing the platforms there are.
[[nodiscard]] Result<Descriptor> pick_platform(const std::vector<Descriptor>& manifests,
                                               std::string_view architecture);

// OCI's name for an architecture as uname reports it: x86_64 -> amd64, aarch64 -> arm64,
// i686 -> 386, armv7l -> arm, ...; other names pass unchanged (ppc64le, s390x, riscv64).
[[nodiscard]] std::string oci_architecture(std::string_view uname_machine);

// This machine's architecture by OCI's name (uname(2) through oci_architecture).
[[nodiscard]] std::string machine_architecture();

}  // namespace tender::pod

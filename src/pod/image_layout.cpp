#include "pod/image_layout.hpp"

#include <sys/utsname.h>

#include <boost/json.hpp>

#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

Result<json::object> parse_layout_object(std::string_view text, std::string_view what) {
  if (text.size() > kMaxImageJsonBytes) {
    return invalid_argument(std::string(what) + ": larger than " +
                            std::to_string(kMaxImageJsonBytes >> 20) + " MiB");
  }
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) {
    return invalid_argument(std::string(what) + ": not a JSON object" +
                            (ec ? " (" + ec.message() + ")" : std::string()));
  }
  return std::move(doc.get_object());
}

// A string member, "" when absent; an error when present and not a string.
Result<std::string> layout_string(const json::object& o, std::string_view key,
                                  std::string_view what) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return Result<std::string>(boost::system::in_place_value);
  }
  if (!v->is_string()) {
    return invalid_argument(std::string(what) + ": " + std::string(key) + " is not a string");
  }
  return Result<std::string>(boost::system::in_place_value, v->get_string());
}

Result<Descriptor> parse_descriptor(const json::value& v, std::string_view what) {
  if (!v.is_object()) {
    return invalid_argument(std::string(what) + ": a descriptor is not an object");
  }
  const json::object& o = v.get_object();
  Descriptor d;
  auto media_type = layout_string(o, "mediaType", what);
  auto digest = layout_string(o, "digest", what);
  if (!media_type || !digest) {
    return media_type ? digest.error() : media_type.error();
  }
  d.media_type = std::move(*media_type);
  d.digest = std::move(*digest);
  if (auto hex = digest_hex(d.digest); !hex) {
    return hex.error().with_context(what);
  }
  const json::value* size = o.if_contains("size");
  if (size == nullptr || !(size->is_uint64() || size->is_int64()) ||
      (size->is_int64() && size->get_int64() < 0)) {
    return invalid_argument(std::string(what) + ": descriptor " + d.digest +
                            " has no size, or not a number of bytes");
  }
  d.size = size->is_uint64() ? size->get_uint64() : static_cast<std::uint64_t>(size->get_int64());
  if (const json::value* a = o.if_contains("annotations"); a != nullptr && a->is_object()) {
    if (const json::value* name = a->get_object().if_contains(kRefNameAnnotation);
        name != nullptr && name->is_string()) {
      d.ref_name = std::string(name->get_string());
    }
  }
  if (const json::value* p = o.if_contains("platform"); p != nullptr && p->is_object()) {
    auto os = layout_string(p->get_object(), "os", what);
    auto arch = layout_string(p->get_object(), "architecture", what);
    if (!os || !arch) {
      return os ? arch.error() : os.error();
    }
    d.os = std::move(*os);
    d.architecture = std::move(*arch);
  }
  return d;
}

}  // namespace

Result<std::string> digest_hex(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  bool ok = digest.size() == kPrefix.size() + 64 && digest.starts_with(kPrefix);
  for (std::size_t i = kPrefix.size(); ok && i < digest.size(); ++i) {
    char c = digest[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!ok) {
    return invalid_argument("digest " + quote(digest.substr(0, 100)) +
                            " is not sha256: and 64 lowercase hex digits");
  }
  return Result<std::string>(boost::system::in_place_value, digest.substr(kPrefix.size()));
}

ManifestKind manifest_kind(std::string_view media_type) {
  if (media_type == kOciIndex || media_type == kDockerList) {
    return ManifestKind::kIndex;
  }
  if (media_type == kOciManifest || media_type == kDockerManifest) {
    return ManifestKind::kManifest;
  }
  return ManifestKind::kUnknown;
}

Result<std::string> document_media_type(std::string_view text) {
  auto doc = parse_layout_object(text, "manifest");
  if (!doc) {
    return doc.error();
  }
  auto type = layout_string(*doc, "mediaType", "manifest");
  if (type && type->empty() && doc->contains("manifests")) {
    return Result<std::string>(boost::system::in_place_value, kOciIndex);
  }
  return type;
}

Result<std::vector<Descriptor>> parse_image_index(std::string_view text) {
  auto doc = parse_layout_object(text, "image index");
  if (!doc) {
    return doc.error();
  }
  const json::value* manifests = doc->if_contains("manifests");
  if (manifests == nullptr || !manifests->is_array()) {
    return invalid_argument("image index: no list of manifests");
  }
  std::vector<Descriptor> out;
  for (const json::value& m : manifests->get_array()) {
    auto d = parse_descriptor(m, "image index");
    if (!d) {
      return d.error();
    }
    out.push_back(std::move(*d));
  }
  return out;
}

Result<ImageManifest> parse_image_manifest(std::string_view text) {
  auto doc = parse_layout_object(text, "image manifest");
  if (!doc) {
    return doc.error();
  }
  auto media_type = layout_string(*doc, "mediaType", "image manifest");
  if (!media_type) {
    return media_type.error();
  }
  if (!media_type->empty() && manifest_kind(*media_type) != ManifestKind::kManifest) {
    return invalid_argument("image manifest: media type " + quote(*media_type) +
                            " is not an image manifest (OCI v1 or Docker schema 2)");
  }
  const json::value* config = doc->if_contains("config");
  if (config == nullptr) {
    return invalid_argument("image manifest: no config (a Docker schema 1 manifest?)");
  }
  auto config_descriptor = parse_descriptor(*config, "image manifest config");
  if (!config_descriptor) {
    return config_descriptor.error();
  }
  const std::string& config_type = config_descriptor->media_type;
  if (config_type != "application/vnd.oci.image.config.v1+json" &&
      config_type != "application/vnd.docker.container.image.v1+json") {
    return invalid_argument("image manifest: config media type " + quote(config_type) +
                            " is not a container image's");
  }
  ImageManifest out;
  out.config = std::move(*config_descriptor);
  const json::value* layers = doc->if_contains("layers");
  if (layers == nullptr || !layers->is_array()) {
    return invalid_argument("image manifest: no list of layers");
  }
  if (layers->get_array().size() > kMaxImageLayers) {
    return invalid_argument("image manifest: " + std::to_string(layers->get_array().size()) +
                            " layers, more than " + std::to_string(kMaxImageLayers) +
                            " (what overlayfs can stack)");
  }
  for (const json::value& l : layers->get_array()) {
    auto d = parse_descriptor(l, "image manifest layer");
    if (!d) {
      return d.error();
    }
    out.layers.push_back(std::move(*d));
  }
  return out;
}

Result<ArchiveCompression> layer_compression(std::string_view media_type) {
  if (media_type == "application/vnd.oci.image.layer.v1.tar" ||
      media_type == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
      media_type == "application/vnd.docker.image.rootfs.diff.tar") {
    return ArchiveCompression::kNone;
  }
  if (media_type == "application/vnd.oci.image.layer.v1.tar+gzip" ||
      media_type == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
      media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
      media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") {
    return ArchiveCompression::kGzip;
  }
  return invalid_argument("layer media type " + quote(media_type) +
                          " is not supported (tar and tar+gzip are)");
}

Result<Descriptor> pick_platform(const std::vector<Descriptor>& manifests,
                                 std::string_view architecture) {
  std::string seen;
  for (const Descriptor& d : manifests) {
    if (d.os == "linux" && d.architecture == architecture) {
      return d;
    }
    if (seen.size() < 400) {
      seen += (seen.empty() ? "" : ", ") + (d.os.empty() ? "?" : d.os) + "/" +
              (d.architecture.empty() ? "?" : d.architecture);
    }
  }
  return invalid_argument(
      "the image has no manifest for linux/" + std::string(architecture) +
      (seen.empty() ? std::string(" (its index is empty)") : " (it has " + seen + ")"));
}

std::string oci_architecture(std::string_view m) {
  if (m == "x86_64" || m == "amd64") {
    return "amd64";
  }
  if (m == "aarch64" || m == "arm64") {
    return "arm64";
  }
  if (m == "i386" || m == "i486" || m == "i586" || m == "i686") {
    return "386";
  }
  if (m.starts_with("armv") || m == "arm") {
    return "arm";
  }
  return std::string(m);
}

std::string machine_architecture() {
  struct utsname u {};
  if (::uname(&u) != 0) {
    return "unknown";
  }
  return oci_architecture(u.machine);
}

}  // namespace tender::pod

#include "pod/image_layout.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tender::pod {
namespace {

const std::string digest_a = "sha256:" + std::string(64, 'a');
const std::string digest_b = "sha256:" + std::string(64, 'b');
const std::string digest_c = "sha256:" + std::string(64, 'c');

std::string descriptor(const std::string& type, const std::string& digest,
                       const std::string& extra = "") {
  return R"({"mediaType":")" + type + R"(","digest":")" + digest + R"(","size":12)" + extra + "}";
}

TEST(DigestHex, AcceptsOnlySha256AndLowercaseHex) {
  EXPECT_EQ(*digest_hex(digest_a), std::string(64, 'a'));
  EXPECT_FALSE(digest_hex("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(digest_hex("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(digest_hex("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(digest_hex("sha256:../../../../etc/passwd"));
  EXPECT_FALSE(digest_hex(""));
}

TEST(ParseImageIndex, ReadsRefNamesAndPlatforms) {
  std::string json =
      R"({"schemaVersion":2,"manifests":[)" +
      descriptor(
          "application/vnd.oci.image.manifest.v1+json", digest_a,
          R"(,"annotations":{"org.opencontainers.image.ref.name":"docker.io/library/busybox:1.35"})") +
      "," +
      descriptor("application/vnd.oci.image.manifest.v1+json", digest_b,
                 R"(,"platform":{"os":"linux","architecture":"arm64","variant":"v8"})") +
      "]}";
  auto index = parse_image_index(json);
  ASSERT_TRUE(index) << index.error().message();
  ASSERT_EQ(index->size(), 2u);
  EXPECT_EQ((*index)[0].ref_name, "docker.io/library/busybox:1.35");
  EXPECT_EQ((*index)[0].size, 12u);
  EXPECT_EQ((*index)[1].os, "linux");
  EXPECT_EQ((*index)[1].architecture, "arm64");
}

TEST(ParseImageIndex, RefusesBadDigestsSizesAndShapes) {
  auto bad_digest =
      parse_image_index(R"({"manifests":[{"mediaType":"x","digest":"sha256:../../x","size":1}]})");
  ASSERT_FALSE(bad_digest);
  EXPECT_NE(bad_digest.error().message().find("sha256:"), std::string::npos);
  EXPECT_FALSE(parse_image_index(R"({"manifests":[{"digest":")" + digest_a + R"("}]})"));
  EXPECT_FALSE(parse_image_index(R"({"manifests":[{"digest":")" + digest_a + R"(","size":-1}]})"));
  EXPECT_FALSE(parse_image_index(R"({"manifests":{}})"));
  EXPECT_FALSE(parse_image_index("[]"));
  EXPECT_FALSE(parse_image_index("{"));
  EXPECT_FALSE(parse_image_index(std::string(kMaxImageJsonBytes + 1, ' ')));
}

TEST(PickPlatform, TakesLinuxOnThisArchitectureOrSaysWhatThereIs) {
  std::vector<Descriptor> manifests(3);
  manifests[0].os = "windows";
  manifests[0].architecture = "amd64";
  manifests[1].os = "linux";
  manifests[1].architecture = "arm64";
  manifests[1].digest = digest_b;
  manifests[2].os = "linux";
  manifests[2].architecture = "amd64";
  manifests[2].digest = digest_c;
  EXPECT_EQ(pick_platform(manifests, "amd64")->digest, digest_c);
  EXPECT_EQ(pick_platform(manifests, "arm64")->digest, digest_b);
  auto none = pick_platform(manifests, "s390x");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("linux/s390x"), std::string::npos);
  EXPECT_NE(none.error().message().find("windows/amd64, linux/arm64"), std::string::npos);
}

TEST(ParseImageManifest, ReadsOciAndDockerSchema2) {
  for (const auto& [type, config_type, layer_type] :
       {std::tuple{"application/vnd.oci.image.manifest.v1+json",
                   "application/vnd.oci.image.config.v1+json",
                   "application/vnd.oci.image.layer.v1.tar+gzip"},
        std::tuple{"application/vnd.docker.distribution.manifest.v2+json",
                   "application/vnd.docker.container.image.v1+json",
                   "application/vnd.docker.image.rootfs.diff.tar.gzip"}}) {
    std::string json = R"({"schemaVersion":2,"mediaType":")" + std::string(type) +
                       R"(","config":)" + descriptor(config_type, digest_a) + R"(,"layers":[)" +
                       descriptor(layer_type, digest_b) + "," + descriptor(layer_type, digest_c) +
                       "]}";
    auto m = parse_image_manifest(json);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->config.digest, digest_a);
    ASSERT_EQ(m->layers.size(), 2u);
    EXPECT_EQ(m->layers[0].digest, digest_b);
    EXPECT_EQ(*layer_compression(m->layers[1].media_type), ArchiveCompression::kGzip);
  }
}

TEST(ParseImageManifest, RefusesSchema1ArtifactsAndIndexes) {
  auto schema1 = parse_image_manifest(R"({"schemaVersion":1,"fsLayers":[]})");
  ASSERT_FALSE(schema1);
  EXPECT_NE(schema1.error().message().find("schema 1"), std::string::npos);
  auto artifact = parse_image_manifest(
      R"({"config":)" + descriptor("application/vnd.cncf.helm.config.v1+json", digest_a) +
      R"(,"layers":[]})");
  ASSERT_FALSE(artifact);
  EXPECT_NE(artifact.error().message().find("helm"), std::string::npos);
  EXPECT_FALSE(parse_image_manifest(
      R"({"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})"));
  std::string many = R"({"config":)" +
                     descriptor("application/vnd.oci.image.config.v1+json", digest_a) +
                     R"(,"layers":[)";
  for (std::size_t i = 0; i <= kMaxImageLayers; ++i) {
    many += (i == 0 ? "" : ",") + descriptor("application/vnd.oci.image.layer.v1.tar", digest_b);
  }
  auto too_many = parse_image_manifest(many + "]}");
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message().find("501 layers"), std::string::npos);
}

TEST(LayerCompression, KnowsTarAndGzipAndNamesWhatItRefuses) {
  EXPECT_EQ(*layer_compression("application/vnd.oci.image.layer.v1.tar"),
            ArchiveCompression::kNone);
  EXPECT_EQ(*layer_compression("application/vnd.oci.image.layer.v1.tar+gzip"),
            ArchiveCompression::kGzip);
  auto zstd = layer_compression("application/vnd.oci.image.layer.v1.tar+zstd");
  ASSERT_FALSE(zstd);
  EXPECT_NE(zstd.error().message().find("tar+zstd"), std::string::npos);
}

TEST(ManifestKind, TellsIndexesFromManifests) {
  EXPECT_EQ(manifest_kind("application/vnd.oci.image.index.v1+json"), ManifestKind::kIndex);
  EXPECT_EQ(manifest_kind("application/vnd.docker.distribution.manifest.list.v2+json"),
            ManifestKind::kIndex);
  EXPECT_EQ(manifest_kind("application/vnd.docker.distribution.manifest.v2+json"),
            ManifestKind::kManifest);
  EXPECT_EQ(manifest_kind("text/plain"), ManifestKind::kUnknown);
  EXPECT_EQ(*document_media_type(R"({"mediaType":"a/b"})"), "a/b");
  EXPECT_EQ(*document_media_type("{}"), "");
  EXPECT_EQ(manifest_kind(*document_media_type(R"({"manifests":[]})")), ManifestKind::kIndex);
}

TEST(OciArchitecture, NamesUnameMachinesAsOciDoes) {
  EXPECT_EQ(oci_architecture("x86_64"), "amd64");
  EXPECT_EQ(oci_architecture("aarch64"), "arm64");
  EXPECT_EQ(oci_architecture("i686"), "386");
  EXPECT_EQ(oci_architecture("armv7l"), "arm");
  EXPECT_EQ(oci_architecture("riscv64"), "riscv64");
  EXPECT_FALSE(machine_architecture().empty());
}

}  // namespace
}  // namespace tender::pod

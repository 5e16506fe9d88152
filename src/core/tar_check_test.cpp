#include "core/tar_check.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/sha256.hpp"

namespace tender {
namespace {

// One ustar header (and its data, padded) as `tar` writes it.
std::string member(const std::string& name, char type, const std::string& data = "",
                   const std::string& link = "") {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), std::min<std::size_t>(link.size(), 100));
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) {
    sum += static_cast<unsigned char>(c);
  }
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  std::string out = h + data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

std::string end_blocks() { return std::string(1024, '\0'); }

Result<TarSummary> check(const std::string& tar, std::size_t piece = 0) {
  TarChecker c;
  if (piece == 0) {
    if (auto r = c.feed(tar); !r) {
      return r.error();
    }
  } else {
    for (std::size_t i = 0; i < tar.size(); i += piece) {
      if (auto r = c.feed(std::string_view(tar).substr(i, piece)); !r) {
        return r.error();
      }
    }
  }
  return c.finish();
}

std::string refusal(const std::string& tar) {
  auto r = check(tar);
  return r ? "accepted" : r.error().message();
}

TEST(TarChecker, AcceptsFilesDirectoriesAndLinksInsideTheTree) {
  std::string tar = member("site/", '5') + member("site/index.html", '0', "<h1>hi</h1>") +
                    member("site/up", '2', "", "../elsewhere") +
                    member("site/copy.html", '1', "", "site/index.html") + end_blocks();
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{513}}) {
    auto r = check(tar, piece);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->members, 4u);
    EXPECT_EQ(r->bytes, 11u);
  }
}

TEST(TarChecker, RefusesAbsoluteNamesAndDotDot) {
  EXPECT_NE(refusal(member("/etc/passwd", '0', "x") + end_blocks()).find("absolute"),
            std::string::npos);
  EXPECT_NE(refusal(member("../x", '0', "x") + end_blocks()).find("\"..\""), std::string::npos);
  EXPECT_NE(refusal(member("a/./../../x", '0', "x") + end_blocks()).find("a/./../../x"),
            std::string::npos);
}

TEST(TarChecker, RefusesAWriteThroughASymlinkItMade) {
  std::string tar =
      member("evil", '2', "", "/etc") + member("evil/cron.d/x", '0', "boom") + end_blocks();
  std::string why = refusal(tar);
  EXPECT_NE(why.find("goes through the symlink \"evil\""), std::string::npos) << why;
  // A directory member of the same name would make tar follow it too.
  EXPECT_NE(refusal(member("d", '2', "", "/tmp") + member("d/", '5') + end_blocks()), "accepted");
  EXPECT_NE(refusal(member("d", '2', "", "/tmp") + member("./d", '0', "x") + end_blocks()),
            "accepted");
}

TEST(TarChecker, RefusesHardLinksOutOfTheTree) {
  EXPECT_NE(refusal(member("h", '1', "", "/etc/shadow") + end_blocks()).find("hard link"),
            std::string::npos);
  EXPECT_NE(refusal(member("h", '1', "", "../../x") + end_blocks()), "accepted");
  EXPECT_NE(refusal(member("s", '2', "", "/etc") + member("h", '1', "", "s/shadow") + end_blocks()),
            "accepted");
}

TEST(TarChecker, RefusesDevicesAndFifos) {
  for (char type : {'3', '4', '6'}) {
    EXPECT_NE(refusal(member("dev", type) + end_blocks()).find("not allowed"), std::string::npos);
  }
}

TEST(TarChecker, SeesNamesInGnuLongNamesAndPaxHeaders) {
  std::string long_name = "../../etc/cron.d/evil";
  std::string gnu =
      member("././@LongLink", 'L', long_name + '\0') + member("harmless", '0', "x") + end_blocks();
  EXPECT_NE(refusal(gnu).find("cron.d"), std::string::npos);
  std::string record = "path=/etc/evil\n";
  std::string len = std::to_string(record.size() + 3) + " ";
  std::string pax =
      member("PaxHeaders/x", 'x', len + record) + member("harmless", '0', "x") + end_blocks();
  EXPECT_NE(refusal(pax).find("absolute"), std::string::npos);
}

TEST(TarChecker, RefusesWhatIsNotATarOrIsCutShort) {
  std::string bad = member("a", '0', "x");
  bad[148] = '7';  // checksum
  EXPECT_NE(refusal(bad).find("checksum"), std::string::npos);
  std::string cut = member("a", '0', std::string(2000, 'x')).substr(0, 1000);
  EXPECT_NE(refusal(cut).find("truncated"), std::string::npos);
  EXPECT_NE(refusal(""), "accepted");
}

TEST(NormalMemberName, DropsDotsAndSlashes) {
  EXPECT_EQ(*normal_member_name("./a//b/./c"), "a/b/c");
  EXPECT_EQ(*normal_member_name("./"), "");
  EXPECT_FALSE(normal_member_name("a/.."));
  EXPECT_FALSE(normal_member_name("/a"));
}

class TempFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tar-check-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string gz(const std::string& name, const std::string& data) {
    std::string path = dir_ + "/" + name;
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
    gzclose(f);
    return path;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(TempFiles, GunzipRestoresTheBytesAndTellsGzipApart) {
  std::string data(300'000, 'a');
  std::string in = gz("a.gz", data);
  EXPECT_TRUE(is_gzip(read(in).substr(0, 2)));
  EXPECT_FALSE(is_gzip(member("a", '0')));
  auto n = gunzip_file(in, dir_ + "/a", 1 << 20);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(read(dir_ + "/a"), data);
}

TEST_F(TempFiles, GunzipStopsAtTheBoundAndLeavesNothing) {
  std::string in = gz("bomb.gz", std::string(5'000'000, '\0'));  // a few KiB compressed
  auto n = gunzip_file(in, dir_ + "/bomb", 1'000'000);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), std::errc::file_too_large);
  EXPECT_NE(::access((dir_ + "/bomb").c_str(), F_OK), 0);
}

TEST_F(TempFiles, GunzipRefusesCorruptAndTruncatedData) {
  std::string in = gz("c.gz", std::string(100'000, 'z') + "tail");
  std::string bytes = read(in);
  std::ofstream(dir_ + "/cut.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(gunzip_file(dir_ + "/cut.gz", dir_ + "/cut", 1 << 20));
  std::string garbled = bytes;
  garbled[12] ^= 0x55;
  garbled[13] ^= 0x55;
  std::ofstream(dir_ + "/bad.gz", std::ios::binary) << garbled;
  EXPECT_FALSE(gunzip_file(dir_ + "/bad.gz", dir_ + "/bad", 1 << 20));
}

TEST_F(TempFiles, CheckTarFileReadsAFile) {
  std::string tar = member("ok.txt", '0', "fine") + end_blocks();
  std::ofstream(dir_ + "/ok.tar", std::ios::binary) << tar;
  auto r = check_tar_file(dir_ + "/ok.tar");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->members, 1u);
  EXPECT_FALSE(check_tar_file(dir_ + "/missing.tar"));
}

TEST_F(TempFiles, ScanArchiveHashesAPlainTarAndChecksIt) {
  std::string tar = member("bin/", '5') + member("bin/sh", '0', "#!") + end_blocks();
  std::ofstream(dir_ + "/plain.tar", std::ios::binary) << tar;
  auto r = scan_archive(dir_ + "/plain.tar", ArchiveCompression::kNone, dir_ + "/unused", 1 << 20,
                        "the limit");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->file_sha256, sha256_hex(tar));
  EXPECT_EQ(r->tar_sha256, sha256_hex(tar));
  EXPECT_EQ(r->tar_bytes, tar.size());
  EXPECT_EQ(r->summary.members, 2u);
  EXPECT_NE(::access((dir_ + "/unused").c_str(), F_OK), 0);
}

TEST_F(TempFiles, ScanArchiveGunzipsOnceHashingBothStreams) {
  std::string tar = member("a.txt", '0', std::string(100'000, 'a')) + end_blocks();
  std::string in = gz("layer.tar.gz", tar);
  auto r = scan_archive(in, ArchiveCompression::kGzip, dir_ + "/layer.tar", 1 << 20, "the limit");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->file_sha256, sha256_hex(read(in)));
  EXPECT_EQ(r->file_bytes, read(in).size());
  EXPECT_EQ(r->tar_sha256, sha256_hex(tar));
  EXPECT_EQ(read(dir_ + "/layer.tar"), tar);
}

TEST_F(TempFiles, ScanArchiveRefusesAHostileMemberAndLeavesNothing) {
  std::string in = gz("evil.tar.gz", member("../x", '0', "x") + end_blocks());
  auto r = scan_archive(in, ArchiveCompression::kGzip, dir_ + "/evil.tar", 1 << 20, "the limit");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("\"../x\""), std::string::npos) << r.error().message();
  EXPECT_NE(::access((dir_ + "/evil.tar").c_str(), F_OK), 0);
}

TEST_F(TempFiles, ScanArchiveStopsAtTheBoundNamingIt) {
  std::string in = gz("bomb.gz", member("zeros", '0', std::string(3'000'000, '\0')) + end_blocks());
  auto r = scan_archive(in, ArchiveCompression::kGzip, dir_ + "/bomb", 1'000'000, "max_layer");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::file_too_large);
  EXPECT_NE(r.error().message().find("max_layer"), std::string::npos);
  EXPECT_NE(::access((dir_ + "/bomb").c_str(), F_OK), 0);
  std::ofstream(dir_ + "/big.tar", std::ios::binary)
      << member("big", '0', std::string(2'000'000, 'x')) + end_blocks();
  auto plain = scan_archive(dir_ + "/big.tar", ArchiveCompression::kNone, "", 1'000'000, "max");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code(), std::errc::file_too_large);
}

}  // namespace
}  // namespace tender

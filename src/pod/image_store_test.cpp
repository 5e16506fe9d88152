// The image store against real skopeo, umoci and tar, on images built here
// (image_test_support.hpp). Whiteouts and owners need root: run as root, as CI does.
#include "pod/image_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include "pod/image_layout.hpp"
#include "pod/image_store_internal.hpp"
#include "pod/image_test_support.hpp"

namespace tender::pod {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using testing::test_images;

template <class T>
T run_loop(asio::awaitable<T> work) {
  asio::io_context ioc;
  std::optional<T> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(work)); },
      asio::detached);
  ioc.run();
  return std::move(*out);
}

ImageRef image_ref(const std::string& text) { return *parse_image_ref(text); }

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Names in `dir` that start with `prefix`.
int count_prefixed(const std::string& dir, const std::string& prefix) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += std::string(e.path().filename()).starts_with(prefix) ? 1 : 0;
  }
  return n;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test_images().error.empty()) {
      GTEST_SKIP() << test_images().error;
    }
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (whiteouts are devices, opaque dirs a trusted xattr)";
    }
    char tmpl[] = "/tmp/image-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    store_ = std::make_unique<ImageStore>(tmp_ + "/store");
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  StoredImage copy_in(const std::string& tag, const std::string& name) {
    auto stored = run_loop(store_->copy_in(test_images().source(tag), image_ref(name)));
    EXPECT_TRUE(stored) << stored.error().message();
    return stored ? *stored : StoredImage{};
  }
  Result<PreparedImage> prepare(const std::string& name) {
    return run_loop(store_->prepare(image_ref(name)));
  }
  // A tag of the shared layout: `from` plus a layer holding `dir_tree`'s contents as GNU tar
  // writes them, after `names` were rewritten by tar's --transform.
  static std::string raw_layer_tag(const std::string& from, const std::string& to,
                                   const std::function<void(const std::string&)>& make_tree,
                                   const std::string& transform = "") {
    std::string layout = test_images().dir;
    std::string tree = layout + ".tree-" + to;
    fs::create_directories(tree);
    make_tree(tree);
    std::vector<std::string> argv = {"tar",         "--create",    "--file",
                                     tree + ".tar", "--directory", tree};
    if (!transform.empty()) {
      argv.insert(argv.end(), {"--transform", transform});
    }
    argv.emplace_back(".");
    std::string why = testing::run_test_tool(argv, layout + ".log");
    if (why.empty()) {
      why = testing::add_raw_layer(layout, from, to, tree + ".tar");
    }
    return why;
  }

  std::string tmp_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageStoreTest, CopiesInFromAnOciLayoutAndFindsIt) {
  StoredImage stored = copy_in("busybox", "busybox:test");
  EXPECT_EQ(stored.name, "docker.io/library/busybox:test");
  EXPECT_TRUE(digest_hex(stored.digest));
  EXPECT_GT(stored.size, 500'000u);  // busybox, compressed
  EXPECT_EQ(stored.diff_ids.size(), 1u);
  auto found = store_->find(image_ref("docker.io/library/busybox:test"));
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->digest, stored.digest);
  auto by_digest = store_->find(image_ref("busybox@" + stored.digest));
  ASSERT_TRUE(by_digest && *by_digest);
  EXPECT_EQ((*by_digest)->name, stored.name);
  EXPECT_FALSE(*store_->find(image_ref("busybox:other")));
  auto all = store_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  // skopeo's layout names it too, so skopeo can copy it out again.
  EXPECT_NE(read_text(tmp_ + "/store/oci/index.json").find("docker.io/library/busybox:test"),
            std::string::npos);
  EXPECT_EQ(read_text(tmp_ + "/store/oci/index.json").find("tender-incoming"), std::string::npos);
  EXPECT_EQ(testing::run_test_tool(
                {"skopeo", "copy", "--insecure-policy", "--quiet",
                 "oci:" + tmp_ + "/store/oci:" + stored.name, "oci:" + tmp_ + "/out:copied"},
                tmp_ + "/skopeo.log"),
            "");
}

TEST_F(ImageStoreTest, CopiesInFromAnOciArchive) {
  std::string archive = tmp_ + "/busybox.tar";
  ASSERT_EQ(testing::run_test_tool({"skopeo", "copy", "--insecure-policy", "--quiet",
                                    test_images().source("busybox"), "oci-archive:" + archive},
                                   tmp_ + "/skopeo.log"),
            "");
  auto stored =
      run_loop(store_->copy_in("oci-archive:" + archive, image_ref("localhost:5000/bb:1")));
  ASSERT_TRUE(stored) << stored.error().message();
  EXPECT_EQ(stored->name, "localhost:5000/bb:1");
  auto all = store_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].name, "localhost:5000/bb:1");
}

// What `docker save` writes: the same image, its layers as Docker tars them.
TEST_F(ImageStoreTest, CopiesInFromADockerArchiveAndPreparesIt) {
  std::string archive = tmp_ + "/saved.tar";
  ASSERT_EQ(testing::run_test_tool({"skopeo", "copy", "--insecure-policy", "--quiet",
                                    test_images().source("busybox-edited"),
                                    "docker-archive:" + archive + ":busybox:saved"},
                                   tmp_ + "/skopeo.log"),
            "");
  auto stored = run_loop(store_->copy_in("docker-archive:" + archive, image_ref("saved:1")));
  ASSERT_TRUE(stored) << stored.error().message();
  EXPECT_EQ(stored->name, "docker.io/library/saved:1");
  auto prepared = prepare("saved:1");
  ASSERT_TRUE(prepared) << prepared.error().message();
  EXPECT_EQ(prepared->layers.size(), 2u);
  EXPECT_EQ(prepared->config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  // The edit's deletion of /bin/cat, as an overlay whiteout.
  EXPECT_TRUE(fs::is_character_file(prepared->layers[0] + "/bin/cat"));
  EXPECT_TRUE(fs::exists(prepared->layers[1] + "/bin/sh") ||
              fs::is_symlink(prepared->layers[1] + "/bin/sh"));
}

TEST_F(ImageStoreTest, PrepareReturnsTheLayersTopFirstWithTheImagesFiles) {
  copy_in("busybox-edited", "busybox:edited");
  auto image = prepare("busybox:edited");
  ASSERT_TRUE(image) << image.error().message();
  ASSERT_EQ(image->layers.size(), 2u);
  EXPECT_EQ(image->locks.size(), 2u);
  EXPECT_TRUE(exists(image->layers[0] + "/etc/added"));  // top
  EXPECT_FALSE(exists(image->layers[0] + "/bin/busybox"));
  EXPECT_TRUE(exists(image->layers[1] + "/bin/busybox"));  // bottom
  EXPECT_EQ(fs::read_symlink(image->layers[1] + "/bin/sh"), "busybox");
  EXPECT_EQ(image->config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(image->config.cmd, (std::vector<std::string>{"echo hello from the image"}));
  EXPECT_EQ(image->config.working_dir, "/tmp");
  EXPECT_EQ(image->digest, (*store_->find(image_ref("busybox:edited")))->digest);
  for (const std::string& layer : image->layers) {
    EXPECT_EQ(fs::path(layer).parent_path(), tmp_ + "/store/layers");
  }
  EXPECT_EQ(count_prefixed(tmp_ + "/store/layers", ".tmp-"), 0);
}

TEST_F(ImageStoreTest, ASecondPrepareReusesTheUnpackedLayers) {
  copy_in("busybox", "busybox:test");
  auto first = prepare("busybox:test");
  ASSERT_TRUE(first) << first.error().message();
  std::ofstream(first->layers[0] + "/marker") << "still here";
  auto second = prepare("busybox:test");
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->layers, first->layers);
  EXPECT_TRUE(exists(second->layers[0] + "/marker"));
}

TEST_F(ImageStoreTest, TwoStoresUnpackingTheSameLayerAtOnceBothSucceed) {
  copy_in("busybox-edited", "busybox:edited");
  ImageStore other(tmp_ + "/store");
  asio::io_context ioc;
  std::optional<Result<PreparedImage>> a;
  std::optional<Result<PreparedImage>> b;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> { a = co_await store_->prepare(image_ref("busybox:edited")); },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> { b = co_await other.prepare(image_ref("busybox:edited")); },
      asio::detached);
  ioc.run();
  ASSERT_TRUE(a && *a) << (a ? a->error().message() : "");
  ASSERT_TRUE(b && *b) << (b ? b->error().message() : "");
  EXPECT_EQ((*a)->layers, (*b)->layers);
  EXPECT_TRUE(exists((*a)->layers[1] + "/bin/busybox"));
  EXPECT_EQ(count_prefixed(tmp_ + "/store/layers", ".tmp-"), 0);
}

TEST_F(ImageStoreTest, TwoCopiesIntoOneStoreAtOnceBothLand) {
  ImageStore other(tmp_ + "/store");
  asio::io_context ioc;
  std::optional<Result<StoredImage>> a;
  std::optional<Result<StoredImage>> b;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        a = co_await store_->copy_in(test_images().source("busybox"), image_ref("one:1"));
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        b = co_await other.copy_in(test_images().source("busybox-edited"), image_ref("two:2"));
      },
      asio::detached);
  ioc.run();
  ASSERT_TRUE(a && *a) << (a ? a->error().message() : "");
  ASSERT_TRUE(b && *b) << (b ? b->error().message() : "");
  auto all = store_->list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "docker.io/library/one:1");
  EXPECT_EQ((*all)[1].name, "docker.io/library/two:2");
  ASSERT_TRUE(run_loop(store_->prepare(image_ref("one:1"))));
  ASSERT_TRUE(run_loop(other.prepare(image_ref("two:2"))));
}

TEST_F(ImageStoreTest, WhiteoutsBecomeCharacterDevicesAndOpaqueDirectories) {
  std::string why = raw_layer_tag("busybox", "busybox-opaque", [](const std::string& tree) {
    fs::create_directories(tree + "/etc");
    std::ofstream(tree + "/etc/.wh..wh..opq") << "";
    std::ofstream(tree + "/etc/only") << "the only file of /etc\n";
    std::ofstream(tree + "/.wh.tmp") << "";
  });
  ASSERT_EQ(why, "");
  copy_in("busybox-edited", "busybox:edited");
  copy_in("busybox-opaque", "busybox:opaque");
  auto edited = prepare("busybox:edited");
  ASSERT_TRUE(edited) << edited.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat((edited->layers[0] + "/bin/cat").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(exists(edited->layers[0] + "/bin/.wh.cat"));
  auto opaque = prepare("busybox:opaque");
  ASSERT_TRUE(opaque) << opaque.error().message();
  char value[8] = {};
  ssize_t n = ::lgetxattr((opaque->layers[0] + "/etc").c_str(), "trusted.overlay.opaque", value,
                          sizeof value);
  EXPECT_EQ(std::string(value, n > 0 ? static_cast<std::size_t>(n) : 0), "y");
  EXPECT_FALSE(exists(opaque->layers[0] + "/etc/.wh..wh..opq"));
  EXPECT_TRUE(exists(opaque->layers[0] + "/etc/only"));
  ASSERT_EQ(::lstat((opaque->layers[0] + "/tmp").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(ImageStoreTest, ACorruptedBlobIsRefusedNamingTheLayer) {
  StoredImage stored = copy_in("busybox", "busybox:test");
  // blobs: manifest, layer, config.
  ASSERT_EQ(stored.blobs.size(), 3u);
  std::string blob = image_store_detail::blob_path(tmp_ + "/store", stored.blobs[1]);
  std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(fs::file_size(blob) / 2));
  char c = 0;
  f.read(&c, 1);
  f.seekp(static_cast<std::streamoff>(fs::file_size(blob) / 2));
  c = static_cast<char>(c ^ 0x5a);
  f.write(&c, 1);
  f.close();
  auto image = prepare("busybox:test");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message().find("layer 1 of 1 (" + stored.blobs[1].substr(0, 19)),
            std::string::npos)
      << image.error().message();
  EXPECT_NE(image.error().message().find("does not match its digest"), std::string::npos)
      << image.error().message();
  EXPECT_EQ(count_prefixed(tmp_ + "/store/layers", ".tmp-"), 0);
}

TEST_F(ImageStoreTest, ALayerWithADotDotMemberIsRefusedNamingIt) {
  std::string why = raw_layer_tag(
      "busybox", "busybox-evil",
      [](const std::string& tree) { std::ofstream(tree + "/x") << "outside"; }, "s,^\\./x,../x,");
  ASSERT_EQ(why, "");
  copy_in("busybox-evil", "busybox:evil");
  auto image = prepare("busybox:evil");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message().find("\"../x\""), std::string::npos) << image.error().message();
  EXPECT_NE(image.error().message().find("layer 2 of 2"), std::string::npos)
      << image.error().message();
  EXPECT_FALSE(exists(tmp_ + "/store/x"));
  EXPECT_FALSE(exists(tmp_ + "/store/layers/x"));
  EXPECT_EQ(count_prefixed(tmp_ + "/store/layers", ".tmp-"), 0);
}

TEST_F(ImageStoreTest, RemoveKeepsWhatAnotherImageSharesAndDropsTheRest) {
  copy_in("busybox", "busybox:test");
  StoredImage edited = copy_in("busybox-edited", "busybox:edited");
  auto image = prepare("busybox:edited");
  ASSERT_TRUE(image) << image.error().message();
  std::vector<std::string> layers = image->layers;
  image->locks.clear();  // the container has gone
  auto removed = run_loop(store_->remove(image_ref("busybox:edited")));
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(*store_->find(image_ref("busybox:edited")));
  EXPECT_FALSE(exists(layers[0]));  // its own top layer
  EXPECT_TRUE(exists(layers[1]));   // shared with busybox:test
  EXPECT_FALSE(exists(image_store_detail::blob_path(tmp_ + "/store", edited.blobs[0])));
  EXPECT_TRUE(exists(image_store_detail::blob_path(tmp_ + "/store", edited.blobs[1])));
  EXPECT_EQ(read_text(tmp_ + "/store/oci/index.json").find("busybox:edited"), std::string::npos);
  auto still = prepare("busybox:test");
  ASSERT_TRUE(still) << still.error().message();
}

TEST_F(ImageStoreTest, RemoveKeepsALayerAContainerHoldsUntilALaterRemove) {
  copy_in("busybox", "busybox:test");
  auto image = prepare("busybox:test");
  ASSERT_TRUE(image) << image.error().message();
  auto removed = run_loop(store_->remove(image_ref("busybox:test")));
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_TRUE(store_->list()->empty());
  EXPECT_TRUE(exists(image->layers[0] + "/bin/busybox"));  // locked: in use
  image->locks.clear();
  copy_in("busybox-edited", "busybox:edited");
  ASSERT_TRUE(run_loop(store_->remove(image_ref("busybox:edited"))));
  EXPECT_FALSE(exists(image->layers[0]));  // nobody holds it now
  EXPECT_EQ(count_prefixed(tmp_ + "/store/layers", ""), 0);
  EXPECT_EQ(count_prefixed(tmp_ + "/store/oci/blobs/sha256", ""), 0);
}

TEST_F(ImageStoreTest, RefusesOtherTransportsAndNamesWhatIsMissing) {
  auto dir = run_loop(store_->copy_in("dir:/tmp/somewhere", image_ref("busybox:x")));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code(), std::errc::invalid_argument);
  EXPECT_NE(dir.error().message().find("\"dir\""), std::string::npos) << dir.error().message();
  auto storage = run_loop(store_->copy_in("containers-storage:busybox", image_ref("busybox:x")));
  ASSERT_FALSE(storage);
  EXPECT_EQ(storage.error().code(), std::errc::invalid_argument);
  auto missing = prepare("busybox:missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), std::errc::no_such_file_or_directory);
  EXPECT_NE(missing.error().message().find("docker.io/library/busybox:missing"), std::string::npos);
  auto removed = run_loop(store_->remove(image_ref("busybox:missing")));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), std::errc::no_such_file_or_directory);
  auto nowhere = run_loop(store_->copy_in("oci:" + tmp_ + "/no-layout:x", image_ref("busybox:x")));
  ASSERT_FALSE(nowhere);
  EXPECT_NE(nowhere.error().message().find("skopeo"), std::string::npos);
  EXPECT_TRUE(store_->list()->empty());
}

TEST(ImageStoreRecords, RoundTripAndRefuseBadDigests) {
  StoredImage r;
  r.name = "docker.io/library/busybox:1";
  r.digest = "sha256:" + std::string(64, 'a');
  r.size = 123;
  r.architecture = "amd64";
  r.blobs = {r.digest};
  r.diff_ids = {"sha256:" + std::string(64, 'b')};
  auto back = image_store_detail::parse_records(image_store_detail::serialize_records({r, r}));
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].name, r.name);
  EXPECT_EQ((*back)[1].size, 123u);
  EXPECT_EQ((*back)[1].diff_ids, r.diff_ids);
  r.blobs = {"sha256:../../etc"};
  EXPECT_FALSE(image_store_detail::parse_records(image_store_detail::serialize_records({r})));
  EXPECT_FALSE(image_store_detail::parse_records("{}"));
}

}  // namespace
}  // namespace tender::pod

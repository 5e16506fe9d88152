#include "sidecar/sync_tree.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tender::sidecar {
namespace {

namespace fs = std::filesystem;

class SyncTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sync-tree-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    layout_ = TreeLayout{root_ + "/dest", "current"};
    ASSERT_TRUE(prepare_dest(layout_));
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Publishes a tree whose index.html says `text`.
  void publish_text(const std::string& revision, const std::string& text) {
    auto staging = make_staging(layout_, revision);
    ASSERT_TRUE(staging) << staging.error().message();
    write(*staging + "/index.html", text);
    auto tree = publish(layout_, *staging, revision);
    ASSERT_TRUE(tree) << tree.error().message();
  }

  std::string root_;
  TreeLayout layout_;
};

TEST_F(SyncTree, PublishesThroughARelativeSymlinkThatIsSwapped) {
  EXPECT_EQ(*published_revision(layout_), "");
  publish_text("aaa", "one");
  EXPECT_EQ(read(layout_.link_path() + "/index.html"), "one");
  EXPECT_EQ(fs::read_symlink(layout_.link_path()).string(), ".tender-sync/rev-aaa");
  EXPECT_EQ(*published_revision(layout_), "aaa");
  publish_text("bbb", "two");
  EXPECT_EQ(read(layout_.link_path() + "/index.html"), "two");
  EXPECT_EQ(*published_revision(layout_), "bbb");
  // The volume mounted elsewhere (another container) still resolves the link.
  fs::rename(root_ + "/dest", root_ + "/moved");
  EXPECT_EQ(read(root_ + "/moved/current/index.html"), "two");
}

TEST_F(SyncTree, AReaderHoldingTheOldTreeKeepsReadingIt) {
  publish_text("aaa", "one");
  std::string held = fs::canonical(layout_.link_path()).string();
  publish_text("bbb", "two");
  EXPECT_EQ(read(held + "/index.html"), "one");  // never changed in place
}

TEST_F(SyncTree, RemovesOldTreesButTheCurrentAndTheOneKept) {
  publish_text("aaa", "one");
  publish_text("bbb", "two");
  publish_text("ccc", "three");
  auto staging = make_staging(layout_, "leftover");
  ASSERT_TRUE(staging);
  auto removed = remove_old_trees(layout_, "rev-bbb");
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(*removed, 2);  // rev-aaa and the staging tree
  EXPECT_TRUE(fs::exists(layout_.state_dir() + "/rev-bbb"));
  EXPECT_TRUE(fs::exists(layout_.state_dir() + "/rev-ccc"));
  EXPECT_FALSE(fs::exists(layout_.state_dir() + "/rev-aaa"));
  EXPECT_TRUE(fs::exists(layout_.cache_dir()));
  EXPECT_EQ(*remove_old_trees(layout_), 1);
  EXPECT_EQ(read(layout_.link_path() + "/index.html"), "three");
}

TEST_F(SyncTree, RepublishingTheSameRevisionChangesNothing) {
  publish_text("aaa", "one");
  publish_text("aaa", "other bytes");
  EXPECT_EQ(read(layout_.link_path() + "/index.html"), "one");
}

TEST_F(SyncTree, ARealDirectoryWhereTheLinkGoesIsAnError) {
  fs::create_directories(layout_.link_path());
  auto staging = make_staging(layout_, "aaa");
  ASSERT_TRUE(staging);
  auto tree = publish(layout_, *staging, "aaa");
  ASSERT_FALSE(tree);
  EXPECT_NE(tree.error().message().find("must be a symlink"), std::string::npos);
}

TEST_F(SyncTree, PrepareDestFailsOnAFile) {
  write(root_ + "/file", "x");
  auto r = prepare_dest(TreeLayout{root_ + "/file", "current"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(root_ + "/file"), std::string::npos);
}

TEST_F(SyncTree, TreeNamesKeepOnlySafeCharacters) {
  EXPECT_EQ(tree_name("3f2a"), "rev-3f2a");
  EXPECT_EQ(tree_name("../x y"), "rev-.._x_y");
  EXPECT_EQ(tree_name(std::string(100, 'a')).size(), 4u + 64u);
}

TEST_F(SyncTree, DirRevisionChangesWithNamesSizesAndMtimes) {
  std::string src = root_ + "/src";
  write(src + "/a.txt", "hello");
  write(src + "/sub/b.txt", "world");
  auto r1 = dir_revision(src);
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_EQ(*dir_revision(src), *r1);
  write(src + "/a.txt", "hello!");
  auto r2 = dir_revision(src);
  EXPECT_NE(*r2, *r1);
  fs::rename(src + "/sub/b.txt", src + "/sub/c.txt");
  EXPECT_NE(*dir_revision(src), *r2);
  EXPECT_FALSE(dir_revision(root_ + "/missing"));
}

TEST_F(SyncTree, CopyTreeCopiesFilesDirectoriesAndSymlinksWithinTheBound) {
  std::string src = root_ + "/src";
  write(src + "/a.txt", "hello");
  write(src + "/sub/b.sh", "#!/bin/sh\n");
  ::chmod((src + "/sub/b.sh").c_str(), 0755);
  fs::create_symlink("a.txt", src + "/link");
  std::string to = root_ + "/copy";
  fs::create_directory(to);
  auto n = copy_tree(src, to, 1 << 20);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 15u);
  EXPECT_EQ(read(to + "/sub/b.sh"), "#!/bin/sh\n");
  EXPECT_EQ(fs::status(to + "/sub/b.sh").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  EXPECT_EQ(fs::read_symlink(to + "/link").string(), "a.txt");
  std::string small = root_ + "/small";
  fs::create_directory(small);
  auto over = copy_tree(src, small, 10);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), std::errc::file_too_large);
}

TEST(RevisionHash, IsStableAndTellsInputsApart) {
  RevisionHash a;
  a.add("abc");
  RevisionHash b;
  b.add("abc");
  RevisionHash c;
  c.add("abd");
  EXPECT_EQ(a.hex(), b.hex());
  EXPECT_NE(a.hex(), c.hex());
  EXPECT_EQ(a.hex().size(), 32u);
}

}  // namespace
}  // namespace tender::sidecar

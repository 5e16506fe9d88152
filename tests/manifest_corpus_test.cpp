// tests/manifests/: manifests in the shapes real ones take, each validated by the real binary
// and run or refused as its first line (`# expect: ...`) says, which is what docs/pod.md says.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace fs = std::filesystem;

TEST(ManifestCorpus, EachRunsOrIsRefusedForItsDocumentedReason) {
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(std::string(TENDER_TESTS_DIR) + "/manifests")) {
    if (entry.path().extension() != ".yaml") {
      continue;
    }
    ++files;
    const std::string file = entry.path().string();
    std::string first;
    std::getline(std::ifstream(file), first);
    const std::string ok = "# expect: ok";
    const std::string refused = "# expect: exit 2: ";
    RunResult r = run_tender({"pod", "validate", file});
    if (first == ok) {
      EXPECT_TRUE(r.status.success()) << file << ": " << r.err;
      EXPECT_EQ(r.out.rfind("ok: ", 0), 0U) << file << ": " << r.out;
    } else {
      ASSERT_EQ(first.rfind(refused, 0), 0U) << file << " has no `# expect:` first line";
      EXPECT_EQ(r.status.code, 2) << file << ": " << r.err;
      // The reason, at its file and line.
      EXPECT_NE(r.err.find(file + ":"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(first.substr(refused.size())), std::string::npos) << r.err;
    }
  }
  EXPECT_GE(files, 12U);
}

}  // namespace
}  // namespace tender::testing

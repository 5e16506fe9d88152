// The entry point: help, version, unknown roles.
#include <gtest/gtest.h>

#include "support.hpp"

namespace tender::testing {
namespace {

TEST(Cli, HelpListsRoles) {
  auto r = run_tender({"--help"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_NE(r.out.find("echo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("version"), std::string::npos);
}

TEST(Cli, VersionPrintsVersionCommitAndBuildType) {
  auto r = run_tender({"version"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_EQ(r.out.rfind("tender 0.", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("commit "), std::string::npos);
  EXPECT_NE(r.out.find("build)"), std::string::npos);
}

TEST(Cli, RoleHelp) {
  auto r = run_tender({"echo", "--help"});
  EXPECT_EQ(r.status.code, 0);
  for (const char* flag : {"--listen", "--admin", "--grace", "--log-format", "--config", "--id"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(Cli, PodRunHelpSaysWhatTheGraceDefaultIs) {
  auto r = run_tender({"pod", "run", "--help"});
  EXPECT_EQ(r.status.code, 0);
  std::size_t at = r.out.find("--grace");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  EXPECT_NE(line.find("terminationGracePeriodSeconds plus 5s"), std::string::npos) << line;
  EXPECT_EQ(line.find("default 30s"), std::string::npos) << line;
}

TEST(Cli, UnknownRoleExits2AndListsRoles) {
  auto r = run_tender({"frobnicate"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("unknown role 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("echo"), std::string::npos);
}

TEST(Cli, NoRoleExits2WithUsage) {
  auto r = run_tender({});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE((r.out + r.err).find("echo"), std::string::npos);
}

}  // namespace
}  // namespace tender::testing

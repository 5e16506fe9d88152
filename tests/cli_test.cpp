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

TEST(Cli, HelpNamesARangeInWords) {
  auto r = run_tender({"pod", "delay", "--help"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_NE(r.out.find("--ms an integer from 0 to 600000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--loss a number from 0 to 100"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" in ["), std::string::npos) << r.out;
  auto limits = run_tender({"pod", "validate", "--help"});
  EXPECT_NE(limits.out.find("--max-pods a positive integer"), std::string::npos) << limits.out;
  // The range still holds: a value outside is refused before anything runs.
  auto out_of_range = run_tender({"pod", "scale", "web", "1001", "--admin", "127.0.0.1:1"});
  EXPECT_EQ(out_of_range.status.code, 2);
  EXPECT_NE(out_of_range.err.find("1001"), std::string::npos) << out_of_range.err;
}

TEST(Cli, UnknownRoleExits2AndListsRoles) {
  auto r = run_tender({"frobnicate"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("unknown role 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("echo"), std::string::npos);
}

// tools/quickstart.sh builds quickstart/tender, with only the roles the quickstart runs: each
// of them works, and another role is refused with what to build instead.
TEST(Cli, TheQuickstartBinaryCarriesItsRolesAndNamesThoseLeftOut) {
  auto help = run_command({TENDER_QUICKSTART_BINARY, "--help"});
  EXPECT_EQ(help.status.code, 0);
  for (const char* role : {"pod", "proxy", "tail", "sync", "adapt"}) {
    auto r = run_command({TENDER_QUICKSTART_BINARY, role, "--help"});
    EXPECT_EQ(r.status.code, 0) << role << ": " << r.err;
  }
  auto valid = run_command({TENDER_QUICKSTART_BINARY, "pod", "validate",
                            TENDER_TESTS_DIR "/../examples/quickstart/quickstart.yaml"});
  EXPECT_EQ(valid.status.code, 0) << valid.out << valid.err;
  auto elect = run_command({TENDER_QUICKSTART_BINARY, "elect", "--help"});
  EXPECT_EQ(elect.status.code, 2);
  EXPECT_NE(elect.err.find("unknown role 'elect'; roles: version, pod, proxy, tail, sync, adapt\n"),
            std::string::npos)
      << elect.err;
  EXPECT_NE(elect.err.find("built without the roles echo, election, workqueue, scatter; "
                           "tools/build.sh builds build/src/tender with every role"),
            std::string::npos)
      << elect.err;
  auto version = run_command({TENDER_QUICKSTART_BINARY, "version"});
  EXPECT_NE(version.out.find("built without the roles echo, election, workqueue, scatter\n"),
            std::string::npos)
      << version.out;
  // The whole binary names no role left out.
  EXPECT_EQ(run_tender({"version"}).out.find("without"), std::string::npos);
  EXPECT_EQ(run_tender({"elect", "--bogus"}).err.find("built without"), std::string::npos);
}

TEST(Cli, NoRoleExits2WithUsage) {
  auto r = run_tender({});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE((r.out + r.err).find("echo"), std::string::npos);
}

}  // namespace
}  // namespace tender::testing

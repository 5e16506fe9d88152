// Which containers get a web view link: tender roles, and the admin address they listen on.
#include "pod/admin_target.hpp"

#include <gtest/gtest.h>

namespace tender::pod {
namespace {

std::string admin_of(const std::vector<std::string>& argv,
                     std::string_view self = "/opt/bin/tender") {
  auto hp = tender_admin_address(argv, self, "10.217.0.7");
  return hp ? hp->str() : "none";
}

TEST(AdminTarget, ARoleWithoutAdminFlagListensOnItsDefaultPort) {
  EXPECT_EQ(admin_of({"tender", "echo", "--listen", "127.0.0.1:8080"}), "127.0.0.1:9901");
  EXPECT_EQ(admin_of({"/usr/bin/tender", "proxy"}), "127.0.0.1:9902");
  EXPECT_EQ(admin_of({"tender", "tail"}), "127.0.0.1:9903");
  EXPECT_EQ(admin_of({"tender", "sync"}), "127.0.0.1:9904");
  EXPECT_EQ(admin_of({"tender", "adapt"}), "127.0.0.1:9905");
  EXPECT_EQ(admin_of({"tender", "elect"}), "127.0.0.1:9906");
  EXPECT_EQ(admin_of({"tender", "queue"}), "127.0.0.1:9907");
  EXPECT_EQ(admin_of({"tender", "work"}), "127.0.0.1:9908");
  EXPECT_EQ(admin_of({"tender", "scatter"}), "127.0.0.1:9909");
  EXPECT_EQ(admin_of({"tender", "pod", "run", "x.yaml"}), "127.0.0.1:9900");
}

TEST(AdminTarget, TheLastAdminFlagWinsAndWildcardsMeanThePodAddress) {
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "10.217.0.7:9999"}), "10.217.0.7:9999");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin=127.0.0.1:1", "--admin", ":2"}), "127.0.0.1:2");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "0.0.0.0:9901"}), "10.217.0.7:9901");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "[::]:9901"}), "10.217.0.7:9901");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "localhost:9901"}), "127.0.0.1:9901");
  // After "--" come the wrapped command's arguments, not the role's.
  EXPECT_EQ(admin_of({"tender", "work", "--", "tender", "echo", "--admin", ":1"}),
            "127.0.0.1:9908");
}

TEST(AdminTarget, TheRunnersOwnBinaryCountsUnderAnyName) {
  EXPECT_EQ(admin_of({"/build/src/tender-dev", "echo"}, "/build/src/tender-dev"), "127.0.0.1:9901");
  EXPECT_EQ(admin_of({"./tender-dev", "echo"}, "/opt/tender"), "none");
}

TEST(AdminTarget, OtherCommandsAndBadAddressesHaveNone) {
  EXPECT_EQ(admin_of({"sh", "-c", "tender echo"}), "none");
  EXPECT_EQ(admin_of({"tender"}), "none");
  EXPECT_EQ(admin_of({"tender", "version"}), "none");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "nonsense"}), "none");
  EXPECT_EQ(admin_of({"tender", "echo", "--admin", "127.0.0.1:0"}), "none");
}

}  // namespace
}  // namespace tender::pod

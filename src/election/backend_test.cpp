#include "election/backend.hpp"

#include <gtest/gtest.h>

namespace tender::election {
namespace {

TEST(BackendUrl, FileTakesAPath) {
  auto url = parse_backend_url("file:/shared/leader.lock");
  ASSERT_TRUE(url) << url.error().message();
  EXPECT_EQ(url->kind, BackendUrl::Kind::kFile);
  EXPECT_EQ(url->path, "/shared/leader.lock");
  EXPECT_EQ(parse_backend_url("file:///shared/x")->path, "/shared/x");
}

TEST(BackendUrl, EtcdTakesEndpointsInOrderAndAPrefix) {
  auto url = parse_backend_url("etcd://127.0.0.1:2379,127.0.0.1:22379");
  ASSERT_TRUE(url) << url.error().message();
  EXPECT_EQ(url->kind, BackendUrl::Kind::kEtcd);
  ASSERT_EQ(url->endpoints.size(), 2U);
  EXPECT_EQ(url->endpoints[1].port, 22379);
  EXPECT_EQ(url->prefix, "/tender/elect");
  EXPECT_EQ(parse_backend_url("etcd://127.0.0.1:2379/apps/db/")->prefix, "/apps/db");
}

TEST(BackendUrl, RejectsWhatItCannotUseNamingIt) {
  for (const char* bad : {"", "file:", "file:/dir/", "etcd://", "etcd://127.0.0.1",
                          "etcd://127.0.0.1:2379,,x", "zk://127.0.0.1:2181", "/shared/lock"}) {
    auto url = parse_backend_url(bad);
    ASSERT_FALSE(url) << bad;
    EXPECT_EQ(url.error().code(), std::errc::invalid_argument);
    EXPECT_NE(url.error().message().find("backend '"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace tender::election

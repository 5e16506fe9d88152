#include "core/admin_access.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

Request make(std::string method, std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.method = std::move(method);
  r.target = r.path = "/quitquitquit";
  for (auto& [k, v] : headers) {
    r.headers.add(k, v);
  }
  return r;
}

int status_of(const AdminAccess& a, const Request& r) {
  auto refused = a.check(r);
  return refused ? refused->status : 0;
}

TEST(AdminAccess, HostMustBeAnAddressOrLocalhostOrAllowed) {
  AdminAccess a;
  for (const char* ok : {"127.0.0.1:9901", "127.0.0.1", "10.1.2.3:80", "[::1]:9901", "[::1]",
                         "localhost:9901", "LOCALHOST", "app.localhost:1"}) {
    EXPECT_EQ(status_of(a, make("GET", {{"Host", ok}})), 0) << ok;
  }
  // A page that rebinds its name to 127.0.0.1 still sends its name.
  for (const char* bad : {"evil.example:9901", "evil.example", "localhost.evil.example",
                          "127.0.0.1.evil.example", "[::1", "0x7f000001", "2130706433"}) {
    auto r = a.check(make("GET", {{"Host", bad}}));
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 421) << bad;
    EXPECT_NE(r->body.find("--admin-allow-host"), std::string::npos);
  }
  // No Host at all (HTTP/1.0 tools): no browser sends such a request.
  EXPECT_EQ(status_of(a, make("GET", {})), 0);

  AdminAccess named{{"tender.internal"}};
  EXPECT_EQ(status_of(named, make("GET", {{"Host", "Tender.Internal:9901"}})), 0);
  EXPECT_EQ(status_of(named, make("GET", {{"Host", "other.internal"}})), 421);
  AdminAccess any{{"*"}};
  EXPECT_EQ(status_of(any, make("GET", {{"Host", "whatever.example"}})), 0);
}

TEST(AdminAccess, StateChangingRequestsOnlyFromTheirOwnOrigin) {
  AdminAccess a;
  const std::pair<std::string, std::string> host{"Host", "127.0.0.1:9901"};
  // A cross-site "simple" POST, as a form or fetch with text/plain sends it.
  EXPECT_EQ(
      status_of(a, make("POST",
                        {host, {"Origin", "http://evil.example"}, {"Content-Type", "text/plain"}})),
      403);
  EXPECT_EQ(status_of(a, make("POST", {host, {"Origin", "null"}})), 403);
  EXPECT_EQ(status_of(a, make("DELETE", {host, {"Origin", "http://127.0.0.1:8080"}})), 403);
  EXPECT_EQ(status_of(a, make("POST", {host, {"Sec-Fetch-Site", "cross-site"}})), 403);
  // Another port of localhost is the same site but not the same origin.
  EXPECT_EQ(status_of(a, make("POST", {host, {"Sec-Fetch-Site", "same-site"}})), 403);
  // Its own page, and tools that send no Origin, are served.
  EXPECT_EQ(status_of(a, make("POST", {host, {"Origin", "http://127.0.0.1:9901"}})), 0);
  EXPECT_EQ(status_of(a, make("POST", {host,
                                       {"Origin", "http://127.0.0.1:9901"},
                                       {"Sec-Fetch-Site", "same-origin"}})),
            0);
  EXPECT_EQ(status_of(a, make("POST", {host})), 0);
  EXPECT_EQ(status_of(a, make("POST", {})), 0);
  // Reading is left to the Host check (a browser keeps a cross-origin answer from its page).
  EXPECT_EQ(status_of(a, make("GET", {host, {"Origin", "http://evil.example"}})), 0);
}

TEST(AdminAccess, Addresses) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.9.9.9"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("[::1]"));
  EXPECT_TRUE(is_loopback_address("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("::"));
  EXPECT_FALSE(is_loopback_address("10.0.0.1"));
  EXPECT_FALSE(is_loopback_address("localhost"));
  EXPECT_TRUE(is_ip_literal_host("10.0.0.1:80"));
  EXPECT_TRUE(is_ip_literal_host("[fe80::1]:80"));
  EXPECT_FALSE(is_ip_literal_host("fe80::1"));  // unbracketed: not a Host value
  EXPECT_FALSE(is_ip_literal_host("example.com"));
}

}  // namespace
}  // namespace tender

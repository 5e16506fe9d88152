#include "core/app.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender {
namespace {

namespace json = boost::json;

// /configz shows a role's settings; what looks like a secret never leaves the process, however
// deep it sits, while the rest stays readable.
TEST(RedactSecrets, SecretLookingKeysAreRedactedAtAnyDepth) {
  json::object cfg = json::parse(R"({
    "password": "hunter2", "url": "http://127.0.0.1/",
    "redis": {"address": "127.0.0.1:6379", "Password": "p"},
    "sources": [{"headers": {"Authorization": "Bearer x", "X-Api-Key": "k", "Cookie": "c=1",
                             "Accept": "application/json"}}],
    "token_file": "", "session_id": "s"
  })")
                         .as_object();
  redact_secrets(cfg);
  EXPECT_EQ(cfg["password"], "<redacted>");
  EXPECT_EQ(cfg["url"], "http://127.0.0.1/");
  EXPECT_EQ(cfg["redis"].at("address"), "127.0.0.1:6379");
  EXPECT_EQ(cfg["redis"].at("Password"), "<redacted>");
  const auto& headers = cfg["sources"].as_array()[0].at("headers");
  EXPECT_EQ(headers.at("Authorization"), "<redacted>");
  EXPECT_EQ(headers.at("X-Api-Key"), "<redacted>");
  EXPECT_EQ(headers.at("Cookie"), "<redacted>");
  EXPECT_EQ(headers.at("Accept"), "application/json");
  EXPECT_EQ(cfg["token_file"], "");  // empty: nothing to hide, and it shows it is unset
  EXPECT_EQ(cfg["session_id"], "<redacted>");
}

}  // namespace
}  // namespace tender

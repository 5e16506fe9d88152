#include "core/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace tender {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) {
    return Error(std::errc::invalid_argument, "not positive: " + std::to_string(v));
  }
  return v;
}

Result<> touch(bool fail) {
  if (fail) {
    return Error::from_errno(ENOENT, "cannot open /nowhere");
  }
  return {};
}

TEST(Error, CarriesACodeAndAMessage) {
  auto r = parse_positive(-3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::invalid_argument);
  EXPECT_EQ(r.error().message(), "not positive: -3");
  EXPECT_EQ(parse_positive(4).value(), 4);
}

TEST(Error, FromErrnoNamesTheContextAndTheSystemReason) {
  auto r = touch(true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(r.error().message(), "cannot open /nowhere: No such file or directory");
  EXPECT_TRUE(touch(false));
}

TEST(Error, AnErrorCodeAloneKeepsItsOwnMessage) {
  Error e(make_error_code(boost::system::errc::connection_refused));
  EXPECT_EQ(e.message(), "Connection refused");
  EXPECT_EQ(e.with_context("10.0.0.1:80").message(), "10.0.0.1:80: Connection refused");
  EXPECT_EQ(e.with_context("x").code(), e.code());
}

TEST(Error, ValueOfAFailureThrowsSystemErrorWithTheMessage) {
  try {
    (void)parse_positive(0).value();
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()).rfind("not positive: 0", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace tender

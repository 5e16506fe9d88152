#include "sidecar/records.hpp"

#include <gtest/gtest.h>

namespace tender::sidecar {
namespace {

TEST(RecordOptions, RawOptionsAreValid) { EXPECT_FALSE(validate(RecordOptions{}).has_value()); }

}  // namespace
}  // namespace tender::sidecar

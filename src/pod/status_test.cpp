// The JSON of /v1/pods and the table of `tender pod status` (pod/status.hpp).
#include "pod/status.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::pod {
namespace {

namespace json = boost::json;

Container with_readiness_probe() {
  ContainerSpec spec;
  spec.name = "app";
  spec.readiness_probe = Probe{};
  return Container(spec, false, BackoffPolicy{});
}

TEST(ContainerJson, AProbeThatFailedBeforeTheAppListenedShowsNoFailuresOnceItPasses) {
  Container c = with_readiness_probe();
  c.readiness.record(false, "connection refused");
  c.readiness.record(true, "");
  json::object probe = c.to_json().at("probes").at("readiness").as_object();
  EXPECT_EQ(probe.at("result").as_string(), "success");
  EXPECT_EQ(probe.at("failures").as_int64(), 0);  // in a row, towards failureThreshold
  EXPECT_EQ(probe.at("totalFailures").as_int64(), 1);
}

TEST(ContainerJson, FailuresCountThoseInARow) {
  Container c = with_readiness_probe();
  c.readiness.record(false, "a");
  c.readiness.record(true, "");
  c.readiness.record(false, "b");
  c.readiness.record(false, "c");
  json::object probe = c.to_json().at("probes").at("readiness").as_object();
  EXPECT_EQ(probe.at("result").as_string(), "failure");
  EXPECT_EQ(probe.at("message").as_string(), "c");
  EXPECT_EQ(probe.at("failures").as_int64(), 2);
  EXPECT_EQ(probe.at("totalFailures").as_int64(), 3);
}

}  // namespace
}  // namespace tender::pod

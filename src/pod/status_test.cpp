// The JSON of /v1/pods and the table of `tender pod status` (pod/status.hpp).
#include "pod/status.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

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

json::value table_input(const std::string& pod, const std::string& reason) {
  return json::parse(R"({"pods":[{"name":")" + pod + R"(","phase":"Running","ready":false,
    "initContainers":[],
    "containers":[
      {"name":"app","type":"main","state":{"waiting":{"reason":")" +
                     reason + R"("}},
       "lastState":{"terminated":{"message":"exited with code 1"}},"restartCount":12},
      {"name":"sidecar-with-a-long-name","type":"main","state":{"running":{}},
       "lastState":{},"restartCount":0}]}]})");
}

TEST(StatusTable, ColumnsStayAlignedWhenAStateIsLong) {
  std::string table = status_table(table_input("web-6d4cf56db6-x7k2p", "CrashLoopBackOff"));
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < table.size();) {
    std::size_t nl = table.find('\n', at);
    lines.push_back(table.substr(at, nl - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  std::size_t restarts = lines[0].find("RESTARTS");
  std::size_t last = lines[0].find("LAST EXIT");
  std::size_t state = lines[0].find("STATE");
  ASSERT_NE(restarts, std::string::npos);
  ASSERT_NE(last, std::string::npos);
  // Every row's state starts under STATE, its restart count ends under RESTARTS' end, and its
  // last exit starts under LAST EXIT, however long the state or the names.
  EXPECT_EQ(lines[1].substr(state, 26), "waiting(CrashLoopBackOff) ");
  EXPECT_EQ(lines[1].substr(restarts, 8), "      12");
  EXPECT_EQ(lines[1].substr(last), "exited with code 1");
  EXPECT_EQ(lines[2].substr(state, 8), "running ");
  EXPECT_EQ(lines[2].substr(restarts, 8), "       0");
  EXPECT_EQ(lines[2].substr(last), "-");
  EXPECT_EQ(lines[2].substr(lines[0].find("CONTAINER"), 25), "sidecar-with-a-long-name ");
}

TEST(ServicesTable, PortsWithTheirNodePortAndTheEndpointsCounted) {
  auto v = boost::json::parse(R"({"services": [
    {"name": "frontend", "type": "NodePort", "clusterIP": "10.96.0.1",
     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080,
                "endpoints": ["10.217.0.3:8080", "10.217.0.4:8080"]},
               {"port": 9125, "protocol": "UDP", "endpoints": []}],
     "pods": [{"pod": "web-0", "ready": true}, {"pod": "web-1", "ready": true}]},
    {"name": "peers", "type": "ClusterIP", "clusterIP": "None", "ports": [],
     "pods": [{"pod": "web-0", "ready": true}, {"pod": "web-1", "ready": false}]}]})");
  EXPECT_EQ(services_table(v),
            "SERVICE  TYPE      CLUSTER-IP PORTS                 ENDPOINTS\n"
            "frontend NodePort  10.96.0.1  80:30080/TCP,9125/UDP 2\n"
            "peers    ClusterIP None       -                     1\n");
}

}  // namespace
}  // namespace tender::pod

// What the runner's web view reads from its admin API, with real processes: a container's log
// tail (offsets, rotation) and the proxy to the admin listener of a container running a role.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "free_port.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

class PodWebTest : public ::testing::Test {
 protected:
  void run(const std::string& manifest, std::vector<std::string> extra = {}) {
    std::string file = dir_.write("pod.yaml", manifest);
    std::vector<std::string> args = {
        "pod",         "run",           file,        "--admin",
        "127.0.0.1:0", "--no-log-view", "--run-dir", dir_.path() + "/run",
        "--network",   "host"};
    args.insert(args.end(), extra.begin(), extra.end());
    runner_.emplace(args);
  }
  HttpResult get(const std::string& target) { return http(runner_->port("admin"), "GET", target); }
  json::value logs(const std::string& query) {
    auto r = get("/v1/pods/talk/containers/app/logs" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json::value(nullptr);
  }
  // Gives the container `text` to print: it prints each file dropped as `go` and removes it.
  void say(const std::string& text) {
    while (std::filesystem::exists(dir_.path() + "/go")) {
      ::usleep(10'000);
    }
    std::ofstream(dir_.path() + "/go.tmp") << text;
    std::filesystem::rename(dir_.path() + "/go.tmp", dir_.path() + "/go");
  }
  std::string d() const { return dir_.path(); }

  TempDir dir_;
  std::optional<Tender> runner_;
};

std::string lines(int n, char c) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += std::string(29, c) + "\n";  // 30 bytes a line
  }
  return out;
}

TEST_F(PodWebTest, LogTailFollowsOffsetsAndStartsAgainAfterRotation) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  containers:
    - name: app
      command: ["sh", "-c", "while true; do if [ -f )Y" +
          d() + "/go ]; then cat " + d() + "/go; rm " + d() + R"Y(/go; fi; sleep 0.02; done"]
)Y",
      {"--log-max-bytes", "1KiB", "--log-keep", "1"});
  say("a1\na2\n");
  json::value first;
  ASSERT_TRUE(eventually([&] {
    first = logs("");
    return first.is_object() && first.at("size").as_int64() == 6;
  }));
  EXPECT_EQ(first.at("text").as_string(), "a1\na2\n");
  EXPECT_EQ(first.at("offset").as_int64(), 0);
  EXPECT_EQ(first.at("next").as_int64(), 6);
  std::string file(first.at("file").as_string());

  // From the offset: only what came after it.
  say("a3\n");
  std::string cursor = "?offset=6&file=" + file;
  ASSERT_TRUE(eventually([&] { return logs(cursor).at("size").as_int64() == 9; }));
  json::value next = logs(cursor);
  EXPECT_EQ(next.at("text").as_string(), "a3\n");
  EXPECT_EQ(next.at("offset").as_int64(), 6);
  EXPECT_EQ(next.at("next").as_int64(), 9);
  EXPECT_FALSE(next.as_object().contains("reset"));
  // Without one: the last `limit` bytes, whole lines only.
  EXPECT_EQ(logs("?limit=4").at("text").as_string(), "a3\n");

  // Up to 909 bytes, below the 1 KiB rotation; then 300 more, which rotate the file.
  say(lines(30, 'b'));
  ASSERT_TRUE(eventually([&] { return logs("").at("size").as_int64() == 909; }));
  say(lines(10, 'c'));
  ASSERT_TRUE(eventually([&] {
    return std::filesystem::exists(d() + "/run/pods/talk/logs/app.log.1") &&
           logs("").at("text").as_string().ends_with(std::string(29, 'c') + "\n");
  }));
  // The old cursor no longer fits: with or without the file's identity, the tail again.
  for (const std::string& query : {"?offset=909&file=" + file, std::string("?offset=909")}) {
    json::value after = logs(query);
    EXPECT_TRUE(after.as_object().contains("reset") && after.at("reset").as_bool()) << query;
    EXPECT_LT(after.at("size").as_int64(), 909);
    EXPECT_EQ(after.at("offset").as_int64(), 0);
    EXPECT_EQ(after.at("next").as_int64(), after.at("size").as_int64());
  }
  EXPECT_EQ(get("/v1/pods/talk/containers/app/logs?limit=0").status, 400);
  EXPECT_EQ(get("/v1/pods/talk/containers/app/logs?limit=262145").status, 400);
  EXPECT_EQ(get("/v1/pods/talk/containers/app/logs?offset=x").status, 400);
  auto missing = get("/v1/pods/talk/containers/nope/logs");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("no container talk/nope"), std::string::npos) << missing.body;
}

TEST_F(PodWebTest, AdminProxyReachesAContainersRoleWithoutTheBrowsersOrigin) {
  std::uint16_t port = free_port();
  std::string admin = "127.0.0.1:" + std::to_string(port);
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: roles}
spec:
  containers:
    - name: web
      command: [")Y" +
      std::string(TENDER_BINARY) + R"Y(", echo, --listen, "127.0.0.1:0", --admin, ")Y" + admin +
      R"Y("]
    - name: plain
      command: [sleep, "1000"]
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  restartPolicy: Never
  containers:
    - name: web
      command: [")Y" +
      std::string(TENDER_BINARY) + R"Y(", echo, --no-such-flag, --admin, "127.0.0.1:1"]
)Y");
  std::string base = "/v1/pods/roles/containers/web/admin/";
  ASSERT_TRUE(eventually([&] { return get(base + "statusz").status == 200; }, 20s));
  json::value st = json::parse(get(base + "statusz").body);
  EXPECT_EQ(st.at("role").as_string(), "echo");
  auto page = get(base + "ui");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("ui/static/ui.js"), std::string::npos);
  EXPECT_NE(page.header("content-security-policy"), "");

  json::value pod = json::parse(get("/v1/pods/roles").body);
  const auto& web = pod.at("containers").at(0);
  EXPECT_EQ(web.at("admin").as_string(), admin);
  EXPECT_EQ(web.at("ui").as_string(), "v1/pods/roles/containers/web/admin/ui");
  EXPECT_FALSE(pod.at("containers").at(1).as_object().contains("ui"));

  // A same-origin POST from the runner's page reaches the container, which would refuse the
  // runner's Origin as foreign: it is not passed on.
  auto drain =
      http(runner_->port("admin"), "POST", base + "drain", {{"Origin", "http://127.0.0.1"}});
  EXPECT_EQ(drain.status, 200) << drain.body;
  EXPECT_TRUE(eventually([&] { return get(base + "readyz").status == 503; }));
  // A cross-origin one stops at the runner.
  auto foreign = http(runner_->port("admin"), "POST", base + "quitquitquit",
                      {{"Origin", "http://attacker.example"}});
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(get(base + "healthz").status, 200);

  auto plain = get("/v1/pods/roles/containers/plain/admin/ui");
  EXPECT_EQ(plain.status, 404);
  EXPECT_NE(plain.body.find("runs no tender role"), std::string::npos) << plain.body;
  EXPECT_EQ(get("/v1/pods/roles/containers/nope/admin/ui").status, 404);
  ASSERT_TRUE(eventually([&] {
    auto p = get("/v1/pods/gone");
    return p.status == 200 && json::parse(p.body).at("phase").as_string() == "Failed";
  }));
  auto stopped = get("/v1/pods/gone/containers/web/admin/ui");
  EXPECT_EQ(stopped.status, 409);
  EXPECT_NE(stopped.body.find("not running"), std::string::npos) << stopped.body;
}

}  // namespace
}  // namespace tender::testing

// `tender adapt`'s health checks against real peers: a redis-server (stopped and resumed with
// SIGSTOP / SIGCONT), a command that outlives its timeout, a closed port, `tender echo` over
// HTTP, the aggregate /healthz/all, and a storm of requests that runs a check once.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "free_port.hpp"
#include "proxy_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

std::string config(const std::string& checks) { return "health:\n  checks:\n" + checks; }

// `tender adapt` with the checks of `yaml`.
struct Adapt {
  TempDir dir;
  Tender t;
  explicit Adapt(const std::string& yaml)
      : t({"adapt", "--admin", "127.0.0.1:0", "--config", dir.write("adapt.yaml", yaml)}) {}
  HttpResult get(const std::string& name) const {
    return http(t.port("admin"), "GET", "/healthz/" + name);
  }
};

pid_t redis_pid(const RedisServer& redis) {
  std::string info = redis.command({"INFO", "server"});
  auto at = info.find("process_id:");
  return at == std::string::npos ? -1 : std::stoi(info.substr(at + 11));
}

// Whether a process whose command line has `arg` is alive.
bool process_with_arg(const std::string& arg) {
  DIR* d = opendir("/proc");
  bool found = false;
  while (dirent* e = d == nullptr ? nullptr : readdir(d)) {
    std::string cmdline = slurp(std::string("/proc/") + e->d_name + "/cmdline");
    for (std::size_t at = 0; at < cmdline.size();) {
      std::size_t end = cmdline.find('\0', at);
      if (cmdline.substr(at, end - at) == arg) {
        found = true;
      }
      at = end == std::string::npos ? cmdline.size() : end + 1;
    }
  }
  if (d != nullptr) {
    closedir(d);
  }
  return found;
}

TEST(AdaptHealth, RedisCheckFollowsAStoppedAndResumedServer) {
  RedisServer redis;
  Adapt a(config("    - {name: redis, redis: '127.0.0.1:" + std::to_string(redis.port()) +
                 "', timeout: 300ms, cache: 0s}\n"));
  HttpResult ok = a.get("redis");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, "ok: PONG\n");
  pid_t pid = redis_pid(redis);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  HttpResult down;
  EXPECT_TRUE(eventually([&] {
    down = a.get("redis");
    return down.status == 503;
  }));
  EXPECT_NE(down.body.find("timed out"), std::string::npos) << down.body;
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  EXPECT_TRUE(eventually([&] { return a.get("redis").status == 200; }));
  EXPECT_EQ(admin_metric(a.t, {"tender_adapt_check_up", {{"check", "redis"}}}), 1);
  EXPECT_GE(admin_metric(
                a.t, {"tender_adapt_check_runs_total", {{"check", "redis"}, {"result", "fail"}}}),
            1);
}

TEST(AdaptHealth, RedisCheckWithAPassword) {
  RedisServer redis("s3cret");
  std::string at = "127.0.0.1:" + std::to_string(redis.port());
  Adapt a(config("    - {name: good, redis: '" + at + "', password: s3cret}\n" +
                 "    - {name: bad, redis: '" + at + "', password: nope}\n"));
  EXPECT_EQ(a.get("good").status, 200);
  HttpResult bad = a.get("bad");
  EXPECT_EQ(bad.status, 503);
  EXPECT_NE(bad.body.find("AUTH answered -WRONGPASS"), std::string::npos) << bad.body;
}

TEST(AdaptHealth, ExecTimeoutKillsTheCommand) {
  // A unique argument, to find the process by.
  const std::string arg = "30." + std::to_string(::getpid());
  Adapt a(config("    - {name: slow, exec: [sleep, '" + arg + "'], timeout: 300ms}\n"));
  HttpResult r = a.get("slow");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "timed out after 300ms\n");
  EXPECT_TRUE(eventually([&] { return !process_with_arg(arg); }));
}

TEST(AdaptHealth, TcpToAClosedPortFailsAndUnknownNamesAre404) {
  std::uint16_t closed = free_port();
  Adapt a(config("    - {name: db, tcp: '127.0.0.1:" + std::to_string(closed) + "'}\n"));
  HttpResult r = a.get("db");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("refused"), std::string::npos) << r.body;
  EXPECT_EQ(a.get("nope").status, 404);
}

TEST(AdaptHealth, HttpCheckWithStatusAndBodyAgainstEcho) {
  Tender echo(echo_args());
  std::string base = "http://127.0.0.1:" + std::to_string(echo.port("listen"));
  Adapt a(config("    - name: up\n      http: {url: '" + base +
                 "/ready', status: 200, body: '\"path\":\"/ready\"'}\n"
                 "    - name: teapot\n      http: {url: '" +
                 base + "/?status=418', status: [200, 204]}\n" +
                 "    - name: teapot_ok\n      http: {url: '" + base +
                 "/?status=418', status: '4xx'}\n" + "    - name: wrong_body\n      http: {url: '" +
                 base + "/x', body: 'nothing like this'}\n"));
  HttpResult up = a.get("up");
  EXPECT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.body, "ok: HTTP 200\n");
  HttpResult teapot = a.get("teapot");
  EXPECT_EQ(teapot.status, 503);
  EXPECT_EQ(teapot.body, "HTTP 418\n");
  EXPECT_EQ(a.get("teapot_ok").status, 200);
  HttpResult wrong = a.get("wrong_body");
  EXPECT_EQ(wrong.status, 503);
  EXPECT_EQ(wrong.body, "HTTP 200, body does not match /nothing like this/\n");
}

TEST(AdaptHealth, AllIsTheAggregateWithEachVerdict) {
  std::uint16_t closed = free_port();
  Adapt a(
      config("    - {name: yes, exec: ['true']}\n"
             "    - {name: no, tcp: '127.0.0.1:" +
             std::to_string(closed) + "'}\n"));
  HttpResult all = a.get("all");
  EXPECT_EQ(all.status, 503);
  auto body = boost::json::parse(all.body).as_object();
  EXPECT_EQ(body.at("yes").at("ok"), true);
  EXPECT_EQ(body.at("yes").at("message"), "exited 0");
  EXPECT_FALSE(body.at("yes").at("checked_at").as_string().empty());
  EXPECT_EQ(body.at("no").at("ok"), false);
  Adapt good(config("    - {name: yes, exec: ['true']}\n"));
  EXPECT_EQ(good.get("all").status, 200);
  HttpResult status = http(good.t.port("admin"), "GET", "/statusz");
  EXPECT_NE(status.body.find("\"exited 0\""), std::string::npos) << status.body;
}

TEST(AdaptHealth, AStormOfRequestsIsOneRun) {
  TempDir dir;
  std::string ran = dir.path() + "/ran";
  std::string script = dir.write("check.sh", "#!/bin/sh\necho run >> '" + ran + "'\nsleep 0.2\n");
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  Adapt a(config("    - {name: x, exec: ['" + script + "'], cache: 5s, timeout: 5s}\n"));
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      if (a.get("x").status == 200) {
        ++ok;
      }
    });
  }
  for (auto& c : clients) {
    c.join();
  }
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(slurp(ran), "run\n");
  EXPECT_EQ(admin_metric(a.t, {"tender_adapt_check_runs_total", {{"check", "x"}}}), 1);
}

}  // namespace
}  // namespace tender::testing

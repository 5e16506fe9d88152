// `tender elect` as its users run it: three real electors on a lock file, on one etcd and on a
// 3-member etcd cluster (tests/etcd_support.hpp), all on 127.0.0.1 with free ports. Leaders
// are killed, stopped, paused and resigned; etcd is down at start; flags and files are wrong.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <set>

#include "elect_support.hpp"
#include "etcd_support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

enum class Backend { kFile, kEtcd, kEtcdCluster };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kFile:
      return "File";
    case Backend::kEtcd:
      return "Etcd";
    case Backend::kEtcdCluster:
      return "EtcdCluster";
  }
  return "?";
}

class ElectBackend : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Backend::kFile:
        url_ = "file:" + dir_.path() + "/leader.lock";
        break;
      case Backend::kEtcd:
        etcd_.emplace(1);
        url_ = etcd_->url();
        break;
      case Backend::kEtcdCluster:
        etcd_.emplace(3);
        url_ = etcd_->url();
        break;
    }
  }

  void start(std::size_t n, const std::vector<std::string>& extra = {}) {
    for (std::size_t i = 0; i < n; ++i) {
      electors_.push_back(start_elector("e" + std::to_string(i), url_, extra));
    }
  }
  std::optional<std::size_t> index_of(const std::string& id) const {
    for (std::size_t i = 0; i < electors_.size(); ++i) {
      if ("e" + std::to_string(i) == id) {
        return i;
      }
    }
    return std::nullopt;
  }

  TempDir dir_;
  std::optional<EtcdCluster> etcd_;
  std::string url_;
  std::vector<std::unique_ptr<Tender>> electors_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ElectBackend,
                         ::testing::Values(Backend::kFile, Backend::kEtcd, Backend::kEtcdCluster),
                         backend_name);

TEST_P(ElectBackend, OneLeaderThenAnotherWithALargerTokenAfterKillAndTerm) {
  start(3);
  auto first = wait_agreed(live(electors_));
  ASSERT_TRUE(first) << describe(live(electors_));
  std::vector<Tender*> all = live(electors_);
  Tender* leader = all[first->leader];
  auto [status, body] = get(leader->port("listen"), "/");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json::parse(body), json::parse(R"({"name":")" + first->name + R"("})"));

  // A crash: another replica takes over once the ttl has run out, with a larger token.
  leader->signal(SIGKILL);
  ASSERT_TRUE(leader->wait_exit());
  auto second = wait_agreed(live(electors_), first->token);
  ASSERT_TRUE(second) << describe(live(electors_));
  EXPECT_NE(second->name, first->name);

  // The crashed replica comes back under the same id and follows; tokens keep increasing.
  auto crashed = index_of(first->name);
  ASSERT_TRUE(crashed);
  electors_[*crashed] = start_elector(first->name, url_);
  auto same = wait_agreed(live(electors_), second->token - 1);
  ASSERT_TRUE(same) << describe(live(electors_));
  if (same->token == second->token) {  // unless the leader lost its term since (a slow machine)
    EXPECT_EQ(same->name, second->name);
  }

  // A graceful stop: the leader resigns before it exits 0, and another one leads.
  Tender* graceful = live(electors_)[same->leader];
  graceful->signal(SIGTERM);
  auto exit = graceful->wait_exit(15s);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(exit->success()) << exit->describe() << "\n" << graceful->stderr_text();
  auto third = wait_agreed(live(electors_), same->token);
  ASSERT_TRUE(third) << describe(live(electors_));
  EXPECT_NE(third->name, same->name);
  EXPECT_EQ(live(electors_).size(), 2U);
}

// The leader's command: records its pid under its id and token, and keeps a file fresh.
std::vector<std::string> pid_recorder(const std::string& dir) {
  return {"--exec",
          "--exec-grace",
          "2s",
          "--",
          "/bin/sh",
          "-c",
          "echo $$ > " + dir + "/$TENDER_ELECT_ID.$TENDER_ELECT_TOKEN.pid.tmp && mv " + dir +
              "/$TENDER_ELECT_ID.$TENDER_ELECT_TOKEN.pid.tmp " + dir +
              "/$TENDER_ELECT_ID.$TENDER_ELECT_TOKEN.pid; "
              "while :; do touch " +
              dir + "/$TENDER_ELECT_ID.alive; sleep 0.05; done"};
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST_P(ElectBackend, APausedLeaderResumesAsFollowerAndItsCommandIsStopped) {
  start(3, pid_recorder(dir_.path()));
  auto first = wait_agreed(live(electors_));
  ASSERT_TRUE(first) << describe(live(electors_));
  Tender* paused = live(electors_)[first->leader];
  std::string pid_file =
      dir_.path() + "/" + first->name + "." + std::to_string(first->token) + ".pid";
  ASSERT_TRUE(eventually([&] { return !slurp(pid_file).empty(); })) << pid_file;
  pid_t child = std::stoi(slurp(pid_file));
  ASSERT_FALSE(process_gone(child));

  // Stopped past its ttl (the command runs on, as it would during a long GC pause of the
  // elector alone): another replica takes over with a larger token and starts its command.
  paused->signal(SIGSTOP);
  std::vector<Tender*> others;
  for (Tender* t : live(electors_)) {
    if (t != paused) {
      others.push_back(t);
    }
  }
  auto second = wait_agreed(others, first->token);
  ASSERT_TRUE(second) << describe(others);
  EXPECT_TRUE(eventually([&] {
    return !slurp(dir_.path() + "/" + second->name + "." + std::to_string(second->token) + ".pid")
                .empty();
  }));

  // Requests that reached the stopped process are answered once it resumes, from the clock
  // at that moment: not the leader.
  Connection asked(paused->port("listen"));
  ASSERT_TRUE(asked.ok());
  ASSERT_TRUE(
      asked.send(request_bytes("GET", "/v1/am-leader") + request_bytes("GET", "/v1/leader")));
  paused->signal(SIGCONT);
  HttpResult am = asked.read_response();
  EXPECT_EQ(am.status, 409) << am.body;
  HttpResult view = asked.read_response();
  ASSERT_EQ(view.status, 200);
  EXPECT_FALSE(json::parse(view.body).at("self").as_bool()) << view.body;

  // It never claims the old term again, and follows a newer one (the new leader's, unless
  // that one too has ended since).
  int after_rejoin = 0;
  bool rejoined = eventually(
      [&] {
        LeaderView v = leader_view(paused->port("listen"));
        EXPECT_FALSE(v.self && v.token <= first->token) << "claims token " << v.token;
        if (v.ok && !v.name.empty() && v.token >= second->token) {
          ++after_rejoin;
        }
        return after_rejoin >= 20;
      },
      20s);
  EXPECT_TRUE(rejoined) << describe(live(electors_));
  EXPECT_EQ(get(paused->port("listen"), "/v1/am-leader").first, 409);
  // Its command was stopped.
  EXPECT_TRUE(eventually([&] { return process_gone(child); }))
      << "the paused leader's command " << child << " still runs";
  EXPECT_TRUE(wait_agreed(live(electors_), second->token - 1)) << describe(live(electors_));
}

TEST(Elect, EtcdDownAtStartThenUp) {
  EtcdCluster etcd(1, /*start_now=*/false);
  Tender e(elect_args("e0", etcd.url()));
  // It has tried etcd and failed.
  ASSERT_TRUE(eventually([&] {
    auto [status, body] = get(e.port("admin"), "/statusz");
    return status == 200 && json::parse(body).at("status").at("backend_ok") == json::value(false) &&
           body.find("not contacted yet") == std::string::npos;
  })) << get(e.port("admin"), "/statusz").second;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(get(e.port("admin"), "/readyz").first, 503);
    LeaderView v = leader_view(e.port("listen"));
    ASSERT_TRUE(v.ok);
    EXPECT_EQ(v.name, "");
    EXPECT_EQ(v.token, 0U);
    EXPECT_FALSE(v.self);
    EXPECT_EQ(get(e.port("listen"), "/v1/am-leader").first, 409);
    EXPECT_EQ(json::parse(get(e.port("listen"), "/").second), json::parse(R"({"name":""})"));
  }
  etcd.start();
  EXPECT_TRUE(eventually([&] { return get(e.port("admin"), "/readyz").first == 200; }, 20s))
      << get(e.port("admin"), "/readyz").second;
  std::vector<Tender*> one = {&e};
  auto a = wait_agreed(one);
  ASSERT_TRUE(a) << describe(one);
  EXPECT_EQ(a->name, "e0");
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& named) {
  RunResult r = run_tender(args, 10s);
  std::string cmd;
  for (const auto& a : args) {
    cmd += " " + a;
  }
  EXPECT_TRUE(r.status.exited && r.status.code == 2) << cmd << ": " << r.status.describe();
  EXPECT_NE(r.err.find(named), std::string::npos) << cmd << ": " << r.err;
}

TEST(Elect, BadFlagsExit2NamingTheFlag) {
  TempDir dir;
  std::string lock = "file:" + dir.path() + "/leader.lock";
  std::vector<std::string> ports = {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.begin(), "elect");
    a.insert(a.end(), ports.begin(), ports.end());
    return a;
  };
  expect_usage_error(with({"--backend", lock}), "--election");
  expect_usage_error(with({"--election", "db"}), "--backend");
  expect_usage_error(with({"--election", "db", "--backend", "zk://127.0.0.1:2181"}), "--backend");
  expect_usage_error(with({"--election", "db", "--backend", "etcd://"}), "--backend");
  expect_usage_error(with({"--election", "a/b", "--backend", lock}), "--election");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--ttl", "50ms"}), "--ttl");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--ttl", "soon"}), "--ttl");
  expect_usage_error(
      with({"--election", "db", "--backend", lock, "--ttl", "1s", "--margin", "900ms"}),
      "--margin");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--id", "pod a"}), "--id");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--webhook", "ftp://x/"}),
                     "--webhook");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--exec"}), "--exec");
  expect_usage_error(with({"--election", "db", "--backend", lock, "--no-such-flag"}),
                     "--no-such-flag");
  // --listen last, so that it is the one given.
  expect_usage_error({"elect", "--election", "db", "--backend", lock, "--admin", "127.0.0.1:0",
                      "--listen", "nowhere"},
                     "--listen");
}

TEST(Elect, BadConfigFileExit2NamingFileAndLine) {
  TempDir dir;
  std::string lock = dir.path() + "/leader.lock";
  auto expect_bad = [&](const std::string& yaml, const std::string& named) {
    std::string file = dir.write("elect.yaml", yaml);
    expect_usage_error(
        {"elect", "--config", file, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, named);
  };
  expect_bad("election: db\nbackend: file:" + lock + "\nttl: 50ms\n", "elect.yaml:3");
  expect_bad("election: db\nbackend: file:" + lock + "\nttl: soon\n", "elect.yaml:3");
  expect_bad("election: db\nid: pod-a\nbackend: zk://127.0.0.1:2181\n", "elect.yaml:3");
  expect_bad("election: db\nbackend: file:" + lock + "\nexec_grace: 2s\nwebhook: ftp://x/\n",
             "elect.yaml:4");
  expect_bad("election: db\nbackend: file:" + lock + "\nexec: []\n", "elect.yaml:3");
  expect_bad("election: db\nbackend: [file:" + lock + "\n", "elect.yaml:");
  // A file that does not exist.
  expect_usage_error({"elect", "--config", dir.path() + "/missing.yaml", "--listen", "127.0.0.1:0",
                      "--admin", "127.0.0.1:0"},
                     "missing.yaml");
}

TEST(Elect, WebhookHearsGainedAndLostWithTheToken) {
  TempDir dir;
  Tender store = start_store();
  std::string hook = "http://127.0.0.1:" + std::to_string(store.port("listen")) + "/hook";
  std::string url = "file:" + dir.path() + "/leader.lock";
  std::vector<std::unique_ptr<Tender>> electors;
  for (int i = 0; i < 3; ++i) {
    electors.push_back(start_elector("e" + std::to_string(i), url, {"--webhook", hook}));
  }
  auto first = wait_agreed(live(electors));
  ASSERT_TRUE(first) << describe(live(electors));
  // The events received, as JSON objects.
  auto events = [&] {
    std::vector<json::object> out;
    auto [status, body] = get(store.port("listen"), "/hooks");
    if (status == 200) {
      json::value all = json::parse(body);
      for (const auto& e : all.as_array()) {
        out.push_back(json::parse(e.as_string()).as_object());
      }
    }
    return out;
  };
  auto has = [&](const std::string& event, const std::string& id, std::uint64_t token) {
    for (const auto& e : events()) {
      if (e.at("event").as_string() == event && e.at("id").as_string() == id &&
          e.at("token").to_number<std::uint64_t>() == token) {
        EXPECT_EQ(e.at("election").as_string(), "it");
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(eventually([&] { return has("gained", first->name, first->token); }))
      << get(store.port("listen"), "/hooks").second;

  Tender* leader = live(electors)[first->leader];
  auto resigned = fetch("http://127.0.0.1:" + std::to_string(leader->port("listen")) + "/v1/resign",
                        "POST", "", 5s);
  ASSERT_TRUE(resigned);
  EXPECT_EQ(resigned->status, 200) << resigned->body;
  EXPECT_EQ(get(leader->port("listen"), "/v1/am-leader").first, 409);
  auto second = wait_agreed(live(electors), first->token);
  ASSERT_TRUE(second) << describe(live(electors));
  EXPECT_NE(second->name, first->name);
  EXPECT_TRUE(eventually([&] { return has("lost", first->name, first->token); }))
      << get(store.port("listen"), "/hooks").second;
  EXPECT_TRUE(eventually([&] { return has("gained", second->name, second->token); }))
      << get(store.port("listen"), "/hooks").second;
  // A follower has nothing to resign.
  Tender* follower = live(electors)[(second->leader + 1) % 3];
  auto refused =
      fetch("http://127.0.0.1:" + std::to_string(follower->port("listen")) + "/v1/resign", "POST",
            "", 5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409);
}

// The web view's Resign button posts to the admin listener: the same resign as the app's, which
// stands again (the member follows, still ready), and a page of another origin may not use it.
TEST(Elect, TheAdminListenerResignsAndTheMemberStandsAgain) {
  TempDir dir;
  std::string url = "file:" + dir.path() + "/leader.lock";
  std::vector<std::unique_ptr<Tender>> electors;
  for (int i = 0; i < 2; ++i) {
    electors.push_back(start_elector("e" + std::to_string(i), url));
  }
  auto first = wait_agreed(live(electors));
  ASSERT_TRUE(first) << describe(live(electors));
  Tender* leader = live(electors)[first->leader];
  const auto admin = leader->port("admin");
  auto refused = http(admin, "POST", "/v1/resign", {{"Origin", "http://attacker.example"}});
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(get(leader->port("listen"), "/v1/am-leader").first, 200);
  auto resigned = http(admin, "POST", "/v1/resign");
  ASSERT_EQ(resigned.status, 200) << resigned.body;
  EXPECT_EQ(json::parse(resigned.body).at("token").to_number<std::uint64_t>(), first->token);
  auto second = wait_agreed(live(electors), first->token);
  ASSERT_TRUE(second) << describe(live(electors));
  EXPECT_NE(second->name, first->name);
  EXPECT_EQ(get(admin, "/readyz").first, 200);
  EXPECT_EQ(get(leader->port("listen"), "/v1/leader").first, 200);
  EXPECT_EQ(http(admin, "POST", "/v1/resign").status, 409);  // a follower has nothing to resign
  EXPECT_EQ(live(electors).size(), 2U);
}

}  // namespace
}  // namespace tender::testing

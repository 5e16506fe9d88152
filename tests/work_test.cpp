// `tender work`, `tender queue push` and `tender queue stats` as users run them: the real
// binary against a real `tender queue --store memory` on 127.0.0.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// A queue server with nothing stored, on a free port.
class QueuePeer {
 public:
  QueuePeer()
      : server_(
            {"queue", "--store", "memory", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}) {}
  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port("listen"));
  }
  [[nodiscard]] std::uint16_t port() const { return server_.port("listen"); }

  // Pushes `lines` (one item each) with `flags`; the push must succeed.
  void push(const std::string& queue, const std::string& lines,
            const std::vector<std::string>& flags = {}) const {
    std::vector<std::string> argv = {TENDER_BINARY, "queue", "push", "--queue", url(), queue};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto r = run_command(argv, lines);
    ASSERT_EQ(r.status.code, 0) << r.err;
  }

  // GET target as JSON; status 0 and null when the answer is not JSON.
  [[nodiscard]] json::value get(const std::string& target, int* status = nullptr) const {
    auto r = http(port(), "GET", target);
    if (status != nullptr) {
      *status = r.status;
    }
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    return ec ? json::value(nullptr) : v;
  }
  [[nodiscard]] json::object item(std::uint64_t id) const {
    json::value v = get("/v1/items/" + std::to_string(id));
    return v.is_object() ? v.as_object() : json::object();
  }
  [[nodiscard]] std::int64_t count(const std::string& queue, const std::string& state) const {
    json::value v = get("/v1/queues/" + queue);
    if (!v.is_object()) {
      return -1;
    }
    return v.as_object().at("counts").as_object().at(state).to_number<std::int64_t>();
  }

 private:
  Tender server_;
};

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// `tender work` on `queue` of `q` running `command`, without the progress line unless `flags`
// ask for it, and retrying failures at once.
std::vector<std::string> work_args(const QueuePeer& q, const std::string& queue,
                                   const std::vector<std::string>& flags,
                                   const std::vector<std::string>& command) {
  std::vector<std::string> a = {"work",         "--admin", "127.0.0.1:0",  "--queue", q.url(),
                                "--queue-name", queue,     "--nack-delay", "0s"};
  if (std::find(flags.begin(), flags.end(), "--progress") == flags.end()) {
    a.insert(a.end(), {"--progress", "never"});
  }
  a.insert(a.end(), flags.begin(), flags.end());
  a.emplace_back("--");
  a.insert(a.end(), command.begin(), command.end());
  return a;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

TEST(Work, AThousandItemsThroughFourCommandsEachOnceWithItsResult) {
  QueuePeer q;
  TempDir dir;
  std::string input;
  for (int i = 1; i <= 1000; ++i) {
    input += std::to_string(i) + "\n";
  }
  q.push("numbers", input);
  const std::string log = dir.path() + "/seen";
  auto r = run_tender(
      work_args(
          q, "numbers", {"--concurrency", "4", "--exit-when-empty"},
          {"sh", "-c", "read -r x; echo \"$TENDER_ITEM_ID\" >> " + log + "; echo $((x * 2))"}),
      120s);
  ASSERT_EQ(r.status.code, 0) << r.err;
  auto seen = lines_of(log);
  EXPECT_EQ(seen.size(), 1000u);
  std::set<std::string> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), 1000u);
  for (const auto& id : distinct) {
    json::object item = q.item(std::stoull(id));
    ASSERT_EQ(str(item, "state"), "done") << id;
    EXPECT_EQ(str(item, "result"), std::to_string(std::stoll(str(item, "payload")) * 2) + "\n");
  }
  EXPECT_EQ(q.count("numbers", "done"), 1000);
}

TEST(Work, TheCommandSeesItsItemAndItsOutputFileIsTheResult) {
  QueuePeer q;
  q.push("env", "payload one\n");
  auto r = run_tender(work_args(q, "env", {"--exit-when-empty"},
                                {"sh", "-c",
                                 "echo ignored; printf '%s|%s|%s|%s' \"$TENDER_QUEUE\" "
                                 "\"$TENDER_ATTEMPT\" \"$(cat \"$TENDER_ITEM_FILE\")\" \"$(cat)\" "
                                 "> \"$TENDER_OUTPUT_FILE\""}));
  ASSERT_EQ(r.status.code, 0) << r.err;
  json::value queue = q.get("/v1/queues/env");
  ASSERT_TRUE(queue.is_object());
  json::object item = q.item(1);
  EXPECT_EQ(str(item, "result"), "env|1|payload one|payload one");
}

TEST(Work, TheProgressLineAndTheStatus) {
  QueuePeer q;
  q.push("shown", "1\n2\n3\n");
  auto args = work_args(q, "shown", {"--exit-when-empty", "--progress", "always"}, {"true"});
  auto r = run_tender(args);
  ASSERT_EQ(r.status.code, 0) << r.err;
  // The last line, written as the runner stops, stays on the terminal.
  EXPECT_NE(r.err.find("\r\x1b[Kdone 3  failed 0  remaining 0  "), std::string::npos) << r.err;

  q.push("shown", "4\n");
  Tender w(work_args(q, "shown", {"--grace", "200ms"}, {"sh", "-c", "sleep 300"}));
  ASSERT_TRUE(eventually([&] {
    auto status = http(w.port("admin"), "GET", "/statusz");
    boost::system::error_code ec;
    auto v = json::parse(status.body, ec);
    return !ec && v.at("status").at("in_flight").to_number<int>() == 1;
  })) << w.stderr_text();
  auto config = json::parse(http(w.port("admin"), "GET", "/configz").body);
  EXPECT_EQ(config.at("config").at("queue_name").as_string(), "shown");
  EXPECT_EQ(config.at("config").at("command").as_array().size(), 3u);
  w.signal(SIGTERM);  // past the grace the command is killed and its item directory removed
  EXPECT_TRUE(w.wait_exit(20s));
}

TEST(Work, ExitWhenEmptyExitsZeroOnAnEmptyQueue) {
  QueuePeer q;
  auto r = run_tender(work_args(q, "nothing", {"--exit-when-empty"}, {"true"}));
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_NE(r.err.find("the queue is empty"), std::string::npos) << r.err;
}

TEST(Work, AFailingCommandIsNackedWithItsStderrUntilTheItemGoesDead) {
  QueuePeer q;
  q.push("poison", "bad\n", {"--max-attempts", "3"});
  q.push("poison", "good\n");
  auto r = run_tender(work_args(q, "poison", {"--exit-when-empty"},
                                {"sh", "-c",
                                 "test \"$(cat)\" = good && exit 0; echo noise >&2; "
                                 "echo \"attempt $TENDER_ATTEMPT failed\" >&2; exit 4"}));
  EXPECT_EQ(r.status.code, 1) << r.err;  // an item went dead
  json::object bad = q.item(1);
  EXPECT_EQ(str(bad, "state"), "dead");
  EXPECT_EQ(bad.at("attempts").to_number<int>(), 3);
  EXPECT_EQ(str(bad, "error"), "exited 4: noise\nattempt 3 failed");
  EXPECT_EQ(str(q.item(2), "state"), "done");
}

TEST(Work, TheDeadExitCodeBuriesTheItemAtOnce) {
  QueuePeer q;
  q.push("bury", "x\n");
  auto r = run_tender(work_args(q, "bury", {"--exit-when-empty", "--dead-exit-code", "42"},
                                {"sh", "-c", "echo will never work >&2; exit 42"}));
  EXPECT_EQ(r.status.code, 1) << r.err;
  json::object item = q.item(1);
  EXPECT_EQ(str(item, "state"), "dead");
  EXPECT_EQ(item.at("attempts").to_number<int>(), 1);
  EXPECT_EQ(str(item, "error"), "exited 42: will never work");
}

TEST(Work, TheTimeoutKillsTheCommandsGroupAndNacks) {
  QueuePeer q;
  TempDir dir;
  q.push("slow", "x\n", {"--max-attempts", "1"});
  const std::string pid_file = dir.path() + "/grandchild";
  auto r = run_tender(work_args(q, "slow", {"--exit-when-empty", "--timeout", "300ms"},
                                {"sh", "-c", "sleep 300 & echo $! > " + pid_file + "; wait"}));
  EXPECT_EQ(r.status.code, 1) << r.err;
  json::object item = q.item(1);
  EXPECT_EQ(str(item, "state"), "dead");
  EXPECT_EQ(str(item, "error").rfind("timed out after 300ms", 0), 0u) << str(item, "error");
  // The command's child went with it.
  const std::string pid = slurp(pid_file);
  ASSERT_FALSE(pid.empty());
  EXPECT_TRUE(eventually([&] {
    std::ifstream stat("/proc/" + std::to_string(std::stoi(pid)) + "/stat");
    std::string line;
    return !std::getline(stat, line) || line.find(") Z") != std::string::npos;
  }));
}

TEST(Work, SigtermLetsRunningItemsFinishAndLeasesNoMore) {
  QueuePeer q;
  TempDir dir;
  std::string input;
  for (int i = 1; i <= 20; ++i) {
    input += std::to_string(i) + "\n";
  }
  q.push("drain", input);
  const std::string go = dir.path() + "/go";
  Tender w(
      work_args(q, "drain", {"--concurrency", "4", "--grace", "30s"},
                {"sh", "-c",
                 "cat >/dev/null; while [ ! -e " + go + " ]; do sleep 0.02; done; echo finished"}));
  ASSERT_TRUE(eventually([&] {
    return http(w.port("admin"), "GET", "/metrics").body.find("tender_work_in_flight 4\n") !=
           std::string::npos;
  })) << w.stderr_text();
  EXPECT_EQ(q.count("drain", "leased"), 4);
  w.signal(SIGTERM);
  ASSERT_TRUE(eventually([&] { return http(w.port("admin"), "GET", "/readyz").status == 503; }));
  std::ofstream(go) << "go";
  auto status = w.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0) << w.stderr_text();
  EXPECT_EQ(q.count("drain", "done"), 4);
  EXPECT_EQ(q.count("drain", "ready"), 16);
  EXPECT_EQ(q.count("drain", "leased"), 0);
}

TEST(Work, SigtermPastTheGraceGivesRunningItemsBack) {
  QueuePeer q;
  q.push("stuck", "1\n2\n3\n");
  Tender w(
      work_args(q, "stuck", {"--concurrency", "2", "--grace", "200ms"}, {"sh", "-c", "sleep 300"}));
  ASSERT_TRUE(eventually([&] { return q.count("stuck", "leased") == 2; })) << w.stderr_text();
  w.signal(SIGTERM);
  auto status = w.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0) << w.stderr_text();
  // Nothing lost: the two given back are ready again at once, the third never left.
  EXPECT_EQ(q.count("stuck", "ready"), 3);
  EXPECT_EQ(q.count("stuck", "done") + q.count("stuck", "dead") + q.count("stuck", "leased"), 0);
  // Released, not nacked: the interrupted deliveries do not count as attempts.
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(q.item(id).at("attempts").to_number<int>(), 0) << id;
  }
}

TEST(Work, ALeaseLostWhileTheRunnerStalledIsCountedAndTheItemRunsAgain) {
  QueuePeer q;
  TempDir dir;
  q.push("stall", "x\n");
  const std::string go = dir.path() + "/go";
  Tender w(work_args(
      q, "stall", {"--lease-ttl", "1s"},
      {"sh", "-c", "while [ ! -e " + go + " ]; do sleep 0.02; done; echo $TENDER_ATTEMPT"}));
  ASSERT_TRUE(eventually([&] { return q.count("stall", "leased") == 1; })) << w.stderr_text();
  // Stalled past its lease's TTL, the runner cannot extend it: the item goes back to ready.
  w.signal(SIGSTOP);
  const bool expired = eventually([&] { return q.count("stall", "ready") == 1; });
  w.signal(SIGCONT);
  ASSERT_TRUE(expired);
  std::ofstream(go) << "go";
  ASSERT_TRUE(eventually([&] { return str(q.item(1), "state") == "done"; })) << w.stderr_text();
  EXPECT_EQ(str(q.item(1), "result"), "2\n");  // the second delivery's result
  // Counted once the ack's answer is in, which may come after the test saw the item done.
  std::string metrics;
  EXPECT_TRUE(eventually([&] {
    metrics = http(w.port("admin"), "GET", "/metrics").body;
    return metrics.find("tender_work_items_total{outcome=\"acked\"} 1\n") != std::string::npos;
  })) << metrics;
  EXPECT_NE(metrics.find("tender_work_items_total{outcome=\"lease_lost\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(w.stderr_text().find("lease was lost"), std::string::npos) << w.stderr_text();
}

TEST(Work, ARunnerKilledMidItemLosesNothingTheItemRunsAgainAfterItsLease) {
  QueuePeer q;
  TempDir dir;
  q.push("killed", "x\n");
  const std::string pidfile = dir.path() + "/pid";
  const std::string itemfile = dir.path() + "/item";
  auto first = std::make_unique<Tender>(work_args(
      q, "killed", {"--lease-ttl", "1s"},
      {"sh", "-c",
       "echo $TENDER_ITEM_FILE > " + itemfile + "; echo $$ > " + pidfile + "; sleep 300"}));
  ASSERT_TRUE(eventually([&] { return slurp(pidfile).find('\n') != std::string::npos; }))
      << first->stderr_text();
  const pid_t command = std::stoi(slurp(pidfile));
  // A runner killed at once cannot remove its item's directory: the test does.
  std::string item_dir = slurp(itemfile);
  item_dir = item_dir.substr(0, item_dir.rfind('/'));
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait_exit(10s));
  // The runner's command dies with it, and its item is delivered again once the lease expires.
  EXPECT_TRUE(eventually([&] { return ::kill(command, 0) != 0; }));
  Tender second(work_args(q, "killed", {}, {"sh", "-c", "echo attempt $TENDER_ATTEMPT"}));
  ASSERT_TRUE(eventually([&] { return str(q.item(1), "state") == "done"; }, 20s))
      << second.stderr_text();
  EXPECT_EQ(str(q.item(1), "result"), "attempt 2\n");
  if (item_dir.find("/tender-item.") != std::string::npos) {
    std::filesystem::remove_all(item_dir);
  }
}

TEST(Work, AnUnreachableServerIsRetriedAndNotReady) {
  const std::uint16_t port = free_port();
  Tender w({"work", "--admin", "127.0.0.1:0", "--queue", "http://127.0.0.1:" + std::to_string(port),
            "--queue-name", "q", "--progress", "never", "--", "true"});
  ASSERT_TRUE(eventually([&] {
    auto r = http(w.port("admin"), "GET", "/readyz");
    return r.status == 503 && r.body.find("cannot be reached") != std::string::npos;
  }));
  EXPECT_NE(w.stderr_text().find("cannot lease from the queue server; retrying"),
            std::string::npos);
}

TEST(Work, IsReadyAgainAsSoonAsTheServerIsBackNotAfterALongPoll) {
  const std::uint16_t port = free_port();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  Tender w({"work", "--admin", "127.0.0.1:0", "--queue", "http://" + addr, "--queue-name", "q",
            "--progress", "never", "--lease-wait", "60s", "--", "true"});
  ASSERT_TRUE(eventually([&] { return http(w.port("admin"), "GET", "/readyz").status == 503; }));
  // The server comes up on an empty queue: a lease would wait out its 60 s there.
  Tender server({"queue", "--store", "memory", "--listen", addr, "--admin", "127.0.0.1:0"});
  EXPECT_TRUE(
      eventually([&] { return http(w.port("admin"), "GET", "/readyz").status == 200; }, 30s))
      << w.stderr_text();
}

TEST(Work, UsageErrorsExitTwo) {
  EXPECT_EQ(run_tender({"work", "--queue", "http://127.0.0.1:1", "--queue-name", "q"}).status.code,
            2);  // no command
  EXPECT_EQ(
      run_tender({"work", "--queue", "127.0.0.1:1", "--queue-name", "q", "--", "true"}).status.code,
      2);
  auto missing = run_tender(
      {"work", "--queue", "http://127.0.0.1:1", "--queue-name", "q", "--", "no-such-command-here"});
  EXPECT_EQ(missing.status.code, 2);
  EXPECT_NE(missing.err.find("no-such-command-here is not found"), std::string::npos)
      << missing.err;
  auto bad_name =
      run_tender({"work", "--queue", "http://127.0.0.1:1", "--queue-name", "a/b", "--", "true"});
  EXPECT_EQ(bad_name.status.code, 2);
  EXPECT_NE(bad_name.err.find("--queue-name"), std::string::npos) << bad_name.err;
}

TEST(Work, SettingsFromAConfigFile) {
  QueuePeer q;
  TempDir dir;
  q.push("configured", "21\n");
  const std::string good =
      dir.write("work.yaml", "queue: " + q.url() +
                                 "\nqueue_name: configured\n"
                                 "command: [sh, -c, 'read -r n; echo $((n * 2))']\n"
                                 "exit_when_empty: true\nprogress: never\n");
  auto r = run_tender({"work", "--admin", "127.0.0.1:0", "--config", good});
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(str(q.item(1), "result"), "42\n");
  const std::string bad =
      dir.write("bad.yaml", "queue: " + q.url() + "\nqueue_name: q\nlease_ttl: 10ms\n");
  auto b = run_tender({"work", "--admin", "127.0.0.1:0", "--config", bad, "--", "true"});
  EXPECT_EQ(b.status.code, 2);
  EXPECT_NE(b.err.find("bad.yaml:3"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("lease_ttl"), std::string::npos) << b.err;
}

TEST(QueuePush, FromAFileAndFromStdinOneItemPerLine) {
  QueuePeer q;
  TempDir dir;
  const std::string file = dir.write("items", "a\r\nb\n\nc");
  auto r = run_tender({"queue", "push", "--queue", q.url(), "jobs", "--file", file});
  ASSERT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.out, "pushed 3 items to jobs\n");
  auto s = run_command(
      {TENDER_BINARY, "queue", "push", "--queue", q.url(), "jobs", "--priority", "7"}, "d\ne\n");
  ASSERT_EQ(s.status.code, 0) << s.err;
  EXPECT_EQ(s.out, "pushed 2 items to jobs\n");
  EXPECT_EQ(q.count("jobs", "ready"), 5);
  EXPECT_EQ(str(q.item(1), "payload"), "a");
  EXPECT_EQ(str(q.item(3), "payload"), "c");
  EXPECT_EQ(q.item(4).at("priority").to_number<int>(), 7);
}

TEST(QueuePush, ManyBatchesAndAnErrorSaysHowManyWentBefore) {
  QueuePeer q;
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 2500; ++i) {
    lines += "item " + std::to_string(i) + "\n";
  }
  lines += std::string(2 << 20, 'x') + "\n";  // past the queue's 1MiB max payload
  const std::string file = dir.write("items", lines);
  auto r = run_tender({"queue", "push", "--queue", q.url(), "big", "--file", file});
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find("HTTP 413"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2500 items were pushed before the error"), std::string::npos) << r.err;
  EXPECT_EQ(q.count("big", "ready"), 2500);
}

TEST(QueuePush, ABarForALargeFile) {
  QueuePeer q;
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 20000; ++i) {
    lines += "item number " + std::to_string(i) + "\n";
  }
  const std::string file = dir.write("items", lines);
  auto r = run_tender(
      {"queue", "push", "--queue", q.url(), "large", "--file", file, "--progress", "always"});
  ASSERT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.out, "pushed 20000 items to large\n");
  EXPECT_NE(r.err.find("%  1000 items"), std::string::npos) << r.err;
  EXPECT_TRUE(r.err.ends_with("\r\x1b[K")) << r.err;  // erased at the end
  EXPECT_EQ(q.count("large", "ready"), 20000);
}

TEST(QueuePush, ErrorsAndTheirExitCodes) {
  QueuePeer q;
  auto unreachable = run_command({TENDER_BINARY, "queue", "push", "--queue",
                                  "http://127.0.0.1:" + std::to_string(free_port()), "jobs"},
                                 "a\n");
  EXPECT_EQ(unreachable.status.code, 1);
  EXPECT_NE(unreachable.err.find("cannot reach the queue server"), std::string::npos)
      << unreachable.err;
  EXPECT_NE(unreachable.err.find("0 items were pushed"), std::string::npos) << unreachable.err;
  EXPECT_EQ(run_tender({"queue", "push", "--queue", q.url(), "bad/name"}).status.code, 2);
  EXPECT_EQ(run_tender({"queue", "push", "--queue", q.url()}).status.code, 2);
  EXPECT_EQ(
      run_tender({"queue", "push", "--queue", q.url(), "q", "--file", "/nonexistent"}).status.code,
      2);
  EXPECT_EQ(
      run_tender({"queue", "push", "--queue", q.url(), "q", "--priority", "5000"}).status.code, 2);
}

TEST(QueueStats, ATableOfQueuesOneQueueInDetailOrTheJson) {
  QueuePeer q;
  q.push("alpha", "1\n2\n3\n");
  q.push("beta", "1\n");
  auto table = run_tender({"queue", "stats", "--queue", q.url()});
  ASSERT_EQ(table.status.code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header;
  std::string alpha;
  std::string beta;
  std::getline(lines, header);
  std::getline(lines, alpha);
  std::getline(lines, beta);
  EXPECT_EQ(header.rfind("QUEUE", 0), 0u) << table.out;
  EXPECT_NE(header.find("READY"), std::string::npos);
  EXPECT_EQ(alpha.rfind("alpha", 0), 0u) << table.out;
  EXPECT_NE(alpha.find(" 3 "), std::string::npos) << table.out;
  EXPECT_EQ(beta.rfind("beta", 0), 0u) << table.out;

  auto detail = run_tender({"queue", "stats", "--queue", q.url(), "alpha"});
  ASSERT_EQ(detail.status.code, 0) << detail.err;
  EXPECT_NE(detail.out.find("queue "), std::string::npos) << detail.out;
  EXPECT_NE(detail.out.find("alpha"), std::string::npos) << detail.out;
  EXPECT_NE(detail.out.find("ready"), std::string::npos) << detail.out;

  auto raw = run_tender({"queue", "stats", "--queue", q.url(), "alpha", "--json"});
  ASSERT_EQ(raw.status.code, 0) << raw.err;
  auto v = json::parse(raw.out);
  EXPECT_EQ(v.at("counts").at("ready").to_number<int>(), 3);

  auto missing = run_tender({"queue", "stats", "--queue", q.url(), "nope"});
  EXPECT_EQ(missing.status.code, 1);
  EXPECT_NE(missing.err.find("HTTP 404"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace tender::testing

// `tender tail` as users run it: a real writer appending and rotating files (tests/tail_writer.py),
// the real binary following them, killed and restarted; what reaches the sink is checked line by
// line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// One record as a receiver sees it.
struct Shipped {
  std::string key;
  std::uint64_t offset = 0;
  std::string message;
};

// Every complete JSON line of `path` (a line cut by a kill, and what the sink wrote after it on
// the same line, is not a record: counted in `garbled`).
std::vector<Shipped> shipped(const std::string& path, std::size_t* garbled = nullptr) {
  std::vector<Shipped> out;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object() || !v.as_object().contains("message")) {
      if (garbled != nullptr) {
        ++*garbled;
      }
      continue;
    }
    const json::object& o = v.as_object();
    out.push_back({json::value_to<std::string>(o.at("key")),
                   static_cast<std::uint64_t>(o.at("offset").to_number<std::int64_t>()),
                   json::value_to<std::string>(o.at("message"))});
  }
  return out;
}

// "n=123" -> 123, or -1.
long number_of(const std::string& message) {
  if (message.rfind("n=", 0) != 0) {
    return -1;
  }
  return std::stol(message.substr(2));
}

// How many of the numbers [0, lines) arrived.
std::size_t numbers_seen(const std::vector<Shipped>& records, long lines) {
  std::set<long> seen;
  for (const Shipped& r : records) {
    long n = number_of(r.message);
    if (n >= 0 && n < lines) {
      seen.insert(n);
    }
  }
  return seen.size();
}

class Tail {
 public:
  Tail(const TempDir& dir, std::vector<std::string> extra = {})
      : dir_(dir), extra_(std::move(extra)) {
    start();
  }
  void start() {
    std::vector<std::string> args = {"tail",
                                     "--admin",
                                     "127.0.0.1:0",
                                     "--path",
                                     dir_.path() + "/logs/*.log",
                                     "--checkpoint",
                                     dir_.path() + "/tail.db",
                                     "--sink",
                                     "file:" + dir_.path() + "/out.jsonl",
                                     "--format",
                                     "json",
                                     "--rotate-wait",
                                     "300ms",
                                     "--rescan",
                                     "200ms"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    proc_ = std::make_unique<Tender>(args);
  }
  Tender& proc() { return *proc_; }
  void kill() {
    proc_->signal(SIGKILL);
    (void)proc_->wait_exit();
    proc_.reset();
  }
  void stop() {
    proc_->signal(SIGTERM);
    auto status = proc_->wait_exit();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe() << proc_->stderr_text();
    proc_.reset();
  }

 private:
  const TempDir& dir_;
  std::vector<std::string> extra_;
  std::unique_ptr<Tender> proc_;
};

std::unique_ptr<Process> start_writer(const TempDir& dir, long lines, long rotate_every,
                                      const std::string& modes, double rate, long first = 0) {
  SpawnOptions o;
  o.argv = {std::string(TENDER_TESTS_DIR) + "/tail_writer.py",
            "--dir",
            dir.path() + "/logs",
            "--lines",
            std::to_string(lines),
            "--rotate-every",
            std::to_string(rotate_every),
            "--modes",
            modes,
            "--rate",
            std::to_string(rate),
            "--first",
            std::to_string(first)};
  o.stdout_ = Stdio::null();
  auto p = Process::spawn(o);
  if (!p) {
    throw std::runtime_error(p.error().message());
  }
  return std::make_unique<Process>(std::move(*p));
}

void expect_duplicates_carry_their_identity(const std::vector<Shipped>& records) {
  std::map<long, std::set<std::pair<std::string, std::uint64_t>>> ids;
  for (const Shipped& r : records) {
    ids[number_of(r.message)].insert({r.key, r.offset});
  }
  for (const auto& [n, set] : ids) {
    EXPECT_EQ(set.size(), 1U) << "line n=" << n << " was sent under " << set.size()
                              << " different (key, offset) pairs: a receiver could not drop "
                                 "the duplicate";
  }
}

TEST(TailShipping, RotationByRenameAndCopytruncateWithKillsLosesNothing) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  constexpr long kLines = 60000;
  Tail tail(dir);
  auto writer = start_writer(dir, kLines, 2500, "rename,copytruncate", 12000);
  std::string out = dir.path() + "/out.jsonl";
  // Kill the shipper at several points of the stream (by how much has arrived), and again
  // while the writer is still rotating.
  for (long mark : {6000L, 18000L, 30000L, 42000L}) {
    ASSERT_TRUE(eventually(
        [&] { return numbers_seen(shipped(out), kLines) >= static_cast<std::size_t>(mark); }, 60s))
        << "stuck before " << mark << "\n"
        << tail.proc().stderr_text();
    tail.kill();
    tail.start();
  }
  ASSERT_TRUE(writer->wait().success());
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), kLines) == kLines; }, 60s))
      << numbers_seen(shipped(out), kLines) << " of " << kLines << " arrived\n"
      << tail.proc().stderr_text();
  auto records = shipped(out);
  expect_duplicates_carry_their_identity(records);
  EXPECT_EQ(admin_metric(tail.proc(), {"tender_tail_lost_bytes_total", {}}), 0);
  tail.stop();
}

TEST(TailShipping, WithoutKillsNothingIsSentTwice) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  constexpr long kLines = 30000;
  Tail tail(dir);
  auto writer = start_writer(dir, kLines, 2000, "copytruncate,rename", 20000);
  std::string out = dir.path() + "/out.jsonl";
  // A graceful restart in the middle: the batch in flight is delivered and committed first.
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), kLines) >= 10000; }, 60s));
  tail.stop();
  tail.start();
  ASSERT_TRUE(writer->wait().success());
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), kLines) == kLines; }, 60s))
      << tail.proc().stderr_text();
  std::size_t garbled = 0;
  auto records = shipped(out, &garbled);
  EXPECT_EQ(records.size(), static_cast<std::size_t>(kLines));
  EXPECT_EQ(garbled, 0U);
  tail.stop();
}

TEST(TailShipping, ReadFromTailShipsOnlyWhatIsWrittenAfterTheFirstStart) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  dir.write("logs/old.log", "n=1000000\nn=1000001\n");
  Tail tail(dir, {"--read-from", "tail"});
  { std::ofstream(dir.path() + "/logs/old.log", std::ios::app) << "n=0\n"; }
  dir.write("logs/new.log", "n=1\n");
  std::string out = dir.path() + "/out.jsonl";
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), 2) == 2; }));
  // A later start follows the checkpoint, not --read-from: a file that appeared meanwhile is
  // read whole.
  tail.stop();
  dir.write("logs/later.log", "n=2\n");
  tail.start();
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), 3) == 3; }));
  for (const Shipped& r : shipped(out)) {
    EXPECT_LT(number_of(r.message), 1000000) << "a line written before the first start was sent";
  }
  tail.stop();
}

TEST(TailShipping, StatuszListsEveryFollowedFileWithItsOffsetAndLag) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  dir.write("logs/a.log", "n=0\nn=1\n");
  dir.write("logs/b.log", "n=2\n");
  Tail tail(dir);
  std::string out = dir.path() + "/out.jsonl";
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), 3) == 3; }));
  json::object status;
  ASSERT_TRUE(eventually([&] {
    status = json::parse(http(tail.proc().port("admin"), "GET", "/statusz").body).as_object();
    const json::array& files = status.at("status").at("files").as_array();
    if (files.size() != 2) {
      return false;
    }
    for (const json::value& f : files) {
      const json::object& sink = f.at("sinks").as_object().begin()->value().as_object();
      if (sink.at("committed") != f.at("size") || sink.at("lag_bytes") != 0) {
        return false;
      }
    }
    return true;
  })) << json::serialize(status);
  EXPECT_EQ(admin_metric(tail.proc(), {"tender_tail_sent_records_total",
                                       {{"file", dir.path() + "/logs/a.log"}}}),
            2);
  EXPECT_EQ(admin_metric(tail.proc(), {"tender_tail_lag_bytes", {}}), 0);
  EXPECT_EQ(admin_metric(tail.proc(), {"tender_tail_files", {}}), 2);
  tail.stop();
}

std::unique_ptr<Process> start_receiver(std::uint16_t port, const std::string& out,
                                        const std::string& fail_while) {
  SpawnOptions o;
  o.argv = {std::string(TENDER_TESTS_DIR) + "/tail_receiver.py",
            "--port",
            std::to_string(port),
            "--out",
            out,
            "--fail-while",
            fail_while};
  o.stdout_ = Stdio::null();
  auto p = Process::spawn(o);
  if (!p) {
    throw std::runtime_error(p.error().message());
  }
  return std::make_unique<Process>(std::move(*p));
}

TEST(TailShipping, AnHttpSinkThatIsDownLosesNothingAndCatchesUp) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  std::uint16_t port = free_port();
  ASSERT_NE(port, 0);
  Tender tail({"tail", "--admin", "127.0.0.1:0", "--path", dir.path() + "/logs/*.log",
               "--checkpoint", dir.path() + "/tail.db", "--sink",
               "http://127.0.0.1:" + std::to_string(port) + "/ingest", "--rotate-wait", "300ms"});
  constexpr long kLines = 20000;
  auto writer = start_writer(dir, kLines, 3000, "rename,copytruncate", 20000);
  MetricRef errors{"tender_tail_sink_errors_total", {}};
  // Nobody listens: connections are refused, and the lag grows.
  ASSERT_TRUE(eventually([&] { return admin_metric(tail, errors) >= 2; }, 20s));
  ASSERT_TRUE(writer->wait().success());
  EXPECT_GT(admin_metric(tail, {"tender_tail_lag_bytes", {}}), 0);
  // Then a receiver that answers 503 for a while.
  std::string out = dir.path() + "/received.jsonl";
  std::string down = dir.path() + "/down";
  dir.write("down", "");
  auto receiver = start_receiver(port, out, down);
  ASSERT_TRUE(eventually([&] { return !connect_refused(port); }));
  double before = admin_metric(tail, errors);
  ASSERT_TRUE(eventually([&] { return admin_metric(tail, errors) >= before + 2; }, 20s));
  EXPECT_EQ(slurp(out), "");
  ::unlink(down.c_str());
  ASSERT_TRUE(eventually([&] { return numbers_seen(shipped(out), kLines) == kLines; }, 60s))
      << numbers_seen(shipped(out), kLines) << " of " << kLines << "\n"
      << tail.stderr_text();
  EXPECT_EQ(shipped(out).size(), static_cast<std::size_t>(kLines)) << "sent twice";
  EXPECT_GT(admin_metric(tail, {"tender_tail_sink_retries_total", {}}), 0);
  ASSERT_TRUE(eventually([&] { return admin_metric(tail, {"tender_tail_lag_bytes", {}}) == 0; }));
  (void)receiver->kill(SIGTERM);
  (void)receiver->wait();
}

TEST(TailShipping, ATenMegabyteLineIsCutAndCountedAndTheLinesAroundItArrive) {
  TempDir dir;
  ::mkdir((dir.path() + "/logs").c_str(), 0755);
  std::string big(10'000'000, 'x');
  dir.write("logs/big.log", "n=0\n" + big + "\nn=1\n");
  Tail tail(dir);
  std::string out = dir.path() + "/out.jsonl";
  ASSERT_TRUE(eventually([&] { return shipped(out).size() == 3; }, 20s))
      << tail.proc().stderr_text();
  auto records = shipped(out);
  EXPECT_EQ(records[0].message, "n=0");
  EXPECT_EQ(records[1].message, std::string(1 << 20, 'x'));
  EXPECT_EQ(records[2].message, "n=1");
  EXPECT_EQ(records[2].offset, 4U + big.size() + 1);
  std::string text = slurp(out);
  std::size_t second = text.find('\n') + 1;
  json::object cut = json::parse(text.substr(second, text.find('\n', second) - second)).as_object();
  EXPECT_EQ(cut.at("cut"), true);
  // The counters are published by the I/O thread after the batch commits, which may come just
  // after the sink has written it.
  EXPECT_TRUE(eventually([&] {
    return admin_metric(tail.proc(), {"tender_tail_cut_records_total", {}}) == 1;
  }));
  EXPECT_EQ(admin_metric(tail.proc(), {"tender_tail_cut_bytes_total", {}}),
            static_cast<double>(big.size() - (1 << 20)));
  tail.stop();
}

TEST(TailConfig, BadInputExitsWith2NamingIt) {
  TempDir dir;
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"tail", "--admin", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tender(args);
  };
  std::string cp = dir.path() + "/tail.db";
  auto relative = run({"--path", "logs/*.log", "--checkpoint", cp, "--sink", "stdout"});
  EXPECT_EQ(relative.status.code, 2);
  EXPECT_NE(relative.err.find("logs/*.log"), std::string::npos) << relative.err;
  auto wild_dir = run({"--path", "/var/*/app.log", "--checkpoint", cp, "--sink", "stdout"});
  EXPECT_EQ(wild_dir.status.code, 2);
  EXPECT_NE(wild_dir.err.find("wildcards"), std::string::npos) << wild_dir.err;
  auto not_dir = run({"--path", "/etc/passwd/*.log", "--checkpoint", cp, "--sink", "stdout"});
  EXPECT_EQ(not_dir.status.code, 2);
  EXPECT_NE(not_dir.err.find("/etc/passwd/*.log"), std::string::npos) << not_dir.err;
  auto no_cp_dir = run({"--path", dir.path() + "/*.log", "--checkpoint",
                        dir.path() + "/missing/tail.db", "--sink", "stdout"});
  EXPECT_EQ(no_cp_dir.status.code, 2);
  EXPECT_NE(no_cp_dir.err.find("missing/tail.db"), std::string::npos) << no_cp_dir.err;
  auto no_cp = run({"--path", dir.path() + "/*.log", "--sink", "stdout"});
  EXPECT_EQ(no_cp.status.code, 2);
  EXPECT_NE(no_cp.err.find("--checkpoint"), std::string::npos) << no_cp.err;
  auto scheme = run({"--path", dir.path() + "/*.log", "--checkpoint", cp, "--sink", "kafka://x:1"});
  EXPECT_EQ(scheme.status.code, 2);
  EXPECT_NE(scheme.err.find("unknown sink scheme 'kafka'"), std::string::npos) << scheme.err;
  auto regex = run({"--path", dir.path() + "/*.log", "--checkpoint", cp, "--sink", "stdout",
                    "--parse", "regex:(?<a>unclosed"});
  EXPECT_EQ(regex.status.code, 2);
  EXPECT_NE(regex.err.find("--parse"), std::string::npos) << regex.err;
  std::string yaml = dir.write(
      "tail.yaml", "checkpoint: " + cp + "\ninputs:\n  - paths: [" + dir.path() +
                       "/*.log]\n    multiline_start: '[unclosed'\nsinks:\n  - url: stdout\n");
  auto in_file = run({"--config", yaml});
  EXPECT_EQ(in_file.status.code, 2);
  EXPECT_NE(in_file.err.find("tail.yaml:4: inputs[0].multiline_start: Unmatched ["),
            std::string::npos)
      << in_file.err;
  // A second shipper on the same checkpoint is refused while the first runs.
  Tender first({"tail", "--admin", "127.0.0.1:0", "--path", dir.path() + "/*.log", "--checkpoint",
                cp, "--sink", "stdout"});
  auto second = run({"--path", dir.path() + "/*.log", "--checkpoint", cp, "--sink", "stdout"});
  EXPECT_EQ(second.status.code, 2);
  EXPECT_NE(second.err.find("in use by another tender tail"), std::string::npos) << second.err;
}

}  // namespace
}  // namespace tender::testing

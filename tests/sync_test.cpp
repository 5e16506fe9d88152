// `tender sync` as a user runs it: the real binary against a real git repository (a local bare
// one), an HTTP server of archives (tests/sync_http.py) and a directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int kFiles = 5;

std::string admin_get(const Tender& t, const std::string& path) {
  return http(t.port("admin"), "GET", path).body;
}

json::object status_of(const Tender& t) {
  return json::parse(admin_get(t, "/statusz")).as_object().at("status").as_object();
}

// A metric's value from /metrics ("name" or "name{labels}"), or -1.
double metric(const Tender& t, const std::string& sample) {
  std::istringstream in(admin_get(t, "/metrics"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(sample + " ", 0) == 0) {
      return std::stod(line.substr(sample.size() + 1));
    }
  }
  return -1;
}

std::string read_file(const std::string& path) { return slurp(path); }

// A bare repository that commits land in: through one `git fast-import` process, so a commit
// takes milliseconds (a clone's commit and push take a few git processes each, far more than
// 100 ms on a busy machine).
class GitRepo {
 public:
  GitRepo() : bare_(dir_.path() + "/site.git") {
    auto init = run_command({"git", "init", "--quiet", "--bare", "--initial-branch=main", bare_});
    EXPECT_TRUE(init.status.success()) << init.err;
    SpawnOptions o;
    o.argv = {"git", "--git-dir=" + bare_, "fast-import", "--quiet", "--force"};
    o.stdin_ = Stdio::pipe();
    o.stdout_ = Stdio::pipe();
    auto p = Process::spawn(o);
    EXPECT_TRUE(p) << p.error().message();
    importer_.emplace(std::move(*p));
  }
  ~GitRepo() {
    ::close(importer_->release_stdin_fd());  // fast-import ends at the end of its input
    (void)importer_->wait();
  }
  GitRepo(const GitRepo&) = delete;
  GitRepo& operator=(const GitRepo&) = delete;
  [[nodiscard]] const std::string& bare() const { return bare_; }

  // Commits `n` written into every one of kFiles files (some in a subdirectory) on main, and
  // returns the commit's hash once the branch names it.
  std::string commit(int n) {
    ++marks_;
    std::string msg = "n=" + std::to_string(n);
    std::string value = std::to_string(n) + "\n";
    std::string cmd = "commit refs/heads/main\nmark :" + std::to_string(marks_) +
                      "\ncommitter t <t@example.org> " + std::to_string(::time(nullptr)) +
                      " +0000\ndata " + std::to_string(msg.size()) + "\n" + msg + "\n";
    for (int i = 0; i < kFiles; ++i) {
      std::string name = std::string(i % 2 == 0 ? "" : "sub/") + "f" + std::to_string(i);
      cmd += "M 100644 inline " + name + "\ndata " + std::to_string(value.size()) + "\n" + value;
    }
    cmd += "\ncheckpoint\n\nget-mark :" + std::to_string(marks_) + "\n";
    EXPECT_EQ(::write(importer_->stdin_fd(), cmd.data(), cmd.size()),
              static_cast<ssize_t>(cmd.size()));
    std::string hash;
    char c = 0;
    while (::read(importer_->stdout_fd(), &c, 1) == 1 && c != '\n') {
      hash += c;
    }
    EXPECT_EQ(hash.size(), 40u) << hash;
    hashes_[hash] = n;
    return hash;
  }
  // Which commit number a hash is (-1 if not ours).
  int number(const std::string& hash) const {
    auto it = hashes_.find(hash);
    return it == hashes_.end() ? -1 : it->second;
  }

 private:
  TempDir dir_;
  std::string bare_;
  std::optional<Process> importer_;
  int marks_ = 0;
  std::map<std::string, int> hashes_;
};

// Reads every file of the tree the link points at, resolving the link once. nullopt when the
// tree went away while it was read (an old tree removed after two more publications).
std::optional<std::set<std::string>> read_tree_once(const std::string& link) {
  int dir = ::open(link.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    return std::set<std::string>{};  // nothing published yet
  }
  std::set<std::string> values;
  for (int i = 0; i < kFiles; ++i) {
    std::string name = std::string(i % 2 == 0 ? "" : "sub/") + "f" + std::to_string(i);
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ::close(dir);
      if (errno == ENOENT) {
        return std::nullopt;
      }
      return std::set<std::string>{"open failed: " + name};
    }
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    values.insert(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0));
  }
  ::close(dir);
  return values;
}

std::vector<std::string> sync_args(const std::string& source, const std::string& dest,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"sync",   "--admin", "127.0.0.1:0", "--source", source,
                                "--dest", dest,      "--grace",     "2s"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(Sync, ReaderNeverSeesTwoRevisionsWhileCommitsLandEvery100ms) {
  GitRepo repo;
  TempDir out;
  std::string dest = out.path() + "/site";
  std::string hook_log = out.path() + "/hook.log";
  repo.commit(0);
  Tender sync(sync_args("git:" + repo.bare() + "#main", dest,
                        {"--period", "50ms", "--exec", "--", "/bin/sh", "-c",
                         "echo \"$TENDER_SYNC_REVISION $(cat f0)\" >> " + hook_log}));
  std::string link = dest + "/current";
  ASSERT_TRUE(eventually([&] { return http(sync.port("admin"), "GET", "/readyz").status == 200; }));

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, mixes{0}, vanished{0}, went_back{0};
  std::string first_mix;
  std::thread reader([&] {
    int last = -1;
    while (!stop) {
      auto values = read_tree_once(link);
      if (!values) {
        ++vanished;
        continue;
      }
      if (values->empty()) {
        continue;
      }
      ++reads;
      if (values->size() != 1) {
        if (mixes++ == 0) {
          for (const auto& v : *values) {
            first_mix += v + " ";
          }
        }
        continue;
      }
      int n = std::stoi(*values->begin());
      if (n < last) {
        ++went_back;
      }
      last = n;
    }
  });
  constexpr int kCommits = 60;  // 6 s of commits
  std::string last_hash;
  for (int n = 1; n <= kCommits; ++n) {
    last_hash = repo.commit(n);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  bool caught_up =
      eventually([&] { return read_file(link + "/f0") == std::to_string(kCommits) + "\n"; }, 30s);
  stop = true;
  reader.join();
  ASSERT_TRUE(caught_up) << sync.stderr_text();
  EXPECT_EQ(mixes, 0) << "a reader saw files of two revisions: " << first_mix;
  EXPECT_EQ(went_back, 0);
  EXPECT_GT(reads, 10);
  // The state follows the swap of the link at once.
  EXPECT_TRUE(eventually([&] { return status_of(sync).at("revision").as_string() == last_hash; }));
  EXPECT_EQ(metric(sync, "tender_sync_info{revision=\"" + last_hash + "\"}"), 1);
  EXPECT_GT(metric(sync, "tender_sync_publishes_total"), 2);
  EXPECT_EQ(metric(sync, "tender_sync_failures_total"), 0) << sync.stderr_text();

  // The hook ran in each new tree with its revision, the last one included; a publication it
  // did not run for was superseded by a newer one while it still ran, and is counted.
  ASSERT_TRUE(eventually([&] {
    return read_file(hook_log).find(last_hash + " " + std::to_string(kCommits)) !=
           std::string::npos;
  })) << read_file(hook_log);
  std::istringstream lines(read_file(hook_log));
  std::string hash;
  int n = 0;
  int runs = 0;
  std::set<std::string> seen;
  while (lines >> hash >> n) {
    ++runs;
    EXPECT_EQ(repo.number(hash), n) << "the hook ran in a tree of another revision";
    EXPECT_TRUE(seen.insert(hash).second) << "the hook ran twice for " << hash;
  }
  EXPECT_TRUE(eventually(
      [&] { return metric(sync, "tender_sync_hook_runs_total{result=\"success\"}") == runs; }));
  double superseded =
      std::max(0.0, metric(sync, "tender_sync_hook_runs_total{result=\"superseded\"}"));
  EXPECT_EQ(runs + superseded, metric(sync, "tender_sync_publishes_total"));
  // Old trees go: the current one and the one before it stay.
  std::size_t trees = 0;
  for (const auto& e : fs::directory_iterator(dest + "/.tender-sync")) {
    trees += e.path().filename().string().rfind("rev-", 0) == 0 ? 1 : 0;
  }
  EXPECT_LE(trees, 2u);
}

TEST(Sync, OnceSyncsAndExitsZeroOrOneForAnInitContainer) {
  GitRepo repo;
  TempDir out;
  std::string hash = repo.commit(7);
  auto ok = run_tender({"sync", "--once", "--source", "git:" + repo.bare() + "#main", "--dest",
                        out.path() + "/site"});
  EXPECT_EQ(ok.status.code, 0) << ok.err;
  EXPECT_EQ(read_file(out.path() + "/site/current/f0"), "7\n");
  EXPECT_EQ(fs::read_symlink(out.path() + "/site/current").string(), ".tender-sync/rev-" + hash);
  auto bad = run_tender({"sync", "--once", "--source", "git:" + repo.bare() + "#no-such-branch",
                         "--dest", out.path() + "/other"});
  EXPECT_EQ(bad.status.code, 1);
  EXPECT_NE(bad.err.find("no-such-branch"), std::string::npos) << bad.err;
}

TEST(Sync, AGitSourceThatDoesNotExistIsNotReadyWithTheReasonInStatusz) {
  TempDir out;
  Tender sync(sync_args("git:" + out.path() + "/missing.git#main", out.path() + "/site",
                        {"--period", "100ms"}));
  ASSERT_TRUE(eventually([&] { return metric(sync, "tender_sync_failures_total") >= 1; }));
  auto ready = http(sync.port("admin"), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("missing.git"), std::string::npos) << ready.body;
  auto st = status_of(sync);
  EXPECT_FALSE(st.at("synced").as_bool());
  std::string reason(st.at("last_error").at("reason").as_string());
  EXPECT_NE(reason.find("missing.git"), std::string::npos) << reason;
  EXPECT_EQ(http(sync.port("admin"), "GET", "/healthz").status, 200);
}

TEST(Sync, MaxFailuresEndsTheProcessWithOne) {
  TempDir out;
  Tender sync(sync_args("git:" + out.path() + "/missing.git#main", out.path() + "/site",
                        {"--period", "50ms", "--max-failures", "3"}));
  auto st = sync.wait_exit(20s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->code, 1);
  EXPECT_NE(sync.stderr_text().find("max-failures"), std::string::npos);
}

// tests/sync_http.py serving the archives in `dir`.
std::unique_ptr<Tender> start_http(const std::string& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {std::string(TENDER_TESTS_DIR) + "/sync_http.py", "--port", "0",
                                   "--dir", dir};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<Tender>(args, std::vector<std::string>{"python3", "-u"});
}

json::object http_stats(const Tender& server) {
  return json::parse(http(server.port("listen"), "GET", "/stats").body).as_object();
}

// /stats of an HTTPS sync_http.py, through curl.
json::object http_stats_tls(const std::string& cert, const Tender& server) {
  auto r = run_command({"curl", "-s", "--cacert", cert,
                        "https://127.0.0.1:" + std::to_string(server.port("listen")) + "/stats"});
  return json::parse(r.out).as_object();
}

// Makes DIR/name (a gzipped tar, or a plain one) of a tree holding index.html with `text`.
void make_archive(const std::string& dir, const std::string& name, const std::string& text,
                  bool gzip = true) {
  TempDir tree;
  tree.write("index.html", text);
  fs::create_directories(tree.path() + "/css");
  tree.write("css/site.css", "body{}");
  std::string tmp = dir + "/." + name;
  auto r = run_command({"tar", gzip ? "-czf" : "-cf", tmp, "-C", tree.path(), "."});
  ASSERT_TRUE(r.status.success()) << r.err;
  fs::rename(tmp, dir + "/" + name);
}

TEST(Sync, TarOverHttpIsFetchedOnceThenAnswered304UntilItChangesGzOrNot) {
  TempDir served;
  TempDir out;
  make_archive(served.path(), "site.tar.gz", "v1");
  auto server = start_http(served.path());
  std::string url = "http://127.0.0.1:" + std::to_string(server->port("listen")) + "/site.tar.gz";
  Tender sync(sync_args(url, out.path() + "/site", {"--period", "100ms"}));
  std::string link = out.path() + "/site/current";
  ASSERT_TRUE(eventually([&] { return read_file(link + "/index.html") == "v1"; }))
      << sync.stderr_text();
  EXPECT_EQ(read_file(link + "/css/site.css"), "body{}");
  ASSERT_TRUE(eventually([&] { return http_stats(*server).at("304").as_int64() >= 3; }))
      << sync.stderr_text();
  EXPECT_EQ(http_stats(*server).at("200").as_int64(), 1);  // downloaded once
  std::string rev1(status_of(sync).at("revision").as_string());
  make_archive(served.path(), "site.tar.gz", "v2", false);  // told apart by its bytes
  ASSERT_TRUE(eventually([&] { return read_file(link + "/index.html") == "v2"; }));
  EXPECT_TRUE(eventually([&] { return status_of(sync).at("revision").as_string() != rev1; }));
  EXPECT_EQ(metric(sync, "tender_sync_failures_total"), 0);
}

TEST(Sync, TarOverHttpsGoesThroughCurlWithTheSameEtags) {
  TempDir served;
  TempDir out;
  std::string cert = served.path() + "/cert.pem";
  std::string key = served.path() + "/key.pem";
  auto made = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                           key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                           "subjectAltName=IP:127.0.0.1"});
  ASSERT_TRUE(made.status.success()) << made.err;
  make_archive(served.path(), "site.tar.gz", "secure");
  auto server = start_http(served.path(), {"--tls", cert, key});
  std::string url = "https://127.0.0.1:" + std::to_string(server->port("listen")) + "/site.tar.gz";
  // curl trusts the test's own certificate through CURL_CA_BUNDLE.
  Tender sync(sync_args(url, out.path() + "/site", {"--period", "100ms"}),
              {"env", "CURL_CA_BUNDLE=" + cert, TENDER_BINARY});
  std::string link = out.path() + "/site/current";
  ASSERT_TRUE(eventually([&] { return read_file(link + "/index.html") == "secure"; }))
      << sync.stderr_text();
  ASSERT_TRUE(eventually([&] { return http_stats_tls(cert, *server).at("304").as_int64() >= 2; }))
      << sync.stderr_text();
  EXPECT_EQ(http_stats_tls(cert, *server).at("200").as_int64(), 1);
}

TEST(Sync, ASyncPastTheTimeoutFailsAndTheNextOneComes) {
  TempDir served;
  TempDir out;
  auto server = start_http(served.path());
  std::string url = "http://127.0.0.1:" + std::to_string(server->port("listen")) + "/hang";
  Tender sync(sync_args(url, out.path() + "/site", {"--period", "100ms", "--timeout", "300ms"}));
  ASSERT_TRUE(eventually([&] { return metric(sync, "tender_sync_failures_total") >= 2; }))
      << sync.stderr_text();
  auto st = status_of(sync);
  std::string reason(st.at("last_error").at("reason").as_string());
  EXPECT_NE(reason.find("timed out after 300ms"), std::string::npos) << reason;
  EXPECT_EQ(http(sync.port("admin"), "GET", "/readyz").status, 503);
}

TEST(Sync, AHostileArchiveIsRefusedAndWritesNothingOutside) {
  TempDir served;
  TempDir out;
  TempDir victim;
  // A symlink to a directory outside, then a file written through it; and an absolute name.
  std::string script =
      "import io, sys, tarfile\n"
      "t = tarfile.open(sys.argv[1], 'w:gz')\n"
      "l = tarfile.TarInfo('evil'); l.type = tarfile.SYMTYPE; l.linkname = sys.argv[2]\n"
      "t.addfile(l)\n"
      "f = tarfile.TarInfo('evil/pwned'); data = b'pwned'; f.size = len(data)\n"
      "t.addfile(f, io.BytesIO(data))\n"
      "t.close()\n";
  auto made = run_command({"python3", "-c", script, served.path() + "/evil.tar.gz", victim.path()});
  ASSERT_TRUE(made.status.success()) << made.err;
  auto server = start_http(served.path());
  std::string url = "http://127.0.0.1:" + std::to_string(server->port("listen")) + "/evil.tar.gz";
  auto once = run_tender({"sync", "--once", "--source", url, "--dest", out.path() + "/site"});
  EXPECT_EQ(once.status.code, 1);
  EXPECT_NE(once.err.find("goes through the symlink \\\"evil\\\""), std::string::npos) << once.err;
  EXPECT_FALSE(fs::exists(victim.path() + "/pwned"));
  EXPECT_FALSE(fs::exists(out.path() + "/site/current"));
  // Nothing of it stays behind either.
  for (const auto& e : fs::directory_iterator(out.path() + "/site/.tender-sync")) {
    EXPECT_EQ(e.path().filename().string(), "cache");
  }
}

TEST(Sync, DirSourceIsCopiedAndRepublishedWhenItChanges) {
  TempDir src;
  TempDir out;
  src.write("index.html", "one");
  fs::create_directories(src.path() + "/img");
  src.write("img/a.txt", "a");
  Tender sync(sync_args("dir:" + src.path(), out.path() + "/site", {"--period", "100ms"}));
  std::string link = out.path() + "/site/current";
  ASSERT_TRUE(eventually([&] { return read_file(link + "/index.html") == "one"; }));
  EXPECT_EQ(read_file(link + "/img/a.txt"), "a");
  src.write("index.html", "two, longer");
  ASSERT_TRUE(eventually([&] { return read_file(link + "/index.html") == "two, longer"; }));
  fs::remove(src.path() + "/img/a.txt");
  ASSERT_TRUE(eventually([&] { return !fs::exists(link + "/img/a.txt"); }));
}

TEST(Sync, TheWebhookGetsEachRevisionRetriedWithBackoff) {
  TempDir src;
  TempDir out;
  src.write("index.html", "one");
  auto receiver = start_http(src.path(), {"--fail-posts", "1"});  // the first try fails
  std::string url = "http://127.0.0.1:" + std::to_string(receiver->port("listen")) + "/hook";
  auto once = run_tender({"sync", "--once", "--source", "dir:" + src.path(), "--dest",
                          out.path() + "/site", "--webhook", url});
  EXPECT_EQ(once.status.code, 0) << once.err;
  auto posts = json::parse(http(receiver->port("listen"), "GET", "/posts").body).as_array();
  ASSERT_EQ(posts.size(), 1u);
  auto event = json::parse(posts[0].as_string()).as_object();
  EXPECT_EQ(event.at("event").as_string(), "published");
  std::string link = fs::read_symlink(out.path() + "/site/current").string();
  EXPECT_EQ(".tender-sync/rev-" + std::string(event.at("revision").as_string()), link);
  EXPECT_EQ(event.at("path").as_string(), out.path() + "/site/current");
  EXPECT_NE(once.err.find("webhook not delivered"), std::string::npos) << once.err;
}

TEST(Sync, SighupReloadsTheHookAndRefusesANewSource) {
  GitRepo repo;
  TempDir out;
  repo.commit(1);
  auto config = [&](const std::string& source, const std::string& mark) {
    return out.write("sync.yaml", "source: " + source + "\ndest: " + out.path() +
                                      "/site\nperiod: 100ms\nexec: [touch, " + out.path() + "/" +
                                      mark + "]\n");
  };
  std::string file = config("git:" + repo.bare() + "#main", "a");
  Tender sync({"sync", "--admin", "127.0.0.1:0", "--config", file});
  ASSERT_TRUE(eventually([&] { return fs::exists(out.path() + "/a"); })) << sync.stderr_text();
  config("git:" + repo.bare() + "#main", "b");
  sync.signal(SIGHUP);
  ASSERT_TRUE(eventually(
      [&] { return metric(sync, "tender_sync_config_reloads_total{result=\"ok\"}") == 1; }));
  EXPECT_NE(admin_get(sync, "/configz").find(out.path() + "/b"), std::string::npos);
  repo.commit(2);
  ASSERT_TRUE(eventually([&] { return fs::exists(out.path() + "/b"); })) << sync.stderr_text();
  config("git:" + out.path() + "/other.git#main", "c");
  sync.signal(SIGHUP);
  ASSERT_TRUE(eventually(
      [&] { return metric(sync, "tender_sync_config_reloads_total{result=\"error\"}") == 1; }));
  EXPECT_NE(sync.stderr_text().find("cannot change on reload"), std::string::npos);
  EXPECT_NE(admin_get(sync, "/configz").find(repo.bare()), std::string::npos);
}

TEST(Sync, BadConfigurationExitsTwoNamingIt) {
  TempDir dir;
  auto scheme = run_tender({"sync", "--source", "svn://x/y", "--dest", dir.path() + "/d"});
  EXPECT_EQ(scheme.status.code, 2);
  EXPECT_NE(scheme.err.find("--source: unknown scheme \"svn\""), std::string::npos) << scheme.err;
  std::string file = dir.write("file", "x");
  auto dest = run_tender({"sync", "--source", "git:/x.git#main", "--dest", file + "/site"});
  EXPECT_EQ(dest.status.code, 2);
  EXPECT_NE(dest.err.find("--dest"), std::string::npos) << dest.err;
  auto missing = run_tender({"sync", "--dest", dir.path() + "/d"});
  EXPECT_EQ(missing.status.code, 2);
  EXPECT_NE(missing.err.find("--source: required"), std::string::npos);
  auto nodir =
      run_tender({"sync", "--source", "dir:" + dir.path() + "/nope", "--dest", dir.path() + "/d"});
  EXPECT_EQ(nodir.status.code, 2);
  EXPECT_NE(nodir.err.find("not a directory"), std::string::npos) << nodir.err;
  std::string cfg = dir.write(
      "sync.yaml", "source: git:/x.git#main\ndest: " + dir.path() + "/d\nperiod: often\n");
  auto bad = run_tender({"sync", "--config", cfg});
  EXPECT_EQ(bad.status.code, 2);
  EXPECT_NE(bad.err.find("sync.yaml:3"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("period"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace tender::testing

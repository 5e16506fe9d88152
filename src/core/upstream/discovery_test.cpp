#include "core/upstream/discovery.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace tender::upstream {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A file of its own, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    std::string tmpl = (fs::temp_directory_path() / "tender-endpoints-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
    write(text);
  }
  ~TempFile() { fs::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void write(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(EndpointFile, ListsOneEndpointPerLineWithComments) {
  TempFile f("# shards\n127.0.0.1:7001\n\n  127.0.0.1:7002   # the second\n");
  auto eps = read_endpoint_file(f.path());
  ASSERT_TRUE(eps) << eps.error().message();
  ASSERT_EQ(eps->size(), 2U);
  EXPECT_EQ((*eps)[0].first, "127.0.0.1:7001");
  EXPECT_EQ((*eps)[1].second.port, 7002);
}

TEST(EndpointFile, ErrorsNameTheLine) {
  TempFile f("127.0.0.1:7001\nnot an address\n");
  auto eps = read_endpoint_file(f.path());
  ASSERT_FALSE(eps);
  EXPECT_EQ(eps.error().message(), f.path() + ":2: expected HOST:PORT, not \"not an address\"");
  auto missing = read_endpoint_file(f.path() + ".none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "cannot read " + f.path() + ".none");
}

TEST(InitialEndpoints, BySource) {
  ClusterConfig c;
  c.name = "c";
  c.endpoints = {{"127.0.0.1", 1}, {"127.0.0.1", 2}};
  auto s = initial_endpoints(c);
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->size(), 2U);
  EXPECT_EQ((**s)[1].first, "127.0.0.1:2");

  c.source = ClusterConfig::Source::kFile;
  c.file = "/nonexistent/tender-endpoints";
  auto f = initial_endpoints(c);
  ASSERT_TRUE(f);
  EXPECT_FALSE(*f);  // not there yet: the upkeep keeps looking

  c.source = ClusterConfig::Source::kDns;
  auto d = initial_endpoints(c);
  ASSERT_TRUE(d);
  EXPECT_FALSE(*d);
}

// Runs `ioc` until `done()` or, failing, for a long while (a test that cannot pass ends).
template <typename Done>
bool run_until(asio::io_context& ioc, Done done) {
  for (int i = 0; i < 100'000 && !done(); ++i) {
    ioc.run_one_for(milliseconds(10));
  }
  return done();
}

// The health loop runs the role's check on every endpoint and moves it by its results; a file
// cluster follows its file.
TEST(Upkeep, ChecksEveryEndpointAndFollowsTheFile) {
  TempFile f("127.0.0.1:7001\n127.0.0.1:7002\n");
  ClusterConfig c;
  c.name = "c";
  c.source = ClusterConfig::Source::kFile;
  c.file = f.path();
  c.health.type = HealthCheck::Type::kTcp;
  c.health.interval = milliseconds(10);
  c.health.unhealthy_threshold = 1;
  Registry registry;
  auto cluster = std::make_shared<Cluster>(c, registry, "tender_test");
  asio::io_context ioc;
  std::map<std::string, int> checked;
  Upkeep upkeep(ioc, cluster,
                [&](const HealthCheck& hc, const Endpoint& e) -> asio::awaitable<Result<>> {
                  EXPECT_EQ(hc.type, HealthCheck::Type::kTcp);
                  ++checked[e.name];
                  if (e.address.port == 7002) {
                    co_return Error(std::errc::connection_refused, "refused");
                  }
                  co_return Result<>();
                });
  upkeep.start();
  auto status = [&](const std::string& name) -> std::string {
    for (const auto& e : *cluster->endpoints()) {
      if (e.name == name) {
        return e.stats->healthy.load() ? "healthy" : "unhealthy";
      }
    }
    return "absent";
  };
  ASSERT_TRUE(run_until(ioc, [&] { return status("127.0.0.1:7002") == "unhealthy"; }));
  EXPECT_EQ(status("127.0.0.1:7001"), "healthy");
  EXPECT_EQ(cluster->to_json().at("endpoints").as_array().at(1).as_object().at("last_check"),
            "refused");

  f.write("127.0.0.1:7003\n");  // another size: seen as changed
  ASSERT_TRUE(run_until(ioc, [&] { return status("127.0.0.1:7003") != "absent"; }));
  EXPECT_EQ(cluster->endpoints()->size(), 1U);
  ASSERT_TRUE(run_until(ioc, [&] { return checked["127.0.0.1:7003"] > 0; }));

  upkeep.stop();  // the loops end at their next turn: then the io_context is out of work
  EXPECT_TRUE(run_until(ioc, [&] { return ioc.stopped(); }));
}

}  // namespace
}  // namespace tender::upstream

// A real Prometheus server scrapes `tender adapt` (OpenMetrics, as Prometheus asks for it
// first), with every metrics source fed by a real peer: statsd packets over UDP, an app's JSON
// (served by Python's http.server), a Prometheus text endpoint (`tender echo`'s admin listener)
// and a redis-server. Prometheus' query API must return the mapped series with their values.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "free_port.hpp"
#include "proxy_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

void send_udp(std::uint16_t port, const std::string& payload) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// A Prometheus server of our own scraping 127.0.0.1:`target` every second.
class PrometheusServer {
 public:
  PrometheusServer(const TempDir& dir, std::uint16_t target) {
    std::string config = dir.write("prometheus.yml",
                                   "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                   "scrape_configs:\n"
                                   "  - job_name: adapt\n"
                                   "    static_configs: [{targets: ['127.0.0.1:" +
                                       std::to_string(target) + "']}]\n");
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) {
      port_ = free_port();
      SpawnOptions o;
      o.argv = {"prometheus", "--config.file=" + config,
                "--storage.tsdb.path=" + dir.path() + "/tsdb",
                "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
      o.stdout_ = Stdio::null();
      o.stderr_ = Stdio::null();
      auto p = Process::spawn(o);
      if (!p) {
        throw std::runtime_error("cannot start prometheus: " + p.error().message());
      }
      process_.emplace(std::move(*p));
      ready_ = eventually([&] { return http(port_, "GET", "/-/ready").status == 200; }, 30s);
    }
    if (!ready_) {
      throw std::runtime_error("prometheus did not become ready");
    }
  }

  // The value of the one series `promql` selects now, or nullopt while it selects none.
  std::optional<double> query(const std::string& promql) const {
    RunResult r = run_command({"curl", "-sf",
                               "http://127.0.0.1:" + std::to_string(port_) +
                                   "/api/v1/query?query=" + url_encode(promql)});
    if (!r.status.success()) {
      return std::nullopt;
    }
    json::value v = json::parse(r.out);
    const auto& result = v.at("data").at("result").as_array();
    if (result.size() != 1) {
      return std::nullopt;
    }
    return std::stod(json::value_to<std::string>(result[0].at("value").as_array().at(1)));
  }

  // Polls until `promql` selects one series of value `want`.
  bool eventually_equals(const std::string& promql, double want) const {
    return eventually(
        [&] {
          auto v = query(promql);
          return v && *v == want;
        },
        30s);
  }

 private:
  std::uint16_t port_ = 0;
  bool ready_ = false;
  std::optional<Process> process_;
};

TEST(AdaptPrometheus, ARealServerScrapesEverySource) {
  TempDir dir;
  RedisServer redis;
  redis.command({"SET", "k1", "v"});
  redis.command({"SET", "k2", "v", "EX", "3600"});
  // The app's JSON, served by a real HTTP server.
  std::filesystem::create_directories(dir.path() + "/www");
  dir.write("www/stats.json",
            R"({"requests": 1234, "healthy": true,
                "queues": [{"name": "mail", "depth": 3}, {"name": "sms", "depth": 5}]})");
  std::uint16_t www = free_port();
  SpawnOptions web;
  web.argv = {"python3",           "-m",          "http.server",      "--bind", "127.0.0.1",
              std::to_string(www), "--directory", dir.path() + "/www"};
  web.stdout_ = Stdio::null();
  web.stderr_ = Stdio::null();
  auto web_process = Process::spawn(web);
  ASSERT_TRUE(web_process) << web_process.error().message();
  ASSERT_TRUE(eventually([&] { return http(www, "GET", "/stats.json").status == 200; }));
  Tender echo(echo_args());

  std::string config =
      dir.write("adapt.yaml",
                "metrics:\n"
                "  sources:\n"
                "    - name: app\n"
                "      json:\n"
                "        url: http://127.0.0.1:" +
                    std::to_string(www) +
                    "/stats.json\n"
                    "        metrics:\n"
                    "          - {name: shop_requests_total, type: counter, path: $.requests}\n"
                    "          - {name: shop_healthy, path: $.healthy}\n"
                    "          - name: shop_queue\n"
                    "            type: object\n"
                    "            path: $.queues[*]\n"
                    "            labels: {queue: '{.name}'}\n"
                    "            values: {depth: '{.depth}'}\n"
                    "    - name: stats\n"
                    "      statsd: {udp: 127.0.0.1:0}\n"
                    "    - name: echo\n"
                    "      text:\n"
                    "        url: http://127.0.0.1:" +
                    std::to_string(echo.port("admin")) +
                    "/metrics\n"
                    "        relabel:\n"
                    "          - {source_labels: [__name__], regex: 'tender_echo_(.*)', "
                    "target_label: __name__,"
                    " replacement: 'echo_$1'}\n"
                    "          - {source_labels: [__name__], regex: 'echo_.*', action: keep}\n"
                    "    - name: cache\n"
                    "      redis: {address: 127.0.0.1:" +
                    std::to_string(redis.port()) + "}\n");
  Tender adapt({"adapt", "--config", config, "--admin", "127.0.0.1:0"});
  for (int i = 0; i < 3; ++i) {
    send_udp(adapt.port("stats_udp"), "checkout.orders:2|c|#region:eu\ncheckout.cart_size:7|g");
  }
  PrometheusServer prometheus(dir, adapt.port("admin"));

  EXPECT_TRUE(prometheus.eventually_equals("up{job=\"adapt\"}", 1));
  EXPECT_TRUE(prometheus.eventually_equals("shop_requests_total", 1234));
  EXPECT_TRUE(prometheus.eventually_equals("shop_healthy", 1));
  EXPECT_TRUE(prometheus.eventually_equals("shop_queue_depth{queue=\"mail\"}", 3));
  EXPECT_TRUE(prometheus.eventually_equals("shop_queue_depth{queue=\"sms\"}", 5));
  EXPECT_TRUE(prometheus.eventually_equals("checkout_orders_total{region=\"eu\"}", 6));
  EXPECT_TRUE(prometheus.eventually_equals("checkout_cart_size", 7));
  EXPECT_TRUE(prometheus.eventually_equals("redis_db_keys{db=\"db0\"}", 2));
  EXPECT_TRUE(prometheus.eventually_equals("redis_db_keys_expiring{db=\"db0\"}", 1));
  // Renamed by the relabelling, and only what it keeps.
  EXPECT_TRUE(prometheus.eventually_equals("echo_delayed_requests_total", 0));
  EXPECT_FALSE(prometheus.query("tender_echo_delayed_requests_total"));
  // echo's other metrics (process_*, tender_build_info) would meet tender's own names and be
  // dropped as conflicts; `keep` removed them before.
  EXPECT_FALSE(prometheus.query("tender_adapt_series_dropped_total{source=\"echo\"}"));
  for (const char* source : {"app", "stats", "echo", "cache"}) {
    EXPECT_TRUE(prometheus.eventually_equals(
        std::string("tender_adapt_source_up{source=\"") + source + "\"}", 1))
        << source;
  }
  // A source that goes down is 0 while the others are still served.
  redis.stop();
  EXPECT_TRUE(prometheus.eventually_equals("tender_adapt_source_up{source=\"cache\"}", 0));
  EXPECT_TRUE(prometheus.eventually_equals("tender_adapt_source_up{source=\"app\"}", 1));
}

}  // namespace
}  // namespace tender::testing

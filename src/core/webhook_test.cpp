// The webhook against the real server, in one process, on 127.0.0.1 with a free port.
#include "core/webhook.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <deque>
#include <mutex>
#include <stdexcept>

#include "core/http_server.hpp"

namespace tender {
namespace {

using namespace std::chrono_literals;

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router r;
    r.add("POST", "/hook", [this](Request& req) {
      std::lock_guard lock(mu_);
      posts_.push_back(req.body);
      int status = 200;
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.pop_front();
      }
      return Response::text(status, "");
    });
    server_ = std::make_unique<HttpServer>(std::move(r), ServerOptions{});
    addr_ = server_->bind();
    server_->start();
  }
  void TearDown() override { server_->stop(); }

  [[nodiscard]] HttpUrl url() const { return HttpUrl{addr_.host, addr_.port, "/hook"}; }
  static WebhookOptions fast() {
    WebhookOptions o;
    o.backoff.initial = 10ms;
    o.backoff.max = 40ms;
    return o;
  }
  // Runs the loop until `n` events have had their result.
  void run_until(std::size_t n) {
    while (results_.size() < n) {
      ioc_.restart();
      ioc_.run_for(50ms);
      ASSERT_LT(std::chrono::steady_clock::now() - started_, 20s);
    }
  }
  std::function<void(bool)> record() {
    return [this](bool ok) { results_.push_back(ok); };
  }
  std::vector<std::string> posts() {
    std::lock_guard lock(mu_);
    return posts_;
  }

  boost::asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  HostPort addr_;
  std::mutex mu_;
  std::vector<std::string> posts_;
  std::deque<int> statuses_;  // answers to give before 200s
  std::vector<bool> results_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

TEST_F(WebhookTest, DeliversEventsOneAtATimeInOrder) {
  Webhook hook(ioc_, url(), fast(), record());
  hook.send(R"({"n":1})");
  hook.send(R"({"n":2})");
  hook.send(R"({"n":3})");
  EXPECT_EQ(hook.pending(), 3u);
  run_until(3);
  EXPECT_EQ(results_, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(posts(), (std::vector<std::string>{R"({"n":1})", R"({"n":2})", R"({"n":3})"}));
  EXPECT_EQ(hook.pending(), 0u);
}

TEST_F(WebhookTest, RetriesAFailedAttemptAndThenDelivers) {
  statuses_ = {500, 503};
  Webhook hook(ioc_, url(), fast(), record());
  hook.send("e");
  run_until(1);
  EXPECT_EQ(results_, std::vector<bool>{true});
  EXPECT_EQ(posts(), (std::vector<std::string>{"e", "e", "e"}));
}

TEST_F(WebhookTest, GivesUpAfterItsAttemptsAndGoesOnWithTheNext) {
  statuses_ = {500, 500};
  WebhookOptions o = fast();
  o.attempts = 2;
  Webhook hook(ioc_, url(), o, record());
  hook.send("lost");
  hook.send("next");
  run_until(2);
  EXPECT_EQ(results_, (std::vector<bool>{false, true}));
  EXPECT_EQ(posts(), (std::vector<std::string>{"lost", "lost", "next"}));
}

TEST_F(WebhookTest, AnUnreachableAppIsAFailureNotAHang) {
  server_->stop();
  WebhookOptions o = fast();
  o.attempts = 2;
  o.timeout = 500ms;
  Webhook hook(ioc_, url(), o, record());
  hook.send("x");
  run_until(1);
  EXPECT_EQ(results_, std::vector<bool>{false});
}

TEST_F(WebhookTest, BeyondMaxPendingTheOldestWaitingOneIsDropped) {
  WebhookOptions o = fast();
  o.max_pending = 2;
  Webhook hook(ioc_, url(), o, record());
  hook.send("1");  // in flight from now on
  hook.send("2");
  hook.send("3");  // drops 2
  hook.send("4");  // drops 3
  EXPECT_EQ(results_, (std::vector<bool>{false, false}));
  run_until(4);
  EXPECT_EQ(posts(), (std::vector<std::string>{"1", "4"}));
}

TEST_F(WebhookTest, RefusesOptionsThatCannotWork) {
  WebhookOptions none = fast();
  none.attempts = 0;
  EXPECT_THROW(Webhook(ioc_, url(), none, record()), std::invalid_argument);
  WebhookOptions bad = fast();
  bad.backoff.max = 1ms;  // below initial
  EXPECT_THROW(Webhook(ioc_, url(), bad, record()), std::invalid_argument);
}

}  // namespace
}  // namespace tender

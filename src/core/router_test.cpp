#include "core/router.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

Request make(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) {
    r.query = r.target.substr(q + 1);
  }
  return r;
}

Response run(const Router& router, Request req) {
  Response out;
  bool called = false;
  router.dispatch(req, Reply([&](Response r) {
                    out = std::move(r);
                    called = true;
                  }));
  EXPECT_TRUE(called);
  return out;
}

TEST(Router, MatchesStaticPathsAndMethods) {
  Router r;
  r.get("/healthz", [](Request&) { return Response::text(200, "ok"); });
  r.post("/drain", [](Request&) { return Response::text(200, "draining"); });
  EXPECT_EQ(run(r, make("GET", "/healthz")).body, "ok");
  EXPECT_EQ(run(r, make("POST", "/drain")).body, "draining");
  EXPECT_EQ(run(r, make("GET", "/nope")).status, 404);
}

TEST(Router, WrongMethodIs405WithAllow) {
  Router r;
  r.get("/x", [](Request&) { return Response::text(200, ""); });
  r.add("PUT", "/x", [](Request&) { return Response::text(200, ""); });
  Response resp = run(r, make("DELETE", "/x"));
  EXPECT_EQ(resp.status, 405);
  EXPECT_EQ(resp.headers.get("allow").value_or(""), "GET, HEAD, PUT");
  EXPECT_NE(resp.body.find("DELETE"), std::string::npos);
}

TEST(Router, HeadMatchesGet) {
  Router r;
  r.get("/x", [](Request&) { return Response::text(200, "body"); });
  EXPECT_EQ(run(r, make("HEAD", "/x")).status, 200);
}

TEST(Router, CapturesPathParameters) {
  Router r;
  r.get("/v1/pods/{name}/containers/{c}", [](Request& req) {
    return Response::text(200, std::string(req.param("name")) + "|" + std::string(req.param("c")));
  });
  EXPECT_EQ(run(r, make("GET", "/v1/pods/web-0/containers/app")).body, "web-0|app");
  EXPECT_EQ(run(r, make("GET", "/v1/pods/web-0/containers")).status, 404);
  EXPECT_EQ(run(r, make("GET", "/v1/pods/web-0/containers/app/x")).status, 404);
}

TEST(Router, CatchAllCapturesTheRest) {
  Router r;
  r.add("*", "/static/*",
        [](Request& req) { return Response::text(200, std::string(req.param("*"))); });
  EXPECT_EQ(run(r, make("GET", "/static/a/b/c.txt")).body, "a/b/c.txt");
  EXPECT_EQ(run(r, make("POST", "/static")).body, "");
  EXPECT_EQ(run(r, make("GET", "/other")).status, 404);
}

TEST(Router, FirstMatchWins) {
  Router r;
  r.get("/a/special", [](Request&) { return Response::text(200, "special"); });
  r.get("/a/{x}", [](Request&) { return Response::text(200, "param"); });
  EXPECT_EQ(run(r, make("GET", "/a/special")).body, "special");
  EXPECT_EQ(run(r, make("GET", "/a/other")).body, "param");
}

TEST(Router, ToleratesDuplicateAndTrailingSlashes) {
  Router r;
  r.get("/a/b", [](Request&) { return Response::text(200, "ab"); });
  EXPECT_EQ(run(r, make("GET", "//a//b/")).body, "ab");
}

TEST(Router, HandlerExceptionsBecome500) {
  Router r;
  r.get("/boom", [](Request&) -> Response { throw std::runtime_error("kaput"); });
  Response resp = run(r, make("GET", "/boom"));
  EXPECT_EQ(resp.status, 500);
  EXPECT_NE(resp.body.find("kaput"), std::string::npos);
}

TEST(Router, AsyncHandlerRepliesLater) {
  Router r;
  Reply* saved = nullptr;
  std::optional<Reply> keep;
  r.add_async("GET", "/later", [&](Request&, Reply reply) {
    keep.emplace(reply);
    saved = &*keep;
  });
  Request req = make("GET", "/later");
  std::optional<Response> got;
  r.dispatch(req, Reply([&](Response resp) { got = std::move(resp); }));
  EXPECT_FALSE(got.has_value());
  ASSERT_NE(saved, nullptr);
  (*saved)(Response::text(201, "done"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 201);
}

TEST(Router, DroppedReplyAnswers500AndSecondReplyIsIgnored) {
  std::vector<int> statuses;
  {
    Reply reply([&](Response r) { statuses.push_back(r.status); });
  }
  EXPECT_EQ(statuses, std::vector<int>{500});
  statuses.clear();
  {
    Reply reply([&](Response r) { statuses.push_back(r.status); });
    reply(Response::text(200, ""));
    reply(Response::text(404, ""));
  }
  EXPECT_EQ(statuses, std::vector<int>{200});
}

TEST(Router, RejectsMalformedPatterns) {
  Router r;
  auto h = [](Request&) { return Response::text(200, ""); };
  EXPECT_THROW(r.get("no-slash", h), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{x", h), std::invalid_argument);
  EXPECT_THROW(r.get("/a/*/b", h), std::invalid_argument);
}

TEST(Request, QueryParamsAreDecoded) {
  Request r = make("GET", "/x?a=1&b=hello%20world&flag&a=2");
  EXPECT_EQ(r.query_param("a").value_or("?"), "1");
  EXPECT_EQ(r.query_param("b").value_or("?"), "hello world");
  EXPECT_EQ(r.query_param("flag").value_or("?"), "");
  EXPECT_FALSE(r.query_param("missing").has_value());
}

TEST(Headers, CaseInsensitiveAndOrdered) {
  Headers h;
  h.add("Content-Type", "a");
  h.add("X-Multi", "1");
  h.add("x-multi", "2");
  EXPECT_EQ(h.get("content-type").value_or(""), "a");
  EXPECT_EQ(h.get("X-MULTI").value_or(""), "1");
  h.set("X-Multi", "3");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.get("x-multi").value_or(""), "3");
  h.erase("CONTENT-TYPE");
  EXPECT_FALSE(h.get("content-type").has_value());
}

}  // namespace
}  // namespace tender

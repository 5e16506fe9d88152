#include "core/webui.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

Request make(std::string target, std::string if_none_match = "") {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) {
    r.query = r.target.substr(q + 1);
  }
  if (!if_none_match.empty()) {
    r.headers.add("If-None-Match", if_none_match);
  }
  return r;
}

Response run(const Router& router, Request req) {
  Response out;
  router.dispatch(req, Reply([&](Response r) { out = std::move(r); }));
  return out;
}

constexpr UiAsset kPanel{"panel.js", "text/javascript; charset=utf-8",
                         "tender.panel({title: 'Test'});", "\"0011223344556677\""};

Router routes() {
  Router r;
  add_ui_routes(r, {"echo", std::span<const UiAsset>(&kPanel, 1),
                    [] { return std::string("tender_x_total 1\n"); }});
  return r;
}

std::string etag_of(std::string_view name) {
  for (const UiAsset& a : core_ui_assets()) {
    if (a.name == name) {
      return std::string(a.etag.substr(1, a.etag.size() - 2));
    }
  }
  return "";
}

TEST(WebUi, CoreAssetsAreEmbeddedWithTypes) {
  std::span<const UiAsset> assets = core_ui_assets();
  ASSERT_EQ(assets.size(), 3u);
  for (const UiAsset& a : assets) {
    EXPECT_FALSE(a.body.empty()) << a.name;
    EXPECT_EQ(a.etag.size(), 18u) << a.name;  // 16 hex digits, quoted
  }
  EXPECT_NE(etag_of("ui.js"), "");
}

TEST(WebUi, PageNamesTheRoleAndVersionedAssetsByRelativeUrls) {
  Response r = run(routes(), make("/ui"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(r.headers.get("Cache-Control").value_or(""), "no-cache");
  EXPECT_NE(r.body.find("<title>tender echo</title>"), std::string::npos);
  EXPECT_NE(r.body.find("data-role=\"echo\""), std::string::npos);
  EXPECT_NE(r.body.find("src=\"ui/static/ui.js?v=" + etag_of("ui.js") + "\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"ui/static/ui.css?v=" + etag_of("ui.css") + "\""),
            std::string::npos);
  // The role's panel comes after core's script, which it calls.
  auto core = r.body.find("ui/static/ui.js");
  auto panel = r.body.find("src=\"ui/static/panel.js?v=0011223344556677\"");
  ASSERT_NE(panel, std::string::npos);
  EXPECT_LT(core, panel);
  EXPECT_EQ(r.body.find("src=\"/"), std::string::npos) << "no absolute URL";
  EXPECT_EQ(r.body.find("%ROLE%"), std::string::npos);
  // Not framed (a framing page could steer a click), scripts only from the listener.
  EXPECT_EQ(r.headers.get("X-Frame-Options").value_or(""), "DENY");
  EXPECT_NE(r.headers.get("Content-Security-Policy").value_or("").find("frame-ancestors 'none'"),
            std::string::npos);
}

TEST(WebUi, PageRevalidatesWithItsETag) {
  Router r = routes();
  Response first = run(r, make("/ui"));
  std::string etag(first.headers.get("ETag").value_or(""));
  ASSERT_FALSE(etag.empty());
  Response again = run(r, make("/ui", etag));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
}

TEST(WebUi, TrailingSlashRedirectsSoRelativeUrlsResolve) {
  Response r = run(routes(), make("/ui/"));
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.headers.get("Location").value_or(""), "../ui");
}

TEST(WebUi, VersionedAssetsAreCachedForAYearOthersRevalidated) {
  Router r = routes();
  Response versioned = run(r, make("/ui/static/ui.js?v=" + etag_of("ui.js")));
  ASSERT_EQ(versioned.status, 200);
  EXPECT_EQ(versioned.headers.get("Content-Type").value_or(""), "text/javascript; charset=utf-8");
  EXPECT_EQ(versioned.headers.get("Cache-Control").value_or(""),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(versioned.headers.get("X-Content-Type-Options").value_or(""), "nosniff");
  // A stale version (an older page) is served but not kept.
  Response stale = run(r, make("/ui/static/ui.js?v=0000"));
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.headers.get("Cache-Control").value_or(""), "no-cache");
  Response css = run(r, make("/ui/static/ui.css"));
  EXPECT_EQ(css.headers.get("Content-Type").value_or(""), "text/css; charset=utf-8");
  Response panel = run(r, make("/ui/static/panel.js", "W/\"x\", \"0011223344556677\""));
  EXPECT_EQ(panel.status, 304);
}

TEST(WebUi, UnknownAssetsAre404AndThePageTemplateIsNotServedRaw) {
  Router r = routes();
  EXPECT_EQ(run(r, make("/ui/static/nope.js")).status, 404);
  EXPECT_EQ(run(r, make("/ui/static/index.html")).status, 404);
}

TEST(WebUi, MetricsComeFromTheRegistryWithoutGathering) {
  Response r = run(routes(), make("/ui/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "tender_x_total 1\n");
  EXPECT_EQ(r.headers.get("Cache-Control").value_or(""), "no-store");
}

}  // namespace
}  // namespace tender

#include "core/webui.hpp"

#include <memory>
#include <vector>

namespace tender {
namespace {

// Never in a frame (a page that frames the view could trick a click on a fault button), no
// script or style from anywhere but the listener, and no Referer sent on.
void add_page_headers(Response& r) {
  r.headers.set("Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  r.headers.set("X-Frame-Options", "DENY");
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.headers.set("Referrer-Policy", "no-referrer");
}

bool etag_matches(const Request& req, std::string_view etag) {
  std::optional<std::string_view> inm = req.headers.get("If-None-Match");
  if (!inm) {
    return false;
  }
  std::string_view v = *inm;
  while (!v.empty()) {
    std::size_t comma = v.find(',');
    std::string_view one = trim_ows(v.substr(0, comma));
    if (one.starts_with("W/")) {
      one.remove_prefix(2);
    }
    if (one == "*" || one == etag) {
      return true;
    }
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
  }
  return false;
}

const UiAsset* find_asset(std::span<const UiAsset> assets, std::string_view name) {
  for (const UiAsset& a : assets) {
    if (a.name == name) {
      return &a;
    }
  }
  return nullptr;
}

// index.html with its placeholders filled: the role's name and each script and style sheet
// by its versioned URL.
std::string render_page(std::string_view role, std::span<const UiAsset> core,
                        std::span<const UiAsset> panel) {
  const UiAsset* index = find_asset(core, "index.html");
  std::string page(index != nullptr ? index->body : "");
  auto link = [](const UiAsset& a) {
    std::string etag(a.etag.substr(1, a.etag.size() - 2));
    return "ui/static/" + std::string(a.name) + "?v=" + etag;
  };
  std::string head;
  std::string scripts;
  for (auto list : {core, panel}) {
    for (const UiAsset& a : list) {
      if (a.name.ends_with(".css")) {
        head += "<link rel=\"stylesheet\" href=\"" + link(a) + "\">\n";
      } else if (a.name.ends_with(".js")) {
        scripts += "<script src=\"" + link(a) + "\"></script>\n";
      }
    }
  }
  auto replace = [&page](std::string_view key, const std::string& value) {
    if (auto at = page.find(key); at != std::string::npos) {
      page.replace(at, key.size(), value);
    }
  };
  // Role names are [a-z]+; nothing to escape, but nothing else is let through either.
  std::string safe_role;
  for (char c : role) {
    if ((c >= 'a' && c <= 'z') || c == '-') {
      safe_role.push_back(c);
    }
  }
  replace("%ROLE%", safe_role);
  replace("%ROLE%", safe_role);  // in the title and the heading
  replace("%STYLES%", head);
  replace("%SCRIPTS%", scripts);
  return page;
}

}  // namespace

Response asset_response(const Request& req, const UiAsset& asset, bool versioned) {
  Response r;
  r.headers.set("ETag", std::string(asset.etag));
  r.headers.set("Cache-Control", versioned ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.set("X-Content-Type-Options", "nosniff");
  if (etag_matches(req, asset.etag)) {
    r.status = 304;
    return r;
  }
  r.headers.set("Content-Type", std::string(asset.content_type));
  r.body = std::string(asset.body);
  return r;
}

void add_ui_routes(Router& router, UiOptions options) {
  auto opts = std::make_shared<UiOptions>(std::move(options));
  std::span<const UiAsset> core = core_ui_assets();
  // The page is built once: the role and its assets do not change while the process runs.
  auto page = std::make_shared<std::string>(render_page(opts->role, core, opts->role_assets));
  auto page_etag =
      std::make_shared<std::string>("\"" + std::to_string(std::hash<std::string>{}(*page)) + "\"");
  router.get("/ui", [page, page_etag](Request& req) {
    if (req.path.ends_with('/')) {
      // The router takes /ui/ for /ui, but the page's relative URLs would resolve under it.
      Response r = Response::text(308, "the web view is at ../ui\n");
      r.headers.set("Location", "../ui");
      return r;
    }
    UiAsset asset{"index.html", "text/html; charset=utf-8", *page, *page_etag};
    Response r = asset_response(req, asset, false);
    add_page_headers(r);
    return r;
  });
  router.get("/ui/static/{name}", [opts, core](Request& req) {
    std::string_view name = req.param("name");
    const UiAsset* a = find_asset(opts->role_assets, name);
    if (a == nullptr && name != "index.html") {
      a = find_asset(core, name);
    }
    if (a == nullptr) {
      return Response::error(404, "no asset named " + std::string(name));
    }
    std::string etag(a->etag.substr(1, a->etag.size() - 2));
    return asset_response(req, *a, req.query_param("v").value_or("") == etag);
  });
  router.get("/ui/metrics", [opts](Request&) {
    Response r = Response::text(200, opts->metrics_text ? opts->metrics_text() : "");
    r.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.headers.set("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace tender

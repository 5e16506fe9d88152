#pragma once
// The web view every admin listener serves at GET /ui: one page (HTML, CSS and plain
// JavaScript embedded in the binary) that shows the role's /statusz, health, readiness, key
// metrics as charts and effective config, live, plus the role's own panel.
//
//   // src/pod/CMakeLists.txt: tender_embed_assets(tender_pod FUNCTION tender::pod::ui_assets
//   //                                             FILES ui/panel.js)
//   std::span<const UiAsset> PodRunner::ui_assets() const { return pod::ui_assets(); }
//
// run_role adds the routes (core/app.cpp); a role only provides its assets. A role's
// `panel.js` is loaded after core's `ui.js` and registers itself with `tender.panel({...})`
// (src/core/ui/ui.js and docs/management-interface.md, "The web view", describe that
// interface).
//
// Every URL the page uses is relative, so it works wherever the listener is reached: through
// `kubectl port-forward`, or under the pod runner's /v1/pods/NAME/containers/C/admin/ proxy.
// Assets are named with their ETag (`ui/static/ui.js?v=ETAG`): a browser keeps them for a
// year and asks again only when the binary changes. Pure logic: no sockets.

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/router.hpp"
#include "core/ui_asset.hpp"

namespace tender {

// Core's own assets: index.html, ui.css, ui.js.
[[nodiscard]] std::span<const UiAsset> core_ui_assets();

struct UiOptions {
  std::string role;                      // "pod"
  std::span<const UiAsset> role_assets;  // the role's panel.js (and panel.css), if any
  // The registry's own series in the text format, without gathering anything (the adapter's
  // sources are not scraped for a chart): GET ui/metrics.
  std::function<std::string()> metrics_text;
};

// Adds GET /ui (/ui/ redirects to ../ui), GET /ui/static/{name} and GET /ui/metrics.
void add_ui_routes(Router& router, UiOptions options);

// The answer to a GET of `asset`: its bytes with its content type and ETag, 304 when the
// request's If-None-Match names that ETag; cached for a year when `versioned` (the URL carried
// the ETag), otherwise revalidated on each use.
[[nodiscard]] Response asset_response(const Request& req, const UiAsset& asset, bool versioned);

}  // namespace tender

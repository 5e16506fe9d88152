#pragma once
// One file of a web view, embedded in the binary at build time by tender_embed_assets
// (cmake/EmbedAssets.cmake). Apart from core/webui.hpp, which serves them, only the generated
// asset sources include this header, so that they compile in a fraction of a second.

#include <string_view>

namespace tender {

struct UiAsset {
  std::string_view name;          // "ui.js": served at ui/static/NAME
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // quoted: "\"0123abcd...\""
};

}  // namespace tender

#pragma once
// The web view's panels of `tender queue` (ui/queue.js) and `tender work` (ui/work.js),
// embedded as one set by CMakeLists.txt; each role serves its own:
//
//   std::span<const UiAsset> ui_assets() const override { return panel_asset("queue.js"); }

#include <span>
#include <string_view>

#include "core/webui.hpp"

namespace tender::workqueue {

// Both panels.
std::span<const UiAsset> ui_assets();

// The embedded asset named `name`, as a span of one; empty when there is none.
inline std::span<const UiAsset> panel_asset(std::string_view name) {
  auto all = ui_assets();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].name == name) {
      return all.subspan(i, 1);
    }
  }
  return {};
}

}  // namespace tender::workqueue

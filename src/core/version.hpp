#pragma once
// What `tender version` and /statusz report.

#include <string_view>

namespace tender {

[[nodiscard]] std::string_view version();     // "0.1.0"
[[nodiscard]] std::string_view commit();      // short git hash, or "unknown"
[[nodiscard]] std::string_view build_type();  // CMAKE_BUILD_TYPE

}  // namespace tender

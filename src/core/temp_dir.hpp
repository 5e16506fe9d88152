#pragma once
// Where temporary files go, and a private directory made there.
//
//   auto dir = make_temp_dir("tender-item.");   // Result<std::string>: $TMPDIR/tender-item.Ab3dEf
//   if (!dir) { ... dir.error().message() ... }

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tender {

// $TMPDIR, or /tmp when it is unset or empty.
[[nodiscard]] std::string temp_base();

// A new directory PREFIX followed by 6 random characters (mkdtemp: mode 0700, never one that
// existed) under `parent`, or temp_base() when `parent` is empty. Its path, or the errno.
[[nodiscard]] Result<std::string> make_temp_dir(std::string_view prefix,
                                                const std::string& parent = "");

}  // namespace tender

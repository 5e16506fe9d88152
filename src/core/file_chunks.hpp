// A file read from start to end in chunks, for what digests or checks a file without holding it:
//
//   Sha256 h;
//   auto r = tender::read_chunks(path, 256 << 10, [&](std::string_view bytes) -> tender::Result<> {
//     h.update(bytes);
//     return {};
//   });
//   if (!r) { ... r.error() names the file ... }
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tender {

// Hands every chunk of at most `chunk` bytes to `each`, in order, and stops at the first error
// it returns. Errors: "open PATH" / "read PATH" with errno, or what `each` returned.
[[nodiscard]] Result<> read_chunks(const std::string& path, std::size_t chunk,
                                   const std::function<Result<>(std::string_view)>& each);

}  // namespace tender

#include "core/file_chunks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/fd.hpp"

namespace tender {

Result<> read_chunks(const std::string& path, std::size_t chunk,
                     const std::function<Result<>(std::string_view)>& each) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return Error::from_errno(errno, "open " + path);
  }
  std::vector<char> buf(chunk == 0 ? 1 : chunk);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Error::from_errno(errno, "read " + path);
    }
    if (n == 0) {
      return {};
    }
    if (auto r = each(std::string_view(buf.data(), static_cast<std::size_t>(n))); !r) {
      return r.error();
    }
  }
}

}  // namespace tender

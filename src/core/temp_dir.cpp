#include "core/temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace tender {

std::string temp_base() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

Result<std::string> make_temp_dir(std::string_view prefix, const std::string& parent) {
  const std::string base = parent.empty() ? temp_base() : parent;
  std::string path = base + "/" + std::string(prefix) + "XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) {
    return Error::from_errno(errno, "cannot create a directory in " + base);
  }
  return Result<std::string>(boost::system::in_place_value, std::move(path));
}

}  // namespace tender

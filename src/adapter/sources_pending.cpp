// Source kinds whose factories are not in this build yet: configuring one is a clear error.
#include "adapter/sources.hpp"

namespace tender::adapter {

std::unique_ptr<Source> make_redis_source(std::string, const ConfigNode& settings,
                                          const SourceDefaults&) {
  settings.fail("", "redis sources are not available in this build");
}

}  // namespace tender::adapter

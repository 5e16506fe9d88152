#include "core/version.hpp"

namespace tender {

std::string_view version() { return TENDER_VERSION; }
std::string_view commit() { return TENDER_COMMIT; }
std::string_view build_type() { return TENDER_BUILD_TYPE; }

}  // namespace tender

#pragma once
// The `tender pod` subcommands' side of the runner's admin API.

#include <boost/json/value.hpp>
#include <string>

#include "core/http_client.hpp"

namespace tender::pod {

// The --admin option's help, for every client subcommand.
inline constexpr const char* kAdminHelp =
    "The runner's admin address (default $TENDER_POD_ADMIN, else 127.0.0.1:9900)";

// The runner's admin listener, HOST:PORT: --admin, else $TENDER_POD_ADMIN, else 127.0.0.1 and
// the pod default. Throws UsageError when the environment's value is not HOST:PORT.
[[nodiscard]] std::string admin_address(const std::string& admin);
// "http://" and admin_address(admin).
[[nodiscard]] std::string admin_url(const std::string& admin);

// GETs `path` and parses its JSON; throws UsageError naming the problem (unreachable, not 200).
[[nodiscard]] boost::json::value get_json(const std::string& base, const std::string& path);

// POSTs a JSON body. Throws UsageError if the runner cannot be reached; any HTTP answer is
// returned as it is.
[[nodiscard]] Response post_json(const std::string& base, const std::string& path,
                                 const std::string& body);

// Prints an answer other than 2xx as "tender pod VERB: STATUS REASON" on stderr and returns the
// exit code for it: 2 for 400/404 (the user's input), 1 otherwise.
int report_failure(const char* verb, const Response& r);

}  // namespace tender::pod

#include "pod/api_client.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>

#include "core/cli.hpp"
#include "core/host_port.hpp"

namespace tender::pod {

std::string admin_address(const std::string& admin) {
  if (!admin.empty()) {
    return admin;
  }
  if (const char* env = std::getenv("TENDER_POD_ADMIN"); env != nullptr && *env != '\0') {
    if (!parse_host_port(env)) {
      throw UsageError(std::string("TENDER_POD_ADMIN: not HOST:PORT: \"") + env + "\"");
    }
    return env;
  }
  return "127.0.0.1:" + std::to_string(kPodAdminPort);
}

std::string admin_url(const std::string& admin) {
  return "http://" + flag_host_port("admin", admin_address(admin)).str();
}

boost::json::value get_json(const std::string& base, const std::string& path) {
  auto r = fetch(base + path);
  if (!r) {
    throw UsageError("cannot reach the pod runner at " + base + ": " + r.error().message());
  }
  if (r->status != 200) {
    throw UsageError(path + ": " + std::to_string(r->status) + " " + r->body);
  }
  return boost::json::parse(r->body);
}

Response post_json(const std::string& base, const std::string& path, const std::string& body) {
  auto r = fetch(base + path, "POST", body, std::chrono::milliseconds(30'000));
  if (!r) {
    throw UsageError("cannot reach the pod runner at " + base + ": " + r.error().message());
  }
  return std::move(*r);
}

int report_failure(const char* verb, const Response& r) {
  std::string body = r.body;
  while (!body.empty() && body.back() == '\n') {
    body.pop_back();
  }
  std::fprintf(stderr, "tender pod %s: %d %s\n", verb, r.status, body.c_str());
  return r.status == 400 || r.status == 404 ? 2 : 1;
}

}  // namespace tender::pod

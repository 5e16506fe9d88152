#include "election/backend.hpp"

#include <string>

#include "election/etcd_backend.hpp"
#include "election/file_backend.hpp"

namespace tender::election {

namespace {

constexpr std::string_view kDefaultPrefix = "/tender/elect";

Error bad_url(std::string_view url, std::string_view why) {
  return {std::errc::invalid_argument, "backend '" + std::string(url) + "': " + std::string(why)};
}

Result<BackendUrl> parse_etcd(std::string_view url, std::string_view rest) {
  BackendUrl out;
  out.kind = BackendUrl::Kind::kEtcd;
  out.prefix = std::string(kDefaultPrefix);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (prefix.size() > 1 && prefix.back() == '/') {
      prefix.remove_suffix(1);
    }
    if (prefix != "/") {
      out.prefix = std::string(prefix);
    }
  }
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto endpoint = parse_host_port(item);
    if (!endpoint || endpoint->port == 0) {
      return bad_url(url, "'" + std::string(item) + "' is not HOST:PORT");
    }
    out.endpoints.push_back(*endpoint);
  }
  if (out.endpoints.empty()) {
    return bad_url(url, "no etcd endpoint (etcd://HOST:PORT[,HOST:PORT...])");
  }
  return out;
}

}  // namespace

Result<BackendUrl> parse_backend_url(std::string_view url) {
  if (url.starts_with("file:")) {
    std::string_view path = url.substr(5);
    if (path.starts_with("//")) {
      path.remove_prefix(2);
    }
    if (path.empty() || path.back() == '/') {
      return bad_url(url, "needs a file path (file:/shared/leader.lock)");
    }
    BackendUrl out;
    out.kind = BackendUrl::Kind::kFile;
    out.path = std::string(path);
    return out;
  }
  if (url.starts_with("etcd://")) {
    return parse_etcd(url, url.substr(7));
  }
  return bad_url(url, "unknown scheme (file:PATH or etcd://HOST:PORT,...)");
}

Result<std::unique_ptr<Backend>> make_backend(const BackendUrl& url, const BackendOptions& options,
                                              boost::asio::io_context& ioc) {
  std::unique_ptr<Backend> backend =
      url.kind == BackendUrl::Kind::kFile
          ? make_file_backend(url.path, options, ioc)
          : make_etcd_backend(url.endpoints, url.prefix, options, ioc);
  if (!backend) {
    return Error(std::errc::function_not_supported, "this backend is not built yet");
  }
  return backend;
}

}  // namespace tender::election

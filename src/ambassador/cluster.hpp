#pragma once
// The proxy's clusters: core's (core/upstream/cluster.hpp: endpoints, health, ejection, circuit
// breakers, metrics named tender_proxy_...) and the password a redis cluster's servers are sent.
//
//   auto cluster = std::make_shared<Cluster>(config, registry);   // at start and on reload
//   cluster->set_config(next);                                     // a reload, password included
//   if (auto a = cluster->auth(); !a.password.empty()) { ... AUTH a.user a.password ... }
//
// No Asio.

#include <mutex>
#include <string>

#include "ambassador/config.hpp"
#include "core/upstream/cluster.hpp"

namespace tender::ambassador {

using upstream::Endpoint;
using upstream::EndpointStats;
using upstream::Outcome;
using upstream::Picked;
using upstream::WorkerCluster;

class Cluster : public upstream::Cluster {
 public:
  Cluster(const ClusterConfig& config, Registry& metrics)
      : upstream::Cluster(config, metrics, "tender_proxy"), auth_{config.auth, config.auth_user} {}

  // A reload's config, password included (hides the base's, which would leave it behind).
  void set_config(const ClusterConfig& config) {
    upstream::Cluster::set_config(config);
    std::lock_guard lock(auth_mu_);
    auth_ = {config.auth, config.auth_user};
  }

  struct Auth {
    std::string password;  // empty: servers are not sent AUTH
    std::string user;      // empty: "default"
  };
  // The password in force (any thread; a copy, a reload may change it).
  [[nodiscard]] Auth auth() const {
    std::lock_guard lock(auth_mu_);
    return auth_;
  }

 private:
  mutable std::mutex auth_mu_;
  Auth auth_;  // guarded by auth_mu_
};

}  // namespace tender::ambassador

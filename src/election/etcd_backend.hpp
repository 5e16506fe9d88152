#pragma once
// The etcd backend: the election held in etcd (3.4's v3 JSON gateway over HTTP), across
// machines. (Private to src/election.)

#include <memory>
#include <string>
#include <vector>

#include "core/host_port.hpp"
#include "election/backend.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::election {

// A backend on the etcd members at `endpoints` (tried in turn when one fails), with candidacy
// keys under `prefix` + "/" + options.election. Nothing is contacted until run().
[[nodiscard]] std::unique_ptr<Backend> make_etcd_backend(std::vector<HostPort> endpoints,
                                                         std::string prefix,
                                                         const BackendOptions& options,
                                                         boost::asio::io_context& ioc);

}  // namespace tender::election

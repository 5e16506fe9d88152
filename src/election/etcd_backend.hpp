#pragma once
// The etcd backend: the election held in etcd (3.4's v3 JSON gateway over HTTP), across
// machines. (Private to src/election.)

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/host_port.hpp"
#include "election/backend.hpp"

namespace tender::election {

// A backend on the etcd members at `endpoints` (tried in turn when one fails), with candidacy
// keys under `prefix` + "/" + options.election. Nothing is contacted until run().
[[nodiscard]] std::unique_ptr<Backend> make_etcd_backend(
    std::vector<HostPort> endpoints, std::string prefix, const BackendOptions& options,
    const boost::asio::any_io_executor& executor);

}  // namespace tender::election

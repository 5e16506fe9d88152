#pragma once
// `tender elect`'s settings: flags over the --config file over defaults, checked at start so a
// mistake is exit code 2 naming the flag or the file's key and line. (Private to src/election.)

#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/host_port.hpp"
#include "election/backend.hpp"
#include "election/elector.hpp"

namespace tender::election {

struct ElectFlags {
  std::string election;
  std::string id;
  std::string backend;
  std::string ttl;
  std::string margin;
  std::string listen;
  std::string webhook;
  std::string exec_grace;
  bool exec = false;
  std::vector<std::string> command;  // after --
};

struct ElectConfig {
  std::string election;
  std::string id;  // the host name when not given
  std::string backend;
  BackendUrl backend_url;
  Timing timing;
  HostPort listen{"127.0.0.1", 4040};
  std::string webhook;  // empty: none
  std::vector<std::string> exec;
  std::chrono::milliseconds exec_grace{5'000};

  [[nodiscard]] boost::json::object to_json() const;
};

// Throws UsageError (a flag) or ConfigError (the file), naming what is wrong.
[[nodiscard]] ElectConfig resolve_elect(const ElectFlags& flags, const ConfigNode& file);

// This machine's host name (a pod's name under tender pod and Kubernetes), or "" if unknown.
[[nodiscard]] std::string host_name();

}  // namespace tender::election

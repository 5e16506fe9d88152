#include "sidecar/sink.hpp"

#include "core/cli.hpp"

namespace tender::sidecar {

SinkConfig parse_sink_url(const std::string& url) {
  throw UsageError("--sink " + url + ": sinks are not built yet");
}

}  // namespace tender::sidecar

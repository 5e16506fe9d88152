#pragma once
// What sink.cpp exposes beyond sink.hpp, for its tests: the stdout sink on any descriptor.
//
//   auto sink = make_fd_sink(parse_sink_url("stdout"), executor, pipe_write_end);

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "sidecar/sink.hpp"

namespace tender::sidecar {

// The stdout sink writing to `fd` instead of 1. The sink does not own `fd` (it is not
// closed). Never throws.
[[nodiscard]] std::unique_ptr<Sink> make_fd_sink(const SinkConfig& config,
                                                 const boost::asio::any_io_executor& executor,
                                                 int fd);

}  // namespace tender::sidecar

#pragma once
// The file backend: one machine's election through a record in a lock file on a shared volume.
// (Private to src/election.)

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "election/backend.hpp"

namespace tender::election {

// A backend over the record in `path` (created if missing). Never fails to construct: a file
// that cannot be opened is reported by run() through sink.contact(false, ...) and retried.
[[nodiscard]] std::unique_ptr<Backend> make_file_backend(
    std::string path, const BackendOptions& options, const boost::asio::any_io_executor& executor);

}  // namespace tender::election

#pragma once
// The file backend: one machine's election through a record in a lock file on a shared volume.
// (Private to src/election.)

#include <memory>
#include <string>

#include "election/backend.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::election {

// A backend over the record in `path` (created if missing). Never fails to construct: a file
// that cannot be opened is reported by run() through sink.contact(false, ...) and retried.
[[nodiscard]] std::unique_ptr<Backend> make_file_backend(std::string path,
                                                         const BackendOptions& options,
                                                         boost::asio::io_context& ioc);

}  // namespace tender::election

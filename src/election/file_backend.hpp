#pragma once
// The file backend: one machine's election through a record in a lock file on a shared volume.
// (Private to src/election.)
//
//   BackendOptions options{.election = "db", .id = "pod-a", .ttl = 2s};
//   auto backend = make_file_backend("/shared/leader.lock", options, ioc);
//   co_spawn(ioc, backend->run(sink), ...);   // as every Backend (backend.hpp)
//
// The file holds one record (file_record.hpp): the latest term's token, its holder and the
// holder's expiry on this machine's steady clock. Every access is made under flock on the file,
// never blocking the thread: a lock busy for 50 ms fails the round (contact(false, "... lock held
// by another process")), retried with backoff. A new term's token is fdatasync'ed before held()
// is reported; a term is held from the clock reading taken before the lock, for ttl.
//
// What it guarantees, and what not:
// - Tokens strictly increase across terms and restarts, as long as the file is kept; a file
//   deleted or replaced under running backends starts again from the highest token one of them
//   had seen, but a backend that never saw the old file would start from 1.
// - One machine only: expiries are CLOCK_MONOTONIC readings, and a record of another boot id is
//   taken over at once (its holder died with that boot). Two machines sharing the volume (NFS)
//   see each other's records as another boot's and take over from each other at once: two
//   leaders for up to one renew interval, until a boot id that was taken over shows up again
//   and the round fails with "written from another machine too". Nor may candidates run in
//   different time namespaces (their monotonic clocks differ). Use etcd across machines.
// - A file that is not our record (another program's, a newer version, another election) is
//   never written: it is reported through contact(false, ...) until it is fixed.

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

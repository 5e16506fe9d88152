#pragma once
// `tender sync`'s sources: each writes a new revision's tree into a staging directory, or says
// that the published revision is still current.
//
//   auto fetcher = make_fetcher(cfg, layout, co_await asio::this_coro::executor);
//   auto got = co_await fetcher->fetch(published_revision, deadline);
//   if (got && !got->unchanged) publish(layout, got->staging, got->revision);
//
//   git:REPO#REF   `git ls-remote` finds REF's commit; if it is new, `git fetch --depth 1` brings
//                  it into a bare mirror in the cache, `git archive` exports it; revision: the
//                  commit hash.
//   http://...     core's HttpClient, If-None-Match with the last ETag (304: unchanged); the body
//                  (at most max_bytes) to the cache; revision: a fingerprint of its bytes.
//   https://...    the same through the `curl` command (core has no TLS).
//   dir:/PATH      the tree copied; revision: a fingerprint of names, sizes, modes and mtimes.
// Archives (gzip or plain tar, told apart by their first bytes) are checked member by member
// (core/tar_check.hpp) and unpacked by the `tar` command. Every command runs from argv with a
// timeout (what is left until the deadline); cancelling the awaiting coroutine kills it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "sidecar/sync_config.hpp"
#include "sidecar/sync_tree.hpp"

namespace tender::sidecar {

struct Fetched {
  bool unchanged = false;  // the published revision is current: nothing was written
  std::string revision;
  std::string staging;  // the new tree, when !unchanged (the caller publishes or removes it)
};

class Fetcher {
 public:
  virtual ~Fetcher() = default;
  // Fetches the source. `published`: the revision readers see now ("" if none). Fails with a
  // message naming the step and the source (a command's exit and stderr, an HTTP status, a
  // refused archive member, a deadline passed); a staging tree it began is removed.
  // Not thread-safe: one fetch at a time, on the executor's thread.
  [[nodiscard]] virtual boost::asio::awaitable<Result<Fetched>> fetch(
      std::string published, std::chrono::steady_clock::time_point deadline) = 0;
};

[[nodiscard]] std::unique_ptr<Fetcher> make_fetcher(const SyncConfig& cfg, const TreeLayout& layout,
                                                    const boost::asio::any_io_executor& executor);

}  // namespace tender::sidecar

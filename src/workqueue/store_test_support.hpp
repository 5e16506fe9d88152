#pragma once
// What the store tests share: blocking calls of a Store's asynchronous operations.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "workqueue/store.hpp"

namespace tender::workqueue::testing {

// Calls `op(done)` and waits (at most 30 s) for `done`'s result.
template <class T, class Op>
Result<T> call(Op op) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  op([promise](Result<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "a store operation did not answer within 30 s";
    return queue_error(Errc::kUnavailable, "timed out");
  }
  return future.get();
}

inline Result<std::uint64_t> put(Store& s, const std::string& queue, NewItem item) {
  std::vector<NewItem> items;
  items.push_back(std::move(item));
  auto r = call<std::vector<Enqueued>>(
      [&](auto done) { s.enqueue(queue, std::move(items), std::move(done)); });
  if (!r) {
    return r.error();
  }
  return r->front().id;
}

inline Result<std::uint64_t> put(Store& s, const std::string& queue, std::string payload) {
  NewItem item;
  item.payload = std::move(payload);
  return put(s, queue, std::move(item));
}

inline Result<std::vector<Leased>> take(Store& s, const std::string& queue, std::size_t n = 1,
                                        std::optional<Millis> ttl = std::nullopt,
                                        Millis wait = Millis(0)) {
  LeaseOptions o;
  o.n = n;
  o.ttl = ttl;
  o.wait = wait;
  return call<std::vector<Leased>>([&](auto done) { (void)s.lease(queue, o, std::move(done)); });
}

inline Result<ItemView> item(Store& s, std::uint64_t id) {
  return call<ItemView>([&](auto done) { s.get(id, true, std::move(done)); });
}

inline Result<ItemView> ack(Store& s, const Leased& l, std::string result = "") {
  return call<ItemView>([&](auto done) { s.ack(l.id, l.lease_id, result, std::move(done)); });
}

inline Result<NackOutcome> nack(Store& s, const Leased& l, std::string error,
                                std::optional<Millis> delay = Millis(0)) {
  return call<NackOutcome>(
      [&](auto done) { s.nack(l.id, l.lease_id, error, delay, std::move(done)); });
}

inline Result<QueueInfo> info(Store& s, const std::string& queue) {
  return call<QueueInfo>([&](auto done) { s.queue(queue, std::move(done)); });
}

inline Errc errc(const Error& e) {
  return e.code().category() == category() ? static_cast<Errc>(e.code().value())
                                           : Errc::kUnavailable;
}

}  // namespace tender::workqueue::testing

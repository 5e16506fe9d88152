#pragma once
// How the root turns the leaves' JSON answers into one: the built-in merges, incremental, so
// that an answer is folded in as it arrives and top-k keeps a bounded heap, not every hit.
//
//   auto spec = parse_merge("topk:score:10@hits");       // Result<MergeSpec>: --merge's value
//   Merger m(*spec);
//   for (each shard's answer, in any order) {
//     if (auto r = m.add(shard_index, std::move(json)); !r) { ...that shard failed: r.error()... }
//   }
//   boost::json::value merged = m.finish();               // {"hits": [the best 10, best first]}
//
// The spec's text is KIND[:ARGS][@PATH]:
//   concat               answers are arrays; the result is one array, in shard order (or in the
//                        request's order after a split, see set_positions)
//   object               answers are objects; keys are merged recursively (objects in both are
//                        merged again; otherwise the first shard's value, in shard order, wins)
//   sum:F[,F...]         answers are objects with numeric fields F (dotted paths); the result is
//   min:F / max:F / avg:F  {"F": the sum / min / max / mean over the shards that answered}
//   topk:F:K[:asc]       answers are arrays of objects with a numeric field F; the result is the
//                        K with the largest F (smallest with :asc), best first; ties go to the
//                        lower shard, then to the earlier element
//   count                answers are arrays (their length counts) or {"count": N} objects (as a
//                        root of a lower level answers); the result is {"count": total}
//   http://HOST:PORT/PATH  a merge container (merge_container.hpp does the I/O; not a Merger)
// @PATH (dotted, e.g. "@hits" or "@result.items") says where in each answer the array or object
// is; the result then holds the merged value at the same path ({"hits": [...]}), so a root's
// answer has the shape of a leaf's and trees compose.
// No I/O, no Asio.

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::scatter {

struct MergeSpec {
  enum class Kind { kConcat, kObject, kSum, kMin, kMax, kAvg, kTopK, kCount, kContainer };
  Kind kind = Kind::kConcat;
  std::vector<std::string> fields;  // kSum..kAvg: the fields; kTopK: one, the ranking field
  std::size_t k = 0;                // kTopK
  bool ascending = false;           // kTopK with ":asc"
  std::string path;                 // @PATH, dotted; empty: the answer itself
  std::string url;                  // kContainer: the merge service's http:// URL

  // The spec as parse_merge reads it ("topk:score:10@hits").
  [[nodiscard]] std::string str() const;
};

// Reads --merge's value. Errors (invalid_argument) name what is wrong: "unknown merge \"foo\"
// (concat, object, sum, min, max, avg, topk, count, or an http:// URL)", "topk needs
// FIELD:K", "topk's K must be from 1 to 100000", "sum needs a field", "empty @PATH", ...
[[nodiscard]] Result<MergeSpec> parse_merge(std::string_view text);

// One request's merge. Not thread-safe (one request is one thread's).
class Merger {
 public:
  // `shards`: how many shards the request went to (answers are added by index below it).
  Merger(const MergeSpec& spec, std::size_t shards);
  ~Merger();
  Merger(const Merger&) = delete;
  Merger& operator=(const Merger&) = delete;

  // After a split (split.hpp), for concat: the positions in the client's array of the elements
  // shard `shard` was sent. An answer array of exactly that length is put back at those
  // positions, so the result keeps the request's order; an answer of any other length is
  // appended after them, in shard order. Call before that shard's add().
  void set_positions(std::size_t shard, std::vector<std::uint32_t> positions);

  // Folds in shard `shard`'s answer (each shard at most once). Fails (invalid_argument), leaving
  // the merge as it was, when the answer does not have the shape the merge needs; the message
  // says where: "expected an array at hits, not an object", "element 3: no numeric field score",
  // "field count is not a number". The caller counts that shard as failed.
  [[nodiscard]] Result<> add(std::size_t shard, boost::json::value answer);

  // The merged value of the answers added (an empty array, object or count when none was).
  // Call once: the answers' values are moved into it. Null for a merge container's spec.
  [[nodiscard]] boost::json::value finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The value at dotted `path` in `v` (v itself when path is empty), or null when absent.
[[nodiscard]] const boost::json::value* at_path(const boost::json::value& v, std::string_view path);

}  // namespace tender::scatter

#pragma once
// Splitting one request across the shards: a JSON array in the request's body is partitioned,
// and each shard is sent its part (in the same envelope), instead of the whole request.
//
//   auto spec = parse_split("hash:user.id@items");      // Result<SplitSpec>: --split's value
//   auto parts = split_body(*spec, body, shards);       // Result<std::vector<SplitPart>>
//   if (!parts) { reply 400 with parts.error().message(); }
//   for (shard i) { if ((*parts)[i].positions.empty()) skip; else send (*parts)[i].body; }
//
// The spec's text is KIND[@PATH]:
//   none                 every shard gets the whole request (broadcast; the default)
//   hash:FIELD           element e goes to shard jump_hash(key(e), shards): the same key always
//                        reaches the same shard while shards are only added at the end; key(e) is
//                        the element's FIELD (dotted) as a string, or a number's JSON text
//   roundrobin           element i goes to shard i mod shards
//   http://HOST:PORT/PATH  a split container (the I/O is the role's; not split_body)
// @PATH (dotted) says where the array is in the body (an object); each part then is the body
// with that array replaced by the part. Without it the body is the array.
// No I/O, no Asio.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::scatter {

struct SplitSpec {
  enum class Kind { kNone, kHash, kRoundRobin, kContainer };
  Kind kind = Kind::kNone;
  std::string field;  // kHash: the key field, dotted
  std::string path;   // @PATH, dotted; empty: the body is the array
  std::string url;    // kContainer: the split service's http:// URL

  [[nodiscard]] std::string str() const;
};

// Reads --split's value. Errors (invalid_argument) name what is wrong: "unknown split \"x\"
// (none, hash:FIELD, roundrobin, or an http:// URL)", "hash needs a field", "empty @PATH".
[[nodiscard]] Result<SplitSpec> parse_split(std::string_view text);

struct SplitPart {
  std::string body;                      // the part, serialized (the envelope around it kept)
  std::vector<std::uint32_t> positions;  // indices in the client's array; empty: nothing to send
};

// Partitions `body` into `shards` parts (spec.kind kHash or kRoundRobin; shards >= 1). Fails
// (invalid_argument) with a reason for the client's 400: "malformed JSON: <what> at offset N",
// "expected a JSON array, not an object", "expected an array at items", "element 17: no key
// field user.id", "element 17: key field user.id is an object" (keys are strings, numbers,
// booleans). At most `max_elements` elements (a 400 beyond).
[[nodiscard]] Result<std::vector<SplitPart>> split_body(const SplitSpec& spec,
                                                        std::string_view body, std::size_t shards,
                                                        std::size_t max_elements = 1'000'000);

// The 64-bit hash of a key's text that hash:FIELD feeds to jump_hash (FNV-1a, then the
// MurmurHash3 finalizer). Fixed: roots at every level, and every version, send a key to the
// same shard.
[[nodiscard]] std::uint64_t key_hash(std::string_view key);

// Lamping and Veach's jump consistent hash: a bucket in [0, buckets) for `key` (buckets >= 1).
[[nodiscard]] std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets);

}  // namespace tender::scatter

#include "scatter/split.hpp"

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/http.hpp"
#include "core/upstream/balancer.hpp"
#include "scatter/json_shape.hpp"
#include "scatter/merge.hpp"

namespace tender::scatter {

namespace json = boost::json;
using detail::bad;

namespace {

// Nesting deeper than this is refused as malformed: a client cannot make the root recurse deep.
constexpr std::size_t kMaxDepth = 64;

using detail::quote;

// The body parsed into `mr`; fails with "malformed JSON: <what> at offset N".
Result<json::value> parse_body(std::string_view body, json::monotonic_resource& mr) {
  json::parse_options opt;
  opt.max_depth = kMaxDepth;
  unsigned char temp[4096];
  json::stream_parser parser(json::storage_ptr(), opt, temp);
  parser.reset(&mr);
  boost::system::error_code ec;
  std::size_t offset = parser.write(body.data(), body.size(), ec);
  if (!ec) {
    parser.finish(ec);
    offset = body.size();
  }
  if (ec) {
    return bad("malformed JSON: " + ec.message() + " at offset " + std::to_string(offset));
  }
  return parser.release();
}

// Appends element `index`'s key text: a string as it is, a number's JSON text, true or false.
Result<> key_text(const json::value& element, std::size_t index, const std::string& field,
                  std::string& out) {
  const json::value* key = at_path(element, field);
  if (key == nullptr) {
    return bad("element " + std::to_string(index) + ": no key field " + field);
  }
  char buf[32];
  switch (key->kind()) {
    case json::kind::string:
      out.assign(key->get_string().data(), key->get_string().size());
      return {};
    case json::kind::int64:
      out.assign(buf, std::to_chars(buf, buf + sizeof buf, key->get_int64()).ptr);
      return {};
    case json::kind::uint64:
      out.assign(buf, std::to_chars(buf, buf + sizeof buf, key->get_uint64()).ptr);
      return {};
    case json::kind::double_:
      out = json::serialize(*key);
      return {};
    case json::kind::bool_:
      out = key->get_bool() ? "true" : "false";
      return {};
    default:
      return bad("element " + std::to_string(index) + ": key field " + field + " is " +
                 std::string(detail::describe(*key)) + " (keys are strings, numbers, booleans)");
  }
}

// Each element's shard, as positions per shard.
Result<> assign(const SplitSpec& spec, const json::array& arr, std::vector<SplitPart>& parts) {
  const std::size_t shards = parts.size();
  for (auto& part : parts) {
    part.positions.reserve(arr.size() / shards + 1);
  }
  std::string key;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::size_t shard = i % shards;
    if (spec.kind == SplitSpec::Kind::kHash) {
      if (auto r = key_text(arr[i], i, spec.field, key); !r) {
        return r.error();
      }
      shard = jump_hash(key_hash(key), static_cast<std::uint32_t>(shards));
    }
    parts[shard].positions.push_back(static_cast<std::uint32_t>(i));
  }
  return {};
}

}  // namespace

std::string SplitSpec::str() const {
  std::string out;
  switch (kind) {
    case Kind::kNone:
      out = "none";
      break;
    case Kind::kHash:
      out = "hash:" + field;
      break;
    case Kind::kRoundRobin:
      out = "roundrobin";
      break;
    case Kind::kContainer:
      return url;
  }
  if (!path.empty()) {
    out += "@" + path;
  }
  return out;
}

Result<SplitSpec> parse_split(std::string_view text) {
  SplitSpec spec;
  auto t = detail::spec_text(text, "split", "@items or @query.items");
  if (!t) {
    return t.error();
  }
  if (!t->url.empty()) {
    spec.kind = SplitSpec::Kind::kContainer;
    spec.url = std::move(t->url);
    return spec;
  }
  spec.path = std::move(t->path);
  auto head = t->head;
  if (head == "none") {
    spec.kind = SplitSpec::Kind::kNone;
  } else if (head == "roundrobin") {
    spec.kind = SplitSpec::Kind::kRoundRobin;
  } else if (head == "hash" || head.starts_with("hash:")) {
    auto field = head.substr(std::min(head.size(), std::string_view("hash:").size()));
    if (field.empty()) {
      return bad("hash needs a field (hash:FIELD)");
    }
    if (!detail::valid_dotted(field)) {
      return bad("hash: bad field " + quote(field));
    }
    spec.kind = SplitSpec::Kind::kHash;
    spec.field = std::string(field);
  } else {
    return bad("unknown split " + quote(head) +
               " (none, hash:FIELD, roundrobin, or an http:// URL)");
  }
  return spec;
}

Result<std::vector<SplitPart>> split_body(const SplitSpec& spec, std::string_view body,
                                          std::size_t shards, std::size_t max_elements) {
  if (spec.kind != SplitSpec::Kind::kHash && spec.kind != SplitSpec::Kind::kRoundRobin) {
    return bad("split " + quote(spec.str()) + " does not partition a body here");
  }
  if (shards == 0 || shards > std::numeric_limits<std::uint32_t>::max()) {
    return bad("cannot split across " + std::to_string(shards) + " shards");
  }
  json::monotonic_resource mr;
  auto doc = parse_body(body, mr);
  if (!doc) {
    return doc.error();
  }
  json::value* node = &*doc;
  if (spec.path.empty()) {
    if (!node->is_array()) {
      return detail::shape_error("a JSON array", "", node);
    }
  } else {
    node = detail::at_path_mut(*doc, spec.path);
    if (node == nullptr || !node->is_array()) {
      return detail::shape_error("an array", spec.path, node);
    }
  }
  // Take the array out, leaving an empty one in its place for the parts to go into.
  json::array all(std::move(node->get_array()));
  const std::size_t limit =
      std::min<std::size_t>(max_elements, std::numeric_limits<std::uint32_t>::max());
  if (all.size() > limit) {
    return bad("too many elements: " + std::to_string(all.size()) + ", at most " +
               std::to_string(limit));
  }
  std::vector<SplitPart> parts(shards);
  if (auto r = assign(spec, all, parts); !r) {
    return r.error();
  }
  for (auto& part : parts) {
    json::array& mine = node->get_array();
    mine.clear();
    mine.reserve(part.positions.size());
    for (auto i : part.positions) {
      mine.push_back(std::move(all[i]));
    }
    part.body = json::serialize(*doc);
  }
  return parts;
}

std::uint64_t key_hash(std::string_view key) {
  // FNV-1a, then MurmurHash3's 64-bit finalizer: FNV alone leaves short keys' high bits alike,
  // and jump_hash draws on the high bits.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::uint32_t jump_hash(std::uint64_t key, std::uint32_t buckets) {
  return upstream::jump_consistent_hash(key, buckets);
}

}  // namespace tender::scatter

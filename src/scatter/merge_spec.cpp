// parse_merge, MergeSpec::str and at_path: reading --merge's value (merge.cpp merges).
#include "scatter/merge.hpp"

#include <boost/json/value.hpp>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/http.hpp"
#include "scatter/json_shape.hpp"

namespace tender::scatter {

namespace json = boost::json;
using detail::bad;

namespace {

constexpr std::size_t kMaxK = 100'000;
constexpr std::string_view kKnownMerges =
    "(concat, object, sum, min, max, avg, topk, count, or an http:// URL)";

std::vector<std::string_view> split_on(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto at = text.find(sep);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return parts;
    }
    text.remove_prefix(at + 1);
  }
}

using detail::quote;

// sum:F[,F...] (and min, max, avg): the fields, each a dotted path.
Result<> parse_fields(std::string_view name, const std::vector<std::string_view>& parts,
                      MergeSpec& spec) {
  if (parts.size() < 2 || parts[1].empty()) {
    return bad(std::string(name) + " needs a field (" + std::string(name) + ":FIELD[,FIELD...])");
  }
  if (parts.size() > 2) {
    return bad(std::string(name) + " takes FIELD[,FIELD...], not " + quote(parts[1]) + " and more");
  }
  for (auto field : split_on(parts[1], ',')) {
    if (!detail::valid_dotted(field)) {
      return bad(std::string(name) + ": bad field " + quote(field) + " in " + quote(parts[1]));
    }
    spec.fields.emplace_back(field);
  }
  return {};
}

// topk:F:K[:asc].
Result<> parse_topk(const std::vector<std::string_view>& parts, MergeSpec& spec) {
  if (parts.size() < 3 || parts[1].empty() || parts[2].empty()) {
    return bad("topk needs FIELD:K (topk:FIELD:K[:asc])");
  }
  if (parts.size() > 4 || (parts.size() == 4 && parts[3] != "asc")) {
    return bad("topk takes FIELD:K[:asc], not " + quote(parts[1]) + ":...");
  }
  if (!detail::valid_dotted(parts[1])) {
    return bad("topk: bad field " + quote(parts[1]));
  }
  std::size_t k = 0;
  auto k_text = parts[2];
  auto [end, ec] = std::from_chars(k_text.data(), k_text.data() + k_text.size(), k);
  if (ec != std::errc() || end != k_text.data() + k_text.size() || k < 1 || k > kMaxK) {
    return bad("topk's K must be from 1 to " + std::to_string(kMaxK) + ", not " + quote(k_text));
  }
  spec.fields.emplace_back(parts[1]);
  spec.k = k;
  spec.ascending = parts.size() == 4;
  return {};
}

}  // namespace

std::string MergeSpec::str() const {
  if (kind == Kind::kContainer) {
    return url;
  }
  std::string out;
  switch (kind) {
    case Kind::kConcat:
      out = "concat";
      break;
    case Kind::kObject:
      out = "object";
      break;
    case Kind::kCount:
      out = "count";
      break;
    case Kind::kSum:
    case Kind::kMin:
    case Kind::kMax:
    case Kind::kAvg: {
      out = kind == Kind::kSum   ? "sum:"
            : kind == Kind::kMin ? "min:"
            : kind == Kind::kMax ? "max:"
                                 : "avg:";
      for (std::size_t i = 0; i < fields.size(); ++i) {
        out += (i == 0 ? "" : ",") + fields[i];
      }
      break;
    }
    case Kind::kTopK:
      out = "topk:" + (fields.empty() ? std::string() : fields.front()) + ":" + std::to_string(k) +
            (ascending ? ":asc" : "");
      break;
    case Kind::kContainer:
      break;
  }
  if (!path.empty()) {
    out += "@" + path;
  }
  return out;
}

Result<MergeSpec> parse_merge(std::string_view text) {
  MergeSpec spec;
  auto t = detail::spec_text(text, "merge", "@hits or @result.items");
  if (!t) {
    return t.error();
  }
  if (!t->url.empty()) {
    spec.kind = MergeSpec::Kind::kContainer;
    spec.url = std::move(t->url);
    return spec;
  }
  spec.path = std::move(t->path);
  auto head = t->head;
  auto parts = split_on(head, ':');
  auto name = parts.front();
  using Kind = MergeSpec::Kind;
  if (name == "concat" || name == "object" || name == "count") {
    if (parts.size() > 1) {
      return bad(std::string(name) + " takes no arguments, not " + quote(head));
    }
    spec.kind = name == "concat" ? Kind::kConcat : name == "object" ? Kind::kObject : Kind::kCount;
    return spec;
  }
  if (name == "sum" || name == "min" || name == "max" || name == "avg") {
    spec.kind = name == "sum"   ? Kind::kSum
                : name == "min" ? Kind::kMin
                : name == "max" ? Kind::kMax
                                : Kind::kAvg;
    if (auto r = parse_fields(name, parts, spec); !r) {
      return r.error();
    }
    return spec;
  }
  if (name == "topk") {
    spec.kind = Kind::kTopK;
    if (auto r = parse_topk(parts, spec); !r) {
      return r.error();
    }
    return spec;
  }
  return bad("unknown merge " + quote(name) + " " + std::string(kKnownMerges));
}

const json::value* at_path(const json::value& v, std::string_view path) {
  const json::value* cur = &v;
  while (!path.empty()) {
    const auto* obj = cur->if_object();
    if (obj == nullptr) {
      return nullptr;
    }
    auto dot = path.find('.');
    cur = obj->if_contains(path.substr(0, dot));
    if (cur == nullptr || dot == std::string_view::npos) {
      return cur;
    }
    path.remove_prefix(dot + 1);
  }
  return cur;
}

}  // namespace tender::scatter

#include "scatter/merge.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "scatter/json_shape.hpp"

namespace tender::scatter {

namespace json = boost::json;
using detail::bad;
using detail::shape_error;

namespace {

// `inner` at dotted `path` in new objects (inner itself when path is empty), in inner's storage
// so that it is moved, not copied.
json::value wrap_at(json::value inner, std::string_view path) {
  if (path.empty()) {
    return inner;
  }
  json::storage_ptr sp = inner.storage();
  json::value out = json::object(sp);
  json::value* cur = &out;
  for (;;) {
    auto dot = path.find('.');
    cur = &cur->get_object()[path.substr(0, dot)];
    if (dot == std::string_view::npos) {
      break;
    }
    *cur = json::object(sp);
    path.remove_prefix(dot + 1);
  }
  *cur = std::move(inner);
  return out;
}

// Sets `v` at dotted `path` in `obj`, creating the objects on the way. A path through a value
// that is not an object (two fields "a" and "a.b") leaves the first one.
void set_at(json::object& obj, std::string_view path, json::value v) {
  json::object* cur = &obj;
  for (;;) {
    auto dot = path.find('.');
    auto name = path.substr(0, dot);
    if (dot == std::string_view::npos) {
      cur->emplace(name, std::move(v));
      return;
    }
    json::value& next = (*cur)[name];
    if (next.is_null()) {
      next = json::object(obj.storage());
    }
    cur = next.if_object();
    if (cur == nullptr) {
      return;
    }
    path.remove_prefix(dot + 1);
  }
}

// Merges `src` into `dst`: keys only in src are moved over; keys in both whose values are both
// objects are merged again; otherwise dst's value stays. Iterative, so any depth is safe.
void deep_merge(json::object& dst, json::object& src) {
  std::vector<std::pair<json::object*, json::object*>> todo{{&dst, &src}};
  while (!todo.empty()) {
    auto [d, s] = todo.back();
    todo.pop_back();
    // Inserting may move d's values: first insert, then take pointers to d's nested objects.
    for (auto& kv : *s) {
      if (!d->contains(kv.key())) {
        d->emplace(kv.key(), std::move(kv.value()));
      }
    }
    for (auto& kv : *s) {
      auto* sub = kv.value().if_object();
      if (sub == nullptr) {
        continue;
      }
      auto* mine = d->if_contains(kv.key());
      if (mine != nullptr && mine->is_object()) {
        todo.emplace_back(&mine->get_object(), sub);
      }
    }
  }
}

double to_double(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    default:
      return v.get_double();
  }
}

// <0, 0 or >0 as number a is less than, equal to or greater than number b; exact for integers.
int compare_numbers(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    double x = to_double(a);
    double y = to_double(b);
    return (x > y) - (x < y);
  }
  if (a.is_int64() && a.get_int64() < 0) {
    return b.is_int64() ? (a.get_int64() > b.get_int64()) - (a.get_int64() < b.get_int64()) : -1;
  }
  if (b.is_int64() && b.get_int64() < 0) {
    return 1;
  }
  auto x = a.to_number<std::uint64_t>();
  auto y = b.to_number<std::uint64_t>();
  return (x > y) - (x < y);
}

// The number at dotted `field` of `obj`; fails naming the field.
Result<const json::value*> number_field(const json::value& obj, std::string_view field) {
  const auto* v = at_path(obj, field);
  if (v == nullptr) {
    return bad("no numeric field " + std::string(field));
  }
  if (!v->is_number()) {
    return bad("field " + std::string(field) + " is not a number");
  }
  return v;
}

// One field's running sum / min / max / mean.
struct Total {
  bool exact = true;  // integers only so far, and the sum fits an int64
  std::int64_t isum = 0;
  double dsum = 0;
  json::value best;  // min / max so far (null: none), in the default storage

  void add(MergeSpec::Kind kind, const json::value& v) {
    dsum += to_double(v);
    if (exact) {
      std::int64_t i = 0;
      if (v.is_int64()) {
        i = v.get_int64();
      } else if (v.is_uint64() && v.get_uint64() <= std::numeric_limits<std::int64_t>::max()) {
        i = static_cast<std::int64_t>(v.get_uint64());
      } else {
        exact = false;
      }
      if (exact && __builtin_add_overflow(isum, i, &isum)) {
        exact = false;
      }
    }
    if (best.is_null() || (kind == MergeSpec::Kind::kMin && compare_numbers(v, best) < 0) ||
        (kind == MergeSpec::Kind::kMax && compare_numbers(v, best) > 0)) {
      best = json::value(v, json::storage_ptr());
    }
  }
};

// A top-k candidate; its value sits in Merger::Impl::pool, so that the heap moves only this.
struct Hit {
  double key;
  std::uint32_t shard;
  std::uint32_t index;  // in its shard's answer
  std::uint32_t slot;   // in pool
};

}  // namespace

struct Merger::Impl {
  MergeSpec spec;
  std::size_t shards;
  std::vector<char> added;
  // concat, object: each shard's array or object, taken out of its answer.
  std::vector<std::optional<json::value>> parts;
  std::vector<std::vector<std::uint32_t>> positions;  // concat after a split; empty: none set
  // topk: a heap of at most k hits, the worst on top; their values in pool.
  std::vector<Hit> heap;
  std::vector<std::optional<json::value>> pool;
  std::vector<double> keys;  // scratch: one answer's keys
  // sum, min, max, avg: one per field.
  std::vector<Total> totals;
  std::vector<const json::value*> found;  // scratch: one answer's numbers
  std::uint64_t count = 0;
  std::size_t answered = 0;

  Impl(const MergeSpec& s, std::size_t n) : spec(s), shards(n), added(n, 0) {}

  // True when hit a ranks before hit b: a better key, then a lower shard, then earlier.
  [[nodiscard]] bool better(const Hit& a, const Hit& b) const {
    if (a.key != b.key) {
      return spec.ascending ? a.key < b.key : a.key > b.key;
    }
    if (a.shard != b.shard) {
      return a.shard < b.shard;
    }
    return a.index < b.index;
  }

  Result<> take_part(std::size_t shard, json::value* node, bool array);
  Result<> add_topk(std::size_t shard, json::value* node);
  Result<> add_totals(json::value* node);
  Result<> add_count(json::value* node);
  json::value finish_concat();
  json::value finish_object();
  json::value finish_topk();
  json::value finish_totals();
  json::value merged();  // finish() without the @PATH envelope
};

Result<> Merger::Impl::take_part(std::size_t shard, json::value* node, bool array) {
  if (node == nullptr || (array ? !node->is_array() : !node->is_object())) {
    return shape_error(array ? "an array" : "an object", spec.path, node);
  }
  if (parts.empty()) {
    parts.resize(shards);
  }
  parts[shard].emplace(std::move(*node));
  return {};
}

Result<> Merger::Impl::add_topk(std::size_t shard, json::value* node) {
  if (node == nullptr || !node->is_array()) {
    return shape_error("an array", spec.path, node);
  }
  if (spec.k == 0 || spec.fields.empty()) {  // a spec made by hand, not by parse_merge
    return bad("topk needs FIELD:K");
  }
  auto& arr = node->get_array();
  const std::string& field = spec.fields.front();
  keys.clear();
  keys.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_object()) {
      return bad("element " + std::to_string(i) + ": expected an object, not " +
                 std::string(detail::describe(arr[i])));
    }
    auto num = number_field(arr[i], field);
    if (!num) {
      return num.error().with_context("element " + std::to_string(i));
    }
    keys.push_back(to_double(**num));
  }
  auto worse = [this](const Hit& a, const Hit& b) { return better(a, b); };  // worst on top
  for (std::size_t i = 0; i < arr.size(); ++i) {
    Hit hit{keys[i], static_cast<std::uint32_t>(shard), static_cast<std::uint32_t>(i), 0};
    if (heap.size() < spec.k) {
      hit.slot = static_cast<std::uint32_t>(pool.size());
      pool.emplace_back(std::move(arr[i]));
      heap.push_back(hit);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (better(hit, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      hit.slot = heap.back().slot;
      pool[hit.slot].emplace(std::move(arr[i]));  // a new value in place: never a copy
      heap.back() = hit;
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  return {};
}

Result<> Merger::Impl::add_totals(json::value* node) {
  if (node == nullptr || !node->is_object()) {
    return shape_error("an object", spec.path, node);
  }
  found.clear();
  for (const auto& field : spec.fields) {
    auto num = number_field(*node, field);
    if (!num) {
      return num.error();
    }
    found.push_back(*num);
  }
  if (totals.empty()) {
    totals.resize(spec.fields.size());
  }
  for (std::size_t i = 0; i < found.size(); ++i) {
    totals[i].add(spec.kind, *found[i]);
  }
  return {};
}

Result<> Merger::Impl::add_count(json::value* node) {
  constexpr std::string_view kWant = "an array or a {\"count\": N} object";
  if (node == nullptr) {
    return shape_error(kWant, spec.path, node);
  }
  std::uint64_t n = 0;
  if (const auto* arr = node->if_array()) {
    n = arr->size();
  } else if (node->is_object()) {
    auto num = number_field(*node, "count");
    if (!num) {
      return num.error();
    }
    const json::value& c = **num;
    bool ok = c.is_uint64() || (c.is_int64() && c.get_int64() >= 0) ||
              (c.is_double() && c.get_double() >= 0 && c.get_double() < 0x1p64 &&
               c.get_double() == static_cast<double>(static_cast<std::uint64_t>(c.get_double())));
    if (!ok) {
      return bad("field count is not a whole number from 0");
    }
    n = c.is_double() ? static_cast<std::uint64_t>(c.get_double()) : c.to_number<std::uint64_t>();
  } else {
    return shape_error(kWant, spec.path, node);
  }
  count = n > std::numeric_limits<std::uint64_t>::max() - count
              ? std::numeric_limits<std::uint64_t>::max()
              : count + n;
  return {};
}

json::value Merger::Impl::finish_concat() {
  // In the storage of the first answer: elements of answers parsed alike are moved, not copied.
  std::optional<json::storage_ptr> sp;
  std::size_t total = 0;
  auto in_place = [this](std::size_t s) {
    return s < positions.size() && !positions[s].empty() &&
           positions[s].size() == parts[s]->get_array().size();
  };
  // The answers put back in place, merged by position (each shard's positions ascend).
  struct Cursor {
    std::uint32_t position;
    std::uint32_t shard;
    std::size_t index;
  };
  std::vector<Cursor> cursors;
  for (std::size_t s = 0; s < parts.size(); ++s) {
    if (!parts[s]) {
      continue;
    }
    if (!sp) {
      sp = parts[s]->storage();
    }
    total += parts[s]->get_array().size();
    if (in_place(s)) {
      cursors.push_back({positions[s][0], static_cast<std::uint32_t>(s), 0});
    }
  }
  json::array out(sp ? *sp : json::storage_ptr());
  out.reserve(total);
  auto later = [](const Cursor& a, const Cursor& b) {
    return a.position != b.position ? a.position > b.position : a.shard > b.shard;
  };
  std::make_heap(cursors.begin(), cursors.end(), later);
  while (!cursors.empty()) {
    std::pop_heap(cursors.begin(), cursors.end(), later);
    Cursor& c = cursors.back();
    out.push_back(std::move(parts[c.shard]->get_array()[c.index]));
    if (++c.index == positions[c.shard].size()) {
      cursors.pop_back();
    } else {
      c.position = positions[c.shard][c.index];
      std::push_heap(cursors.begin(), cursors.end(), later);
    }
  }
  // Then the others, in shard order.
  for (std::size_t s = 0; s < parts.size(); ++s) {
    if (parts[s] && !in_place(s)) {
      for (auto& v : parts[s]->get_array()) {
        out.push_back(std::move(v));
      }
    }
  }
  return out;
}

json::value Merger::Impl::finish_object() {
  json::value* base = nullptr;
  for (auto& part : parts) {
    if (!part) {
      continue;
    }
    if (base == nullptr) {
      base = &*part;
    } else {
      deep_merge(base->get_object(), part->get_object());
    }
  }
  return base == nullptr ? json::value(json::object()) : json::value(std::move(*base));
}

json::value Merger::Impl::finish_topk() {
  std::sort_heap(heap.begin(), heap.end(),
                 [this](const Hit& a, const Hit& b) { return better(a, b); });
  json::array out(heap.empty() ? json::storage_ptr() : pool[heap.front().slot]->storage());
  out.reserve(heap.size());
  for (const auto& hit : heap) {
    out.push_back(std::move(*pool[hit.slot]));
  }
  return out;
}

json::value Merger::Impl::finish_totals() {
  json::object out;
  for (std::size_t i = 0; i < totals.size(); ++i) {
    const Total& t = totals[i];
    json::value v;
    switch (spec.kind) {
      case MergeSpec::Kind::kSum:
        v = t.exact ? json::value(t.isum) : json::value(t.dsum);
        break;
      case MergeSpec::Kind::kAvg:
        v = t.dsum / static_cast<double>(answered);
        break;
      default:
        v = t.best;
        break;
    }
    set_at(out, spec.fields[i], std::move(v));
  }
  return out;
}

Merger::Merger(const MergeSpec& spec, std::size_t shards)
    : impl_(std::make_unique<Impl>(spec, shards)) {}

Merger::~Merger() = default;

void Merger::set_positions(std::size_t shard, std::vector<std::uint32_t> positions) {
  auto& s = *impl_;
  if (shard >= s.shards) {
    return;
  }
  if (s.positions.empty()) {
    s.positions.resize(s.shards);
  }
  s.positions[shard] = std::move(positions);
}

Result<> Merger::add(std::size_t shard, json::value answer) {
  auto& s = *impl_;
  if (shard >= s.shards) {
    return bad("shard " + std::to_string(shard) + " is out of range (" + std::to_string(s.shards) +
               " shards)");
  }
  if (s.added[shard] != 0) {
    return bad("shard " + std::to_string(shard) + " has answered already");
  }
  json::value* node = detail::at_path_mut(answer, s.spec.path);
  Result<> r;
  switch (s.spec.kind) {
    case MergeSpec::Kind::kConcat:
      r = s.take_part(shard, node, true);
      break;
    case MergeSpec::Kind::kObject:
      r = s.take_part(shard, node, false);
      break;
    case MergeSpec::Kind::kSum:
    case MergeSpec::Kind::kMin:
    case MergeSpec::Kind::kMax:
    case MergeSpec::Kind::kAvg:
      r = s.add_totals(node);
      break;
    case MergeSpec::Kind::kTopK:
      r = s.add_topk(shard, node);
      break;
    case MergeSpec::Kind::kCount:
      r = s.add_count(node);
      break;
    case MergeSpec::Kind::kContainer:
      return Error(std::errc::operation_not_supported,
                   "a merge container merges over HTTP, not in a Merger");
  }
  if (r) {
    s.added[shard] = 1;
    ++s.answered;
  }
  return r;
}

json::value Merger::Impl::merged() {
  switch (spec.kind) {
    case MergeSpec::Kind::kConcat:
      return finish_concat();
    case MergeSpec::Kind::kObject:
      return finish_object();
    case MergeSpec::Kind::kSum:
    case MergeSpec::Kind::kMin:
    case MergeSpec::Kind::kMax:
    case MergeSpec::Kind::kAvg:
      return finish_totals();
    case MergeSpec::Kind::kTopK:
      return finish_topk();
    case MergeSpec::Kind::kCount: {
      json::object out;
      if (count <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        out.emplace("count", static_cast<std::int64_t>(count));
      } else {
        out.emplace("count", count);
      }
      return out;
    }
    case MergeSpec::Kind::kContainer:
      break;
  }
  return nullptr;
}

json::value Merger::finish() {
  if (impl_->spec.kind == MergeSpec::Kind::kContainer) {
    return nullptr;
  }
  return wrap_at(impl_->merged(), impl_->spec.path);
}

}  // namespace tender::scatter

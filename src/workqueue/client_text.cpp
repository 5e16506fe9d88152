#include "workqueue/client_text.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "core/json_text.hpp"
#include "core/units.hpp"
#include "workqueue/codec.hpp"

namespace tender::workqueue {
namespace {

namespace json = boost::json;

std::string age_text(std::optional<std::int64_t> ms) {
  if (!ms) {
    return "-";
  }
  const std::int64_t v = std::max<std::int64_t>(*ms, 0);
  if (v >= 1000 && v < 60'000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(v) / 1000);
    return buf;
  }
  // Past a minute, whole seconds: "2m5s".
  return format_duration(std::chrono::milliseconds(v < 60'000 ? v : v / 1000 * 1000));
}

std::string number_text(const json::value& v) {
  if (v.is_int64()) {
    return std::to_string(v.as_int64());
  }
  if (v.is_uint64()) {
    return std::to_string(v.as_uint64());
  }
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v.as_double());
    return buf;
  }
  if (v.is_bool()) {
    return v.as_bool() ? "yes" : "no";
  }
  if (v.is_string()) {
    return std::string(v.as_string());
  }
  return json::serialize(v);
}

// A setting's value as people read it: durations and sizes in units.
std::string setting_text(std::string_view key, const json::value& v) {
  if (v.is_number()) {
    const auto n = static_cast<std::int64_t>(v.to_number<double>());
    if (key.ends_with("_ms")) {
      return format_duration(std::chrono::milliseconds(n));
    }
    if (key.ends_with("_bytes") && n >= 0) {
      return format_bytes(static_cast<std::uint64_t>(n));
    }
  }
  return number_text(v);
}

std::string strip_unit(std::string_view key) {
  for (std::string_view suffix : {"_ms", "_bytes"}) {
    if (key.ends_with(suffix)) {
      return std::string(key.substr(0, key.size() - suffix.size()));
    }
  }
  return std::string(key);
}

}  // namespace

bool BatchBuilder::add(std::string_view payload) {
  std::string element;
  const bool utf8 = valid_utf8(payload);
  const bool object = !utf8 || options_.priority || options_.delay_ms || options_.max_attempts;
  if (!object) {
    append_json_string(element, payload);
  } else {
    element = utf8 ? "{\"payload\":" : "{\"payload_base64\":";
    append_json_string(element, utf8 ? std::string(payload) : base64_encode(payload));
    if (options_.priority) {
      element += ",\"priority\":" + std::to_string(*options_.priority);
    }
    if (options_.delay_ms) {
      element += ",\"delay_ms\":" + std::to_string(*options_.delay_ms);
    }
    if (options_.max_attempts) {
      element += ",\"max_attempts\":" + std::to_string(*options_.max_attempts);
    }
    element += "}";
  }
  if (items_ > 0 &&
      (items_ >= options_.max_items || body_.size() + element.size() + 2 > options_.max_bytes)) {
    return false;
  }
  body_ += items_ == 0 ? "[" : ",";
  body_ += element;
  ++items_;
  return true;
}

std::string BatchBuilder::take() {
  std::string out = items_ == 0 ? "[]" : std::move(body_) + "]";
  body_.clear();
  items_ = 0;
  return out;
}

void split_lines(std::string& pending, std::string_view chunk, bool last,
                 std::vector<std::string>& out) {
  pending.append(chunk);
  std::size_t start = 0;
  auto emit = [&out](std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      out.emplace_back(line);
    }
  };
  for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    emit(std::string_view(pending).substr(start, nl - start));
  }
  pending.erase(0, start);
  if (last) {
    emit(pending);
    pending.clear();
  }
}

std::string format_queues_table(const std::vector<QueueSummary>& queues) {
  if (queues.empty()) {
    return "no queues\n";
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"QUEUE", "READY", "DELAYED", "LEASED", "DONE", "DEAD", "OLDEST", "PAUSED"});
  for (const auto& q : queues) {
    rows.push_back({q.name, std::to_string(q.ready), std::to_string(q.delayed),
                    std::to_string(q.leased), std::to_string(q.done), std::to_string(q.dead),
                    age_text(q.ready > 0 ? q.oldest_ready_age_ms : std::nullopt),
                    q.paused ? "yes" : "no"});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i > 0) {
        line += "  ";
      }
      const std::string pad(width[i] - r[i].size(), ' ');
      // The name and the paused flag to the left, numbers to the right.
      line += (i == 0 || i + 1 == r.size()) ? r[i] + pad : pad + r[i];
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  }
  return out;
}

std::string format_queue_detail(const json::value& queue) {
  std::vector<std::pair<std::string, std::string>> rows;
  const json::object* o = queue.if_object();
  if (o == nullptr) {
    return json::serialize(queue) + "\n";
  }
  if (const auto* v = o->if_contains("name")) {
    rows.emplace_back("queue", number_text(*v));
  }
  if (const auto* v = o->if_contains("paused")) {
    rows.emplace_back("paused", number_text(*v));
  }
  if (const auto* c = o->if_contains("counts"); c != nullptr && c->is_object()) {
    for (const char* k : {"ready", "delayed", "leased", "done", "dead"}) {
      if (const auto* v = c->as_object().if_contains(k)) {
        rows.emplace_back(k, number_text(*v));
      }
    }
  }
  const json::value* ready = nullptr;
  if (const auto* c = o->if_contains("counts"); c != nullptr && c->is_object()) {
    ready = c->as_object().if_contains("ready");
  }
  const bool none_ready = ready != nullptr && ready->is_number() && ready->to_number<double>() == 0;
  if (const auto* v = o->if_contains("oldest_ready_age_ms");
      v != nullptr && v->is_number() && !none_ready) {
    rows.emplace_back("oldest ready", age_text(static_cast<std::int64_t>(v->to_number<double>())));
  }
  if (const auto* r = o->if_contains("rates"); r != nullptr && r->is_object()) {
    std::string text;
    for (const auto& kv : r->as_object()) {
      text += (text.empty() ? "" : "  ") + std::string(kv.key()) + " " + number_text(kv.value());
    }
    rows.emplace_back("rates (/s)", text);
  }
  if (const auto* s = o->if_contains("settings"); s != nullptr && s->is_object()) {
    for (const auto& kv : s->as_object()) {
      rows.emplace_back(strip_unit(kv.key()), setting_text(kv.key(), kv.value()));
    }
  }
  std::size_t width = 0;
  for (const auto& [k, v] : rows) {
    width = std::max(width, k.size());
  }
  std::string out;
  for (const auto& [k, v] : rows) {
    out.append(k).append(width - k.size() + 2, ' ').append(v).append("\n");
  }
  return out;
}

}  // namespace tender::workqueue

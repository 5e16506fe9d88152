// How records look on the wire: raw lines, JSON lines, and Loki push requests (no I/O).
//
// JSON is written by hand into the caller's string: this is tail's hot path, and building a
// boost::json value per record would cost more than the rest of the work. Every string goes
// through append_json_string_utf8(), which also makes any bytes valid UTF-8, so the output is valid
// JSON whatever the files held.
#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json_text.hpp"
#include "sidecar/sink.hpp"

namespace tender::sidecar {
namespace {

namespace json = boost::json;

// `m` as a JSON object of strings.
void append_string_map(std::string& out, const std::map<std::string, std::string>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) {
      out.push_back(',');
    }
    first = false;
    append_json_string_utf8(out, k);
    out.push_back(':');
    append_json_string_utf8(out, v);
  }
  out.push_back('}');
}

template <typename Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// `n` as exactly `width` decimal digits at `at` (n < 10^width).
void put_digits(char* at, std::uint64_t n, int width) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
}

// RFC 3339 in UTC with nanoseconds, quoted: "2026-12-06T12:44:35.123456789Z". No locale, no
// lock (the C library's gmtime_r takes one): the civil date from days since the epoch, by
// H. Hinnant's algorithm, and only when the second changes (records come in time order).
void append_time(std::string& out, std::int64_t ns) {
  constexpr std::int64_t kNsPerSecond = 1'000'000'000;
  constexpr std::int64_t kSecondsPerDay = 86'400;
  std::int64_t secs = ns / kNsPerSecond;
  std::int64_t frac = ns % kNsPerSecond;
  if (frac < 0) {
    frac += kNsPerSecond;
    --secs;
  }
  // "\"YYYY-MM-DDTHH:MM:SS." of the last second formatted, then the nanoseconds and "Z\"".
  thread_local std::int64_t cached_secs = INT64_MIN;  // no second is that
  thread_local std::array<char, 33> text{};
  constexpr std::size_t kFrac = 21;
  if (secs != cached_secs) {
    std::int64_t days = secs / kSecondsPerDay;
    std::int64_t tod = secs % kSecondsPerDay;
    if (tod < 0) {
      tod += kSecondsPerDay;
      --days;
    }
    std::int64_t z = days + 719'468;
    std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    std::int64_t doe = z - era * 146'097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    std::int64_t mp = (5 * doy + 2) / 153;
    std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    char* t = text.data();
    std::memcpy(t, "\"0000-00-00T00:00:00.000000000Z\"", 33);
    put_digits(t + 1, static_cast<std::uint64_t>(year), 4);  // int64 ns spans 1677..2262
    put_digits(t + 6, static_cast<std::uint64_t>(month), 2);
    put_digits(t + 9, static_cast<std::uint64_t>(day), 2);
    put_digits(t + 12, static_cast<std::uint64_t>(tod / 3600), 2);
    put_digits(t + 15, static_cast<std::uint64_t>(tod / 60 % 60), 2);
    put_digits(t + 18, static_cast<std::uint64_t>(tod % 60), 2);
    cached_secs = secs;
  }
  put_digits(text.data() + kFrac, static_cast<std::uint64_t>(frac), 9);
  out.append(text.data(), text.size() - 1);  // without the NUL
}

// The top-level names of a JSON line; a parsed field of one of these names goes under "fields".
bool reserved(std::string_view name) {
  for (std::string_view r :
       {"time", "file", "key", "offset", "message", "labels", "cut", "parse_error", "fields"}) {
    if (name == r) {
      return true;
    }
  }
  return false;
}

void append_json_record(const Record& r, std::string& out) {
  static const Source none;
  const Source& src = r.source ? *r.source : none;
  // Room for the common case at once (the string grows geometrically all the same).
  out.reserve(out.size() + r.text.size() + src.path.size() + 128);
  out += "{\"time\":";
  append_time(out, r.time_ns);
  out += ",\"file\":";
  append_json_string_utf8(out, src.path);
  out += ",\"key\":";
  append_json_string_utf8(out, src.key);
  out += ",\"offset\":";
  append_int(out, r.offset);
  out += ",\"message\":";
  append_json_string_utf8(out, r.text);
  if (!src.labels.empty()) {
    out += ",\"labels\":";
    append_string_map(out, src.labels);
  }
  if (r.cut) {
    out += ",\"cut\":true";
  }
  if (!r.parse_error.empty()) {
    out += ",\"parse_error\":";
    append_json_string_utf8(out, r.parse_error);
  }
  bool clashes = false;
  for (const auto& [k, v] : r.fields) {
    if (reserved(k)) {
      clashes = true;
      continue;
    }
    out.push_back(',');
    append_json_string_utf8(out, k);
    out.push_back(':');
    append_json_value(out, v);
  }
  if (clashes) {
    out += ",\"fields\":{";
    bool first = true;
    for (const auto& [k, v] : r.fields) {
      if (!reserved(k)) {
        continue;
      }
      if (!first) {
        out.push_back(',');
      }
      first = false;
      append_json_string_utf8(out, k);
      out.push_back(':');
      append_json_value(out, v);
    }
    out.push_back('}');
  }
  out += "}\n";
}

// A label name as Loki and Prometheus accept it: [a-zA-Z_][a-zA-Z0-9_]*; any other character
// becomes '_', and a leading digit gets a '_' before it ("app.kubernetes.io/name" ->
// "app_kubernetes_io_name").
std::string label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
    out.push_back('_');
  }
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out.push_back(ok ? c : '_');
  }
  return out;
}

// The stream labels of `src`'s records as a JSON object's text: the sink's labels, then the
// input's (which win), then `filename`.
std::string stream_labels(const Source* src, const Labels& sink_labels) {
  std::map<std::string, std::string> labels;
  for (const auto& [k, v] : sink_labels) {
    labels[label_name(k)] = v;
  }
  if (src != nullptr) {
    for (const auto& [k, v] : src->labels) {
      labels[label_name(k)] = v;
    }
    labels["filename"] = src->path;
  }
  std::string out;
  append_string_map(out, labels);
  return out;
}

void append_loki_value(const Record& r, std::string& out) {
  out += "[\"";
  append_int(out, r.time_ns);
  out += "\",";
  append_json_string_utf8(out, r.text);
  out += ",{\"key\":";
  append_json_string_utf8(out, r.source ? std::string_view(r.source->key) : std::string_view());
  out += ",\"offset\":\"";
  append_int(out, r.offset);
  out.push_back('"');
  if (r.cut) {
    out += ",\"cut\":\"true\"";
  }
  if (!r.parse_error.empty()) {
    out += ",\"parse_error\":";
    append_json_string_utf8(out, r.parse_error);
  }
  out += "}]";
}

}  // namespace

void encode_record(const Record& record, RecordFormat format, std::string& out) {
  if (format == RecordFormat::kRaw) {
    out.reserve(out.size() + record.text.size() + 1);
    out += record.text;
    out.push_back('\n');
    return;
  }
  append_json_record(record, out);
}

std::string encode_loki(std::span<const Record> batch, const Labels& sink_labels) {
  struct Stream {
    std::string labels;  // the "stream" object's text
    std::vector<std::size_t> records;
  };
  std::vector<Stream> streams;
  std::unordered_map<const Source*, std::size_t> by_source;  // records of a file share labels
  std::unordered_map<std::string, std::size_t> by_labels;
  std::size_t text_bytes = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Source* src = batch[i].source.get();
    text_bytes += batch[i].text.size();
    auto known = by_source.find(src);
    if (known == by_source.end()) {
      std::string labels = stream_labels(src, sink_labels);
      auto [it, added] = by_labels.try_emplace(labels, streams.size());
      if (added) {
        streams.push_back(Stream{std::move(labels), {}});
      }
      known = by_source.emplace(src, it->second).first;
    }
    streams[known->second].records.push_back(i);
  }
  std::string out;
  out.reserve(text_bytes + batch.size() * 96 + streams.size() * 128 + 16);
  out += "{\"streams\":[";
  for (std::size_t s = 0; s < streams.size(); ++s) {
    if (s > 0) {
      out.push_back(',');
    }
    out += "{\"stream\":";
    out += streams[s].labels;
    out += ",\"values\":[";
    bool first = true;
    for (std::size_t i : streams[s].records) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      append_loki_value(batch[i], out);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace tender::sidecar

#include "adapter/statsd_parse.hpp"

#include <charconv>
#include <cmath>

namespace tender::adapter {

namespace {

// `s` as a whole finite number (a leading '+' allowed), or false.
bool parse_number(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
      return false;
    }
  }
  if (s.empty()) {
    return false;
  }
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

// Splits `s` at the first `sep`: `s` keeps what follows it, the part before is returned.
std::string_view take(std::string_view& s, char sep) {
  std::size_t p = s.find(sep);
  std::string_view head = s.substr(0, p);
  s = p == std::string_view::npos ? std::string_view() : s.substr(p + 1);
  return head;
}

// "k=v,k2=v2" (Influx, Librato) or "k:v,k2:v2" (DogStatsD); pairs without a value are skipped.
void parse_tags(std::string_view s, char kv, std::vector<StatsdTag>& out) {
  while (!s.empty()) {
    std::string_view t = take(s, ',');
    std::size_t p = t.find(kv);
    if (p == std::string_view::npos || p == 0 || p + 1 == t.size()) {
      continue;
    }
    out.push_back({t.substr(0, p), t.substr(p + 1)});
  }
}

bool parse_type(std::string_view s, StatsdType& t) {
  if (s == "c") {
    t = StatsdType::kCounter;
  } else if (s == "g") {
    t = StatsdType::kGauge;
  } else if (s == "ms") {
    t = StatsdType::kTimer;
  } else if (s == "h") {
    t = StatsdType::kHistogram;
  } else if (s == "d") {
    t = StatsdType::kDistribution;
  } else if (s == "s") {
    t = StatsdType::kSet;
  } else {
    return false;
  }
  return true;
}

// One "value|type[|@rate][|#tags]" part.
bool parse_sample(std::string_view s, StatsdLine& out) {
  StatsdSample sample;
  std::string_view value = take(s, '|');
  if (value.empty()) {
    out.error = "empty value";
    return false;
  }
  std::string_view type = take(s, '|');
  if (!parse_type(type, sample.type)) {
    out.error = type.empty() ? "no type" : "unknown type";
    return false;
  }
  while (!s.empty()) {
    std::string_view part = take(s, '|');
    if (part.size() > 1 && part.front() == '@') {
      double rate = 0;
      if (!parse_number(part.substr(1), rate) || rate <= 0 || rate > 1) {
        out.error = "bad sample rate";
        return false;
      }
      sample.rate = rate;
    } else if (!part.empty() && part.front() == '#') {
      out.dog_tags = part.substr(1);
      if (out.dog_tags.size() > kMaxStatsdTagBytes) {
        out.error = "tags longer than 2048 bytes";
        return false;
      }
      parse_tags(out.dog_tags, ':', out.tags);
    } else {
      out.error = "neither a sample rate nor tags";
      return false;
    }
  }
  if (sample.type == StatsdType::kSet) {
    sample.member = value;
  } else {
    if (sample.type == StatsdType::kGauge && (value.front() == '+' || value.front() == '-')) {
      sample.delta = true;
    }
    if (!parse_number(value, sample.value)) {
      out.error = "not a finite number";
      return false;
    }
    if (sample.type == StatsdType::kCounter && sample.value < 0) {
      out.error = "negative counter";
      return false;
    }
    if (sample.type == StatsdType::kTimer) {
      sample.value /= 1000;  // statsd timers are milliseconds; Prometheus wants seconds
    }
  }
  if (sample.type == StatsdType::kGauge || sample.type == StatsdType::kSet) {
    sample.rate = 1;  // a gauge's or a set's value is not scaled
  }
  out.samples.push_back(sample);
  return true;
}

}  // namespace

StatsdKind kind_of(StatsdType t) {
  switch (t) {
    case StatsdType::kCounter:
      return StatsdKind::kCounter;
    case StatsdType::kGauge:
      return StatsdKind::kGauge;
    case StatsdType::kSet:
      return StatsdKind::kSet;
    default:
      return StatsdKind::kObserver;
  }
}

ParseOutcome parse_statsd_line(std::string_view text, StatsdLine& out) {
  out.name = {};
  out.head = {};
  out.dog_tags = {};
  out.tags.clear();
  out.samples.clear();
  out.error = "";
  if (!text.empty() && text.back() == '\r') {
    text.remove_suffix(1);
  }
  if (text.find_first_not_of(" \t") == std::string_view::npos) {
    return ParseOutcome::kEmpty;
  }
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    out.error = "no ':'";
    return ParseOutcome::kMalformed;
  }
  out.head = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  std::size_t t = out.head.find_first_of(",#");
  out.name = out.head.substr(0, t);
  if (out.name.empty()) {
    out.error = "empty name";
    return ParseOutcome::kMalformed;
  }
  if (out.head.size() > kMaxStatsdNameBytes) {
    out.error = "name and tags longer than 1024 bytes";
    return ParseOutcome::kMalformed;
  }
  if (t != std::string_view::npos) {
    parse_tags(out.head.substr(t + 1), '=', out.tags);
  }
  if (rest.find('|') == std::string_view::npos) {
    out.error = "no '|'";
    return ParseOutcome::kMalformed;
  }
  if (rest.find("|#") != std::string_view::npos) {
    // DogStatsD tags hold ':' themselves: one sample only.
    if (!parse_sample(rest, out)) {
      return ParseOutcome::kMalformed;
    }
    return ParseOutcome::kOk;
  }
  while (!rest.empty()) {
    if (!parse_sample(take(rest, ':'), out)) {
      return ParseOutcome::kMalformed;
    }
  }
  return out.samples.empty() ? ParseOutcome::kMalformed : ParseOutcome::kOk;
}

}  // namespace tender::adapter

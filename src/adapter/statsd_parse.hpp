#pragma once
// The statsd line protocol, parsed in place: no I/O, and no allocation once the vectors of a
// reused StatsdLine have grown to the largest line seen.
//
//   StatsdLine line;                                   // reuse it for every line
//   for (std::string_view l : split_lines(packet)) {   // or for_each_line(packet, ...)
//     switch (parse_statsd_line(l, line)) {
//       case ParseOutcome::kOk: ...line.name, line.tags, line.samples...; break;
//       case ParseOutcome::kMalformed: ++malformed; break;  // line.error says why
//       case ParseOutcome::kEmpty: break;                   // a blank line
//     }
//   }
//
// Forms read (what statsd_exporter reads):
//   name:value|type[|@rate][|#tag:v,tag2:v2]   types c, g (+/- on a gauge: a delta), ms, h, d, s
//   name,k=v,k2=v2:value|type                  InfluxDB tags
//   name#k=v,k2=v2:value|type                  Librato tags
//   name:1|c:2|c                               several samples of one name (not with |# tags)
// The views in a parsed line point into the text given; they live as long as it does.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tender::adapter {

enum class StatsdType : std::uint8_t {
  kCounter,       // c
  kGauge,         // g
  kTimer,         // ms (milliseconds; observed in seconds)
  kHistogram,     // h
  kDistribution,  // d
  kSet,           // s
};

// The kinds a mapping's match_metric_type names: ms, h and d are all "observer".
enum class StatsdKind : std::uint8_t { kCounter, kGauge, kObserver, kSet };
[[nodiscard]] StatsdKind kind_of(StatsdType t);

struct StatsdTag {
  std::string_view key;
  std::string_view value;
};

struct StatsdSample {
  StatsdType type = StatsdType::kCounter;
  double value = 0;         // ms already divided by 1000; unused for sets
  double rate = 1;          // the sample rate, (0, 1]
  bool delta = false;       // a gauge given as +N or -N
  std::string_view member;  // a set's member, as sent
};

struct StatsdLine {
  std::string_view head;      // the text before the first ':' (name and Influx/Librato tags)
  std::string_view name;      // without tags
  std::string_view dog_tags;  // the text after "|#" (DogStatsD tags), as sent; may be empty
  std::vector<StatsdTag> tags;
  std::vector<StatsdSample> samples;
  const char* error = "";  // why the last line was malformed (a static string)
};

// The longest name (with Influx/Librato tags) a line may have.
inline constexpr std::size_t kMaxStatsdNameBytes = 1024;
// The longest DogStatsD tag part (after "|#") a line may have.
inline constexpr std::size_t kMaxStatsdTagBytes = 2048;

enum class ParseOutcome { kOk, kMalformed, kEmpty };

// Parses one line (without its '\n'; a trailing '\r' is ignored). kMalformed for: no ':', no
// '|', an empty name, a value that is not a finite number (or a negative counter), an unknown
// type, a name (with its Influx/Librato tags) over kMaxStatsdNameBytes, DogStatsD tags over
// kMaxStatsdTagBytes, a rate outside (0, 1] or
// not a number, a datagram part that is none of @rate / #tags. Tags without a value (|#flag) are
// skipped, as statsd_exporter does. Never throws.
[[nodiscard]] ParseOutcome parse_statsd_line(std::string_view text, StatsdLine& out);

// Calls `f(line)` for each '\n'-separated line of `packet` (the last may lack its '\n').
template <typename F>
void for_each_line(std::string_view packet, F&& f) {
  while (!packet.empty()) {
    std::size_t nl = packet.find('\n');
    if (nl == std::string_view::npos) {
      f(packet);
      return;
    }
    f(packet.substr(0, nl));
    packet.remove_prefix(nl + 1);
  }
}

}  // namespace tender::adapter

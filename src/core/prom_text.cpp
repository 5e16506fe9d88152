#include "core/prom_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <set>

namespace tender {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool metric_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// [a-zA-Z_][a-zA-Z0-9_]*: no colon, unlike a metric name.
bool label_name_char(char c, bool first) { return c != ':' && metric_name_char(c, first); }

bool blank(char c) { return c == ' ' || c == '\t'; }

Error bad(std::string why) { return Error(std::errc::bad_message, std::move(why)); }

// Reads one line's tokens.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  [[nodiscard]] bool done() const { return i >= s.size(); }
  [[nodiscard]] char peek() const { return done() ? '\0' : s[i]; }
  void skip_blanks() {
    while (!done() && blank(s[i])) {
      ++i;
    }
  }
  // The longest run of characters `ok(c, first)` accepts.
  template <class Ok>
  std::string_view take(Ok ok) {
    const std::size_t start = i;
    while (!done() && ok(s[i], i == start)) {
      ++i;
    }
    return s.substr(start, i - start);
  }
  std::string_view take_token() {
    return take([](char c, bool) { return !blank(c); });
  }
};

bool is_metric_name(std::string_view name) {
  Cursor c{name};
  return !name.empty() && c.take(metric_name_char).size() == name.size();
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A value as Go's strconv.ParseFloat reads it (what Prometheus uses): a decimal float,
// optionally signed, or Inf, Infinity and NaN in any case.
bool is_float(std::string_view v) {
  if (!v.empty() && v.front() == '+') {
    v.remove_prefix(1);
    if (!v.empty() && v.front() == '-') {
      return false;
    }
  }
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  return !v.empty() && ec == std::errc() && end == v.data() + v.size();
}

bool is_int64(std::string_view v) {
  if (!v.empty() && v.front() == '+') {
    v.remove_prefix(1);
  }
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return !v.empty() && ec == std::errc() && end == v.data() + v.size();
}

// A quoted label value, the cursor on its opening quote; returns it as written (escaped).
// Only \\, \" and \n are escapes.
Result<std::string_view> take_label_value(Cursor& c) {
  const std::size_t start = ++c.i;
  while (!c.done() && c.peek() != '"') {
    if (c.peek() == '\\') {
      ++c.i;
      if (c.peek() != '\\' && c.peek() != '"' && c.peek() != 'n') {
        return bad(c.done() ? "unterminated label value" : "invalid escape in label value");
      }
    }
    ++c.i;
  }
  if (c.done()) {
    return bad("unterminated label value");
  }
  return c.s.substr(start, c.i++ - start);
}

// The end of a sample line, the cursor past its name and labels: a value and an optional
// timestamp (empty when there is none), checked; nothing may follow.
struct ValueAndTimestamp {
  std::string_view value;
  std::string_view timestamp;
};
Result<ValueAndTimestamp> take_value_and_timestamp(Cursor& c) {
  c.skip_blanks();
  ValueAndTimestamp out{c.take_token(), {}};
  if (out.value.empty()) {
    return bad("missing value");
  }
  if (!is_float(out.value)) {
    return bad("value \"" + std::string(out.value) + "\" is not a number");
  }
  c.skip_blanks();
  if (c.done()) {
    return out;
  }
  out.timestamp = c.take_token();
  if (!is_int64(out.timestamp)) {
    return bad("timestamp \"" + std::string(out.timestamp) + "\" is not an integer");
  }
  c.skip_blanks();
  if (!c.done()) {
    return bad("unexpected text after the timestamp");
  }
  return out;
}

// The label list, the cursor on its '{': calls `f(key, value)` (the value as escaped in the
// text) for each label, and leaves the cursor past the '}'. Fails on what the format does not
// allow, or with what `f` returns.
template <typename F>
Result<> for_each_label(Cursor& c, F&& f) {
  ++c.i;
  for (;;) {
    c.skip_blanks();
    if (c.peek() == '}') {
      ++c.i;
      return {};
    }
    const std::string_view key = c.take(label_name_char);
    c.skip_blanks();
    if (key.empty() || c.peek() != '=') {
      return bad("malformed label");
    }
    ++c.i;
    c.skip_blanks();
    if (c.peek() != '"') {
      return bad("malformed label");
    }
    auto value = take_label_value(c);
    if (!value) {
      return value.error();
    }
    if (Result<> r = f(key, *value); !r) {
      return r;
    }
    c.skip_blanks();
    if (c.peek() == ',') {
      ++c.i;
    } else if (c.peek() != '}') {
      return bad("expected , or } after a label");
    }
  }
}

// The label list, the cursor on its '{'; appends each label to `sample` (after `first` says
// whether one came before), renaming those `labels` also names.
Result<> take_labels(Cursor& c, const Labels& labels, std::string& sample, bool& first) {
  std::vector<std::string_view> seen;
  return for_each_label(c, [&](std::string_view key, std::string_view value) -> Result<> {
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return bad("label " + std::string(key) + " given twice");
    }
    seen.push_back(key);
    const bool clashes =
        std::any_of(labels.begin(), labels.end(), [&](const auto& l) { return l.first == key; });
    sample += std::string(first ? "" : ",") + (clashes ? "exported_" : "") + std::string(key) +
              "=\"" + std::string(value) + "\"";
    first = false;
    return {};
  });
}

struct Sample {
  std::string_view name;
  std::string line;  // with `labels` added, value and timestamp
};

Result<Sample> parse_sample(std::string_view text, const Labels& labels) {
  Cursor c{text};
  Sample out;
  out.name = c.take(metric_name_char);
  if (out.name.empty()) {
    return bad("expected a metric name");
  }
  std::string& sample = out.line;
  sample = std::string(out.name) + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    sample += (first ? "" : ",") + k + "=\"" + escape_label_value(v) + "\"";
    first = false;
  }
  if (c.peek() == '{') {
    if (auto r = take_labels(c, labels, sample, first); !r) {
      return r.error();
    }
  } else if (!blank(c.peek())) {
    return bad("expected a value after the metric name");
  }
  if (first) {
    sample.pop_back();  // no labels at all: drop the '{'
  } else {
    sample.push_back('}');
  }
  auto end = take_value_and_timestamp(c);
  if (!end) {
    return end.error();
  }
  sample += " " + std::string(end->value);
  if (!end->timestamp.empty()) {
    sample += " " + std::string(end->timestamp);
  }
  return out;
}

std::string_view sample_name(const Sample& s) { return s.name; }
std::string sample_payload(Sample&& s) { return std::move(s.line); }
std::string_view sample_name(const PromSample& s) { return s.name; }
PromSample sample_payload(PromSample&& s) { return std::move(s); }

// A label value or HELP text as written, its escapes (already checked) resolved.
std::string unescape(std::string_view written) {
  std::string out;
  out.reserve(written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    if (written[i] == '\\' && i + 1 < written.size()) {
      ++i;
      out.push_back(written[i] == 'n' ? '\n' : written[i]);
    } else {
      out.push_back(written[i]);
    }
  }
  return out;
}

double to_double(std::string_view v) {
  if (!v.empty() && v.front() == '+') {
    v.remove_prefix(1);
  }
  double d = 0;
  (void)std::from_chars(v.data(), v.data() + v.size(), d);
  return d;
}

std::int64_t to_int64(std::string_view v) {
  if (!v.empty() && v.front() == '+') {
    v.remove_prefix(1);
  }
  std::int64_t n = 0;
  (void)std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

// One sample line taken apart (see parse_sample_line).
Result<PromSample> take_sample(std::string_view text) {
  Cursor c{text};
  PromSample out;
  out.name = std::string(c.take(metric_name_char));
  if (out.name.empty()) {
    return bad("expected a metric name");
  }
  if (c.peek() == '{') {
    Result<> labels =
        for_each_label(c, [&out](std::string_view key, std::string_view value) -> Result<> {
          if (std::any_of(out.labels.begin(), out.labels.end(),
                          [&](const auto& l) { return l.first == key; })) {
            return bad("label " + std::string(key) + " given twice");
          }
          out.labels.emplace_back(std::string(key), unescape(value));
          return {};
        });
    if (!labels) {
      return labels.error();
    }
  } else if (!blank(c.peek())) {
    return bad("expected a value after the metric name");
  }
  auto end = take_value_and_timestamp(c);
  if (!end) {
    return end.error();
  }
  out.value = to_double(end->value);
  if (!end->timestamp.empty()) {
    out.timestamp_ms = to_int64(end->timestamp);
  }
  return out;
}

// Help text as written: only \\ and \n are escapes.
bool valid_help(std::string_view help) {
  for (std::size_t i = 0; i < help.size(); ++i) {
    if (help[i] == '\\') {
      if (i + 1 == help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n')) {
        return false;
      }
      ++i;
    }
  }
  return true;
}

// The families of one exposition as they are read.
// `F` is ExternalFamily (samples kept as lines) or PromFamily (samples taken apart); `parse`
// reads one sample line into what F holds, and `unescape_help` turns HELP text as written into
// what F holds.
template <class F, class Parse, class Help>
class Reader {
 public:
  Reader(Parse parse, Help unescape_help) : parse_(parse), unescape_help_(unescape_help) {}

  // "# HELP name text", "# TYPE name type"; other comments are ignored.
  Result<> comment(std::string_view line) {
    Cursor c{line.substr(1)};
    c.skip_blanks();
    const std::string_view keyword = c.take_token();
    if (keyword != "HELP" && keyword != "TYPE") {
      return {};
    }
    c.skip_blanks();
    const std::string name(c.take_token());
    if (!is_metric_name(name)) {
      return bad("bad metric name in " + std::string(keyword) + " line");
    }
    c.skip_blanks();
    const std::string_view rest = c.s.substr(c.i);
    return keyword == "HELP" ? help(name, rest) : type(name, rest);
  }

  Result<> sample(std::string_view line) {
    auto s = parse_(line);
    if (!s) {
      return s.error();
    }
    const std::string name(sample_name(*s));
    family_of(name).samples.push_back(sample_payload(std::move(*s)));
    return {};
  }

  std::vector<F> take() && {
    // Families that were declared but have no samples are of no use.
    std::erase_if(out_, [](const F& f) { return f.samples.empty(); });
    return std::move(out_);
  }

 private:
  Result<> help(const std::string& name, std::string_view text) {
    if (!valid_help(text)) {
      return bad("invalid escape in HELP text");
    }
    if (!helped_.insert(name).second) {
      return bad("second HELP line for " + name);
    }
    auto it = index_.find(name);
    (it != index_.end() ? out_[it->second].help : pending_help_[name]) = unescape_help_(text);
    return {};
  }

  Result<> type(const std::string& name, std::string_view rest) {
    const std::string type(rest.substr(0, rest.find_first_of(" \t")));
    static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary",
                                                  "untyped"};
    if (std::find(std::begin(kTypes), std::end(kTypes), type) == std::end(kTypes)) {
      return bad("unknown metric type \"" + type + "\"");
    }
    if (index_.count(name) != 0) {
      return bad("second TYPE line for " + name + ", or TYPE after its samples");
    }
    add(name, type);
    return {};
  }

  F& add(const std::string& name, const std::string& type) {
    F f;
    f.name = name;
    f.type = type;
    if (auto it = pending_help_.find(name); it != pending_help_.end()) {
      f.help = std::move(it->second);
      pending_help_.erase(it);
    }
    index_[name] = out_.size();
    out_.push_back(std::move(f));
    return out_.back();
  }

  // The family a sample named `name` belongs to: its own, a histogram's (_bucket, _sum,
  // _count) or a summary's (_sum, _count); else a new untyped one.
  F& family_of(std::string_view name) {
    if (auto it = index_.find(std::string(name)); it != index_.end()) {
      return out_[it->second];
    }
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (!name.ends_with(suffix)) {
        continue;
      }
      auto it = index_.find(std::string(name.substr(0, name.size() - suffix.size())));
      if (it == index_.end()) {
        continue;
      }
      F& f = out_[it->second];
      if (f.type == "histogram" || (f.type == "summary" && suffix != "_bucket")) {
        return f;
      }
    }
    return add(std::string(name), "untyped");
  }

  Parse parse_;
  Help unescape_help_;
  std::vector<F> out_;
  std::map<std::string, std::size_t> index_;         // family name -> its place in out_
  std::map<std::string, std::string> pending_help_;  // HELP before the family's first line
  std::set<std::string> helped_;                     // names that had a HELP line
};

// Feeds each line of `text` to `reader`; "line N: why" on the first that is malformed.
template <class R>
Result<> read_lines(std::string_view text, R& reader) {
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    Cursor blanks{line};
    blanks.skip_blanks();
    if (blanks.done()) {
      continue;
    }
    line.remove_prefix(blanks.i);
    auto r = line.front() == '#' ? reader.comment(line) : reader.sample(line);
    if (!r) {
      return r.error().with_context("line " + std::to_string(line_no));
    }
  }
  return {};
}

}  // namespace

Result<std::vector<ExternalFamily>> parse_exposition(std::string_view text, const Labels& labels) {
  auto parse = [&labels](std::string_view line) { return parse_sample(line, labels); };
  auto help = [](std::string_view written) { return std::string(written); };
  Reader<ExternalFamily, decltype(parse), decltype(help)> reader(parse, help);
  if (auto r = read_lines(text, reader); !r) {
    return r.error();
  }
  return std::move(reader).take();
}

Result<PromSample> parse_sample_line(std::string_view line) { return take_sample(line); }

Result<std::vector<PromFamily>> parse_exposition_samples(std::string_view text) {
  auto help = [](std::string_view written) { return unescape(written); };
  Reader<PromFamily, decltype(&take_sample), decltype(help)> reader(&take_sample, help);
  if (auto r = read_lines(text, reader); !r) {
    return r.error();
  }
  return std::move(reader).take();
}

std::vector<std::string> merge_families(std::vector<ExternalFamily>& into,
                                        std::vector<ExternalFamily> more) {
  std::vector<std::string> dropped;
  for (auto& f : more) {
    auto it = std::find_if(into.begin(), into.end(),
                           [&](const ExternalFamily& e) { return e.name == f.name; });
    if (it == into.end()) {
      into.push_back(std::move(f));
    } else if (it->type == f.type) {
      it->samples.insert(it->samples.end(), std::make_move_iterator(f.samples.begin()),
                         std::make_move_iterator(f.samples.end()));
    } else {
      dropped.push_back(f.name);
    }
  }
  return dropped;
}

}  // namespace tender

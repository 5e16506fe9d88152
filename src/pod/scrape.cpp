#include "pod/scrape.hpp"

#include <algorithm>

namespace tender::pod {
namespace {

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
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

// The family a sample named `sample` belongs to, given the current TYPE line's family.
bool belongs(std::string_view sample, const ExternalFamily& f) {
  if (sample == f.name) {
    return true;
  }
  if (f.type == "histogram" || f.type == "summary") {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (sample.size() == f.name.size() + suffix.size() && sample.starts_with(f.name) &&
          sample.ends_with(suffix)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::optional<std::vector<ExternalFamily>> parse_exposition(
    std::string_view text, const std::vector<std::pair<std::string, std::string>>& labels,
    std::string& error) {
  std::vector<ExternalFamily> out;
  std::string pending_help_name;
  std::string pending_help;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    error = "line " + std::to_string(line_no) + ": " + why;
    return std::nullopt;
  };
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      continue;
    }
    if (line.front() == '#') {
      // "# HELP name text" / "# TYPE name type"; other comments are ignored.
      std::string_view rest = line.substr(1);
      while (!rest.empty() && rest.front() == ' ') {
        rest.remove_prefix(1);
      }
      bool help = rest.starts_with("HELP ");
      bool type = rest.starts_with("TYPE ");
      if (!help && !type) {
        continue;
      }
      rest.remove_prefix(5);
      auto sp = rest.find(' ');
      std::string name(rest.substr(0, sp));
      std::string value(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
      if (name.empty() || !name_char(name[0], true)) {
        return fail("bad metric name in comment");
      }
      if (help) {
        pending_help_name = name;
        pending_help = value;
      } else {
        static constexpr std::string_view kTypes[] = {"counter", "gauge", "histogram", "summary",
                                                      "untyped"};
        if (std::find(std::begin(kTypes), std::end(kTypes), value) == std::end(kTypes)) {
          return fail("unknown metric type \"" + value + "\"");
        }
        ExternalFamily f;
        f.name = name;
        f.type = value;
        if (pending_help_name == name) {
          f.help = pending_help;
        }
        out.push_back(std::move(f));
      }
      continue;
    }
    // A sample: name, optional {labels}, value, optional timestamp.
    std::size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0)) {
      ++i;
    }
    if (i == 0) {
      return fail("expected a metric name");
    }
    std::string_view name = line.substr(0, i);
    std::string sample(name);
    sample.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      sample += (first ? "" : ",") + k + "=\"" + escape_label_value(v) + "\"";
      first = false;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        while (i < line.size() && (line[i] == ' ' || line[i] == ',')) {
          ++i;
        }
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        std::size_t k0 = i;
        while (i < line.size() && name_char(line[i], i == k0)) {
          ++i;
        }
        if (i == k0 || i >= line.size() || line[i] != '=' || i + 1 >= line.size() ||
            line[i + 1] != '"') {
          return fail("malformed label");
        }
        std::string key(line.substr(k0, i - k0));
        i += 2;
        std::size_t v0 = i;
        while (i < line.size() && line[i] != '"') {
          i += line[i] == '\\' ? 2 : 1;
        }
        if (i >= line.size()) {
          return fail("unterminated label value");
        }
        std::string_view value = line.substr(v0, i - v0);
        ++i;
        for (const auto& l : labels) {
          if (l.first == key) {
            key = "exported_" + key;
            break;
          }
        }
        sample += (first ? "" : ",") + key + "=\"" + std::string(value) + "\"";
        first = false;
      }
    }
    if (first) {
      sample.pop_back();  // no labels at all: drop the '{'
    } else {
      sample.push_back('}');
    }
    std::string_view rest = line.substr(i);
    if (rest.empty() || rest.front() != ' ') {
      return fail("expected a value after the metric name");
    }
    while (!rest.empty() && rest.front() == ' ') {
      rest.remove_prefix(1);
    }
    if (rest.empty()) {
      return fail("missing value");
    }
    sample.push_back(' ');
    sample.append(rest);
    if (out.empty() || !belongs(name, out.back())) {
      ExternalFamily f;
      f.name = std::string(name);
      f.type = "untyped";
      out.push_back(std::move(f));
    }
    out.back().samples.push_back(std::move(sample));
  }
  // Families that were declared but have no samples are of no use.
  std::erase_if(out, [](const ExternalFamily& f) { return f.samples.empty(); });
  return out;
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

}  // namespace tender::pod

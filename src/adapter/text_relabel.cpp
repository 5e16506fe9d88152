#include "adapter/text_relabel.hpp"

#include <algorithm>
#include <boost/regex.hpp>
#include <cctype>
#include <map>

#include "core/ascii.hpp"

namespace tender::adapter {

namespace {

enum class Action {
  kReplace,
  kKeep,
  kDrop,
  kKeepEqual,
  kDropEqual,
  kLowercase,
  kUppercase,
  kLabelMap,
  kLabelDrop,
  kLabelKeep
};

constexpr std::pair<std::string_view, Action> kActions[] = {
    {"replace", Action::kReplace},     {"keep", Action::kKeep},
    {"drop", Action::kDrop},           {"keepequal", Action::kKeepEqual},
    {"dropequal", Action::kDropEqual}, {"lowercase", Action::kLowercase},
    {"uppercase", Action::kUppercase}, {"labelmap", Action::kLabelMap},
    {"labeldrop", Action::kLabelDrop}, {"labelkeep", Action::kLabelKeep},
};

// [a-zA-Z_][a-zA-Z0-9_]*, "__" prefixes allowed (relabelling's own names).
bool label_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front())) != 0) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

const std::string* get(const Labels& labels, std::string_view name) {
  for (const auto& [n, v] : labels) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

// Sets `name` to `value`; "" removes it.
void set(Labels& labels, const std::string& name, std::string value) {
  auto it =
      std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == name; });
  if (value.empty()) {
    if (it != labels.end()) {
      labels.erase(it);
    }
  } else if (it != labels.end()) {
    it->second = std::move(value);
  } else {
    labels.emplace_back(name, std::move(value));
  }
}

bool full_match(const boost::regex& re, const std::string& s, boost::smatch* m = nullptr) {
  try {
    boost::smatch local;
    return boost::regex_match(s, m != nullptr ? *m : local, re);
  } catch (const std::runtime_error&) {  // too complex for this input: no match
    return false;
  }
}

// `tmpl` with $1, ${1}, $name, ${name} and $$ expanded from `m`, as Go's Regexp.Expand does:
// a group that does not exist is "", a malformed reference stays as written.
std::string expand(std::string_view tmpl, const boost::smatch& m) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$' || i + 1 == tmpl.size()) {
      out.push_back(tmpl[i]);
      continue;
    }
    std::size_t j = i + 1;
    if (tmpl[j] == '$') {
      out.push_back('$');
      i = j;
      continue;
    }
    const bool braced = tmpl[j] == '{';
    if (braced) {
      ++j;
    }
    const std::size_t start = j;
    while (j < tmpl.size() &&
           (std::isalnum(static_cast<unsigned char>(tmpl[j])) != 0 || tmpl[j] == '_')) {
      ++j;
    }
    std::string name(tmpl.substr(start, j - start));
    if (name.empty() || (braced && (j >= tmpl.size() || tmpl[j] != '}'))) {
      out.push_back('$');  // malformed: as written
      continue;
    }
    i = braced ? j : j - 1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (name.size() < 6) {
        const std::size_t n = std::stoul(name);
        if (n < m.size() && m[static_cast<int>(n)].matched) {
          out += m[static_cast<int>(n)].str();
        }
      }
    } else {
      const auto& sub = m[name];
      if (sub.matched) {
        out += sub.str();
      }
    }
  }
  return out;
}

// RE2's named groups, (?P<name>...), in the spelling Boost.Regex reads: (?<name>...).
std::string boost_syntax(std::string re) {
  for (std::size_t i = 0; (i = re.find("(?P<", i)) != std::string::npos; ++i) {
    std::size_t slashes = 0;
    while (slashes < i && re[i - 1 - slashes] == '\\') {
      ++slashes;
    }
    if (slashes % 2 == 0) {
      re.erase(i + 2, 1);
    }
  }
  return re;
}

std::string cased(std::string_view s, bool upper) {
  return upper ? ascii_upper(s) : ascii_lower(s);
}

}  // namespace

struct Relabeler::Rule {
  Action action = Action::kReplace;
  std::vector<std::string> source_labels;
  std::string separator = ";";
  boost::regex regex;
  std::string target_label;
  std::string replacement = "$1";
};

Relabeler::Relabeler() : rules_(std::make_shared<const std::vector<Rule>>()) {}
Relabeler::~Relabeler() = default;
Relabeler::Relabeler(const Relabeler&) = default;
Relabeler& Relabeler::operator=(const Relabeler&) = default;
Relabeler::Relabeler(Relabeler&&) noexcept = default;
Relabeler& Relabeler::operator=(Relabeler&&) noexcept = default;

std::size_t Relabeler::size() const { return rules_->size(); }

Relabeler Relabeler::parse(const ConfigNode& list) {
  Relabeler out;
  if (!list.defined()) {
    return out;
  }
  if (!list.is_sequence()) {
    list.fail("", "relabel is a list of rules (Prometheus's metric_relabel_configs)");
  }
  auto rules = std::make_shared<std::vector<Rule>>();
  for (const auto& r : list.items()) {
    if (!r.is_map()) {
      r.fail("", "a rule is a map: source_labels, regex, target_label, replacement, action");
    }
    r.warn_unknown({"source_labels", "separator", "regex", "target_label", "replacement", "action",
                    "modulus"});
    Rule rule;
    const std::string action = r.string("action").value_or("replace");
    const auto* a = std::find_if(std::begin(kActions), std::end(kActions),
                                 [&](const auto& e) { return e.first == action; });
    if (a == std::end(kActions)) {
      r.fail("action", "not an action: \"" + action + "\"" +
                           (action == "hashmod" ? " (hashmod is not supported)" : "") +
                           " (replace, keep, drop, keepequal, dropequal, lowercase, uppercase, "
                           "labelmap, labeldrop, labelkeep)");
    }
    rule.action = a->second;
    if (auto sl = r.strings("source_labels")) {
      for (const auto& l : *sl) {
        if (!label_name(l)) {
          r.fail("source_labels", "not a label name: \"" + l + "\"");
        }
      }
      rule.source_labels = std::move(*sl);
    }
    rule.separator = r.string("separator").value_or(";");
    const std::string regex = r.string("regex").value_or("(.*)");
    try {
      rule.regex = boost::regex(boost_syntax(regex), boost::regex::perl | boost::regex::no_mod_m |
                                                         boost::regex::no_mod_s);
    } catch (const boost::regex_error& e) {
      r.fail("regex", "not a regex: \"" + regex + "\": " + e.what());
    }
    rule.replacement = r.string("replacement").value_or("$1");
    rule.target_label = r.string("target_label").value_or("");
    const bool needs_target =
        rule.action == Action::kReplace || rule.action == Action::kLowercase ||
        rule.action == Action::kUppercase || rule.action == Action::kKeepEqual ||
        rule.action == Action::kDropEqual;
    if (needs_target && rule.target_label.empty()) {
      r.fail("target_label", "action " + action + " needs a target_label");
    }
    if (!rule.target_label.empty() && !needs_target) {
      r.fail("target_label", "action " + action + " takes no target_label");
    }
    if (!rule.target_label.empty() && rule.target_label.find('$') == std::string::npos &&
        !label_name(rule.target_label)) {
      r.fail("target_label", "not a label name: \"" + rule.target_label + "\"");
    }
    const bool on_values = rule.action != Action::kLabelMap && rule.action != Action::kLabelDrop &&
                           rule.action != Action::kLabelKeep;
    if (on_values && rule.action != Action::kReplace && rule.source_labels.empty()) {
      r.fail("source_labels", "action " + action + " needs source_labels");
    }
    if (!on_values && !rule.source_labels.empty()) {
      r.fail("source_labels", "action " + action + " matches label names, not source_labels");
    }
    rules->push_back(std::move(rule));
  }
  out.rules_ = std::move(rules);
  return out;
}

bool Relabeler::apply(Labels& labels) const {
  boost::smatch m;
  for (const Rule& r : *rules_) {
    std::string value;
    for (std::size_t i = 0; i < r.source_labels.size(); ++i) {
      if (i > 0) {
        value += r.separator;
      }
      if (const std::string* v = get(labels, r.source_labels[i])) {
        value += *v;
      }
    }
    switch (r.action) {
      case Action::kDrop:
        if (full_match(r.regex, value)) {
          return false;
        }
        break;
      case Action::kKeep:
        if (!full_match(r.regex, value)) {
          return false;
        }
        break;
      case Action::kDropEqual:
      case Action::kKeepEqual: {
        const std::string* t = get(labels, r.target_label);
        const bool equal = (t != nullptr ? *t : std::string()) == value;
        if (equal == (r.action == Action::kDropEqual)) {
          return false;
        }
        break;
      }
      case Action::kReplace: {
        if (!full_match(r.regex, value, &m)) {
          break;
        }
        std::string target = expand(r.target_label, m);
        if (!label_name(target)) {
          break;
        }
        set(labels, target, expand(r.replacement, m));
        break;
      }
      case Action::kLowercase:
      case Action::kUppercase:
        set(labels, r.target_label, cased(value, r.action == Action::kUppercase));
        break;
      case Action::kLabelMap: {
        Labels add;
        for (const auto& [n, v] : labels) {
          if (full_match(r.regex, n, &m)) {
            add.emplace_back(expand(r.replacement, m), v);
          }
        }
        for (auto& [n, v] : add) {
          if (label_name(n)) {
            set(labels, n, std::move(v));
          }
        }
        break;
      }
      case Action::kLabelDrop:
      case Action::kLabelKeep: {
        const bool keep = r.action == Action::kLabelKeep;
        std::erase_if(labels, [&](const auto& l) {
          return l.first != "__name__" && full_match(r.regex, l.first) != keep;
        });
        break;
      }
    }
  }
  return true;
}

Relabelled relabel_families(const std::vector<PromFamily>& scraped, const Labels& labels,
                            const Relabeler& rules) {
  Relabelled out;
  std::map<std::pair<std::string, MetricType>, std::size_t> index;
  for (const PromFamily& pf : scraped) {
    const MetricType type = parse_type(pf.type).value_or(MetricType::kUntyped);
    for (const PromSample& s : pf.samples) {
      const std::string suffix =
          s.name.starts_with(pf.name) ? s.name.substr(pf.name.size()) : std::string();
      Labels l;
      l.reserve(labels.size() + s.labels.size() + 1);
      l = labels;
      for (const auto& [n, v] : s.labels) {
        l.emplace_back(get(labels, n) != nullptr ? "exported_" + n : n, v);
      }
      l.emplace_back("__name__", pf.name);
      if (!rules.apply(l)) {
        ++out.dropped;
        continue;
      }
      const std::string* renamed = get(l, "__name__");
      std::string name = renamed != nullptr ? *renamed : std::string();
      std::erase_if(l, [](const auto& e) { return e.first.starts_with("__") || e.second.empty(); });
      auto [it, added] = index.emplace(std::pair(name, type), out.families.size());
      if (added) {
        out.families.push_back(Family{.name = name, .type = type, .help = pf.help});
      }
      out.families[it->second].samples.push_back(Sample{.name = name + suffix,
                                                        .labels = std::move(l),
                                                        .value = s.value,
                                                        .timestamp_ms = s.timestamp_ms});
    }
  }
  return out;
}

}  // namespace tender::adapter

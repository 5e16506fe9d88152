#include "pod/image_spec.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <optional>

#include "pod/manifest_internal.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A repository path component: lowercase letters and digits, joined by one '.', one or two
// '_', or any number of '-'.
bool path_component(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  for (std::size_t i = 0; i < s.size();) {
    if (lower_alnum(s[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && !lower_alnum(s[j])) {
      ++j;
    }
    std::string_view sep = s.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) {
      return false;
    }
    i = j;
  }
  return true;
}

// host[:port]: dot-separated labels of letters, digits and inner '-', and a decimal port.
bool registry_host(std::string_view s) {
  std::string_view host = s;
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    host = s.substr(0, colon);
  }
  if (host.empty()) {
    return false;
  }
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t dot = host.find('.', start);
    std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !alnum(label.front()) || !alnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!alnum(c) && c != '-') {
        return false;
      }
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') {
    return false;
  }
  for (char c : t) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool valid_digest(std::string_view d) {
  constexpr std::string_view kAlgo = "sha256:";
  if (d.size() != kAlgo.size() + 64 || !d.starts_with(kAlgo)) {
    return false;
  }
  for (char c : d.substr(kAlgo.size())) {
    if (!lower_hex(c)) {
      return false;
    }
  }
  return true;
}

// A list of strings at `key` of `o`: absent or null is empty.
Result<std::vector<std::string>> string_list(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return out;
  }
  if (!v->is_array()) {
    return invalid_argument("image config: " + std::string(key) + " is not a list");
  }
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) {
      return invalid_argument("image config: " + std::string(key) + " holds a non-string");
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<std::string> string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return Result<std::string>(boost::system::in_place_value);
  }
  if (!v->is_string()) {
    return invalid_argument("image config: " + std::string(key) + " is not a string");
  }
  return Result<std::string>(boost::system::in_place_value, v->get_string());
}

}  // namespace

std::string ImageRef::canonical() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) {
    out += ":" + tag;
  }
  if (!digest.empty()) {
    out += "@" + digest;
  }
  return out;
}

Result<ImageRef> parse_image_ref(std::string_view text) {
  if (text.empty()) {
    return invalid_argument("an image reference is empty");
  }
  if (text.size() > kMaxImageRefBytes) {
    return invalid_argument("an image reference is longer than " +
                            std::to_string(kMaxImageRefBytes) + " bytes");
  }
  const std::string why = "image reference " + quote(text) + ": ";
  ImageRef ref;
  std::string_view name = text;
  if (auto at = name.rfind('@'); at != std::string_view::npos) {
    ref.digest = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (!valid_digest(ref.digest)) {
      return invalid_argument(why + "the digest must be sha256: and 64 lowercase hex digits");
    }
  }
  auto colon = name.rfind(':');
  auto slash = name.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!valid_tag(ref.tag)) {
      return invalid_argument(why + "a tag is 1 to 128 of A-Z a-z 0-9 _ . - (not first . or -)");
    }
  }
  if (auto first = name.find('/'); first != std::string_view::npos) {
    std::string_view head = name.substr(0, first);
    if (head.find_first_of(".:") != std::string_view::npos || head == "localhost") {
      if (!registry_host(head)) {
        return invalid_argument(why + "bad registry " + quote(head));
      }
      ref.registry = std::string(head);
      name = name.substr(first + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io") {
    ref.registry = "docker.io";
  }
  if (ref.registry == "docker.io" && name.find('/') == std::string_view::npos) {
    ref.repository = "library/";
  }
  ref.repository += std::string(name);
  std::size_t start = 0;
  std::string_view repo = name;
  for (;;) {
    std::size_t end = repo.find('/', start);
    std::string_view part = repo.substr(start, end == std::string_view::npos ? end : end - start);
    if (!path_component(part)) {
      return invalid_argument(why + "bad repository component " + quote(part) +
                              " (lowercase letters and digits, joined by . _ __ or -)");
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  if (ref.tag.empty() && ref.digest.empty()) {
    ref.tag = "latest";
  }
  return ref;
}

PullPolicy default_pull_policy(const ImageRef& ref) {
  return ref.tag == "latest" ? PullPolicy::kAlways : PullPolicy::kIfNotPresent;
}

Result<PullPolicy> parse_pull_policy(std::string_view text) {
  if (text == "Always") {
    return PullPolicy::kAlways;
  }
  if (text == "IfNotPresent") {
    return PullPolicy::kIfNotPresent;
  }
  if (text == "Never") {
    return PullPolicy::kNever;
  }
  return invalid_argument("imagePullPolicy is Always, IfNotPresent or Never, not " + quote(text));
}

Result<ImageConfig> parse_image_config(std::string_view text) {
  if (text.size() > kMaxImageConfigBytes) {
    return invalid_argument("image config: larger than " +
                            std::to_string(kMaxImageConfigBytes >> 10) + " KiB");
  }
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) {
    return invalid_argument("image config: not a JSON object" +
                            (ec ? " (" + ec.message() + ")" : std::string()));
  }
  const json::object& top = doc.get_object();
  ImageConfig out;
  auto os = string_field(top, "os");
  auto arch = string_field(top, "architecture");
  if (!os || !arch) {
    return os ? arch.error() : os.error();
  }
  out.os = *os;
  out.architecture = *arch;
  if (!out.os.empty() && out.os != "linux") {
    return invalid_argument("image config: the image is for " + out.os + ", not linux");
  }
  if (const json::value* c = top.if_contains("config"); c != nullptr && !c->is_null()) {
    if (!c->is_object()) {
      return invalid_argument("image config: config is not an object");
    }
    const json::object& cfg = c->get_object();
    auto entrypoint = string_list(cfg, "Entrypoint");
    auto cmd = string_list(cfg, "Cmd");
    auto env = string_list(cfg, "Env");
    auto dir = string_field(cfg, "WorkingDir");
    auto user = string_field(cfg, "User");
    for (const Result<std::vector<std::string>>* r : {&entrypoint, &cmd, &env}) {
      if (!*r) {
        return r->error();
      }
    }
    if (!dir || !user) {
      return dir ? user.error() : dir.error();
    }
    out.entrypoint = std::move(*entrypoint);
    out.cmd = std::move(*cmd);
    out.working_dir = std::move(*dir);
    out.user = std::move(*user);
    for (const std::string& e : *env) {
      auto eq = e.find('=');
      if (eq == std::string::npos || eq == 0) {
        return invalid_argument("image config: Env entry " + quote(e) + " is not NAME=value");
      }
      out.env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
    }
  }
  if (const json::value* r = top.if_contains("rootfs"); r != nullptr && !r->is_null()) {
    if (!r->is_object()) {
      return invalid_argument("image config: rootfs is not an object");
    }
    auto ids = string_list(r->get_object(), "diff_ids");
    if (!ids) {
      return ids.error();
    }
    for (const std::string& id : *ids) {
      if (!valid_digest(id)) {
        return invalid_argument("image config: diff_id " + quote(id) +
                                " is not sha256: and 64 lowercase hex digits");
      }
    }
    out.diff_ids = std::move(*ids);
  }
  return out;
}

std::vector<std::string> container_argv(const ImageConfig& image,
                                        const std::vector<std::string>& command,
                                        const std::vector<std::string>& args) {
  std::vector<std::string> argv = command.empty() ? image.entrypoint : command;
  if (!args.empty()) {
    argv.insert(argv.end(), args.begin(), args.end());
  } else if (command.empty()) {
    argv.insert(argv.end(), image.cmd.begin(), image.cmd.end());
  }
  return argv;
}

namespace {

// The fields of each line of a passwd or group file ("name:x:id:..."), comments and blank
// lines skipped.
std::vector<std::vector<std::string_view>> colon_records(std::string_view text) {
  std::vector<std::vector<std::string_view>> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    std::vector<std::string_view> fields;
    for (std::size_t start = 0;;) {
      std::size_t colon = line.find(':', start);
      fields.push_back(line.substr(start, colon - start));
      if (colon == std::string_view::npos) {
        break;
      }
      start = colon + 1;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

std::optional<std::uint32_t> numeric_id(std::string_view s) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

Result<ImageUser> resolve_image_user(std::string_view user, std::string_view passwd,
                                     std::string_view group) {
  ImageUser out;
  std::string_view name = user.substr(0, user.find(':'));
  std::optional<std::string_view> group_name;
  if (auto colon = user.find(':'); colon != std::string_view::npos) {
    group_name = user.substr(colon + 1);
  }
  if (name.empty() && (group_name || !user.empty())) {
    return invalid_argument("image user " + quote(std::string(user)) + ": no user before ':'");
  }
  auto users = colon_records(passwd);
  std::string_view user_name;  // for the supplementary groups
  bool found = name.empty();   // "": root
  auto numeric = numeric_id(name);
  for (const auto& f : users) {
    if (f.size() < 4) {
      continue;
    }
    bool match = numeric ? numeric_id(f[2]) == numeric : f[0] == name;
    auto uid = numeric_id(f[2]);
    auto gid = numeric_id(f[3]);
    if (match && uid && gid) {
      out.uid = *uid;
      out.gid = *gid;
      user_name = f[0];
      found = true;
      break;
    }
  }
  if (!found && !numeric) {
    return invalid_argument("image user " + quote(std::string(name)) +
                            " is not in the image's /etc/passwd");
  }
  if (!found) {
    out.uid = *numeric;  // a uid the image does not name: group 0
  }
  auto groups = colon_records(group);
  if (group_name) {
    auto gid = numeric_id(*group_name);
    for (const auto& f : groups) {
      if (!gid && f.size() >= 3 && f[0] == *group_name) {
        gid = numeric_id(f[2]);
      }
    }
    if (!gid) {
      return invalid_argument("image group " + quote(std::string(*group_name)) +
                              " is not in the image's /etc/group");
    }
    out.gid = *gid;
  }
  if (user_name.empty()) {
    return out;
  }
  for (const auto& f : groups) {
    if (f.size() < 4) {
      continue;
    }
    auto gid = numeric_id(f[2]);
    std::string_view members = f[3];
    bool listed = false;
    for (std::size_t start = 0; start <= members.size() && !listed;) {
      std::size_t comma = members.find(',', start);
      listed = members.substr(start, comma - start) == user_name;
      start = comma == std::string_view::npos ? members.size() + 1 : comma + 1;
    }
    if (listed && gid && *gid != out.gid &&
        std::find(out.groups.begin(), out.groups.end(), *gid) == out.groups.end()) {
      out.groups.push_back(*gid);
    }
  }
  return out;
}

}  // namespace tender::pod

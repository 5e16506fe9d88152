#include "sidecar/sync_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <climits>
#include <filesystem>
#include <system_error>

#include "core/cli.hpp"
#include "core/units.hpp"

namespace tender::sidecar {

namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// What `git check-ref-format` would refuse, roughly, plus anything git could take as an option.
std::string ref_problem(std::string_view ref) {
  if (ref.empty()) {
    return "an empty ref after '#'";
  }
  if (ref.front() == '-') {
    return "a ref may not start with '-'";
  }
  if (has_control(ref) || ref.find_first_of(" ~^:?*[\\") != std::string_view::npos ||
      ref.find("..") != std::string_view::npos || ref.find("@{") != std::string_view::npos) {
    return "not a valid git ref: \"" + std::string(ref) + "\"";
  }
  return "";
}

Result<SyncSource> parse_git(std::string_view text, std::string_view rest) {
  SyncSource s;
  s.kind = SourceKind::kGit;
  s.text = std::string(text);
  auto hash = rest.rfind('#');
  s.location = std::string(rest.substr(0, hash));
  s.ref = hash == std::string_view::npos ? "HEAD" : std::string(rest.substr(hash + 1));
  if (s.location.empty()) {
    return invalid_argument(
        "git: needs a repository: git:/srv/site.git#main or git:https://host/repo#main");
  }
  if (s.location.front() == '-' || has_control(s.location)) {
    return invalid_argument("git: not a repository: \"" + s.location + "\"");
  }
  if (s.location.starts_with("ext::") || s.location.starts_with("fd::")) {
    return invalid_argument("git: the ext:: and fd:: transports run commands and are refused");
  }
  if (std::string why = ref_problem(s.ref); !why.empty()) {
    return invalid_argument("git: " + why);
  }
  return s;
}

int pick_int(const std::string& flag, const ConfigNode& file, std::string_view key, int min,
             int max, int fallback) {
  if (flag.empty()) {
    return static_cast<int>(file.integer(key, min, max).value_or(fallback));
  }
  std::size_t used = 0;
  long v = 0;
  try {
    v = std::stol(flag, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != flag.size() || v < min || v > max) {
    SettingSource{file, true}.fail(key, "must be an integer from " + std::to_string(min) + " to " +
                                            std::to_string(max) + ", not \"" + flag + "\"");
  }
  return static_cast<int>(v);
}

void resolve_source(const SyncFlags& f, const ConfigNode& file, SyncConfig& c) {
  bool ff = false;
  std::string text = pick_setting(f.source, file, "source", ff);
  if (text.empty()) {
    throw UsageError(
        "--source: required (git:/srv/site.git#main, http://HOST/x.tar.gz, https://..., "
        "dir:/path)");
  }
  auto src = parse_source(text);
  if (!src) {
    SettingSource{file, ff}.fail("source", src.error().message());
  }
  c.source = std::move(*src);
  if (c.source.kind == SourceKind::kDir) {
    std::error_code ec;
    if (!fs::is_directory(c.source.location, ec)) {
      SettingSource{file, ff}.fail("source", "dir:" + c.source.location + ": not a directory");
    }
    if (::access(c.source.location.c_str(), R_OK | X_OK) != 0) {
      SettingSource{file, ff}.fail("source",
                                   "dir:" + c.source.location + ": " +
                                       std::error_code(errno, std::generic_category()).message());
    }
  }
}

void resolve_dest(const SyncFlags& f, const ConfigNode& file, SyncConfig& c) {
  bool ff = false;
  std::string dest = pick_setting(f.dest, file, "dest", ff);
  if (dest.empty()) {
    throw UsageError("--dest: required (the directory to publish into, e.g. /shared/site)");
  }
  if (dest.front() != '/') {
    std::error_code ec;
    dest = (fs::current_path(ec) / dest).string();
  }
  c.dest = fs::path(dest).lexically_normal().string();
  while (c.dest.size() > 1 && c.dest.back() == '/') {
    c.dest.pop_back();
  }
  if (c.dest == "/") {
    SettingSource{file, ff}.fail("dest", "must not be /");
  }
  if (c.source.kind == SourceKind::kDir) {
    std::string src = fs::path(c.source.location).lexically_normal().string();
    if (!src.ends_with('/')) {
      src += '/';
    }
    if ((c.dest + "/").starts_with(src)) {
      SettingSource{file, ff}.fail("dest", c.dest + " is inside the source " + c.source.location);
    }
  }
  std::string link = pick_setting(f.link, file, "link", ff);
  if (!link.empty()) {
    c.link = link;
  }
  if (c.link.empty() || c.link == "." || c.link == ".." || c.link.starts_with(".tender-sync") ||
      c.link.find('/') != std::string::npos || has_control(c.link)) {
    SettingSource{file, ff}.fail(
        "link", "must be a plain file name (not .tender-sync*), not \"" + c.link + "\"");
  }
}

void resolve_hooks(const SyncFlags& f, const ConfigNode& file, SyncConfig& c) {
  c.exec = resolve_exec_command(f.exec, f.command, file, "sync");
  bool ff = false;
  c.webhook = pick_setting(f.webhook, file, "webhook", ff);
  if (!c.webhook.empty()) {
    if (auto w = parse_http_url(c.webhook); !w) {
      SettingSource{file, ff}.fail("webhook", w.error().message());
    }
  }
  c.hook_attempts = pick_int(f.hook_attempts, file, "hook_attempts", 1, 100, c.hook_attempts);
  c.hook_timeout = pick_duration_setting(f.hook_timeout, file, "hook_timeout", c.hook_timeout, ff);
  if (c.hook_timeout < milliseconds(1) || c.hook_timeout > milliseconds(3'600'000)) {
    SettingSource{file, ff}.fail("hook_timeout", "must be from 1ms to 1h");
  }
}

}  // namespace

std::string_view kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::kGit:
      return "git";
    case SourceKind::kHttp:
      return "http";
    case SourceKind::kHttps:
      return "https";
    case SourceKind::kDir:
      return "dir";
  }
  return "?";
}

Result<SyncSource> parse_source(std::string_view text) {
  if (text.starts_with("git:")) {
    return parse_git(text, text.substr(4));
  }
  if (text.starts_with("dir:")) {
    SyncSource s;
    s.kind = SourceKind::kDir;
    s.text = std::string(text);
    s.location = std::string(text.substr(4));
    if (s.location.empty() || s.location.front() != '/' || has_control(s.location)) {
      return invalid_argument("dir: needs an absolute path: dir:/srv/site");
    }
    return s;
  }
  if (text.starts_with("http://")) {
    auto url = parse_http_url(text);
    if (!url) {
      return url.error();
    }
    SyncSource s;
    s.kind = SourceKind::kHttp;
    s.text = s.location = std::string(text);
    s.http = *url;
    return s;
  }
  if (text.starts_with("https://")) {
    if (text.size() <= 8 || text[8] == '/' || has_control(text) ||
        text.find_first_of(" \"'") != std::string_view::npos) {
      return invalid_argument("https: not a URL: \"" + std::string(text) + "\"");
    }
    SyncSource s;
    s.kind = SourceKind::kHttps;
    s.text = s.location = std::string(text);
    return s;
  }
  auto colon = text.find(':');
  std::string scheme = colon == std::string_view::npos ? "" : std::string(text.substr(0, colon));
  return invalid_argument((scheme.empty() ? "no scheme" : "unknown scheme \"" + scheme + "\"") +
                          " in \"" + std::string(text) +
                          "\": use git:REPO#REF, http://..., https://... or dir:/PATH");
}

SyncConfig resolve_sync(const SyncFlags& f, const ConfigNode& file) {
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format", "source",
                     "dest", "link", "period", "timeout", "max_failures", "max_bytes", "once",
                     "exec", "webhook", "hook_attempts", "hook_timeout"});
  SyncConfig c;
  resolve_source(f, file, c);
  resolve_dest(f, file, c);
  bool ff = false;
  c.period = pick_duration_setting(f.period, file, "period", c.period, ff);
  if (c.period < milliseconds(10) || c.period > milliseconds(86'400'000)) {
    SettingSource{file, ff}.fail("period",
                                 "must be from 10ms to 24h, not " + format_duration(c.period));
  }
  c.timeout = pick_duration_setting(f.timeout, file, "timeout", c.timeout, ff);
  if (c.timeout < milliseconds(100) || c.timeout > milliseconds(86'400'000)) {
    SettingSource{file, ff}.fail("timeout",
                                 "must be from 100ms to 24h, not " + format_duration(c.timeout));
  }
  c.max_failures = pick_int(f.max_failures, file, "max_failures", 0, INT_MAX, 0);
  if (!f.max_bytes.empty()) {
    c.max_bytes = flag_bytes("max-bytes", f.max_bytes);
  } else if (auto b = file.bytes("max_bytes")) {
    c.max_bytes = *b;
  }
  if (c.max_bytes < 1024) {
    SettingSource{file, !f.max_bytes.empty()}.fail("max_bytes", "must be at least 1KiB");
  }
  c.once = f.once || file.boolean("once").value_or(false);
  resolve_hooks(f, file, c);
  return c;
}

boost::json::object SyncConfig::to_json() const {
  boost::json::array argv;
  for (const auto& a : exec) {
    argv.emplace_back(a);
  }
  return {{"source", source.text},
          {"source_kind", kind_name(source.kind)},
          {"dest", dest},
          {"link", link},
          {"published_path", dest + "/" + link},
          {"period", format_duration(period)},
          {"timeout", format_duration(timeout)},
          {"max_failures", max_failures},
          {"max_bytes", format_bytes(max_bytes)},
          {"once", once},
          {"exec", std::move(argv)},
          {"webhook", webhook},
          {"hook_attempts", hook_attempts},
          {"hook_timeout", format_duration(hook_timeout)}};
}

}  // namespace tender::sidecar

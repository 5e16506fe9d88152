#pragma once
// `tender sync`'s configuration: flags and the --config file's keys, merged and checked.
//
//   SyncFlags flags;                                  // filled by CLI11
//   SyncConfig cfg = resolve_sync(flags, file);       // throws UsageError / ConfigError: exit 2
//   if (cfg.source.kind == SourceKind::kGit) { ... cfg.source.location, cfg.source.ref ... }
//
// A flag beats the file, which beats the default. Nothing here touches the file system but
// the checks of a dir: source (it must be a readable directory, and --dest not inside it).

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/http.hpp"

namespace tender::sidecar {

enum class SourceKind { kGit, kHttp, kHttps, kDir };

struct SyncSource {
  SourceKind kind = SourceKind::kDir;
  std::string text;      // as written
  std::string location;  // git: the repository (path or URL); http(s): the URL; dir: the path
  std::string ref;       // git only: the branch, tag or commit after '#' ("HEAD" if none)
  HttpUrl http;          // http only: the URL taken apart
};

// Parses git:REPO[#REF], http://HOST[:PORT]/PATH, https://..., dir:/PATH. Fails with
// invalid_argument and a message naming what is wrong: an unknown scheme, an empty
// repository or path, a relative dir: path, a malformed http URL, a REF git would refuse.
[[nodiscard]] Result<SyncSource> parse_source(std::string_view text);
// "git", "http", "https" or "dir".
[[nodiscard]] std::string_view kind_name(SourceKind kind);

struct SyncFlags {
  std::string source;
  std::string dest;
  std::string link;
  std::string period;
  std::string timeout;
  std::string max_failures;
  std::string max_bytes;
  std::string webhook;
  std::string hook_attempts;
  std::string hook_timeout;
  bool once = false;
  bool exec = false;
  std::vector<std::string> command;  // after --, with --exec
};

struct SyncConfig {
  SyncSource source;
  std::string dest;                                  // the directory sync owns (absolute)
  std::string link = "current";                      // the published symlink's name in dest
  std::chrono::milliseconds period{10'000};          // between the starts of two syncs
  std::chrono::milliseconds timeout{120'000};        // one sync, every command included
  int max_failures = 0;                              // consecutive; 0: never give up
  std::uint64_t max_bytes = std::uint64_t{1} << 30;  // a download, an archive unpacked, a copy
  bool once = false;
  std::vector<std::string> exec;                   // the hook's argv; empty: none
  std::string webhook;                             // http:// URL; empty: none
  int hook_attempts = 3;                           // per revision, hook and webhook each
  std::chrono::milliseconds hook_timeout{30'000};  // per attempt

  [[nodiscard]] boost::json::object to_json() const;
};

// Merges flags, the file's keys (source, dest, link, period, timeout, max_failures, max_bytes,
// once, exec, webhook, hook_attempts, hook_timeout) and defaults. Throws UsageError naming the
// flag, or ConfigError at the file's line, for a missing or bad value.
[[nodiscard]] SyncConfig resolve_sync(const SyncFlags& flags, const ConfigNode& file);

}  // namespace tender::sidecar

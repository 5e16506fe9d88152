// The sources of `tender sync`: git, http, https (through curl) and dir.
#include "sidecar/sync_fetch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/this_coro.hpp>
#include <filesystem>
#include <utility>
#include <vector>

#include "core/command.hpp"
#include "core/fd.hpp"
#include "core/file_chunks.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"
#include "core/tar_check.hpp"
#include "core/units.hpp"

namespace tender::sidecar {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Deadline = std::chrono::steady_clock::time_point;

namespace {

Result<milliseconds> left_until(Deadline deadline, std::string_view what) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left <= milliseconds(0)) {
    return Error(std::errc::timed_out, std::string(what) + ": the sync's --timeout passed");
  }
  return left;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// Runs argv to its end within the deadline; its stdout, or an Error naming the command (its
// first two words), how it ended and the end of its stderr.
asio::awaitable<Result<std::string>> run(std::vector<std::string> argv, Deadline deadline,
                                         std::size_t max_stdout = std::size_t{1} << 20) {
  std::string what = argv.size() > 1 ? argv[0] + " " + argv[1] : argv.at(0);
  if (argv[0] == "git" && argv.size() > 3 && argv[1] == "-C") {
    what = "git " + argv[3];
  }
  auto left = left_until(deadline, what);
  if (!left) {
    co_return left.error();
  }
  CommandOptions o;
  o.spawn.argv = std::move(argv);
  o.timeout = *left;
  o.kill_grace = milliseconds(1'000);
  o.max_stdout_bytes = max_stdout;
  o.max_stderr_bytes = 4096;
  o.keep_stderr_tail = true;
  auto out = co_await run_command(std::move(o));
  if (!out) {
    co_return out.error().with_context(what);
  }
  if (!out->success()) {
    std::string err = trim(out->stderr_text);
    co_return Error(std::errc::io_error,
                    what + ": " + out->describe() + (err.empty() ? "" : ": " + err));
  }
  co_return string_result(std::move(out->stdout_text));
}

// Checks the archive at `file` (gzip or tar) and unpacks it into `staging` with `tar`.
asio::awaitable<Result<>> unpack(const std::string& file, const std::string& scratch,
                                 const std::string& staging, std::uint64_t max_bytes,
                                 Deadline deadline) {
  std::string head(2, '\0');
  {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      co_return Error::from_errno(errno, "open " + file);
    }
    ssize_t n = ::read(fd.get(), head.data(), head.size());
    head.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  std::string tar_file = file;
  struct RemoveScratch {
    const std::string& path;
    ~RemoveScratch() { ::unlink(path.c_str()); }
  } remove_scratch{scratch};  // whatever happens below
  if (is_gzip(head)) {
    tar_file = scratch;
    auto n = gunzip_file(file, tar_file, max_bytes);
    if (!n) {
      co_return n.error();
    }
  }
  auto checked = check_tar_file(tar_file);
  if (!checked) {
    co_return checked.error().with_context("archive refused");
  }
  if (checked->bytes > max_bytes) {
    co_return Error(std::errc::file_too_large, "the archive holds more than --max-bytes");
  }
  std::vector<std::string> out_argv = {
      "tar",         "--extract", "--file",          tar_file,
      "--directory", staging,     "--no-same-owner", "--delay-directory-restore"};
  auto out = co_await run(std::move(out_argv), deadline);
  if (!out) {
    co_return out.error();
  }
  co_return Result<>{};
}

// Hashes a file's bytes.
Result<std::string> file_revision(const std::string& path) {
  RevisionHash fp;
  auto read = read_chunks(path, std::size_t{64} << 10, [&fp](std::string_view bytes) -> Result<> {
    fp.add(bytes);
    return {};
  });
  if (!read) {
    return read.error();
  }
  return string_result(fp.hex());
}

// A new staging tree that is removed unless released.
struct Staging {
  std::string path;
  bool keep = false;
  ~Staging() {
    if (!path.empty() && !keep) {
      (void)remove_tree(path);
    }
  }
};

// --- git ------------------------------------------------------------------------------------

class GitFetcher final : public Fetcher {
 public:
  GitFetcher(const SyncConfig& cfg, TreeLayout layout)
      : source_(cfg.source), layout_(std::move(layout)), max_bytes_(cfg.max_bytes) {
    mirror_ = layout_.cache_dir() + "/git";
  }

  asio::awaitable<Result<Fetched>> fetch(std::string published, Deadline deadline) override {
    std::error_code ec;
    if (!std::filesystem::exists(mirror_ + "/HEAD", ec)) {
      (void)remove_tree(mirror_);
      std::vector<std::string> init_argv = {"git", "init", "--bare", "--quiet", mirror_};
      auto init = co_await run(std::move(init_argv), deadline);
      if (!init) {
        co_return init.error();
      }
    }
    auto want = co_await resolve(deadline);
    if (!want) {
      co_return want.error();
    }
    auto [full_ref, commit] = *want;
    if (commit == published) {
      co_return Fetched{.unchanged = true, .revision = commit, .staging = {}};
    }
    std::vector<std::string> have_argv = {"git",      "-C", mirror_,
                                          "cat-file", "-e", commit + "^{commit}"};
    auto have = co_await run(std::move(have_argv), deadline);
    if (!have) {
      std::vector<std::string> got_argv = {"git",
                                           "-C",
                                           mirror_,
                                           "fetch",
                                           "--quiet",
                                           "--no-tags",
                                           "--no-write-fetch-head",
                                           "--depth",
                                           "1",
                                           "--",
                                           source_.location,
                                           "+" + full_ref + ":refs/tender-sync/fetched"};
      auto got = co_await run(std::move(got_argv), deadline);
      if (!got) {
        co_return got.error();
      }
      std::vector<std::string> fetched_argv = {
          "git", "-C", mirror_, "rev-parse", "--verify", "refs/tender-sync/fetched^{commit}"};
      auto fetched = co_await run(std::move(fetched_argv), deadline);
      if (!fetched) {
        co_return fetched.error();
      }
      commit = trim(*fetched);  // the ref may have moved on since ls-remote: take what came
      if (commit == published) {
        co_return Fetched{.unchanged = true, .revision = commit, .staging = {}};
      }
    }
    Staging staging;
    auto dir = make_staging(layout_, commit);
    if (!dir) {
      co_return dir.error();
    }
    staging.path = *dir;
    std::string archive = layout_.cache_dir() + "/git-export.tar";
    std::vector<std::string> exported_argv = {"git",          "-C",       mirror_, "archive",
                                              "--format=tar", "--output", archive, commit};
    auto exported = co_await run(std::move(exported_argv), deadline);
    if (!exported) {
      co_return exported.error();
    }
    auto unpacked =
        co_await unpack(archive, archive + ".plain", staging.path, max_bytes_, deadline);
    ::unlink(archive.c_str());
    if (!unpacked) {
      co_return unpacked.error();
    }
    staging.keep = true;
    co_return Fetched{.unchanged = false, .revision = commit, .staging = staging.path};
  }

 private:
  // The full ref name and commit of the source's ref, from `git ls-remote`.
  asio::awaitable<Result<std::pair<std::string, std::string>>> resolve(Deadline deadline) {
    const std::string& ref = source_.ref;
    bool is_hash =
        ref.size() == 40 && ref.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (is_hash) {
      co_return std::pair{ref, ref};
    }
    std::vector<std::string> listed_argv = {"git", "ls-remote", "--", source_.location, ref};
    auto listed = co_await run(std::move(listed_argv), deadline);
    if (!listed) {
      co_return listed.error();
    }
    // Prefer an exact name, then a branch, then a tag (peeled to its commit).
    const std::vector<std::string> wanted = {ref, "refs/heads/" + ref, "refs/tags/" + ref + "^{}",
                                             "refs/tags/" + ref};
    std::size_t best = wanted.size();
    std::pair<std::string, std::string> found;
    std::size_t pos = 0;
    const std::string& text = *listed;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      std::size_t tab = line.find('\t');
      if (tab == std::string::npos) {
        continue;
      }
      std::string name = line.substr(tab + 1);
      for (std::size_t i = 0; i < best; ++i) {
        if (name == wanted[i]) {
          best = i;
          std::string full = name.ends_with("^{}") ? name.substr(0, name.size() - 3) : name;
          found = {full, line.substr(0, tab)};
        }
      }
    }
    if (best == wanted.size()) {
      co_return Error(std::errc::no_such_file_or_directory,
                      "git: no ref \"" + ref + "\" in " + source_.location);
    }
    co_return found;
  }

  SyncSource source_;
  TreeLayout layout_;
  std::uint64_t max_bytes_;
  std::string mirror_;
};

// --- http and https ---------------------------------------------------------------------------

// What http and https share: the ETag of the published revision, and what follows a download.
class ArchiveFetcher : public Fetcher {
 public:
  ArchiveFetcher(const SyncConfig& cfg, TreeLayout layout)
      : source_(cfg.source),
        layout_(std::move(layout)),
        max_bytes_(cfg.max_bytes),
        timeout_(cfg.timeout) {
    download_ = layout_.cache_dir() + "/download";
  }

 protected:
  // The If-None-Match value to send: the ETag that came with the published revision.
  [[nodiscard]] std::string etag_for(const std::string& published) const {
    return !published.empty() && published == etag_revision_ ? etag_ : "";
  }

  // After a 200 with the body in download_: fingerprint, compare, unpack.
  asio::awaitable<Result<Fetched>> downloaded(const std::string& published, std::string etag,
                                              Deadline deadline) {
    auto revision = file_revision(download_);
    if (!revision) {
      co_return revision.error();
    }
    if (*revision == published) {
      etag_ = std::move(etag);
      etag_revision_ = *revision;
      co_return Fetched{.unchanged = true, .revision = *revision, .staging = {}};
    }
    Staging staging;
    auto dir = make_staging(layout_, *revision);
    if (!dir) {
      co_return dir.error();
    }
    staging.path = *dir;
    auto unpacked =
        co_await unpack(download_, download_ + ".tar", staging.path, max_bytes_, deadline);
    if (!unpacked) {
      co_return unpacked.error().with_context(source_.text);
    }
    etag_ = std::move(etag);
    etag_revision_ = *revision;
    staging.keep = true;
    co_return Fetched{.unchanged = false, .revision = *revision, .staging = staging.path};
  }

  SyncSource source_;
  TreeLayout layout_;
  std::uint64_t max_bytes_;
  milliseconds timeout_;
  std::string download_;
  std::string etag_;
  std::string etag_revision_;
};

class HttpFetcher final : public ArchiveFetcher {
 public:
  HttpFetcher(const SyncConfig& cfg, TreeLayout layout, const asio::any_io_executor& executor)
      : ArchiveFetcher(cfg, std::move(layout)), client_(executor) {}

  asio::awaitable<Result<Fetched>> fetch(std::string published, Deadline deadline) override {
    auto left = left_until(deadline, source_.text);
    if (!left) {
      co_return left.error();
    }
    ClientRequest req;
    req.host = source_.http.host;
    req.port = source_.http.port;
    req.target = source_.http.target;
    req.timeout = *left;
    if (req.port != 80) {
      req.headers.set("Host", source_.http.host + ":" + std::to_string(req.port));
    }
    std::string etag = etag_for(published);
    if (!etag.empty()) {
      req.headers.set("If-None-Match", etag);
    }
    Fd out(::open(download_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) {
      co_return Error::from_errno(errno, "create " + download_);
    }
    std::uint64_t written = 0;
    const std::uint64_t limit = max_bytes_;
    const std::string& path = download_;
    auto head = co_await client_.stream(std::move(req), [&](std::string_view bytes) -> Result<> {
      written += bytes.size();
      if (written > limit) {
        return Error(std::errc::file_too_large,
                     "the download is larger than --max-bytes (" + std::to_string(limit) + ")");
      }
      while (!bytes.empty()) {
        ssize_t w = ::write(out.get(), bytes.data(), bytes.size());
        if (w < 0 && errno == EINTR) {
          continue;
        }
        if (w < 0) {
          return Error::from_errno(errno, "write " + path);
        }
        bytes.remove_prefix(static_cast<std::size_t>(w));
      }
      return {};
    });
    out.reset();
    if (!head) {
      if (std::chrono::steady_clock::now() >= deadline - milliseconds(50)) {
        co_return Error(std::errc::timed_out, source_.text + ": timed out after " +
                                                  format_duration(timeout_) + " (--timeout)");
      }
      co_return head.error().with_context(source_.text);
    }
    if (head->status == 304 && !etag.empty()) {
      co_return Fetched{.unchanged = true, .revision = published, .staging = {}};
    }
    if (head->status != 200) {
      co_return Error(std::errc::io_error, source_.text + ": HTTP " + std::to_string(head->status) +
                                               " " + std::string(reason_phrase(head->status)));
    }
    co_return co_await downloaded(published, std::string(head->headers.get("ETag").value_or("")),
                                  deadline);
  }

 private:
  HttpClient client_;
};

class HttpsFetcher final : public ArchiveFetcher {
 public:
  using ArchiveFetcher::ArchiveFetcher;

  asio::awaitable<Result<Fetched>> fetch(std::string published, Deadline deadline) override {
    auto left = left_until(deadline, source_.text);
    if (!left) {
      co_return left.error();
    }
    std::string headers = download_ + ".headers";
    std::vector<std::string> argv = {
        "curl",           "--silent",
        "--show-error",   "--location",
        "--max-redirs",   "5",
        "--proto",        "=https",
        "--proto-redir",  "=https",
        "--max-filesize", std::to_string(max_bytes_),
        "--max-time",     std::to_string(std::max<long long>(1, left->count() / 1000)),
        "--output",       download_,
        "--dump-header",  headers,
        "--write-out",    "%{http_code}"};
    std::string etag = etag_for(published);
    if (!etag.empty()) {
      argv.insert(argv.end(), {"--header", "If-None-Match: " + etag});
    }
    argv.push_back(source_.location);
    ::unlink(download_.c_str());
    auto out = co_await run(std::move(argv), deadline);
    if (!out) {
      co_return out.error();
    }
    int status = std::atoi(trim(*out).c_str());
    if (status == 304 && !etag.empty()) {
      co_return Fetched{.unchanged = true, .revision = published, .staging = {}};
    }
    if (status != 200) {
      co_return Error(std::errc::io_error,
                      source_.text + ": HTTP " + std::to_string(status) + " (through curl)");
    }
    std::error_code ec;
    if (std::filesystem::file_size(download_, ec) > max_bytes_ && !ec) {
      co_return Error(std::errc::file_too_large, source_.text + ": larger than --max-bytes");
    }
    co_return co_await downloaded(published, last_etag(headers), deadline);
  }

 private:
  // The ETag of the last response in curl's header dump (after any redirects).
  static std::string last_etag(const std::string& path) {
    std::string text;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      char buf[8192];
      ssize_t n = 0;
      while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20)) {
        text.append(buf, static_cast<std::size_t>(n));
      }
    }
    std::string etag;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string line =
          trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      pos = nl == std::string::npos ? text.size() : nl + 1;
      if (line.starts_with("HTTP/")) {
        etag.clear();  // a new response begins
      } else if (line.size() > 5 && iequals(line.substr(0, 5), "etag:")) {
        std::size_t v = line.find_first_not_of(' ', 5);
        etag = v == std::string::npos ? "" : line.substr(v);
      }
    }
    return etag;
  }
};

// --- dir --------------------------------------------------------------------------------------

class DirFetcher final : public Fetcher {
 public:
  DirFetcher(const SyncConfig& cfg, TreeLayout layout)
      : source_(cfg.source), layout_(std::move(layout)), max_bytes_(cfg.max_bytes) {}

  asio::awaitable<Result<Fetched>> fetch(std::string published, Deadline deadline) override {
    (void)deadline;
    const std::string& root = source_.location;
    auto before = dir_revision(root);
    if (!before) {
      co_return before.error();
    }
    if (*before == published) {
      co_return Fetched{.unchanged = true, .revision = *before, .staging = {}};
    }
    Staging staging;
    auto dir = make_staging(layout_, *before);
    if (!dir) {
      co_return dir.error();
    }
    staging.path = *dir;
    auto copied = copy_tree(root, staging.path, max_bytes_);
    if (!copied) {
      co_return copied.error();
    }
    auto after = dir_revision(root);
    if (!after) {
      co_return after.error();
    }
    if (*after != *before) {
      co_return Error(std::errc::resource_unavailable_try_again,
                      "dir:" + root + " changed while it was copied; the next sync tries again");
    }
    staging.keep = true;
    co_return Fetched{.unchanged = false, .revision = *before, .staging = staging.path};
  }

 private:
  SyncSource source_;
  TreeLayout layout_;
  std::uint64_t max_bytes_;
};

}  // namespace

std::unique_ptr<Fetcher> make_fetcher(const SyncConfig& cfg, const TreeLayout& layout,
                                      const asio::any_io_executor& executor) {
  switch (cfg.source.kind) {
    case SourceKind::kGit:
      return std::make_unique<GitFetcher>(cfg, layout);
    case SourceKind::kHttp:
      return std::make_unique<HttpFetcher>(cfg, layout, executor);
    case SourceKind::kHttps:
      return std::make_unique<HttpsFetcher>(cfg, layout);
    case SourceKind::kDir:
      return std::make_unique<DirFetcher>(cfg, layout);
  }
  return nullptr;
}

}  // namespace tender::sidecar

#include "workqueue/work_item.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "core/temp_dir.hpp"

namespace tender::workqueue {
namespace {

constexpr std::string_view kItemVars[] = {"TENDER_ITEM_ID=", "TENDER_ATTEMPT=", "TENDER_QUEUE=",
                                          "TENDER_ITEM_FILE=", "TENDER_OUTPUT_FILE="};

Result<> write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error::from_errno(errno, "cannot create " + path);
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error::from_errno(err, "cannot write " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    return Error::from_errno(errno, "cannot write " + path);
  }
  return {};
}

}  // namespace

Result<ItemFiles> ItemFiles::create(std::string_view payload, const std::string& parent) {
  auto dir = make_temp_dir("tender-item.", parent);
  if (!dir) {
    return dir.error();
  }
  ItemFiles files(std::move(*dir));  // removed from here on, whatever happens
  if (auto ok = write_file(files.item_file(), payload); !ok) {
    return ok.error();
  }
  return files;
}

ItemFiles::ItemFiles(ItemFiles&& other) noexcept : dir_(std::move(other.dir_)) {
  other.dir_.clear();
}

ItemFiles& ItemFiles::operator=(ItemFiles&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_, ignored);
    }
    dir_ = std::move(other.dir_);
    other.dir_.clear();
  }
  return *this;
}

ItemFiles::~ItemFiles() {
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

Result<std::optional<ItemFiles::Output>> ItemFiles::read_output(std::size_t max) const {
  const std::string path = output_file();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::optional<Output>();
    }
    return Error::from_errno(errno, "cannot read " + path);
  }
  Output out;
  std::string buf(64 << 10, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error::from_errno(err, "cannot read " + path);
    }
    if (n == 0) {
      break;
    }
    const auto got = static_cast<std::size_t>(n);
    const std::size_t room = max - std::min(max, out.bytes.size());
    out.bytes.append(buf.data(), std::min(got, room));
    if (got > room) {
      out.truncated = true;
      break;
    }
  }
  ::close(fd);
  return std::optional<Output>(std::move(out));
}

Result<std::string> find_program(const std::string& program, std::string_view path) {
  auto runnable = [](const std::string& file) {
    struct stat st {};
    return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(file.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (runnable(program)) {
      return Result<std::string>(boost::system::in_place_value, program);
    }
    return Error(std::errc::no_such_file_or_directory,
                 "the command " + program + " is not an executable file");
  }
  if (path.empty()) {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t colon = path.find(':', start);
    if (colon == std::string_view::npos) {
      colon = path.size();
    }
    std::string dir(path.substr(start, colon - start));
    const std::string file = (dir.empty() ? std::string(".") : dir) + "/" + program;
    if (runnable(file)) {
      return Result<std::string>(boost::system::in_place_value, file);
    }
    start = colon + 1;
  }
  return Error(std::errc::no_such_file_or_directory,
               "the command " + program + " is not found in PATH (" + std::string(path) + ")");
}

std::vector<std::string> item_environment(const char* const* base, const ItemEnv& item) {
  std::vector<std::string> env;
  for (const char* const* e = base; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool ours = false;
    for (std::string_view prefix : kItemVars) {
      ours = ours || kv.starts_with(prefix);
    }
    if (!ours) {
      env.emplace_back(kv);
    }
  }
  env.push_back("TENDER_ITEM_ID=" + std::to_string(item.id));
  env.push_back("TENDER_ATTEMPT=" + std::to_string(item.attempt));
  env.push_back("TENDER_QUEUE=" + item.queue);
  env.push_back("TENDER_ITEM_FILE=" + item.item_file);
  env.push_back("TENDER_OUTPUT_FILE=" + item.output_file);
  return env;
}

Verdict verdict(bool exited, int exit_code, bool timed_out, std::optional<int> dead_exit_code) {
  if (timed_out || !exited) {
    return Verdict::kNack;
  }
  if (exit_code == 0) {
    return Verdict::kAck;
  }
  if (dead_exit_code && exit_code == *dead_exit_code) {
    return Verdict::kBury;
  }
  return Verdict::kNack;
}

std::string failure_text(std::string_view what, std::string_view stderr_tail,
                         bool stderr_truncated) {
  while (!stderr_tail.empty() && (stderr_tail.back() == '\n' || stderr_tail.back() == '\r')) {
    stderr_tail.remove_suffix(1);
  }
  if (stderr_tail.size() > kErrorTailBytes) {
    stderr_tail = stderr_tail.substr(stderr_tail.size() - kErrorTailBytes);
    stderr_truncated = true;
  }
  std::string out(what);
  if (!stderr_tail.empty()) {
    out.append(": ");
    if (stderr_truncated) {
      out.append("...");
    }
    out.append(stderr_tail);
  }
  return out;
}

}  // namespace tender::workqueue

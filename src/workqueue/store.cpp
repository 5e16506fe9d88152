#include "workqueue/store.hpp"

#include <algorithm>

#include "workqueue/journal.hpp"
#include "workqueue/redis_store.hpp"

namespace tender::workqueue {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "workqueue"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::kInvalid:
        return "invalid argument";
      case Errc::kNoQueue:
        return "no such queue";
      case Errc::kNoItem:
        return "no such item";
      case Errc::kStaleLease:
        return "stale lease";
      case Errc::kNotDead:
        return "item not dead";
      case Errc::kTooLarge:
        return "payload too large";
      case Errc::kFull:
        return "queue full";
      case Errc::kUnavailable:
        return "store unavailable";
    }
    return "unknown workqueue error";
  }
};

}  // namespace

const boost::system::error_category& category() {
  static const Category c;
  return c;
}

int http_status(const Error& error) {
  if (error.code().category() != category()) {
    return 503;
  }
  switch (static_cast<Errc>(error.code().value())) {
    case Errc::kInvalid:
      return 400;
    case Errc::kNoQueue:
    case Errc::kNoItem:
      return 404;
    case Errc::kStaleLease:
    case Errc::kNotDead:
      return 409;
    case Errc::kTooLarge:
      return 413;
    case Errc::kFull:
      return 429;
    case Errc::kUnavailable:
      return 503;
  }
  return 503;
}

Error queue_error(Errc e, std::string message) {
  return Error(make_error_code(e), std::move(message));
}

Millis QueueSettings::backoff(int attempt) const {
  Millis d = retry_backoff;
  for (int i = 1; i < attempt && d < retry_backoff_max; ++i) {
    d *= 2;
  }
  return std::min(d, retry_backoff_max);
}

Result<> check_queue_name(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return queue_error(Errc::kInvalid, "a queue name must be 1 to 128 characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return queue_error(Errc::kInvalid, "queue name \"" + std::string(name.substr(0, 128)) +
                                             "\" has a character other than A-Z a-z 0-9 . _ -");
    }
  }
  return {};
}

std::string_view state_name(State s) {
  switch (s) {
    case State::kReady:
      return "ready";
    case State::kDelayed:
      return "delayed";
    case State::kLeased:
      return "leased";
    case State::kDone:
      return "done";
    case State::kDead:
      return "dead";
  }
  return "unknown";
}

Result<std::unique_ptr<Store>> open_store(const std::string& url, StoreSettings settings) {
  if (url == "memory") {
    return engine_store(memory_journal(), std::move(settings));
  }
  if (url.starts_with("sqlite:")) {
    const std::string path = url.substr(7);
    if (path.empty()) {
      return queue_error(Errc::kInvalid, "store \"sqlite:\" names no file");
    }
    auto journal = sqlite_journal(path);
    if (!journal) {
      return journal.error();
    }
    return engine_store(std::move(*journal), std::move(settings));
  }
  if (url.starts_with("redis://")) {
    return open_redis_store(url, std::move(settings));
  }
  return queue_error(Errc::kInvalid,
                     "store \"" + url + "\" is none of memory, sqlite:PATH, redis://HOST:PORT");
}

}  // namespace tender::workqueue

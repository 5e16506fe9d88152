#include "election/file_record.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <utility>

namespace tender::election {

namespace {

constexpr std::string_view kMagic = "tender-elect ";
constexpr std::uint64_t kVersion = 1;
constexpr std::size_t kMaxName = 253;

// The fields in the order they are written.
constexpr std::array<std::string_view, 6> kKeys = {"election", "token",      "holder",
                                                   "instance", "expires_ns", "boot"};

Error bad_record(std::string_view path, std::string_view why) {
  return {std::errc::invalid_argument,
          std::string(path) + ": " + std::string(why) + " (left untouched)"};
}

template <class Int>
std::optional<Int> parse_int(std::string_view s) {
  Int value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return value;
}

// Splits off the next line of `text` (without its '\n'); false at the end.
bool next_line(std::string_view& text, std::string_view& line) {
  if (text.empty()) {
    return false;
  }
  auto nl = text.find('\n');
  line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  return true;
}

// Stores `value` under `key` in `out`; false if it does not parse.
bool set_field(FileRecord& out, std::string_view key, std::string_view value) {
  if (key == "election") {
    out.election = std::string(value);
  } else if (key == "token") {
    auto n = parse_int<std::uint64_t>(value);
    if (!n) {
      return false;
    }
    out.token = *n;
  } else if (key == "holder") {
    out.holder = std::string(value);
  } else if (key == "instance") {
    out.instance = std::string(value);
  } else if (key == "expires_ns") {
    auto n = parse_int<std::int64_t>(value);
    if (!n) {
      return false;
    }
    out.expires_ns = *n;
  } else {
    out.boot = std::string(value);
  }
  return true;
}

Result<> check_header(std::string_view line, std::string_view path) {
  if (!line.starts_with(kMagic)) {
    return bad_record(path,
                      "not a tender election record (it does not begin with 'tender-elect 1')");
  }
  auto version = parse_int<std::uint64_t>(line.substr(kMagic.size()));
  if (!version) {
    return bad_record(path, "not a tender election record (bad version line)");
  }
  if (*version != kVersion) {
    return bad_record(path, "a tender election record of version " + std::to_string(*version) +
                                ", which this tender (version 1) cannot read");
  }
  return {};
}

}  // namespace

Result<FileRecord> parse_record(std::string_view text, std::string_view election,
                                std::string_view path) {
  if (text.empty()) {
    FileRecord fresh;
    fresh.election = std::string(election);
    return fresh;
  }
  if (text.size() > kMaxRecordBytes) {
    return bad_record(path, "not a tender election record (" + std::to_string(text.size()) +
                                " bytes, more than " + std::to_string(kMaxRecordBytes) + ")");
  }
  std::string_view line;
  next_line(text, line);
  if (auto header = check_header(line, path); !header) {
    return header.error();
  }
  FileRecord out;
  for (std::string_view key : kKeys) {
    if (!next_line(text, line) || !line.starts_with(key) || line.size() == key.size() ||
        line[key.size()] != '=') {
      return bad_record(path, "not a tender election record (line '" + std::string(key) +
                                  "=' missing or out of place)");
    }
    if (!set_field(out, key, line.substr(key.size() + 1))) {
      return bad_record(path, "not a tender election record (bad " + std::string(key) + ")");
    }
  }
  while (next_line(text, line)) {
    if (!line.empty()) {
      return bad_record(path, "not a tender election record (unexpected text after its fields)");
    }
  }
  if (out.election != election) {
    return bad_record(
        path, "the record of election '" + out.election + "', not '" + std::string(election) + "'");
  }
  return out;
}

Result<> check_record_name(std::string_view name, std::string_view what) {
  if (name.empty()) {
    return Error(std::errc::invalid_argument, std::string(what) + " is empty");
  }
  if (name.size() > kMaxName) {
    return Error(std::errc::invalid_argument,
                 std::string(what) + " is longer than " + std::to_string(kMaxName) + " bytes");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Error(std::errc::invalid_argument,
                   std::string(what) + " '" + std::string(name) + "' holds a control character");
    }
  }
  return {};
}

Result<std::string> format_record(const FileRecord& record) {
  if (auto ok = check_record_name(record.election, "the election name"); !ok) {
    return ok.error();
  }
  for (const std::string* field : {&record.holder, &record.instance, &record.boot}) {
    if (field->find_first_of("\r\n") != std::string::npos) {
      return Error(std::errc::invalid_argument,
                   "a record field holds a line break: '" + *field + "'");
    }
  }
  std::string out;
  out.reserve(256);
  out.append(kMagic).append(std::to_string(kVersion)).append("\n");
  out.append("election=").append(record.election).append("\n");
  out.append("token=").append(std::to_string(record.token)).append("\n");
  out.append("holder=").append(record.holder).append("\n");
  out.append("instance=").append(record.instance).append("\n");
  out.append("expires_ns=").append(std::to_string(record.expires_ns)).append("\n");
  out.append("boot=").append(record.boot).append("\n");
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

bool holds(const FileRecord& record, std::string_view instance, std::uint64_t token) {
  return token != 0 && !record.holder.empty() && !instance.empty() && record.instance == instance &&
         record.token == token;
}

namespace {

// Whether anyone's claim in `record` still stands at `now` on boot `boot`.
bool claimed(const FileRecord& record, SteadyTime now, std::string_view boot) {
  return !record.holder.empty() && record.boot == boot && now < record.expires();
}

std::int64_t to_ns(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Decision decide(const FileRecord& record, const Candidate& me, SteadyTime now,
                std::chrono::milliseconds ttl) {
  Decision out;
  if (claimed(record, now, me.boot) && record.instance != me.instance) {
    out.action = Action::kWait;
    out.retry_at = record.expires();
    return out;
  }
  out.next = record;
  out.next.expires_ns = to_ns(now + ttl);
  out.next.boot = std::string(me.boot);
  if (claimed(record, now, me.boot) && holds(record, me.instance, me.token)) {
    out.action = Action::kRenew;
    return out;
  }
  // Nobody's claim stands, or the claim is a stale term of this very instance.
  out.action = Action::kTake;
  out.next.token = std::max(record.token, me.seen) + 1;
  out.next.holder = std::string(me.id);
  out.next.instance = std::string(me.instance);
  return out;
}

Observed observe(const FileRecord& record, SteadyTime now, std::string_view boot) {
  if (!claimed(record, now, boot)) {
    return {};
  }
  return {.name = record.holder, .token = record.token, .expires = record.expires()};
}

FileRecord released(FileRecord record) {
  record.holder.clear();
  record.instance.clear();
  record.expires_ns = 0;
  return record;
}

}  // namespace tender::election

#include "sidecar/records.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "sidecar/record_parse.hpp"

namespace tender::sidecar {

namespace {

// A line buffer grown past this is given back once its line is out, so a follower of many
// files does not keep a long line's memory for each.
constexpr std::size_t kKeepCapacity = std::size_t{64} << 10;

// Appends [p, p + n) to `s`, growing its capacity geometrically but never past `cap`: a record
// held while its line is cut costs max_record_bytes, not twice that.
void append_capped(std::string& s, const char* p, std::size_t n, std::size_t cap) {
  const std::size_t need = s.size() + n;
  if (need > s.capacity()) {
    std::string bigger;
    bigger.reserve(std::min(cap, std::max(need, 2 * s.capacity())));
    bigger.append(s);
    s.swap(bigger);
  }
  s.append(p, n);
}

void release_if_large(std::string& s) {
  if (s.capacity() > kKeepCapacity) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

}  // namespace

namespace {

Result<> check_limits(const RecordOptions& options) {
  if (options.max_record_bytes == 0) {
    return invalid_argument("max_record_bytes: must be at least 1");
  }
  if (options.max_lines == 0) {
    return invalid_argument("max_lines: must be at least 1");
  }
  if (options.multiline_wait_ns < 0) {
    return invalid_argument("multiline_wait: must not be negative");
  }
  return {};
}

}  // namespace

Result<> validate(const RecordOptions& options) {
  if (auto ok = check_limits(options); !ok) {
    return ok;
  }
  if (!options.multiline_start.empty()) {
    auto start = compile_regex("multiline_start", options.multiline_start, false);
    if (!start) {
      return start.error();
    }
  }
  if (auto parser = FieldParser::create(options); !parser) {
    return parser.error();
  }
  return {};
}

struct RecordAssembler::Impl {
  std::size_t max_bytes = 0;
  std::size_t max_lines = 0;
  std::int64_t wait_ns = 0;
  std::shared_ptr<const CompiledRegex> start;  // null: one line, one record
  FieldParser parser;
  std::shared_ptr<const Source> source;
  std::uint64_t fed = 0;
  std::uint64_t committed = 0;
  RecordStats stats;

  // The line read so far (no newline yet): its first max_bytes bytes, how many bytes it has,
  // and its last byte (a '\r' there is not part of the text if a '\n' follows).
  std::string line;
  std::uint64_t line_size = 0;
  char line_last = 0;

  // Multiline: the record being joined (its source is set when it goes out).
  bool pending = false;
  Record pend;
  std::uint64_t pend_cut_bytes = 0;
  std::size_t pend_lines = 0;
  std::int64_t pend_last_ns = 0;

  void feed(std::string_view bytes, std::int64_t now, std::vector<Record>& out);
  void hold(const char* p, std::size_t n);
  void take_held_line(std::uint64_t offset, std::uint64_t end, std::int64_t now,
                      std::vector<Record>& out);
  void take_line(std::string_view kept, std::uint64_t skipped, std::uint64_t offset,
                 std::uint64_t end, std::int64_t now, std::vector<Record>& out);
  void join_line(std::string_view kept, std::uint64_t skipped);
  void emit_pending(std::vector<Record>& out);
  void done(Record& record, std::uint64_t cut_bytes);
};

void RecordAssembler::Impl::feed(std::string_view bytes, std::int64_t now,
                                 std::vector<Record>& out) {
  const char* const begin = bytes.data();
  const char* const last = begin + bytes.size();
  const std::uint64_t base = fed;
  const char* p = begin;
  while (p != last) {
    const auto* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(last - p)));
    if (nl == nullptr) {
      hold(p, static_cast<std::size_t>(last - p));
      break;
    }
    const std::uint64_t nl_offset = base + static_cast<std::uint64_t>(nl - begin);
    const auto n = static_cast<std::size_t>(nl - p);
    if (line_size == 0) {
      // The whole line is in this chunk: no copy but the record's text.
      const std::size_t content = n - (n != 0 && nl[-1] == '\r' ? 1 : 0);
      const std::size_t kept = std::min(content, max_bytes);
      take_line({p, kept}, content - kept, nl_offset - n, nl_offset + 1, now, out);
    } else {
      hold(p, n);
      take_held_line(nl_offset - line_size, nl_offset + 1, now, out);
    }
    p = nl + 1;
  }
  fed = base + bytes.size();
}

void RecordAssembler::Impl::hold(const char* p, std::size_t n) {
  if (n == 0) {
    return;
  }
  line_size += n;
  line_last = p[n - 1];
  const std::size_t take = std::min(n, max_bytes - line.size());
  if (take != 0) {
    append_capped(line, p, take, max_bytes);
  }
}

void RecordAssembler::Impl::take_held_line(std::uint64_t offset, std::uint64_t end,
                                           std::int64_t now, std::vector<Record>& out) {
  const std::uint64_t content = line_size - (line_last == '\r' ? 1 : 0);
  const std::size_t kept = std::min<std::uint64_t>(content, line.size());
  take_line({line.data(), kept}, content - kept, offset, end, now, out);
  line_size = 0;
  line_last = 0;
  release_if_large(line);
}

void RecordAssembler::Impl::take_line(std::string_view kept, std::uint64_t skipped,
                                      std::uint64_t offset, std::uint64_t end, std::int64_t now,
                                      std::vector<Record>& out) {
  ++stats.lines;
  if (!start) {
    Record& record = out.emplace_back();
    record.source = source;
    record.offset = offset;
    record.end = end;
    record.text.assign(kept);
    record.cut = skipped != 0;
    record.time_ns = now;
    done(record, skipped);
    return;
  }
  if (pending && regex_search(*start, kept)) {
    emit_pending(out);
  }
  if (pending) {
    join_line(kept, skipped);
  } else {
    pending = true;
    pend.offset = offset;
    append_capped(pend.text, kept.data(), kept.size(), max_bytes);
    pend.cut = skipped != 0;
    pend.time_ns = now;
    pend_cut_bytes = skipped;
    pend_lines = 1;
  }
  pend.end = end;
  pend_last_ns = now;
  if (pend_lines >= max_lines) {
    emit_pending(out);
  }
}

// Appends "\n" and the line to the pending record, keeping its first max_bytes.
void RecordAssembler::Impl::join_line(std::string_view kept, std::uint64_t skipped) {
  ++pend_lines;
  const std::size_t room = max_bytes - pend.text.size();
  const std::size_t want = 1 + kept.size();
  if (want <= room) {
    append_capped(pend.text, "\n", 1, max_bytes);
    append_capped(pend.text, kept.data(), kept.size(), max_bytes);
  } else {
    if (room != 0) {
      append_capped(pend.text, "\n", 1, max_bytes);
      append_capped(pend.text, kept.data(), room - 1, max_bytes);
    }
    pend.cut = true;
    pend_cut_bytes += want - room;
  }
  if (skipped != 0) {
    pend.cut = true;
    pend_cut_bytes += skipped;
  }
}

void RecordAssembler::Impl::emit_pending(std::vector<Record>& out) {
  pending = false;
  pend.source = source;
  Record& record = out.emplace_back(std::move(pend));
  pend = Record{};
  done(record, pend_cut_bytes);
  pend_cut_bytes = 0;
  pend_lines = 0;
}

void RecordAssembler::Impl::done(Record& record, std::uint64_t cut_bytes) {
  ++stats.records;
  if (record.cut) {
    ++stats.cut_records;
    stats.cut_bytes += cut_bytes;
  }
  if (!parser.parse(record)) {
    ++stats.parse_errors;
  }
  committed = record.end;
}

Result<RecordAssembler> RecordAssembler::create(const RecordOptions& options,
                                                std::shared_ptr<const Source> source,
                                                std::uint64_t offset) {
  if (auto ok = check_limits(options); !ok) {
    return ok.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->max_bytes = options.max_record_bytes;
  impl->max_lines = options.max_lines;
  impl->wait_ns = options.multiline_wait_ns;
  if (!options.multiline_start.empty()) {
    auto start = compile_regex("multiline_start", options.multiline_start, false);
    if (!start) {
      return start.error();
    }
    impl->start = std::move(*start);
  }
  auto parser = FieldParser::create(options);
  if (!parser) {
    return parser.error();
  }
  impl->parser = std::move(*parser);
  impl->source = std::move(source);
  impl->fed = offset;
  impl->committed = offset;
  return RecordAssembler(std::move(impl));
}

RecordAssembler::RecordAssembler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordAssembler::RecordAssembler(RecordAssembler&&) noexcept = default;
RecordAssembler& RecordAssembler::operator=(RecordAssembler&&) noexcept = default;
RecordAssembler::~RecordAssembler() = default;

void RecordAssembler::feed(std::string_view bytes, std::int64_t now_ns, std::vector<Record>& out) {
  impl_->feed(bytes, now_ns, out);
}

void RecordAssembler::flush_due(std::int64_t now_ns, std::vector<Record>& out) {
  if (impl_->pending && now_ns >= impl_->pend_last_ns + impl_->wait_ns) {
    impl_->emit_pending(out);
  }
}

void RecordAssembler::finish(std::int64_t now_ns, std::vector<Record>& out) {
  Impl& s = *impl_;
  if (s.line_size != 0) {
    s.take_held_line(s.fed - s.line_size, s.fed, now_ns, out);
  }
  if (s.pending) {
    s.emit_pending(out);
  }
}

void RecordAssembler::restart(std::uint64_t offset) {
  Impl& s = *impl_;
  std::string().swap(s.line);
  s.line_size = 0;
  s.line_last = 0;
  s.pending = false;
  s.pend = Record{};
  s.pend_cut_bytes = 0;
  s.pend_lines = 0;
  s.fed = offset;
  s.committed = offset;
}

std::uint64_t RecordAssembler::fed_offset() const { return impl_->fed; }
std::uint64_t RecordAssembler::committable() const { return impl_->committed; }
std::size_t RecordAssembler::held_bytes() const {
  return impl_->line.size() + impl_->pend.text.size();
}
std::int64_t RecordAssembler::due_ns() const {
  return impl_->pending ? impl_->pend_last_ns + impl_->wait_ns : 0;
}
const RecordStats& RecordAssembler::stats() const { return impl_->stats; }
const std::shared_ptr<const Source>& RecordAssembler::source() const { return impl_->source; }
void RecordAssembler::set_source(std::shared_ptr<const Source> source) {
  impl_->source = std::move(source);
}

}  // namespace tender::sidecar

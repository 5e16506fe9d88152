#pragma once
// Cutting a followed file's bytes into records: lines (bounded in size), optionally joined into
// multiline records (a stack trace), optionally parsed into fields (JSON lines, logfmt, a
// regular expression with named groups). No I/O and no clock of its own: `tender tail` feeds it
// the bytes it read and the time, so every rule is unit-tested on golden inputs.
//
//   RecordOptions options;                  // raw lines of at most 1 MiB, or:
//   options.parse = ParseMode::kLogfmt;     // --parse raw|json|logfmt|regex:RE
//   options.multiline_start = "^\\d{4}-";   // lines not matching join the record
//   auto assembler = RecordAssembler::create(options, source, /*offset=*/0);  // Result<>
//   std::vector<Record> out;
//   assembler->feed(bytes_read, now_ns, out);   // appends every record complete so far
//   assembler->flush_due(now_ns, out);          // a multiline record whose wait is over
//   assembler->finish(now_ns, out);             // the file is let go: the rest goes out too
//   assembler->committable();                   // where reading may resume after a restart
//
// Offsets: a record spans [offset, end) of its file; `end` includes its newline. A line longer
// than max_record_bytes is cut: its first max_record_bytes are the record's text, `cut` is
// set, the rest up to its newline is skipped (never held in memory) and counted in stats();
// the record goes out when its newline arrives, with `end` past it, so resuming at a record's
// `end` always starts a record. A '\r' before a newline (CRLF) is within [offset, end) but not
// in the text. A multiline record is cut the same way when its joined text passes
// max_record_bytes (the later lines' bytes are counted as cut); its time_ns is when its first
// line was read. A record whose text does not parse keeps its text, has no fields, says why in
// `parse_error` and is counted in stats().parse_errors.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "sidecar/record.hpp"

namespace tender::sidecar {

enum class ParseMode {
  kRaw,     // the line as it is
  kJson,    // a JSON object per line: its members are the fields
  kLogfmt,  // key=value key2="quoted value" ...
  kRegex,   // a regular expression with named groups (?<name>...): the groups are the fields
};

struct RecordOptions {
  ParseMode parse = ParseMode::kRaw;
  std::string regex;  // kRegex: Perl syntax (boost::regex), must have a named group
  // A regular expression matching the first line of a record (e.g. "^\\d{4}-\\d\\d-\\d\\d "):
  // lines that do not match are appended to the record before them. Empty: one line, one record.
  std::string multiline_start;
  // Multiline: a record is complete when the next start line arrives, when it holds max_lines
  // lines, or when multiline_wait_ns have passed since its last line with nothing new.
  std::size_t max_lines = 500;
  std::int64_t multiline_wait_ns = 1'000'000'000;
  // The most bytes of one record's text (a line, or joined lines); the rest is cut.
  std::size_t max_record_bytes = std::size_t{1} << 20;
};

// What an assembler has done, for metrics.
struct RecordStats {
  std::uint64_t records = 0;       // records produced
  std::uint64_t lines = 0;         // lines read (a multiline record counts each)
  std::uint64_t cut_records = 0;   // records cut at max_record_bytes
  std::uint64_t cut_bytes = 0;     // bytes skipped by those cuts
  std::uint64_t parse_errors = 0;  // records whose text did not parse (shipped raw)
};

// Checks the options: compiles the regular expressions. Fails with EINVAL and a message naming
// the option and why: "multiline_start: Unmatched marking parenthesis ( or \( at 4" (Boost.Regex's
// reason and the offset in the expression), "regex: empty", "regex: no named group (?<name>...)
// to take a field from: RE", "max_record_bytes: must be at least 1", "max_lines: must be at
// least 1", "multiline_wait: must not be negative". The regex is checked only in kRegex mode.
[[nodiscard]] Result<> validate(const RecordOptions& options);

class RecordAssembler {
 public:
  // Starts at `offset` of the file `source` names (the checkpoint's offset, a record boundary).
  // Fails as validate(). The compiled expressions are shared by assemblers of the same options
  // only if the caller passes the same options object to several creates (an implementation
  // may cache); each assembler is used by one thread.
  [[nodiscard]] static Result<RecordAssembler> create(const RecordOptions& options,
                                                      std::shared_ptr<const Source> source,
                                                      std::uint64_t offset);
  RecordAssembler(RecordAssembler&&) noexcept;
  RecordAssembler& operator=(RecordAssembler&&) noexcept;
  ~RecordAssembler();

  // The next bytes of the file, from fed_offset(). Appends each record completed by them to
  // `out`, in file order, stamped with `now_ns`.
  void feed(std::string_view bytes, std::int64_t now_ns, std::vector<Record>& out);
  // Multiline: appends the pending record if multiline_wait_ns have passed since its last line.
  void flush_due(std::int64_t now_ns, std::vector<Record>& out);
  // The file is let go (rotated away and read to its end): appends the pending record and a
  // last line without a newline, if any (its `end` is the file's end).
  void finish(std::int64_t now_ns, std::vector<Record>& out);
  // The file was truncated or replaced under the same identity: drops every held byte and
  // starts again at `offset`.
  void restart(std::uint64_t offset);

  // Where the next fed byte sits in the file.
  [[nodiscard]] std::uint64_t fed_offset() const;
  // The end of the last record produced (or the start offset): nothing before it is held.
  [[nodiscard]] std::uint64_t committable() const;
  // Bytes held for records not complete yet (a partial line, a pending multiline record).
  [[nodiscard]] std::size_t held_bytes() const;
  // When the pending multiline record is due (0: none pending), for the caller's timer.
  [[nodiscard]] std::int64_t due_ns() const;
  [[nodiscard]] const RecordStats& stats() const;
  [[nodiscard]] const std::shared_ptr<const Source>& source() const;
  // Points later records at `source` (the file was renamed, or its copy continues it).
  void set_source(std::shared_ptr<const Source> source);

 private:
  struct Impl;
  explicit RecordAssembler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::sidecar

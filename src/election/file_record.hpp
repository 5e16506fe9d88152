#pragma once
// The record of the file backend (file_backend.cpp): what the lock file holds, how it is read and
// written, and who may take, renew or must wait for the term it describes. No I/O, no Asio: the
// backend reads the file under flock, and these functions decide.
//
//   auto record = parse_record(text, "db", "/shared/leader.lock");   // empty text: token 0
//   if (!record) { sink.contact(false, record.error().message()); ... }   // never overwritten
//   Candidate me{.id = "pod-a", .instance = nonce, .boot = boot_id, .token = held};
//   Decision d = decide(*record, me, clock.now(), ttl);
//   switch (d.action) {
//     case Action::kTake:  write(format_record(d.next)); fdatasync; held(d.next.token, now)
//     case Action::kRenew: write(format_record(d.next)); held(d.next.token, now)
//     case Action::kWait:  try again at d.retry_at (the holder's claim lapses then)
//   }
//
// The file, one `key=value` per line, in this order:
//   tender-elect 1
//   election=db
//   token=7                    the fencing token of the latest term; never decreases
//   holder=pod-a               empty: nobody holds the term
//   instance=5f0c...           the holding backend instance (two replicas may share an --id)
//   expires_ns=123456789       the claim's end on this boot's steady clock, in ns
//   boot=3d2c3329-...          /proc/sys/kernel/random/boot_id when it was written
// followed by blank lines only (a record written over a longer one is padded, so a writer
// killed between its write and its truncation leaves a readable file).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "election/backend.hpp"

namespace tender::election {

struct FileRecord {
  std::string election;
  std::uint64_t token = 0;
  std::string holder;    // empty: nobody
  std::string instance;  // the holder's backend instance; empty with no holder
  std::int64_t expires_ns = 0;
  std::string boot;

  [[nodiscard]] SteadyTime expires() const {
    return SteadyTime(std::chrono::nanoseconds(expires_ns));
  }
  friend bool operator==(const FileRecord&, const FileRecord&) = default;
};

// A record larger than this is not one of ours.
inline constexpr std::size_t kMaxRecordBytes = 4096;

// Reads the file's content. An empty file is a fresh election: token 0, nobody holds it, for
// `election`. Fails with errc::invalid_argument, a message naming `path` and what is wrong, for
// a file that is not such a record (another program's file, garbage, a version newer than 1, a
// missing or repeated field, more than kMaxRecordBytes), and for a record of another election.
[[nodiscard]] Result<FileRecord> parse_record(std::string_view text, std::string_view election,
                                              std::string_view path);

// The record as the file holds it. Fails with errc::invalid_argument when a field would not
// read back (a newline or carriage return in a name, an empty election name).
[[nodiscard]] Result<std::string> format_record(const FileRecord& record);

// Whether `name` may be written into a record (an --id or an election name): not empty, no
// control characters, at most 253 bytes. Fails with errc::invalid_argument naming `what`.
[[nodiscard]] Result<> check_record_name(std::string_view name, std::string_view what);

// One candidate, as the decision sees it.
struct Candidate {
  std::string_view id;        // --id
  std::string_view instance;  // this backend instance's nonce
  std::string_view boot;      // this machine's boot id now
  std::uint64_t token = 0;    // the term this instance holds (0: none)
  // The highest token this instance has read or written: a new term is never given less,
  // even if the file was deleted and recreated under it.
  std::uint64_t seen = 0;
};

enum class Action {
  kTake,   // start a new term: token + 1, this candidate, expiring at now + ttl
  kRenew,  // the record is this candidate's current term: move its expiry to now + ttl
  kWait,   // another candidate holds it until retry_at
};

struct Decision {
  Action action = Action::kWait;
  FileRecord next;      // kTake, kRenew: the record to write
  SteadyTime retry_at;  // kWait: when the holder's claim lapses (unless it renews)
};

// What a candidate does with `record` at `now` (read before the file was locked):
// - kRenew if the record holds this instance's term (same instance and token, both set) and it
//   has not expired on this boot;
// - kTake (token max(record's, me.seen) + 1) if nobody holds it, its claim has expired (expiry <=
// now), it was written under
//   another boot (the steady clock restarted, so its expiry means nothing), or it holds a stale
//   term of this same instance (one it never reported or already lost);
// - kWait otherwise, until the holder's expiry.
// Never fails.
[[nodiscard]] Decision decide(const FileRecord& record, const Candidate& me, SteadyTime now,
                              std::chrono::milliseconds ttl);

// Whether `record` holds the term `token` of `instance`, still claimed (a holder is set).
[[nodiscard]] bool holds(const FileRecord& record, std::string_view instance, std::uint64_t token);

// The leader `record` names at `now` under boot `boot`: its holder, token and expiry, or
// nobody (an empty name, token 0, no expiry) when the holder is empty, its claim has expired,
// or the record was written under another boot.
[[nodiscard]] Observed observe(const FileRecord& record, SteadyTime now, std::string_view boot);

// `record` given up by its holder: no holder nor instance, expiry 0, the same token.
[[nodiscard]] FileRecord released(FileRecord record);

}  // namespace tender::election

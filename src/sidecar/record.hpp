#pragma once
// What `tender tail` reads and ships: records cut from followed files, each carrying where it
// came from, so a receiver can drop the duplicates an at-least-once shipper may send.
//
// A record's identity is (source->key, offset): `key` names the file's content stream (16 hex
// digits, kept across restarts, renames and a copytruncate's copy), `offset` is where the
// record's first byte sits in it. Re-sent records have the same identity.

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace tender::sidecar {

// Labels a user attaches to an input (--label app=web): sent with each of its records.
using Labels = std::map<std::string, std::string>;

// The file a record was read from; shared by all of its records.
struct Source {
  std::string key;    // 16 lowercase hex digits
  std::string path;   // its name when it was read (a rotated file keeps its last name)
  std::string input;  // the input's name in the config ("default" from flags)
  Labels labels;      // the input's labels
};

struct Record {
  std::shared_ptr<const Source> source;
  std::uint64_t offset = 0;  // the record's first byte in its file
  std::uint64_t end = 0;     // just past its last byte and its newline: where reading resumes
  // The record without its newline; lines joined by multiline mode are separated by '\n'.
  std::string text;
  // Longer than max_record_bytes: `text` is its first max_record_bytes, the rest was skipped
  // (and counted).
  bool cut = false;
  std::int64_t time_ns = 0;  // when it was read, nanoseconds since the Unix epoch
  // Fields parsed from `text` (json, logfmt, regex modes); empty for raw records or when the
  // text did not parse (then `parse_error` says why and the record is shipped raw).
  boost::json::object fields;
  std::string parse_error;
};

}  // namespace tender::sidecar

#pragma once
// Where `tender tail` ships records. A sink delivers a batch and says when the destination has
// acknowledged it; the tail pipeline commits a file's offset only after that, and retries a
// batch that failed (with core's Backoff), so a sink itself neither retries nor drops.
//
//   SinkConfig cfg = parse_sink_url("http://127.0.0.1:9200/ingest");     // throws UsageError
//   auto sink = make_sink(cfg, executor);                                // throws ConfigError
//   auto acked = co_await sink->write(batch);    // Result<>: all of batch acknowledged, or not
//
// URLs: `stdout`, `file:/path` (or file:///path, or a relative file:path),
// `http://HOST[:PORT]/PATH[?QUERY]` (batched JSON lines POST; port 80),
// `loki://HOST[:PORT]` (the Loki push API, POST /loki/api/v1/push; port 3100).
// In a config file a sink is a map: {name, url, format, labels, batch_bytes, batch_records,
// timeout, headers, max_file_bytes, keep_files, fsync} (docs/tail.md).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "sidecar/record.hpp"

namespace tender::sidecar {

enum class SinkKind { kStdout, kFile, kHttp, kLoki };

// How a record is written by stdout, file and http sinks (loki has its own shape).
enum class RecordFormat {
  kRaw,   // the text and a newline
  kJson,  // one JSON object per line: time, file, key, offset, message (the text, always),
          // labels, cut, parse_error, then the parsed fields (docs/tail.md has the exact shape)
};

struct SinkConfig {
  std::string name;  // for metrics and logs; defaults to the URL
  SinkKind kind = SinkKind::kStdout;
  std::string url;   // as given
  std::string path;  // kFile
  std::string host;  // kHttp, kLoki
  std::uint16_t port = 0;
  std::string target;                         // kHttp: the path and query; kLoki: /loki/api/v1/push
  RecordFormat format = RecordFormat::kJson;  // kFile and kStdout default to kRaw
  Labels labels;                              // kLoki: stream labels besides the input's
  std::vector<std::pair<std::string, std::string>> headers;  // kHttp, kLoki
  std::chrono::milliseconds timeout{10'000};                 // one write, kHttp and kLoki
  // A batch holds at most this many records and bytes of text (the pipeline forms batches).
  // A batch is the sink's whole memory (records, then their encoding), and the commits that
  // follow batches are queued and share fsyncs, so small batches cost little speed: 1000 lines
  // of 100 bytes ship at millions of lines per second within a 10 MB sidecar.
  std::size_t batch_records = 1'000;
  std::size_t batch_bytes = std::size_t{256} << 10;
  // kFile: rotate when the file would pass max_file_bytes (0: never), keeping keep_files
  // rotated files (path.1 newest ... path.N); fsync after each batch if `fsync`.
  std::uint64_t max_file_bytes = 0;
  int keep_files = 5;
  bool fsync = false;
};

// Parses a --sink URL with defaults for the rest. Throws UsageError naming the URL for an
// unknown scheme, a missing host or path, a bad port, credentials in the URL.
[[nodiscard]] SinkConfig parse_sink_url(const std::string& url);
// Parses a sink map of a config file. Throws ConfigError at the offending key (also for a key
// that does not apply to the sink's kind, such as max_file_bytes on an http sink).
[[nodiscard]] SinkConfig parse_sink(const ConfigNode& node);
// The sink's configuration as /configz shows it: header values and query parameters whose
// names look secret (Authorization, token, ...) are "<redacted>".
[[nodiscard]] boost::json::object sink_json(const SinkConfig& config);

class Sink {
 public:
  virtual ~Sink() = default;
  // Delivers `batch`, in order, and completes once the destination has acknowledged all of it:
  // written (and fsynced if asked) for files and stdout, a 2xx answer for http and loki. An
  // empty batch sends nothing.
  // Fails with an Error whose message names the sink and says why (connection refused, HTTP
  // 503 and the start of its body, ENOSPC); then the caller may write the same batch again, so
  // part of it may reach the destination twice. Writes are not concurrent: one at a time.
  [[nodiscard]] virtual boost::asio::awaitable<Result<>> write(std::span<const Record> batch) = 0;
  [[nodiscard]] virtual const SinkConfig& config() const = 0;
  // Live state for /statusz (bytes written, current file, last error, ...).
  [[nodiscard]] virtual boost::json::object status() const { return {}; }
};

// Builds the sink on `executor` (the tail's one thread). Throws ConfigError when a file sink's
// file cannot be opened for appending (naming it and the reason).
[[nodiscard]] std::unique_ptr<Sink> make_sink(const SinkConfig& config,
                                              const boost::asio::any_io_executor& executor);

// Encodings, shared by the sinks and their tests (no I/O).
// Appends `record` as one line in `format` (with its newline) to `out`.
void encode_record(const Record& record, RecordFormat format, std::string& out);
// A Loki push request body for `batch`: one stream per distinct label set (the sink's labels,
// the input's labels and `filename`), values [time_ns, text, {key, offset}] in batch order.
[[nodiscard]] std::string encode_loki(std::span<const Record> batch, const Labels& sink_labels);

}  // namespace tender::sidecar

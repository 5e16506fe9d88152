#pragma once
// What `tender work` does around one run of the user's command, without I/O beyond the item's
// files: the private directory holding the payload (and, if the command writes it, the
// result), the command's environment, what its end means for the item, and the error text a
// failure is reported with.
//
//   auto files = ItemFiles::create(item.payload);          // Result<ItemFiles>; removed at ~
//   options.env = item_environment(environ, {.id = 7, .attempt = 1, .queue = "q",
//                                            .item_file = files->item_file(),
//                                            .output_file = files->output_file()});
//   ... run the command ...
//   Verdict v = verdict(exited, code, timed_out, cfg.dead_exit_code);
//   std::string error = failure_text(outcome.describe(), outcome.stderr_text, truncated);

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::workqueue {

// The most of stderr's tail a failure is reported with.
inline constexpr std::size_t kErrorTailBytes = 4096;

// A private directory (mode 0700, under $TMPDIR or /tmp) for one run: `item` holds the
// payload; `output` is where the command may write its result. Removed with its contents on
// destruction. Move-only.
class ItemFiles {
 public:
  // Errors (system_category, naming the path): the directory or the item file cannot be
  // created or written (ENOSPC, EACCES, ...). `parent` overrides $TMPDIR.
  [[nodiscard]] static Result<ItemFiles> create(std::string_view payload,
                                                const std::string& parent = "");
  ItemFiles(ItemFiles&& other) noexcept;
  ItemFiles& operator=(ItemFiles&& other) noexcept;
  ItemFiles(const ItemFiles&) = delete;
  ItemFiles& operator=(const ItemFiles&) = delete;
  ~ItemFiles();

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string item_file() const { return dir_ + "/item"; }
  [[nodiscard]] std::string output_file() const { return dir_ + "/output"; }

  // What the command wrote to output_file(), at most `max` bytes (`truncated` tells whether
  // there was more), or nullopt if it wrote no such file. Errors: it exists but cannot be
  // read (e.g. it is a directory).
  struct Output {
    std::string bytes;
    bool truncated = false;
  };
  [[nodiscard]] Result<std::optional<Output>> read_output(std::size_t max) const;

 private:
  explicit ItemFiles(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Where `program` (argv[0]) is found as the runner will spawn it: a name with a slash as it is,
// else in each directory of `path` (a PATH value; empty: "/usr/local/bin:/usr/bin:/bin"),
// the first executable file. Errors (errc::no_such_file_or_directory, naming the program and
// where it was looked for), so that a mistyped command stops the start instead of failing
// every item.
[[nodiscard]] Result<std::string> find_program(const std::string& program, std::string_view path);

// What the command learns of its item.
struct ItemEnv {
  std::uint64_t id = 0;
  int attempt = 0;
  std::string queue;
  std::string item_file;
  std::string output_file;
};
// `base` (a null-terminated "K=V" array, e.g. environ) without any TENDER_ITEM_ID,
// TENDER_ATTEMPT, TENDER_QUEUE, TENDER_ITEM_FILE or TENDER_OUTPUT_FILE it had, plus those five
// for `item`.
[[nodiscard]] std::vector<std::string> item_environment(const char* const* base,
                                                        const ItemEnv& item);

// What the end of a run means for the item.
enum class Verdict {
  kAck,   // exited 0 within the timeout
  kNack,  // failed: retried after a backoff, or dead after its last attempt
  kBury,  // exited with the --dead-exit-code: dead at once
};
[[nodiscard]] Verdict verdict(bool exited, int exit_code, bool timed_out,
                              std::optional<int> dead_exit_code);

// The error a failure is reported with: `what` ("exited 3", "timed out after 5s"), then, if
// stderr said anything, ": " and its last kErrorTailBytes (after "..." when cut), without the
// trailing newline.
[[nodiscard]] std::string failure_text(std::string_view what, std::string_view stderr_tail,
                                       bool stderr_truncated);

}  // namespace tender::workqueue

// libFuzzer target: the redis parsers on arbitrary bytes. Beyond not crashing, it checks what
// the proxy relies on: a parsed command is exactly the bytes it claims, the command parser and
// the reply framer give the same results whether the bytes come at once or in pieces (the
// parser resuming a command cut short), and array_elements agrees with the framer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ambassador/resp.hpp"
#include "check.hpp"

namespace resp = tender::ambassador::resp;

namespace {

// Small limits, so that the fuzzer reaches them.
const resp::Limits kLimits{.max_bulk = 4096, .max_args = 64, .max_inline = 256};

void commands(std::string_view in) {
  while (!in.empty()) {
    resp::Command cmd;
    auto r = resp::parse_command(in, cmd, kLimits);
    if (r.status != resp::Status::kOk) {
      CHECK(r.status == resp::Status::kIncomplete || !r.error.empty());
      CHECK(r.error.find_first_of("\r\n") == std::string::npos);
      return;
    }
    CHECK(cmd.size > 0 && cmd.size <= in.size());
    CHECK(cmd.inline_form || cmd.args.size() <= kLimits.max_args);  // a line bounds the other
    if (!cmd.args.empty()) {
      CHECK(cmd.inline_form || in[0] == '*');
      if (const auto* info = resp::lookup(cmd.args[0])) {
        (void)resp::arity_ok(*info, cmd.args.size());
        std::string out;
        resp::append_arity_error(out, *info);
      } else {
        std::string out;
        resp::append_unknown_command_error(out, cmd.args);
        CHECK(out.rfind("-ERR unknown command", 0) == 0);
      }
      if (cmd.args.size() > 1) {
        auto tag = resp::hash_tag(cmd.args[1]);
        CHECK(tag.data() >= cmd.args[1].data() &&
              tag.data() + tag.size() <= cmd.args[1].data() + cmd.args[1].size());
      }
      // What goes upstream for an inline command parses back to the same arguments.
      std::string again;
      resp::append_command(again, cmd.args);
      resp::Command back;
      CHECK(resp::parse_command(again, back).status == resp::Status::kOk);
      CHECK(back.size == again.size() && back.args == cmd.args);
    }
    in.remove_prefix(cmd.size);
  }
}

// Feeds `in` to `next(bytes, length)` as a connection would, `step` bytes more at a time:
// each call sees the unconsumed bytes received so far and returns kOk with the length of what
// it took, kIncomplete, or kError. Returns the pieces taken; `failed` says whether it ended
// on an error.
template <typename Next>
std::vector<std::string_view> fed(std::string_view in, std::size_t step, bool& failed,
                                  Next&& next) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  std::size_t seen = std::min(in.size(), step);
  failed = false;
  while (start < in.size()) {
    std::size_t length = 0;
    auto r = next(in.substr(start, seen - start), length);
    if (r == resp::Status::kError) {
      failed = true;
      return out;
    }
    if (r == resp::Status::kIncomplete) {
      if (seen == in.size()) {
        return out;
      }
      seen = std::min(in.size(), seen + step);
      continue;
    }
    CHECK(length > 0 && start + length <= seen);
    out.push_back(in.substr(start, length));
    start += length;
    seen = std::max(seen, start);
  }
  return out;
}

// The commands a client connection reads from `in` with one Command reused, as the proxy
// reuses it (so that a command cut short is resumed), each as its arguments.
std::vector<std::vector<std::string>> commands_fed(std::string_view in, std::size_t step,
                                                   bool& failed) {
  std::vector<std::vector<std::string>> out;
  resp::Command cmd;
  fed(in, step, failed, [&](std::string_view bytes, std::size_t& length) {
    auto r = resp::parse_command(bytes, cmd, kLimits);
    if (r.status == resp::Status::kOk) {
      length = cmd.size;
      if (!cmd.args.empty()) {
        out.emplace_back(cmd.args.begin(), cmd.args.end());
      }
    }
    return r.status;
  });
  return out;
}

void commands_any_split(std::string_view in, std::size_t step) {
  bool failed_whole = false;
  bool failed_pieces = false;
  auto whole = commands_fed(in, in.size(), failed_whole);
  auto pieces = commands_fed(in, step, failed_pieces);
  CHECK(whole == pieces && failed_whole == failed_pieces);
}

// Every reply the framer finds in `in`; stops at an error.
std::vector<std::string_view> replies(std::string_view in, std::size_t step, bool& failed) {
  resp::ReplyFramer framer;
  return fed(in, step, failed, [&](std::string_view bytes, std::size_t& length) {
    return framer.next(bytes, length, kLimits).status;
  });
}

void replies_any_split(std::string_view in, std::size_t step) {
  bool failed_whole = false;
  bool failed_pieces = false;
  auto whole = replies(in, in.size(), failed_whole);
  auto pieces = replies(in, step, failed_pieces);
  CHECK(whole == pieces && failed_whole == failed_pieces);
  for (auto reply : whole) {
    std::size_t length = 0;
    CHECK(resp::reply_length(reply, length, kLimits).status == resp::Status::kOk &&
          length == reply.size());
    std::vector<std::string_view> elements;
    if (resp::array_elements(reply, elements)) {
      CHECK(reply[0] == '*');
      for (auto e : elements) {
        CHECK(resp::reply_length(e, length, kLimits).status == resp::Status::kOk &&
              length == e.size());
      }
    }
    (void)resp::parse_integer_reply(reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  commands(in);
  commands_any_split(in, 1 + data[0] % 16);
  replies_any_split(in, 1 + data[0] % 16);
  return 0;
}

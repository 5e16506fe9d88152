#include "ambassador/resp.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tender::ambassador::resp {
namespace {

using Args = std::vector<std::string>;

Args strings(const Command& cmd) { return {cmd.args.begin(), cmd.args.end()}; }

// Parses `buf` expecting one complete command of exactly `buf.size()` bytes.
Args parse_all(std::string_view buf) {
  Command cmd;
  ParseResult result = parse_command(buf, cmd);
  EXPECT_EQ(result.status, Status::kOk) << result.error;
  EXPECT_EQ(cmd.size, buf.size());
  return strings(cmd);
}

std::string parse_error(std::string_view buf, const Limits& limits = {}) {
  Command cmd;
  ParseResult result = parse_command(buf, cmd, limits);
  EXPECT_EQ(result.status, Status::kError) << "for " << buf.substr(0, 40);
  return result.error;
}

// Reads the commands in `buffer` as a client connection would, consuming them, and returns the
// non-empty ones.
std::vector<Args> consume(std::string& buffer, Command& cmd) {
  std::vector<Args> commands;
  for (;;) {
    ParseResult result = parse_command(buffer, cmd);
    if (result.status == Status::kIncomplete) {
      return commands;
    }
    EXPECT_EQ(result.status, Status::kOk) << result.error;
    if (result.status != Status::kOk) {
      return commands;
    }
    EXPECT_GT(cmd.size, 0u);
    if (!cmd.args.empty()) {
      commands.push_back(strings(cmd));
    }
    buffer.erase(0, cmd.size);
  }
}

// A pipeline in the forms a client may mix: arrays, inline lines, blank lines, empty arrays.
struct Unit {
  std::string bytes;
  Args args;  // empty for input redis ignores
};

std::vector<Unit> pipeline_units() {
  return {
      {"*1\r\n$4\r\nPING\r\n", {"PING"}},
      {"SET a b\r\n", {"SET", "a", "b"}},
      {"\r\n", {}},
      {"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n", {"SET", std::string("k\r\n"), ""}},
      {"*0\r\n", {}},
      {"GET \"x y\"\n", {"GET", "x y"}},
      {"*-1\r\n", {}},
      {"*2\r\n$4\r\nMGET\r\n$2\r\nab\r\n", {"MGET", "ab"}},
  };
}

std::string pipeline_bytes() {
  std::string bytes;
  for (const Unit& unit : pipeline_units()) {
    bytes += unit.bytes;
  }
  return bytes;
}

std::vector<Args> pipeline_commands() {
  std::vector<Args> commands;
  for (const Unit& unit : pipeline_units()) {
    if (!unit.args.empty()) {
      commands.push_back(unit.args);
    }
  }
  return commands;
}

TEST(RespParseTest, ArrayOfBulkStrings) {
  Command cmd;
  const std::string buf = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$4\r\nPING\r\n";
  ASSERT_EQ(parse_command(buf, cmd).status, Status::kOk);
  EXPECT_EQ(strings(cmd), (Args{"SET", "a", "b"}));
  EXPECT_EQ(cmd.size, 27u);
  EXPECT_FALSE(cmd.inline_form);
  // Zero-copy: the arguments point into the buffer.
  EXPECT_EQ(cmd.args[1].data(), buf.data() + 17);
}

TEST(RespParseTest, BulkStringsAreBinarySafe) {
  const std::string value("a\r\nb\0c$*", 8);
  EXPECT_EQ(parse_all("*2\r\n$4\r\nECHO\r\n$8\r\n" + value + "\r\n"), (Args{"ECHO", value}));
  EXPECT_EQ(parse_all("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"), (Args{"ECHO", ""}));
}

TEST(RespParseTest, EveryPrefixOfACommandIsIncomplete) {
  for (const Unit& unit : pipeline_units()) {
    for (std::size_t n = 0; n < unit.bytes.size(); ++n) {
      Command cmd;
      EXPECT_EQ(parse_command(std::string_view(unit.bytes).substr(0, n), cmd).status,
                Status::kIncomplete)
          << unit.bytes.substr(0, n);
    }
    Command cmd;
    ASSERT_EQ(parse_command(unit.bytes, cmd).status, Status::kOk) << unit.bytes;
    EXPECT_EQ(cmd.size, unit.bytes.size());
    EXPECT_EQ(strings(cmd), unit.args);
  }
}

TEST(RespParseTest, PipelineSplitAtEveryByte) {
  const std::string bytes = pipeline_bytes();
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    Command cmd;
    std::string buffer = bytes.substr(0, split);
    std::vector<Args> got = consume(buffer, cmd);
    buffer += bytes.substr(split);
    std::vector<Args> rest = consume(buffer, cmd);
    got.insert(got.end(), rest.begin(), rest.end());
    EXPECT_EQ(got, pipeline_commands()) << "split at " << split;
    EXPECT_EQ(buffer, "") << "split at " << split;
  }
}

TEST(RespParseTest, PipelineOneByteAtATime) {
  const std::string bytes = pipeline_bytes();
  Command cmd;
  std::string buffer;
  std::vector<Args> got;
  for (char c : bytes) {
    buffer.push_back(c);
    std::vector<Args> more = consume(buffer, cmd);
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, pipeline_commands());
  EXPECT_EQ(buffer, "");
}

TEST(RespParseTest, ArgsVectorIsReusedNotReallocated) {
  Command cmd;
  ASSERT_EQ(parse_command("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n", cmd).status, Status::kOk);
  const std::string_view* storage = cmd.args.data();
  const std::size_t capacity = cmd.args.capacity();
  ASSERT_EQ(parse_command("*2\r\n$3\r\nGET\r\n$1\r\na\r\n", cmd).status, Status::kOk);
  ASSERT_EQ(parse_command("DEL x y\r\n", cmd).status, Status::kOk);
  EXPECT_EQ(cmd.args.data(), storage);
  EXPECT_EQ(cmd.args.capacity(), capacity);
}

TEST(RespParseTest, InlineCommands) {
  Command cmd;
  ASSERT_EQ(parse_command("PING\r\n", cmd).status, Status::kOk);
  EXPECT_EQ(strings(cmd), (Args{"PING"}));
  EXPECT_TRUE(cmd.inline_form);
  EXPECT_EQ(cmd.size, 6u);
  EXPECT_EQ(parse_all("SET a b\r\n"), (Args{"SET", "a", "b"}));
  EXPECT_EQ(parse_all("  set\ta   b \n"), (Args{"set", "a", "b"}));  // LF alone ends a line too
  EXPECT_EQ(parse_all("GET a\rb\r\n"), (Args{"GET", "a", "b"}));     // a lone CR separates
  EXPECT_EQ(parse_all("$3\r\n"), (Args{"$3"}));  // anything not starting with '*' is inline
}

TEST(RespParseTest, InlineQuotingAsRedisCli) {
  EXPECT_EQ(parse_all("SET \"a b\" 'c d'\r\n"), (Args{"SET", "a b", "c d"}));
  EXPECT_EQ(parse_all("SET k \"\\x41\\x7a\\n\\r\\t\\b\\a\\\"\\\\\\q\"\r\n"),
            (Args{"SET", "k", "Az\n\r\t\b\a\"\\q"}));
  EXPECT_EQ(parse_all("SET k 'it\\'s \\n'\r\n"), (Args{"SET", "k", "it's \\n"}));
  EXPECT_EQ(parse_all("SET k\"v w\" \"\"\r\n"), (Args{"SET", "kv w", ""}));  // quote mid-word
  EXPECT_EQ(parse_all("ECHO \"\\xZZ\"\r\n"), (Args{"ECHO", "xZZ"}));         // not a hex escape
  EXPECT_EQ(parse_error("SET \"a\r\n"), "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse_error("SET 'a\r\n"), "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse_error("SET \"a\"b\r\n"), "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse_error("SET \"a\\\"\r\n"), "Protocol error: unbalanced quotes in request");
}

TEST(RespParseTest, QuotedArgumentsSurviveAMove) {
  std::string buf = "SET \"key one\" plain 'value two'\r\n";
  Command cmd;
  ASSERT_EQ(parse_command(buf, cmd).status, Status::kOk);
  Command moved(std::move(cmd));
  EXPECT_EQ(strings(moved), (Args{"SET", "key one", "plain", "value two"}));
  Command assigned;
  assigned = std::move(moved);
  EXPECT_EQ(strings(assigned), (Args{"SET", "key one", "plain", "value two"}));
}

TEST(RespParseTest, BlankInputIsSkippedAsRedisDoes) {
  Command cmd;
  const std::string buf = "\r\n \r\n\n*0\r\n*-1\r\nPING\r\n";
  ASSERT_EQ(parse_command(buf, cmd).status, Status::kOk);
  EXPECT_TRUE(cmd.args.empty());
  EXPECT_EQ(cmd.size, 15u);  // the whole run, and not the command after it
  ASSERT_EQ(parse_command(std::string_view(buf).substr(cmd.size), cmd).status, Status::kOk);
  EXPECT_EQ(strings(cmd), (Args{"PING"}));

  // Blank lines before an incomplete command are handed back, so they do not pile up.
  ASSERT_EQ(parse_command("\r\n\r\n*1\r\n$4\r\nPI", cmd).status, Status::kOk);
  EXPECT_TRUE(cmd.args.empty());
  EXPECT_EQ(cmd.size, 4u);
  EXPECT_EQ(parse_command("", cmd).status, Status::kIncomplete);
}

TEST(RespParseTest, BadLengths) {
  EXPECT_EQ(parse_error("*abc\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*01\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*+1\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*1 \r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*99999999999999999999\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(parse_error("*1\r\n$x\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(parse_error("*1\r\n$-0\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(parse_error("*1\r\n$\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(parse_error("*1\r\nx"), "Protocol error: expected '$', got 'x'");
  EXPECT_EQ(parse_error("*1\r\n:1\r\n"), "Protocol error: expected '$', got ':'");
  EXPECT_EQ(parse_error("*1\r\n\r\n"), "Protocol error: expected '$', got ' '");  // no raw CR
}

TEST(RespParseTest, MissingCrlf) {
  EXPECT_EQ(parse_error("*1\rx"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*1\r\n$3\rx"), "Protocol error: invalid bulk length");
  EXPECT_EQ(parse_error("*1\r\n$3\r\nGETxx"), "Protocol error: expected CRLF after bulk data");
  EXPECT_EQ(parse_error("*1\r\n$3\r\nGET\rx"), "Protocol error: expected CRLF after bulk data");
  Command cmd;
  EXPECT_EQ(parse_command("*1\r\n$3\r\nGET\r", cmd).status, Status::kIncomplete);
}

TEST(RespParseTest, LimitsExceeded) {
  Limits limits;
  limits.max_args = 2;
  limits.max_bulk = 4;
  limits.max_inline = 16;
  Command cmd;
  EXPECT_EQ(parse_command("*2\r\n$4\r\nECHO\r\n$4\r\nabcd\r\n", cmd, limits).status, Status::kOk);
  EXPECT_EQ(parse_error("*3\r\n", limits), "Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_error("*1\r\n$5\r\n", limits), "Protocol error: invalid bulk length");
  // A line with no end in sight is refused once it passes the limit, not buffered.
  EXPECT_EQ(parse_command(std::string(16, 'a'), cmd, limits).status, Status::kIncomplete);
  EXPECT_EQ(parse_error(std::string(17, 'a'), limits), "Protocol error: too big inline request");
  EXPECT_EQ(parse_error(std::string(20, 'a') + "\r\n", limits),
            "Protocol error: too big inline request");
  EXPECT_EQ(parse_error(std::string("*").append(16, '1'), limits),
            "Protocol error: too big mbulk count string");
  EXPECT_EQ(parse_error("*1\r\n$" + std::string(16, '1'), limits),
            "Protocol error: too big bulk count string");
  EXPECT_EQ(parse_error("*1\r\n$" + std::to_string(Limits{}.max_bulk + 1) + "\r\n"),
            "Protocol error: invalid bulk length");
}

TEST(RespReplyTest, LengthOfEachType) {
  const std::vector<std::string> replies = {
      "+OK\r\n",
      "-ERR no such key\r\n",
      ":0\r\n",
      ":-12\r\n",
      "$3\r\nfoo\r\n",
      "$0\r\n\r\n",
      "$-1\r\n",
      "*-1\r\n",
      "*0\r\n",
      "$4\r\na\r\nb\r\n",
      "*2\r\n$1\r\na\r\n$-1\r\n",
      "*3\r\n*1\r\n:1\r\n*0\r\n*2\r\n+a\r\n*-1\r\n",
      "*2\r\n-ERR x\r\n*1\r\n*1\r\n$0\r\n\r\n",
  };
  for (const std::string& reply : replies) {
    std::size_t length = 0;
    ParseResult result = reply_length(reply, length);
    ASSERT_EQ(result.status, Status::kOk) << reply << result.error;
    EXPECT_EQ(length, reply.size()) << reply;
    result = reply_length(reply + "+NEXT\r\n", length);  // stops at the end of the first
    ASSERT_EQ(result.status, Status::kOk) << reply;
    EXPECT_EQ(length, reply.size()) << reply;
    for (std::size_t n = 0; n < reply.size(); ++n) {
      EXPECT_EQ(reply_length(std::string_view(reply).substr(0, n), length).status,
                Status::kIncomplete)
          << reply.substr(0, n);
    }
  }
}

TEST(RespReplyTest, FramerResumesAcrossReads) {
  const std::vector<std::string> replies = {"*3\r\n$3\r\nfoo\r\n*2\r\n:1\r\n$-1\r\n+OK\r\n",
                                            ":7\r\n", "$5\r\nhello\r\n", "*0\r\n"};
  std::string all;
  for (const std::string& reply : replies) {
    all += reply;
  }
  ReplyFramer framer;
  std::string buffer;
  std::vector<std::string> got;
  for (char c : all) {  // one byte per read: the worst case for resuming
    buffer.push_back(c);
    for (;;) {
      std::size_t length = 0;
      ParseResult result = framer.next(buffer, length);
      if (result.status != Status::kOk) {
        ASSERT_EQ(result.status, Status::kIncomplete) << result.error;
        break;
      }
      got.push_back(buffer.substr(0, length));
      buffer.erase(0, length);
    }
  }
  EXPECT_EQ(got, replies);
  EXPECT_EQ(buffer, "");
}

TEST(RespReplyTest, NestingLimit) {
  std::string ok;
  for (int i = 0; i < ReplyFramer::kMaxDepth; ++i) {
    ok += "*1\r\n";
  }
  ok += ":1\r\n";
  std::size_t length = 0;
  ASSERT_EQ(reply_length(ok, length).status, Status::kOk);
  EXPECT_EQ(length, ok.size());
  ParseResult result = reply_length("*1\r\n" + ok, length);
  EXPECT_EQ(result.status, Status::kError);
  EXPECT_EQ(result.error, "Protocol error: reply nested too deeply");
}

TEST(RespReplyTest, GarbageIsAnError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hello\r\n", "Protocol error: unexpected reply type 'h'"},
      {"\r\n", "Protocol error: unexpected reply type ' '"},
      {":abc\r\n", "Protocol error: invalid integer reply"},
      {":\r\n", "Protocol error: invalid integer reply"},
      {"$-2\r\n", "Protocol error: invalid bulk length"},
      {"$x\r\n", "Protocol error: invalid bulk length"},
      {"$3\r\nfooXY", "Protocol error: expected CRLF after bulk data"},
      {"*-2\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\nhello\r\n", "Protocol error: unexpected reply type 'h'"},
      {"+OK\rX", "Protocol error: expected CRLF after reply line"},
      {std::string("+").append(Limits{}.max_inline + 1, 'a'), "Protocol error: too big reply line"},
      {std::string("$").append(std::to_string(Limits{}.max_bulk + 1)).append("\r\n"),
       "Protocol error: invalid bulk length"},
  };
  for (const auto& [reply, message] : cases) {
    std::size_t length = 0;
    ParseResult result = reply_length(reply, length);
    EXPECT_EQ(result.status, Status::kError) << reply.substr(0, 20);
    EXPECT_EQ(result.error, message) << reply.substr(0, 20);
  }
}

TEST(RespReplyTest, LimitsApply) {
  Limits limits;
  limits.max_args = 2;
  limits.max_bulk = 3;
  std::size_t length = 0;
  EXPECT_EQ(reply_length("*2\r\n$3\r\nabc\r\n:1\r\n", length, limits).status, Status::kOk);
  ParseResult result = reply_length("*3\r\n", length, limits);
  EXPECT_EQ(result.status, Status::kError);
  EXPECT_EQ(result.error, "Protocol error: invalid multibulk length");
  result = reply_length("$4\r\n", length, limits);
  EXPECT_EQ(result.status, Status::kError);
  EXPECT_EQ(result.error, "Protocol error: invalid bulk length");
}

TEST(RespReplyTest, ArrayElementsOfAnMgetReply) {
  std::vector<std::string_view> elements;
  ASSERT_TRUE(array_elements("*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n", elements));
  EXPECT_EQ(elements, (std::vector<std::string_view>{"$1\r\na\r\n", "$-1\r\n", "$0\r\n\r\n"}));
  ASSERT_TRUE(array_elements("*2\r\n*2\r\n:1\r\n:2\r\n-ERR x\r\n", elements));
  EXPECT_EQ(elements, (std::vector<std::string_view>{"*2\r\n:1\r\n:2\r\n", "-ERR x\r\n"}));
  ASSERT_TRUE(array_elements("*0\r\n", elements));
  EXPECT_TRUE(elements.empty());

  EXPECT_FALSE(array_elements("*-1\r\n", elements));                  // null array
  EXPECT_FALSE(array_elements("$1\r\na\r\n", elements));              // not an array
  EXPECT_FALSE(array_elements("*2\r\n$1\r\na\r\n", elements));        // truncated
  EXPECT_FALSE(array_elements("*1\r\n$1\r\na\r\n:1\r\n", elements));  // trailing bytes
  EXPECT_FALSE(array_elements("*1\r\nhello\r\n", elements));          // garbage element
  EXPECT_FALSE(array_elements("", elements));
}

TEST(RespReplyTest, IntegerReplies) {
  EXPECT_EQ(parse_integer_reply(":3\r\n"), 3);
  EXPECT_EQ(parse_integer_reply(":0\r\n"), 0);
  EXPECT_EQ(parse_integer_reply(":-1\r\n"), -1);
  EXPECT_EQ(parse_integer_reply(":9223372036854775807\r\n"), LLONG_MAX);
  EXPECT_EQ(parse_integer_reply(":-9223372036854775808\r\n"), LLONG_MIN);
  EXPECT_EQ(parse_integer_reply(":9223372036854775808\r\n"), std::nullopt);
  EXPECT_EQ(parse_integer_reply("+3\r\n"), std::nullopt);
  EXPECT_EQ(parse_integer_reply("-ERR x\r\n"), std::nullopt);
  EXPECT_EQ(parse_integer_reply(":3"), std::nullopt);
  EXPECT_EQ(parse_integer_reply(":3\r\n:4\r\n"), std::nullopt);
  EXPECT_EQ(parse_integer_reply(":\r\n"), std::nullopt);
  EXPECT_EQ(parse_integer_reply(":+3\r\n"), std::nullopt);
}

TEST(RespWriterTest, ExactBytes) {
  std::string out;
  append_simple(out, "OK");
  append_error(out, "ERR bad\r\nthing");  // must stay one line
  append_integer(out, 42);
  append_integer(out, LLONG_MIN);
  append_bulk(out, "foo");
  append_bulk(out, "");
  append_null_bulk(out);
  append_array_header(out, 2);
  append_null_array(out);
  append_simple(out, "a\nb");
  EXPECT_EQ(out,
            "+OK\r\n-ERR bad  thing\r\n:42\r\n:-9223372036854775808\r\n$3\r\nfoo\r\n$0\r\n\r\n"
            "$-1\r\n*2\r\n*-1\r\n+a b\r\n");
}

TEST(RespWriterTest, CommandRoundTrips) {
  const std::vector<std::string_view> args = {"MGET", "a", "{user1}.b",
                                              std::string_view("\r\n", 2)};
  std::string out = "prefix";
  append_command(out, args);
  EXPECT_EQ(out, "prefix*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$9\r\n{user1}.b\r\n$2\r\n\r\n\r\n");
  Command cmd;
  ASSERT_EQ(parse_command(std::string_view(out).substr(6), cmd).status, Status::kOk);
  EXPECT_EQ(cmd.args, args);
}

TEST(CommandTableTest, LookupIsCaseInsensitive) {
  const CommandInfo* get = lookup("get");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(lookup("GET"), get);
  EXPECT_EQ(lookup("gEt"), get);
  EXPECT_EQ(get->name, "get");
  EXPECT_EQ(get->kind, Kind::kSingleKey);
  EXPECT_EQ(get->arity, 2);
  for (const CommandInfo& info : all_commands()) {
    std::string upper(info.name);
    for (char& c : upper) {
      c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    EXPECT_EQ(lookup(info.name), &info) << info.name;
    EXPECT_EQ(lookup(upper), &info) << upper;
  }
}

TEST(CommandTableTest, UnknownNames) {
  EXPECT_EQ(lookup(""), nullptr);
  EXPECT_EQ(lookup("nosuchcommand"), nullptr);
  EXPECT_EQ(lookup("gett"), nullptr);
  EXPECT_EQ(lookup("ge"), nullptr);
  EXPECT_EQ(lookup(std::string(1000, 'g')), nullptr);
  EXPECT_EQ(lookup(std::string_view("get\0", 4)), nullptr);
}

TEST(CommandTableTest, Kinds) {
  auto kind = [](std::string_view name) {
    const CommandInfo* info = lookup(name);
    EXPECT_NE(info, nullptr) << name;
    return info != nullptr ? info->kind : Kind::kUnsupported;
  };
  for (auto name :
       {"get",     "set",           "incr",   "hget", "hset",   "lpush",  "lrange",   "sadd",
        "zadd",    "zrangebyscore", "expire", "ttl",  "type",   "setbit", "bitcount", "pfadd",
        "pfcount", "xadd",          "xrange", "xlen", "geoadd", "getex"}) {
    EXPECT_EQ(kind(name), Kind::kSingleKey) << name;
  }
  for (auto name : {"mget", "del", "unlink", "exists", "touch"}) {
    EXPECT_EQ(kind(name), Kind::kMultiKey) << name;
  }
  EXPECT_EQ(kind("mset"), Kind::kMultiKeyValue);
  for (auto name : {"ping", "quit", "select", "echo", "auth", "hello", "client"}) {
    EXPECT_EQ(kind(name), Kind::kLocal) << name;
  }
  for (auto name :
       {"keys",  "scan",   "flushall", "multi",     "exec",    "watch",      "subscribe",
        "eval",  "rename", "smove",    "rpoplpush", "sunion",  "sinter",     "sdiff",
        "blpop", "config", "debug",    "shutdown",  "cluster", "migrate",    "msetnx",
        "xread", "reset",  "monitor",  "pfmerge",   "bitop",   "zunionstore"}) {
    EXPECT_EQ(kind(name), Kind::kUnsupported) << name;
  }
}

TEST(CommandTableTest, Arity) {
  const CommandInfo& get = *lookup("get");
  EXPECT_FALSE(arity_ok(get, 1));
  EXPECT_TRUE(arity_ok(get, 2));
  EXPECT_FALSE(arity_ok(get, 3));
  const CommandInfo& set = *lookup("set");  // -3: at least key and value
  EXPECT_FALSE(arity_ok(set, 2));
  EXPECT_TRUE(arity_ok(set, 3));
  EXPECT_TRUE(arity_ok(set, 6));
  const CommandInfo& mset = *lookup("mset");  // pairs
  EXPECT_FALSE(arity_ok(mset, 2));
  EXPECT_TRUE(arity_ok(mset, 3));
  EXPECT_FALSE(arity_ok(mset, 4));
  EXPECT_TRUE(arity_ok(mset, 5));
  EXPECT_FALSE(arity_ok(*lookup("mget"), 1));
  EXPECT_TRUE(arity_ok(*lookup("mget"), 2));
  EXPECT_TRUE(arity_ok(*lookup("ping"), 1));
  EXPECT_FALSE(arity_ok(*lookup("pfcount"), 3));  // several keys would be merged: refused
}

TEST(CommandTableTest, ErrorsInRedisWording) {
  std::string out;
  append_arity_error(out, *lookup("GET"));
  EXPECT_EQ(out, "-ERR wrong number of arguments for 'get' command\r\n");

  out.clear();
  const std::vector<std::string_view> foo = {"foo", "a", "b"};
  append_unknown_command_error(out, foo);
  EXPECT_EQ(out, "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");

  out.clear();
  const std::vector<std::string_view> alone = {"FOO"};
  append_unknown_command_error(out, alone);
  EXPECT_EQ(out, "-ERR unknown command 'FOO', with args beginning with: \r\n");

  // As redis: the argument list stops once it reaches 128 bytes, the last one cut to fit.
  out.clear();
  const std::string long_arg(200, 'x');
  const std::vector<std::string_view> many = {"foo", "ab", long_arg, "c"};
  append_unknown_command_error(out, many);
  EXPECT_EQ(out, "-ERR unknown command 'foo', with args beginning with: 'ab' '" +
                     std::string(123, 'x') + "' \r\n");

  out.clear();
  const std::vector<std::string_view> newline = {"a\r\nb"};
  append_unknown_command_error(out, newline);
  EXPECT_EQ(out, "-ERR unknown command 'a  b', with args beginning with: \r\n");
}

TEST(HashTagTest, RedisClusterRule) {
  EXPECT_EQ(hash_tag("plain"), "plain");
  EXPECT_EQ(hash_tag(""), "");
  EXPECT_EQ(hash_tag("{a}b"), "a");
  EXPECT_EQ(hash_tag("{user1}.a"), "user1");
  EXPECT_EQ(hash_tag("{user1}.b"), "user1");
  EXPECT_EQ(hash_tag("a{}b"), "a{}b");
  EXPECT_EQ(hash_tag("a{b"), "a{b");
  EXPECT_EQ(hash_tag("a}b{"), "a}b{");
  EXPECT_EQ(hash_tag("{}{a}"), "{}{a}");
  EXPECT_EQ(hash_tag("x{y}z{w}"), "y");
  EXPECT_EQ(hash_tag("{{a}}"), "{a");
  EXPECT_EQ(hash_tag("a{b}"), "b");
}

std::string resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }
  return out;
}

// A command that arrives in many reads is parsed once in all: the arguments read by earlier
// calls are not read again (so an MGET of n keys costs O(n), not O(n) per read).
TEST(RespParseTest, ACommandArrivingInPiecesIsParsedOnceInAll) {
  std::vector<std::string> args = {"MGET"};
  for (int i = 0; i < 20'000; ++i) {
    args.push_back("key:" + std::to_string(i));
  }
  std::string bytes = resp_command(args);
  Command cmd;
  std::string buf;
  std::size_t at = 0;
  bool marked = false;
  ParseResult r;
  while (at < bytes.size()) {
    std::size_t n = std::min<std::size_t>(4096, bytes.size() - at);
    buf.append(bytes, at, n);
    at += n;
    r = parse_command(buf, cmd);
    if (r.status == Status::kOk) {
      break;
    }
    ASSERT_EQ(r.status, Status::kIncomplete);
    if (!marked && buf.size() > 8192) {
      // Spoil an argument the parser has been through: read again, it would be refused.
      std::size_t len = buf.find("$5\r\nkey:1");
      ASSERT_NE(len, std::string::npos);
      buf[len + 1] = 'x';
      marked = true;
    }
  }
  ASSERT_EQ(r.status, Status::kOk) << r.error;
  EXPECT_TRUE(marked);
  EXPECT_EQ(cmd.size, bytes.size());
  ASSERT_EQ(cmd.args.size(), args.size());
  EXPECT_EQ(cmd.args.back(), "key:19999");
  EXPECT_EQ(cmd.args[1], "key:0");
  // Other bytes first: the parser starts afresh, and does not mistake them for the old ones.
  Command again;
  ASSERT_EQ(parse_command(bytes.substr(0, 5000), again).status, Status::kIncomplete);
  std::string other = resp_command({"GET", "x"});
  ASSERT_EQ(parse_command(other, again).status, Status::kOk);
  EXPECT_EQ(std::vector<std::string>(again.args.begin(), again.args.end()),
            (std::vector<std::string>{"GET", "x"}));
}

TEST(RespParseTest, UnauthenticatedLimitsAreRedisOwn) {
  EXPECT_EQ(parse_error("*11\r\n", kUnauthenticated),
            "Protocol error: unauthenticated multibulk length");
  EXPECT_EQ(parse_error("*2\r\n$3\r\nGET\r\n$16385\r\n", kUnauthenticated),
            "Protocol error: unauthenticated bulk length");
  Command cmd;
  EXPECT_EQ(parse_command("*2\r\n$3\r\nGET\r\n$16384\r\n", cmd, kUnauthenticated).status,
            Status::kIncomplete);
}

}  // namespace
}  // namespace tender::ambassador::resp

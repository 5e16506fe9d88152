#include "core/resp.hpp"

#include <charconv>

namespace tender::resp {
namespace {

constexpr int kMaxDepth = 8;

Error not_resp(std::string_view why) {
  return Error(std::errc::protocol_error, "not RESP: " + std::string(why));
}

Error too_large(std::size_t max_bytes) {
  return Error(std::errc::message_size,
               "reply larger than " + std::to_string(max_bytes) + " bytes");
}

struct Parser {
  std::string_view in;
  std::size_t max_bytes;
  std::size_t at = 0;

  // The line at `at` (without CRLF), advancing past it; nullopt when incomplete.
  Result<std::optional<std::string_view>> line() {
    std::size_t end = in.find("\r\n", at);
    if (end == std::string_view::npos) {
      if (in.size() > max_bytes) {
        return too_large(max_bytes);
      }
      return std::optional<std::string_view>();
    }
    std::string_view l = in.substr(at, end - at);
    if (l.find('\n') != std::string_view::npos || l.find('\r') != std::string_view::npos) {
      return not_resp("a bare CR or LF in a line");
    }
    at = end + 2;
    if (at > max_bytes) {
      return too_large(max_bytes);
    }
    return std::optional<std::string_view>(l);
  }

  static Result<std::int64_t> number(std::string_view s) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
      return not_resp("bad length or integer \"" + std::string(s.substr(0, 32)) + "\"");
    }
    return n;
  }

  // One value at `at`; nullopt when incomplete.
  Result<std::optional<Value>> value(int depth) {
    if (depth > kMaxDepth) {
      return not_resp("nested deeper than " + std::to_string(kMaxDepth));
    }
    auto l = line();
    if (!l) {
      return l.error();
    }
    if (!*l) {
      return std::optional<Value>();
    }
    std::string_view s = **l;
    if (s.empty()) {
      return not_resp("an empty line");
    }
    Value v;
    std::string_view rest = s.substr(1);
    switch (s[0]) {
      case '+':
        v.kind = Value::Kind::kSimple;
        v.text = rest;
        return std::optional<Value>(std::move(v));
      case '-':
        v.kind = Value::Kind::kError;
        v.text = rest;
        return std::optional<Value>(std::move(v));
      case ':': {
        auto n = number(rest);
        if (!n) {
          return n.error();
        }
        v.kind = Value::Kind::kInteger;
        v.integer = *n;
        return std::optional<Value>(std::move(v));
      }
      case '$':
        return bulk(rest);
      case '*':
        return array(rest, depth);
      default:
        return not_resp("a reply starting with byte " +
                        std::to_string(static_cast<unsigned char>(s[0])));
    }
  }

  Result<std::optional<Value>> bulk(std::string_view header) {
    auto n = number(header);
    if (!n) {
      return n.error();
    }
    Value v;
    if (*n == -1) {
      return std::optional<Value>(std::move(v));  // nil
    }
    if (*n < 0) {
      return not_resp("bulk length " + std::to_string(*n));
    }
    auto len = static_cast<std::uint64_t>(*n);
    if (len + 2 > max_bytes || at + len + 2 > max_bytes) {
      return too_large(max_bytes);
    }
    if (in.size() < at + len + 2) {
      return std::optional<Value>();
    }
    if (in.substr(at + len, 2) != "\r\n") {
      return not_resp("a bulk string not ended by CRLF");
    }
    v.kind = Value::Kind::kBulk;
    v.text = in.substr(at, len);
    at += len + 2;
    return std::optional<Value>(std::move(v));
  }

  Result<std::optional<Value>> array(std::string_view header, int depth) {
    auto n = number(header);
    if (!n) {
      return n.error();
    }
    Value v;
    if (*n == -1) {
      return std::optional<Value>(std::move(v));  // nil
    }
    if (*n < 0) {
      return not_resp("array length " + std::to_string(*n));
    }
    // Each element takes at least 3 bytes ("+\r\n"): a count that cannot fit is refused now.
    if (static_cast<std::uint64_t>(*n) > max_bytes / 3) {
      return too_large(max_bytes);
    }
    v.kind = Value::Kind::kArray;
    v.elements.reserve(static_cast<std::size_t>(std::min<std::int64_t>(*n, 1024)));
    for (std::int64_t i = 0; i < *n; ++i) {
      auto e = value(depth + 1);
      if (!e) {
        return e.error();
      }
      if (!*e) {
        return std::optional<Value>();
      }
      v.elements.push_back(std::move(**e));
    }
    return std::optional<Value>(std::move(v));
  }
};

}  // namespace

std::string Value::describe() const {
  switch (kind) {
    case Kind::kSimple:
      return "+" + text;
    case Kind::kError:
      return "-" + text;
    case Kind::kInteger:
      return ":" + std::to_string(integer);
    case Kind::kBulk:
      return "$" + std::to_string(text.size());
    case Kind::kArray:
      return "*" + std::to_string(elements.size());
    case Kind::kNull:
      break;
  }
  return "nil";
}

std::string command(std::span<const std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    out += "$";
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

std::string command(std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

Reply parse_reply(std::string_view in, std::size_t max_bytes) {
  Parser p{in, max_bytes};
  auto v = p.value(0);
  if (!v) {
    return v.error();
  }
  if (!*v) {
    return std::optional<Parsed>();
  }
  return std::optional<Parsed>(Parsed{std::move(**v), p.at});
}

}  // namespace tender::resp

#include "core/http1.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

#include "core/http.hpp"

namespace tender::http1 {
namespace {

// RFC 9110 5.6.2 token characters.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
    t[static_cast<std::size_t>(c - 'a' + 'A')] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!kTchar[static_cast<unsigned char>(c)]) {
      return false;
    }
  }
  return true;
}

// Field values: visible characters, spaces, tabs and obs-text; no other control character.
bool valid_value(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return false;
    }
  }
  return true;
}

// Calls f(token) for each element of a comma-separated list; stops when f returns false.
template <typename F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto token = trim_ows(list.substr(0, comma));
    if (!token.empty() && !f(token)) {
      return;
    }
    if (comma == std::string_view::npos) {
      return;
    }
    list.remove_prefix(comma + 1);
  }
}

// "HTTP/1.x": the minor version, -1 for another HTTP version, -2 for no version at all.
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
      v[7] < '0' || v[7] > '9') {
    return -2;
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    return -1;
  }
  return v[7] - '0';
}

Parse fail(Error& err, int status, std::string reason, bool too_large = false) {
  err.status = status;
  err.reason = std::move(reason);
  err.too_large = too_large;
  return Parse::kError;
}

// Finds the end of the head that starts at `pos`: the offset past its empty line, 0 if the
// bytes hold no complete head yet.
std::size_t head_end(std::string_view in, std::size_t pos) {
  while (pos < in.size()) {
    const void* nl = std::memchr(in.data() + pos, '\n', in.size() - pos);
    if (nl == nullptr) {
      return 0;
    }
    std::size_t next = static_cast<std::size_t>(static_cast<const char*>(nl) - in.data()) + 1;
    if (next < in.size() && in[next] == '\n') {
      return next + 1;
    }
    if (next + 1 < in.size() && in[next] == '\r' && in[next + 1] == '\n') {
      return next + 2;
    }
    pos = next;
  }
  return 0;
}

// The next line in [pos, end) without its line ending; moves pos past it.
std::string_view next_line(std::string_view in, std::size_t& pos) {
  auto nl = in.find('\n', pos);
  std::string_view line = in.substr(pos, nl - pos);
  pos = nl + 1;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

bool parse_length(std::string_view v, std::uint64_t& out) {
  bool any = false;
  bool ok = true;
  std::uint64_t first = 0;
  for_each_token(v, [&](std::string_view t) {
    std::uint64_t n = 0;
    if (t.size() > 15) {  // 10^15 bytes: more than any body we will see
      ok = false;
      return false;
    }
    for (char c : t) {
      if (c < '0' || c > '9') {
        ok = false;
        return false;
      }
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (any && n != first) {
      ok = false;
      return false;
    }
    first = n;
    any = true;
    return true;
  });
  out = first;
  return ok && any;
}

// The transfer codings a message lists, over all its Transfer-Encoding fields in order.
struct TransferCodings {
  int chunked = 0;            // how many times chunked is listed
  bool chunked_last = false;  // the last coding is chunked
  int others = 0;
  std::string_view other;  // the first coding that is not chunked
  bool malformed = false;  // an empty element, or one that is not a token (a quoted string)

  void add(std::string_view value) {
    std::string_view list = value;
    for (;;) {
      auto comma = list.find(',');
      auto t = trim_ows(list.substr(0, comma));
      // A coding may carry parameters ("gzip;q=1"): the name is what comes before them.
      auto name = trim_ows(t.substr(0, t.find(';')));
      if (!is_token(name)) {
        malformed = true;
      } else if (iequals(name, "chunked")) {
        ++chunked;
        malformed = malformed || name.size() != t.size();  // chunked takes no parameters
      } else if (others++ == 0) {
        other = name;
      }
      chunked_last = iequals(name, "chunked");
      if (comma == std::string_view::npos) {
        return;
      }
      list.remove_prefix(comma + 1);
    }
  }
};

// The fields after the start line, and what they say about framing and the connection.
Parse parse_fields(std::string_view in, std::size_t pos, std::size_t end, bool request,
                   bool no_body, Head& out, Error& err) {
  bool close = false;
  bool keep_alive = false;
  bool has_length = false;
  bool has_te = false;
  bool chunked_last = false;
  bool has_host = false;
  int length_fields = 0;
  TransferCodings te;
  bool upgrade_token = false;  // Connection lists "upgrade"
  std::string_view upgrade;
  out.fields.clear();
  while (pos < end) {
    std::string_view line = next_line(in, pos);
    if (line.empty()) {
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return fail(err, 400, "folded header lines are not accepted");
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail(err, 400, "header line without a colon");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_token(name)) {
      return fail(err, 400, "malformed header name");
    }
    if (!valid_value(value)) {
      return fail(err, 400, "control character in the value of " + std::string(name));
    }
    out.fields.push_back({name, value});
    switch (name.size()) {
      case 4:
        if (request && iequals(name, "host")) {
          if (has_host) {
            return fail(err, 400, "more than one Host field");
          }
          has_host = true;
          out.host = value;
        }
        break;
      case 6:
        if (request && iequals(name, "expect") && iequals(value, "100-continue")) {
          out.expect_continue = true;
        }
        break;
      case 7:
        if (iequals(name, "upgrade") && upgrade.empty()) {
          upgrade = value;
        }
        break;
      case 10:
        if (iequals(name, "connection")) {
          for_each_token(value, [&](std::string_view t) {
            close = close || iequals(t, "close");
            keep_alive = keep_alive || iequals(t, "keep-alive");
            upgrade_token = upgrade_token || iequals(t, "upgrade");
            return true;
          });
        }
        break;
      case 14:
        if (iequals(name, "content-length")) {
          std::uint64_t n = 0;
          ++length_fields;
          if (!parse_length(value, n) || (has_length && n != out.length)) {
            return fail(err, 400, "invalid Content-Length");
          }
          if (request && (length_fields > 1 || value.find(',') != std::string_view::npos)) {
            return fail(err, 400, "more than one Content-Length");
          }
          has_length = true;
          out.length = n;
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) {
          has_te = true;
          te.add(value);
          chunked_last = te.chunked_last;
        }
        break;
      default:
        break;
    }
  }
  out.size = end;
  out.keep_alive = !close && (out.minor >= 1 || keep_alive);
  out.has_length = has_length;
  out.has_te = has_te;
  out.upgrade = upgrade_token && out.minor >= 1 ? upgrade : std::string_view{};
  if (request) {
    if (!has_host && out.minor >= 1) {
      return fail(err, 400, "an HTTP/1.1 request needs a Host field");
    }
    if (has_te) {
      if (out.minor == 0) {
        return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
      }
      if (has_length) {
        return fail(err, 400, "both Transfer-Encoding and Content-Length");
      }
      if (te.malformed || te.chunked > 1 || (te.chunked == 1 && !te.chunked_last) ||
          (te.chunked == 0 && te.others == 0)) {
        // Anything a server could read otherwise: the body would be taken for the next request.
        return fail(err, 400,
                    "malformed Transfer-Encoding: a request's codings must end with chunked, "
                    "applied once");
      }
      if (te.others > 0) {
        return fail(
            err, 501,
            "transfer coding " + std::string(te.other) + " is not supported: only chunked is");
      }
      out.framing = Framing::kChunked;
    } else {
      out.framing = has_length && out.length > 0 ? Framing::kLength : Framing::kNone;
    }
    return Parse::kDone;
  }
  if (no_body) {
    out.framing = Framing::kNone;
  } else if (has_te) {
    out.framing = chunked_last ? Framing::kChunked : Framing::kUntilClose;
  } else if (has_length) {
    out.framing = out.length > 0 ? Framing::kLength : Framing::kNone;
  } else {
    out.framing = Framing::kUntilClose;
  }
  if (out.framing == Framing::kUntilClose || (has_te && has_length)) {
    out.keep_alive = false;
  }
  return Parse::kDone;
}

void reset(Head& out) {
  out.method = out.target = out.reason = out.host = out.upgrade = {};
  out.status = 0;
  out.minor = 1;
  out.size = 0;
  out.framing = Framing::kNone;
  out.length = 0;
  out.keep_alive = true;
  out.expect_continue = false;
}

// Fields a proxy does not forward (RFC 9110 7.6.1), besides those Connection names.
bool hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    default:
      return false;
  }
}

// The field names a Connection field of `head` declares hop-by-hop (besides close and
// keep-alive), collected once per message. Framing fields and Host are never dropped this way: a
// Connection field must not change where a message ends or where it goes.
void connection_named(const Head& head, std::vector<std::string_view>& out) {
  out.clear();
  for (const auto& f : head.fields) {
    if (f.name.size() == 10 && iequals(f.name, "connection")) {
      for_each_token(f.value, [&](std::string_view t) {
        if (!iequals(t, "close") && !iequals(t, "keep-alive") && !iequals(t, "content-length") &&
            !iequals(t, "transfer-encoding") && !iequals(t, "host")) {
          out.push_back(t);
        }
        return true;
      });
    }
  }
}

bool named(const std::vector<std::string_view>& names, std::string_view field) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return iequals(n, field); });
}

bool is_framing(std::string_view name) {
  return (name.size() == 14 && iequals(name, "content-length")) ||
         (name.size() == 17 && iequals(name, "transfer-encoding"));
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

std::string_view Head::field(std::string_view name) const {
  for (const auto& f : fields) {
    if (iequals(f.name, name)) {
      return f.value;
    }
  }
  return {};
}

Parse parse_request(std::string_view in, std::size_t max_head, Head& out, Error& err) {
  reset(out);
  std::size_t pos = 0;
  while (pos < in.size() && (in[pos] == '\r' || in[pos] == '\n') && pos < 64) {
    ++pos;  // RFC 9112 2.2: empty lines before a request line are ignored
  }
  std::size_t end = head_end(in, pos);
  if (end == 0 || end > max_head) {
    if (end > max_head || in.size() >= max_head) {
      return fail(err, 431,
                  "the request head is larger than " + std::to_string(max_head) + " bytes", true);
    }
    return Parse::kIncomplete;
  }
  std::string_view line = next_line(in, pos);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    return fail(err, 400, "malformed request line");
  }
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(out.method)) {
    return fail(err, 400, "malformed method");
  }
  if (out.target.empty()) {
    return fail(err, 400, "empty request target");
  }
  for (char ch : out.target) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      return fail(err, 400, "malformed request target");
    }
  }
  int minor = parse_version(line.substr(sp2 + 1));
  if (minor == -1) {
    return fail(err, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  if (minor < 0) {
    return fail(err, 400, "malformed HTTP version");
  }
  out.minor = minor;
  if (out.method == "CONNECT") {
    return fail(err, 501, "CONNECT is not supported");
  }
  return parse_fields(in, pos, end, true, false, out, err);
}

Parse parse_response(std::string_view in, std::size_t max_head, bool to_head, Head& out,
                     Error& err) {
  reset(out);
  std::size_t end = head_end(in, 0);
  if (end == 0 || end > max_head) {
    if (end > max_head || in.size() >= max_head) {
      return fail(err, 502,
                  "the response head is larger than " + std::to_string(max_head) + " bytes", true);
    }
    return Parse::kIncomplete;
  }
  std::size_t pos = 0;
  std::string_view line = next_line(in, pos);
  int minor = parse_version(line.substr(0, 8));
  if (minor < 0 || line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return fail(err, 502, "malformed status line");
  }
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return fail(err, 502, "malformed status code");
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) {
    return fail(err, 502, "malformed status code");
  }
  out.minor = minor;
  out.status = status;
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view();
  if (!valid_value(out.reason)) {
    return fail(err, 502, "control character in the reason phrase");
  }
  // RFC 9112 6.3: these have no body whatever their fields say; with both Transfer-Encoding
  // and Content-Length, Transfer-Encoding wins and the connection closes after.
  bool no_body = to_head || status / 100 == 1 || status == 204 || status == 304;
  Parse p = parse_fields(in, pos, end, false, no_body, out, err);
  if (p == Parse::kError) {
    err.status = 502;
  }
  return p;
}

void write_request_head(const Head& head, std::string_view client_ip, std::string& out) {
  out.clear();
  out.append(head.method);
  out.push_back(' ');
  out.append(head.target);
  out.append(head.minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  thread_local std::vector<std::string_view> names;
  connection_named(head, names);
  std::string_view xff_first;
  std::string xff;
  int xff_fields = 0;
  for (const auto& f : head.fields) {
    // Framing goes as one canonical field, written below.
    if (hop_by_hop(f.name) || is_framing(f.name) ||
        (f.name.size() == 6 && iequals(f.name, "expect")) || named(names, f.name)) {
      continue;
    }
    if (!client_ip.empty() && f.name.size() == 15 && iequals(f.name, "x-forwarded-for")) {
      if (xff_fields++ == 0) {
        xff_first = f.value;
      } else {
        if (xff.empty()) {
          xff.assign(xff_first);
        }
        xff.append(", ").append(f.value);
      }
      continue;
    }
    append_field(out, f.name, f.value);
  }
  if (!client_ip.empty()) {
    out.append("X-Forwarded-For: ");
    if (xff_fields > 0) {
      out.append(xff_fields == 1 ? xff_first : std::string_view(xff));
      out.append(", ");
    }
    out.append(client_ip);
    out.append("\r\n");
  }
  if (head.framing == Framing::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (head.has_length) {
    out.append("Content-Length: ");
    out.append(std::to_string(head.length));
    out.append("\r\n");
  }
  if (!head.upgrade.empty()) {
    out.append("Connection: Upgrade\r\n");
    append_field(out, "Upgrade", head.upgrade);
  } else if (head.minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

namespace {

// "HTTP/1.1 STATUS REASON" in place of what `out` held.
void status_line(const Head& head, std::string& out) {
  out.clear();
  out.append("HTTP/1.1 ");
  out.append(std::to_string(head.status));
  out.push_back(' ');
  out.append(head.reason);
  out.append("\r\n");
}

}  // namespace

void write_response_head(const Head& head, int client_minor, bool keep_alive, bool dechunk,
                         std::string& out) {
  status_line(head, out);
  thread_local std::vector<std::string_view> names;
  connection_named(head, names);
  for (const auto& f : head.fields) {
    // Content-Length goes as one canonical field, and not at all beside Transfer-Encoding.
    if (hop_by_hop(f.name) || named(names, f.name) ||
        (f.name.size() == 14 && iequals(f.name, "content-length")) ||
        (dechunk && f.name.size() == 17 && iequals(f.name, "transfer-encoding"))) {
      continue;
    }
    append_field(out, f.name, f.value);
  }
  if (head.has_length && !head.has_te) {
    out.append("Content-Length: ");
    out.append(std::to_string(head.length));
    out.append("\r\n");
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (client_minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void write_upgrade_response_head(const Head& head, std::string& out) {
  status_line(head, out);
  thread_local std::vector<std::string_view> names;
  connection_named(head, names);
  for (const auto& f : head.fields) {
    if (hop_by_hop(f.name) || named(names, f.name) || is_framing(f.name)) {
      continue;
    }
    append_field(out, f.name, f.value);
  }
  out.append("Connection: Upgrade\r\n");
  append_field(out, "Upgrade", head.upgrade);
  out.append("\r\n");
}

bool forward_trailers(std::string_view lines, std::string& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos < lines.size()) {
    auto eol = lines.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      return false;
    }
    std::string_view line = lines.substr(pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_token(name) || !valid_value(value)) {
      return false;
    }
    // Fields that would change how the message is framed, routed or handled, or who it seems
    // to come from, were a server to merge trailers into the head.
    static constexpr std::string_view kDropped[] = {
        "host",          "content-type",    "content-encoding",
        "authorization", "expect",          "proxy-authorization",
        "cookie",        "x-forwarded-for", "forwarded",
        "x-real-ip"};
    if (hop_by_hop(name) || is_framing(name) ||
        std::any_of(std::begin(kDropped), std::end(kDropped),
                    [&](std::string_view d) { return iequals(name, d); })) {
      continue;
    }
    append_field(out, name, value);
  }
  return true;
}

std::string local_response(int status, std::string_view body, bool keep_alive) {
  std::string out;
  out.reserve(160 + body.size());
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(tender::reason_phrase(status));
  out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nServer: tender-proxy\r\n");
  out.append("Content-Length: ");
  out.append(std::to_string(body.size()));
  out.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  out.append(body);
  return out;
}

}  // namespace tender::http1

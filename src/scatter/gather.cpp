#include "scatter/gather.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace tender::scatter {

namespace json = boost::json;

Result<milliseconds> request_deadline(const Request& req, milliseconds fallback, milliseconds max) {
  auto v = req.headers.get("X-Tender-Deadline-Ms");
  if (!v) {
    return fallback;
  }
  std::string_view t = trim_ows(*v);
  long long ms = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
  if (ec != std::errc() || p != t.data() + t.size() || ms < 1 || ms > max.count()) {
    return Error(std::errc::invalid_argument,
                 "X-Tender-Deadline-Ms must be a whole number of milliseconds from 1 to " +
                     std::to_string(max.count()) + ", not \"" + std::string(t) + "\"");
  }
  return milliseconds(ms);
}

Result<Timing> parse_timing(std::string_view text) {
  if (text == "off") {
    return Timing::kOff;
  }
  if (text == "header") {
    return Timing::kHeader;
  }
  if (text == "wrapper") {
    return Timing::kWrapper;
  }
  return Error(std::errc::invalid_argument,
               "timing must be off, header or wrapper, not \"" + std::string(text) + "\"");
}

std::string_view timing_name(Timing t) {
  switch (t) {
    case Timing::kOff:
      return "off";
    case Timing::kHeader:
      return "header";
    case Timing::kWrapper:
      return "wrapper";
  }
  return "off";
}

Result<Timing> request_timing(const Request& req, Timing fallback) {
  auto v = req.headers.get("X-Tender-Timing");
  if (!v) {
    return fallback;
  }
  auto t = parse_timing(trim_ows(*v));
  if (!t) {
    return Error(std::errc::invalid_argument, "X-Tender-Timing: " + t.error().message());
  }
  return t;
}

std::string leaf_head(const Request& req, const std::vector<std::string>& pass) {
  std::string out;
  out.reserve(128 + req.target.size());
  out += req.method == "HEAD" ? std::string_view("GET") : std::string_view(req.method);
  out += ' ';
  out += req.target;
  out += " HTTP/1.1\r\n";
  auto add = [&](std::string_view name) {
    for (const auto& f : req.headers.fields()) {
      if (iequals(f.name, name)) {
        out += f.name;
        out += ": ";
        out += f.value;
        out += "\r\n";
      }
    }
  };
  add("Content-Type");
  for (const auto& p : pass) {
    if (!iequals(p, "Content-Type") && !iequals(p, "Host") && !iequals(p, "Content-Length") &&
        !iequals(p, "Transfer-Encoding") && !iequals(p, "Connection") &&
        !iequals(p, "X-Tender-Deadline-Ms")) {
      add(p);
    }
  }
  return out;
}

void leaf_request(std::string& out, std::string_view head, std::string_view host,
                  long long deadline_ms, std::string_view body, bool send_length) {
  out.clear();
  out.reserve(head.size() + host.size() + body.size() + 64);
  out += head;
  out += "Host: ";
  out += host;
  out += "\r\nX-Tender-Deadline-Ms: ";
  out += std::to_string(std::max<long long>(deadline_ms, 1));
  out += "\r\n";
  if (send_length || !body.empty()) {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
}

namespace {

std::string ms_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ms);
  return buf;
}

}  // namespace

std::string timing_header(std::span<const ShardOutcome> shards) {
  std::string out;
  for (const auto& s : shards) {
    if (!out.empty()) {
      out += ", ";
    }
    out += s.shard;
    out += ";ms=";
    out += ms_text(s.ms);
    if (s.hedged) {
      out += ";hedged";
      if (s.hedge_won) {
        out += ";won";
      }
    }
    if (s.partial) {
      out += ";partial";
    }
    if (!s.answered) {
      out += ";missing";
      if (!s.error.empty()) {
        out += ";error=\"";
        for (char ch : s.error) {
          out += (ch == '"' || ch == '\\' || ch == '\r' || ch == '\n') ? ' ' : ch;
        }
        out += '"';
      }
    }
  }
  return out;
}

json::value timing_wrapper(json::value result, bool partial, std::span<const std::string> missing,
                           std::span<const ShardOutcome> shards) {
  json::object o;
  o["result"] = std::move(result);
  o["partial"] = partial;
  json::array m;
  for (const auto& s : missing) {
    m.emplace_back(s);
  }
  o["missing"] = std::move(m);
  json::array a;
  for (const auto& s : shards) {
    json::object e;
    e["shard"] = s.shard;
    e["ms"] = std::round(s.ms * 1000) / 1000;
    e["status"] = s.status;
    e["answered"] = s.answered;
    e["hedged"] = s.hedged;
    e["hedge_won"] = s.hedge_won;
    e["partial"] = s.partial;
    if (!s.error.empty()) {
      e["error"] = s.error;
    }
    a.push_back(std::move(e));
  }
  o["shards"] = std::move(a);
  return o;
}

std::size_t answers_needed(double fraction, std::size_t shards) {
  if (shards == 0) {
    return 0;
  }
  auto n = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(shards) - 1e-9));
  return std::clamp<std::size_t>(n, 1, shards);
}

}  // namespace tender::scatter

#include "core/http.hpp"

#include <atomic>
#include <boost/json.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url_view.hpp>

namespace tender {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (iequals(f.name, name)) {
      return std::string_view(f.value);
    }
  }
  return std::nullopt;
}

void Headers::add(std::string name, std::string value) {
  fields_.push_back({std::move(name), std::move(value)});
}

void Headers::set(std::string_view name, std::string value) {
  erase(name);
  fields_.push_back({std::string(name), std::move(value)});
}

void Headers::erase(std::string_view name) {
  std::erase_if(fields_, [&](const Field& f) { return iequals(f.name, name); });
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  if (query.empty()) {
    return std::nullopt;
  }
  auto params = boost::urls::parse_query(query);
  if (!params) {
    return std::nullopt;  // malformed percent-encoding: treated as absent
  }
  for (auto it = params->begin(); it != params->end(); ++it) {
    auto p = *it;
    if (*p.key == name) {
      if (!p.has_value) {
        return std::string();
      }
      auto v = *p.value;  // decoded view
      return std::string(v.begin(), v.end());
    }
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string_view() : std::string_view(it->second);
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, const boost::json::value& value) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = boost::json::serialize(value);
  r.body.push_back('\n');
  return r;
}

Response Response::error(int status, std::string_view reason) {
  std::string body(reason);
  body.push_back('\n');
  return text(status, std::move(body));
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

struct Reply::State {
  std::atomic<bool> replied{false};  // (std::call_once costs a futex syscall per request)
  Sink sink;
  explicit State(Sink s) : sink(std::move(s)) {}
  ~State() {
    if (!replied.exchange(true)) {
      try {
        sink(Response::error(500, "handler finished without a response"));
      } catch (...) {  // NOLINT(bugprone-empty-catch): nothing useful to do in a destructor
      }
    }
  }
};

Reply::Reply(Sink sink) : state_(std::make_shared<State>(std::move(sink))) {}

void Reply::operator()(Response response) const {
  if (!state_->replied.exchange(true)) {
    state_->sink(std::move(response));
  }
}

}  // namespace tender

#include "core/http.hpp"

#include <atomic>
#include <boost/json.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url_view.hpp>

#include "core/json_text.hpp"

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
  append_json_value(r.body, value);  // numbers as people write them, strings valid UTF-8
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

ResponseStream::Calls ResponseStream::release(bool closing) {
  Calls calls;
  calls.wake = std::exchange(wake_, nullptr);
  if (closing) {
    calls.closed = std::exchange(on_close_, nullptr);
  }
  return calls;
}

void ResponseStream::Calls::operator()() const {
  if (wake) {
    wake();
  }
  if (closed) {
    closed();
  }
}

bool ResponseStream::write(std::string_view data) {
  Calls calls;
  bool cut_off = false;
  {
    std::lock_guard lock(mu_);
    if (ended_ || closed_) {
      return false;
    }
    if (data.empty()) {
      return true;
    }
    cut_off = queued_.size() + data.size() > max_queued_;
    if (cut_off) {  // too slow a client: cut off rather than held without bound
      closed_ = true;
      std::string().swap(queued_);
    } else {
      queued_.append(data);
    }
    calls = release(cut_off);
  }
  calls();
  return !cut_off;
}

void ResponseStream::end() {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    if (ended_ || closed_) {
      return;
    }
    ended_ = true;
    on_close_ = nullptr;
    calls = release(false);
  }
  calls();
}

void ResponseStream::finish() {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    if (ended_ || closed_) {
      return;
    }
    ended_ = true;
    calls = release(true);
  }
  calls();
}

void ResponseStream::close() {
  Calls calls;
  {
    std::lock_guard lock(mu_);
    if (closed_ || (ended_ && queued_.empty())) {
      return;
    }
    closed_ = true;
    std::string().swap(queued_);
    calls = release(true);
  }
  calls();
}

bool ResponseStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool ResponseStream::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

std::size_t ResponseStream::queued() const {
  std::lock_guard lock(mu_);
  return queued_.size();
}

void ResponseStream::on_close(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      if (!ended_) {
        on_close_ = std::move(fn);
      }
      return;
    }
  }
  fn();
}

ResponseStream::Taken ResponseStream::take(std::string& out, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  Taken t;
  t.closed = closed_;
  if (closed_) {
    return t;
  }
  if (!queued_.empty()) {
    if (out.empty()) {
      out.swap(queued_);
    } else {
      out += queued_;
      queued_.clear();
    }
  }
  t.ended = ended_;
  if (out.empty() && !ended_) {
    wake_ = std::move(wake);
  }
  return t;
}

std::string sse_event(std::string_view data, std::string_view event, std::string_view id) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 32);
  auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    for (char c : value) {
      out.push_back(c == '\r' || c == '\n' ? ' ' : c);
    }
    out.push_back('\n');
  };
  if (!event.empty()) {
    field("event", event);
  }
  if (!id.empty()) {
    field("id", id);
  }
  // Every line of the data is a data line; CRLF, CR and LF all end a line, as readers split.
  std::size_t start = 0;
  for (;;) {
    std::size_t nl = data.find_first_of("\r\n", start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out.push_back('\n');
    if (nl == std::string_view::npos) {
      break;
    }
    start = nl + (data[nl] == '\r' && nl + 1 < data.size() && data[nl + 1] == '\n' ? 2 : 1);
    if (start == data.size()) {
      break;
    }
  }
  out.push_back('\n');
  return out;
}

struct Reply::State {
  std::atomic<bool> replied{false};  // (std::call_once costs a futex syscall per request)
  Sink sink;
  std::mutex mu;
  bool cancelled = false;           // guarded by mu
  std::function<void()> on_cancel;  // guarded by mu
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

std::shared_ptr<ResponseStream> Reply::stream(Response head, std::size_t max_queued) const {
  if (state_->replied.exchange(true)) {
    return nullptr;
  }
  auto stream = std::make_shared<ResponseStream>(max_queued);
  head.stream = stream;
  state_->sink(std::move(head));
  return stream;
}

void Reply::on_cancel(std::function<void()> fn) const {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->cancelled) {
      state_->on_cancel = std::move(fn);
      return;
    }
  }
  if (!state_->replied.load()) {
    fn();
  }
}

bool Reply::awaits_cancel() const {
  std::lock_guard lock(state_->mu);
  return static_cast<bool>(state_->on_cancel);
}

bool Reply::cancelled() const {
  std::lock_guard lock(state_->mu);
  return state_->cancelled;
}

std::function<void()> Reply::canceller() const {
  return [weak = std::weak_ptr<State>(state_)] {
    auto state = weak.lock();
    if (!state) {
      return;
    }
    std::function<void()> fn;
    {
      std::lock_guard lock(state->mu);
      if (state->cancelled) {
        return;
      }
      state->cancelled = true;
      fn = std::move(state->on_cancel);
      state->on_cancel = nullptr;
    }
    if (fn && !state->replied.load()) {
      fn();
    }
  };
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Error(std::errc::invalid_argument,
                 "'" + std::string(url) + "' is not http://HOST[:PORT]/PATH: " + std::string(why));
  };
  auto u = boost::urls::parse_uri(url);
  if (!u) {
    return bad("cannot be parsed");
  }
  if (u->scheme() != "http") {
    return bad("the scheme must be http");
  }
  if (u->host().empty()) {
    return bad("no host");
  }
  HttpUrl out;
  out.host = std::string(u->host_address());
  if (u->has_port()) {
    if (u->port_number() == 0) {
      return bad("port 0");
    }
    out.port = u->port_number();
  }
  out.target = std::string(u->encoded_resource());
  if (out.target.empty()) {
    out.target = "/";
  }
  return out;
}

}  // namespace tender

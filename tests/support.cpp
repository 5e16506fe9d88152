#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace tender::testing {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// Reads what is available on `fd` into `out` until EOF or `deadline`.
void drain_fd(int fd, std::string& out, std::chrono::steady_clock::time_point deadline) {
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      return;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) {
      if (r < 0 && errno == EINTR) {
        continue;
      }
      return;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      return;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tender-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

Tender::Tender(std::vector<std::string> args, std::vector<std::string> program) {
  SpawnOptions o;
  o.argv = program.empty() ? std::vector<std::string>{TENDER_BINARY} : std::move(program);
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.stdout_ = Stdio::pipe();
  o.stderr_ = Stdio::file(dir_.path() + "/stderr", Stdio::kTruncate);
  auto p = Process::spawn(o);
  if (!p) {
    throw std::runtime_error("cannot start tender: " + p.error().message());
  }
  process_.emplace(std::move(*p));
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  int fd = process_->stdout_fd();
  while (out.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  std::string line = out.substr(0, out.find('\n'));
  stdout_ = out.substr(std::min(out.size(), out.find('\n') + 1));
  if (line.rfind("listening", 0) != 0) {
    auto st = wait_exit(2s);
    throw std::runtime_error("tender did not start (" +
                             (st ? st->describe() : std::string("still running")) +
                             "); stdout: " + out + "; stderr: " + stderr_text());
  }
  std::istringstream words(line.substr(9));
  std::string kv;
  while (words >> kv) {
    auto eq = kv.find('=');
    auto colon = kv.rfind(':');
    ports_[kv.substr(0, eq)] = static_cast<std::uint16_t>(std::stoi(kv.substr(colon + 1)));
  }
}

Tender::~Tender() {
  if (!status_ && process_) {
    (void)process_->kill_group(SIGKILL);
    status_ = process_->wait();
  }
}

std::uint16_t Tender::port(const std::string& name) const {
  auto it = ports_.find(name);
  if (it == ports_.end()) {
    throw std::runtime_error("tender announced no address named " + name);
  }
  return it->second;
}

void Tender::signal(int sig) { (void)process_->kill(sig); }

std::optional<ExitStatus> Tender::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) {
    return status_;
  }
  eventually(
      [&] {
        status_ = process_->try_wait();
        return status_.has_value();
      },
      timeout);
  return status_;
}

std::string Tender::stderr_text() const { return slurp(dir_.path() + "/stderr"); }

std::string Tender::stdout_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (stdout_.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{process_->stdout_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 20) > 0) {
      char buf[4096];
      ssize_t n = ::read(process_->stdout_fd(), buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      stdout_.append(buf, static_cast<std::size_t>(n));
    }
  }
  return stdout_;
}

RunResult run_command(const std::vector<std::string>& argv, const std::string& input,
                      std::chrono::milliseconds timeout) {
  SpawnOptions o;
  o.argv = argv;
  o.stdin_ = Stdio::pipe();
  o.stdout_ = Stdio::pipe();
  o.stderr_ = Stdio::pipe();
  auto p = Process::spawn(o);
  if (!p) {
    throw std::runtime_error("cannot run " + argv[0] + ": " + p.error().message());
  }
  std::string in = input;
  std::thread writer([&] {
    const char* d = in.data();
    std::size_t left = in.size();
    while (left > 0) {
      ssize_t n = ::write(p->stdin_fd(), d, left);
      if (n <= 0) {
        break;
      }
      d += n;
      left -= static_cast<std::size_t>(n);
    }
    p->close_stdin();
  });
  RunResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::thread err_reader([&] { drain_fd(p->stderr_fd(), r.err, deadline); });
  drain_fd(p->stdout_fd(), r.out, deadline);
  err_reader.join();
  writer.join();
  if (!eventually([&] { return p->try_wait().has_value(); }, 1s)) {
    (void)p->kill_group(SIGKILL);
  }
  r.status = p->wait();
  return r;
}

RunResult run_tender(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {TENDER_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, "", timeout);
}

std::string HttpResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

int connect_loopback(std::uint16_t port, std::chrono::seconds receive_timeout, int receive_buffer) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer > 0) {  // before connect: it sets the window offered
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{static_cast<time_t>(receive_timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

Connection::Connection(std::uint16_t port) {
  fd_ = connect_loopback(port, 15s);
  if (fd_ >= 0) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

Connection::~Connection() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void Connection::shutdown_send() { ::shutdown(fd_, SHUT_WR); }

bool Connection::send(const std::string& bytes) {
  const char* d = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::send(fd_, d, left, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    d += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

HttpResult Connection::read_response(bool head) {
  HttpResult r;
  auto fill = [&]() {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      return r;
    }
  }
  std::istringstream head_lines(buffer_.substr(0, end));
  std::string line;
  std::getline(head_lines, line);
  if (line.size() < 12) {
    return r;
  }
  int status = std::stoi(line.substr(9, 3));
  while (std::getline(head_lines, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(' '));
    r.headers[lower(line.substr(0, colon))] = v;
  }
  std::size_t len = 0;
  if (!head && r.headers.count("content-length") != 0) {
    len = std::stoul(r.headers["content-length"]);
  }
  buffer_.erase(0, end + 4);
  while (buffer_.size() < len) {
    if (!fill()) {
      return HttpResult{};
    }
  }
  r.body = buffer_.substr(0, len);
  buffer_.erase(0, len);
  r.status = status;
  return r;
}

std::string Connection::read_until(const std::string& marker) {
  std::size_t at;
  while ((at = buffer_.find(marker)) == std::string::npos) {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      return std::exchange(buffer_, std::string());
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
  std::string out = buffer_.substr(0, at + marker.size());
  buffer_.erase(0, at + marker.size());
  return out;
}

bool Connection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        return true;
      }
    }
  }
  return false;
}

bool Connection::readable_now() const {
  if (!buffer_.empty()) {
    return true;
  }
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

std::string request_bytes(const std::string& method, const std::string& target,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          const std::string& body) {
  std::string s = method + " " + target + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& [k, v] : headers) {
    has_host = has_host || k == "Host" || k == "host";
  }
  if (!has_host) {
    s += "Host: 127.0.0.1\r\n";
  }
  for (const auto& [k, v] : headers) {
    s += k + ": " + v + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  s += "\r\n" + body;
  return s;
}

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers,
                const std::string& body) {
  Connection c(port);
  if (!c.ok() || !c.send(request_bytes(method, target, headers, body))) {
    return {};
  }
  return c.read_response(method == "HEAD");
}

bool connect_refused(std::uint16_t port) {
  Connection c(port);
  return !c.ok();
}

std::vector<std::string> echo_args(const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"echo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

bool wait_in_flight(const Tender& t, std::int64_t n) {
  return eventually([&] {
    auto s = http(t.port("admin"), "GET", "/statusz");
    if (s.status != 200) {
      return false;
    }
    auto v = boost::json::parse(s.body);
    return v.at("status").at("in_flight").as_int64() == n;
  });
}

double metric_sum(const std::string& exposition, const MetricRef& ref) {
  double sum = 0;
  bool seen = false;
  std::size_t at = 0;
  while (at < exposition.size()) {
    std::size_t end = exposition.find('\n', at);
    std::string line = exposition.substr(at, end == std::string::npos ? end : end - at);
    at = end == std::string::npos ? exposition.size() : end + 1;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.substr(0, name_end) != ref.name) {
      continue;
    }
    std::map<std::string, std::string> labels;
    std::size_t value_at = name_end;
    if (line[name_end] == '{') {
      std::size_t close = line.find('}', name_end);
      if (close == std::string::npos) {
        continue;
      }
      // k="v",k="v" (the values tests look for carry no escapes)
      std::string body = line.substr(name_end + 1, close - name_end - 1);
      for (std::size_t p = 0; p < body.size();) {
        std::size_t eq = body.find('=', p);
        std::size_t q1 = body.find('"', eq);
        std::size_t q2 = body.find('"', q1 + 1);
        if (eq == std::string::npos || q1 == std::string::npos || q2 == std::string::npos) {
          break;
        }
        labels[body.substr(p, eq - p)] = body.substr(q1 + 1, q2 - q1 - 1);
        p = q2 + 1;
        if (p < body.size() && body[p] == ',') {
          ++p;
        }
      }
      value_at = close + 1;
    }
    bool match = std::all_of(ref.labels.begin(), ref.labels.end(), [&](const auto& kv) {
      auto it = labels.find(kv.first);
      return it != labels.end() && it->second == kv.second;
    });
    if (match) {
      sum += std::stod(line.substr(value_at));
      seen = true;
    }
  }
  return seen ? sum : -1;
}

double admin_metric(const Tender& t, const MetricRef& ref) {
  return metric_sum(http(t.port("admin"), "GET", "/metrics").body, ref);
}

}  // namespace tender::testing

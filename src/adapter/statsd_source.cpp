// The statsd source: UDP (recvmmsg, drained in batches each time the socket is readable) and
// TCP (line-framed, bounded lines and connections) listeners on the role's io thread, feeding a
// StatsdStore that collect() reads. docs/adapt.md.
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <cerrno>
#include <memory>
#include <mutex>
#include <set>

#include "adapter/sources.hpp"
#include "adapter/statsd_mapping.hpp"
#include "adapter/statsd_parse.hpp"
#include "adapter/statsd_store.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace tender::adapter {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

constexpr std::size_t kBatch = 32;              // datagrams per recvmmsg
constexpr std::size_t kDatagramBytes = 65'536;  // the largest UDP payload fits
constexpr int kRoundsPerWake = 64;              // recvmmsg calls before other work gets a turn

// Counts of one batch of work, added to the shared counters at its end.
struct Tally {
  std::uint64_t ok = 0;
  std::uint64_t malformed = 0;
  std::uint64_t dropped = 0;
  std::uint64_t conflict = 0;
  std::uint64_t over_cap = 0;
  const char* last_error = nullptr;
};

struct StatsdSourceState;

struct Connection : std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<StatsdSourceState> s, tcp::socket sock, std::size_t max_line)
      : state(std::move(s)), socket(std::move(sock)), buffer(max_line + 1) {}
  void read();
  void on_read(const boost::system::error_code& ec, std::size_t n);

  std::shared_ptr<StatsdSourceState> state;
  tcp::socket socket;
  std::vector<char> buffer;
  std::size_t used = 0;
};

struct StatsdSourceState : std::enable_shared_from_this<StatsdSourceState> {
  StatsdSourceState(asio::io_context& io, const Clock& clock, StatsdSettings s,
                    std::string source_name)
      : io(io),
        clock(clock),
        settings(std::move(s)),
        name(std::move(source_name)),
        store(settings.mapper, {.max_series_per_metric = settings.max_series_per_metric,
                                .max_series = settings.max_series,
                                .set_window = settings.set_window,
                                .max_set_members = settings.max_set_members}),
        expiry(io) {}

  asio::io_context& io;
  const Clock& clock;
  StatsdSettings settings;
  std::string name;
  StatsdStore store;
  StatsdLine line;
  std::optional<udp::socket> udp_socket;
  std::optional<tcp::acceptor> acceptor;
  std::set<std::shared_ptr<Connection>> connections;
  asio::steady_timer expiry;
  bool stopped = false;

  std::vector<char> datagrams;
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iovs{};

  // tender's own metrics
  Counter* packets_udp = nullptr;
  Counter* packets_tcp = nullptr;
  Counter* lines_ok = nullptr;
  Counter* lines_malformed = nullptr;
  Counter* lines_dropped = nullptr;
  Counter* lines_conflict = nullptr;
  Counter* over_cap = nullptr;
  Gauge* series = nullptr;

  // for status(), from the admin thread
  std::atomic<std::uint64_t> n_packets_udp{0};
  std::atomic<std::uint64_t> n_packets_tcp{0};
  std::atomic<std::uint64_t> n_ok{0};
  std::atomic<std::uint64_t> n_malformed{0};
  std::atomic<std::uint64_t> n_dropped{0};
  std::atomic<std::uint64_t> n_conflict{0};
  std::atomic<std::uint64_t> n_over_cap{0};
  std::atomic<std::size_t> n_connections{0};
  std::array<std::atomic<std::size_t>, 5> n_series{};
  std::atomic<int> receive_buffer{0};
  mutable std::mutex mu;
  std::string last_error;
  std::string udp_address;
  std::string tcp_address;

  void register_metrics(Registry& m) {
    auto& packets = m.counter_family("tender_adapt_statsd_packets_total",
                                     "statsd datagrams (udp) and reads (tcp) received.",
                                     {"source", "transport"});
    packets_udp = &packets.with({name, "udp"});
    packets_tcp = &packets.with({name, "tcp"});
    auto& lines = m.counter_family(
        "tender_adapt_statsd_lines_total",
        "statsd lines by result: ok, malformed, dropped (by a drop action), conflict (a metric "
        "of another type), over_cap (a new series past a cap).",
        {"source", "result"});
    lines_ok = &lines.with({name, "ok"});
    lines_malformed = &lines.with({name, "malformed"});
    lines_dropped = &lines.with({name, "dropped"});
    lines_conflict = &lines.with({name, "conflict"});
    auto& dropped = m.counter_family(
        "tender_adapt_series_dropped_total",
        "Series left out of the exposition: over_cap (max_series_per_metric), duplicate, "
        "invalid, conflict (a name held by another family).",
        {"source", "reason"});
    over_cap = &dropped.with({name, "over_cap"});
    series =
        &m.gauge_family("tender_adapt_statsd_series", "Series a statsd source holds.", {"source"})
             .with({name});
  }

  void handle_line(std::string_view text, std::chrono::steady_clock::time_point now, Tally& t) {
    switch (parse_statsd_line(text, line)) {
      case ParseOutcome::kEmpty:
        return;
      case ParseOutcome::kMalformed:
        ++t.malformed;
        t.last_error = line.error;
        return;
      case ParseOutcome::kOk:
        break;
    }
    switch (store.ingest(line, now)) {
      case StatsdResult::kOk:
        ++t.ok;
        return;
      case StatsdResult::kMalformed:
        ++t.malformed;
        t.last_error = "mapped to an empty name";
        return;
      case StatsdResult::kDropped:
        ++t.dropped;
        return;
      case StatsdResult::kConflict:
        ++t.conflict;
        return;
      case StatsdResult::kOverCap:
        ++t.over_cap;
        return;
    }
  }

  void flush(const Tally& t) {
    auto add = [](Counter* c, std::atomic<std::uint64_t>& a, std::uint64_t n) {
      if (n > 0) {
        c->inc(n);
        a.fetch_add(n, std::memory_order_relaxed);
      }
    };
    add(lines_ok, n_ok, t.ok);
    add(lines_malformed, n_malformed, t.malformed);
    add(lines_dropped, n_dropped, t.dropped);
    add(lines_conflict, n_conflict, t.conflict);
    add(over_cap, n_over_cap, t.over_cap);
    if (t.last_error != nullptr) {
      std::lock_guard lock(mu);
      last_error = t.last_error;
    }
    publish_series();
  }

  void publish_series() {
    StatsdSeriesCounts c = store.counts();
    series->set(static_cast<double>(c.total()));
    const std::size_t v[] = {c.counters, c.gauges, c.histograms, c.summaries, c.sets};
    for (std::size_t i = 0; i < n_series.size(); ++i) {
      n_series[i].store(v[i], std::memory_order_relaxed);
    }
  }

  // --- UDP ---
  void wait_udp() {
    udp_socket->async_wait(udp::socket::wait_read,
                           [self = shared_from_this()](const boost::system::error_code& ec) {
                             if (!ec && !self->stopped) {
                               self->drain_udp();
                             }
                           });
  }

  void drain_udp() {
    const int fd = udp_socket->native_handle();
    Tally t;
    std::uint64_t packets = 0;
    for (int round = 0; round < kRoundsPerWake; ++round) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        iovs[i] = {datagrams.data() + i * kDatagramBytes, kDatagramBytes};
        msgs[i].msg_hdr = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_len = 0;
      }
      int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          log::warn("statsd: udp read failed",
                    {{"source", name}, {"error", Error::from_errno(errno, "recvmmsg").message()}});
        }
        break;
      }
      const auto now = clock.now();
      for (int i = 0; i < n; ++i) {
        std::string_view packet(datagrams.data() + static_cast<std::size_t>(i) * kDatagramBytes,
                                msgs[static_cast<std::size_t>(i)].msg_len);
        for_each_line(packet, [&](std::string_view l) { handle_line(l, now, t); });
      }
      packets += static_cast<std::uint64_t>(n);
      if (static_cast<std::size_t>(n) < kBatch) {
        break;
      }
    }
    if (packets > 0) {
      packets_udp->inc(packets);
      n_packets_udp.fetch_add(packets, std::memory_order_relaxed);
    }
    flush(t);
    wait_udp();
  }

  // --- TCP ---
  void accept() {
    acceptor->async_accept([self = shared_from_this()](const boost::system::error_code& ec,
                                                       tcp::socket sock) {
      if (self->stopped) {
        return;
      }
      if (!ec) {
        if (self->connections.size() >= self->settings.max_connections) {
          log::debug("statsd: connection refused, at max_connections", {{"source", self->name}});
          boost::system::error_code ignored;
          sock.close(ignored);
        } else {
          auto c =
              std::make_shared<Connection>(self, std::move(sock), self->settings.max_line_bytes);
          self->connections.insert(c);
          self->n_connections.store(self->connections.size());
          c->read();
        }
      } else if (ec == asio::error::operation_aborted) {
        return;
      }
      self->accept();
    });
  }

  void close(const std::shared_ptr<Connection>& c) {
    boost::system::error_code ignored;
    c->socket.close(ignored);
    connections.erase(c);
    n_connections.store(connections.size());
  }

  // --- expiry ---
  void expire_soon() {
    expiry.expires_after(std::chrono::seconds(1));
    expiry.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) {
        return;
      }
      self->store.expire(self->clock.now());
      self->publish_series();
      self->expire_soon();
    });
  }

  void stop() {
    stopped = true;
    boost::system::error_code ignored;
    if (udp_socket) {
      udp_socket->close(ignored);
    }
    if (acceptor) {
      acceptor->close(ignored);
    }
    for (const auto& c : connections) {
      c->socket.close(ignored);
    }
    connections.clear();
    n_connections.store(0);
    expiry.cancel();
  }
};

void Connection::read() {
  socket.async_read_some(asio::buffer(buffer.data() + used, buffer.size() - used),
                         [self = shared_from_this()](const boost::system::error_code& ec,
                                                     std::size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t n) {
  StatsdSourceState& s = *state;
  if (s.stopped) {
    return;
  }
  Tally t;
  const auto now = s.clock.now();
  if (n > 0) {
    s.packets_tcp->inc();
    s.n_packets_tcp.fetch_add(1, std::memory_order_relaxed);
    std::size_t start = 0;
    const std::size_t end = used + n;
    for (std::size_t i = used; i < end; ++i) {
      if (buffer[i] == '\n') {
        s.handle_line(std::string_view(buffer.data() + start, i - start), now, t);
        start = i + 1;
      }
    }
    std::copy(buffer.begin() + static_cast<long>(start), buffer.begin() + static_cast<long>(end),
              buffer.begin());
    used = end - start;
  }
  bool close = false;
  if (used > s.settings.max_line_bytes) {
    ++t.malformed;  // a line longer than max_line_bytes: the stream cannot be framed after it
    t.last_error = "a tcp line longer than max_line_bytes";
    close = true;
  } else if (ec) {
    if (used > 0 && ec == asio::error::eof) {
      s.handle_line(std::string_view(buffer.data(), used), now, t);  // the last, unterminated
    }
    close = true;
  }
  s.flush(t);
  if (close) {
    s.close(shared_from_this());
    return;
  }
  read();
}

// The endpoint of `hp` (a numeric address, or a name resolved now).
template <typename Protocol>
typename Protocol::endpoint endpoint_of(asio::io_context& io, const HostPort& hp) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) {
    return {addr, hp.port};
  }
  typename Protocol::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec || results.empty()) {
    throw std::system_error(ec ? ec : asio::error::host_not_found,
                            "statsd: cannot resolve " + hp.str());
  }
  return results.begin()->endpoint();
}

class StatsdSource final : public Source {
 public:
  StatsdSource(std::string name, StatsdSettings settings)
      : name_(std::move(name)), settings_(std::move(settings)) {}
  ~StatsdSource() override {
    if (state_ && !state_->stopped) {
      state_->stop();
    }
  }

  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] std::string_view kind() const override { return "statsd"; }

  void start(const SourceContext& ctx) override {
    auto s = std::make_shared<StatsdSourceState>(ctx.io, ctx.clock, settings_, name_);
    s->register_metrics(ctx.metrics);
    bind(*s);
    if (s->udp_socket) {
      s->datagrams.resize(kBatch * kDatagramBytes);
      HostPort hp{settings_.udp->host, s->udp_socket->local_endpoint().port()};
      s->udp_address = hp.str();
      ctx.announce(name_ + "_udp", hp);
      s->wait_udp();
    }
    if (s->acceptor) {
      HostPort hp{settings_.tcp->host, s->acceptor->local_endpoint().port()};
      s->tcp_address = hp.str();
      ctx.announce(name_ + "_tcp", hp);
      s->accept();
    }
    s->publish_series();
    s->expire_soon();
    state_ = std::move(s);
  }

  void collect(std::function<void(Result<std::vector<Family>>)> done) override {
    if (!state_ || state_->stopped) {
      done(Error(std::errc::operation_canceled, "not running"));
      return;
    }
    const auto now = state_->clock.now();
    state_->store.expire(now);
    state_->publish_series();
    done(state_->store.collect(now));
  }

  void stop() override {
    if (state_) {
      state_->stop();
    }
  }

  [[nodiscard]] json::object status() const override {
    json::object o;
    if (!state_) {
      return o;
    }
    const StatsdSourceState& s = *state_;
    auto get = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    {
      std::lock_guard lock(s.mu);
      o["udp"] = s.udp_address;
      o["tcp"] = s.tcp_address;
      o["last_malformed"] = s.last_error;
    }
    o["receive_buffer"] = s.receive_buffer.load();
    o["connections"] = s.n_connections.load();
    json::object packets;
    packets["udp"] = get(s.n_packets_udp);
    packets["tcp"] = get(s.n_packets_tcp);
    o["packets"] = std::move(packets);
    json::object lines;
    lines["ok"] = get(s.n_ok);
    lines["malformed"] = get(s.n_malformed);
    lines["dropped"] = get(s.n_dropped);
    lines["conflict"] = get(s.n_conflict);
    lines["over_cap"] = get(s.n_over_cap);
    o["lines"] = std::move(lines);
    json::object series;
    const char* names[] = {"counter", "gauge", "histogram", "summary", "set"};
    for (std::size_t i = 0; i < s.n_series.size(); ++i) {
      series[names[i]] = s.n_series[i].load(std::memory_order_relaxed);
    }
    o["series"] = std::move(series);
    return o;
  }

  [[nodiscard]] json::object config() const override { return settings_.json; }

 private:
  // Binds the listeners; with udp and tcp both asking for port 0 of one host, they get the same
  // port where a few tries find one free for both.
  void bind(StatsdSourceState& s) {
    const bool same = settings_.udp && settings_.tcp && settings_.udp->port == 0 &&
                      settings_.tcp->port == 0 && settings_.udp->host == settings_.tcp->host;
    for (int attempt = 0;; ++attempt) {
      if (settings_.udp) {
        bind_udp(s);
      }
      if (!settings_.tcp) {
        return;
      }
      HostPort tcp_at = *settings_.tcp;
      if (same) {
        tcp_at.port = s.udp_socket->local_endpoint().port();
      }
      try {
        bind_tcp(s, tcp_at);
        return;
      } catch (const std::system_error&) {
        if (!same || attempt >= 20) {
          throw;
        }
        s.udp_socket.reset();
      }
    }
  }

  void bind_udp(StatsdSourceState& s) {
    udp::endpoint ep = endpoint_of<udp>(s.io, *settings_.udp);
    udp::socket sock(s.io);
    sock.open(ep.protocol());
    const int fd = sock.native_handle();
    int want = static_cast<int>(settings_.read_buffer);
    // As large as allowed: SO_RCVBUFFORCE passes net.core.rmem_max where the process may.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    }
    int got = 0;
    socklen_t len = sizeof got;
    if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0) {
      s.receive_buffer.store(got);
      if (static_cast<long>(got) < 2L * want) {  // Linux reports twice what it was given
        log::info("statsd: udp receive buffer is smaller than read_buffer (net.core.rmem_max)",
                  {{"source", name_}, {"bytes", got / 2}});
      }
    }
    boost::system::error_code ec;
    sock.bind(ep, ec);
    if (ec) {
      throw std::system_error(ec, "statsd: udp bind " + settings_.udp->str());
    }
    sock.non_blocking(true);
    s.udp_socket.emplace(std::move(sock));
  }

  void bind_tcp(StatsdSourceState& s, const HostPort& at) {
    tcp::endpoint ep = endpoint_of<tcp>(s.io, at);
    tcp::acceptor a(s.io);
    a.open(ep.protocol());
    a.set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    a.bind(ep, ec);
    if (!ec) {
      a.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      throw std::system_error(ec, "statsd: tcp bind " + at.str());
    }
    s.acceptor.emplace(std::move(a));
  }

  std::string name_;
  StatsdSettings settings_;
  std::shared_ptr<StatsdSourceState> state_;
};

}  // namespace

std::unique_ptr<Source> make_statsd_source(std::string name, const ConfigNode& settings,
                                           const SourceDefaults& defaults) {
  if (!settings.defined()) {
    settings.fail("", "a statsd source needs udp or tcp (HOST:PORT)");
  }
  return std::make_unique<StatsdSource>(std::move(name), parse_statsd_settings(settings, defaults));
}

}  // namespace tender::adapter

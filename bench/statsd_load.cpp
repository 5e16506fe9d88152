// A statsd load generator for bench/adapt_statsd.sh: sends statsd lines over UDP to
// 127.0.0.1:PORT at a fixed rate of lines per second for a number of seconds, packed
// --per-packet lines to a datagram (as buffering clients do), paced every millisecond and sent
// with sendmmsg. The lines cycle over --series distinct series of a realistic mix: counters
// with sample rates and DogStatsD tags, gauges, timers and histograms.
//
//   bench_statsd_load --port 9125 --rate 300000 --seconds 5 [--per-packet 16] [--series 1000]
//
// Prints "sent LINES PACKETS SECONDS" on stdout at the end. Exits 2 on bad arguments, 1 when
// the socket fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  int port = 0;
  long rate = 100'000;
  double seconds = 5;
  int per_packet = 16;
  int series = 1000;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port") {
      a.port = std::atoi(v);
    } else if (k == "--rate") {
      a.rate = std::atol(v);
    } else if (k == "--seconds") {
      a.seconds = std::atof(v);
    } else if (k == "--per-packet") {
      a.per_packet = std::atoi(v);
    } else if (k == "--series") {
      a.series = std::atoi(v);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      std::exit(2);
    }
  }
  if (a.port <= 0 || a.rate <= 0 || a.seconds <= 0 || a.per_packet <= 0 || a.series <= 0) {
    std::fprintf(stderr,
                 "usage: bench_statsd_load --port P --rate LINES_PER_S --seconds S "
                 "[--per-packet N] [--series N]\n");
    std::exit(2);
  }
  return a;
}

// The i-th line of the mix.
std::string line(int i) {
  switch (i % 4) {
    case 0:
      return "app.requests." + std::to_string(i % 97) + ":1|c|@0.5|#route:/api/" +
             std::to_string(i % 13) + ",code:200";
    case 1:
      return "app.queue.depth." + std::to_string(i) + ":" + std::to_string(i % 50) + "|g";
    case 2:
      return "app.latency." + std::to_string(i % 31) + ":" + std::to_string(i % 400) +
             "|ms|#route:/api/" + std::to_string(i % 7);
    default:
      return "app.payload,shard=" + std::to_string(i % 11) + ":" + std::to_string(i % 9000) + "|h";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  // Every datagram the run can use, built beforehand.
  std::vector<std::string> packets;
  const int distinct = std::max(1, a.series / a.per_packet);
  for (int p = 0, n = 0; p < distinct; ++p) {
    std::string d;
    for (int j = 0; j < a.per_packet; ++j, ++n) {
      d += line(n % a.series);
      d += '\n';
    }
    packets.push_back(std::move(d));
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  int sndbuf = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(a.port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    std::perror("connect");
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(a.seconds);
  const double packets_per_second = static_cast<double>(a.rate) / a.per_packet;
  long sent_packets = 0;
  std::size_t next = 0;
  std::vector<mmsghdr> msgs(64);
  std::vector<iovec> iovs(64);
  for (;;) {
    const auto now = Clock::now();
    if (now >= end) {
      break;
    }
    const double elapsed = std::chrono::duration<double>(now - start).count();
    long due = static_cast<long>(elapsed * packets_per_second) - sent_packets;
    while (due > 0) {
      const int n = static_cast<int>(std::min<long>(due, 64));
      for (int i = 0; i < n; ++i) {
        const std::string& d = packets[next];
        next = (next + 1) % packets.size();
        iovs[i] = {const_cast<char*>(d.data()), d.size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int got = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
      if (got < 0) {
        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) {
          continue;
        }
        std::perror("sendmmsg");
        return 1;
      }
      sent_packets += got;
      due -= got;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("sent %ld %ld %.3f\n", sent_packets * a.per_packet, sent_packets, took);
  ::close(fd);
  return 0;
}

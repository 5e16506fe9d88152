// A work-queue load generator: P producer and C consumer threads, each with its own connection
// to 127.0.0.1, against tender queue (HTTP), beanstalkd or Redis Streams. Producers enqueue
// 1 KiB items, each waiting for its answer before the next; consumers lease one item at a time
// (waiting up to a second) and acknowledge it. A run is a number of items or a duration (then
// producers stop at its end and the consumers drain what is left). It prints the items per
// second end to end (from the start until the last item is acknowledged), the enqueue latency,
// and checks that every item enqueued was leased and acknowledged with its payload intact:
// otherwise it says which and exits 1.
//
//   build/bench/bench_queue_load --proto tender|beanstalk|redis --port N
//       [--producers 16] [--consumers 16] [--items N | --duration S] [--payload 1024]
//       [--queue bench] [--max-backlog N]
//
// --max-backlog keeps the queue's depth bounded (producers wait while N items are not yet
// acknowledged), for runs that should reach a steady state rather than measure a backlog.
//
// The last line is for scripts: "RESULT key=value ...".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "queue_clients.hpp"

namespace {

using namespace queue_bench;
using Clock = std::chrono::steady_clock;

struct Options {
  Proto proto = Proto::kTender;
  std::uint16_t port = 0;
  int producers = 16;
  int consumers = 16;
  std::uint64_t items = 0;  // 0: run for `duration`
  double duration = 10;
  std::size_t payload = 1024;
  std::string queue = "bench";
  std::uint64_t max_backlog = 0;  // 0: producers never wait for consumers
};

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "FAIL: %s\n", message.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

// The payload of item `seq`: "item <seq> " padded to `size` with a pattern derived from seq, so
// that a payload delivered with the wrong bytes is noticed.
std::string make_payload(std::uint64_t seq, std::size_t size) {
  std::string p = "item " + std::to_string(seq) + " ";
  p.reserve(size);
  for (std::size_t i = p.size(); i < size; ++i) {
    p += static_cast<char>('a' + (seq + i) % 26);
  }
  p.resize(size);
  return p;
}

struct Shared {
  explicit Shared(const Options& o) : opt(o) {}
  const Options& opt;
  Clock::time_point start{};
  Clock::time_point deadline{};
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> next_seq{0};
  std::atomic<std::uint64_t> produced{0};
  std::atomic<int> producers_done{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> empty_leases{0};
};

struct ProducerResult {
  std::vector<std::uint32_t> latency_us;
};

struct ConsumerResult {
  std::vector<std::uint64_t> seqs;
  Clock::time_point last_ack{};
};

void wait_for_start(const Shared& s) {
  while (!s.go.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
}

void produce(Shared& s, QueueClient& client, int index, ProducerResult& out) {
  wait_for_start(s);
  for (;;) {
    if (s.opt.items == 0 && Clock::now() >= s.deadline) {
      break;
    }
    const std::uint64_t seq = s.next_seq.fetch_add(1);
    if (s.opt.items != 0 && seq >= s.opt.items) {
      break;
    }
    // (An item can be acknowledged before its producer counts it: compare signed.)
    while (s.opt.max_backlog != 0 &&
           static_cast<std::int64_t>(s.produced.load() - s.acked.load()) >=
               static_cast<std::int64_t>(s.opt.max_backlog)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const std::string payload = make_payload(seq, s.opt.payload);
    const auto t0 = Clock::now();
    if (auto r = client.enqueue(payload); !r) {
      fail("producer " + std::to_string(index) + ", item " + std::to_string(seq) + ": " +
           r.error().message());
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    out.latency_us.push_back(static_cast<std::uint32_t>(us.count()));
    s.produced.fetch_add(1);
  }
  s.producers_done.fetch_add(1);
}

// Consumes until every producer is done and as many acks were made as items produced. Fails
// when no item comes for 30 s while some are missing.
void consume(Shared& s, QueueClient& client, int index, ConsumerResult& out) {
  wait_for_start(s);
  auto last_progress = Clock::now();
  for (;;) {
    if (s.producers_done.load() == s.opt.producers && s.acked.load() >= s.produced.load()) {
      return;
    }
    auto leased = client.lease();
    if (!leased) {
      fail("consumer " + std::to_string(index) + ": " + leased.error().message());
    }
    if (!*leased) {
      s.empty_leases.fetch_add(1);
      if (s.producers_done.load() == s.opt.producers &&
          Clock::now() - last_progress > std::chrono::seconds(30)) {
        fail("consumer " + std::to_string(index) + ": nothing to lease for 30 s with " +
             std::to_string(s.produced.load() - s.acked.load()) + " items not acknowledged");
      }
      continue;
    }
    const Leased& item = **leased;
    // "item <seq> ..."
    std::uint64_t seq = 0;
    const auto space = item.payload.find(' ', 5);
    const auto parsed = item.payload.compare(0, 5, "item ") == 0 && space != std::string::npos
                            ? parse_u64(std::string_view(item.payload).substr(5, space - 5))
                            : std::nullopt;
    if (!parsed || item.payload != make_payload(*parsed, s.opt.payload)) {
      fail("consumer " + std::to_string(index) + ": item " + item.id +
           " came with a payload not enqueued: " + clip(item.payload));
    }
    seq = *parsed;
    if (auto r = client.ack(item); !r) {
      fail("consumer " + std::to_string(index) + ": " + r.error().message());
    }
    out.seqs.push_back(seq);
    last_progress = out.last_ack = Clock::now();
    s.acked.fetch_add(1);
  }
}

double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)] / 1000.0;
}

std::unique_ptr<QueueClient> connect_or_fail(const Options& opt, Role role, int index) {
  auto c = connect(opt.proto, opt.port, opt.queue, role, index);
  if (!c) {
    fail(std::string(role == Role::kProducer ? "producer " : "consumer ") + std::to_string(index) +
         ": " + c.error().message());
  }
  return std::move(*c);
}

// Redis: the consumer group, created with its stream.
void create_group(const Options& opt) {
  auto conn = Conn::open(opt.port);
  if (!conn) {
    fail(conn.error().message());
  }
  RedisClient redis(std::move(*conn), opt.queue, "setup");
  auto r = redis.call({"XGROUP", "CREATE", opt.queue, "g", "0", "MKSTREAM"});
  if (!r && r.error().message().find("BUSYGROUP") == std::string::npos) {
    fail(r.error().message());
  }
}

// Every item 0..produced-1 acknowledged; prints and counts the duplicates (an item delivered
// again after its lease expired). Fails on a missing or unknown item.
std::uint64_t verify(std::vector<ConsumerResult>& consumers, std::uint64_t produced) {
  std::vector<std::uint8_t> seen(produced, 0);
  std::uint64_t duplicates = 0;
  for (const auto& c : consumers) {
    for (const auto seq : c.seqs) {
      if (seq >= produced) {
        fail("item " + std::to_string(seq) + " consumed but never enqueued by this run");
      }
      if (seen[seq] != 0) {
        ++duplicates;
      }
      seen[seq] = 1;
    }
  }
  const auto missing = static_cast<std::uint64_t>(std::count(seen.begin(), seen.end(), 0));
  if (missing > 0) {
    const auto first = std::find(seen.begin(), seen.end(), 0) - seen.begin();
    fail(std::to_string(missing) + " of " + std::to_string(produced) +
         " items enqueued were never consumed (the first: item " + std::to_string(first) + ")");
  }
  return duplicates;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app("work-queue load generator (bench/queue.sh runs it)");
  std::string proto = "tender";
  app.add_option("--proto", proto, "tender, beanstalk or redis")
      ->check(CLI::IsMember({"tender", "beanstalk", "redis"}));
  app.add_option("--port", opt.port, "the server's port on 127.0.0.1")->required();
  app.add_option("--producers", opt.producers)->check(CLI::Range(1, 1024));
  app.add_option("--consumers", opt.consumers)->check(CLI::Range(1, 1024));
  app.add_option("--items", opt.items, "items to enqueue (then --duration is ignored)");
  app.add_option("--duration", opt.duration, "seconds of enqueueing")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--payload", opt.payload, "bytes per item")->check(CLI::Range(32, 65000));
  app.add_option("--queue", opt.queue, "queue, tube or stream name");
  app.add_option("--max-backlog", opt.max_backlog,
                 "producers wait while this many items are enqueued and not yet acknowledged "
                 "(0: never)");
  CLI11_PARSE(app, argc, argv);
  opt.proto = proto == "tender"      ? Proto::kTender
              : proto == "beanstalk" ? Proto::kBeanstalk
                                     : Proto::kRedis;
  if (opt.proto == Proto::kRedis) {
    create_group(opt);
  }

  Shared s(opt);
  std::vector<std::unique_ptr<QueueClient>> clients;
  for (int i = 0; i < opt.producers; ++i) {
    clients.push_back(connect_or_fail(opt, Role::kProducer, i));
  }
  for (int i = 0; i < opt.consumers; ++i) {
    clients.push_back(connect_or_fail(opt, Role::kConsumer, i));
  }
  std::vector<ProducerResult> pr(static_cast<std::size_t>(opt.producers));
  std::vector<ConsumerResult> cr(static_cast<std::size_t>(opt.consumers));
  std::vector<std::thread> threads;
  for (int i = 0; i < opt.producers; ++i) {
    threads.emplace_back([&, i] {
      produce(s, *clients[static_cast<std::size_t>(i)], i, pr[static_cast<std::size_t>(i)]);
    });
  }
  for (int i = 0; i < opt.consumers; ++i) {
    threads.emplace_back([&, i] {
      consume(s, *clients[static_cast<std::size_t>(opt.producers + i)], i,
              cr[static_cast<std::size_t>(i)]);
    });
  }
  s.start = Clock::now();
  s.deadline = s.start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(opt.duration));
  s.go.store(true, std::memory_order_release);
  for (auto& t : threads) {
    t.join();
  }

  const std::uint64_t produced = s.produced.load();
  const std::uint64_t duplicates = verify(cr, produced);
  Clock::time_point end = s.start;
  for (const auto& c : cr) {
    end = std::max(end, c.last_ack);
  }
  const double seconds = std::chrono::duration<double>(end - s.start).count();
  std::vector<std::uint32_t> lat;
  for (auto& p : pr) {
    lat.insert(lat.end(), p.latency_us.begin(), p.latency_us.end());
  }
  std::sort(lat.begin(), lat.end());
  const double rate = seconds > 0 ? static_cast<double>(produced) / seconds : 0;
  std::printf(
      "%s: %llu items (%zu B) through %d producers and %d consumers in %.2f s: %.0f items/s; "
      "enqueue latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; all consumed and acknowledged"
      " (%llu delivered twice)\n",
      proto.c_str(), static_cast<unsigned long long>(produced), opt.payload, opt.producers,
      opt.consumers, seconds, rate, percentile_ms(lat, 0.5), percentile_ms(lat, 0.99),
      lat.empty() ? 0.0 : lat.back() / 1000.0, static_cast<unsigned long long>(duplicates));
  std::printf(
      "RESULT items=%llu seconds=%.3f items_per_s=%.0f enq_p50_ms=%.3f enq_p99_ms=%.3f "
      "enq_max_ms=%.3f duplicates=%llu empty_leases=%llu\n",
      static_cast<unsigned long long>(produced), seconds, rate, percentile_ms(lat, 0.5),
      percentile_ms(lat, 0.99), lat.empty() ? 0.0 : lat.back() / 1000.0,
      static_cast<unsigned long long>(duplicates),
      static_cast<unsigned long long>(s.empty_leases.load()));
  return 0;
}

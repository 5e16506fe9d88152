// Group commit's gain: writes/s through a GroupCommitWriter (synchronous FULL, one fsync per
// commit) from 1 client and from 16, each client waiting for its write's `done` before it
// submits the next (as an HTTP client waits for its answer). Prints both rates and the ratio.
//
//   bench/sqlite_writer.sh [writes] [directory]
//   build/bench/bench_sqlite_writer [writes] [directory]   # default 4000 writes, $TMPDIR
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/sqlite_writer.hpp"

namespace {

using tender::sqlite::Database;
using tender::sqlite::GroupCommitStats;
using tender::sqlite::GroupCommitWriter;

struct Run {
  double writes_per_second = 0;
  GroupCommitStats stats;
};

// Each of `clients` threads makes writes / clients inserts, one at a time.
Run run(const std::string& path, int clients, int writes) {
  auto db = Database::open(path);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().message().c_str());
    std::exit(1);
  }
  if (auto r = db->exec("CREATE TABLE items(id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); !r) {
    std::fprintf(stderr, "%s\n", r.error().message().c_str());
    std::exit(1);
  }
  GroupCommitWriter writer(std::move(*db));
  const int per_client = writes / clients;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&writer, per_client] {
      std::mutex mutex;
      std::condition_variable acked;
      for (int i = 0; i < per_client; ++i) {
        bool done = false;
        auto queued = writer.submit(
            [](Database& db) -> tender::Result<> {
              auto n = db.run("INSERT INTO items(body) VALUES(?)", "a work item of modest size");
              if (!n) {
                return n.error();
              }
              return {};
            },
            [&](tender::Result<> r) {
              if (!r) {
                std::fprintf(stderr, "%s\n", r.error().message().c_str());
                std::exit(1);
              }
              std::lock_guard lock(mutex);
              done = true;
              acked.notify_one();
            });
        if (!queued) {
          std::fprintf(stderr, "%s\n", queued.error().message().c_str());
          std::exit(1);
        }
        std::unique_lock lock(mutex);
        acked.wait(lock, [&] { return done; });
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  writer.stop();
  return Run{per_client * clients / elapsed.count(), writer.stats()};
}

}  // namespace

int main(int argc, char** argv) {
  const int writes = argc > 1 ? std::atoi(argv[1]) : 4000;
  std::string base = argc > 2 ? argv[2] : std::filesystem::temp_directory_path().string();
  std::string pattern = base + "/tender-sqlite-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  std::printf("%-8s %10s %8s %10s\n", "clients", "writes/s", "commits", "avg batch");
  double rates[2] = {0, 0};
  int n = 0;
  for (int clients : {1, 16}) {
    const Run r = run(pattern + "/" + std::to_string(clients) + ".db", clients, writes);
    rates[n++] = r.writes_per_second;
    std::printf("%-8d %10.0f %8llu %10.1f\n", clients, r.writes_per_second,
                static_cast<unsigned long long>(r.stats.commits),
                static_cast<double>(r.stats.writes) / static_cast<double>(r.stats.commits));
  }
  std::printf("ratio 16 clients / 1 client: %.1fx\n", rates[1] / rates[0]);
  std::error_code ec;
  std::filesystem::remove_all(pattern, ec);
  return 0;
}

#pragma once
// What the tests of `tender scatter` share: leaves (tests/scatter_leaf.py, and `tender echo`),
// a root on free ports that is ready, the root's metrics by name (in one place), and the
// answer a top-k root owes, computed from the leaves' documents directly.
//
//   auto leaves = start_leaves(8, [](std::size_t i) { return leaf_args(i, 50); });
//   auto root = start_root({"--leaves", leaves_arg(leaves), "--merge", "topk:score:10"});
//   auto r = http(root->port("listen"), "GET", "/search?q=a&k=10");
//   std::vector<Hit> want = expected_topk(leaves, "a", 10);
//   double sent = root_metric(*root, hedges("sent"));
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace tender::testing {

namespace json = boost::json;

using Proc = std::unique_ptr<Tender>;

// --- The root's metric names -------------------------------------------------------------
// Every metric of the root that a test reads is named here, so that they change in one place.

// Hedged requests by outcome: "sent", "won" (the hedge answered first), ... (summed over the
// shard label).
inline MetricRef hedges(const std::string& outcome) {
  return {"tender_scatter_hedges_total", {{"outcome", outcome}}};
}
// Client requests answered partially (some shard missing at the deadline).
inline MetricRef partial_answers() {
  return {"tender_scatter_requests_total", {{"result", "partial"}}};
}

// Tries sent again to another replica of `shard` after a connection failure.
inline MetricRef shard_retries(const std::string& shard) {
  return {"tender_scatter_shard_retries_total", {{"shard", shard}}};
}

// `ref` read from the admin /metrics of `t`.
inline double root_metric(const Tender& t, const MetricRef& ref) { return admin_metric(t, ref); }

// --- Processes ---------------------------------------------------------------------------

// tests/scatter_leaf.py with `args` (see its docstring), on a free port.
inline Proc start_leaf(const std::vector<std::string>& args) {
  std::vector<std::string> a = {std::string(TENDER_TESTS_DIR) + "/scatter_leaf.py", "--port", "0"};
  a.insert(a.end(), args.begin(), args.end());
  return std::make_unique<Tender>(a, std::vector<std::string>{"python3", "-u"});
}

// Leaf `i` of a search tree: shard id "s<i>", `docs` documents, seed 1000 + i.
inline std::vector<std::string> leaf_args(std::size_t i, int docs,
                                          const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"--shard-id", "s" + std::to_string(i),
                                "--docs",     std::to_string(docs),
                                "--seed",     std::to_string(1000 + i)};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// `n` leaves, leaf i with args(i). One after another, on this thread: a child is killed when
// the thread that started it ends (PR_SET_PDEATHSIG), so leaves cannot be started from
// threads of their own.
inline std::vector<Proc> start_leaves(
    std::size_t n, const std::function<std::vector<std::string>(std::size_t)>& args) {
  std::vector<Proc> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(start_leaf(args(i)));
  }
  return out;
}

inline std::string addr(const Tender& t) { return "127.0.0.1:" + std::to_string(t.port("listen")); }

// --leaves for shards of replicas: commas between shards, '|' between replicas.
inline std::string leaves_arg(const std::vector<std::vector<const Tender*>>& shards) {
  std::string out;
  for (const auto& replicas : shards) {
    out += out.empty() ? "" : ",";
    for (std::size_t r = 0; r < replicas.size(); ++r) {
      out += (r > 0 ? "|" : "") + addr(*replicas[r]);
    }
  }
  return out;
}
// --leaves for one replica per shard, shard i being leaves[i].
inline std::string leaves_arg(const std::vector<Proc>& leaves) {
  std::vector<std::vector<const Tender*>> shards;
  for (const auto& l : leaves) {
    shards.push_back({l.get()});
  }
  return leaves_arg(shards);
}

// Polls the admin /readyz of `t` until it answers 200.
inline bool wait_ready(const Tender& t, std::chrono::milliseconds timeout = 10s) {
  return eventually([&] { return http(t.port("admin"), "GET", "/readyz").status == 200; }, timeout);
}

// `tender scatter` on free ports of 127.0.0.1 with `extra` flags, ready. Throws (with its
// stderr) when it does not start or does not become ready.
inline Proc start_root(const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"scatter", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"};
  a.insert(a.end(), extra.begin(), extra.end());
  auto root = std::make_unique<Tender>(a);
  if (!wait_ready(*root)) {
    throw std::runtime_error("tender scatter did not become ready; stderr: " + root->stderr_text());
  }
  return root;
}

// `tender scatter --config FILE` (FILE: `yaml` written in `dir`) with `extra` flags, as
// start_root.
inline Proc start_root_config(const TempDir& dir, const std::string& yaml,
                              const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"--config", dir.write("scatter.yaml", yaml)};
  a.insert(a.end(), extra.begin(), extra.end());
  return start_root(a);
}

// Replaces the file `name` in `dir` with `content` at once, as a tool that deploys it would:
// written beside it, then renamed over it. Throws when it cannot.
inline void replace_file(const TempDir& dir, const std::string& name, const std::string& content) {
  std::string tmp = dir.write(name + ".tmp", content);
  if (::rename(tmp.c_str(), (dir.path() + "/" + name).c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + " over " + name);
  }
}

// A fixture leaf's count of requests on its search, count and map paths.
inline std::int64_t leaf_requests(const Tender& leaf) {
  return json::parse(http(leaf.port("listen"), "GET", "/requests").body).at("count").as_int64();
}

// A `tender echo`'s /statusz status field `field` ("requests_served", "in_flight").
inline std::int64_t echo_status(const Tender& echo, const char* field) {
  auto s = http(echo.port("admin"), "GET", "/statusz");
  if (s.status != 200) {
    throw std::runtime_error("echo /statusz answered " + std::to_string(s.status));
  }
  return json::parse(s.body).at("status").at(field).as_int64();
}

// --- Answers -----------------------------------------------------------------------------

struct Hit {
  std::string id;
  double score = 0;
  std::size_t shard = 0;  // the leaf's index (for the expected answer's ties)
  std::size_t pos = 0;    // the document's place in its leaf's answer
};

// The hits of a search answer: the array itself, or its "hits" when `envelope`. Fails the test
// (ADD_FAILURE) and answers {} when it has another shape.
inline std::vector<Hit> hits_of(const json::value& answer, bool envelope) {
  const json::value* arr = &answer;
  if (envelope) {
    arr = answer.is_object() ? answer.as_object().if_contains("hits") : nullptr;
  }
  if (arr == nullptr || !arr->is_array()) {
    ADD_FAILURE() << "not a search answer: " << json::serialize(answer);
    return {};
  }
  std::vector<Hit> out;
  for (const auto& h : arr->as_array()) {
    out.push_back({std::string(h.at("id").as_string()), h.at("score").to_number<double>()});
  }
  return out;
}

// What topk:score:K owes for `q`: the K best of all the leaves' documents (GET /all of each,
// leaf i being shard i), best first, ties to the lower shard, then the earlier document in its
// leaf's answer (the leaf answers best first, ties to its earlier document).
inline std::vector<Hit> expected_topk(const std::vector<const Tender*>& leaves,
                                      const std::string& q, std::size_t k, bool envelope = false) {
  std::vector<Hit> all;
  for (std::size_t s = 0; s < leaves.size(); ++s) {
    auto r = http(leaves[s]->port("listen"), "GET", "/all?q=" + q);
    if (r.status != 200) {
      throw std::runtime_error("leaf " + std::to_string(s) + " answered /all with " +
                               std::to_string(r.status));
    }
    std::vector<Hit> mine = hits_of(json::parse(r.body), envelope);
    std::vector<std::size_t> order(mine.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return mine[a].score > mine[b].score; });
    for (std::size_t p = 0; p < order.size(); ++p) {
      Hit h = mine[order[p]];
      h.shard = s;
      h.pos = p;
      all.push_back(h);
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const Hit& a, const Hit& b) {
    if (a.score != b.score) {
      return a.score > b.score;
    }
    return a.shard != b.shard ? a.shard < b.shard : a.pos < b.pos;
  });
  all.resize(std::min(all.size(), k));
  return all;
}

inline std::vector<Hit> expected_topk(const std::vector<Proc>& leaves, const std::string& q,
                                      std::size_t k, bool envelope = false) {
  std::vector<const Tender*> raw;
  for (const auto& l : leaves) {
    raw.push_back(l.get());
  }
  return expected_topk(raw, q, k, envelope);
}

// A 200 with nothing missing.
inline bool complete(const HttpResult& r) {
  return r.status == 200 && r.header("x-tender-partial").empty();
}

// The entries of X-Tender-Shards ("s0;ms=1.23;hedged, s1;ms=0.80;missing") by shard name.
// Commas inside a quoted error="..." do not separate entries.
inline std::map<std::string, std::string> timing_entries(const std::string& header) {
  std::map<std::string, std::string> out;
  std::string entry;
  bool quoted = false;
  auto flush = [&] {
    auto b = entry.find_first_not_of(' ');
    if (b != std::string::npos) {
      entry = entry.substr(b);
      out[entry.substr(0, entry.find(';'))] = entry;
    }
    entry.clear();
  };
  for (char ch : header) {
    if (ch == '"') {
      quoted = !quoted;
    }
    if (ch == ',' && !quoted) {
      flush();
    } else {
      entry += ch;
    }
  }
  flush();
  return out;
}

// "id score, id score, ..." of hits, for comparisons that print well when they fail.
inline std::string describe_hits(const std::vector<Hit>& hits) {
  std::string out;
  for (const auto& h : hits) {
    out += (out.empty() ? "" : ", ") + h.id + " " + std::to_string(h.score);
  }
  return out;
}

}  // namespace tender::testing

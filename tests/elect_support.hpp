#pragma once
// Helpers for the whole-binary tests of `tender elect` (elect_test.cpp, elect_fencing_test.cpp):
// electors started as real processes, their view of the election read over HTTP with short
// timeouts (a paused elector must not hold a test up), and the fencing checker store.
//
//   std::vector<std::unique_ptr<Tender>> e;
//   for (int i = 0; i < 3; ++i) e.push_back(start_elector("e" + std::to_string(i), url));
//   auto a = wait_agreed(live(e));              // exactly one leader, and all agree on it
//   e[a->leader]->signal(SIGKILL);
//   auto b = wait_agreed(live(e), a->token);    // another one, with a larger token
//
//   Tender store = start_store();               // elect_store.py on a free port
//   FenceLog log = fence_log(store.port("listen"));

#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/http_client.hpp"
#include "support.hpp"

namespace tender::testing {

// `tender elect` flags for one elector on free ports of 127.0.0.1, with a short ttl.
inline std::vector<std::string> elect_args(const std::string& id, const std::string& backend,
                                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {"elect",       "--election", "it",         "--id", id,
                                "--backend",   backend,      "--ttl",      "1s",   "--listen",
                                "127.0.0.1:0", "--admin",    "127.0.0.1:0"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

inline std::unique_ptr<Tender> start_elector(const std::string& id, const std::string& backend,
                                             const std::vector<std::string>& extra = {}) {
  return std::make_unique<Tender>(elect_args(id, backend, extra));
}

// What one elector answers on GET /v1/leader.
struct LeaderView {
  bool ok = false;  // it answered 200 with JSON in time
  std::string name;
  std::uint64_t token = 0;
  bool self = false;
};

// GET http://127.0.0.1:port`target` with a short timeout: status 0 when nothing came back.
inline std::pair<int, std::string> get(std::uint16_t port, const std::string& target,
                                       std::chrono::milliseconds timeout = 1000ms) {
  auto r = fetch("http://127.0.0.1:" + std::to_string(port) + target, "GET", "", timeout);
  if (!r) {
    return {0, ""};
  }
  return {r->status, r->body};
}

inline LeaderView leader_view(std::uint16_t port, std::chrono::milliseconds timeout = 1000ms) {
  auto [status, body] = get(port, "/v1/leader", timeout);
  LeaderView v;
  if (status != 200) {
    return v;
  }
  boost::system::error_code ec;
  auto j = boost::json::parse(body, ec);
  if (ec || !j.is_object()) {
    return v;
  }
  const auto& o = j.as_object();
  v.ok = true;
  v.name = std::string(o.at("name").as_string());
  v.token = o.at("token").to_number<std::uint64_t>();
  v.self = o.at("self").as_bool();
  return v;
}

// The electors of `all` that have not exited (null entries are skipped too).
inline std::vector<Tender*> live(const std::vector<std::unique_ptr<Tender>>& all) {
  std::vector<Tender*> out;
  for (const auto& t : all) {
    if (t && !t->wait_exit(0ms)) {
      out.push_back(t.get());
    }
  }
  return out;
}

struct Agreed {
  std::size_t leader = 0;  // index into the electors asked
  std::string name;
  std::uint64_t token = 0;
};

// Whether the electors answering on `ports` agree now: every one names the same leader and token
// (above `above`), exactly one says self=true and answers 200 on /v1/am-leader, the others 409.
inline std::optional<Agreed> agreed(const std::vector<std::uint16_t>& ports, std::uint64_t above) {
  std::optional<Agreed> out;
  std::vector<LeaderView> views;
  for (std::uint16_t port : ports) {
    views.push_back(leader_view(port));
  }
  Agreed a;
  int selves = 0;
  for (std::size_t i = 0; i < views.size(); ++i) {
    const LeaderView& v = views[i];
    if (!v.ok || v.name.empty() || v.token <= above || v.name != views[0].name ||
        v.token != views[0].token) {
      return out;
    }
    if (v.self) {
      ++selves;
      a.leader = i;
    }
  }
  if (selves != 1) {
    return out;
  }
  for (std::size_t i = 0; i < ports.size(); ++i) {
    int want = i == a.leader ? 200 : 409;
    if (get(ports[i], "/v1/am-leader").first != want) {
      return out;
    }
  }
  a.name = views[0].name;
  a.token = views[0].token;
  out = a;
  return out;
}

inline std::vector<std::uint16_t> api_ports(const std::vector<Tender*>& electors) {
  std::vector<std::uint16_t> out;
  for (Tender* t : electors) {
    out.push_back(t->port("listen"));
  }
  return out;
}

// Polls until agreed() holds (nullopt after `timeout`).
inline std::optional<Agreed> wait_agreed(const std::vector<std::uint16_t>& ports,
                                         std::uint64_t above = 0,
                                         std::chrono::milliseconds timeout = 20s) {
  std::optional<Agreed> a;
  eventually([&] { return (a = agreed(ports, above)).has_value(); }, timeout);
  return a;
}

inline std::optional<Agreed> wait_agreed(const std::vector<Tender*>& electors,
                                         std::uint64_t above = 0,
                                         std::chrono::milliseconds timeout = 20s) {
  return wait_agreed(api_ports(electors), above, timeout);
}

// What each elector answering on `ports` says, for failure messages.
inline std::string describe(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (std::uint16_t port : ports) {
    auto [status, body] = get(port, "/v1/leader");
    out += "\n  " + std::to_string(port) + ": " + std::to_string(status) + " " + body;
  }
  return out;
}

inline std::string describe(const std::vector<Tender*>& electors) {
  return describe(api_ports(electors));
}

// The fencing checker (tests/elect_store.py), on a free port of 127.0.0.1 unless `listen`.
inline Tender start_store(const std::string& listen = "127.0.0.1:0") {
  return Tender({std::string(TENDER_TESTS_DIR) + "/elect_store.py", "--listen", listen},
                {"python3", "-u"});
}

// One write attempt as the checker recorded it.
struct Write {
  std::uint64_t seq = 0;
  std::uint64_t token = 0;
  std::string id;
  bool accepted = false;
};

// GET /log of the checker at `port`; empty if it does not answer.
inline std::vector<Write> fence_log(std::uint16_t port) {
  std::vector<Write> out;
  auto [status, body] = get(port, "/log", 10s);
  if (status != 200) {
    return out;
  }
  boost::json::value all = boost::json::parse(body);
  for (const auto& w : all.at("writes").as_array()) {
    const auto& a = w.as_array();
    out.push_back({a.at(0).to_number<std::uint64_t>(), a.at(1).to_number<std::uint64_t>(),
                   std::string(a.at(2).as_string()), a.at(3).as_bool()});
  }
  return out;
}

// The fencing properties of a checker's log; empty when they hold, else what broke (the first
// few cases, and how many there were).
// - no accepted write has a token below one accepted before it;
// - no token was used by two different ids.
inline std::string fencing_violations(const std::vector<Write>& log) {
  std::string out;
  std::size_t count = 0;
  auto add = [&](const std::string& what) {
    if (++count <= 10) {
      out += "\n  " + what;
    }
  };
  std::uint64_t highest = 0;
  std::map<std::uint64_t, std::string> owner;
  for (const Write& w : log) {
    if (w.accepted && w.token < highest) {
      add("write " + std::to_string(w.seq) + " by " + w.id + " accepted with token " +
          std::to_string(w.token) + " after " + std::to_string(highest));
    }
    if (w.accepted) {
      highest = std::max(highest, w.token);
    }
    auto [it, fresh] = owner.emplace(w.token, w.id);
    if (!fresh && it->second != w.id) {
      add("token " + std::to_string(w.token) + " used by " + it->second + " and " + w.id);
    }
  }
  if (count > 10) {
    out += "\n  ... " + std::to_string(count) + " in all";
  }
  return out;
}

}  // namespace tender::testing

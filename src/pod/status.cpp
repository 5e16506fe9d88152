#include "pod/status.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/units.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

std::string iso8601(std::chrono::system_clock::time_point t) { return format_utc(t); }

json::object terminated_json(const ExitStatus& st, const std::string& reason,
                             std::chrono::system_clock::time_point at) {
  json::object t;
  t["exitCode"] = st.code;
  if (st.signal != 0) {
    t["signal"] = st.signal;
  }
  t["reason"] = reason;
  t["message"] = st.describe();
  t["finishedAt"] = iso8601(at);
  return t;
}

// A probe in /v1/pods: its last result, its failures in a row (those that count towards
// failureThreshold, as Kubernetes counts them: 0 again after a success, so a probe that failed
// before the app listened shows 0 once it passes), and its failures in all.
json::object probe_json(const ProbeTracker& t) {
  json::object o;
  o["result"] = !t.last_passed() ? "pending" : (*t.last_passed() ? "success" : "failure");
  o["message"] = t.last_message();
  o["failures"] = t.consecutive_failures();
  o["totalFailures"] = static_cast<std::int64_t>(t.total_failures());
  return o;
}

}  // namespace

const char* Container::state_name() const {
  switch (state) {
    case State::kWaiting:
      return "waiting";
    case State::kRunning:
      return "running";
    case State::kTerminated:
      return "terminated";
  }
  return "waiting";
}

json::object Container::to_json() const {
  json::object o;
  o["name"] = spec.name;
  o["type"] = !init ? "main" : (spec.is_sidecar() ? "sidecar" : "init");
  if (!spec.image.empty()) {
    o["image"] = spec.image;
  }
  if (!image_id.empty()) {
    o["imageID"] = image_id;
  }
  json::object st;
  if (state == State::kRunning) {
    json::object r;
    r["startedAt"] = iso8601(started_at);
    st["running"] = std::move(r);
  } else if (state == State::kTerminated && last_exit) {
    json::object t = terminated_json(*last_exit, reason, finished_at);
    if (!message.empty()) {
      t["message"] = message;
    }
    st["terminated"] = std::move(t);
  } else {
    json::object w;
    w["reason"] = reason;
    if (!message.empty()) {
      w["message"] = message;
    }
    st["waiting"] = std::move(w);
  }
  o["state"] = std::move(st);
  json::object last;
  if (state != State::kTerminated && last_exit) {
    last["terminated"] =
        terminated_json(*last_exit, last_exit->success() ? "Completed" : "Error", finished_at);
  }
  o["lastState"] = std::move(last);
  o["ready"] = ready;
  o["started"] = started;
  o["restartCount"] = restarts;
  if (process) {
    o["pid"] = static_cast<std::int64_t>(process->pid());
  }
  json::object probes;
  if (spec.startup_probe) {
    probes["startup"] = probe_json(startup);
  }
  if (spec.liveness_probe) {
    probes["liveness"] = probe_json(liveness);
  }
  if (spec.readiness_probe) {
    probes["readiness"] = probe_json(readiness);
  }
  o["probes"] = std::move(probes);
  o["log"] = log.path();
  return o;
}

const char* phase_name(Pod::Phase p) {
  switch (p) {
    case Pod::Phase::kPending:
      return "Pending";
    case Pod::Phase::kRunning:
      return "Running";
    case Pod::Phase::kSucceeded:
      return "Succeeded";
    case Pod::Phase::kFailed:
      return "Failed";
  }
  return "Pending";
}

bool pod_ready(const Pod& pod) {
  if (pod.phase != Pod::Phase::kRunning || pod.terminating) {
    return false;
  }
  for (const auto& c : pod.main) {
    if (!c->ready || c->state != Container::State::kRunning) {
      return false;
    }
  }
  for (const auto& c : pod.init) {
    if (c->spec.is_sidecar() && (!c->ready || c->state != Container::State::kRunning)) {
      return false;
    }
  }
  return true;
}

json::object Pod::to_json() const {
  json::object o;
  o["name"] = spec.name;
  o["namespace"] = spec.namespace_;
  if (!spec.deployment.empty()) {
    o["deployment"] = spec.deployment;
  }
  o["phase"] = phase_name(phase);
  o["podIP"] = ip;
  o["paused"] = paused;
  if (!network_error.empty()) {
    o["networkError"] = network_error;
  }
  if (!delay.empty()) {
    o["delay"] = delay;
  }
  o["terminating"] = terminating;
  bool ready = pod_ready(*this);
  o["ready"] = ready;
  json::array conditions;
  json::object rc;
  rc["type"] = "Ready";
  rc["status"] = ready ? "True" : "False";
  conditions.push_back(std::move(rc));
  o["conditions"] = std::move(conditions);
  // A container running a tender role links to its own web view, through the runner.
  auto with_admin = [this](const Container& c) {
    json::object co = c.to_json();
    if (c.admin) {
      co["admin"] = c.admin->str();
      co["ui"] = "v1/pods/" + spec.name + "/containers/" + c.spec.name + "/admin/ui";
    }
    return co;
  };
  json::array inits;
  for (const auto& c : init) {
    inits.push_back(with_admin(*c));
  }
  o["initContainers"] = std::move(inits);
  json::array mains;
  for (const auto& c : main) {
    mains.push_back(with_admin(*c));
  }
  o["containers"] = std::move(mains);
  o["createdAt"] = iso8601(created);
  return o;
}

namespace {

// Each column as wide as its widest cell, so a long state or name does not push the columns
// after it out of line; column `right` is right-aligned, the last unpadded.
std::string align_columns(const std::vector<std::vector<std::string>>& rows,
                          std::size_t right = std::string::npos) {
  std::vector<std::size_t> width(rows.front().size());
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i + 1 < r.size(); ++i) {
      std::string pad(width[i] - r[i].size(), ' ');
      out += i == right ? pad + r[i] + "  " : r[i] + pad + " ";
    }
    out += r.back();
    out += '\n';
  }
  return out;
}

}  // namespace

std::string status_table(const json::value& v) {
  std::vector<std::vector<std::string>> rows{
      {"POD", "PHASE", "READY", "CONTAINER", "TYPE", "STATE", "RESTARTS", "LAST EXIT"}};
  for (const auto& p : v.at("pods").as_array()) {
    const auto& pod = p.as_object();
    auto row = [&](const json::value& cv) {
      const auto& c = cv.as_object();
      const auto& st = c.at("state").as_object();
      std::string state = std::string(st.begin()->key());
      if (const auto* w = st.if_contains("waiting")) {
        state += "(" + std::string(w->at("reason").as_string()) + ")";
      }
      std::string last = "-";
      const auto& ls = c.at("lastState").as_object();
      if (const auto* t = ls.if_contains("terminated")) {
        last = std::string(t->at("message").as_string());
      } else if (const auto* t2 = st.if_contains("terminated")) {
        last = std::string(t2->at("message").as_string());
      }
      rows.push_back({std::string(pod.at("name").as_string()),
                      std::string(pod.at("phase").as_string()),
                      pod.at("ready").as_bool() ? "true" : "false",
                      std::string(c.at("name").as_string()), std::string(c.at("type").as_string()),
                      state, std::to_string(c.at("restartCount").as_int64()), last});
    };
    for (const auto& c : pod.at("initContainers").as_array()) {
      row(c);
    }
    for (const auto& c : pod.at("containers").as_array()) {
      row(c);
    }
  }
  constexpr std::size_t kRestarts = 6;  // right-aligned
  return align_columns(rows, kRestarts);
}

std::string services_table(const json::value& v) {
  std::vector<std::vector<std::string>> rows{
      {"SERVICE", "TYPE", "CLUSTER-IP", "PORTS", "ENDPOINTS"}};
  for (const auto& sv : v.at("services").as_array()) {
    const auto& s = sv.as_object();
    std::string ports;
    std::size_t endpoints = 0;
    for (const auto& pv : s.at("ports").as_array()) {
      const auto& p = pv.as_object();
      ports += (ports.empty() ? "" : ",") + std::to_string(p.at("port").as_int64());
      if (const auto* node = p.if_contains("nodePort")) {
        ports += ":" + std::to_string(node->as_int64());
      }
      ports += "/" + std::string(p.at("protocol").as_string());
      endpoints = std::max(endpoints, p.at("endpoints").as_array().size());
    }
    std::size_t ready = 0;
    for (const auto& pod : s.at("pods").as_array()) {
      ready += pod.at("ready").as_bool() ? 1 : 0;
    }
    // A headless Service has no ports to count: its ready pods are what it names.
    rows.push_back({std::string(s.at("name").as_string()), std::string(s.at("type").as_string()),
                    std::string(s.at("clusterIP").as_string()), ports.empty() ? "-" : ports,
                    std::to_string(ports.empty() ? ready : endpoints)});
  }
  return align_columns(rows);
}

}  // namespace tender::pod

// The runner's admin API: /v1/pods, signals, restarts, deployments, and the faults.
#include <boost/json.hpp>

#include "core/log.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {

namespace json = boost::json;

namespace {

asio::awaitable<void> reply_with(asio::awaitable<Response> work, Reply reply) {
  reply(co_await std::move(work));
}

// The JSON object of a request body; an empty body is an empty object. nullopt if malformed.
std::optional<json::object> body_object(const Request& req) {
  if (req.body.empty()) {
    return json::object();
  }
  boost::system::error_code ec;
  auto v = json::parse(req.body, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return v.as_object();
}

// A list of strings at `key`, or nullopt if it is something else.
std::optional<std::vector<std::string>> strings(const json::value& v) {
  if (!v.is_array()) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& e : v.as_array()) {
    if (!e.is_string()) {
      return std::nullopt;
    }
    out.emplace_back(e.as_string());
  }
  return out;
}

}  // namespace

void PodRunner::add_admin_routes(Router& r) {
  Impl* s = impl_.get();
  // Every handler does its work on the supervisor thread, which owns the pods.
  r.add_async("GET", "/v1/pods", [s](Request&, Reply reply) {
    asio::post(s->ioc, [s, reply] {
      json::array pods;
      for (const auto& pod : s->pods) {
        if (!pod->deleted) {
          pods.push_back(pod->to_json());
        }
      }
      json::object o;
      o["pods"] = std::move(pods);
      reply(Response::json(200, o));
    });
  });
  r.add_async("GET", "/v1/pods/{name}", [s](Request& req, Reply reply) {
    std::string name(req.param("name"));
    asio::post(s->ioc, [s, reply, name] {
      Pod* pod = s->find_pod(name);
      reply(pod != nullptr ? Response::json(200, pod->to_json())
                           : Response::error(404, "no pod named " + name));
    });
  });
  add_container_routes(r);
  add_workload_routes(r);
  add_fault_routes(r);
  add_web_routes(r);
}

// Signalling and restarting a container.
void PodRunner::add_container_routes(Router& r) {
  Impl* s = impl_.get();
  r.add_async("POST", "/v1/pods/{name}/containers/{c}/signal", [s](Request& req, Reply reply) {
    std::string name(req.param("name"));
    std::string cname(req.param("c"));
    std::string sig_text = req.query_param("signal").value_or("");
    if (sig_text.empty() && !req.body.empty()) {
      boost::system::error_code ec;
      auto v = json::parse(req.body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("signal") ||
          !v.at("signal").is_string()) {
        reply(Response::error(400, "body must be JSON like {\"signal\": \"TERM\"}"));
        return;
      }
      sig_text = std::string(v.at("signal").as_string());
    }
    auto sig = parse_signal(sig_text.empty() ? "TERM" : sig_text);
    if (!sig) {
      reply(Response::error(400, "unknown signal \"" + sig_text + "\""));
      return;
    }
    asio::post(s->ioc, [s, reply, name, cname, sig = *sig] {
      Pod* pod = s->find_pod(name);
      Container* c = pod != nullptr ? find_container(*pod, cname) : nullptr;
      if (c == nullptr) {
        reply(Response::error(404, "no container " + name + "/" + cname));
        return;
      }
      if (!c->process) {
        reply(Response::error(409, "container " + name + "/" + cname + " is not running"));
        return;
      }
      (void)c->process->kill_group(sig);
      reply(Response::text(200, "sent " + signal_name(sig) + "\n"));
    });
  });
  r.add_async("POST", "/v1/pods/{name}/containers/{c}/restart", [s](Request& req, Reply reply) {
    std::string name(req.param("name"));
    std::string cname(req.param("c"));
    asio::post(s->ioc, [s, reply, name, cname] {
      Pod* pod = s->find_pod(name);
      Container* c = pod != nullptr ? find_container(*pod, cname) : nullptr;
      if (c == nullptr) {
        reply(Response::error(404, "no container " + name + "/" + cname));
        return;
      }
      if (pod->terminating || c->done) {
        reply(Response::error(409, "container " + name + "/" + cname + " will not run again"));
        return;
      }
      c->restart_now = true;
      if (c->process) {
        asio::co_spawn(s->ioc, s->kill_container(*pod, *c, false), asio::detached);
      }
      reply(Response::text(202, "restarting\n"));
    });
  });
}

// Deployments (and their scaling) and Services.
void PodRunner::add_workload_routes(Router& r) {
  Impl* s = impl_.get();
  r.add_async("GET", "/v1/deployments", [s](Request&, Reply reply) {
    asio::post(s->ioc, [s, reply] {
      json::object deps;
      for (const auto& [name, d] : s->deployments) {
        deps[name] = d.replicas;
      }
      json::object o;
      o["deployments"] = std::move(deps);
      reply(Response::json(200, o));
    });
  });
  r.add_async("GET", "/v1/services", [s](Request&, Reply reply) {
    asio::post(s->ioc, [s, reply] {
      json::object o;
      o["services"] = s->services_json();
      reply(Response::json(200, o));
    });
  });
  r.add_async("POST", "/v1/deployments/{name}/scale", [s](Request& req, Reply reply) {
    std::string name(req.param("name"));
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("replicas") ||
        !v.at("replicas").is_int64() || v.at("replicas").as_int64() < 0 ||
        v.at("replicas").as_int64() > 1000) {
      reply(Response::error(400, "body must be JSON like {\"replicas\": 3} with 0 to 1000"));
      return;
    }
    int n = static_cast<int>(v.at("replicas").as_int64());
    asio::post(s->ioc, [s, reply, name, n] {
      if (s->deployments.count(name) == 0) {
        reply(Response::error(404, "no deployment named " + name));
        return;
      }
      if (s->draining) {
        reply(Response::error(409, "the runner is shutting down"));
        return;
      }
      std::int64_t total = static_cast<std::int64_t>(s->opts.manifests.pods.size()) + n;
      for (const auto& [other, d] : s->deployments) {
        total += other == name ? 0 : d.replicas;
      }
      if (total > s->opts.limits.max_pods) {
        reply(Response::error(400, "the run would have " + std::to_string(total) +
                                       " pods, more than the limit of " +
                                       std::to_string(s->opts.limits.max_pods) + " (--max-pods)"));
        return;
      }
      s->scale(name, n);
      json::object o;
      o["deployment"] = name;
      o["replicas"] = n;
      reply(Response::json(200, o));
    });
  });
}

void PodRunner::add_fault_routes(Router& r) {
  Impl* s = impl_.get();
  r.add_async("POST", "/v1/pods/{name}/kill", [s](Request& req, Reply reply) {
    auto body = body_object(req);
    if (!body) {
      reply(Response::error(400,
                            "body must be JSON like {\"signal\": \"KILL\", \"container\": \"c\"}"));
      return;
    }
    std::string sig_text = req.query_param("signal").value_or("");
    std::string container = req.query_param("container").value_or("");
    if (auto* v = body->if_contains("signal")) {
      if (v->is_string()) {
        sig_text = std::string(v->as_string());
      } else if (v->is_int64()) {
        sig_text = std::to_string(v->as_int64());
      } else {
        reply(Response::error(400, "signal must be a name like \"TERM\" or a number"));
        return;
      }
    }
    if (auto* v = body->if_contains("container")) {
      if (!v->is_string()) {
        reply(Response::error(400, "container must be a string"));
        return;
      }
      container = std::string(v->as_string());
    }
    auto sig = parse_signal(sig_text.empty() ? "KILL" : sig_text);
    if (!sig) {
      reply(Response::error(400, "unknown signal \"" + sig_text + "\""));
      return;
    }
    std::string name(req.param("name"));
    asio::post(s->ioc, [s, reply, name, container, sig = *sig] {
      Pod* pod = s->find_pod(name);
      reply(pod != nullptr ? s->signal_pod(*pod, container, sig)
                           : Response::error(404, "no pod named " + name));
    });
  });
  for (bool pause : {true, false}) {
    r.add_async("POST", pause ? "/v1/pods/{name}/pause" : "/v1/pods/{name}/resume",
                [s, pause](Request& req, Reply reply) {
                  std::string name(req.param("name"));
                  asio::post(s->ioc, [s, reply, name, pause] {
                    Pod* pod = s->find_pod(name);
                    reply(pod != nullptr ? s->pause_pod(*pod, pause)
                                         : Response::error(404, "no pod named " + name));
                  });
                });
  }
  add_network_fault_routes(r);
}

// Partitions and delays, on the pod network.
void PodRunner::add_network_fault_routes(Router& r) {
  Impl* s = impl_.get();
  r.add_async("GET", "/v1/partitions", [s](Request&, Reply reply) {
    asio::post(s->ioc, [s, reply] { reply(Response::json(200, s->partitions_json())); });
  });
  r.add_async("POST", "/v1/partitions", [s](Request& req, Reply reply) {
    auto body = body_object(req);
    std::vector<std::vector<std::string>> groups;
    const json::value* g = body ? body->if_contains("groups") : nullptr;
    bool ok = g != nullptr && g->is_array() && g->as_array().size() >= 2;
    for (std::size_t i = 0; ok && i < g->as_array().size(); ++i) {
      auto names = strings(g->as_array()[i]);
      ok = names && !names->empty();
      if (ok) {
        groups.push_back(std::move(*names));
      }
    }
    if (!ok) {
      reply(Response::error(
          400,
          "body must be JSON like {\"groups\": [[\"a\"], [\"b\", \"c\"]]}: two or more "
          "non-empty groups of pod names"));
      return;
    }
    asio::co_spawn(s->ioc, reply_with(s->partition(std::move(groups)), reply), asio::detached);
  });
  r.add_async("POST", "/v1/partitions/heal", [s](Request& req, Reply reply) {
    auto body = body_object(req);
    std::optional<std::vector<std::string>> pods = std::vector<std::string>{};
    if (body && body->contains("pods")) {
      pods = strings(body->at("pods"));
    }
    if (!body || !pods) {
      reply(Response::error(400, "body must be empty (heal all) or JSON like {\"pods\": [\"a\"]}"));
      return;
    }
    asio::co_spawn(s->ioc, reply_with(s->heal(std::move(*pods)), reply), asio::detached);
  });
  add_delay_route(r);
}

void PodRunner::add_delay_route(Router& r) {
  Impl* s = impl_.get();
  r.add_async("POST", "/v1/pods/{name}/delay", [s](Request& req, Reply reply) {
    auto body = body_object(req);
    // Reads body[key] into `out` (0 when absent); false when it is not a number in [0, max]
    // (or not whole, when it must be).
    auto number = [&](const char* key, double max, bool whole, double& out) {
      out = 0;
      const json::value* v = body ? body->if_contains(key) : nullptr;
      if (v == nullptr) {
        return body.has_value();
      }
      if (!v->is_number() || (whole && !v->is_int64() && !v->is_uint64())) {
        return false;
      }
      out = v->to_number<double>();
      return out >= 0 && out <= max;
    };
    double ms = 0;
    double jitter = 0;
    double loss = 0;
    bool ok = number("ms", 600'000, true, ms) && number("jitter_ms", 600'000, true, jitter) &&
              number("loss", 100, false, loss) && (loss == 0 || loss >= 0.0001);
    if (!ok) {
      reply(Response::error(
          400,
          "body must be JSON like {\"ms\": 100, \"jitter_ms\": 10, \"loss\": "
          "1.5} (whole ms up to 600000, loss a percentage from 0.0001 to 100; all 0 removes "
          "the delay)"));
      return;
    }
    std::string name(req.param("name"));
    int delay_ms = static_cast<int>(ms);
    int jitter_ms = static_cast<int>(jitter);
    double loss_percent = loss;
    asio::post(s->ioc, [s, reply, name, ms = delay_ms, jitter = jitter_ms, loss = loss_percent] {
      Pod* pod = s->find_pod(name);
      if (pod == nullptr) {
        reply(Response::error(404, "no pod named " + name));
        return;
      }
      asio::co_spawn(s->ioc, reply_with(s->set_delay(*pod, ms, jitter, loss), reply),
                     asio::detached);
    });
  });
}

}  // namespace tender::pod

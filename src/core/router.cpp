#include "core/router.hpp"

#include <stdexcept>

#include "core/log.hpp"

namespace tender {
namespace {

void split_path(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) {
      j = path.size();
    }
    out.push_back(path.substr(i, j - i));
    i = j;
  }
}

bool is_param(std::string_view seg) {
  return seg.size() >= 3 && seg.front() == '{' && seg.back() == '}';
}

// Matches `path` against `route`; on success fills `params` (if not null).
bool match_path(const Router::Route& route, const std::vector<std::string_view>& path,
                std::map<std::string, std::string, std::less<>>* params) {
  const auto& segs = route.segments;
  if (route.catch_all ? path.size() < segs.size() : path.size() != segs.size()) {
    return false;
  }
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (!is_param(segs[i]) && segs[i] != path[i]) {
      return false;
    }
  }
  if (params != nullptr) {
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (is_param(segs[i])) {
        (*params)[segs[i].substr(1, segs[i].size() - 2)] = std::string(path[i]);
      }
    }
    if (route.catch_all) {
      std::string rest;
      for (std::size_t i = segs.size(); i < path.size(); ++i) {
        if (!rest.empty()) {
          rest.push_back('/');
        }
        rest.append(path[i]);
      }
      (*params)["*"] = std::move(rest);
    }
  }
  return true;
}

bool method_matches(std::string_view route_method, std::string_view method) {
  return route_method == "*" || route_method == method ||
         (method == "HEAD" && route_method == "GET");
}

}  // namespace

void Router::add_route(Route route, std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  }
  std::vector<std::string_view> segs;
  split_path(pattern, segs);
  if (!segs.empty() && segs.back() == "*") {
    route.catch_all = true;
    segs.pop_back();
  }
  for (auto s : segs) {
    if (s == "*" || (s.find_first_of("{}") != std::string_view::npos && !is_param(s))) {
      throw std::invalid_argument("malformed route pattern: " + std::string(pattern));
    }
    route.segments.emplace_back(s);
  }
  routes_.push_back(std::move(route));
}

void Router::add(std::string method, std::string_view pattern, SyncHandler handler) {
  Route r;
  r.method = std::move(method);
  r.sync = std::move(handler);
  add_route(std::move(r), pattern);
}

void Router::add_async(std::string method, std::string_view pattern, AsyncHandler handler) {
  Route r;
  r.method = std::move(method);
  r.async = std::move(handler);
  add_route(std::move(r), pattern);
}

Router::Match Router::match(Request& req) const {
  Match m;
  if (guard_) {
    if ((m.refused = guard_(req))) {
      return m;
    }
  }
  // The segments' vector is kept by the thread: matching allocates nothing for it.
  thread_local std::vector<std::string_view> path;
  split_path(req.path, path);
  for (const auto& route : routes_) {
    if (!match_path(route, path, nullptr)) {
      continue;
    }
    if (method_matches(route.method, req.method)) {
      req.params.clear();
      match_path(route, path, &req.params);
      m.route = &route;
      m.allow.clear();
      return m;
    }
    if (m.allow.find(route.method) == std::string::npos) {
      if (!m.allow.empty()) {
        m.allow += ", ";
      }
      m.allow += route.method;
      if (route.method == "GET") {
        m.allow += ", HEAD";
      }
    }
  }
  return m;
}

Response Router::respond(Request& req, const Match& m) const {
  if (m.refused) {
    return *m.refused;
  }
  if (m.route == nullptr) {
    if (!m.allow.empty()) {
      auto r = Response::error(
          405, "method " + req.method + " not allowed on " + req.path + "; allowed: " + m.allow);
      r.headers.set("Allow", m.allow);
      return r;
    }
    return Response::error(404, "no such path: " + req.path);
  }
  try {
    return m.route->sync(req);
  } catch (const std::exception& e) {
    log::error("handler failed", {{"path", req.path}, {"error", e.what()}});
    return Response::error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    log::error("handler failed", {{"path", req.path}});
    return Response::error(500, "internal error");
  }
}

void Router::dispatch(Request& req, const Reply& reply) const { dispatch(req, match(req), reply); }

void Router::dispatch(Request& req, const Match& m, const Reply& reply) const {
  if (m.route == nullptr || m.route->sync) {
    reply(respond(req, m));
    return;
  }
  try {
    m.route->async(req, reply);
  } catch (const std::exception& e) {
    log::error("handler failed", {{"path", req.path}, {"error", e.what()}});
    reply(Response::error(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    log::error("handler failed", {{"path", req.path}});
    reply(Response::error(500, "internal error"));
  }
}

}  // namespace tender

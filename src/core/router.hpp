#pragma once
// Maps (method, path) to a handler, with `{name}` path parameters and a trailing `*` catch-all.
//
//   Router r;
//   r.get("/v1/pods/{name}", [](Request& req) {
//     return Response::text(200, std::string(req.param("name")));
//   });
//   r.add_async("*", "/*", [](Request& req, Reply reply) { reply(Response::text(200, "ok")); });
//
// The first matching route wins, in the order they were added. No Asio here.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.hpp"

namespace tender {

using SyncHandler = std::function<Response(Request&)>;
// Must call `reply` exactly once, from any thread; `req` stays valid until then.
using AsyncHandler = std::function<void(Request&, Reply)>;

class Router {
 public:
  struct Route {
    std::string method;  // "*" matches every method
    std::vector<std::string> segments;
    bool catch_all = false;  // pattern ended in "/*"
    SyncHandler sync;
    AsyncHandler async;
  };

  struct Match {
    const Route* route = nullptr;  // null: no route
    // When route is null but the path matched under other methods: the `Allow` value for a 405.
    std::string allow;
    // The guard's answer when it refused the request (route is null then).
    std::optional<Response> refused;
  };
  // Looks at every request before its route is matched: an answer refuses the request with it.
  using Guard = std::function<std::optional<Response>(const Request&)>;

  // `pattern` is an absolute path; segments of the form `{name}` capture one segment, and a
  // final `*` segment captures the rest (as parameter "*"). Throws std::invalid_argument on a
  // malformed pattern.
  void add(std::string method, std::string_view pattern, SyncHandler handler);
  void add_async(std::string method, std::string_view pattern, AsyncHandler handler);
  void get(std::string_view pattern, SyncHandler handler) {
    add("GET", pattern, std::move(handler));
  }
  void post(std::string_view pattern, SyncHandler handler) {
    add("POST", pattern, std::move(handler));
  }

  // Sets the guard (one; a later call replaces it). Not thread-safe: call before serving.
  void guard(Guard g) { guard_ = std::move(g); }

  // Finds the route for `req` and fills req.params. HEAD requests match GET routes.
  [[nodiscard]] Match match(Request& req) const;

  // Runs the matching handler, or answers 404 / 405 itself. Catches handler exceptions and
  // answers 500. `reply` is called exactly once.
  void dispatch(Request& req, const Reply& reply) const;
  // The same for a match already made by match(req).
  void dispatch(Request& req, const Match& match, const Reply& reply) const;

  // The response for a match without an asynchronous handler: 404, 405, or the synchronous
  // handler's answer (500 if it throws). Lets a server skip the asynchronous machinery.
  [[nodiscard]] Response respond(Request& req, const Match& match) const;

 private:
  void add_route(Route route, std::string_view pattern);
  std::vector<Route> routes_;
  Guard guard_;
};

}  // namespace tender

// What the redis listener does with each command of a client (redis_conn.hpp): commands
// answered here (PING, AUTH, HELLO, CLIENT, SELECT, ...), a single-key command sent to the
// server its key hashes to, and a multi-key one (MGET, DEL, MSET, ...) split over the servers of
// its keys, whose replies are combined into one.
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ambassador/redis_conn.hpp"
#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/http.hpp"

namespace tender::ambassador::redis_internal {

void deliver(SlotPtr slot, int index, std::string_view reply) {
  if (index < 0) {
    slot->reply.assign(reply);
    finish(std::move(slot));
    return;
  }
  slot->parts[static_cast<std::size_t>(index)].assign(reply);
  if (--slot->parts_pending > 0) {
    return;
  }
  // Every shard has answered: combine.
  std::string out;
  for (const auto& p : slot->parts) {
    if (!p.empty() && p[0] == '-') {
      slot->reply = p;  // the first error wins
      finish(std::move(slot));
      return;
    }
  }
  switch (slot->combine) {
    case Slot::Combine::kMget: {
      std::vector<std::string_view> ordered(slot->keys);
      std::vector<std::string_view> elements;
      for (std::size_t i = 0; i < slot->parts.size(); ++i) {
        if (!resp::array_elements(slot->parts[i], elements) ||
            elements.size() != slot->positions[i].size()) {
          slot->reply = "-ERR upstream sent an MGET reply that does not match the request\r\n";
          finish(std::move(slot));
          return;
        }
        for (std::size_t j = 0; j < elements.size(); ++j) {
          ordered[slot->positions[i][j]] = elements[j];
        }
      }
      resp::append_array_header(out, ordered.size());
      for (auto e : ordered) {
        out += e;
      }
      break;
    }
    case Slot::Combine::kSum: {
      long long sum = 0;
      for (const auto& p : slot->parts) {
        auto n = resp::parse_integer_reply(p);
        if (!n) {
          slot->reply = "-ERR upstream sent a non-integer reply to a split command\r\n";
          finish(std::move(slot));
          return;
        }
        sum += *n;
      }
      resp::append_integer(out, sum);
      break;
    }
    case Slot::Combine::kAllOk:
    case Slot::Combine::kNone:
      resp::append_simple(out, "OK");
      break;
  }
  slot->reply = std::move(out);
  finish(std::move(slot));
}

ServerConn* ClientSession::server_for(std::string_view key, const SlotPtr& slot, int index) {
  const auto& cluster = state_->clusters.front();
  auto& view = listener_->worker().view(cluster);
  const Endpoint* e = view.pick_now(hash_key(resp::hash_tag(key), cluster->hash()));
  if (e == nullptr) {
    deliver(slot, index, no_server(view));
    return nullptr;
  }
  return listener_->server(cluster, *e, state_->config);
}

std::string ClientSession::no_server(WorkerCluster& view) {
  std::string err;
  if (const Endpoint* down = view.owner_down()) {
    // Its keys are not served by another server, which does not have them: a read would
    // answer nil for a key that exists, and a write would be lost when the shard is back.
    state_->errors->with({state_->config.name, "shard_down"}).inc();
    resp::append_error(err, "ERR shard " + down->name + " of cluster " + view.cluster().name() +
                                " is down (unhealthy or ejected); its keys are not served "
                                "elsewhere (auto_eject: false)");
  } else {
    state_->errors->with({state_->config.name, "no_endpoint"}).inc();
    resp::append_error(err, "ERR no server available in cluster " + view.cluster().name());
  }
  return err;
}

void ClientSession::forward(std::string_view bytes, const SlotPtr& slot, int index,
                            std::string_view key) {
  if (auto server = server_for(key, slot, index)) {
    server->send(bytes, slot, index);
  }
}

void ClientSession::handle(const resp::Command& cmd, std::string_view raw) {
  state_->requests->inc();
  const resp::CommandInfo* info = resp::lookup(cmd.args[0]);
  std::string out;
  if (info == nullptr) {
    resp::append_unknown_command_error(out, cmd.args);
    reply_now(std::move(out));
    return;
  }
  if (!resp::arity_ok(*info, cmd.args.size())) {
    resp::append_arity_error(out, *info);
    reply_now(std::move(out));
    return;
  }
  const std::string& password = state_->config.auth;
  if (!password.empty() && !authed_ && info->name != "auth" && info->name != "quit" &&
      info->name != "hello") {
    resp::append_error(out, "NOAUTH Authentication required.");
    reply_now(std::move(out));
    return;
  }
  switch (info->kind) {
    case resp::Kind::kLocal: {
      std::string_view name = info->name;
      if (name == "ping") {
        if (cmd.args.size() > 1) {
          resp::append_bulk(out, cmd.args[1]);
        } else {
          resp::append_simple(out, "PONG");
        }
      } else if (name == "echo") {
        resp::append_bulk(out, cmd.args[1]);
      } else if (name == "quit") {
        resp::append_simple(out, "OK");
        closing_ = true;
      } else if (name == "auth") {
        authenticate(cmd, out);
      } else if (name == "hello") {
        hello(cmd, out);
      } else if (name == "client") {
        client(cmd, out);
      } else if (name == "select") {
        if (cmd.args[1] == "0") {
          resp::append_simple(out, "OK");
        } else {
          resp::append_error(out, "ERR DB index is out of range");
        }
      } else {
        resp::append_error(out, "ERR " + std::string(name) + " is not supported by tender proxy");
      }
      reply_now(std::move(out));
      return;
    }
    case resp::Kind::kUnsupported:
      state_->errors->with({state_->config.name, "unsupported"}).inc();
      resp::append_error(out, "ERR command '" + std::string(info->name) +
                                  "' is not supported by tender proxy: it cannot be sharded");
      reply_now(std::move(out));
      return;
    case resp::Kind::kSingleKey: {
      auto slot = upstream_slot();
      if (!slot) {
        return;
      }
      slots_.push_back(slot);
      if (cmd.inline_form) {
        std::string bytes;
        resp::append_command(bytes, cmd.args);
        forward(bytes, slot, -1, cmd.args[1]);
      } else {
        forward(raw, slot, -1, cmd.args[1]);
      }
      return;
    }
    case resp::Kind::kMultiKey:
    case resp::Kind::kMultiKeyValue:
      split(cmd, *info);
      return;
  }
}

// AUTH [username] password, against the listener's user and password.
void ClientSession::authenticate(const resp::Command& cmd, std::string& out) {
  if (cmd.args.size() > 3) {
    resp::append_error(out, "ERR syntax error");
    return;
  }
  if (state_->config.auth.empty()) {
    resp::append_error(out,
                       "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
    return;
  }
  if (check_credentials(cmd.args.size() == 3 ? cmd.args[1] : "default", cmd.args.back(), out)) {
    resp::append_simple(out, "OK");
  }
}

bool ClientSession::check_credentials(std::string_view user, std::string_view given,
                                      std::string& out) {
  const std::string& want = state_->config.auth;
  // Compared in time that does not depend on where they differ.
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff |= static_cast<unsigned char>(want[i] ^ (i < given.size() ? given[i] : 0));
  }
  const std::string& want_user = state_->config.auth_user;
  if (want.empty() || diff != 0 ||
      user != (want_user.empty() ? std::string_view("default") : want_user)) {
    authed_ = false;
    resp::append_error(out, "WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  authed_ = true;
  return true;
}

// HELLO [2 [AUTH user password] [SETNAME name]]: the connection stays RESP2, which is all the
// proxy speaks. Any other version is answered as a server without HELLO answers (unknown
// command), the answer after which clients that asked for RESP3 carry on in RESP2; NOPROTO
// makes some of them give up.
void ClientSession::hello(const resp::Command& cmd, std::string& out) {
  const auto& args = cmd.args;
  if (args.size() > 1 && args[1] != "2") {
    // Without the arguments after the version, which may hold a password.
    resp::append_unknown_command_error(out, std::span(args).first(2));
    return;
  }
  std::optional<std::pair<std::string_view, std::string_view>> credentials;
  std::optional<std::string_view> name;
  for (std::size_t i = 2; i < args.size();) {
    if (iequals(args[i], "auth") && i + 2 < args.size()) {
      credentials.emplace(args[i + 1], args[i + 2]);
      i += 3;
    } else if (iequals(args[i], "setname") && i + 1 < args.size()) {
      name = args[i + 1];
      i += 2;
    } else {
      resp::append_error(out, "ERR Syntax error in HELLO option '" + std::string(args[i]) + "'");
      return;
    }
  }
  if (credentials && !check_credentials(credentials->first, credentials->second, out)) {
    return;
  }
  if (name && !valid_name(*name, out)) {
    return;
  }
  if (!state_->config.auth.empty() && !authed_) {
    resp::append_error(out,
                       "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the "
                       "same time");
    return;
  }
  if (name) {
    name_ = *name;  // as CLIENT SETNAME, once authenticated
  }
  resp::append_array_header(out, 14);
  for (std::string_view field : {"server", "redis", "version", "7.0.0"}) {
    resp::append_bulk(out, field);
  }
  resp::append_bulk(out, "proto");
  resp::append_integer(out, 2);
  resp::append_bulk(out, "id");
  resp::append_integer(out, static_cast<long long>(id_));
  for (std::string_view field : {"mode", "standalone", "role", "master", "modules"}) {
    resp::append_bulk(out, field);
  }
  resp::append_array_header(out, 0);
}

// CLIENT SETNAME, GETNAME, ID and SETINFO, which clients send on connecting, concern this
// connection alone and are answered here; the rest (LIST, KILL, PAUSE, ...) would be about the
// proxy's shared connections to servers, and are refused.
void ClientSession::client(const resp::Command& cmd, std::string& out) {
  const auto& args = cmd.args;
  std::string_view sub = args[1];
  if (iequals(sub, "setname") && args.size() == 3) {
    if (valid_name(args[2], out)) {
      name_ = args[2];
      resp::append_simple(out, "OK");
    }
  } else if (iequals(sub, "getname") && args.size() == 2) {
    if (name_.empty()) {
      resp::append_null_bulk(out);
    } else {
      resp::append_bulk(out, name_);
    }
  } else if (iequals(sub, "id") && args.size() == 2) {
    resp::append_integer(out, static_cast<long long>(id_));
  } else if (iequals(sub, "setinfo") && args.size() == 4 &&
             (iequals(args[2], "lib-name") || iequals(args[2], "lib-ver"))) {
    resp::append_simple(out, "OK");
  } else {
    state_->errors->with({state_->config.name, "unsupported"}).inc();
    resp::append_error(out, "ERR command 'client " + std::string(sub) +
                                "' is not supported by tender proxy: it cannot be sharded");
  }
}

bool ClientSession::valid_name(std::string_view name, std::string& out) {
  if (name.find_first_of(" \n\r") != std::string_view::npos) {
    resp::append_error(out,
                       "ERR Client names cannot contain spaces, newlines or special characters.");
    return false;
  }
  return true;
}

// MGET/DEL/EXISTS/... and MSET: one sub-command per shard, combined when all have answered.
void ClientSession::split(const resp::Command& cmd, const resp::CommandInfo& info) {
  const auto& cluster = state_->clusters.front();
  auto& view = listener_->worker().view(cluster);
  HashFunction hf = cluster->hash();
  bool pairs = info.kind == resp::Kind::kMultiKeyValue;
  std::size_t step = pairs ? 2 : 1;
  auto slot = upstream_slot();
  if (!slot) {
    return;
  }
  slot->combine = info.name == "mget" ? Slot::Combine::kMget
                  : pairs             ? Slot::Combine::kAllOk
                                      : Slot::Combine::kSum;
  slots_.push_back(slot);
  // Group the keys by the endpoint they hash to, keeping request order within each group.
  std::vector<Picked> order;
  std::map<const EndpointStats*, std::vector<std::size_t>> groups;  // endpoint -> arg indexes
  for (std::size_t i = 1; i + step - 1 < cmd.args.size(); i += step) {
    Picked e = view.pick(hash_key(resp::hash_tag(cmd.args[i]), hf));
    if (!e) {
      deliver(slot, -1, no_server(view));
      return;
    }
    auto& g = groups[e.id()];
    if (g.empty()) {
      order.push_back(e);
    }
    g.push_back(i);
  }
  slot->keys = (cmd.args.size() - 1) / step;
  slot->parts.resize(order.size());
  slot->positions.resize(order.size());
  slot->parts_pending = static_cast<int>(order.size());
  std::vector<std::string_view> sub;
  for (std::size_t p = 0; p < order.size(); ++p) {
    sub.assign(1, cmd.args[0]);
    for (std::size_t i : groups[order[p].id()]) {
      sub.push_back(cmd.args[i]);
      if (pairs) {
        sub.push_back(cmd.args[i + 1]);
      }
      slot->positions[p].push_back((i - 1) / step);
    }
    std::string bytes;
    resp::append_command(bytes, sub);
    listener_->server(cluster, *order[p], state_->config)->send(bytes, slot, static_cast<int>(p));
  }
}

}  // namespace tender::ambassador::redis_internal

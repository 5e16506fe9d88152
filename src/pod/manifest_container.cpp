// The manifest parser's containers: their fields, environment, resources, ports, probes and
// handlers (Parser, manifest_parser.hpp).
#include <algorithm>
#include <set>
#include <string_view>

#include "core/config.hpp"
#include "pod/manifest_parser.hpp"

namespace tender::pod {

using std::chrono::milliseconds;

void Parser::image_and_command(const ConfigNode& c, ContainerSpec& out) {
  out.image = c.string("image").value_or("");
  if (!out.image.empty()) {
    auto ref = parse_image_ref(out.image);
    if (!ref) {
      c.fail("image", ref.error().message());
    }
    out.image_ref = std::move(*ref);
    out.pull_policy = default_pull_policy(*out.image_ref);
  }
  if (auto policy = c.string("imagePullPolicy")) {
    auto parsed = parse_pull_policy(*policy);
    if (!parsed) {
      c.fail("imagePullPolicy", parsed.error().message());
    }
    out.pull_policy = *parsed;
  }
  // As Kubernetes reads it, an empty command is no command: the image's entrypoint runs.
  out.command = text_list(c, "command").value_or(std::vector<std::string>{});
  out.args = text_list(c, "args").value_or(std::vector<std::string>{});
  if (out.command.empty() && out.image.empty()) {
    c.fail("command",
           "required without an image (a container runs its command as a process of this "
           "machine, or else its image's entrypoint)");
  }
}

ContainerSpec Parser::container(const ConfigNode& c, const PodSpec& pod, bool init) {
  if (!c.is_map()) {
    c.fail("", "expected a container (a mapping with name and command)");
  }
  c.warn_unknown({"name", "image", "command", "args", "env", "envFrom", "workingDir", "ports",
                  "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                  "restartPolicy", "securityContext", "resources", "imagePullPolicy",
                  // What a local process does without. Ignored silently.
                  "resizePolicy", "terminationMessagePath", "terminationMessagePolicy", "stdin",
                  "stdinOnce", "tty"});
  ContainerSpec out;
  out.line = c.line();
  out.name = required_text(c, "name");
  if (!is_dns_label(out.name)) {
    c.fail("name",
           "not a valid container name (lowercase letters, digits and '-', at most "
           "63): " +
               quote(out.name));
  }
  image_and_command(c, out);
  out.working_dir = c.string("workingDir").value_or("");
  environment(c, out);
  out.resources = resources(c.child("resources"));
  out.security = parse_container_security(c.child("securityContext"), pod.security);

  std::set<std::string> port_names;
  for (const auto& p : c.child("ports").items()) {
    ContainerPort cp = port(p);
    if (!cp.name.empty() && !port_names.insert(cp.name).second) {
      p.fail("name", "duplicate port name " + quote(cp.name));
    }
    out.ports.push_back(std::move(cp));
  }

  std::set<std::string> mount_paths;
  for (const auto& m : c.child("volumeMounts").items()) {
    VolumeMount vm = volume_mount(m);
    if (!mount_paths.insert(vm.mount_path).second) {
      m.fail("mountPath", "duplicate mountPath " + quote(vm.mount_path));
    }
    out.volume_mounts.push_back(std::move(vm));
  }

  if (auto rp = c.string("restartPolicy")) {
    if (!init) {
      c.fail("restartPolicy",
             "only init containers may set restartPolicy (Always makes them sidecars)");
    }
    if (*rp != "Always") {
      c.fail("restartPolicy", "must be Always (a native sidecar), not " + quote(*rp));
    }
    out.restart_policy = RestartPolicy::kAlways;
  }
  const bool plain_init = init && !out.is_sidecar();
  for (const char* key : {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"}) {
    if (plain_init && c.has(key)) {
      c.fail(key, "not allowed on an init container unless restartPolicy is Always (a sidecar)");
    }
  }
  if (c.has("livenessProbe")) {
    out.liveness_probe = probe(c.child("livenessProbe"), out, "liveness");
  }
  if (c.has("readinessProbe")) {
    out.readiness_probe = probe(c.child("readinessProbe"), out, "readiness");
  }
  if (c.has("startupProbe")) {
    out.startup_probe = probe(c.child("startupProbe"), out, "startup");
  }
  // ConfigNode's has() and warn_unknown() need a node that is present.
  if (ConfigNode lc = c.child("lifecycle"); lc.defined()) {
    lc.warn_unknown({"postStart", "preStop"});
    if (lc.has("postStart")) {
      out.post_start = action(lc.child("postStart"), out, true, pod.termination_grace);
    }
    if (lc.has("preStop")) {
      out.pre_stop = action(lc.child("preStop"), out, true, pod.termination_grace);
    }
  }
  return out;
}

void Parser::environment(const ConfigNode& c, ContainerSpec& out) {
  auto env_from_items = c.child("envFrom").items();
  auto env = c.child("env").items();
  for (const auto* list : {&env_from_items, &env}) {
    if (list->size() > static_cast<std::size_t>(limits_.max_env)) {
      (*list)[static_cast<std::size_t>(limits_.max_env)].fail(
          "", "more than " + std::to_string(limits_.max_env) +
                  (list == &env ? " environment variables" : " envFrom entries") +
                  " in a container (the limit; raise it with --max-env)");
    }
  }
  for (const auto& e : env_from_items) {
    out.env_from.push_back(env_from(e));
  }
  out.env.reserve(env.size());
  for (const auto& e : env) {
    out.env.push_back(env_var(e));
  }
}

EnvVar Parser::env_var(const ConfigNode& e) {
  e.warn_unknown({"name", "value", "valueFrom"});
  EnvVar out;
  out.name = required_text(e, "name");
  if (!is_env_name(out.name)) {
    e.fail("name", "not a valid variable name (printable ASCII without '='): " + quote(out.name));
  }
  out.value = text(e, "value").value_or("");
  if (!e.has("valueFrom")) {
    return out;
  }
  if (!out.value.empty()) {
    e.fail("valueFrom", "not allowed together with a non-empty value");
  }
  ConfigNode from = e.child("valueFrom");
  if (from.has("fileKeyRef")) {
    from.fail("fileKeyRef",
              "not supported locally (fieldRef, resourceFieldRef, "
              "configMapKeyRef and secretKeyRef are)");
  }
  from.warn_unknown({"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"});
  std::vector<std::string> present;
  for (const char* key : {"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"}) {
    if (from.has(key)) {
      present.emplace_back(key);
    }
  }
  if (present.empty()) {
    from.fail("", "one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef is required");
  }
  if (present.size() > 1) {
    from.fail(present[1],
              "only one source is allowed (found " + present[0] + " and " + present[1] + ")");
  }
  ConfigNode ref = from.child(present[0]);
  if (!ref.is_map()) {
    from.fail(present[0], "expected a mapping");
  }
  if (present[0] == "resourceFieldRef") {
    out.resource_ref = resource_ref(ref, false);
    return out;
  }
  if (present[0] != "fieldRef") {
    out.key_ref = key_ref(ref, present[0] == "secretKeyRef");
    return out;
  }
  ref.warn_unknown({"fieldPath", "apiVersion"});
  out.field_path = required_text(ref, "fieldPath");
  if (!is_env_field_path(out.field_path)) {
    ref.fail("fieldPath", "unsupported fieldPath " + quote(out.field_path) +
                              " (metadata.name, metadata.namespace, metadata.labels['key'], "
                              "metadata.annotations['key'], spec.nodeName, "
                              "spec.serviceAccountName, status.podIP, status.podIPs, "
                              "status.hostIP, status.hostIPs)");
  }
  return out;
}

Resources Parser::resources(const ConfigNode& r) {
  Resources out;
  if (!r.defined()) {
    return out;
  }
  r.warn_unknown({"limits", "requests", "claims"});
  for (auto [key, map] : {std::pair{"limits", &out.limits}, std::pair{"requests", &out.requests}}) {
    ConfigNode c = r.child(key);
    for (const auto& [name, value] : entries(c)) {
      if (!is_qualified_name(name)) {
        c.fail(name, "not a valid resource name: " + quote(name));
      }
      std::string q = value.defined() && value.is_scalar() ? value.as_string() : "";
      auto v = name == "cpu" ? parse_cpu_millis(q) : parse_quantity(q);
      if (!v) {
        c.fail(name, "not a quantity (like 500m or 2 for cpu, 128Mi or 1G otherwise): " + quote(q));
      }
      (*map)[name] = *v;
    }
  }
  for (const auto& [name, request] : out.requests) {
    auto limit = out.limits.find(name);
    if (limit != out.limits.end() && request > limit->second) {
      r.child("requests").fail(name, "must be less than or equal to the " + name + " limit");
    }
  }
  return out;
}

ResourceRef Parser::resource_ref(const ConfigNode& ref, bool in_volume) {
  ref.warn_unknown({"containerName", "resource", "divisor"});
  ResourceRef out;
  out.resource = required_text(ref, "resource");
  if (!is_resource_field(out.resource)) {
    ref.fail("resource", "unsupported resource " + quote(out.resource) +
                             " (limits. or requests. of cpu, memory, ephemeral-storage or "
                             "hugepages-<size>)");
  }
  if (auto name = ref.string("containerName"); name && !name->empty()) {
    out.container = *name;
    container_refs_.push_back(ref);  // pod_spec() checks it once it knows every container
  } else if (in_volume) {
    ref.fail("containerName", "required in a downwardAPI volume");
  }
  const bool cpu = out.resource.ends_with(".cpu");
  std::string divisor = ref.string("divisor").value_or("1");
  auto d = cpu ? parse_cpu_millis(divisor) : parse_quantity(divisor);
  // As the API server: 1m or 1 for cpu, 1 or a power of 1000 or 1024 for the others.
  bool ok = d.has_value() && (cpu ? (*d == 1 || *d == 1000) : false);
  if (d && !cpu) {
    std::uint64_t p1000 = 1;
    std::uint64_t p1024 = 1;
    for (int i = 0; i <= 6; ++i, p1000 *= 1000, p1024 *= 1024) {  // up to E and Ei
      ok = ok || *d == p1000 || *d == p1024;
    }
  }
  if (!ok) {
    ref.fail("divisor", cpu ? "must be 1m or 1 for cpu, not " + quote(divisor)
                            : "must be 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi or 1Ei, "
                              "not " +
                                  quote(divisor));
  }
  out.divisor = *d;
  return out;
}

ContainerPort Parser::port(const ConfigNode& p) {
  p.warn_unknown({"containerPort", "hostPort", "name", "protocol"});
  ContainerPort out;
  auto cp = p.integer("containerPort", 1, 65535);
  if (!cp) {
    p.fail("containerPort", "required (1-65535)");
  }
  out.container_port = static_cast<std::uint16_t>(*cp);
  out.host_port = static_cast<std::uint16_t>(p.integer("hostPort", 0, 65535).value_or(0));
  out.name = p.string("name").value_or("");
  if (!out.name.empty() && !is_port_name(out.name)) {
    p.fail("name",
           "not a valid port name (at most 15 of lowercase letters, digits and '-', "
           "with a letter): " +
               quote(out.name));
  }
  out.protocol = p.string("protocol").value_or("TCP");
  if (out.protocol != "TCP" && out.protocol != "UDP" && out.protocol != "SCTP") {
    p.fail("protocol", "not one of TCP, UDP, SCTP: " + quote(out.protocol));
  }
  return out;
}

Probe Parser::probe(const ConfigNode& p, const ContainerSpec& c, std::string_view kind) {
  p.warn_unknown({"httpGet", "tcpSocket", "exec", "grpc", "initialDelaySeconds", "periodSeconds",
                  "timeoutSeconds", "successThreshold", "failureThreshold"});
  Probe out;
  out.action = action(p, c, false, milliseconds(0));
  // As in Kubernetes, 0 (the API's zero value) means the default.
  auto field = [&](std::string_view key, std::int64_t fallback) {
    std::int64_t v = p.integer(key, 0, kMaxSeconds).value_or(0);
    return v == 0 ? fallback : v;
  };
  out.initial_delay = seconds_field(p, "initialDelaySeconds", 0, 0);
  out.period = milliseconds(field("periodSeconds", 10) * 1000);
  out.timeout = milliseconds(field("timeoutSeconds", 1) * 1000);
  out.success_threshold = static_cast<int>(field("successThreshold", 1));
  out.failure_threshold = static_cast<int>(field("failureThreshold", 3));
  if (kind != "readiness" && out.success_threshold != 1) {
    p.fail("successThreshold", "must be 1 for a " + std::string(kind) + " probe");
  }
  return out;
}

Action Parser::action(const ConfigNode& a, const ContainerSpec& c, bool handler,
                      milliseconds grace) {
  if (!a.is_map()) {
    a.fail("", handler ? "expected a handler (exec, httpGet, tcpSocket or sleep)"
                       : "expected a probe (exec, httpGet, tcpSocket or grpc, and timings)");
  }
  if (handler) {
    a.warn_unknown({"exec", "httpGet", "tcpSocket", "sleep"});
  }
  std::vector<std::string> present;
  for (const char* key : {"exec", "httpGet", "tcpSocket", "grpc", "sleep"}) {
    // sleep is a handler's only, grpc a probe's only.
    if (std::string_view(key) != (handler ? "grpc" : "sleep") && a.has(key)) {
      present.emplace_back(key);
    }
  }
  if (present.empty()) {
    a.fail("", handler ? "one of exec, httpGet, tcpSocket or sleep is required"
                       : "one of exec, httpGet, tcpSocket or grpc is required");
  }
  if (present.size() > 1) {
    a.fail(present[1],
           "only one action is allowed (found " + present[0] + " and " + present[1] + ")");
  }
  Action out;
  const std::string& kind = present[0];
  ConfigNode n = a.child(kind);
  if (kind == "exec") {
    n.warn_unknown({"command"});
    auto cmd = text_list(n, "command");
    if (!cmd || cmd->empty()) {
      n.fail("command", "required: the command to run");
    }
    out.exec = ExecAction{std::move(*cmd)};
  } else if (kind == "httpGet") {
    out.http_get = http_get(n, c);
  } else if (kind == "tcpSocket") {
    n.warn_unknown({"port", "host"});
    TcpSocketAction t;
    t.port = port_ref(n, c);
    t.host = n.string("host").value_or("");
    out.tcp_socket = std::move(t);
  } else if (kind == "grpc") {
    out.grpc = grpc(n);
  } else {
    // sleep: run sleep(1) for that long, which is what Kubernetes' sleep action amounts to.
    n.warn_unknown({"seconds"});
    auto s = n.integer("seconds", 0, kMaxSeconds);
    if (!s) {
      n.fail("seconds", "required");
    }
    if (*s * 1000 > grace.count()) {
      n.fail("seconds", "must not exceed terminationGracePeriodSeconds (" +
                            std::to_string(grace.count() / 1000) + ")");
    }
    out.exec = ExecAction{{"sleep", std::to_string(*s)}};
  }
  return out;
}

// A probe's grpc: {port, service}. Unlike httpGet's and tcpSocket's, the port is a number only.
GrpcAction Parser::grpc(const ConfigNode& g) {
  if (!g.is_map()) {
    g.fail("", "expected {port, service}");
  }
  g.warn_unknown({"port", "service"});
  auto s = g.string("port");
  if (!s) {
    g.fail("port", "required (a number: grpc probes take no port names)");
  }
  const std::string_view digits = std::string_view(*s).substr(s->starts_with('-') ? 1 : 0);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    g.fail("port", "must be a number (grpc probes take no port names): " + quote(*s));
  }
  GrpcAction out;
  out.port = static_cast<std::uint16_t>(*g.integer("port", 1, 65535));
  out.service = g.string("service").value_or("");
  return out;
}

HttpGetAction Parser::http_get(const ConfigNode& h, const ContainerSpec& c) {
  h.warn_unknown({"path", "port", "host", "scheme", "httpHeaders"});
  HttpGetAction out;
  out.port = port_ref(h, c);
  out.host = h.string("host").value_or("");
  out.path = h.string("path").value_or("/");
  if (out.path.empty() || out.path.front() != '/') {
    out.path.insert(0, "/");  // as the kubelet builds the URL
  }
  out.scheme = h.string("scheme").value_or("HTTP");
  if (out.scheme == "HTTPS") {
    h.fail("scheme", "HTTPS is not supported locally (only HTTP)");
  }
  if (out.scheme != "HTTP") {
    h.fail("scheme", "not HTTP or HTTPS: " + quote(out.scheme));
  }
  for (const auto& hdr : h.child("httpHeaders").items()) {
    hdr.warn_unknown({"name", "value"});
    std::string name = required_text(hdr, "name");
    if (!is_http_token(name)) {
      hdr.fail("name", "not a valid header name: " + quote(name));
    }
    out.headers.emplace_back(std::move(name), hdr.string("value").value_or(""));
  }
  return out;
}

// `port` of an httpGet or tcpSocket: a number, or the name of one of the container's ports.
std::uint16_t Parser::port_ref(const ConfigNode& n, const ContainerSpec& c) {
  auto s = n.string("port");
  if (!s) {
    n.fail("port", "required (a number or the name of a container port)");
  }
  if (!s->empty() &&
      std::all_of(s->begin(), s->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return static_cast<std::uint16_t>(*n.integer("port", 1, 65535));
  }
  if (!is_port_name(*s)) {
    n.fail("port", "not a port number or port name: " + quote(*s));
  }
  for (const auto& p : c.ports) {
    if (p.name == *s) {
      return p.container_port;
    }
  }
  n.fail("port", "no port named " + quote(*s) + " in container " + quote(c.name) + "'s ports");
}

}  // namespace tender::pod

#include "pod/manifest.hpp"
#include "pod/manifest_test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/log_test_support.hpp"

namespace tender::pod {
namespace {

using std::chrono::milliseconds;
using Env = std::vector<std::pair<std::string, std::string>>;

const std::string testdata_dir = TENDER_POD_TESTDATA_DIR;

Manifests parse(const std::string& yaml) { return parse_manifests(yaml, "web.yaml"); }

std::string error_of(const std::string& yaml) { return testing::manifest_error(yaml, "web.yaml"); }

// A valid pod whose first container is open at its end: a test's own lines start at line 9,
// indented by 6 to extend the container or by 2 to extend the pod's spec.
const std::string base_pod =
    "apiVersion: v1\n"             // 1
    "kind: Pod\n"                  // 2
    "metadata:\n"                  // 3
    "  name: web\n"                // 4
    "spec:\n"                      // 5
    "  containers:\n"              // 6
    "    - name: app\n"            // 7
    "      command: [\"app\"]\n";  // 8

const ContainerSpec& app(const Manifests& m) { return m.pods.at(0).containers.at(0); }

// The value of `key=` in a text log line.
std::string field_value(const std::string& line, const std::string& key) {
  auto at = line.find(" " + key + "=");
  if (at == std::string::npos) {
    return "";
  }
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

// "line:field" of every unknown-field warning, in order.
std::vector<std::string> unknown_fields(const LogCapture& logs) {
  std::vector<std::string> out;
  for (const auto& l : logs.lines()) {
    if (l.find("unknown configuration field ignored") == std::string::npos) {
      continue;
    }
    out.push_back(field_value(l, "line") + ":" + field_value(l, "field"));
  }
  return out;
}

// ---- pods and their defaults ------------------------------------------------------------------

TEST(Manifest, MinimalPodGetsKubernetesDefaults) {
  Manifests m = parse(base_pod);
  ASSERT_EQ(m.pods.size(), 1u);
  EXPECT_TRUE(m.deployments.empty());
  const PodSpec& p = m.pods[0];
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.namespace_, "default");
  EXPECT_EQ(p.restart_policy, RestartPolicy::kAlways);
  EXPECT_EQ(p.termination_grace, milliseconds(30'000));
  EXPECT_EQ(p.file, "web.yaml");
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.deployment, "");
  EXPECT_EQ(p.replica_index, -1);
  EXPECT_TRUE(p.init_containers.empty());
  EXPECT_TRUE(p.volumes.empty());
  ASSERT_EQ(p.containers.size(), 1u);
  const ContainerSpec& c = p.containers[0];
  EXPECT_EQ(c.name, "app");
  EXPECT_EQ(c.command, std::vector<std::string>{"app"});
  EXPECT_TRUE(c.args.empty());
  EXPECT_EQ(c.working_dir, "");
  EXPECT_EQ(c.line, 7);
  EXPECT_FALSE(c.liveness_probe || c.readiness_probe || c.startup_probe);
  EXPECT_FALSE(c.post_start || c.pre_stop || c.restart_policy);
  EXPECT_FALSE(c.is_sidecar());
}

TEST(Manifest, PodFieldsAreRead) {
  Manifests m = parse(R"y(apiVersion: v1
kind: Pod
metadata:
  name: api.v2
  namespace: shop
  labels: {app: api, example.com/tier: "back-end"}
  annotations:
    note: "anything at all: even spaces"
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
    - name: api
      image: api:1
      command: ["/bin/api", "--flag"]
      args: ["a", "b c"]
      workingDir: /srv
      env:
        - name: A
          value: "1"
        - name: EMPTY
        - name: LABEL
          valueFrom:
            fieldRef:
              apiVersion: v1
              fieldPath: metadata.labels['app']
      ports:
        - containerPort: 8080
        - name: metrics
          containerPort: 9090
          hostPort: 19090
          protocol: UDP
)y");
  const PodSpec& p = m.pods.at(0);
  EXPECT_EQ(p.name, "api.v2");
  EXPECT_EQ(p.namespace_, "shop");
  EXPECT_EQ(p.labels,
            (std::map<std::string, std::string>{{"app", "api"}, {"example.com/tier", "back-end"}}));
  EXPECT_EQ(p.annotations.at("note"), "anything at all: even spaces");
  EXPECT_EQ(p.restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(p.termination_grace, milliseconds(0));
  const ContainerSpec& c = p.containers.at(0);
  EXPECT_EQ(c.command, (std::vector<std::string>{"/bin/api", "--flag"}));
  EXPECT_EQ(c.args, (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(c.working_dir, "/srv");
  ASSERT_EQ(c.env.size(), 3u);
  EXPECT_EQ(c.env[0].name, "A");
  EXPECT_EQ(c.env[0].value, "1");
  EXPECT_EQ(c.env[0].field_path, "");
  EXPECT_EQ(c.env[1].name, "EMPTY");
  EXPECT_EQ(c.env[1].value, "");
  EXPECT_EQ(c.env[2].field_path, "metadata.labels['app']");
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].container_port, 8080);
  EXPECT_EQ(c.ports[0].name, "");
  EXPECT_EQ(c.ports[0].protocol, "TCP");
  EXPECT_EQ(c.ports[0].host_port, 0);
  EXPECT_EQ(c.ports[1].name, "metrics");
  EXPECT_EQ(c.ports[1].host_port, 19090);
  EXPECT_EQ(c.ports[1].protocol, "UDP");
}

TEST(Manifest, RestartPolicyNames) {
  EXPECT_STREQ(restart_policy_name(RestartPolicy::kAlways), "Always");
  EXPECT_STREQ(restart_policy_name(RestartPolicy::kOnFailure), "OnFailure");
  EXPECT_STREQ(restart_policy_name(RestartPolicy::kNever), "Never");
  EXPECT_EQ(parse(base_pod + "  restartPolicy: OnFailure\n").pods[0].restart_policy,
            RestartPolicy::kOnFailure);
}

TEST(Manifest, EmptyDocumentsAreSkipped) {
  Manifests m = parse("---\n# only a comment\n---\n" + base_pod + "---\n---\n");
  ASSERT_EQ(m.pods.size(), 1u);
  EXPECT_EQ(m.pods[0].line, 4);
  EXPECT_TRUE(parse("").pods.empty());
  EXPECT_TRUE(parse("---\n---\n").pods.empty());
}

TEST(Manifest, ManyPodsInOneStreamKeepFileOrder) {
  std::string two = base_pod + "---\n" + base_pod;
  two.replace(two.rfind("name: web"), 9, "name: api");
  Manifests m = parse(two);
  ASSERT_EQ(m.pods.size(), 2u);
  EXPECT_EQ(m.pods[0].name, "web");
  EXPECT_EQ(m.pods[1].name, "api");
  EXPECT_EQ(m.pods[1].line, 10);
  EXPECT_EQ(m.pods[1].containers[0].line, 16);
}

// ---- probes and handlers ----------------------------------------------------------------------

TEST(Manifest, ProbeDefaultsMatchKubernetes) {
  Manifests m = parse(base_pod + R"y(      livenessProbe:
        exec:
          command: ["check"]
      readinessProbe:
        tcpSocket:
          port: 8080
        periodSeconds: 0
        failureThreshold: 0
)y");
  const Probe& p = *app(m).liveness_probe;
  ASSERT_TRUE(p.action.exec);
  EXPECT_FALSE(p.action.http_get || p.action.tcp_socket);
  EXPECT_EQ(p.action.exec->command, std::vector<std::string>{"check"});
  EXPECT_EQ(p.initial_delay, milliseconds(0));
  EXPECT_EQ(p.period, milliseconds(10'000));
  EXPECT_EQ(p.timeout, milliseconds(1'000));
  EXPECT_EQ(p.success_threshold, 1);
  EXPECT_EQ(p.failure_threshold, 3);
  // 0 is the API's "unset", so it means the default, as in Kubernetes.
  const Probe& r = *app(m).readiness_probe;
  EXPECT_EQ(r.action.tcp_socket->port, 8080);
  EXPECT_EQ(r.action.tcp_socket->host, "");
  EXPECT_EQ(r.period, milliseconds(10'000));
  EXPECT_EQ(r.failure_threshold, 3);
}

TEST(Manifest, ProbeTimingsAndHttpGet) {
  Manifests m = parse(base_pod + R"y(      ports:
        - name: admin
          containerPort: 9901
      readinessProbe:
        httpGet:
          path: healthz
          port: admin
          host: 127.0.0.2
          scheme: HTTP
          httpHeaders:
            - name: X-Probe
              value: ready
            - name: Accept
        initialDelaySeconds: 3
        periodSeconds: 2
        timeoutSeconds: 5
        successThreshold: 2
        failureThreshold: 7
      startupProbe:
        httpGet:
          port: 9901
)y");
  const Probe& r = *app(m).readiness_probe;
  const HttpGetAction& h = *r.action.http_get;
  EXPECT_EQ(h.port, 9901);  // the named port, resolved
  EXPECT_EQ(h.path, "/healthz");
  EXPECT_EQ(h.host, "127.0.0.2");
  EXPECT_EQ(h.scheme, "HTTP");
  EXPECT_EQ(h.headers, (Env{{"X-Probe", "ready"}, {"Accept", ""}}));
  EXPECT_EQ(r.initial_delay, milliseconds(3'000));
  EXPECT_EQ(r.period, milliseconds(2'000));
  EXPECT_EQ(r.timeout, milliseconds(5'000));
  EXPECT_EQ(r.success_threshold, 2);
  EXPECT_EQ(r.failure_threshold, 7);
  const HttpGetAction& s = *app(m).startup_probe->action.http_get;
  EXPECT_EQ(s.path, "/");
  EXPECT_EQ(s.port, 9901);
}

TEST(Manifest, TcpSocketResolvesNamedPorts) {
  Manifests m = parse(base_pod + R"y(      ports:
        - {name: redis, containerPort: 6379}
      livenessProbe:
        tcpSocket: {port: redis, host: localhost}
)y");
  EXPECT_EQ(app(m).liveness_probe->action.tcp_socket->port, 6379);
  EXPECT_EQ(app(m).liveness_probe->action.tcp_socket->host, "localhost");
}

TEST(Manifest, LifecycleHandlers) {
  Manifests m = parse(base_pod + R"y(      ports: [{name: http, containerPort: 8080}]
      lifecycle:
        postStart:
          exec:
            command: ["warm", "up"]
        preStop:
          httpGet:
            path: /drain
            port: http
)y");
  EXPECT_EQ(app(m).post_start->exec->command, (std::vector<std::string>{"warm", "up"}));
  EXPECT_EQ(app(m).pre_stop->http_get->port, 8080);
  EXPECT_EQ(app(m).pre_stop->http_get->path, "/drain");
  EXPECT_TRUE(app(m).pre_stop->defined());
}

TEST(Manifest, SleepHandlerRunsSleep) {
  Manifests m = parse(base_pod + R"y(      lifecycle:
        preStop:
          sleep: {seconds: 5}
        postStart:
          tcpSocket: {port: 80}
)y");
  EXPECT_EQ(app(m).pre_stop->exec->command, (std::vector<std::string>{"sleep", "5"}));
  EXPECT_EQ(app(m).post_start->tcp_socket->port, 80);
}

TEST(Manifest, SidecarInitContainers) {
  Manifests m = parse(base_pod + R"y(  initContainers:
    - name: setup
      command: ["setup"]
    - name: proxy
      restartPolicy: Always
      command: ["proxy"]
      startupProbe:
        exec: {command: ["ready"]}
      readinessProbe:
        exec: {command: ["ready"]}
      livenessProbe:
        exec: {command: ["alive"]}
      lifecycle:
        preStop:
          exec: {command: ["bye"]}
)y");
  const PodSpec& p = m.pods[0];
  ASSERT_EQ(p.init_containers.size(), 2u);
  EXPECT_FALSE(p.init_containers[0].is_sidecar());
  EXPECT_FALSE(p.init_containers[0].restart_policy);
  EXPECT_TRUE(p.init_containers[1].is_sidecar());
  EXPECT_TRUE(p.init_containers[1].startup_probe);
  EXPECT_TRUE(p.init_containers[1].pre_stop);
  EXPECT_EQ(p.init_containers[1].line, 12);
}

// ---- volumes ----------------------------------------------------------------------------------

TEST(Manifest, Volumes) {
  Manifests m = parse(base_pod + R"y(      volumeMounts:
        - name: scratch
          mountPath: /tmp/scratch
        - name: data
          mountPath: /data
          readOnly: true
          subPath: web/current
  volumes:
    - name: scratch
      emptyDir: {}
    - name: data
      hostPath:
        path: /srv/data
        type: DirectoryOrCreate
    - name: cache
      emptyDir:
        medium: Memory
        sizeLimit: 64Mi
)y");
  const PodSpec& p = m.pods[0];
  ASSERT_EQ(p.volumes.size(), 3u);
  EXPECT_EQ(p.volumes[0].name, "scratch");
  EXPECT_EQ(p.volumes[0].kind, Volume::Kind::kEmptyDir);
  EXPECT_FALSE(p.volumes[0].size_limit);
  EXPECT_EQ(p.volumes[1].kind, Volume::Kind::kHostPath);
  EXPECT_EQ(p.volumes[1].host_path, "/srv/data");
  EXPECT_EQ(p.volumes[1].host_path_type, "DirectoryOrCreate");
  EXPECT_EQ(p.volumes[2].size_limit, 64u << 20);
  const auto& mounts = p.containers[0].volume_mounts;
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].name, "scratch");
  EXPECT_EQ(mounts[0].mount_path, "/tmp/scratch");
  EXPECT_FALSE(mounts[0].read_only);
  EXPECT_EQ(mounts[0].sub_path, "");
  EXPECT_TRUE(mounts[1].read_only);
  EXPECT_EQ(mounts[1].sub_path, "web/current");
}

TEST(Manifest, SizeLimitsAreKubernetesQuantities) {
  auto limit = [](const std::string& q) {
    return parse(base_pod + "  volumes:\n    - name: v\n      emptyDir: {sizeLimit: " + q + "}\n")
        .pods[0]
        .volumes[0]
        .size_limit.value_or(12345);
  };
  EXPECT_EQ(limit("1Gi"), 1ULL << 30);
  EXPECT_EQ(limit("500Mi"), 500ULL << 20);
  EXPECT_EQ(limit("2Ki"), 2048u);
  EXPECT_EQ(limit("1Ti"), 1ULL << 40);
  EXPECT_EQ(limit("1.5Gi"), 3ULL << 29);
  EXPECT_EQ(limit("2G"), 2'000'000'000u);  // decimal suffixes are powers of 1000
  EXPECT_EQ(limit("100M"), 100'000'000u);
  EXPECT_EQ(limit("1k"), 1000u);
  EXPECT_EQ(limit("128974848"), 128974848u);
  EXPECT_EQ(limit("129e6"), 129'000'000u);
  EXPECT_EQ(limit("0"), 0u);
  EXPECT_EQ(error_of(base_pod + "  volumes:\n    - name: v\n      emptyDir: {sizeLimit: 1GB}\n"),
            "web.yaml:11: spec.volumes[0].emptyDir.sizeLimit: not a quantity (like 500Mi, 1Gi, "
            "2G): \"1GB\"");
  EXPECT_EQ(error_of(base_pod + "  volumes:\n    - name: v\n      emptyDir: {sizeLimit: -1Gi}\n"),
            "web.yaml:11: spec.volumes[0].emptyDir.sizeLimit: not a quantity (like 500Mi, 1Gi, "
            "2G): \"-1Gi\"");
  EXPECT_EQ(error_of(base_pod + "  volumes:\n    - name: v\n      emptyDir: {sizeLimit: 100m}\n"),
            "web.yaml:11: spec.volumes[0].emptyDir.sizeLimit: not a quantity (like 500Mi, 1Gi, "
            "2G): \"100m\"");
}

// ---- Deployments ------------------------------------------------------------------------------

const std::string base_deployment = R"y(apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  labels: {owner: me}
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  strategy: {type: RollingUpdate}
  template:
    metadata:
      name: ignored
      labels: {app: api}
      annotations: {note: hi}
    spec:
      containers:
        - name: api
          command: ["api", "--id", "$(POD_NAME)"]
          env:
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
)y";

TEST(Manifest, DeploymentReplicas) {
  Manifests m = parse(base_pod + "---\n" + base_deployment);
  ASSERT_EQ(m.deployments.size(), 1u);
  const DeploymentSpec& d = m.deployments[0];
  EXPECT_EQ(d.name, "api");
  EXPECT_EQ(d.replicas, 3);
  EXPECT_EQ(d.template_.name, "");
  EXPECT_EQ(d.template_.namespace_, "shop");
  EXPECT_EQ(d.template_.labels, (std::map<std::string, std::string>{{"app", "api"}}));
  EXPECT_EQ(d.template_.annotations.at("note"), "hi");
  EXPECT_EQ(d.template_.deployment, "api");
  EXPECT_EQ(d.template_.line, 10);
  EXPECT_EQ(d.template_.restart_policy, RestartPolicy::kAlways);

  std::vector<PodSpec> all = m.all_pods();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].name, "web");
  for (int i = 0; i < 3; ++i) {
    const PodSpec& p = all[static_cast<std::size_t>(i) + 1];
    EXPECT_EQ(p.name, "api-" + std::to_string(i));
    EXPECT_EQ(p.deployment, "api");
    EXPECT_EQ(p.replica_index, i);
    EXPECT_EQ(p.namespace_, "shop");
    const ContainerSpec& c = p.containers.at(0);
    EXPECT_EQ(expand_argv(c, resolve_env(p, c, "127.0.0.1")),
              (std::vector<std::string>{"api", "--id", "api-" + std::to_string(i)}));
  }
}

TEST(Manifest, MakeReplicaBeyondTheCount) {
  Manifests m = parse(base_deployment);
  PodSpec p = make_replica(m.deployments[0], 7);  // scaling up later
  EXPECT_EQ(p.name, "api-7");
  EXPECT_EQ(p.replica_index, 7);
  EXPECT_EQ(resolve_env(p, p.containers[0], "10.0.0.1"), (Env{{"POD_NAME", "api-7"}}));
}

TEST(Manifest, DeploymentReplicasDefaultToOneAndMayBeZero) {
  std::string one = base_deployment;
  one.replace(one.find("  replicas: 3\n"), 14, "");
  Manifests m = parse(one);
  EXPECT_EQ(m.deployments[0].replicas, 1);
  EXPECT_EQ(m.all_pods().size(), 1u);
  std::string zero = base_deployment;
  zero.replace(zero.find("replicas: 3"), 11, "replicas: 0");
  EXPECT_TRUE(parse(zero).all_pods().empty());
  EXPECT_EQ(parse(zero).deployments.size(), 1u);
}

// ---- errors: documents and metadata -----------------------------------------------------------

TEST(ManifestErrors, UnknownKind) {
  EXPECT_EQ(error_of(base_pod + R"y(---
apiVersion: batch/v1
kind: CronJob
metadata: {name: web}
spec: {}
)y"),
            "web.yaml:11: kind: kind \"CronJob\" is not run (no schedules locally; use a Pod)");
  EXPECT_EQ(error_of("apiVersion: v1\nmetadata: {name: a}\n"),
            "web.yaml:1: kind: required (Pod, Deployment, ConfigMap, Secret, ...)");
}

TEST(ManifestErrors, WrongApiVersion) {
  std::string pod = base_pod;
  pod.replace(0, 14, "apiVersion: apps/v1");
  EXPECT_EQ(error_of(pod), "web.yaml:1: apiVersion: a Pod needs apiVersion v1, not \"apps/v1\"");
  std::string d = base_deployment;
  d.replace(0, 19, "apiVersion: extensions/v1beta1");
  EXPECT_EQ(error_of(d),
            "web.yaml:1: apiVersion: a Deployment needs apiVersion apps/v1, not "
            "\"extensions/v1beta1\"");
  EXPECT_EQ(error_of("kind: Pod\n"), "web.yaml:1: apiVersion: required (v1 for a Pod)");
}

TEST(ManifestErrors, DocumentShape) {
  EXPECT_EQ(error_of("just a string\n"),
            "web.yaml:1: expected a Kubernetes object (a mapping with apiVersion and kind)");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nspec: {}\n"),
            "web.yaml:1: metadata: required (with a name)");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"),
            "web.yaml:1: spec: required");
}

TEST(ManifestErrors, BadYamlNamesTheLine) {
  EXPECT_EQ(error_of(base_pod + "      args: [a]: b\n      workingDir: /\n"),
            "web.yaml:9: invalid YAML: illegal map value");
  std::string msg = error_of(base_pod + "      args: [\"unterminated\n");
  EXPECT_EQ(msg.rfind("web.yaml:10: invalid YAML: ", 0), 0u) << msg;  // where the stream ends
}

TEST(ManifestErrors, MetadataName) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {}\nspec: {}\n"),
            "web.yaml:4: metadata.name: required");
  std::string upper = base_pod;
  upper.replace(upper.find("name: web"), 9, "name: Web");
  EXPECT_EQ(error_of(upper),
            "web.yaml:4: metadata.name: not a valid name (lowercase letters, digits, '-' and '.', "
            "at most 253): \"Web\"");
  std::string dash = base_pod;
  dash.replace(dash.find("name: web"), 9, "name: web-");
  EXPECT_NE(error_of(dash).find("not a valid name"), std::string::npos);
  std::string ns = base_pod;
  ns.replace(ns.find("  name: web\n"), 12, "  name: web\n  namespace: a.b\n");
  EXPECT_EQ(error_of(ns),
            "web.yaml:5: metadata.namespace: not a valid namespace (lowercase letters, digits "
            "and '-', at most 63): \"a.b\"");
}

TEST(ManifestErrors, NameLengths) {
  auto pod_named = [](const std::string& name) {
    std::string pod = base_pod;
    pod.replace(pod.find("name: web"), 9, "name: " + name);
    return error_of(pod);
  };
  EXPECT_EQ(pod_named(std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                      std::string(63, 'c') + "." + std::string(61, 'd')),
            "no error");  // 253 characters
  EXPECT_NE(pod_named(std::string(254, 'a')).find("not a valid name"), std::string::npos);
  EXPECT_EQ(pod_named("a..b").find("web.yaml:4: metadata.name: not a valid name"), 0u);
  std::string container = base_pod;
  container.replace(container.find("- name: app"), 11, "- name: " + std::string(64, 'c'));
  EXPECT_EQ(error_of(container).find("web.yaml:7: spec.containers[0].name: not a valid "
                                     "container name"),
            0u);
  // Replica names must stay valid pod names.
  std::string d = base_deployment;
  d.replace(d.find("name: api"), 9, "name: " + std::string(251, 'd'));
  EXPECT_EQ(error_of(d), "no error");                    // "ddd...-2" is 253 characters
  d.replace(d.find("replicas: 3"), 11, "replicas: 11");  // "ddd...-10" is 254
  EXPECT_EQ(error_of(d),
            "web.yaml:4: metadata.name: too long: replica pod names \"<name>-<index>\" exceed 253 "
            "characters");
}

TEST(ManifestErrors, NothingToLoad) {
  EXPECT_TRUE(load_manifests({}).all_pods().empty());
  EXPECT_EQ(error_of("- apiVersion: v1\n  kind: Pod\n"),
            "web.yaml:1: expected a Kubernetes object (a mapping with apiVersion and kind)");
}

TEST(ManifestErrors, LabelsAndAnnotations) {
  auto with_meta = [](const std::string& extra) {
    std::string pod = base_pod;
    pod.replace(pod.find("  name: web\n"), 12, "  name: web\n" + extra);
    return error_of(pod);
  };
  EXPECT_EQ(with_meta("  labels:\n    app: \"no spaces\"\n"),
            "web.yaml:6: metadata.labels.app: not a valid label value (at most 63 of letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit): \"no "
            "spaces\"");
  EXPECT_EQ(with_meta("  labels:\n    \"bad key\": x\n"),
            "web.yaml:6: metadata.labels.bad key: not a valid key (an optional DNS prefix and "
            "'/', then at most 63 of letters, digits, '-', '_' and '.')");
  EXPECT_EQ(with_meta("  annotations:\n    note: [1, 2]\n"),
            "web.yaml:6: metadata.annotations.note: expected a single value, not a list or "
            "mapping");
  EXPECT_EQ(with_meta("  annotations:\n    note: \"any text: is fine\"\n"), "no error");
}

// ---- errors: pod spec -------------------------------------------------------------------------

TEST(ManifestErrors, Containers) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  volumes: []\n"),
            "web.yaml:5: spec.containers: required: at least one container");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: []\n"),
            "web.yaml:5: spec.containers: required: at least one container");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: x\n"),
            "web.yaml:5: spec.containers: expected a list");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [x]\n"),
            "web.yaml:5: spec.containers[0]: expected a container (a mapping with name and "
            "command)");
}

TEST(ManifestErrors, ACommandOrAnImageIsRequired) {
  EXPECT_EQ(error_of(R"y(apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: app
      command: ["app"]
    - name: nothing
      args: ["--port", "80"]
)y"),
            "web.yaml:9: spec.containers[1].command: required without an image (a container "
            "runs its command as a process of this machine, or else its image's entrypoint)");
  // As in Kubernetes, an empty command is none: the image's entrypoint runs.
  std::string empty = base_pod;
  empty.replace(empty.find("[\"app\"]"), 7, "[]\n      image: nginx:1.25");
  auto m = parse_manifests(empty, "web.yaml");
  EXPECT_TRUE(app(m).command.empty());
  EXPECT_EQ(app(m).image_ref->canonical(), "docker.io/library/nginx:1.25");
  EXPECT_EQ(app(m).pull_policy, PullPolicy::kIfNotPresent);
  std::string bad = base_pod;
  bad.replace(bad.find("[\"app\"]"), 7, "[]\n      image: Nginx");
  EXPECT_EQ(error_of(bad),
            "web.yaml:9: spec.containers[0].image: image reference \"Nginx\": bad repository "
            "component \"Nginx\" (lowercase letters and digits, joined by . _ __ or -)");
  std::string policy = base_pod + "      image: nginx\n      imagePullPolicy: Sometimes\n";
  EXPECT_NE(error_of(policy).find("web.yaml:10: spec.containers[0].imagePullPolicy: "),
            std::string::npos)
      << error_of(policy);
  EXPECT_EQ(parse_manifests(base_pod + "      image: nginx\n", "web.yaml")
                .pods.at(0)
                .containers.at(0)
                .pull_policy,
            PullPolicy::kAlways);  // :latest
  std::string scalar = base_pod;
  scalar.replace(scalar.find("[\"app\"]"), 7, "sleep 10");
  EXPECT_EQ(error_of(scalar),
            "web.yaml:8: spec.containers[0].command: expected a list of strings, like "
            "[\"sleep\", \"10\"]");
  EXPECT_EQ(error_of(base_pod + "      args: [[\"nested\"]]\n"),
            "web.yaml:9: spec.containers[0].args[0]: expected a single value, not a list or "
            "mapping");
}

TEST(ManifestErrors, ContainerNames) {
  std::string missing = base_pod;
  missing.replace(missing.find("- name: app"), 11, "- image: x");
  EXPECT_EQ(error_of(missing), "web.yaml:7: spec.containers[0].name: required");
  std::string bad = base_pod;
  bad.replace(bad.find("- name: app"), 11, "- name: my_app");
  EXPECT_EQ(error_of(bad),
            "web.yaml:7: spec.containers[0].name: not a valid container name (lowercase "
            "letters, digits and '-', at most 63): \"my_app\"");
  EXPECT_EQ(error_of(base_pod + "    - name: app\n      command: [\"two\"]\n"),
            "web.yaml:9: spec.containers[1].name: duplicate container name \"app\" (also "
            "spec.containers[0])");
  EXPECT_EQ(error_of(base_pod + "  initContainers:\n    - name: app\n      command: [\"init\"]\n"),
            "web.yaml:7: spec.containers[0].name: duplicate container name \"app\" (also "
            "spec.initContainers[0])");
}

TEST(ManifestErrors, PodRestartPolicyAndGrace) {
  EXPECT_EQ(error_of(base_pod + "  restartPolicy: Sometimes\n"),
            "web.yaml:9: spec.restartPolicy: not one of Always, OnFailure, Never: \"Sometimes\"");
  EXPECT_EQ(error_of(base_pod + "  terminationGracePeriodSeconds: -1\n"),
            "web.yaml:9: spec.terminationGracePeriodSeconds: -1 is out of range [0, 2147483647]");
  EXPECT_EQ(error_of(base_pod + "  terminationGracePeriodSeconds: 1.5\n"),
            "web.yaml:9: spec.terminationGracePeriodSeconds: not an integer: \"1.5\"");
}

TEST(ManifestErrors, ContainerRestartPolicy) {
  EXPECT_EQ(error_of(base_pod + "      restartPolicy: Always\n"),
            "web.yaml:9: spec.containers[0].restartPolicy: only init containers may set "
            "restartPolicy (Always makes them sidecars)");
  EXPECT_EQ(error_of(base_pod + R"y(  initContainers:
    - name: init
      command: ["init"]
      restartPolicy: OnFailure
)y"),
            "web.yaml:12: spec.initContainers[0].restartPolicy: must be Always (a native "
            "sidecar), not \"OnFailure\"");
}

TEST(ManifestErrors, ProbesAndLifecycleNeedASidecar) {
  EXPECT_EQ(error_of(base_pod + R"y(  initContainers:
    - name: init
      command: ["init"]
      readinessProbe:
        exec: {command: ["true"]}
)y"),
            "web.yaml:12: spec.initContainers[0].readinessProbe: not allowed on an init "
            "container unless restartPolicy is Always (a sidecar)");
  EXPECT_EQ(error_of(base_pod + R"y(  initContainers:
    - name: init
      command: ["init"]
      lifecycle:
        preStop:
          exec: {command: ["true"]}
)y"),
            "web.yaml:12: spec.initContainers[0].lifecycle: not allowed on an init container "
            "unless restartPolicy is Always (a sidecar)");
}

// ---- errors: env ------------------------------------------------------------------------------

TEST(ManifestErrors, Env) {
  EXPECT_EQ(error_of(base_pod + "      env:\n        - value: x\n"),
            "web.yaml:10: spec.containers[0].env[0].name: required");
  EXPECT_EQ(error_of(base_pod + "      env:\n        - name: A=B\n"),
            "web.yaml:10: spec.containers[0].env[0].name: not a valid variable name (printable "
            "ASCII without '='): \"A=B\"");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: db
              key: password
)y"),
            "web.yaml:13: spec.containers[0].env[0].valueFrom.secretKeyRef.name: no Secret "
            "\"db\" in namespace \"default\" in the files of the run (add it, or set optional: "
            "true)");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: A
        - name: CFG
          valueFrom:
            configMapKeyRef: {name: cfg, key: k}
)y"),
            "web.yaml:13: spec.containers[0].env[1].valueFrom.configMapKeyRef.name: no "
            "ConfigMap \"cfg\" in namespace \"default\" in the files of the run (add it, or set "
            "optional: true)");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: F
          valueFrom:
            fileKeyRef: {path: a, key: b, volumeName: v}
)y"),
            "web.yaml:12: spec.containers[0].env[0].valueFrom.fileKeyRef: not supported locally "
            "(fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef are)");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: L
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels
)y"),
            "web.yaml:13: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: unsupported "
            "fieldPath \"metadata.labels\" (metadata.name, metadata.namespace, "
            "metadata.labels['key'], metadata.annotations['key'], spec.nodeName, "
            "spec.serviceAccountName, status.podIP, status.podIPs, status.hostIP, "
            "status.hostIPs)");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: L
          valueFrom:
            fieldRef: {}
)y"),
            "web.yaml:12: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: required");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: BOTH
          value: x
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
)y"),
            "web.yaml:12: spec.containers[0].env[0].valueFrom: not allowed together with a "
            "non-empty value");
  EXPECT_EQ(error_of(base_pod + R"y(      env:
        - name: NOTHING
          valueFrom: {}
)y"),
            "web.yaml:11: spec.containers[0].env[0].valueFrom: one of fieldRef, "
            "resourceFieldRef, configMapKeyRef or secretKeyRef is required");
}

// ---- errors: ports ----------------------------------------------------------------------------

TEST(ManifestErrors, Ports) {
  EXPECT_EQ(error_of(base_pod + "      ports:\n        - name: http\n"),
            "web.yaml:10: spec.containers[0].ports[0].containerPort: required (1-65535)");
  EXPECT_EQ(error_of(base_pod + "      ports:\n        - containerPort: 0\n"),
            "web.yaml:10: spec.containers[0].ports[0].containerPort: 0 is out of range [1, "
            "65535]");
  EXPECT_EQ(error_of(base_pod + "      ports:\n        - containerPort: 70000\n"),
            "web.yaml:10: spec.containers[0].ports[0].containerPort: 70000 is out of range [1, "
            "65535]");
  EXPECT_EQ(
      error_of(base_pod + "      ports:\n        - containerPort: 80\n          hostPort: -1\n"),
      "web.yaml:11: spec.containers[0].ports[0].hostPort: -1 is out of range [0, 65535]");
  EXPECT_EQ(
      error_of(base_pod + "      ports:\n        - containerPort: 80\n          protocol: tcp\n"),
      "web.yaml:11: spec.containers[0].ports[0].protocol: not one of TCP, UDP, SCTP: "
      "\"tcp\"");
  EXPECT_EQ(error_of(base_pod + "      ports:\n        - containerPort: 80\n          name: "
                                "much-too-long-name\n"),
            "web.yaml:11: spec.containers[0].ports[0].name: not a valid port name (at most 15 "
            "of lowercase letters, digits and '-', with a letter): \"much-too-long-name\"");
  EXPECT_EQ(error_of(base_pod + "      ports:\n        - {containerPort: 80, name: \"8080\"}\n"),
            "web.yaml:10: spec.containers[0].ports[0].name: not a valid port name (at most 15 "
            "of lowercase letters, digits and '-', with a letter): \"8080\"");
  EXPECT_EQ(error_of(base_pod + R"y(      ports:
        - {containerPort: 80, name: http}
        - {containerPort: 81, name: http}
)y"),
            "web.yaml:11: spec.containers[0].ports[1].name: duplicate port name \"http\"");
}

// ---- errors: volumes and mounts ---------------------------------------------------------------

TEST(ManifestErrors, MountNamingNoVolume) {
  EXPECT_EQ(error_of(base_pod + R"y(      volumeMounts:
        - name: data
          mountPath: /data
        - name: cache
          mountPath: /cache
  volumes:
    - name: data
      emptyDir: {}
)y"),
            "web.yaml:12: spec.containers[0].volumeMounts[1].name: no volume named \"cache\" in "
            "the pod's volumes");
}

TEST(ManifestErrors, MountPaths) {
  const std::string vol = "  volumes:\n    - {name: data, emptyDir: {}}\n";
  EXPECT_EQ(error_of(base_pod + "      volumeMounts:\n        - name: data\n" + vol),
            "web.yaml:10: spec.containers[0].volumeMounts[0].mountPath: required");
  EXPECT_EQ(
      error_of(base_pod + "      volumeMounts:\n        - {name: data, mountPath: data}\n" + vol),
      "web.yaml:10: spec.containers[0].volumeMounts[0].mountPath: must be an absolute "
      "path: \"data\"");
  EXPECT_EQ(error_of(base_pod +
                     "      volumeMounts:\n        - {name: data, mountPath: /d, subPath: "
                     "../etc}\n" +
                     vol),
            "web.yaml:10: spec.containers[0].volumeMounts[0].subPath: must be a relative path "
            "without '..': \"../etc\"");
  EXPECT_EQ(error_of(base_pod +
                     "      volumeMounts:\n        - {name: data, mountPath: /d, readOnly: "
                     "maybe}\n" +
                     vol),
            "web.yaml:10: spec.containers[0].volumeMounts[0].readOnly: not a boolean (true or "
            "false): \"maybe\"");
  EXPECT_EQ(error_of(base_pod +
                     "      volumeMounts:\n        - {name: data, mountPath: /d}\n        - "
                     "{name: data, mountPath: /d}\n" +
                     vol),
            "web.yaml:11: spec.containers[0].volumeMounts[1].mountPath: duplicate mountPath "
            "\"/d\"");
}

TEST(ManifestErrors, VolumeTypes) {
  auto volume = [](const std::string& v) { return error_of(base_pod + "  volumes:\n" + v); };
  EXPECT_EQ(
      volume("    - name: n\n      nfs: {server: s, path: /}\n"),
      "web.yaml:11: spec.volumes[0].nfs: volume type nfs not supported locally (use "
      "emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI or projected)");
  EXPECT_EQ(volume("    - name: d\n      persistentVolumeClaim: {claimName: d}\n"),
            "web.yaml:11: spec.volumes[0].persistentVolumeClaim.claimName: no "
            "PersistentVolumeClaim \"d\" in namespace \"default\" in the files of the run (add "
            "it)");
  EXPECT_EQ(volume("    - name: d\n"),
            "web.yaml:10: spec.volumes[0]: a volume type is required (emptyDir, hostPath, "
            "persistentVolumeClaim, configMap, secret, downwardAPI or projected)");
  EXPECT_EQ(volume("    - name: d\n      emptyDir: {}\n      hostPath: {path: /x}\n"),
            "web.yaml:12: spec.volumes[0].hostPath: only one volume type is allowed (found "
            "emptyDir and hostPath)");
  EXPECT_EQ(volume("    - name: d\n      emptyDir:\n"),
            "web.yaml:11: spec.volumes[0].emptyDir: needs a value: write `emptyDir: {}`");
  EXPECT_EQ(volume("    - name: d\n      emptyDir: {medium: HugePages}\n"),
            "web.yaml:11: spec.volumes[0].emptyDir.medium: medium \"HugePages\" not supported "
            "locally (\"\" or Memory)");
  EXPECT_EQ(volume("    - name: d\n      emptyDir: yes\n"),
            "web.yaml:11: spec.volumes[0].emptyDir: expected a mapping, like {} or {sizeLimit: "
            "1Gi}");
}

TEST(ManifestErrors, Volumes) {
  auto volume = [](const std::string& v) { return error_of(base_pod + "  volumes:\n" + v); };
  EXPECT_EQ(volume("    - emptyDir: {}\n"), "web.yaml:10: spec.volumes[0].name: required");
  EXPECT_EQ(volume("    - name: Data\n      emptyDir: {}\n"),
            "web.yaml:10: spec.volumes[0].name: not a valid volume name (lowercase letters, "
            "digits and '-', at most 63): \"Data\"");
  EXPECT_EQ(volume("    - name: d\n      emptyDir: {}\n    - name: d\n      emptyDir: {}\n"),
            "web.yaml:12: spec.volumes[1].name: duplicate volume name \"d\"");
  EXPECT_EQ(volume("    - name: h\n      hostPath:\n"),
            "web.yaml:11: spec.volumes[0].hostPath: needs a value: at least `path`");
  EXPECT_EQ(volume("    - name: h\n      hostPath: {type: Directory}\n"),
            "web.yaml:11: spec.volumes[0].hostPath.path: required");
  EXPECT_EQ(volume("    - name: h\n      hostPath: {path: srv}\n"),
            "web.yaml:11: spec.volumes[0].hostPath.path: must be an absolute path: \"srv\"");
  EXPECT_EQ(volume("    - name: h\n      hostPath: {path: /srv/../etc}\n"),
            "web.yaml:11: spec.volumes[0].hostPath.path: must not contain '..': \"/srv/../etc\"");
  EXPECT_EQ(volume("    - name: h\n      hostPath:\n        path: /srv\n        type: Dir\n"),
            "web.yaml:13: spec.volumes[0].hostPath.type: not a hostPath type (DirectoryOrCreate, "
            "Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice): \"Dir\"");
}

// ---- errors: probes and handlers --------------------------------------------------------------

TEST(ManifestErrors, ProbeActions) {
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        periodSeconds: 5\n"),
            "web.yaml:10: spec.containers[0].livenessProbe: one of exec, httpGet, tcpSocket or "
            "grpc is required");
  EXPECT_EQ(error_of(base_pod + R"y(      readinessProbe:
        exec: {command: ["true"]}
        tcpSocket: {port: 80}
)y"),
            "web.yaml:11: spec.containers[0].readinessProbe.tcpSocket: only one action is "
            "allowed (found exec and tcpSocket)");
  EXPECT_EQ(error_of(base_pod + R"y(      livenessProbe:
        grpc: {port: 9000}
        tcpSocket: {port: 9000}
)y"),
            "web.yaml:10: spec.containers[0].livenessProbe.grpc: only one action is allowed "
            "(found tcpSocket and grpc)");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        exec: {}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.exec.command: required: the command "
            "to run");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        exec: {command: []}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.exec.command: required: the command "
            "to run");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe: true\n"),
            "web.yaml:9: spec.containers[0].livenessProbe: expected a probe (exec, httpGet, "
            "tcpSocket or grpc, and timings)");
}

TEST(ManifestErrors, ProbePorts) {
  EXPECT_EQ(error_of(base_pod + R"y(      ports:
        - {name: http, containerPort: 8080}
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
)y"),
            "web.yaml:14: spec.containers[0].readinessProbe.httpGet.port: no port named \"admin\" "
            "in container \"app\"'s ports");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        httpGet: {path: /}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.httpGet.port: required (a number or "
            "the name of a container port)");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        tcpSocket: {port: 0}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.tcpSocket.port: 0 is out of range "
            "[1, 65535]");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        tcpSocket: {port: 65536}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.tcpSocket.port: 65536 is out of "
            "range [1, 65535]");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        tcpSocket: {port: \"Web Port\"}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.tcpSocket.port: not a port number or "
            "port name: \"Web Port\"");
  // A named port belongs to the container that has the probe, not to its neighbours.
  EXPECT_EQ(error_of(base_pod + R"y(      ports: [{name: http, containerPort: 80}]
    - name: other
      command: ["other"]
      livenessProbe:
        tcpSocket: {port: http}
)y"),
            "web.yaml:13: spec.containers[1].livenessProbe.tcpSocket.port: no port named \"http\" "
            "in container \"other\"'s ports");
}

TEST(ManifestErrors, HttpGetSchemeAndHeaders) {
  EXPECT_EQ(error_of(base_pod + R"y(      livenessProbe:
        httpGet:
          port: 8443
          scheme: HTTPS
)y"),
            "web.yaml:12: spec.containers[0].livenessProbe.httpGet.scheme: HTTPS is not "
            "supported locally (only HTTP)");
  EXPECT_EQ(error_of(base_pod + "      livenessProbe:\n        httpGet: {port: 80, scheme: ftp}\n"),
            "web.yaml:10: spec.containers[0].livenessProbe.httpGet.scheme: not HTTP or HTTPS: "
            "\"ftp\"");
  EXPECT_EQ(error_of(base_pod + R"y(      livenessProbe:
        httpGet:
          port: 80
          httpHeaders:
            - value: x
)y"),
            "web.yaml:13: spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: required");
  EXPECT_EQ(error_of(base_pod + R"y(      livenessProbe:
        httpGet:
          port: 80
          httpHeaders:
            - {name: "Bad Header", value: x}
)y"),
            "web.yaml:13: spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: not a "
            "valid header name: \"Bad Header\"");
}

TEST(ManifestErrors, ProbeThresholdsAndTimings) {
  auto probe = [](const std::string& kind, const std::string& extra) {
    return error_of(base_pod + "      " + kind + ":\n        exec: {command: [\"c\"]}\n" + extra);
  };
  EXPECT_EQ(probe("livenessProbe", "        successThreshold: 2\n"),
            "web.yaml:11: spec.containers[0].livenessProbe.successThreshold: must be 1 for a "
            "liveness probe");
  EXPECT_EQ(probe("startupProbe", "        successThreshold: 3\n"),
            "web.yaml:11: spec.containers[0].startupProbe.successThreshold: must be 1 for a "
            "startup probe");
  EXPECT_EQ(probe("readinessProbe", "        successThreshold: 3\n"), "no error");
  EXPECT_EQ(probe("readinessProbe", "        failureThreshold: -1\n"),
            "web.yaml:11: spec.containers[0].readinessProbe.failureThreshold: -1 is out of "
            "range [0, 2147483647]");
  EXPECT_EQ(probe("readinessProbe", "        periodSeconds: 1s\n"),
            "web.yaml:11: spec.containers[0].readinessProbe.periodSeconds: not an integer: "
            "\"1s\"");
  EXPECT_EQ(probe("readinessProbe", "        initialDelaySeconds: -5\n"),
            "web.yaml:11: spec.containers[0].readinessProbe.initialDelaySeconds: -5 is out of "
            "range [0, 2147483647]");
}

TEST(ManifestErrors, LifecycleHandlers) {
  EXPECT_EQ(error_of(base_pod + "      lifecycle:\n        preStop: {}\n"),
            "web.yaml:10: spec.containers[0].lifecycle.preStop: one of exec, httpGet, tcpSocket "
            "or sleep is required");
  EXPECT_EQ(error_of(base_pod + R"y(      lifecycle:
        postStart:
          exec: {command: ["a"]}
          sleep: {seconds: 1}
)y"),
            "web.yaml:12: spec.containers[0].lifecycle.postStart.sleep: only one action is "
            "allowed (found exec and sleep)");
  EXPECT_EQ(
      error_of(base_pod + "      lifecycle:\n        preStop:\n          sleep: {seconds: 30}\n"),
      "no error");  // up to the (default) grace period
}

TEST(ManifestErrors, SleepMustFitTheGracePeriod) {
  EXPECT_EQ(error_of(R"y(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 10
  containers:
    - name: app
      command: ["app"]
      lifecycle:
        preStop:
          sleep: {seconds: 11}
)y"),
            "web.yaml:11: spec.containers[0].lifecycle.preStop.sleep.seconds: must not exceed "
            "terminationGracePeriodSeconds (10)");
  EXPECT_EQ(error_of(base_pod + "      lifecycle:\n        preStop:\n          sleep: {}\n"),
            "web.yaml:11: spec.containers[0].lifecycle.preStop.sleep.seconds: required");
}

// ---- errors: Deployments and duplicate names --------------------------------------------------

TEST(ManifestErrors, Deployments) {
  std::string negative = base_deployment;
  negative.replace(negative.find("replicas: 3"), 11, "replicas: -1");
  EXPECT_EQ(error_of(negative), "web.yaml:8: spec.replicas: -1 is out of range [0, 1000]");
  EXPECT_EQ(error_of("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                     "  replicas: 2\n"),
            "web.yaml:5: spec.template: required (the pod template: metadata and spec)");
  EXPECT_EQ(error_of("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                     "  template:\n    metadata: {labels: {app: d}}\n"),
            "web.yaml:6: spec.template.spec: required");
  std::string policy = base_deployment;
  policy.replace(policy.find("      containers:"), 17,
                 "      restartPolicy: OnFailure\n      containers:");
  EXPECT_EQ(error_of(policy),
            "web.yaml:18: spec.template.spec.restartPolicy: a Deployment's pods must use Always, "
            "not \"OnFailure\"");
  std::string nocmd = base_deployment;
  nocmd.replace(nocmd.find("          command:"), 18, "          args:");
  EXPECT_EQ(error_of(nocmd),
            "web.yaml:19: spec.template.spec.containers[0].command: required without an image (a "
            "container runs its command as a process of this machine, or else its image's "
            "entrypoint)");
}

TEST(ManifestErrors, DuplicatePodNames) {
  EXPECT_EQ(error_of(base_pod + "---\n" + base_pod),
            "web.yaml:13: metadata.name: pod name \"web\" (Pod web) is already taken by Pod web "
            "at web.yaml:4");
  std::string replica = base_pod;
  replica.replace(replica.find("name: web"), 9, "name: api-2");
  EXPECT_EQ(error_of(replica + "---\n" + base_deployment),
            "web.yaml:13: metadata.name: pod name \"api-2\" (replica 2 of Deployment api) is "
            "already taken by Pod api-2 at web.yaml:4");
  EXPECT_EQ(error_of(base_deployment + "---\n" + replica),
            "web.yaml:28: metadata.name: pod name \"api-2\" (Pod api-2) is already taken by "
            "replica 2 of Deployment api at web.yaml:4");
  // A replica beyond the count does not clash.
  std::string far = base_pod;
  far.replace(far.find("name: web"), 9, "name: api-3");
  EXPECT_EQ(error_of(far + "---\n" + base_deployment), "no error");
  EXPECT_EQ(error_of(base_deployment + "---\n" + base_deployment),
            "web.yaml:28: metadata.name: Deployment \"api\" is already defined at web.yaml:4");
}

TEST(ManifestErrors, DuplicatesAcrossFiles) {
  try {
    (void)load_manifests({testdata_dir + "/web.yaml", testdata_dir + "/conflict.yaml"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), testdata_dir + "/conflict.yaml");
    EXPECT_EQ(e.line(), 5);
    EXPECT_EQ(e.field(), "metadata.name");
    EXPECT_EQ(std::string(e.what()),
              testdata_dir +
                  "/conflict.yaml:5: metadata.name: pod name \"web-1\" (Pod web-1) is "
                  "already taken by replica 1 of Deployment web at " +
                  testdata_dir + "/web.yaml:6");
  }
}

TEST(ManifestErrors, MissingFile) {
  try {
    (void)load_manifests({testdata_dir + "/web.yaml", "/nonexistent/pod.yaml"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/pod.yaml");
    EXPECT_NE(std::string(e.what()).find("cannot read file"), std::string::npos);
  }
}

// ---- unknown fields ---------------------------------------------------------------------------

TEST(ManifestWarnings, UnknownFieldsWarnOnceEach) {
  LogCapture logs;
  Manifests m = parse(R"y(apiVersion: v1
kind: Pod
metadata:
  name: web
  color: blue
spec:
  activeDeadlineSeconds: 60
  containers:
    - name: app
      command: ["app"]
      volumeDevices:
        - {name: v, devicePath: /dev/v}
      ports:
        - containerPort: 80
          hostIP: 127.0.0.1
      livenessProbe:
        exec: {command: ["true"]}
        terminationGracePeriodSeconds: 5
      lifecycle:
        stopSignal: SIGUSR1
        preStop:
          exec: {command: ["true"]}
          extra: 1
  volumes:
    - name: v
      emptyDir: {sizeLimit: 1Gi, extra: 1}
extra: top
)y");
  EXPECT_EQ(m.pods.size(), 1u);
  EXPECT_EQ(unknown_fields(logs),
            (std::vector<std::string>{
                "27:extra",
                "5:metadata.color",
                "7:spec.activeDeadlineSeconds",
                "26:spec.volumes[0].emptyDir.extra",
                "11:spec.containers[0].volumeDevices",
                "15:spec.containers[0].ports[0].hostIP",
                "18:spec.containers[0].livenessProbe.terminationGracePeriodSeconds",
                "20:spec.containers[0].lifecycle.stopSignal",
                "23:spec.containers[0].lifecycle.preStop.extra",
            }));
}

TEST(ManifestWarnings, TrivialFieldsAreIgnoredSilently) {
  LogCapture logs;
  Manifests m = parse(R"y(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  uid: 1234
  resourceVersion: "99"
  creationTimestamp: null
spec:
  replicas: 2
  revisionHistoryLimit: 3
  progressDeadlineSeconds: 600
  strategy: {type: Recreate}
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      nodeSelector: {disk: ssd}
      affinity: {}
      tolerations: []
      securityContext: {runAsUser: 1000}
      dnsPolicy: ClusterFirst
      imagePullSecrets: [{name: reg}]
      containers:
        - name: app
          image: web:1
          imagePullPolicy: Always
          command: ["app"]
          resources: {limits: {cpu: 500m}}
          securityContext: {readOnlyRootFilesystem: true}
          terminationMessagePath: /dev/termination-log
          terminationMessagePolicy: File
          stdin: false
          tty: false
status: {}
)y");
  EXPECT_EQ(m.all_pods().size(), 2u);
  EXPECT_EQ(logs.lines(), std::vector<std::string>{});
}

TEST(ManifestWarnings, DeploymentTemplatesWarnOncePerFieldNotPerReplica) {
  LogCapture logs;
  std::string d = base_deployment;
  d.replace(d.find("          command:"), 18, "          bogus: 1\n          command:");
  Manifests m = parse(d);
  EXPECT_EQ(m.all_pods().size(), 3u);
  EXPECT_EQ(unknown_fields(logs),
            std::vector<std::string>{"20:spec.template.spec.containers[0].bogus"});
}

TEST(ManifestWarnings, UnquotedNumbersInStringFields) {
  LogCapture logs;
  Manifests m = parse(base_pod + R"y(      args: ["--port", 8080, "--verbose", yes, "1.5", 2.5]
      env:
        - name: PORT
          value: 8080
        - name: NAME
          value: web
)y");
  EXPECT_EQ(app(m).args,
            (std::vector<std::string>{"--port", "8080", "--verbose", "yes", "1.5", "2.5"}));
  EXPECT_EQ(app(m).env[0].value, "8080");
  EXPECT_EQ(logs.count("unquoted value is not a string for kubectl"), 4u);
}

// ---- $(VAR) expansion -------------------------------------------------------------------------

TEST(ExpandVars, KubernetesSemantics) {
  const std::map<std::string, std::string> vars = {
      {"VAR", "value"}, {"A", "a"}, {"B", "b"}, {"EMPTY", ""}, {"X$(A", "weird"}};
  auto x = [&](const std::string& s) { return expand_vars(s, vars); };
  EXPECT_EQ(x("$(VAR)"), "value");
  EXPECT_EQ(x("pre-$(VAR)-post"), "pre-value-post");
  EXPECT_EQ(x("$(A)$(B)"), "ab");
  EXPECT_EQ(x("$(A)$(A)"), "aa");
  EXPECT_EQ(x("$(EMPTY)x"), "x");
  EXPECT_EQ(x("$(UNDEFINED)"), "$(UNDEFINED)");
  EXPECT_EQ(x("$(UNDEFINED)$(A)"), "$(UNDEFINED)a");
  EXPECT_EQ(x("$$(VAR)"), "$(VAR)");     // escaped: literal reference
  EXPECT_EQ(x("$$$(VAR)"), "$value");    // an escaped $, then a reference
  EXPECT_EQ(x("$$$$(VAR)"), "$$(VAR)");  // two escaped $
  EXPECT_EQ(x("$$"), "$");
  EXPECT_EQ(x("$$$"), "$$");  // the last $ ends the string
  EXPECT_EQ(x("$"), "$");
  EXPECT_EQ(x("a$"), "a$");
  EXPECT_EQ(x("$VAR"), "$VAR");  // no parenthesis: not a reference
  EXPECT_EQ(x("${VAR}"), "${VAR}");
  EXPECT_EQ(x("$ (VAR)"), "$ (VAR)");
  EXPECT_EQ(x("$("), "$(");  // unterminated
  EXPECT_EQ(x("$(VAR"), "$(VAR");
  EXPECT_EQ(x("$(VAR $(A)"), "$(VAR $(A)");  // the name runs to the first ')'
  EXPECT_EQ(x("$(A"), "$(A");
  EXPECT_EQ(x("$(()"), "$(()");
  EXPECT_EQ(x("$()"), "$()");          // empty name: undefined
  EXPECT_EQ(x("$(X$(A))"), "weird)");  // no nesting: the name is "X$(A"
  EXPECT_EQ(x("$($(A))"), "$($(A))");
  EXPECT_EQ(x("($(A))"), "(a)");
  EXPECT_EQ(x("$$A"), "$A");
  EXPECT_EQ(x("no refs here"), "no refs here");
  EXPECT_EQ(x(""), "");
  EXPECT_EQ(x("$(VAR)$"), "value$");
  EXPECT_EQ(x("100$ $(A)"), "100$ a");
  EXPECT_EQ(x("é$(A)ü"), "éaü");
  EXPECT_EQ(expand_vars("$(A)", {{"A", "$(B)"}, {"B", "b"}}), "$(B)");  // no recursion
}

TEST(ResolveEnv, ValuesSeeOnlyEarlierVariables) {
  Manifests m = parse(base_pod + R"y(      env:
        - name: LATE_REF
          value: "$(FIRST)"
        - name: FIRST
          value: one
        - name: SECOND
          value: "$(FIRST)-two-$(THIRD)"
        - name: THIRD
          value: three
        - name: SELF
          value: "$(SELF)x"
        - name: ESCAPED
          value: "$$(FIRST)"
)y");
  EXPECT_EQ(resolve_env(m.pods[0], app(m), "127.0.0.1"), (Env{{"LATE_REF", "$(FIRST)"},
                                                              {"FIRST", "one"},
                                                              {"SECOND", "one-two-$(THIRD)"},
                                                              {"THIRD", "three"},
                                                              {"SELF", "$(SELF)x"},
                                                              {"ESCAPED", "$(FIRST)"}}));
}

TEST(ResolveEnv, FieldRefs) {
  Manifests m = parse(R"y(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations: {example.com/owner: team}
spec:
  containers:
    - name: app
      command: ["app", "$(NAME).$(NS)"]
      args: ["$(IP)", "$(OWNER)", "$(MISSING)", "$(UNSET)", "$$(NAME)"]
      env:
        - name: NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: NS
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - name: IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: APP
          valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
        - name: OWNER
          valueFrom: {fieldRef: {fieldPath: "metadata.annotations['example.com/owner']"}}
        - name: MISSING
          valueFrom: {fieldRef: {fieldPath: "metadata.labels['nope']"}}
        - name: NAME_ALIAS
          value: "$(NAME)@$(IP)"
)y");
  const PodSpec& p = m.pods[0];
  Env env = resolve_env(p, app(m), "127.0.0.5");
  EXPECT_EQ(env, (Env{{"NAME", "web"},
                      {"NS", "shop"},
                      {"IP", "127.0.0.5"},
                      {"APP", "web"},
                      {"OWNER", "team"},
                      {"MISSING", ""},
                      {"NAME_ALIAS", "web@127.0.0.5"}}));
  EXPECT_EQ(expand_argv(app(m), env),
            (std::vector<std::string>{"app", "web.shop", "127.0.0.5", "team", "", "$(UNSET)",
                                      "$(NAME)"}));
}

TEST(ResolveEnv, LaterDefinitionWins) {
  Manifests m = parse(base_pod + R"y(      env:
        - {name: A, value: first}
        - {name: B, value: "$(A)"}
        - {name: A, value: "$(A)-second"}
)y");
  EXPECT_EQ(resolve_env(m.pods[0], app(m), ""), (Env{{"A", "first-second"}, {"B", "first"}}));
}

TEST(ExpandArgv, CommandThenArgs) {
  ContainerSpec c;
  c.command = {"/bin/$(TOOL)", "-x"};
  c.args = {"$(A)", "$$(A)", "$(B)"};
  EXPECT_EQ(expand_argv(c, {{"TOOL", "sh"}, {"A", "1"}}),
            (std::vector<std::string>{"/bin/sh", "-x", "1", "$(A)", "$(B)"}));
  EXPECT_EQ(expand_argv(ContainerSpec{}, {}), std::vector<std::string>{});
}

// ---- the realistic example --------------------------------------------------------------------

TEST(ManifestFile, RealisticExample) {
  LogCapture logs;
  Manifests m = load_manifests({testdata_dir + "/web.yaml"});
  EXPECT_EQ(logs.lines(), std::vector<std::string>{});  // nothing unknown in it

  ASSERT_EQ(m.deployments.size(), 1u);
  ASSERT_EQ(m.pods.size(), 1u);
  const DeploymentSpec& d = m.deployments[0];
  EXPECT_EQ(d.name, "web");
  EXPECT_EQ(d.replicas, 3);
  const PodSpec& t = d.template_;
  EXPECT_EQ(t.file, testdata_dir + "/web.yaml");
  EXPECT_EQ(t.line, 3);
  EXPECT_EQ(t.namespace_, "shop");
  EXPECT_EQ(t.labels.at("tier"), "frontend");
  EXPECT_EQ(t.annotations.at("example.com/owner"), "team-web");
  EXPECT_EQ(t.termination_grace, milliseconds(20'000));
  ASSERT_EQ(t.volumes.size(), 2u);
  EXPECT_EQ(t.volumes[0].size_limit, 500u << 20);
  EXPECT_EQ(t.volumes[1].host_path, "/srv/static");
  EXPECT_EQ(t.volumes[1].host_path_type, "Directory");

  ASSERT_EQ(t.init_containers.size(), 2u);
  const ContainerSpec& migrate = t.init_containers[0];
  EXPECT_FALSE(migrate.is_sidecar());
  const ContainerSpec& shipper = t.init_containers[1];
  EXPECT_TRUE(shipper.is_sidecar());
  EXPECT_EQ(shipper.line, 41);
  ASSERT_TRUE(shipper.startup_probe);
  EXPECT_EQ(shipper.startup_probe->action.http_get->port, 9902);
  EXPECT_EQ(shipper.startup_probe->action.http_get->path, "/readyz");
  EXPECT_EQ(shipper.startup_probe->period, milliseconds(1'000));
  EXPECT_EQ(shipper.startup_probe->failure_threshold, 30);
  EXPECT_TRUE(shipper.volume_mounts.at(0).read_only);

  ASSERT_EQ(t.containers.size(), 1u);
  const ContainerSpec& web = t.containers[0];
  EXPECT_EQ(web.working_dir, "/app");
  const Probe& ready = *web.readiness_probe;
  EXPECT_EQ(ready.action.http_get->port, 8080);
  EXPECT_EQ(ready.action.http_get->headers, (Env{{"X-Probe", "readiness"}}));
  EXPECT_EQ(ready.period, milliseconds(2'000));
  EXPECT_EQ(ready.success_threshold, 2);
  const Probe& live = *web.liveness_probe;
  EXPECT_EQ(live.action.tcp_socket->port, 8080);
  EXPECT_EQ(live.initial_delay, milliseconds(5'000));
  EXPECT_EQ(live.timeout, milliseconds(2'000));
  EXPECT_EQ(live.failure_threshold, 5);
  EXPECT_EQ(web.post_start->exec->command, std::vector<std::string>{"/app/warm-cache"});
  EXPECT_EQ(web.pre_stop->http_get->path, "/drain");
  EXPECT_EQ(web.pre_stop->http_get->port, 8080);
  ASSERT_EQ(web.volume_mounts.size(), 2u);
  EXPECT_EQ(web.volume_mounts[1].mount_path, "/app/static");
  EXPECT_TRUE(web.volume_mounts[1].read_only);

  std::vector<PodSpec> all = m.all_pods();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].name, "report");
  EXPECT_EQ(all[0].restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(all[0].line, 123);
  EXPECT_EQ(all[0].containers[0].pre_stop->exec->command, (std::vector<std::string>{"sleep", "5"}));
  EXPECT_EQ(all[3].name, "web-2");

  const PodSpec& p1 = all[2];
  const ContainerSpec& c = p1.containers[0];
  Env env = resolve_env(p1, c, "127.0.0.1");
  EXPECT_EQ(env, (Env{{"POD_NAME", "web-1"},
                      {"POD_IP", "127.0.0.1"},
                      {"TIER", "frontend"},
                      {"GREETING", "hello from web-1"}}));
  EXPECT_EQ(expand_argv(c, env),
            (std::vector<std::string>{"/app/web", "--listen", "127.0.0.1:8080", "--name", "web-1",
                                      "--tier", "frontend"}));
  const ContainerSpec& mig = p1.init_containers[0];
  EXPECT_EQ(expand_argv(mig, resolve_env(p1, mig, "127.0.0.1")),
            (std::vector<std::string>{"/app/migrate", "--db", "/data/shop.db"}));
  const ContainerSpec& sc = p1.init_containers[1];
  EXPECT_EQ(expand_argv(sc, resolve_env(p1, sc, "127.0.0.1")),
            (std::vector<std::string>{"tender", "tail", "--dir", "/var/log/web", "--id", "web-1"}));
}

}  // namespace
}  // namespace tender::pod

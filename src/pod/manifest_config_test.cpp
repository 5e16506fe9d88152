// ConfigMaps, Secrets and what pods take from them (environment and volumes), the downward API
// and resourceFieldRef, and the kinds tender pod ignores or refuses.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/log_test_support.hpp"
#include "pod/manifest.hpp"
#include "pod/manifest_internal.hpp"
#include "pod/manifest_test_support.hpp"
#include "pod/volume_files.hpp"

namespace tender::pod {
namespace {

using Env = std::vector<std::pair<std::string, std::string>>;

Manifests parse(const std::string& yaml) { return parse_manifests(yaml, "run.yaml"); }

std::string error_of(const std::string& yaml) { return testing::manifest_error(yaml, "run.yaml"); }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/cfgtest-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A ConfigMap and a Secret (13 lines), then a pod whose container is open at its end: its own
// lines start at line 22, indented by 6 to extend the container, by 2 for the pod's spec.
const std::string objects =
    "apiVersion: v1\n"                              // 1
    "kind: ConfigMap\n"                             // 2
    "metadata: {name: app}\n"                       // 3
    "data:\n"                                       // 4
    "  greeting: hello\n"                           // 5
    "  app.conf: \"a = 1\\nb = $(greeting)\\n\"\n"  // 6
    "---\n"                                         // 7
    "apiVersion: v1\n"                              // 8
    "kind: Secret\n"                                // 9
    "metadata: {name: creds}\n"                     // 10
    "data: {password: czNjcjN0}\n"                  // 11: "s3cr3t"
    "stringData: {token: tok-123}\n"                // 12
    "---\n";                                        // 13
const std::string pod_head =
    "apiVersion: v1\n"             // 14
    "kind: Pod\n"                  // 15
    "metadata:\n"                  // 16
    "  name: web\n"                // 17
    "spec:\n"                      // 18
    "  containers:\n"              // 19
    "    - name: app\n"            // 20
    "      command: [\"app\"]\n";  // 21
const std::string base = objects + pod_head;

const ContainerSpec& app(const Manifests& m) { return m.pods.at(0).containers.at(0); }

Env env_of(const Manifests& m, const NodeInfo& node = {}) {
  return resolve_env(m.pods.at(0), app(m), "10.0.0.7", node);
}

// ---- ConfigMaps and Secrets -------------------------------------------------------------------

TEST(ConfigObjects, ConfigMapAndSecretAreRead) {
  Manifests m = parse(R"y(apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: shop, labels: {tier: web}}
immutable: true
data:
  a: "1"
  empty:
binaryData:
  bin: AAEC/w==
---
apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
data:
  tls.crt: Y2VydA==
  tls.key: |
    a2V5
stringData:
  tls.key: plain
  extra: more
)y");
  const ConfigObject* cm = m.objects->find(false, "shop", "app");
  ASSERT_NE(cm, nullptr);
  EXPECT_TRUE(cm->immutable);
  EXPECT_EQ(cm->data, (std::map<std::string, std::string>{
                          {"a", "1"}, {"empty", ""}, {"bin", std::string("\0\1\2\xff", 4)}}));
  EXPECT_EQ(cm->line, 1);
  EXPECT_EQ(m.objects->find(false, "default", "app"), nullptr);  // another namespace
  const ConfigObject* s = m.objects->find(true, "default", "tls");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, "kubernetes.io/tls");
  // stringData wins over data, as the API server merges them.
  EXPECT_EQ(s->data, (std::map<std::string, std::string>{
                         {"tls.crt", "cert"}, {"tls.key", "plain"}, {"extra", "more"}}));
  EXPECT_EQ(m.objects->find(true, "default", "app"), nullptr);  // not a Secret
  EXPECT_EQ(parse(objects).objects->find(true, "default", "creds")->type, "Opaque");
  EXPECT_TRUE(parse(objects).pods.empty());
}

TEST(ConfigObjects, Base64IsTheApiServersStandardEncoding) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("YQ=="), "a");
  EXPECT_EQ(decode_base64("YWI="), "ab");
  EXPECT_EQ(decode_base64("YWJj"), "abc");
  EXPECT_EQ(decode_base64("YWJj\nZGVm\r\n"), "abcdef");  // line breaks are skipped
  EXPECT_EQ(decode_base64("YQ"), std::nullopt);          // padding is required
  EXPECT_EQ(decode_base64("YQ=a"), std::nullopt);
  EXPECT_EQ(decode_base64("Y Q=="), std::nullopt);
  EXPECT_EQ(decode_base64("YQ==YQ=="), std::nullopt);  // data after padding
  EXPECT_EQ(decode_base64("_-=="), std::nullopt);      // the URL alphabet is not
}

TEST(ConfigObjectErrors, BadValuesNameTheLineButNeverTheSecret) {
  std::string bad = error_of(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  ok: YQ==\n  pw: hunter2!\n");
  EXPECT_EQ(bad, "run.yaml:6: data.pw: not valid base64 (the standard alphabet, with = padding)");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbinaryData: {b: "
                     "\"@@@@\"}\n"),
            "run.yaml:4: binaryData.b: not valid base64 (the standard alphabet, with = padding)");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  \"a/b\": x\n"),
            "run.yaml:5: data.a/b: not a valid key (at most 253 of letters, digits, '-', '_' and "
            "'.', not starting with \"..\")");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {..x: y}\n"),
            "run.yaml:4: data...x: not a valid key (at most 253 of letters, digits, '-', '_' and "
            "'.', not starting with \"..\")");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x}\n"
                     "binaryData: {a: YQ==}\n"),
            "run.yaml:5: binaryData.a: key \"a\" is in data too");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: [x]}\n"),
            "run.yaml:4: data.a: expected a single value, not a list or mapping");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: C}\n"),
            "run.yaml:3: metadata.name: not a valid name (lowercase letters, digits, '-' and '.', "
            "at most 253): \"C\"");
  EXPECT_EQ(error_of("apiVersion: v2\nkind: Secret\nmetadata: {name: c}\n"),
            "run.yaml:1: apiVersion: a Secret needs apiVersion v1, not \"v2\"");
}

TEST(ConfigObjectErrors, ValuesTakeAtMostOneMebibyte) {
  const std::string half(600 << 10, 'x');
  std::string two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + half +
                    "\n  b: " + half + "\n";
  EXPECT_EQ(error_of(two),
            "run.yaml:6: data.b: the ConfigMap's values take more than 1 MiB (Kubernetes' limit "
            "for a ConfigMap)");
  // A Secret's stringData replaces a key of data rather than adding to it.
  std::string b64;
  for (std::size_t i = 0; i < half.size() / 3; ++i) {
    b64 += "eHh4";
  }
  std::string replaced = "apiVersion: v1\nkind: Secret\nmetadata: {name: big}\ndata:\n  a: " + b64 +
                         "\nstringData:\n  a: " + half + "\n";
  EXPECT_EQ(error_of(replaced), "no error");
  EXPECT_EQ(error_of(replaced + "  b: " + half + "\n"),
            "run.yaml:8: stringData.b: the Secret's values take more than 1 MiB (Kubernetes' "
            "limit for a Secret)");
}

TEST(ConfigObjectErrors, ANameIsDefinedOncePerNamespaceAndKind) {
  const std::string cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n";
  EXPECT_EQ(error_of(cm + cm),
            "run.yaml:7: metadata.name: ConfigMap \"a\" in namespace \"default\" is already "
            "defined at run.yaml:3");
  EXPECT_EQ(error_of(cm + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n"),
            "no error");
  EXPECT_EQ(error_of(cm + "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n"), "no error");
}

TEST(ConfigObjectWarnings, AnUnquotedSecretValueIsWarnedAboutWithoutIt) {
  LogCapture logs;
  (void)parse(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {pin: 987654}\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {port: 8080}\n");
  const std::string text = logs.text();
  EXPECT_EQ(text.find("987654"), std::string::npos) << text;
  EXPECT_NE(text.find("value=(secret)"), std::string::npos) << text;
  EXPECT_NE(text.find("value=8080"), std::string::npos) << text;
}

// ---- kinds ------------------------------------------------------------------------------------

TEST(Kinds, KindsNotRunAreIgnoredWithOneWarningEach) {
  LogCapture logs;
  Manifests m = parse(base + R"y(---
apiVersion: v1
kind: ServiceAccount
metadata: {name: a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules: []
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: b}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
---
apiVersion: example.com/v1
kind: Widget
)y");
  EXPECT_EQ(m.pods.size(), 1u);
  EXPECT_EQ(logs.count("kind ServiceAccount is not run by tender pod; ignored"), 1u);
  EXPECT_EQ(logs.count("kind Role is not run by tender pod; ignored"), 1u);
  EXPECT_EQ(logs.count("kind Ingress is not run by tender pod; ignored"), 1u);
  EXPECT_EQ(logs.count("kind Widget is not run by tender pod; ignored"), 1u);
  EXPECT_NE(logs.text().find("line=23"), std::string::npos);  // the first ServiceAccount
}

TEST(Kinds, WorkloadsAndObjectsTenderDoesNotRunAreRefusedSayingWhy) {
  auto refused = [](const std::string& api, const std::string& kind) {
    return error_of(base + "---\napiVersion: " + api + "\nkind: " + kind +
                    "\nmetadata: {name: "
                    "x}\n");
  };
  EXPECT_EQ(refused("apps/v1", "ReplicaSet"),
            "run.yaml:24: kind: kind \"ReplicaSet\" is not run (use a Deployment)");
  EXPECT_NE(refused("apps/v1", "DaemonSet").find("not run (on one machine"), std::string::npos);
}

TEST(Kinds, AListsItemsAreDocuments) {
  Manifests m = parse(
      "apiVersion: v1\nkind: List\nitems:\n"
      "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {k: v}}\n"
      "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n"
      "    spec:\n      containers:\n        - name: a\n          command: [a]\n"
      "          env: [{name: K, valueFrom: {configMapKeyRef: {name: c, key: k}}}]\n");
  ASSERT_EQ(m.pods.size(), 1u);
  EXPECT_EQ(env_of(m), (Env{{"K", "v"}}));
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: List}\n"),
            "run.yaml:4: items[0].kind: a List within a List is not allowed");
}

// ---- environment ------------------------------------------------------------------------------

TEST(ConfigEnv, KeyRefsAndEnvFromResolveAsTheKubeletDoes) {
  Manifests m = parse(base + R"y(      envFrom:
        - configMapRef: {name: app}
          prefix: CFG_
        - secretRef: {name: creds}
        - configMapRef: {name: absent, optional: true}
      env:
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: app, key: greeting}}}
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: token, value: "overridden $(CFG_greeting) $(PASSWORD)"}
        - {name: NONE, valueFrom: {secretKeyRef: {name: creds, key: nope, optional: true}}}
        - {name: GONE, valueFrom: {configMapKeyRef: {name: absent, key: k, optional: true}}}
)y");
  // envFrom first (sources in order, keys sorted), then env: a later definition replaces an
  // earlier one in place; values from objects are not expanded; optional misses are left out.
  EXPECT_EQ(env_of(m), (Env{{"CFG_app.conf", "a = 1\nb = $(greeting)\n"},
                            {"CFG_greeting", "hello"},
                            {"password", "s3cr3t"},
                            {"token", "overridden hello s3cr3t"},
                            {"GREETING", "hello"},
                            {"PASSWORD", "s3cr3t"}}));
  EXPECT_EQ(app(m).env_from.size(), 3u);
  EXPECT_TRUE(app(m).env_from[1].secret);
}

// The kubelet expands $(VAR) from the container's own variables first, then from the Services'
// (NAME_SERVICE_HOST, ...), in env values and in command and args alike.
TEST(ConfigEnv, ReferencesReachTheServicesVariables) {
  Manifests m = parse(objects + R"y(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      command: ["app", "$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)", "$(URL)", "$(MISSING)"]
      env:
        - {name: URL, value: "http://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/"}
        - {name: DB_SERVICE_PORT, value: "6000"}
        - {name: AFTER, value: "$(DB_SERVICE_PORT)"}
)y");
  const Env services = {{"DB_SERVICE_HOST", "10.96.0.10"}, {"DB_SERVICE_PORT", "5432"}};
  const Env env = resolve_env(m.pods.at(0), app(m), "10.0.0.7", {}, services);
  // URL came before the container's own DB_SERVICE_PORT: the Service's; AFTER, the container's.
  EXPECT_EQ(
      env,
      (Env{{"URL", "http://10.96.0.10:5432/"}, {"DB_SERVICE_PORT", "6000"}, {"AFTER", "6000"}}));
  EXPECT_EQ(expand_argv(app(m), env, services),
            (std::vector<std::string>{"app", "10.96.0.10:6000", "http://10.96.0.10:5432/",
                                      "$(MISSING)"}));
  // Without Services the references stay as written, as Kubernetes leaves unknown ones.
  EXPECT_EQ(expand_argv(app(m), resolve_env(m.pods.at(0), app(m), "10.0.0.7")).at(1),
            "$(DB_SERVICE_HOST):6000");
}

TEST(ConfigEnv, BinaryDataIsForVolumesOnly) {
  const std::string cm =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {t: text}\n"
      "binaryData: {bin: AAEC}\n---\n";
  Manifests m = parse(cm + pod_head + "      envFrom: [{configMapRef: {name: b}}]\n");
  EXPECT_EQ(env_of(m), (Env{{"t", "text"}}));
  EXPECT_EQ(error_of(cm + pod_head +
                     "      env: [{name: B, valueFrom: {configMapKeyRef: {name: b, key: bin}}}]\n"),
            "run.yaml:15: spec.containers[0].env[0].valueFrom.configMapKeyRef.key: ConfigMap "
            "\"b\" (run.yaml:1) has no key \"bin\" in data (binaryData is for volumes)");
  Manifests v = parse(cm + pod_head + "  volumes: [{name: v, configMap: {name: b}}]\n");
  auto files = volume_files(v.pods[0], v.pods[0].volumes[0], "", {});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "bin");
  EXPECT_EQ(files[0].content, std::string("\0\1\2", 3));
}

TEST(ConfigEnv, FieldRefsOfTheMachine) {
  Manifests m = parse(base + R"y(      env:
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
        - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
        - {name: IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
)y");
  NodeInfo node;
  node.name = "box";
  EXPECT_EQ(env_of(m, node),
            (Env{{"NODE", "box"}, {"SA", "default"}, {"HOST", "127.0.0.1"}, {"IPS", "10.0.0.7"}}));
  std::string named = base;
  named.replace(named.find("  containers:"), 0, "  serviceAccountName: builder\n");
  EXPECT_EQ(parse(named).pods[0].service_account, "builder");
}

TEST(ConfigEnv, ResourceFieldRefsAreLimitsRequestsOrTheMachines) {
  Manifests m = parse(base + R"y(      resources:
        limits: {cpu: 250m, memory: 64Mi}
        requests: {memory: 32Mi}
      env:
        - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
        - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
        - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
        - {name: MEM_REQ, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
        - {name: DISK, valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage, divisor: 1Gi}}}
        - {name: DISK_REQ, valueFrom: {resourceFieldRef: {resource: requests.ephemeral-storage}}}
        - {name: SIDE, valueFrom: {resourceFieldRef: {containerName: side, resource: limits.cpu}}}
    - name: side
      command: [side]
)y");
  NodeInfo node;
  node.cpu_millis = 4000;
  node.ephemeral_storage_bytes = (std::uint64_t{5} << 30) + 1;
  // Rounded up; a request not set is the limit, else 0; a limit not set is the machine's.
  EXPECT_EQ(env_of(m, node), (Env{{"CPU", "1"},
                                  {"CPU_M", "250"},
                                  {"CPU_REQ", "250"},
                                  {"MEM_MI", "64"},
                                  {"MEM_REQ", "33554432"},
                                  {"DISK", "6"},
                                  {"DISK_REQ", "0"},
                                  {"SIDE", "4"}}));
}

TEST(ConfigEnv, CpuQuantities) {
  EXPECT_EQ(parse_cpu_millis("250m"), 250u);
  EXPECT_EQ(parse_cpu_millis("1.5m"), 2u);
  EXPECT_EQ(parse_cpu_millis("0.5"), 500u);
  EXPECT_EQ(parse_cpu_millis("2"), 2000u);
  EXPECT_EQ(parse_cpu_millis(".1"), 100u);
  EXPECT_EQ(parse_cpu_millis("0.0001"), 1u);
  EXPECT_EQ(parse_cpu_millis("1e3"), 1'000'000u);
  EXPECT_EQ(parse_cpu_millis("m"), std::nullopt);
  EXPECT_EQ(parse_cpu_millis("1Xm"), std::nullopt);
  EXPECT_EQ(parse_cpu_millis("lots"), std::nullopt);
}

TEST(ConfigEnvErrors, MissingObjectsAndKeysNameTheReference) {
  EXPECT_EQ(error_of(base + "      env:\n        - {name: A, valueFrom: {configMapKeyRef: {name: "
                            "app, key: nope}}}\n"),
            "run.yaml:23: spec.containers[0].env[0].valueFrom.configMapKeyRef.key: ConfigMap "
            "\"app\" (run.yaml:1) has no key \"nope\" (add it, or set optional: true)");
  EXPECT_EQ(error_of(base + "      envFrom:\n        - secretRef: {name: other}\n"),
            "run.yaml:23: spec.containers[0].envFrom[0].secretRef.name: no Secret \"other\" in "
            "namespace \"default\" in the files of the run (add it, or set optional: true)");
  // A pod refers to objects of its own namespace.
  std::string elsewhere = base;
  elsewhere.replace(elsewhere.find("  name: web\n"), 12, "  name: web\n  namespace: shop\n");
  EXPECT_EQ(error_of(elsewhere + "      envFrom:\n        - configMapRef: {name: app}\n"),
            "run.yaml:24: spec.containers[0].envFrom[0].configMapRef.name: no ConfigMap \"app\" "
            "in namespace \"shop\" in the files of the run (add it, or set optional: true)");
  EXPECT_EQ(error_of(base + "      envFrom:\n        - {configMapRef: {name: app}, secretRef: "
                            "{name: creds}}\n"),
            "run.yaml:23: spec.containers[0].envFrom[0].secretRef: only one of configMapRef and "
            "secretRef is allowed");
  EXPECT_EQ(error_of(base + "      envFrom:\n        - {prefix: X}\n"),
            "run.yaml:23: spec.containers[0].envFrom[0]: one of configMapRef or secretRef is "
            "required");
  EXPECT_EQ(error_of(base + "      envFrom:\n        - {configMapRef: {name: app}, prefix: "
                            "\"A=\"}\n"),
            "run.yaml:23: spec.containers[0].envFrom[0].prefix: not a valid variable name prefix "
            "(printable ASCII without '='): \"A=\"");
  EXPECT_EQ(error_of(base + "      env:\n        - name: A\n          valueFrom:\n"
                            "            fieldRef: {fieldPath: metadata.name}\n"
                            "            secretKeyRef: {name: creds, key: token}\n"),
            "run.yaml:26: spec.containers[0].env[0].valueFrom.secretKeyRef: only one source is "
            "allowed (found fieldRef and secretKeyRef)");
}

TEST(ConfigEnvErrors, ObjectsMayComeLaterOrFromAnotherFile) {
  TempDir dir;
  const std::string pod_file =
      dir.write("pod.yaml", pod_head +
                                "      env:\n        - {name: P, valueFrom: {secretKeyRef: {name: "
                                "creds, key: password}}}\n");
  const std::string objects_file = dir.write("objects.yaml", objects);
  Manifests m = load_manifests({pod_file, objects_file});
  EXPECT_EQ(resolve_env(m.pods.at(0), app(m), "1.2.3.4"), (Env{{"P", "s3cr3t"}}));
  try {
    (void)load_manifests({pod_file});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              pod_file +
                  ":10: spec.containers[0].env[0].valueFrom.secretKeyRef.name: no Secret "
                  "\"creds\" in namespace \"default\" in the files of the run (add it, or "
                  "set optional: true)");
  }
}

TEST(ConfigEnvErrors, ResourceFieldRefs) {
  auto env = [](const std::string& ref) {
    return error_of(base + "      env:\n        - {name: R, valueFrom: {resourceFieldRef: " + ref +
                    "}}\n");
  };
  EXPECT_EQ(env("{resource: limits.gpu}"),
            "run.yaml:23: spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: "
            "unsupported resource \"limits.gpu\" (limits. or requests. of cpu, memory, "
            "ephemeral-storage or hugepages-<size>)");
  EXPECT_EQ(env("{resource: limits.cpu, divisor: 2}"),
            "run.yaml:23: spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: must be "
            "1m or 1 for cpu, not \"2\"");
  EXPECT_EQ(env("{resource: requests.memory, divisor: 1m}"),
            "run.yaml:23: spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: must be "
            "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi or 1Ei, not \"1m\"");
  EXPECT_EQ(env("{resource: limits.hugepages-2Mi, divisor: 1Ei}"), "no error");
  EXPECT_EQ(env("{resource: limits.cpu, containerName: nope}"),
            "run.yaml:23: spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: no "
            "container named \"nope\" in the pod");
  EXPECT_EQ(error_of(base + "      resources: {limits: {cpu: 1}, requests: {cpu: 2}}\n"),
            "run.yaml:22: spec.containers[0].resources.requests.cpu: must be less than or equal "
            "to the cpu limit");
  EXPECT_EQ(error_of(base + "      resources: {limits: {memory: lots}}\n"),
            "run.yaml:22: spec.containers[0].resources.limits.memory: not a quantity (like 500m "
            "or 2 for cpu, 128Mi or 1G otherwise): \"lots\"");
}

// envFrom's variables count towards the 1 MiB a container's environment may take.
TEST(ConfigEnvErrors, EnvFromCountsTowardsTheExpandedSize) {
  const std::string big(700 << 10, 'x');
  std::string yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + big +
                     "\n---\n" + pod_head + "      envFrom:\n        - configMapRef: {name: big}\n";
  EXPECT_EQ(error_of(yaml), "no error");
  EXPECT_EQ(error_of(yaml + "        - {configMapRef: {name: big}, prefix: B_}\n"),
            "run.yaml:13: spec.containers[0].env: command, args and environment take more than "
            "1024 KiB once $(VAR) references are expanded");
}

TEST(ConfigEnv, SecretValuesAreShownByTheirSource) {
  Manifests m = parse(base + R"y(      env:
        - {name: BIN, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: CFG, valueFrom: {configMapKeyRef: {name: app, key: greeting}}}
      envFrom:
        - secretRef: {name: creds}
)y");
  auto secrets = secret_values(m.pods[0], app(m));
  ASSERT_EQ(secrets.size(), 3u);
  EXPECT_EQ(secrets[0].value, "s3cr3t");
  EXPECT_EQ(secrets[0].source, "secret creds key password");
  EXPECT_EQ(secrets[2].source, "secret creds key token");
  EXPECT_EQ(redact_expanded("/bin/s3cr3t: No such file", "/bin/s3cr3t", "/bin/$(BIN)", secrets),
            "/bin/$(BIN) (from secret creds key password): No such file");
  EXPECT_EQ(redact_expanded("hello: No such file", "hello", "$(CFG)", secrets),
            "hello: No such file");  // a ConfigMap's value is not secret
  EXPECT_EQ(redact_expanded("s3cr3t: x", "s3cr3t", "s3cr3t", secrets),
            "s3cr3t: x");  // written so in the manifest
}

// ---- volumes ----------------------------------------------------------------------------------

// The pod with `volumes` (its spec's, lines from 22).
Manifests with_volumes(const std::string& volumes) {
  return parse(base + "  volumes:\n" + volumes);
}
std::string volume_error(const std::string& volumes) {
  return error_of(base + "  volumes:\n" + volumes);
}

std::map<std::string, std::pair<std::string, int>> files_of(const Manifests& m,
                                                            std::size_t volume = 0) {
  NodeInfo node;
  node.cpu_millis = 2000;
  std::map<std::string, std::pair<std::string, int>> out;
  for (auto& f : volume_files(m.pods.at(0), m.pods.at(0).volumes.at(volume), "10.0.0.7", node)) {
    out[f.path] = {f.content, f.mode};
  }
  return out;
}

TEST(ConfigVolumes, ConfigMapAndSecretVolumes) {
  Manifests m = with_volumes(R"y(    - name: all
      configMap: {name: app}
    - name: some
      configMap:
        name: app
        defaultMode: 0440
        items:
          - {key: greeting, path: sub/dir/hi.txt, mode: 0600}
          - {key: app.conf, path: app.conf}
    - name: creds
      secret: {secretName: creds, defaultMode: 256}
    - name: maybe
      secret: {secretName: nothing, optional: true}
)y");
  using Files = std::map<std::string, std::pair<std::string, int>>;
  EXPECT_EQ(files_of(m, 0), (Files{{"app.conf", {"a = 1\nb = $(greeting)\n", 0644}},
                                   {"greeting", {"hello", 0644}}}));
  EXPECT_EQ(files_of(m, 1), (Files{{"app.conf", {"a = 1\nb = $(greeting)\n", 0440}},
                                   {"sub/dir/hi.txt", {"hello", 0600}}}));
  EXPECT_EQ(files_of(m, 2), (Files{{"password", {"s3cr3t", 0400}}, {"token", {"tok-123", 0400}}}));
  EXPECT_TRUE(files_of(m, 3).empty());
  EXPECT_EQ(m.pods[0].volumes[2].kind, Volume::Kind::kSecret);
  EXPECT_TRUE(m.pods[0].volumes[2].is_generated());
}

TEST(ConfigVolumes, DownwardApiAndProjectedVolumes) {
  std::string yaml = base + R"y(      resources: {limits: {memory: 1Gi}}
  volumes:
    - name: info
      downwardAPI:
        defaultMode: 0400
        items:
          - {path: name, fieldRef: {fieldPath: metadata.name}}
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: annotations, fieldRef: {fieldPath: metadata.annotations}, mode: 0644}
          - {path: tier, fieldRef: {fieldPath: "metadata.labels['tier']"}}
          - path: mem
            resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}
          - path: cpu
            resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}
    - name: all
      projected:
        defaultMode: 0440
        sources:
          - configMap: {name: app, items: [{key: greeting, path: greeting}]}
          - secret: {name: creds, items: [{key: token, path: secret/token, mode: 0400}]}
          - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
          - serviceAccountToken: {path: token, expirationSeconds: 3600}
          - secret: {name: nothing, optional: true}
)y";
  yaml.replace(yaml.find("  name: web\n"), 12,
               "  name: web\n  labels: {tier: front, app: shop}\n"
               "  annotations: {note: \"say \\\"hi\\\"\\nbye\"}\n");
  LogCapture logs;
  Manifests m = parse(yaml);
  EXPECT_EQ(logs.count("projected serviceAccountToken is not written"), 1u);
  using Files = std::map<std::string, std::pair<std::string, int>>;
  EXPECT_EQ(files_of(m, 0), (Files{{"name", {"web", 0400}},
                                   {"labels", {"app=\"shop\"\ntier=\"front\"", 0400}},
                                   {"annotations", {"note=\"say \\\"hi\\\"\\nbye\"", 0644}},
                                   {"tier", {"front", 0400}},
                                   {"mem", {"1024", 0400}},
                                   {"cpu", {"2000", 0400}}}));
  EXPECT_EQ(files_of(m, 1), (Files{{"greeting", {"hello", 0440}},
                                   {"secret/token", {"tok-123", 0400}},
                                   {"ns", {"default", 0440}}}));
}

TEST(ConfigVolumes, FileModes) {
  auto mode = [](const std::string& text) { return parse_config("m: " + text + "\n", "m.yaml"); };
  EXPECT_EQ(file_mode(mode("0644"), "m"), 0644);
  EXPECT_EQ(file_mode(mode("0o600"), "m"), 0600);
  EXPECT_EQ(file_mode(mode("420"), "m"), 0644);
  EXPECT_EQ(file_mode(mode("0"), "m"), 0);
  EXPECT_EQ(file_mode(mode("511"), "m"), 0777);
  for (const char* bad : {"644", "0999", "-1", "rw", "0o", "0x1a4"}) {
    try {
      (void)file_mode(mode(bad), "m");
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("m.yaml:1: m: not a file mode (0 to 0777 in octal, like 0644 or 0400, "
                            "or 0 to 511 in decimal): \"") +
                    bad + "\"");
    }
  }
}

TEST(ConfigVolumeErrors, ReferencesPathsAndModes) {
  EXPECT_EQ(volume_error("    - name: v\n      configMap: {name: nope}\n"),
            "run.yaml:24: spec.volumes[0].configMap.name: no ConfigMap \"nope\" in namespace "
            "\"default\" in the files of the run (add it, or set optional: true)");
  EXPECT_EQ(volume_error("    - name: v\n      secret: {name: creds}\n"),
            "run.yaml:24: spec.volumes[0].secret.secretName: required");
  EXPECT_EQ(volume_error("    - name: v\n      secret:\n        secretName: creds\n"
                         "        items: [{key: nope, path: p}]\n"),
            "run.yaml:26: spec.volumes[0].secret.items[0].key: Secret \"creds\" (run.yaml:8) has "
            "no key \"nope\" (add it, or set optional: true)");
  EXPECT_EQ(volume_error("    - name: v\n      secret:\n        secretName: creds\n        "
                         "optional: true\n        items: [{key: nope, path: p}]\n"),
            "no error");
  for (const char* path : {"/etc/x", "../x", "a/../../x", "..x"}) {
    EXPECT_EQ(volume_error("    - name: v\n      configMap:\n        name: app\n"
                           "        items: [{key: greeting, path: \"" +
                           std::string(path) + "\"}]\n"),
              "run.yaml:26: spec.volumes[0].configMap.items[0].path: must be a relative path "
              "without '..': \"" +
                  std::string(path) + "\"");
  }
  EXPECT_EQ(volume_error("    - name: v\n      configMap: {name: app, defaultMode: 644}\n"),
            "run.yaml:24: spec.volumes[0].configMap.defaultMode: not a file mode (0 to 0777 in "
            "octal, like 0644 or 0400, or 0 to 511 in decimal): \"644\"");
  EXPECT_EQ(volume_error("    - name: v\n      downwardAPI:\n        items:\n"
                         "          - {path: a, fieldRef: {fieldPath: status.podIP}}\n"),
            "run.yaml:26: spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: unsupported "
            "fieldPath \"status.podIP\" (metadata.name, metadata.namespace, metadata.labels, "
            "metadata.annotations, metadata.labels['key'], metadata.annotations['key'])");
  EXPECT_EQ(volume_error("    - name: v\n      downwardAPI:\n        items:\n"
                         "          - {path: a, resourceFieldRef: {resource: limits.cpu}}\n"),
            "run.yaml:26: spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: "
            "required in a downwardAPI volume");
  EXPECT_EQ(volume_error("    - name: v\n      projected:\n        sources:\n"
                         "          - clusterTrustBundle: {name: x, path: p}\n"),
            "run.yaml:26: spec.volumes[0].projected.sources[0].clusterTrustBundle: projected "
            "source clusterTrustBundle not supported locally (configMap, secret, downwardAPI or "
            "serviceAccountToken)");
}

TEST(ConfigVolumeErrors, TwoFilesAtOnePath) {
  EXPECT_EQ(volume_error(R"y(    - name: v
      projected:
        sources:
          - configMap: {name: app}
          - secret: {name: creds, items: [{key: token, path: greeting}]}
)y"),
            "run.yaml:27: spec.volumes[0].projected.sources[1].secret.items[0].path: two files of "
            "the volume at \"greeting\" (also from run.yaml:26)");
  EXPECT_EQ(volume_error(R"y(    - name: v
      configMap:
        name: app
        items:
          - {key: greeting, path: a}
          - {key: app.conf, path: a/b}
)y"),
            "run.yaml:28: spec.volumes[0].configMap.items[1].path: file \"a/b\" would be inside "
            "the file \"a\" (from run.yaml:27)");
}

TEST(ConfigVolumeErrors, APodsVolumeFilesAreBounded) {
  const std::string value(900 << 10, 'x');
  std::string yaml =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + value + "\n---\n" +
      pod_head + "  volumes:\n";
  for (int i = 0; i < 19; ++i) {
    yaml += "    - {name: v" + std::to_string(i) + ", configMap: {name: big}}\n";
  }
  EXPECT_EQ(error_of(yaml),
            "run.yaml:34: spec.volumes[18].configMap.name: the pod's configMap, secret and "
            "projected volumes hold more than 16 MiB of files");
}

// ---- writing --------------------------------------------------------------------------------

TEST(VolumeFiles, WrittenWithTheirModesInAFreshDirectory) {
  TempDir dir;
  const std::string v = dir.path() + "/vol";
  std::filesystem::create_directories(v + "/stale");
  ASSERT_TRUE(write_volume_files(v, {{"a", "1", 0400}, {"sub/dir/b", "22", 0640}}, std::nullopt));
  EXPECT_FALSE(std::filesystem::exists(v + "/stale"));
  EXPECT_EQ(slurp(v + "/a"), "1");
  EXPECT_EQ(slurp(v + "/sub/dir/b"), "22");
  auto mode = [](const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode(v), 0755u);
  EXPECT_EQ(mode(v + "/a"), 0400u);
  EXPECT_EQ(mode(v + "/sub"), 0755u);
  EXPECT_EQ(mode(v + "/sub/dir/b"), 0640u);
  if (::geteuid() == 0) {
    // fsGroup: the group's, group-readable, directories set-group-ID.
    ASSERT_TRUE(write_volume_files(v, {{"a", "1", 0400}, {"d/b", "2", 0600}}, 4321));
    struct stat st {};
    ::stat((v + "/a").c_str(), &st);
    EXPECT_EQ(st.st_gid, 4321u);
    EXPECT_EQ(mode(v + "/a"), 0440u);
    EXPECT_EQ(mode(v + "/d/b"), 0640u);
    EXPECT_EQ(mode(v + "/d"), 02755u);
    EXPECT_EQ(mode(v), 02755u);
  }
}

}  // namespace
}  // namespace tender::pod

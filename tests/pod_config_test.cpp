// ConfigMaps and Secrets with the real runner (as root): a container's environment from them,
// their files in configMap, secret, downwardAPI and projected volumes (items, modes, subPath,
// read-only), and their values kept out of the runner's API and logs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <filesystem>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// Values that must never leave the containers.
const std::string kPassword = "pw-Zq81xK-never-shown";  // czNj... below is its base64
const std::string kToken = "tok-Hc52Lm-never-shown";
const std::string kBin = "/nonexistent/bin-Wd67Rt-never-shown";

std::string base64(const std::string& s) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 3) {
    std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (i + 1 < s.size()) {
      group |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    }
    if (i + 2 < s.size()) {
      group |= static_cast<unsigned char>(s[i + 2]);
    }
    out += kAlphabet[group >> 18];
    out += kAlphabet[(group >> 12) & 63];
    out += i + 1 < s.size() ? kAlphabet[(group >> 6) & 63] : '=';
    out += i + 2 < s.size() ? kAlphabet[group & 63] : '=';
  }
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// The objects, in a file of their own, with a kind tender ignores.
std::string objects_yaml() {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata:\n"
         "  greeting: hello-from-configmap\n  app.conf: |\n    color = blue\n"
         "binaryData: {blob: AAEC}\n---\n"
         "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ntype: Opaque\n"
         "data: {password: " +
         base64(kPassword) + "}\nstringData:\n  token: " + kToken + "\n  bin: " + kBin +
         "\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\n"
         "rules: []\n";
}

// What the container writes to OUT/app: its environment and the volumes' files. `$(...)` names
// no variable, so the runner leaves it to the shell.
constexpr const char* kScript = R"sh(
          {
            echo "greeting=$GREETING"
            echo "password=$PASSWORD"
            echo "cm_greeting=$CM_greeting"
            echo "blob=${CM_blob-unset}"
            echo "node=$NODE"
            echo "cpu=$CPU_M"
            echo "conf=$(cat M/config/conf/app.conf)"
            echo "confmode=$(stat -c %a M/config/conf/app.conf)"
            echo "secret=$(cat M/secret/token)"
            echo "secretmode=$(stat -c %a M/secret/password)"
            echo "labels=$(cat M/info/labels | tr '\n' ',')"
            echo "mem=$(cat M/info/mem)"
            echo "proj=$(cat M/all/cm/greeting),$(cat M/all/sec/token),$(cat M/all/name)"
            echo "projmode=$(stat -c %a M/all/cm/greeting)"
            echo "projfiles=$(ls M/all | tr '\n' ',')"
            echo "single=$(cat M/single.conf)"
            touch M/config/new 2>/dev/null && echo "ro=no" || echo "ro=yes"
          } > OUT/app.tmp 2>&1
          mv OUT/app.tmp OUT/app
          exec sleep 1000
)sh";

std::string pods_yaml() {
  return std::string(R"y(apiVersion: v1
kind: Pod
metadata:
  name: cfg
  labels: {app: cfg, tier: test}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: out, hostPath: {path: OUT}}
    - name: config
      configMap:
        name: app-config
        items:
          - {key: app.conf, path: conf/app.conf, mode: 0600}
          - {key: greeting, path: greeting}
    - name: secret
      secret: {secretName: creds, defaultMode: 0400}
    - name: info
      downwardAPI:
        items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
    - name: all
      projected:
        defaultMode: 0440
        sources:
          - configMap: {name: app-config, items: [{key: greeting, path: cm/greeting}]}
          - secret: {name: creds, items: [{key: token, path: sec/token}]}
          - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
          - serviceAccountToken: {path: token}
  containers:
    - name: app
      command:
        - sh
        - -c
        - |)y") +
         kScript +
         R"y(      resources: {limits: {cpu: 250m, memory: 64Mi}}
      envFrom:
        - configMapRef: {name: app-config}
          prefix: CM_
      env:
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}}
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
      volumeMounts:
        - {name: out, mountPath: OUT}
        - {name: config, mountPath: M/config}
        - {name: secret, mountPath: M/secret}
        - {name: info, mountPath: M/info}
        - {name: all, mountPath: M/all, readOnly: false}
        - {name: config, mountPath: M/single.conf, subPath: conf/app.conf}
    - name: probed
      command: ["sleep", "1000"]
      env: [{name: BIN, valueFrom: {secretKeyRef: {name: creds, key: bin}}}]
      readinessProbe:
        exec: {command: ["$(BIN)"]}
        periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: badstart}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      command: ["$(BIN)", "--flag"]
      env: [{name: BIN, valueFrom: {secretKeyRef: {name: creds, key: bin}}}]
)y";
}

std::map<std::string, std::string> lines_of(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

class PodConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "volumes are mounted as root";
    }
    std::filesystem::create_directories(out());
  }
  std::string out() const { return dir_.path() + "/out"; }
  std::string mnt() const { return dir_.path() + "/mnt"; }

  TempDir dir_;
  std::optional<Tender> runner_;
};

std::string json_of(std::uint16_t port, const std::string& target) {
  return http(port, "GET", target).body;
}

TEST_F(PodConfigTest, EnvironmentAndVolumesComeFromConfigMapsAndSecrets) {
  std::string pods = replace_all(replace_all(pods_yaml(), "OUT", out()), "M/", mnt() + "/");
  const std::string pod_file = dir_.write("pods.yaml", pods);
  const std::string objects_file = dir_.write("objects.yaml", objects_yaml());
  runner_.emplace(std::vector<std::string>{
      "pod", "run", pod_file, objects_file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir",
      dir_.path() + "/run", "--restart-backoff", "100ms:400ms", "--network", "host"});
  const std::string result = out() + "/app";
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(result); }, 20s))
      << runner_->stderr_text().substr(0, 3000);
  const std::string text = slurp(result);
  auto got = lines_of(text);
  std::array<char, 256> host{};
  ::gethostname(host.data(), host.size() - 1);
  EXPECT_EQ(got["greeting"], "hello-from-configmap") << text;
  EXPECT_EQ(got["password"], kPassword) << text;
  EXPECT_EQ(got["cm_greeting"], "hello-from-configmap") << text;
  EXPECT_EQ(got["blob"], "unset") << text;  // binaryData is for files, as the kubelet has it
  EXPECT_EQ(got["node"], host.data()) << text;
  EXPECT_EQ(got["cpu"], "250") << text;
  EXPECT_EQ(got["conf"], "color = blue") << text;
  EXPECT_EQ(got["confmode"], "600") << text;
  EXPECT_EQ(got["secret"], kToken) << text;
  EXPECT_EQ(got["secretmode"], "400") << text;
  EXPECT_EQ(got["labels"], "app=\"cfg\",tier=\"test\"") << text;
  EXPECT_EQ(got["mem"], "64") << text;
  EXPECT_EQ(got["proj"], "hello-from-configmap," + kToken + ",cfg") << text;
  EXPECT_EQ(got["projmode"], "440") << text;
  EXPECT_EQ(got["projfiles"], "cm,name,sec,") << text;  // no serviceAccountToken
  EXPECT_EQ(got["single"], "color = blue") << text;     // subPath: one file
  EXPECT_EQ(got["ro"], "yes") << text;
  const std::string err = runner_->stderr_text();
  EXPECT_NE(err.find("kind Role is not run by tender pod; ignored"), std::string::npos) << err;
  EXPECT_NE(err.find("projected serviceAccountToken is not written"), std::string::npos) << err;
}

// A Secret's value that went into a command is shown by where it came from: in the state of a
// container that could not start, in an exec probe's message, in the logs. /configz lists the
// objects' keys, never their values.
TEST_F(PodConfigTest, SecretValuesNeverAppearInTheApiOrLogs) {
  std::string pods = replace_all(replace_all(pods_yaml(), "OUT", out()), "M/", mnt() + "/");
  const std::string file = dir_.write("all.yaml", objects_yaml() + "---\n" + pods);
  runner_.emplace(std::vector<std::string>{
      "pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir",
      dir_.path() + "/run", "--restart-backoff", "100ms:400ms", "--network", "host"});
  const std::uint16_t port = runner_->port("admin");
  ASSERT_TRUE(eventually([&] {
    auto p = http(port, "GET", "/v1/pods/badstart");
    return p.status == 200 && p.body.find("(from secret creds key bin)") != std::string::npos;
  })) << json_of(port, "/v1/pods/badstart");
  ASSERT_TRUE(eventually([&] {
    auto p = http(port, "GET", "/v1/pods/cfg");
    return p.status == 200 &&
           p.body.find("\"readiness\":{\"result\":\"failure\"") != std::string::npos;
  })) << json_of(port, "/v1/pods/cfg");
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(out() + "/app"); }));

  json::value bad = json::parse(json_of(port, "/v1/pods/badstart"));
  const auto& state = bad.at("containers").at(0).at("state");
  const std::string shown = json::serialize(state);
  EXPECT_NE(shown.find("$(BIN) (from secret creds key bin)"), std::string::npos) << shown;
  json::value cfg = json::parse(json_of(port, "/v1/pods/cfg"));
  const std::string probe =
      json::serialize(cfg.at("containers").at(1).at("probes").at("readiness").at("message"));
  EXPECT_NE(probe.find("$(BIN) (from secret creds key bin)"), std::string::npos) << probe;

  const std::string configz = json_of(port, "/configz");
  EXPECT_NE(configz.find("\"password\""), std::string::npos) << configz;  // the key
  auto status = run_tender({"pod", "status", "--admin", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(status.status.code, 0) << status.err;
  for (const std::string& where : {json_of(port, "/v1/pods"), json_of(port, "/v1/pods/cfg"),
                                   json_of(port, "/v1/pods/badstart"), configz,
                                   json_of(port, "/statusz"), status.out, runner_->stderr_text()}) {
    for (const std::string& secret : {kPassword, kToken, kBin, base64(kPassword)}) {
      EXPECT_EQ(where.find(secret), std::string::npos) << secret << " in:\n" << where;
    }
  }
}

TEST_F(PodConfigTest, AMissingSecretIsAnErrorNamingTheReferenceBeforeAnythingStarts) {
  const std::string file = dir_.write(
      "pod.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n"
      "      command: [\"touch\", \"" +
          out() + "/started\"]\n      envFrom:\n        - secretRef: {name: missing}\n");
  auto r = run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view"});
  EXPECT_EQ(r.status.code, 2) << r.err;
  EXPECT_NE(r.err.find(file + ":9: spec.containers[0].envFrom[0].secretRef.name: no Secret "
                              "\"missing\""),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out() + "/started"));
  auto v = run_tender({"pod", "validate", file});
  EXPECT_EQ(v.status.code, 2) << v.err;
}

}  // namespace
}  // namespace tender::testing

#include "pod/image_spec.hpp"

#include <gtest/gtest.h>

namespace tender::pod {
namespace {

ImageRef parsed(std::string_view text) {
  auto r = parse_image_ref(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message());
  return r ? *r : ImageRef{};
}

std::string refusal(std::string_view text) {
  auto r = parse_image_ref(text);
  EXPECT_FALSE(r) << text << " was accepted as " << (r ? r->canonical() : "");
  return r ? "" : r.error().message();
}

TEST(ImageRef, AOneComponentNameIsALibraryImageOnDockerHubTaggedLatest) {
  EXPECT_EQ(parsed("redis").canonical(), "docker.io/library/redis:latest");
  EXPECT_EQ(parsed("redis:7.2-alpine").canonical(), "docker.io/library/redis:7.2-alpine");
  EXPECT_EQ(parsed("bitnami/redis").canonical(), "docker.io/bitnami/redis:latest");
  EXPECT_EQ(parsed("index.docker.io/library/nginx:1").canonical(), "docker.io/library/nginx:1");
}

TEST(ImageRef, AFirstComponentWithADotAColonOrLocalhostIsTheRegistry) {
  ImageRef r = parsed("registry.k8s.io/pause:3.9");
  EXPECT_EQ(r.registry, "registry.k8s.io");
  EXPECT_EQ(r.repository, "pause");
  EXPECT_EQ(r.tag, "3.9");
  EXPECT_EQ(parsed("localhost:5000/team/app").canonical(), "localhost:5000/team/app:latest");
  EXPECT_EQ(parsed("localhost/bb:1").canonical(), "localhost/bb:1");
  // Without a dot, colon or "localhost" the first component is part of the repository.
  EXPECT_EQ(parsed("team/app:v1").registry, "docker.io");
}

TEST(ImageRef, ADigestPinsTheImageAndATagBesideItIsKept) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  ImageRef r = parsed("gcr.io/proj/app@" + digest);
  EXPECT_EQ(r.digest, digest);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.canonical(), "gcr.io/proj/app@" + digest);
  EXPECT_EQ(parsed("app:v2@" + digest).canonical(), "docker.io/library/app:v2@" + digest);
  EXPECT_EQ(default_pull_policy(r), PullPolicy::kIfNotPresent);
}

TEST(ImageRef, MalformedReferencesAreRefusedSayingWhichPart) {
  EXPECT_NE(refusal("Redis").find("bad repository component \"Redis\""), std::string::npos);
  EXPECT_NE(refusal("redis:").find("a tag is"), std::string::npos);
  EXPECT_NE(refusal("redis:-x").find("a tag is"), std::string::npos);
  EXPECT_NE(refusal("redis:" + std::string(129, 'a')).find("a tag is"), std::string::npos);
  EXPECT_NE(refusal("redis@sha256:abc").find("digest"), std::string::npos);
  EXPECT_NE(refusal("redis@md5:" + std::string(32, 'a')).find("digest"), std::string::npos);
  EXPECT_NE(refusal("a//b").find("bad repository component \"\""), std::string::npos);
  EXPECT_NE(refusal("a..b").find("bad repository component"), std::string::npos);
  EXPECT_NE(refusal("-a").find("bad repository component"), std::string::npos);
  EXPECT_NE(refusal("my_-reg.io:x/app").find("bad registry"), std::string::npos);
  EXPECT_NE(refusal("reg.io:99999999/app").find("bad registry"), std::string::npos);
  EXPECT_NE(refusal("").find("empty"), std::string::npos);
  EXPECT_NE(refusal(std::string(600, 'a')).find("longer than"), std::string::npos);
  EXPECT_NE(refusal("app name").find("bad repository component"), std::string::npos);
  // Separators Docker allows: one '.', one or two '_', any number of '-'.
  EXPECT_EQ(parsed("a.b__c---d_e").repository, "library/a.b__c---d_e");
  refusal("a___b");
}

TEST(ImageRef, PullPolicyDefaultsAsKubernetesDoes) {
  EXPECT_EQ(default_pull_policy(parsed("redis")), PullPolicy::kAlways);
  EXPECT_EQ(default_pull_policy(parsed("redis:latest")), PullPolicy::kAlways);
  EXPECT_EQ(default_pull_policy(parsed("redis:7")), PullPolicy::kIfNotPresent);
  EXPECT_EQ(*parse_pull_policy("Never"), PullPolicy::kNever);
  EXPECT_EQ(*parse_pull_policy("Always"), PullPolicy::kAlways);
  EXPECT_EQ(*parse_pull_policy("IfNotPresent"), PullPolicy::kIfNotPresent);
  auto bad = parse_pull_policy("never");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("Always, IfNotPresent or Never"), std::string::npos);
}

constexpr std::string_view kConfig = R"({
  "created": "2026-12-01T00:00:00Z", "architecture": "amd64", "os": "linux",
  "config": {
    "Entrypoint": ["/bin/busybox"], "Cmd": ["httpd", "-f", "-p", "8080"],
    "Env": ["PATH=/bin", "GREETING=a=b", "EMPTY="], "WorkingDir": "/www", "User": "1000:1000",
    "ExposedPorts": {"8080/tcp": {}}, "Labels": null
  },
  "rootfs": {"type": "layers", "diff_ids": [
    "sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
  "history": [{"created_by": "busybox-static"}]
})";

TEST(ImageConfig, TheFieldsAContainerRunsWithAreRead) {
  auto c = parse_image_config(kConfig);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/bin/busybox"});
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"httpd", "-f", "-p", "8080"}));
  ASSERT_EQ(c->env.size(), 3u);
  EXPECT_EQ(c->env[1], (std::pair<std::string, std::string>{"GREETING", "a=b"}));
  EXPECT_EQ(c->env[2], (std::pair<std::string, std::string>{"EMPTY", ""}));
  EXPECT_EQ(c->working_dir, "/www");
  EXPECT_EQ(c->user, "1000:1000");
  EXPECT_EQ(c->diff_ids.size(), 1u);
  EXPECT_EQ(c->architecture, "amd64");
}

TEST(ImageConfig, NullAndMissingFieldsAreEmpty) {
  auto c = parse_image_config(R"({"os":"linux","config":{"Entrypoint":null,"Cmd":["sh"]}})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->entrypoint.empty());
  EXPECT_EQ(c->cmd, std::vector<std::string>{"sh"});
  EXPECT_TRUE(parse_image_config(R"({})"));
}

TEST(ImageConfig, MalformedConfigsAreRefusedSayingWhy) {
  auto why = [](std::string_view text) {
    auto c = parse_image_config(text);
    EXPECT_FALSE(c) << text;
    return c ? std::string() : c.error().message();
  };
  EXPECT_NE(why("[1]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(why("{\"os\":").find("not a JSON object"), std::string::npos);
  EXPECT_NE(why(R"({"os":"windows"})").find("for windows, not linux"), std::string::npos);
  EXPECT_NE(why(R"({"config":{"Cmd":"sh"}})").find("Cmd is not a list"), std::string::npos);
  EXPECT_NE(why(R"({"config":{"Cmd":[1]}})").find("Cmd holds a non-string"), std::string::npos);
  EXPECT_NE(why(R"({"config":{"Env":["PATH"]}})").find("not NAME=value"), std::string::npos);
  EXPECT_NE(why(R"({"config":{"User":7}})").find("User is not a string"), std::string::npos);
  EXPECT_NE(why(R"({"rootfs":{"diff_ids":["sha256:x"]}})").find("diff_id"), std::string::npos);
  EXPECT_NE(why(std::string(kMaxImageConfigBytes + 1, ' ')).find("larger than"), std::string::npos);
}

TEST(ContainerArgv, CommandAndArgsOverrideEntrypointAndCmdAsKubernetesDefines) {
  ImageConfig image;
  image.entrypoint = {"/entry"};
  image.cmd = {"default"};
  using V = std::vector<std::string>;
  EXPECT_EQ(container_argv(image, {}, {}), (V{"/entry", "default"}));
  EXPECT_EQ(container_argv(image, {"/cmd"}, {}), (V{"/cmd"}));  // the image's Cmd is dropped
  EXPECT_EQ(container_argv(image, {}, {"a"}), (V{"/entry", "a"}));
  EXPECT_EQ(container_argv(image, {"/cmd"}, {"a"}), (V{"/cmd", "a"}));
  image.entrypoint.clear();
  EXPECT_EQ(container_argv(image, {}, {}), (V{"default"}));
  EXPECT_EQ(container_argv(image, {}, {"sh"}), (V{"sh"}));
  image.cmd.clear();
  EXPECT_TRUE(container_argv(image, {}, {}).empty());
}

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "www:x:33:33:www:/var/www:/bin/false\n"
    "app:x:1000:1000::/home/app:/bin/sh\n";
constexpr const char* kGroup =
    "root:x:0:\n"
    "www:x:33:\n"
    "app:x:1000:\n"
    "audio:x:29:app,www\n"
    "video:x:44:www,app\n";

TEST(ImageUser, ResolvedAsContainerEnginesDo) {
  using G = std::vector<std::uint32_t>;
  EXPECT_EQ(resolve_image_user("", kPasswd, kGroup).value(), (ImageUser{0, 0, {}}));
  EXPECT_EQ(resolve_image_user("app", kPasswd, kGroup).value(), (ImageUser{1000, 1000, G{29, 44}}));
  EXPECT_EQ(resolve_image_user("33", kPasswd, kGroup).value(), (ImageUser{33, 33, G{29, 44}}));
  // A uid the image does not name runs with group 0; a group may be given either way.
  EXPECT_EQ(resolve_image_user("4242", kPasswd, kGroup).value(), (ImageUser{4242, 0, {}}));
  EXPECT_EQ(resolve_image_user("4242:7", "", "").value(), (ImageUser{4242, 7, {}}));
  EXPECT_EQ(resolve_image_user("app:www", kPasswd, kGroup).value(),
            (ImageUser{1000, 33, G{29, 44}}));
}

TEST(ImageUser, NamesTheImageLacksAreErrors) {
  EXPECT_EQ(resolve_image_user("nobody", kPasswd, kGroup).error().message(),
            "image user \"nobody\" is not in the image's /etc/passwd");
  EXPECT_EQ(resolve_image_user("app:staff", kPasswd, kGroup).error().message(),
            "image group \"staff\" is not in the image's /etc/group");
  EXPECT_EQ(resolve_image_user(":5", kPasswd, kGroup).error().message(),
            "image user \":5\": no user before ':'");
}

}  // namespace
}  // namespace tender::pod

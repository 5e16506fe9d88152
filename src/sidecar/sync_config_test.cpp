#include "sidecar/sync_config.hpp"

#include <gtest/gtest.h>

#include "core/cli.hpp"

namespace tender::sidecar {
namespace {

TEST(ParseSource, GitWithAndWithoutRef) {
  auto s = parse_source("git:/srv/site.git#main");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, SourceKind::kGit);
  EXPECT_EQ(s->location, "/srv/site.git");
  EXPECT_EQ(s->ref, "main");
  auto url = parse_source("git:https://example.org/a/b.git#v1.2");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->location, "https://example.org/a/b.git");
  EXPECT_EQ(url->ref, "v1.2");
  EXPECT_EQ(parse_source("git:/srv/site.git")->ref, "HEAD");
}

TEST(ParseSource, GitRefusesWhatGitCouldTakeAsAnOptionOrRun) {
  EXPECT_FALSE(parse_source("git:/srv/x.git#--upload-pack=evil"));
  EXPECT_FALSE(parse_source("git:--upload-pack=evil#main"));
  EXPECT_FALSE(parse_source("git:ext::sh -c evil#main"));
  EXPECT_FALSE(parse_source("git:/srv/x.git#a..b"));
  EXPECT_FALSE(parse_source("git:/srv/x.git#"));
  EXPECT_FALSE(parse_source("git:#main"));
}

TEST(ParseSource, HttpHttpsAndDir) {
  auto h = parse_source("http://127.0.0.1:8080/site.tar.gz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, SourceKind::kHttp);
  EXPECT_EQ(h->http.port, 8080);
  EXPECT_EQ(h->http.target, "/site.tar.gz");
  EXPECT_EQ(parse_source("https://example.org/x.tgz")->kind, SourceKind::kHttps);
  EXPECT_FALSE(parse_source("https:///x"));
  auto d = parse_source("dir:/srv/site");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->location, "/srv/site");
  EXPECT_FALSE(parse_source("dir:relative"));
}

TEST(ParseSource, AnUnknownSchemeIsNamed) {
  auto s = parse_source("ftp://x/y.tar");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("unknown scheme \"ftp\""), std::string::npos);
  EXPECT_NE(parse_source("/srv/x").error().message().find("no scheme"), std::string::npos);
}

SyncFlags flags(std::string source, std::string dest) {
  SyncFlags f;
  f.source = std::move(source);
  f.dest = std::move(dest);
  return f;
}

std::string usage_error(const SyncFlags& f, const std::string& yaml = "") {
  try {
    (void)resolve_sync(f, yaml.empty() ? ConfigNode() : parse_config(yaml, "sync.yaml"));
  } catch (const UsageError& e) {
    return e.what();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ResolveSync, DefaultsAndFlags) {
  SyncFlags f = flags("git:/srv/x.git#main", "/shared/site/");
  SyncConfig c = resolve_sync(f, ConfigNode());
  EXPECT_EQ(c.dest, "/shared/site");
  EXPECT_EQ(c.link, "current");
  EXPECT_EQ(c.period, std::chrono::seconds(10));
  EXPECT_EQ(c.timeout, std::chrono::seconds(120));
  EXPECT_EQ(c.max_failures, 0);
  EXPECT_FALSE(c.once);
  f.period = "1s";
  f.max_failures = "5";
  f.exec = true;
  f.command = {"nginx", "-s", "reload"};
  f.hook_timeout = "5s";
  c = resolve_sync(f, ConfigNode());
  EXPECT_EQ(c.period, std::chrono::seconds(1));
  EXPECT_EQ(c.max_failures, 5);
  EXPECT_EQ(c.exec.size(), 3u);
  EXPECT_EQ(c.hook_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.to_json().at("published_path").as_string(), "/shared/site/current");
}

TEST(ResolveSync, TheFileHasTheSameKeysAndFlagsWin) {
  std::string yaml =
      "source: git:/srv/x.git#main\ndest: /shared/site\nperiod: 2s\nonce: true\n"
      "exec: [touch, done]\nwebhook: http://127.0.0.1:9/hook\nmax_bytes: 10MiB\n";
  SyncFlags f;
  f.period = "3s";
  SyncConfig c = resolve_sync(f, parse_config(yaml, "sync.yaml"));
  EXPECT_EQ(c.period, std::chrono::seconds(3));
  EXPECT_TRUE(c.once);
  EXPECT_EQ(c.exec, (std::vector<std::string>{"touch", "done"}));
  EXPECT_EQ(c.webhook, "http://127.0.0.1:9/hook");
  EXPECT_EQ(c.max_bytes, 10u << 20);
}

TEST(ResolveSync, BadValuesNameTheFlagOrTheFileLine) {
  EXPECT_NE(usage_error(flags("", "/d")).find("--source: required"), std::string::npos);
  EXPECT_NE(usage_error(flags("git:/x#main", "")).find("--dest: required"), std::string::npos);
  EXPECT_NE(usage_error(flags("svn://x", "/d")).find("--source: unknown scheme \"svn\""),
            std::string::npos);
  EXPECT_NE(usage_error(flags("dir:/nonexistent-sync-dir", "/d")).find("not a directory"),
            std::string::npos);
  EXPECT_NE(usage_error(flags("dir:/tmp", "/tmp/x")).find("inside the source"), std::string::npos);
  SyncFlags f = flags("git:/x#main", "/d");
  f.period = "soon";
  EXPECT_NE(usage_error(f).find("--period"), std::string::npos);
  f = flags("git:/x#main", "/d");
  f.link = "a/b";
  EXPECT_NE(usage_error(f).find("--link"), std::string::npos);
  f = flags("git:/x#main", "/d");
  f.max_failures = "-1";
  EXPECT_NE(usage_error(f).find("--max-failures"), std::string::npos);
  f = flags("git:/x#main", "/d");
  f.webhook = "https://x/";
  EXPECT_NE(usage_error(f).find("--webhook"), std::string::npos);
  f = flags("git:/x#main", "/d");
  f.command = {"x"};
  EXPECT_NE(usage_error(f).find("without --exec"), std::string::npos);
  std::string where = usage_error(SyncFlags{}, "dest: /d\nsource: cvs:x\n");
  EXPECT_NE(where.find("sync.yaml:2"), std::string::npos) << where;
  EXPECT_NE(where.find("unknown scheme"), std::string::npos) << where;
}

}  // namespace
}  // namespace tender::sidecar

#include "sidecar/tail_config.hpp"

#include <gtest/gtest.h>

#include "core/cli.hpp"

namespace tender::sidecar {
namespace {

TEST(Glob, SplitsTheDirectoryFromTheFilePattern) {
  auto g = parse_glob("/var/log/app/*.log");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->dir, "/var/log/app");
  EXPECT_EQ(g->pattern, "*.log");
  auto root = parse_glob("/x.log");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->dir, "/");
}

TEST(Glob, RefusesWhatCannotBeWatched) {
  EXPECT_FALSE(parse_glob("logs/*.log"));
  EXPECT_FALSE(parse_glob("/var/log/"));
  auto wild = parse_glob("/var/*/app.log");
  ASSERT_FALSE(wild);
  EXPECT_NE(wild.error().message().find("wildcards"), std::string::npos);
}

TEST(ParseMode, NamesEachMode) {
  RecordOptions o;
  ASSERT_TRUE(parse_mode("logfmt", o));
  EXPECT_EQ(o.parse, ParseMode::kLogfmt);
  ASSERT_TRUE(parse_mode("regex:^(?<a>x)$", o));
  EXPECT_EQ(o.parse, ParseMode::kRegex);
  EXPECT_EQ(o.regex, "^(?<a>x)$");
  EXPECT_FALSE(parse_mode("yaml", o));
}

ConfigNode yaml(const std::string& text) { return parse_config(text, "tail.yaml"); }

TEST(ResolveTail, FlagsMakeOneInputShippedToEverySink) {
  TailFlags f;
  f.paths = {"/var/log/a/*.log", "/var/log/b/x.log"};
  f.checkpoint = "/tmp/tail.db";
  f.sinks = {"stdout"};
  f.labels = {"app=web"};
  f.read_from = "tail";
  TailConfig cfg = resolve_tail(f, ConfigNode{});
  ASSERT_EQ(cfg.inputs.size(), 1U);
  EXPECT_EQ(cfg.inputs[0].paths.size(), 2U);
  EXPECT_TRUE(cfg.inputs[0].from_end);
  EXPECT_EQ(cfg.inputs[0].labels.at("app"), "web");
  EXPECT_EQ(cfg.inputs[0].sinks, std::vector<std::size_t>{0});
}

TEST(ResolveTail, MissingPiecesAreUsageErrors) {
  TailFlags f;
  f.sinks = {"stdout"};
  f.checkpoint = "/tmp/tail.db";
  EXPECT_THROW((void)resolve_tail(f, ConfigNode{}), UsageError);  // no path
  f.paths = {"/var/log/*.log"};
  f.checkpoint.clear();
  EXPECT_THROW((void)resolve_tail(f, ConfigNode{}), UsageError);  // no checkpoint
  f.checkpoint = "/tmp/tail.db";
  f.labels = {"novalue"};
  EXPECT_THROW((void)resolve_tail(f, ConfigNode{}), UsageError);
  f.labels.clear();
  f.parse = "regex:(unclosed";
  EXPECT_THROW((void)resolve_tail(f, ConfigNode{}), UsageError);
}

TEST(ResolveTail, AFileNamesInputsAndTheirSinks) {
  TailConfig cfg = resolve_tail(TailFlags{}, yaml(R"(
checkpoint: /tmp/tail.db
rotate_wait: 2s
inputs:
  - name: web
    paths: ["/var/log/nginx/*.log"]
    parse: json
    labels: {app: web}
    sinks: [b]
  - name: app
    path: /var/log/app/app.log
    multiline_start: '^\d'
sinks:
  - {name: a, url: stdout}
  - {name: b, url: "file:/tmp/out.log"}
)"));
  ASSERT_EQ(cfg.inputs.size(), 2U);
  EXPECT_EQ(cfg.inputs[0].records.parse, ParseMode::kJson);
  EXPECT_EQ(cfg.inputs[0].sinks, std::vector<std::size_t>{1});
  EXPECT_EQ(cfg.inputs[1].sinks, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(cfg.inputs[1].records.multiline_start, "^\\d");
  EXPECT_EQ(cfg.rotate_wait, std::chrono::seconds(2));
}

TEST(ResolveTail, FileMistakesNameTheLine) {
  auto error_of = [](const std::string& text) -> std::string {
    try {
      (void)resolve_tail(TailFlags{}, yaml(text));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  std::string sinks = "sinks:\n  - {name: a, url: stdout}\n";
  EXPECT_NE(
      error_of("checkpoint: /x\ninputs:\n  - {name: i, paths: [/l/*.log], sinks: [zz]}\n" + sinks)
          .find("tail.yaml:3"),
      std::string::npos);
  EXPECT_NE(error_of("checkpoint: /x\ninputs:\n  - {name: i}\n" + sinks).find("paths"),
            std::string::npos);
  EXPECT_NE(
      error_of("checkpoint: /x\ninputs:\n  - {paths: [/l/*.log], parse: 'regex:(x'}\n" + sinks)
          .find("parse"),
      std::string::npos);
  EXPECT_NE(error_of("checkpoint: /x\ninputs:\n  - {paths: [/l/*.log]}\nsinks:\n  - {name: a, "
                     "url: stdout}\n  - {name: a, url: stdout}\n")
                .find("two sinks"),
            std::string::npos);
}

}  // namespace
}  // namespace tender::sidecar

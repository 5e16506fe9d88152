// Sink URLs (--sink) and sink maps of a config file.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "core/cli.hpp"
#include "sidecar/sink.hpp"

namespace tender::sidecar {
namespace {

// The UsageError's message for `url`, or "" if it parsed.
std::string url_error(const std::string& url) {
  try {
    (void)parse_sink_url(url);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

SinkConfig sink_from(const std::string& yaml) {
  return parse_sink(parse_config(yaml, "tail.yaml"));
}

// The ConfigError's message for a sink map, or "" if it parsed.
std::string sink_error(const std::string& yaml) {
  try {
    (void)sink_from(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ParseSinkUrl, Stdout) {
  auto c = parse_sink_url("stdout");
  EXPECT_EQ(c.kind, SinkKind::kStdout);
  EXPECT_EQ(c.format, RecordFormat::kRaw);
  EXPECT_EQ(c.name, "stdout");
}

TEST(ParseSinkUrl, FileAbsoluteRelativeAndTripleSlash) {
  auto abs = parse_sink_url("file:/out/all.log");
  EXPECT_EQ(abs.kind, SinkKind::kFile);
  EXPECT_EQ(abs.path, "/out/all.log");
  EXPECT_EQ(abs.format, RecordFormat::kRaw);
  EXPECT_EQ(parse_sink_url("file:out/all.log").path, "out/all.log");
  EXPECT_EQ(parse_sink_url("file:///out/all.log").path, "/out/all.log");
}

TEST(ParseSinkUrl, FileErrors) {
  EXPECT_EQ(url_error("file:").find("no path in file:"), 0u) << url_error("file:");
  EXPECT_NE(url_error("file://host/x").find("names no host"), std::string::npos);
}

TEST(ParseSinkUrl, HttpWithDefaults) {
  auto c = parse_sink_url("http://127.0.0.1:9200/ingest?pipeline=logs");
  EXPECT_EQ(c.kind, SinkKind::kHttp);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 9200);
  EXPECT_EQ(c.target, "/ingest?pipeline=logs");
  EXPECT_EQ(c.format, RecordFormat::kJson);
  auto d = parse_sink_url("http://logs.internal");
  EXPECT_EQ(d.port, 80);
  EXPECT_EQ(d.target, "/");
  EXPECT_EQ(parse_sink_url("http://[::1]:8080/x").host, "::1");
}

TEST(ParseSinkUrl, LokiTargetsThePushApi) {
  auto c = parse_sink_url("loki://127.0.0.1:3100");
  EXPECT_EQ(c.kind, SinkKind::kLoki);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 3100);
  EXPECT_EQ(c.target, "/loki/api/v1/push");
  EXPECT_EQ(parse_sink_url("loki://loki").port, 3100);
  EXPECT_EQ(parse_sink_url("loki://loki/").target, "/loki/api/v1/push");
  // A gateway with another path keeps it.
  EXPECT_EQ(parse_sink_url("loki://gw:80/tenant-a/push").target, "/tenant-a/push");
}

TEST(ParseSinkUrl, UnknownSchemeIsNamed) {
  EXPECT_EQ(url_error("kafka://x").rfind("unknown sink scheme 'kafka' in kafka://x", 0), 0u)
      << url_error("kafka://x");
  EXPECT_NE(url_error("https://x/").find("unknown sink scheme 'https'"), std::string::npos);
  EXPECT_NE(url_error("/var/log/out").find("no scheme in /var/log/out"), std::string::npos);
}

TEST(ParseSinkUrl, MissingHostAndBadPort) {
  EXPECT_NE(url_error("http:///ingest").find("no host in http:///ingest"), std::string::npos)
      << url_error("http:///ingest");
  EXPECT_NE(url_error("loki://").find("no host"), std::string::npos);
  EXPECT_NE(url_error("http://h:99999/").find("bad port '99999' in http://h:99999/"),
            std::string::npos)
      << url_error("http://h:99999/");
  EXPECT_NE(url_error("http://h:0/").find("bad port '0'"), std::string::npos);
  EXPECT_NE(url_error("loki://h:/").find("bad port ''"), std::string::npos);
  EXPECT_NE(url_error("http://u:p@h/").find("credentials"), std::string::npos);
}

TEST(ParseSink, EveryKey) {
  auto c = sink_from(R"(
name: central
url: http://127.0.0.1:9200/ingest
format: raw
batch_records: 500
batch_bytes: 256KiB
timeout: 2s
headers:
  Authorization: Bearer abc
  X-Scope-OrgID: tenant-1
)");
  EXPECT_EQ(c.name, "central");
  EXPECT_EQ(c.kind, SinkKind::kHttp);
  EXPECT_EQ(c.format, RecordFormat::kRaw);
  EXPECT_EQ(c.batch_records, 500u);
  EXPECT_EQ(c.batch_bytes, 256u * 1024);
  EXPECT_EQ(c.timeout, std::chrono::seconds(2));
  ASSERT_EQ(c.headers.size(), 2u);
  EXPECT_EQ(c.headers[0].first, "Authorization");
  EXPECT_EQ(c.headers[1].second, "tenant-1");

  auto f = sink_from(
      "url: file:/out/all.log\nformat: json\nmax_file_bytes: 10MiB\nkeep_files: 3\nfsync: true\n");
  EXPECT_EQ(f.name, "file:/out/all.log");
  EXPECT_EQ(f.format, RecordFormat::kJson);
  EXPECT_EQ(f.max_file_bytes, 10u << 20);
  EXPECT_EQ(f.keep_files, 3);
  EXPECT_TRUE(f.fsync);

  auto l = sink_from("url: loki://127.0.0.1:3100\nlabels: {job: tender, env: dev}\n");
  EXPECT_EQ(l.labels, (Labels{{"env", "dev"}, {"job", "tender"}}));
}

TEST(ParseSink, ErrorsNameTheKeyAndLine) {
  EXPECT_EQ(
      sink_error("url: kafka://x\n").rfind("tail.yaml:1: url: unknown sink scheme 'kafka'", 0), 0u)
      << sink_error("url: kafka://x\n");
  EXPECT_EQ(sink_error("name: a\n").rfind("tail.yaml", 0), 0u);
  EXPECT_NE(sink_error("name: a\n").find("url: is required"), std::string::npos);
  EXPECT_NE(sink_error("url: stdout\nformat: yaml\n").find("tail.yaml:2: format: must be raw or"),
            std::string::npos)
      << sink_error("url: stdout\nformat: yaml\n");
  EXPECT_NE(sink_error("url: stdout\nbatch_records: 0\n").find("batch_records"), std::string::npos);
  EXPECT_NE(sink_error("url: http://h/\ntimeout: soon\n").find("timeout"), std::string::npos);
  EXPECT_NE(sink_error("url: file:/x\nkeep_files: -1\n").find("keep_files"), std::string::npos);
  EXPECT_NE(sink_error("url: http://h/\nheaders: [a]\n").find("headers: must be a map"),
            std::string::npos);
  EXPECT_NE(sink_error("- url: stdout\n").find("a sink must be a map"), std::string::npos);
}

TEST(ParseSink, KeysOfAnotherKindOfSinkAreErrors) {
  EXPECT_NE(sink_error("url: stdout\nmax_file_bytes: 1MiB\n")
                .find("max_file_bytes: applies to file sinks only, not to stdout"),
            std::string::npos)
      << sink_error("url: stdout\nmax_file_bytes: 1MiB\n");
  EXPECT_NE(sink_error("url: file:/x\nheaders: {A: b}\n").find("applies to http and loki"),
            std::string::npos);
  EXPECT_NE(sink_error("url: http://h/\nlabels: {a: b}\n").find("applies to loki sinks only"),
            std::string::npos);
  EXPECT_NE(sink_error("url: loki://h\nformat: raw\n").find("format: applies to"),
            std::string::npos);
}

TEST(SinkJson, RedactsSecretHeadersAndQueryParameters) {
  auto c = sink_from(R"(
url: http://h:9200/ingest?token=s3cret&pipeline=logs
headers: {Authorization: Bearer abc, X-Api-Key: k, X-Scope-OrgID: tenant-1}
)");
  auto text = boost::json::serialize(sink_json(c));
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(text.find("Bearer"), std::string::npos) << text;
  EXPECT_EQ(text.find("\"k\""), std::string::npos) << text;
  EXPECT_NE(text.find("token=<redacted>&pipeline=logs"), std::string::npos) << text;
  EXPECT_NE(text.find("\"X-Scope-OrgID\":\"tenant-1\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"kind\":\"http\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"timeout\":\"10s\""), std::string::npos) << text;
}

TEST(ParseSinkUrl, TheDefaultNameHidesSecretQueryParameters) {
  EXPECT_EQ(parse_sink_url("http://h/in?api_key=k1&x=1").name,
            "http://h/in?api_key=<redacted>&x=1");
  EXPECT_EQ(parse_sink_url("http://h/in?api_key=k1&x=1").target, "/in?api_key=k1&x=1");
}

TEST(SinkJson, FileSinkShowsRotation) {
  auto o = sink_json(sink_from("url: file:/out/a.log\nmax_file_bytes: 1MiB\nkeep_files: 2\n"));
  EXPECT_EQ(o.at("path").as_string(), "/out/a.log");
  EXPECT_EQ(o.at("max_file_bytes").as_uint64(), 1u << 20);
  EXPECT_EQ(o.at("keep_files").as_int64(), 2);
  EXPECT_EQ(o.at("format").as_string(), "raw");
}

}  // namespace
}  // namespace tender::sidecar

// The gateway's requests and answers; the answers are what etcd 3.4.23 sent.
#include "election/etcd_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::election::etcd {
namespace {

namespace json = boost::json;

constexpr std::string_view kHeader =
    R"("header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",)"
    R"("revision":"7","raft_term":"2"})";

std::string with_header(std::string_view rest) {
  return "{" + std::string(kHeader) + std::string(rest) + "}";
}

json::object body(const Call& c) { return json::parse(c.body).as_object(); }

TEST(EtcdApi, Base64RoundTripsAndRejectsGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "/tender/elect/db/7",
                                                       std::string("\0\xff\x10", 3)}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("/el/a/"), "L2VsL2Ev");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab!d"));
  EXPECT_FALSE(base64_decode("a==="));
}

TEST(EtcdApi, PrefixEndIsTheNextKey) {
  EXPECT_EQ(prefix_end("/el/"), "/el0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdApi, LeaseRequestsSendInt64AsStrings) {
  EXPECT_EQ(lease_grant(2).path, "/v3/lease/grant");
  EXPECT_EQ(body(lease_grant(2)).at("TTL"), "2");
  EXPECT_EQ(body(lease_keepalive(2324035846708108550)).at("ID"), "2324035846708108550");
  EXPECT_EQ(lease_revoke(5).path, "/v3/lease/revoke");
}

TEST(EtcdApi, LeaseGrantAndKeepAlive) {
  auto grant = parse_lease_grant(200, with_header(R"(,"ID":"2324035846708108550","TTL":"2")"));
  ASSERT_TRUE(grant) << grant.error().message();
  EXPECT_EQ(grant->id, 2324035846708108550);
  EXPECT_EQ(grant->ttl, 2);
  auto alive = parse_lease_keepalive(
      200, R"({"result":{)" + std::string(kHeader) + R"(,"ID":"2324035846708108563","TTL":"30"}})");
  ASSERT_TRUE(alive) << alive.error().message();
  EXPECT_EQ(alive->ttl, 30);
  // A lease that is gone: the keep-alive succeeds with no TTL.
  auto gone =
      parse_lease_keepalive(200, R"({"result":{)" + std::string(kHeader) + R"(,"ID":"12345"}})");
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(gone->ttl, 0);
}

TEST(EtcdApi, MalformedLeaseAnswersAreErrors) {
  EXPECT_FALSE(parse_lease_grant(200, with_header(R"(,"ID":"2")")));  // no TTL
  EXPECT_FALSE(parse_lease_grant(200, with_header(R"(,"ID":"x2","TTL":"2")")));
  EXPECT_FALSE(parse_lease_grant(200, "not json"));
  EXPECT_FALSE(parse_lease_keepalive(200, with_header(R"(,"ID":"2","TTL":"2")")));  // no result
  EXPECT_FALSE(parse_lease_keepalive(200, R"({"result":{"TTL":"2"}})"));            // no ID
  EXPECT_FALSE(parse_lease_keepalive(200, R"({"result":{"ID":"2","TTL":[]}})"));
}

TEST(EtcdApi, ErrorAnswersSayWhetherAnotherMemberMayServe) {
  auto refusal =
      parse_lease_revoke(404, R"({"error":"etcdserver: requested lease not found","code":5})");
  EXPECT_TRUE(refusal);  // revoking a lease that is gone is done
  auto put =
      parse_txn(404, R"({"error":"etcdserver: requested lease not found","message":"x","code":5})");
  ASSERT_FALSE(put);
  EXPECT_TRUE(refused(put.error()));
  EXPECT_NE(put.error().message().find("requested lease not found"), std::string::npos);
  auto no_leader = parse_range(503, R"({"error":"etcdserver: no leader","code":14})");
  ASSERT_FALSE(no_leader);
  EXPECT_FALSE(refused(no_leader.error()));
  EXPECT_EQ(no_leader.error().code(), std::errc::resource_unavailable_try_again);
  auto proxy = parse_range(502, "<html>bad gateway</html>");
  ASSERT_FALSE(proxy);
  EXPECT_EQ(proxy.error().code(), std::errc::resource_unavailable_try_again);
  auto garbage = parse_range(200, "[1,2]");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code(), std::errc::bad_message);
  EXPECT_FALSE(parse_range(404, "404 page not found\n"));
  // Streams (keep-alive, watch) answer errors in another shape.
  auto stream_error = parse_lease_keepalive(
      503, R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",)"
           R"("http_status":"Service Unavailable"}})");
  ASSERT_FALSE(stream_error);
  EXPECT_EQ(stream_error.error().code(), std::errc::resource_unavailable_try_again);
  EXPECT_NE(stream_error.error().message().find("no leader"), std::string::npos);
  EXPECT_FALSE(member_answered(503, R"({"error":{"grpc_code":14,"message":"x"}})"));
  EXPECT_FALSE(member_answered(200, "{\"result\":"));
  EXPECT_TRUE(
      member_answered(404, R"({"error":"etcdserver: requested lease not found","code":5})"));
  EXPECT_TRUE(member_answered(200, with_header("")));
}

TEST(EtcdApi, RangeRequestAndAnswer) {
  Range r{.key = "/el/",
          .range_end = prefix_end("/el/"),
          .limit = 1,
          .sort_by_create = true,
          .descend = true,
          .max_create_revision = 3};
  json::object o = body(range(r));
  EXPECT_EQ(o.at("key"), "L2VsLw==");
  EXPECT_EQ(o.at("range_end"), "L2VsMA==");
  EXPECT_EQ(o.at("limit"), "1");
  EXPECT_EQ(o.at("sort_target"), "CREATE");
  EXPECT_EQ(o.at("sort_order"), "DESCEND");
  EXPECT_EQ(o.at("max_create_revision"), "3");
  EXPECT_FALSE(body(range(Range::one("k"))).contains("sort_target"));

  auto got = parse_range(
      200, with_header(R"(,"kvs":[{"key":"L2VsL2I=","create_revision":"3","mod_revision":"3",)"
                       R"("version":"1","value":"aWQy","lease":"2324035846708108563"}],)"
                       R"("more":true,"count":"3")"));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->revision, 7);
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, "/el/b");
  EXPECT_EQ(got->kvs[0].value, "id2");
  EXPECT_EQ(got->kvs[0].create_revision, 3);
  EXPECT_EQ(got->kvs[0].lease, 2324035846708108563);
  EXPECT_TRUE(got->more);
  auto none = parse_range(200, with_header(R"(,"count":"3")"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->kvs.empty());
}

TEST(EtcdApi, MalformedRangesAreErrors) {
  EXPECT_FALSE(parse_range(200, R"({"kvs":[]})"));     // no header
  EXPECT_FALSE(parse_range(200, R"({"header":{}})"));  // no revision
  EXPECT_FALSE(parse_range(200, with_header(R"(,"kvs":{})")));
  EXPECT_FALSE(parse_range(200, with_header(R"(,"kvs":[{"key":"!!!!"}])")));
  EXPECT_FALSE(parse_range(200, with_header(R"(,"kvs":[{"value":"YQ=="}])")));  // no key
  EXPECT_FALSE(parse_range(200, with_header(R"(,"kvs":[{"key":"YQ==","create_revision":true}])")));
  EXPECT_FALSE(parse_range(200, with_header(R"(,"more":"yes")")));
}

TEST(EtcdApi, TxnRequestAndAnswers) {
  Call c = txn({Compare::created("/el/a/", 0)}, {Op::put("/el/a/", "id1", 77)},
               {Op::get(Range::one("/el/a/"))});
  EXPECT_EQ(c.path, "/v3/kv/txn");
  json::object o = body(c);
  const auto& cmp = o.at("compare").as_array().at(0).as_object();
  EXPECT_EQ(cmp.at("target"), "CREATE");
  EXPECT_EQ(cmp.at("result"), "EQUAL");
  EXPECT_EQ(cmp.at("create_revision"), "0");
  const auto& put = o.at("success").as_array().at(0).at("request_put").as_object();
  EXPECT_EQ(put.at("value"), "aWQx");
  EXPECT_EQ(put.at("lease"), "77");
  EXPECT_TRUE(o.at("failure").as_array().at(0).as_object().contains("request_range"));
  json::object mod = body(txn({Compare::modified("k", 9)}, {Op::erase("k")}, {}));
  EXPECT_EQ(mod.at("compare").as_array().at(0).at("mod_revision"), "9");
  EXPECT_TRUE(mod.at("success").as_array().at(0).as_object().contains("request_delete_range"));

  auto won = parse_txn(200, with_header(R"(,"succeeded":true,"responses":[{"response_put":)"
                                        R"({"header":{"revision":"2"}}}])"));
  ASSERT_TRUE(won) << won.error().message();
  EXPECT_TRUE(won->succeeded);
  ASSERT_EQ(won->responses.size(), 1u);
  EXPECT_EQ(won->responses[0].kind, Op::Kind::kPut);
  // A failed compare leaves "succeeded" out.
  auto lost = parse_txn(
      200, with_header(R"(,"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[)"
                       R"({"key":"L2VsL2Ev","create_revision":"2","mod_revision":"2",)"
                       R"("version":"1","value":"aWQx","lease":"5"}],"count":"1"}}])"));
  ASSERT_TRUE(lost) << lost.error().message();
  EXPECT_FALSE(lost->succeeded);
  ASSERT_EQ(lost->responses.size(), 1u);
  ASSERT_EQ(lost->responses[0].kvs.size(), 1u);
  EXPECT_EQ(lost->responses[0].kvs[0].create_revision, 2);
  auto deleted = parse_txn(200, with_header(R"(,"succeeded":true,"responses":[)"
                                            R"({"response_delete_range":{"deleted":"1"}}])"));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->responses[0].deleted, 1);
  EXPECT_TRUE(parse_txn(200, with_header(""))) << "a failed compare with no failure ops";
  EXPECT_FALSE(parse_txn(200, with_header(R"(,"responses":[{"response_what":{}}])")));
  EXPECT_FALSE(parse_txn(200, with_header(R"(,"succeeded":"true")")));
}

TEST(EtcdApi, WatchRequest) {
  Call c = watch("/el/a", "", 12);
  EXPECT_EQ(c.path, "/v3/watch");
  json::object create = body(c).at("create_request").as_object();
  EXPECT_EQ(create.at("key"), "L2VsL2E=");
  EXPECT_EQ(create.at("start_revision"), "12");
  EXPECT_FALSE(create.contains("range_end"));
  EXPECT_TRUE(
      body(watch("/el/", "/el0", 0)).at("create_request").as_object().contains("range_end"));
}

TEST(EtcdApi, WatchMessages) {
  auto created = parse_watch(R"({"result":{)" + std::string(kHeader) + R"(,"created":true}})");
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->events.empty());
  auto put =
      parse_watch(R"({"result":{)" + std::string(kHeader) +
                  R"(,"events":[{"kv":{"key":"L2VsL2M=","create_revision":"4","mod_revision":"5",)"
                  R"("version":"2","value":"aWQz"}}]}})");
  ASSERT_TRUE(put) << put.error().message();
  ASSERT_EQ(put->events.size(), 1u);
  EXPECT_EQ(put->events[0].type, Event::Type::kPut);
  EXPECT_EQ(put->events[0].kv.mod_revision, 5);
  EXPECT_EQ(put->revision, 7);
  auto del = parse_watch(R"({"result":{)" + std::string(kHeader) +
                         R"(,"events":[{"type":"DELETE","kv":{"key":"L2VsL2M=",)"
                         R"("mod_revision":"6"}}]}})");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->events[0].type, Event::Type::kDelete);
  EXPECT_EQ(del->events[0].kv.key, "/el/c");
  // A start revision compacted away: canceled, with no header revision.
  auto compacted =
      parse_watch(R"({"result":{"header":{"cluster_id":"1","member_id":"2","raft_term":"2"},)"
                  R"("canceled":true,"compact_revision":"5"}})");
  ASSERT_TRUE(compacted) << compacted.error().message();
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 5);
  EXPECT_FALSE(parse_watch(R"({"error":"etcdserver: no leader","code":14})"));
  EXPECT_FALSE(parse_watch(R"({"result":{"events":[]}})"));  // no header
  EXPECT_FALSE(parse_watch(R"({"result":{)" + std::string(kHeader) +
                           R"(,"events":[{"type":"TOUCH","kv":{"key":"YQ=="}}]}})"));
  EXPECT_FALSE(parse_watch(R"({"result":{)" + std::string(kHeader) + R"(,"events":[{}]}})"));
  EXPECT_FALSE(parse_watch("{\"result\":"));
}

TEST(EtcdApi, LineSplitterJoinsPiecesAndBoundsLines) {
  LineSplitter lines(16);
  std::vector<std::string> got;
  auto keep = [&](std::string_view l) -> Result<> {
    got.emplace_back(l);
    return {};
  };
  ASSERT_TRUE(lines.feed("ab", keep));
  ASSERT_TRUE(lines.feed("c\n\nde", keep));
  ASSERT_TRUE(lines.feed("f\ng\n", keep));
  EXPECT_EQ(got, (std::vector<std::string>{"abc", "def", "g"}));
  auto stop = lines.feed(
      "x\ny\n", [](std::string_view) -> Result<> { return Error(std::errc::bad_message, "stop"); });
  EXPECT_FALSE(stop);
  EXPECT_FALSE(lines.feed(std::string(40, 'z'), keep));
}

}  // namespace
}  // namespace tender::election::etcd

#!/usr/bin/env python3
"""A leaf of a scatter/gather tree, and a merge service, for the tests of `tender scatter`.
Python 3 standard library only; binds 127.0.0.1.

  python3 scatter_leaf.py --port 0 --shard-id s3 --docs 50 --seed 7 [--envelope]
      prints "listening listen=127.0.0.1:PORT" once it accepts connections

  GET  /search?q=Q&k=K  the K best of this leaf's documents for Q (default K 10), best first:
                        [{"id": "s3-d17", "score": 0.93, "shard": "s3"}, ...], or
                        {"hits": [...]} with --envelope
  GET  /all?q=Q         every document for Q, in the generator's order (same shape), so that a
                        test can compute the top-k of the union itself; in every mode
  GET  /count           {"count": N}, N = --docs
  POST /map             a JSON array answered with each element annotated, in order:
                        [{"v": ELEMENT, "shard": "s3"}, ...]; an object {"items": [...]} is
                        answered the same way, the array inside it annotated; anything else 400
  GET  /healthz         200 ok, in every mode
  GET  /last-headers    the headers of the last request to a path not named here, names
                        lower-cased, repeated ones joined with ", " ({} before the first)
  GET  /last-body       that request's body, as received
  GET  /requests        {"count": N}: requests received on the paths not named here

Modes, for every path but /healthz, /all, /last-headers, /last-body and /requests:
  --mode normal         as above (the default)
  --mode invalid-json   200, Content-Type application/json, a body that is not JSON
  --mode hang           reads the request and never answers (the connection stays open)
  --mode error          500 with {"error": "..."}
  --merge-service       a merge container: POST (any path) of the root's payload
                        {"request": {"method", "path", "query"}, "answers": [{"shard", "status",
                        "body"}], "missing": [...]} is answered --merge-status (default 200),
                        Content-Type application/vnd.scatter-test+json, with
                        {"total": T, "shards": [answered, sorted], "missing": [sorted],
                         "request": <the payload's request>}: T adds up, over the answers of
                        status 200, an array's length, an object's "count", or the length of
                        its "hits" array. A payload of any other shape: 400 {"error": "..."}.
  --split-service       a split container: POST (any path) of the root's payload
                        {"request": {...}, "shards": [names], "body": [elements]} is answered
                        {"parts": [one per shard]}: an element that is an object with a "to"
                        field goes to the shard of that name, any other round robin; a shard
                        given no element gets null (the root then sends it nothing).

The documents of a leaf are a function of (seed, shard id, Q) alone: docs() below.
"""
import argparse
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def docs(seed, shard, n, q):
    """The documents of shard `shard` for query `q`: n of them, scores uniform in [0, 1)."""
    rng = random.Random("%s/%s" % (seed, q))
    return [{"id": "%s-d%d" % (shard, i), "score": rng.random(), "shard": shard} for i in range(n)]


def top(items, k):
    """The k best by score, best first; ties to the earlier document."""
    order = sorted(range(len(items)), key=lambda i: (-items[i]["score"], i))
    return [items[i] for i in order[:k]]


def split(payload):
    """The split service's answer to the root's payload; raises ValueError if malformed."""
    if not isinstance(payload, dict) or not isinstance(payload.get("shards"), list) or \
            not isinstance(payload.get("body"), list):
        raise ValueError("expected an object with a \"shards\" and a \"body\" array")
    shards = payload["shards"]
    parts = [[] for _ in shards]
    for i, e in enumerate(payload["body"]):
        if isinstance(e, dict) and e.get("to") in shards:
            parts[shards.index(e["to"])].append(e)
        else:
            parts[i % len(shards)].append(e)
    return {"parts": [p if p else None for p in parts]}


def merge(payload):
    """The merge service's answer to the root's payload; raises ValueError if malformed."""
    if not isinstance(payload, dict) or not isinstance(payload.get("answers"), list):
        raise ValueError("expected an object with an \"answers\" array")
    total = 0
    shards = []
    for a in payload["answers"]:
        if not isinstance(a, dict) or "shard" not in a or "status" not in a:
            raise ValueError("an answer without shard and status: %r" % (a,))
        shards.append(a["shard"])
        body = a.get("body")
        if a["status"] != 200:
            continue
        if isinstance(body, list):
            total += len(body)
        elif isinstance(body, dict) and isinstance(body.get("count"), (int, float)):
            total += body["count"]
        elif isinstance(body, dict) and isinstance(body.get("hits"), list):
            total += len(body["hits"])
    missing = payload.get("missing", [])
    if not isinstance(missing, list):
        raise ValueError("\"missing\" is not an array")
    return {"total": total, "shards": sorted(shards), "missing": sorted(missing),
            "request": payload.get("request")}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.last_headers = {}
        self.last_body = b""
        self.requests = 0
        self.never = threading.Event()  # hang mode waits on it; nobody sets it


def make_handler(args, state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def log_message(self, *unused):
            pass

        def reply(self, status, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def reply_json(self, status, value, content_type="application/json"):
            self.reply(status, json.dumps(value), content_type)

        def shaped(self, items):
            return {"hits": items} if args.envelope else items

        def handle_any(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if url.path == "/healthz":
                return self.reply(200, "ok", "text/plain")
            if url.path == "/all":
                q = parse_qs(url.query).get("q", [""])[0]
                return self.reply_json(200, self.shaped(docs(args.seed, args.shard_id,
                                                             args.docs, q)))
            if url.path == "/last-headers":
                with state.lock:
                    return self.reply_json(200, state.last_headers)
            if url.path == "/last-body":
                with state.lock:
                    return self.reply(200, state.last_body, "application/octet-stream")
            if url.path == "/requests":
                with state.lock:
                    return self.reply_json(200, {"count": state.requests})
            headers = {}
            for name, value in self.headers.items():
                name = name.lower()
                headers[name] = headers[name] + ", " + value if name in headers else value
            with state.lock:
                state.last_headers = headers
                state.last_body = body
                state.requests += 1
            if args.mode == "hang":
                state.never.wait()
                return None
            if args.mode == "invalid-json":
                return self.reply(200, '{"hits": [{"id": "broken", "score": ')
            if args.mode == "error":
                return self.reply_json(500, {"error": "this leaf fails (--mode error)"})
            if args.split_service:
                if self.command != "POST":
                    return self.reply_json(405, {"error": "the split service takes POST"})
                try:
                    answer = split(json.loads(body))
                except ValueError as e:
                    return self.reply_json(400, {"error": str(e)})
                return self.reply_json(200, answer)
            if args.merge_service:
                if self.command != "POST":
                    return self.reply_json(405, {"error": "the merge service takes POST"})
                try:
                    answer = merge(json.loads(body))
                except ValueError as e:  # json.JSONDecodeError is one
                    return self.reply_json(400, {"error": str(e)})
                return self.reply_json(args.merge_status, answer,
                                       "application/vnd.scatter-test+json")
            query = parse_qs(url.query)
            q = query.get("q", [""])[0]
            if url.path == "/search":
                try:
                    k = int(query.get("k", ["10"])[0])
                except ValueError:
                    return self.reply_json(400, {"error": "k is not an integer"})
                items = docs(args.seed, args.shard_id, args.docs, q)
                return self.reply_json(200, self.shaped(top(items, k)))
            if url.path == "/count":
                return self.reply_json(200, {"count": args.docs})
            if url.path == "/map":
                try:
                    value = json.loads(body)
                except ValueError as e:
                    return self.reply_json(400, {"error": "malformed JSON: %s" % e})
                annotate = lambda xs: [{"v": x, "shard": args.shard_id} for x in xs]
                if isinstance(value, list):
                    return self.reply_json(200, annotate(value))
                if isinstance(value, dict) and isinstance(value.get("items"), list):
                    value["items"] = annotate(value["items"])
                    return self.reply_json(200, value)
                return self.reply_json(400, {"error": "expected an array or {\"items\": [...]}"})
            return self.reply_json(404, {"error": "no such path: %s" % url.path})

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--shard-id", default="s0")
    p.add_argument("--docs", type=int, default=20)
    p.add_argument("--seed", default="1")
    p.add_argument("--envelope", action="store_true", help='answer {"hits": [...]}')
    p.add_argument("--mode", choices=["normal", "invalid-json", "hang", "error"],
                   default="normal")
    p.add_argument("--merge-service", action="store_true")
    p.add_argument("--merge-status", type=int, default=200)
    p.add_argument("--split-service", action="store_true")
    args = p.parse_args()
    state = State()
    ThreadingHTTPServer.request_queue_size = 128  # a root opens many connections at once
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args, state))
    server.daemon_threads = True
    print("listening listen=127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

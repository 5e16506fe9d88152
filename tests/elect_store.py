#!/usr/bin/env python3
"""A fencing checker for the tests of `tender elect`: a store that accepts a write only when its
token is at least the highest it has seen, and records every attempt. It also records webhook
events, so one process serves both.

  python3 elect_store.py --listen 127.0.0.1:0     # prints "listening listen=127.0.0.1:PORT"

  POST /write?token=N&id=ID   200 accepted (N >= the highest token seen), 409 refused
  GET  /log                   {"highest": N, "writes": [[seq, token, id, accepted], ...]}
  POST /hook (any other path) the body is kept as a webhook event; 200
  GET  /hooks                 [body, ...] in the order received
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
highest = 0
writes = []  # [seq, token, id, accepted]
hooks = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global highest
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/write":
            query = parse_qs(url.query)
            try:
                token = int(query["token"][0])
                who = query["id"][0]
            except (KeyError, ValueError, IndexError):
                return self.reply(400, '{"error": "needs token=N and id=ID"}')
            with lock:
                accepted = token >= highest
                if accepted:
                    highest = token
                writes.append([len(writes), token, who, accepted])
                answer = json.dumps({"accepted": accepted, "highest": highest})
            return self.reply(200 if accepted else 409, answer)
        with lock:
            hooks.append(body.decode("utf-8", "replace"))
        return self.reply(200, "{}")

    def do_GET(self):
        path = urlparse(self.path).path
        with lock:
            if path == "/log":
                body = json.dumps({"highest": highest, "writes": writes})
            elif path == "/hooks":
                body = json.dumps(hooks)
            else:
                body = None
        if body is None:
            return self.reply(404, '{"error": "no such path"}')
        return self.reply(200, body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print("listening listen=%s:%d" % (host, server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

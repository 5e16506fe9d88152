#!/usr/bin/env python3
"""An HTTP server of archives for `tender sync`'s tests (stdlib only).

    sync_http.py --port 0 --dir DIR [--fail-posts N] [--tls CERT KEY]

GET /NAME answers the file DIR/NAME with an ETag (a hash of its bytes); a request whose
If-None-Match equals it gets 304 and no body. GET /stats answers JSON counts of the answers
given per status ({"200": 3, "304": 12, "404": 0}) and the last If-None-Match received.
GET /hang never answers (until the server stops).
POST /ANYTHING records its body (a webhook) and answers 200, or 500 to the first --fail-posts
ones; GET /posts answers the bodies recorded, as a JSON array of strings.
With --tls it speaks HTTPS with that certificate and key (PEM files).
Prints "listening listen=127.0.0.1:PORT" once it accepts connections.
"""
import argparse
import hashlib
import http.server
import json
import os
import ssl
import threading

counts = {"200": 0, "304": 0, "404": 0}
last_if_none_match = [""]
posts = []
fail_posts = [0]
lock = threading.Lock()


def make_handler(root):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", headers=None):
            with lock:
                counts[str(status)] = counts.get(str(status), 0) + 1
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                failing = fail_posts[0] > 0
                if failing:
                    fail_posts[0] -= 1
                else:
                    posts.append(body.decode())
            self.answer(500 if failing else 200, b"ok\n")

        def do_GET(self):
            if self.path == "/hang":
                threading.Event().wait()
            if self.path == "/posts":
                with lock:
                    body = json.dumps(posts).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path == "/stats":
                with lock:
                    body = json.dumps({**counts, "if_none_match": last_if_none_match[0]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())
                return
            path = os.path.join(root, os.path.basename(self.path))
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                self.answer(404, b"not found\n")
                return
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
            inm = self.headers.get("If-None-Match", "")
            with lock:
                last_if_none_match[0] = inm
            if inm == etag:
                self.answer(304, headers={"ETag": etag})
            else:
                self.answer(200, data, {"ETag": etag, "Content-Type": "application/gzip"})

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--fail-posts", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    fail_posts[0] = a.fail_posts
    http.server.ThreadingHTTPServer.daemon_threads = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(a.dir))
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening listen=127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

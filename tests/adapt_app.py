#!/usr/bin/env python3
"""A JSON / Prometheus text app for `tender adapt`'s tests (stdlib only).

    adapt_app.py --port 0 --dir DIR

GET /NAME answers the file DIR/NAME (its bytes as they are at that moment, so a test changes
the app's numbers by rewriting the file), with the status in DIR/NAME.status if there is one
(default 200), after the seconds in DIR/NAME.delay if there is one; 404 when there is no such
file. GET /_requests answers how many other requests
came so far (a number, as text). GET /hang never answers.
Prints "listening listen=127.0.0.1:PORT" once it accepts connections.
"""
import argparse
import http.server
import os
import threading
import time

requests = [0]
lock = threading.Lock()


def make_handler(root):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body, content_type="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            name = self.path.split("?", 1)[0].lstrip("/")
            if name == "_requests":
                with lock:
                    n = requests[0]
                self.answer(200, str(n).encode())
                return
            with lock:
                requests[0] += 1
            if name == "hang":
                time.sleep(3600)
                return
            path = os.path.join(root, os.path.basename(name))
            try:
                with open(path, "rb") as f:
                    body = f.read()
            except OSError:
                self.answer(404, b"no such file\n")
                return
            try:
                with open(path + ".delay") as f:
                    time.sleep(float(f.read().strip()))
            except OSError:
                pass
            status = 200
            try:
                with open(path + ".status") as f:
                    status = int(f.read().strip())
            except OSError:
                pass
            kind = "application/json" if name.endswith(".json") else "text/plain; version=0.0.4"
            self.answer(status, body, kind)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer.daemon_threads = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.dir))
    print("listening listen=127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

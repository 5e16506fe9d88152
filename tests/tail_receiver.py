#!/usr/bin/env python3
"""An HTTP receiver for `tender tail`'s tests: appends the body of every POST to --out (JSON
lines as tail's http sink sends them; a Loki push body on a line of its own with --loki) and
answers 204. While the file --fail-while exists it answers 503 instead, keeping nothing.
Prints "listening PORT" once it accepts connections.
"""
import argparse
import http.server
import os
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--fail-while", default="")
    a = p.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if a.fail_while and os.path.exists(a.fail_while):
                self.send_response(503)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"down")
                return
            with open(a.out, "ab") as f:
                f.write(body)
                if not body.endswith(b"\n"):
                    f.write(b"\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("listening %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

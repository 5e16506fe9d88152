"""The application of the management example: a web app that keeps the management interface's
contract (docs/management-interface.md), as every tender role does.

    GET /          a greeting: how long this process has been up, and since when
    GET /healthz   liveness: 200 "ok" while its worker thread keeps beating, 503 once it has
                   not for 3 s ("restart me")
    GET /readyz    readiness: 503 "warming up" for its first 2 s, then 200 "ok" ("send me
                   traffic"); 503 "draining" once SIGTERM came

    python3 examples/management/app.py --port 8087
"""
import argparse
import http.server
import signal
import threading
import time

STARTED = time.monotonic()
SINCE = time.strftime("%H:%M:%S")
WARM_UP = 2.0      # seconds before the app says it is ready
STUCK = 3.0        # a heartbeat older than this: the worker is stuck
beat = time.monotonic()
draining = False


def worker():
    """The app's background work; it beats once a second while it runs."""
    global beat
    while True:
        beat = time.monotonic()
        time.sleep(1)


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        now = time.monotonic()
        if self.path == "/healthz":
            late = now - beat
            if late > STUCK:
                return self.answer(503, "worker stuck for %.0f s" % late)
            return self.answer(200, "ok")
        if self.path == "/readyz":
            if draining:
                return self.answer(503, "draining")
            if now - STARTED < WARM_UP:
                return self.answer(503, "warming up")
            return self.answer(200, "ok")
        if self.path == "/":
            return self.answer(200, "hello, up for %.0f s (started %s)" % (now - STARTED, SINCE))
        self.answer(404, "no page %s" % self.path)

    def log_message(self, fmt, *args):
        if self.path not in ("/healthz", "/readyz"):   # the probes' requests are not news
            print("%s %s" % (self.address_string(), fmt % args), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8087)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        # Readiness fails first, then the server stops; a real app would let requests finish.
        global draining
        draining = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=worker, daemon=True).start()
    print("listening on :%d" % args.port, flush=True)
    server.serve_forever()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()

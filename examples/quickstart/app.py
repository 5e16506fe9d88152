#!/usr/bin/env python3
"""The quickstart's web app: any app in any language, here Python's standard library only.

It serves pages and counts each page's views in Redis at localhost:6379, where the pod's
ambassador (tender proxy --redis) listens and shards the keys over the redis replicas. It
writes an access log into a volume it shares with the log shipper (tender tail), and exposes
its own stats as JSON at /stats, which the adapter (tender adapt) turns into Prometheus metrics.
The app knows nothing of tender: the containers beside it do that work.
"""
import argparse
import html
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Redis:
    """A minimal RESP2 client: one connection per thread, made again after an error."""

    def __init__(self, host, port, timeout=2.0):
        self.address = (host, port)
        self.timeout = timeout
        self.local = threading.local()

    def command(self, *args):
        try:
            return self._exchange(args)
        except (OSError, ValueError):
            self._close()
            raise

    def _exchange(self, args):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            sock = socket.create_connection(self.address, timeout=self.timeout)
            conn = self.local.conn = (sock, sock.makefile("rb"))
        sock, reader = conn
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        sock.sendall(b"".join(out))
        return self._reply(reader)

    def _reply(self, reader):
        line = reader.readline()
        if not line.endswith(b"\r\n"):
            raise ValueError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = reader.read(n + 2)
            return data[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(reader) for _ in range(n)]
        raise ValueError("not RESP: %r" % line[:40])

    def _close(self):
        conn = getattr(self.local, "conn", None)
        self.local.conn = None
        if conn:
            conn[0].close()


class RedisError(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.requests = 0
        self.responses = {}
        self.redis_errors = 0
        self.redis_seconds = 0.0
        self.redis_calls = 0

    def response(self, status):
        with self.lock:
            self.requests += 1
            key = str(status)
            self.responses[key] = self.responses.get(key, 0) + 1

    def redis(self, seconds, ok):
        with self.lock:
            self.redis_calls += 1
            self.redis_seconds += seconds
            if not ok:
                self.redis_errors += 1

    def json(self):
        with self.lock:
            return {
                "uptime_seconds": round(time.monotonic() - self.started, 3),
                "requests": {"total": self.requests},
                "responses": dict(self.responses),
                "redis": {"calls": self.redis_calls, "errors": self.redis_errors,
                          "seconds": round(self.redis_seconds, 6)},
            }


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<p>{text}</p>
<p>This page has been viewed <b>{views}</b> times (counted in Redis, through the pod's
ambassador).</p>
<p>Pages: <a href="/">home</a>, <a href="/pages/about">about</a>,
<a href="/pages/news">news</a>. The app's own stats: <a href="/stats">/stats</a>.</p>
</body></html>
"""


def make_handler(redis, stats, log):
    class Handler(BaseHTTPRequestHandler):
        server_version = "quickstart-app"
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self.reply(200, "text/plain", "ok\n")
            elif path == "/stats":
                self.reply(200, "application/json", json.dumps(stats.json()) + "\n")
            elif path == "/" or (path.startswith("/pages/") and len(path) > 7):
                self.page(path)
            else:
                self.reply(404, "text/plain", "no page at %s\n" % path)

        def page(self, path):
            name = "home" if path == "/" else path[7:]
            started = time.monotonic()
            try:
                views = redis.command("INCR", "views:" + path)
                stats.redis(time.monotonic() - started, True)
            except (OSError, ValueError, RedisError) as e:
                stats.redis(time.monotonic() - started, False)
                self.reply(503, "text/plain", "the view count is unavailable: %s\n" % e)
                return
            body = PAGE.format(title=html.escape(name.capitalize()),
                               text="A page of the quickstart app, served at %s."
                               % html.escape(path), views=views)
            self.reply(200, "text/html; charset=utf-8", body)

        def reply(self, status, content_type, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            stats.response(status)
            log.write(self, status, len(data))

        def log_message(self, *args):
            pass  # the access log below is the app's log

    return Handler


class AccessLog:
    """The common log format, one line per request, appended to a file the sidecar reads."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, handler, status, size):
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        line = '%s - - [%s] "%s" %d %d\n' % (handler.client_address[0], when,
                                              handler.requestline, status, size)
        with self.lock:
            self.file.write(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="0.0.0.0:8080", help="HOST:PORT to serve on")
    p.add_argument("--redis", default="127.0.0.1:6379", help="HOST:PORT of Redis")
    p.add_argument("--access-log", default="access.log", help="file to append requests to")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    rhost, _, rport = a.redis.rpartition(":")
    stats = Stats()
    handler = make_handler(Redis(rhost, int(rport)), stats, AccessLog(a.access_log))
    server = ThreadingHTTPServer((host, int(port)), handler)
    server.daemon_threads = True
    print("quickstart app listening on %s, counting views in Redis at %s, logging to %s"
          % (a.listen, a.redis, a.access_log), flush=True)
    # SIGTERM (the runner stopping the pod) ends the server cleanly, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()

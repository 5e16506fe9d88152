"""The application of the ambassador example: a small HTTP service that keeps its data in Redis
at localhost:6379, as if one Redis server ran beside it. The ambassador there (`tender proxy
--redis`) spreads the keys over the shards; the app does not know there are any.

    GET  /KEY          the value of KEY (404 when there is none)
    POST /fill?n=N     SET key:1 ... key:N to value-1 ... value-N

    python3 examples/ambassador/app.py --port 8085 --redis 127.0.0.1:6379
"""
import argparse
import http.server
import signal
import socket
import threading
import urllib.parse


class RedisError(Exception):
    pass


class Redis:
    """Just enough of a Redis client (RESP2) for this app, on the standard library."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.reader = self.sock.makefile("rb")

    def close(self):
        self.reader.close()
        self.sock.close()

    def call(self, *args):
        parts = [str(a).encode() for a in args]
        request = b"*%d\r\n" % len(parts)
        for p in parts:
            request += b"$%d\r\n%s\r\n" % (len(p), p)
        self.sock.sendall(request)
        return self.reply()

    def reply(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            return self.reader.read(int(rest) + 2)[:-2].decode()
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        raise RedisError("not RESP: %r" % line)


class Handler(http.server.BaseHTTPRequestHandler):
    redis = ("127.0.0.1", 6379)

    def answer(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def with_redis(self, work):
        try:
            r = Redis(*self.redis)
        except OSError as e:
            return self.answer(503, "cannot reach redis at %s:%d: %s" % (*self.redis, e))
        try:
            work(r)
        except (RedisError, OSError) as e:
            self.answer(502, "redis: %s" % e)
        finally:
            r.close()

    def do_GET(self):
        key = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path[1:])
        if not key:
            usage = __doc__.split("\n\n")[1].splitlines()
            return self.answer(200, "\n".join(line.strip() for line in usage))

        def get(r):
            value = r.call("GET", key)
            if value is None:
                self.answer(404, "no key %s" % key)
            else:
                self.answer(200, value)
        self.with_redis(get)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/fill":
            return self.answer(404, "POST /fill?n=N")
        try:
            n = int(urllib.parse.parse_qs(url.query).get("n", ["100"])[0])
            if not 1 <= n <= 100000:
                raise ValueError
        except ValueError:
            return self.answer(400, "n must be a number from 1 to 100000")

        def fill(r):
            for i in range(1, n + 1):
                r.call("SET", "key:%d" % i, "value-%d" % i)
            self.answer(200, "wrote key:1 ... key:%d through %s:%d" % (n, *self.redis))
        self.with_redis(fill)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--redis", default="127.0.0.1:6379", help="HOST:PORT")
    args = parser.parse_args()
    host, port = args.redis.rsplit(":", 1)
    Handler.redis = (host, int(port))
    server = http.server.ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    # As PID 1 of its container, a process without a SIGTERM handler would ignore SIGTERM.
    signal.signal(signal.SIGTERM,
                  lambda signum, frame: threading.Thread(target=server.shutdown).start())
    print("listening on :%d, redis at %s" % (args.port, args.redis), flush=True)
    server.serve_forever()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()

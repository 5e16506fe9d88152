#!/usr/bin/env python3
"""The leader-election example's app (stdlib only), in one of two modes:

    app.py [--listen HOST:PORT] [--elect URL]        a replica, beside its `tender elect`
    app.py --board HOST,HOST,... [--listen HOST:PORT] a board that asks every replica

A replica asks its elector (GET localhost:4040/v1/leader, long polled: the answer comes as soon
as the term changes, else after a second) whether it leads, and does its work, one job a
second, only while it does, naming the term's fencing token in its log. GET / answers what it is
("app-1: I am the leader, token 3 (12 jobs done)"), GET /status the same as JSON.

The board answers GET / with every replica's line, GET /status with their JSON, and GET /leader
with the name of the pod that leads (503 and nothing while none does).
"""
import argparse
import concurrent.futures
import json
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = socket.gethostname()  # the pod's name, under tender pod as on Kubernetes
REPLICA_PORT = 8080
LOG_LOCK = threading.Lock()


def log(text):
    with LOG_LOCK:  # one write per line, so that the threads' lines never mix
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def get_json(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def describe(status):
    """One line saying what a replica is, from its /status (None: it did not answer)."""
    pod = status["pod"]
    if status.get("error"):
        return "%s: %s" % (pod, status["error"])
    if status["self"]:
        jobs = status["jobs"]
        return "%s: I am the leader, token %d (%d job%s done)" % (pod, status["token"], jobs,
                                                                    "" if jobs == 1 else "s")
    if status["leader"]:
        return "%s: follower, %s leads with token %d" % (pod, status["leader"], status["token"])
    return "%s: no leader right now" % pod


class Replica:
    def __init__(self, elect):
        self.elect = elect.rstrip("/")
        self.jobs = 0

    def leader(self, query="", timeout=2.0):
        """The elector's /v1/leader, or None when it does not answer."""
        try:
            return get_json(self.elect + "/v1/leader" + query, timeout)
        except (OSError, ValueError):
            return None

    def status(self):
        now = self.leader()
        if now is None:
            return {"pod": NAME, "error": "tender elect does not answer", "jobs": self.jobs}
        return {"pod": NAME, "leader": now["name"], "token": now["token"],
                "self": now["self"], "jobs": self.jobs}

    def work(self):
        """Follows the election and does a job a second while this replica leads."""
        seen, token = None, 0
        while True:
            now = self.leader("?wait_ms=1000&after=%d" % token, timeout=5)
            state = None if now is None else (now["name"], now["token"], now["self"])
            if state != seen:
                seen = state
                if now is None:
                    log("tender elect does not answer")
                elif now["self"]:
                    log("leading now, token %d" % now["token"])
                elif now["name"]:
                    log("following %s, token %d" % (now["name"], now["token"]))
                else:
                    log("no leader right now")
            if now is None:
                token = 0
                time.sleep(1)
                continue
            token = now["token"]
            if now["self"]:
                # The work: here a line; a real app would write to a shared store, passing
                # the token so that the store can refuse a write from an older term.
                self.jobs += 1
                log("job %d done as the leader, token %d" % (self.jobs, token))


class Handler(BaseHTTPRequestHandler):
    answer = None  # path -> (status code, content type, body); set per mode

    def do_GET(self):
        code, kind, body = self.answer(self.path)
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def replica_answer(replica):
    def answer(path):
        status = replica.status()
        code = 503 if status.get("error") else 200
        if path == "/status":
            return code, "application/json", json.dumps(status) + "\n"
        if path == "/":
            return code, "text/plain", describe(status) + "\n"
        return 404, "text/plain", "not found: %s\n" % path
    return answer


def board_answer(pods):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(pods))

    def ask(address):
        pod = address.split(".")[0]  # app-0.app: the pod app-0
        try:
            return get_json("http://%s:%d/status" % (address, REPLICA_PORT), 1.0)
        except urllib.error.HTTPError as e:
            try:
                return json.load(e)
            except ValueError:
                return {"pod": pod, "error": "answered %d" % e.code}
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            return {"pod": pod, "error": "no answer (%s)" % reason}

    def answer(path):
        statuses = list(pool.map(ask, pods))  # asked together: one moment's picture
        if path == "/status":
            return 200, "application/json", json.dumps({"replicas": statuses}) + "\n"
        if path == "/":
            return 200, "text/plain", "".join(describe(s) + "\n" for s in statuses)
        if path == "/leader":
            leaders = [s["pod"] for s in statuses if s.get("self")]
            if len(leaders) != 1:
                return 503, "text/plain", ""
            return 200, "text/plain", leaders[0] + "\n"
        return 404, "text/plain", "not found: %s\n" % path
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="0.0.0.0:%d" % REPLICA_PORT)
    parser.add_argument("--elect", default="http://127.0.0.1:4040",
                        help="the elector's API (tender elect --listen)")
    parser.add_argument("--board", metavar="HOST,HOST,...",
                        help="be the board of these replicas instead of a replica")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")

    # As PID 1 of its container the app must handle SIGTERM itself to stop at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.board:
        Handler.answer = staticmethod(board_answer(args.board.split(",")))
    else:
        replica = Replica(args.elect)
        Handler.answer = staticmethod(replica_answer(replica))
        threading.Thread(target=replica.work, daemon=True).start()
    server = ThreadingHTTPServer((host, int(port)), Handler)
    log("listening on %s" % args.listen)
    server.serve_forever()


if __name__ == "__main__":
    main()

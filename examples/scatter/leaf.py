#!/usr/bin/env python3
"""A search leaf: one shard of a text corpus, answering its own top 10 for a word.

The corpus is the license texts every Debian machine has, /usr/share/common-licenses/ (the
regular files, in name order; the symbolic links GPL, LGPL, GFDL would repeat them). A
document is a paragraph: a run of non-blank lines. Documents are numbered across the files in
that order, and document i belongs to shard i mod SHARDS: every leaf reads the same files and
keeps its own part, so the shards together hold each paragraph exactly once.

GET /search?q=WORD answers {"hits": [...]}, this shard's 10 best documents for WORD, best
first: "score" is how many times WORD occurs in the paragraph (words are runs of letters and
digits, compared in lower case); equal scores keep the documents' order. Each hit names its
"doc" (FILE:LINE where the paragraph starts), its "shard", and the paragraph's first 100
characters as "text". The root (tender scatter --merge topk:score:10@hits) merges the shards'
answers into the global top 10. GET /healthz answers ok.

POST /delay?ms=N makes this replica slow: every search answer waits N milliseconds first (0
ends it), as a replica on a busy machine would. GET /delay answers the delay in force.
"""
import argparse
import json
import os
import re
import signal
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CORPUS = "/usr/share/common-licenses"
TOP = 10
WORD = re.compile(r"[a-z0-9]+")


def paragraphs(directory):
    """(file, first line, text) of every paragraph of the corpus, in order."""
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        start, run = None, []
        for number, line in enumerate(lines + [""], 1):
            if line.strip():
                if start is None:
                    start = number
                run.append(line)
            elif run:
                yield name, start, "\n".join(run)
                start, run = None, []


class Shard:
    def __init__(self, shard, shards, directory):
        self.shard = shard
        self.delay_ms = 0
        self.docs = []  # (doc, words counted, snippet), in corpus order
        for i, (name, line, text) in enumerate(paragraphs(directory)):
            if i % shards == shard:
                snippet = " ".join(text.split())[:100]
                self.docs.append(("%s:%d" % (name, line), Counter(WORD.findall(text.lower())),
                                  snippet))

    def search(self, word):
        hits = [(counts[word], i) for i, (_, counts, _) in enumerate(self.docs) if counts[word]]
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [{"score": score, "doc": self.docs[i][0], "shard": self.shard,
                 "text": self.docs[i][2]} for score, i in hits[:TOP]]


def make_handler(shard):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the root reuses its connections

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/healthz":
                return self.reply(200, {"status": "ok", "shard": shard.shard})
            if url.path == "/delay":
                return self.reply(200, {"delay_ms": shard.delay_ms})
            if url.path != "/search":
                return self.reply(404, {"error": "no such path: try /search?q=WORD"})
            q = urllib.parse.parse_qs(url.query).get("q", [""])[0].lower()
            if not WORD.fullmatch(q):
                return self.reply(400, {"error": "q must be one word of letters and digits"})
            hits = shard.search(q)
            time.sleep(shard.delay_ms / 1000)
            self.reply(200, {"hits": hits})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))  # unused
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/delay":
                return self.reply(404, {"error": "no such path: try /delay?ms=N"})
            ms = urllib.parse.parse_qs(url.query).get("ms", [""])[0]
            if not re.fullmatch(r"[0-9]{1,5}", ms) or int(ms) > 60000:
                return self.reply(400, {"error": "ms must be a whole number from 0 to 60000"})
            shard.delay_ms = int(ms)
            print("shard %d: search answers wait %d ms" % (shard.shard, shard.delay_ms),
                  flush=True)
            self.reply(200, {"delay_ms": shard.delay_ms})

        def reply(self, status, body):
            data = json.dumps(body).encode() + b"\n"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the root gave up on this answer (a hedge won)

        def log_message(self, *args):  # one line per request would drown the pod's log
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shard", type=int, required=True, help="this leaf's shard, 0 to SHARDS-1")
    p.add_argument("--shards", type=int, default=4, help="how many shards (default 4)")
    p.add_argument("--listen", default="0.0.0.0:8000", help="HOST:PORT to serve on")
    p.add_argument("--corpus", default=CORPUS, help="directory of text files")
    a = p.parse_args()
    if not 0 <= a.shard < a.shards:
        p.error("--shard must be from 0 to %d" % (a.shards - 1))
    shard = Shard(a.shard, a.shards, a.corpus)
    host, _, port = a.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), make_handler(shard))
    server.daemon_threads = True
    print("shard %d of %d: %d paragraphs of %s, listening on %s"
          % (a.shard, a.shards, len(shard.docs), a.corpus, a.listen), flush=True)
    # SIGTERM (the runner stopping the pod) ends the server cleanly, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()

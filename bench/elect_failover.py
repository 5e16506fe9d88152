#!/usr/bin/env python3
"""Failover of `tender elect`: three electors on one backend, the leader signalled again and again.

  elect_failover.py run --tender PATH --backend URL --label NAME --election NAME --work DIR
                        [--ttl 2s] [--trials N] [--out FILE] [--seed S]
  elect_failover.py report FILE... [--ttl 2s] [--check]

`run` starts three electors (--id e0, e1, e2) on BACKEND with the given ttl, follows each one's
GET /v1/watch (server-sent events, one per change), and, once the three agree on one leader,
runs N trials of each mode, alternating: graceful (SIGTERM to the leader, which resigns before
it exits) and crash (SIGKILL). Before each signal it waits a random delay, uniform over one
renewal period (ttl / 3), so that a crash lands at a random phase of the leader's renewals; for
a crash it first reads the leader's own /v1/leader, whose valid_for_ms is the time left on its
claim at the kill. A trial's failover is the time from the signal (read on the monotonic clock
just before kill(2)) to the arrival of the first event from a survivor reporting self=true with
a larger token; every stream is read by this one thread with select(2) and each read is
timestamped as it returns, so the error is the event loop's wake-up: well under a millisecond.
The killed elector is then started again (same id) and the next trial waits until the three
agree again. After the trials it reads VmRSS and VmHWM of the leader and of a follower. The
results go to FILE (JSON) and a line per trial to stderr.

Every elector's pid is appended to WORK/electors.pids as it starts (bench/elect.sh's clean-up
reads it); all are killed when this program ends, also on SIGINT or SIGTERM.

`report` prints the table of bench/elect.sh from the files of `run`, and checks the targets.
"""
import argparse
import http.client
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

CLIENT_GO_MS = 17_000  # client-go defaults: 15 s lease + 2 s retry period, worst case
SIDECAR_MS = (30_000, 40_000)  # the Kubernetes leader-elector sidecar's documented failover
GRACEFUL_P50_MS = 100
CRASH_P99_OVER_TTL_MS = 300
RSS_TARGET_KIB = 8 * 1024


def parse_duration_ms(text):
    units = {"ms": 1, "s": 1000, "m": 60_000}
    for suffix in ("ms", "s", "m"):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(text)


def now_ns():
    return time.monotonic_ns()


class Watch:
    """One GET /v1/watch stream: de-chunks the body and yields the events' JSON."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(
            b"GET /v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        self.sock.setblocking(False)
        self.raw = b""  # bytes not yet de-chunked
        self.body = b""  # de-chunked bytes not yet split into events
        self.head_done = False
        self.chunked = False
        self.closed = False

    def close(self):
        self.closed = True
        self.sock.close()

    def read(self):
        """Reads what is there; returns the events' data (dicts). Sets .closed at the end."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return []
        except ConnectionError:
            data = b""
        if not data:
            self.closed = True
            return []
        self.raw += data
        if not self.head_done:
            i = self.raw.find(b"\r\n\r\n")
            if i < 0:
                return []
            head = self.raw[:i].decode("latin-1").lower()
            if not head.startswith("http/1.1 200"):
                raise RuntimeError("watch answered: " + head.splitlines()[0])
            self.chunked = "transfer-encoding: chunked" in head
            self.raw = self.raw[i + 4 :]
            self.head_done = True
        if self.chunked:
            while True:
                i = self.raw.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.raw[:i].split(b";")[0], 16)
                if size == 0:
                    self.closed = True
                    break
                if len(self.raw) < i + 2 + size + 2:
                    break
                self.body += self.raw[i + 2 : i + 2 + size]
                self.raw = self.raw[i + 2 + size + 2 :]
        else:
            self.body += self.raw
            self.raw = b""
        events = []
        while True:
            i = self.body.find(b"\n\n")
            if i < 0:
                break
            block, self.body = self.body[:i], self.body[i + 2 :]
            kind, payload = "message", None
            for line in block.decode().split("\n"):
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    payload = line[5:].strip()
            if kind == "leader" and payload:
                events.append(json.loads(payload))
        return events


class Elector:
    def __init__(self, bench, ident):
        self.bench = bench
        self.id = ident
        self.proc = None
        self.watch = None
        self.view = None
        self.listen = None
        self.incarnation = 0
        self.signalled = False  # sent SIGTERM or SIGKILL by a trial
        self.started_trial = 0  # the trial number at which this incarnation started

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        b = self.bench
        self.incarnation += 1
        self.signalled = False
        self.started_trial = b.trial_no
        out_path = os.path.join(b.work, f"{b.label}-{self.id}.{self.incarnation}.out")
        log = open(os.path.join(b.work, f"{b.label}-{self.id}.log"), "ab")
        out = open(out_path, "wb")
        cmd = [
            b.tender, "elect", "--election", b.election, "--id", self.id, "--backend", b.url,
            "--ttl", b.ttl, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=log)
        out.close()
        log.close()
        with open(os.path.join(b.work, "electors.pids"), "a") as f:
            f.write(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 10
        line = ""
        while "listening" not in line:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.id} exited at start ({self.proc.returncode}): "
                                   + b.log_tail(self))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.id} printed no listening line in 10 s")
            time.sleep(0.005)
            with open(out_path) as f:
                line = f.readline()
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        self.listen = int(fields["listen"].rsplit(":", 1)[1])
        self.view = None
        self.watch = Watch(self.listen)
        b.sel.register(self.watch.sock, selectors.EVENT_READ, self)

    def drop_watch(self):
        if self.watch is not None:
            self.bench.sel.unregister(self.watch.sock)
            self.watch.close()
            self.watch = None
        self.view = None

    def leader_now(self):
        """GET /v1/leader on this elector (blocking, about a millisecond)."""
        c = http.client.HTTPConnection("127.0.0.1", self.listen, timeout=2)
        try:
            c.request("GET", "/v1/leader")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def memory(self):
        """VmRSS, VmHWM, RssAnon, RssFile (/proc/PID/status) and Pss (smaps_rollup), KiB."""
        fields = {}
        for name in ("status", "smaps_rollup"):
            with open(f"/proc/{self.proc.pid}/{name}") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if v.split():
                        fields.setdefault(k, v.split()[0])
        return {"rss_kib": int(fields["VmRSS"]), "hwm_kib": int(fields["VmHWM"]),
                "anon_kib": int(fields["RssAnon"]), "file_kib": int(fields["RssFile"]),
                "pss_kib": int(fields.get("Pss", 0))}

    def kill(self, sig=signal.SIGKILL):
        self.signalled = True
        if self.alive():
            self.proc.send_signal(sig)


class Bench:
    def __init__(self, args):
        self.tender = args.tender
        self.url = args.backend
        self.label = args.label
        self.election = args.election
        self.work = args.work
        self.ttl = args.ttl
        self.ttl_ms = parse_duration_ms(args.ttl)
        self.trials = args.trials
        self.rng = random.Random(args.seed)
        self.sel = selectors.DefaultSelector()
        self.trial_no = 0
        self.overlaps = []  # (trial, ids) whenever two live electors said self=true at once
        self.outside = []  # (trial, id, exit status): electors killed by something else
        self.voids = []  # trials that did not count: a survivor was killed by something else
        self.electors = [Elector(self, f"e{i}") for i in range(3)]

    def log_tail(self, e, n=8):
        try:
            with open(os.path.join(self.work, f"{self.label}-{e.id}.log"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def log_warnings(self):
        """The electors' warnings and errors, counted by message and reason."""
        counts = {}
        pattern = re.compile(r"^\S+ (warn|error) (.*?)(?= \w+=|$)")
        for e in self.electors:
            try:
                with open(os.path.join(self.work, f"{self.label}-{e.id}.log"), "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                m = pattern.match(line)
                if m:
                    reason = re.search(r'reason="([^"]*)"', line)
                    why = reason.group(1).replace(self.work, "WORK") if reason else ""
                    key = f"{m.group(1)} {m.group(2)}" + (f": {why}" if why else "")
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def pump(self, timeout):
        """Waits up to `timeout` s for events; returns [(arrival_ns, elector, view)]."""
        got = []
        for key, _ in self.sel.select(max(timeout, 0)):
            t = now_ns()
            e = key.data
            if e.watch is None:
                continue
            for view in e.watch.read():
                e.view = view
                got.append((t, e, view))
            if e.watch.closed:
                e.drop_watch()
        if got:
            # The signalled leader's own "self": false may simply not have been read yet: marked *.
            leading = [e.id + ("*" if e.signalled else "") for e in self.electors
                       if e.alive() and e.view and e.view["self"]]
            if len(leading) > 1:
                self.overlaps.append((self.trial_no, leading))
        return got

    def settled(self):
        es = self.electors
        if not all(e.alive() and e.watch is not None and e.view for e in es):
            return None
        names = {e.view["name"] for e in es}
        tokens = {e.view["token"] for e in es}
        leaders = [e for e in es if e.view["self"]]
        if len(names) != 1 or len(tokens) != 1 or len(leaders) != 1:
            return None
        if not leaders[0].view["name"] == leaders[0].id or not tokens.pop():
            return None
        return leaders[0]

    def revive(self):
        """Starts again every elector that died without this program signalling it (something
        else on the machine killed it); each is counted in self.outside."""
        for e in self.electors:
            if e.proc is not None and not e.alive() and not e.signalled:
                self.outside.append((self.trial_no, e.id, e.proc.returncode))
                print(f"  {e.id} died unasked (exit status {e.proc.returncode}): started again",
                      file=sys.stderr)
                e.drop_watch()
                e.start()

    def settle(self, timeout=30):
        end = time.monotonic() + timeout
        while True:
            self.revive()
            leader = self.settled()
            if leader is not None:
                return leader
            if time.monotonic() > end:
                views = {e.id: (e.alive(), e.view) for e in self.electors}
                raise RuntimeError(f"the electors did not agree on a leader in {timeout} s: "
                                   f"{views}")
            self.pump(0.05)

    def idle(self, seconds):
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.pump(left)

    def trial(self, mode):
        """One failover; returns a dict with its numbers (failover_ms None: no new leader)."""
        while True:
            leader = self.settle()
            # A random phase of the renewal cycle (ttl / 3), unless the term changed meanwhile.
            self.idle(self.rng.uniform(0, self.ttl_ms / 3000))
            if self.settled() is leader:
                break
        old = leader.view["token"]
        claim_left = None
        if mode == "crash":
            claim_left = leader.leader_now().get("valid_for_ms")
        survivors = [e for e in self.electors if e is not leader]
        timeout = self.ttl_ms / 1000 * 3 + 5
        t0 = now_ns()
        leader.kill(signal.SIGTERM if mode == "graceful" else signal.SIGKILL)
        end = time.monotonic() + timeout
        ev = None
        void = None
        while ev is None and void is None and (left := end - time.monotonic()) > 0:
            for t, e, v in self.pump(min(left, 0.05)):
                if e in survivors and v["self"] and v["token"] > old:
                    ev = (t, e, v)
                    break
            dead = [e for e in survivors if not e.alive()]
            if ev is None and dead:
                void = ", ".join(f"{e.id} died unasked (exit status {e.proc.returncode})"
                                 for e in dead)
        result = {"mode": mode, "failover_ms": None, "claim_left_ms": claim_left,
                  "old_token": old, "old_leader": leader.id}
        if ev is not None:
            t, e, v = ev
            result.update(failover_ms=(t - t0) / 1e6, new_leader=e.id, new_token=v["token"])
        elif void is not None:
            # Not the elector's doing: the trial does not count, and is run again.
            result["void"] = void
        else:
            print(f"  no new leader within {timeout:.0f} s; survivors' views: "
                  f"{[(e.id, e.view) for e in survivors]}", file=sys.stderr)
            for e in survivors:
                print(f"  {e.id}'s log:\n{self.log_tail(e)}", file=sys.stderr)
        try:
            leader.proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            result["exit_timeout"] = True
            leader.proc.kill()
            leader.proc.wait()
        if mode == "graceful":
            result["exit_ms"] = (now_ns() - t0) / 1e6
            result["exit_code"] = leader.proc.returncode
        leader.drop_watch()
        leader.start()
        self.revive()
        return result

    def run(self):
        for e in self.electors:
            e.start()
        self.settle()
        results = []
        started = time.monotonic()
        for i in range(self.trials):
            for mode in ("graceful", "crash"):
                self.trial_no += 1
                r = self.trial(mode)
                while "void" in r:
                    print(f"  {self.label} {mode:8} {i + 1}/{self.trials}: void, {r['void']};"
                          " again", file=sys.stderr)
                    self.voids.append(r)
                    if len(self.voids) > 10:
                        raise RuntimeError("more than 10 trials void: something keeps killing"
                                           " the electors")
                    r = self.trial(mode)
                results.append(r)
                ms = r["failover_ms"]
                extra = ""
                if r["claim_left_ms"] is not None:
                    extra = f" (claim left at the kill {r['claim_left_ms']} ms)"
                print(f"  {self.label} {mode:8} {i + 1}/{self.trials}: "
                      + (f"{ms:8.1f} ms" if ms is not None else "   none   ")
                      + f" {r['old_leader']}->{r.get('new_leader', '?')}"
                      f" token {r['old_token']}->{r.get('new_token', '?')}{extra}",
                      file=sys.stderr)
        # Memory in the steady state: a few renewals after the last restart.
        self.settle()
        self.idle(2 * self.ttl_ms / 1000)
        leader = self.settle()
        follower = min((e for e in self.electors if e is not leader),
                       key=lambda e: e.started_trial)
        rss = {}
        for role, e in (("leader", leader), ("follower", follower)):
            rss[role] = dict(e.memory(), id=e.id,
                             trials_lived=self.trial_no - e.started_trial)
        return {
            "label": self.label, "backend": self.url, "ttl_ms": self.ttl_ms,
            "trials": results, "rss": rss, "log_warnings": self.log_warnings(),
            "overlaps": self.overlaps, "seconds": time.monotonic() - started,
            "outside": self.outside, "voids": self.voids,
        }

    def stop(self):
        for e in self.electors:
            e.kill()
        for e in self.electors:
            if e.proc is not None:
                e.proc.wait()


def cmd_run(args):
    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        result = bench.run()
    finally:
        bench.stop()
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return math.inf
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def fmt_ms(v):
    return "none" if math.isinf(v) else f"{v:.1f}"


def cmd_report(args):
    ttl_ms = parse_duration_ms(args.ttl)
    runs = []
    for path in args.files:
        with open(path) as f:
            runs.append(json.load(f))
    n = max(len(r["trials"]) for r in runs) // 2
    print(f"failover, {n} trials per row, ttl {args.ttl}, 3 electors: from the signal to the leader"
          " to a survivor's /v1/watch event with self=true and a larger token")
    if n < 100:
        print(f"(p99 is the nearest rank: with {n} trials, the largest)")
    print()
    head = (f"{'backend':8} {'mode':18} {'trials':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            f"  {'client-go 17 s / p99':>20}  {'leader-elector 30-40 s / p99':>28}")
    print(head)
    checks = []
    for r in runs:
        for mode, label in (("graceful", "graceful (SIGTERM)"), ("crash", "crash (SIGKILL)")):
            ts = [t for t in r["trials"] if t["mode"] == mode]
            vals = sorted(t["failover_ms"] if t["failover_ms"] is not None else math.inf
                          for t in ts)
            p50, p99, mx = percentile(vals, 50), percentile(vals, 99), max(vals, default=math.inf)
            if math.isinf(p99):
                cg = sc = "-"
            else:
                cg = f"{CLIENT_GO_MS / p99:.0f}x" if p99 < CLIENT_GO_MS / 100 else \
                    f"{CLIENT_GO_MS / p99:.1f}x"
                lo, hi = SIDECAR_MS[0] / p99, SIDECAR_MS[1] / p99
                sc = f"{lo:.0f}-{hi:.0f}x" if lo >= 100 else f"{lo:.1f}-{hi:.1f}x"
            failed = sum(1 for v in vals if math.isinf(v))
            print(f"{r['label']:8} {label:18} {len(vals):>6} {fmt_ms(p50):>8} {fmt_ms(p99):>8}"
                  f" {fmt_ms(mx):>8}  {cg:>20}  {sc:>28}"
                  + (f"  ({failed} without a new leader)" if failed else ""))
            if mode == "graceful":
                checks.append((f"graceful p50 <= {GRACEFUL_P50_MS} ms", r["label"], p50,
                               GRACEFUL_P50_MS, "ms"))
            else:
                bound = ttl_ms + CRASH_P99_OVER_TTL_MS
                checks.append((f"crash p99 <= ttl + {CRASH_P99_OVER_TTL_MS} ms = {bound} ms",
                               r["label"], p99, bound, "ms"))
    print(f"{'client-go':8} {'defaults':18} {'':>6} {'':>8} {'':>8} {CLIENT_GO_MS:>8}"
          "  (15 s lease + 2 s retry period, worst case)")
    print(f"{'k8s':8} {'leader-elector':18} {'':>6} {'':>8} {'':>8} {'30000-40000':>8}"
          "  (the sidecar's documented failover)")
    print()
    print(f"{'elector memory (MiB)':34} {'VmRSS':>6} {'VmHWM':>6} {'anon':>6} {'file':>6}"
          f" {'Pss':>6}")
    for r in runs:
        for role in ("leader", "follower"):
            m = r["rss"][role]
            n_lived = m["trials_lived"]
            plural = "" if n_lived == 1 else "s"
            who = f"{r['label']} {role} ({m['id']}, up {n_lived} trial{plural})"
            print(f"{who:34}" + "".join(f" {m[k] / 1024:>6.1f}" for k in
                                        ("rss_kib", "hwm_kib", "anon_kib", "file_kib",
                                         "pss_kib")))
            checks.append(("RSS <= 8 MiB (VmHWM, the peak)", f"{r['label']} {role}",
                           m["hwm_kib"] / 1024, RSS_TARGET_KIB / 1024, "MiB"))
    print("(anon: heap and stacks; file: pages of the binary and shared libraries, counted whole"
          " in RSS; Pss: the shares, each shared page divided among the processes mapping it)")
    print()
    for r in runs:
        crash = [t for t in r["trials"]
                 if t["mode"] == "crash" and t["failover_ms"] is not None
                 and t["claim_left_ms"] is not None]
        if crash:
            left = sorted(t["claim_left_ms"] for t in crash)
            beyond = sorted(t["failover_ms"] - t["claim_left_ms"] for t in crash)
            print(f"{r['label']} crash: the leader's claim had {left[0]}-{left[-1]} ms left at the"
                  f" kill; failover minus that: median {percentile(beyond, 50):.0f} ms,"
                  f" {beyond[0]:.0f}-{beyond[-1]:.0f} ms")
        graceful = [t for t in r["trials"] if t["mode"] == "graceful" and "exit_ms" in t]
        if graceful:
            exits = sorted(t["exit_ms"] for t in graceful)
            bad = sum(1 for t in graceful if t.get("exit_code") != 0 or t.get("exit_timeout"))
            print(f"{r['label']} graceful: SIGTERM to exit median {percentile(exits, 50):.0f} ms,"
                  f" max {exits[-1]:.0f} ms; {bad} exits not 0")
        for what, count in sorted(r.get("log_warnings", {}).items(), key=lambda kv: -kv[1]):
            print(f"{r['label']}: {count} x log: {what}")
        if r.get("outside"):
            print(f"{r['label']}: {len(r['outside'])} elector(s) killed by something outside the"
                  f" benchmark (trial, id, exit status): {r['outside']}; {len(r['voids'])} trial(s)"
                  " void and run again")
        if r["overlaps"]:
            print(f"{r['label']}: two live electors' last events both said self=true "
                  f"{len(r['overlaps'])} time(s) (trial, ids; * the signalled leader, whose own"
                  f" event may not have been read yet): {r['overlaps'][:5]}")
        print(f"{r['label']}: {r['seconds']:.0f} s for {len(r['trials'])} trials")
    print()
    missed = False
    for what, who, value, bound, unit in checks:
        ok = value <= bound
        v = fmt_ms(value) if unit == "ms" else f"{value:.2f}"
        by = ""
        if not ok and not math.isinf(value):
            by = f" by {value - bound:.1f} ms" if unit == "ms" else f" by {value - bound:.2f} MiB"
        print(f"{what:44} {who:14} {v:>8} {unit:3} {'PASS' if ok else 'MISS' + by}")
        missed = missed or not ok
    return 1 if missed and args.check else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--tender", required=True)
    run.add_argument("--backend", required=True)
    run.add_argument("--label", required=True)
    run.add_argument("--election", required=True)
    run.add_argument("--work", required=True)
    run.add_argument("--ttl", default="2s")
    run.add_argument("--trials", type=int, default=50)
    run.add_argument("--out", required=True)
    run.add_argument("--seed", type=int, default=None)
    rep = sub.add_parser("report")
    rep.add_argument("files", nargs="+")
    rep.add_argument("--ttl", default="2s")
    rep.add_argument("--check", action="store_true")
    args = ap.parse_args()
    try:
        return cmd_run(args) if args.cmd == "run" else cmd_report(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

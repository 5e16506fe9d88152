"""What the examples' tests share: the real tender binary runs an example's manifests with
`tender pod run`, from the repository's root as the example's README says, and the test checks
what the README claims.

    import extest
    class Sidecar(extest.Example):
        def test_readme(self):
            self.run_pods("examples/sidecar/pod.yaml")
            self.wait_ready()
            out = self.sh("curl -s 127.0.0.1:8080/")   # a README line, as written

Every `hostPort` of a manifest is moved to a free port of 127.0.0.1 (in a copy of the
manifest), and `sh` rewrites `127.0.0.1:PORT` and `localhost:PORT` in a command the same way,
so README lines run as written without taking fixed ports. The runner's admin listener is a
free port too, named by TENDER_POD_ADMIN, which `tender pod status`, `logs`, `exec`, `kill`,
... read: those README lines run unchanged as well, and so do `curl 127.0.0.1:9900/...` lines
(the runner's default admin port, when no hostPort took it). Pods get a network of their own,
so the tests need root; without it they exit 77 (ctest counts it as skipped).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

RUNNER_PORT = 9900  # the runner's default admin port, which README lines name
BINARY = os.path.abspath(os.environ.get("TENDER_BINARY") or shutil.which("tender") or "tender")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_commands(path):
    """The command lines of a README's ```sh blocks, comments and blank lines left out."""
    commands, inside = [], False
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("```"):
                inside = not inside and stripped in ("```sh", "```bash", "```console")
                continue
            if inside:
                command = re.sub(r"\s+#.*$", "", stripped)
                if command and not command.startswith("#"):
                    commands.append(command)
    return commands


class Runner:
    """A `tender pod run` of some manifests; its output is kept."""

    def __init__(self, test, manifests, args):
        self.test = test
        self.lines = []
        files = [test.localize(m) for m in manifests]
        # A quick restart backoff, unless the test gives its own (the README's, say).
        backoff = [] if "--restart-backoff" in args else ["--restart-backoff", "1s:10s"]
        cmd = [BINARY, "pod", "run", "--run-dir", os.path.join(test.tmp, "run"),
               *backoff, *args, *files]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=test.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def output(self, last=60):
        return "\n".join(self.lines[-last:])

    def stop(self, timeout=90):
        """SIGTERM, as Ctrl-C would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("tender pod run did not stop within %ds\n%s"
                                 % (timeout, self.output()))


class Example(unittest.TestCase):
    """One example: its pods, its README's commands, its claims."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tender-example-")
        self.ports = {}  # hostPort in the manifest -> the free port used instead
        self.admin = "127.0.0.1:%d" % free_port()
        self.env = dict(os.environ)
        self.env["PATH"] = os.path.dirname(BINARY) + os.pathsep + self.env.get("PATH", "")
        self.env["TENDER_POD_ADMIN"] = self.admin
        self.env.pop("http_proxy", None)
        self.env.pop("HTTP_PROXY", None)
        self.runners = []

    def tearDown(self):
        for r in self.runners:
            if r.proc.poll() is None:
                try:
                    r.stop()
                except AssertionError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- running ---------------------------------------------------------------------------

    def localize(self, manifest):
        """A copy of the manifest whose hostPorts are free ports (the same port twice, once)."""
        with open(os.path.join(REPO, manifest), encoding="utf-8") as f:
            text = f.read()

        def move(m):
            port = int(m.group(2))
            if port not in self.ports:
                self.ports[port] = free_port()
            return "%s%d" % (m.group(1), self.ports[port])

        text = re.sub(r"(hostPort:\s*)(\d+)", move, text)
        path = os.path.join(self.tmp, os.path.basename(manifest))
        if os.path.exists(path):
            path = os.path.join(self.tmp, "%d-%s" % (len(self.runners), os.path.basename(manifest)))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_pods(self, *manifests, args=()):
        """`tender pod run MANIFEST...` in the background, from the repository's root."""
        runner = Runner(self, manifests, list(args))
        self.runners.append(runner)
        self.wait_for(lambda: self.api("/healthz", raw=True) is not None or self._gone(runner),
                      30, "the runner's admin listener")
        if runner.proc.poll() is not None:
            self.fail("tender pod run exited %d\n%s" % (runner.proc.returncode, runner.output()))
        return runner

    def _gone(self, runner):
        return runner.proc.poll() is not None

    def stop(self, runner=None):
        """Stops the run as Ctrl-C does, and asserts that it ended cleanly."""
        runner = runner or self.runners[-1]
        code = runner.stop()
        self.assertEqual(code, 0, "tender pod run exited %d\n%s" % (code, runner.output()))

    def rewrite(self, command):
        """A README command with the manifest's hostPorts moved as the manifests' were."""
        def move(m):
            port = int(m.group(2))
            if port == RUNNER_PORT and port not in self.ports:
                return "%s:%s" % (m.group(1), self.admin.rsplit(":", 1)[1])
            return "%s:%d" % (m.group(1), self.ports.get(port, port))
        return re.sub(r"\b(127\.0\.0\.1|localhost):(\d+)", move, command)

    def sh(self, command, check=True, timeout=60, input=None):
        """A command line run by bash from the repository's root, as a user would type it;
        returns its stdout. A failure (when `check`) fails the test with its output."""
        p = subprocess.run(["bash", "-c", self.rewrite(command)], cwd=REPO, env=self.env,
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail("`%s` exited %d\nstdout: %s\nstderr: %s%s"
                      % (command, p.returncode, p.stdout[-3000:], p.stderr[-3000:],
                         self._runner_output()))
        return p.stdout if check else p

    def tender(self, *args, check=True, timeout=60):
        """`tender ARGS...` (its client commands reach this test's runner); stdout."""
        p = subprocess.run([BINARY, *args], cwd=REPO, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail("tender %s exited %d\n%s%s" % (" ".join(args), p.returncode, p.stderr,
                                                     self._runner_output()))
        return p.stdout if check else p

    def _runner_output(self):
        if not self.runners:
            return ""
        return "\n--- tender pod run ---\n" + self.runners[-1].output()

    # --- looking ---------------------------------------------------------------------------

    def api(self, path, method="GET", body=None, raw=False, timeout=10):
        """The runner's admin API: parsed JSON (None when unreachable), or the text if `raw`."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s%s" % (self.admin, path), data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            if not raw:
                raise AssertionError("%s %s: %d %s" % (method, path, e.code, text))
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None
        return text if raw else json.loads(text)

    def http(self, url, timeout=10):
        """GET of a URL on 127.0.0.1 (hostPorts moved): (status, body), or (None, error)."""
        try:
            with urllib.request.urlopen(self.rewrite(url), timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
            return None, str(e)

    def pods(self):
        answer = self.api("/v1/pods")
        return {p["name"]: p for p in answer["pods"]} if answer else {}

    def wait_for(self, predicate, timeout, what):
        """Polls `predicate` until it returns something true, and returns that."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail("waited %ds for %s%s" % (timeout, what, self._runner_output()))
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def wait_ready(self, names=None, timeout=120):
        """Until the pods named (or every pod, and at least one) are ready; the pods."""
        def ready():
            pods = self.pods()
            wanted = names or list(pods)
            if not wanted or any(n not in pods or not pods[n].get("ready") for n in wanted):
                return None
            return pods
        return self.wait_for(ready, timeout, "pods %s ready" % (names or "all"))


def main():
    if os.geteuid() != 0:
        print("the examples need root (a network namespace per pod): skipped")
        raise SystemExit(SKIP)
    unittest.main(verbosity=2)

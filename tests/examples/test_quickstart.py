"""The README's first command, tools/quickstart.sh, as a new user runs it: it comes up, every
line it prints to try works and shows what its comment says, and Ctrl-C stops it cleanly.

It takes the quickstart's own ports (8080 and 9905 on 127.0.0.1, as the README's curl lines
say); the runner's admin listener is a free port, named by TENDER_POD_ADMIN, as the script
allows. The build directory is the one this test runs from (BUILD_DIR), so the script's build
step finds the quickstart's binary (quickstart/tender, built there beside src/tender) up to date.
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
import urllib.request

import extest


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Quickstart(extest.Example):
    def start(self):
        for port in (8080, 9905):
            self.assertTrue(port_free(port), "127.0.0.1:%d is taken: the quickstart needs it" % port)
        env = dict(self.env)
        env["BUILD_DIR"] = os.path.dirname(os.path.dirname(extest.BINARY))
        self.proc = subprocess.Popen([os.path.join(extest.REPO, "tools", "quickstart.sh")],
                                     cwd=extest.REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda: any("quickstart: ready after" in l for l in self.lines)
                      or self.proc.poll() is not None, 240, "the quickstart to say it is ready")
        self.assertIsNone(self.proc.poll(), self.output())

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def output(self):
        return "\n".join(self.lines[-80:])

    def tearDown(self):
        if getattr(self, "proc", None) and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # The run directory the script's runner kept for its admin port (docs/pod.md).
        port = self.admin.rsplit(":", 1)[1]
        shutil.rmtree(os.path.join(tempfile.gettempdir(), "tender-pod-" + port),
                      ignore_errors=True)
        super().tearDown()

    def printed_commands(self):
        """The lines the script printed to try, without their comments."""
        start = next(i for i, l in enumerate(self.lines) if "In another terminal" in l)
        commands = []
        for line in self.lines[start + 1:]:
            if line.strip().startswith("and open"):
                break
            command = re.sub(r"\s+#.*$", "", line.strip())
            if command:
                commands.append(command)
        return commands

    def test_the_first_readme_command(self):
        self.start()
        commands = self.printed_commands()
        self.assertEqual(commands[0].split()[0], "export", commands)
        # The later lines run as the user runs them after the export: with the quickstart's own
        # binary, which carries only the roles the quickstart runs.
        bin_dir = re.match(r"export PATH=(\S+):\$PATH", commands[0]).group(1)
        self.assertEqual(bin_dir, os.path.join(os.path.dirname(os.path.dirname(extest.BINARY)),
                                               "quickstart"))
        self.env["PATH"] = bin_dir + os.pathsep + self.env["PATH"].split(os.pathsep, 1)[1]
        version = self.sh("tender version")
        self.assertIn("built without the roles echo, election, workqueue, scatter", version)
        out = {}
        for command in commands[1:]:
            self.assertFalse(command.startswith("sudo"), command)
            out[command] = self.sh(command)

        home = out["curl -s 127.0.0.1:8080/"]
        self.assertIn("This page has been viewed <b>1</b> times", home)
        self.assertIn("viewed <b>1</b> times", out["curl -s 127.0.0.1:8080/pages/about"])
        stats = json.loads(out["curl -s 127.0.0.1:8080/stats"])
        self.assertGreaterEqual(stats["requests"]["total"], 2)
        self.assertEqual(stats["redis"]["errors"], 0)

        metrics = out["curl -s 127.0.0.1:9905/metrics | grep '^quickstart_'"]
        requests = re.search(r'^quickstart_requests_total\{app="quickstart"\} (\d+)', metrics, re.M)
        self.assertTrue(requests, metrics)
        self.assertGreaterEqual(int(requests.group(1)), 3)  # /, /pages/about, /stats
        self.assertRegex(metrics, r'quickstart_responses_total\{code="200",app="quickstart"\} \d+')

        shipped = out["tender pod logs web -c log-shipper"]
        self.assertIn('"GET / HTTP/1.1" 200', shipped)
        self.assertIn('"GET /pages/about HTTP/1.1" 200', shipped)

        self.assertRegex(out["tender pod status"], r"(?m)^web\b")
        for pod in ("redis-0", "redis-1"):
            self.assertIn(pod, out["tender pod status"])

        # The ambassador spreads the app's keys over both shards, each key on one of them.
        for i in range(20):
            self.assertIn("viewed <b>1</b>", self.sh("curl -s 127.0.0.1:8080/pages/p%d" % i))
        sizes = [int(self.sh("tender pod exec %s -- redis-cli dbsize" % pod))
                 for pod in ("redis-0", "redis-1")]
        self.assertEqual(sum(sizes), 22, sizes)
        self.assertTrue(all(n > 0 for n in sizes), sizes)
        self.assertIn("viewed <b>2</b>", self.sh("curl -s 127.0.0.1:8080/pages/p7"))

        # The web view it names.
        ui = next(l for l in self.lines if "and open http://" in l)
        url = re.search(r"http://\S+/ui", ui).group(0)
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/html", r.headers["Content-Type"])

        # Ctrl-C: the runner (the script became it) stops every pod and exits 0.
        self.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.proc.wait(timeout=90), 0, self.output())
        self.assertTrue(port_free(8080) and port_free(9905))


if __name__ == "__main__":
    extest.main()

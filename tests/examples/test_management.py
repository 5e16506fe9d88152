"""examples/management: the app's /readyz and /healthz are probed; `tender pod pause` freezes
it, its liveness probe fails, the runner restarts its container once and it is ready again."""
import re

import extest

README = "examples/management/README.md"
HELLO = re.compile(r"^hello, up for (\d+) s \(started (\S+)\)$")


class Management(extest.Example):
    def app(self):
        return self.pods()["web"]["containers"][0]

    def test_readme(self):
        run, readyz, hello, pause, status, hello_again, runner_readyz = \
            extest.readme_commands(README)
        self.assertTrue(run.startswith("tender pod run "), run)
        self.run_pods(*run.split()[3:])
        self.wait_ready(["web"])

        self.assertEqual(self.sh(readyz), "ok\n")
        self.assertEqual(self.http("http://127.0.0.1:8087/healthz"), (200, "ok\n"))
        first = HELLO.match(self.sh(hello).strip())
        self.assertTrue(first, "not a greeting")
        self.assertEqual(self.app()["restartCount"], 0)

        self.sh(pause)
        self.wait_for(lambda: self.pods()["web"].get("paused"), 10, "the pod paused")
        self.wait_for(lambda: not self.pods()["web"]["ready"], 10, "the pod not ready")
        self.assertRegex(self.sh(status), r"(?m)^web\s+Running\s+false\s+app\s+main\s")
        self.wait_for(lambda: self.app()["restartCount"] == 1, 60, "the liveness restart")
        pods = self.wait_ready(["web"], timeout=60)
        app = pods["web"]["containers"][0]
        self.assertEqual(app["restartCount"], 1)
        self.assertFalse(pods["web"].get("paused"), pods["web"])
        self.assertGreaterEqual(app["probes"]["liveness"]["totalFailures"], 3, app)

        self.assertRegex(self.sh(status),
                         r"(?m)^web\s+Running\s+true\s+app\s+main\s+running\s+1\s+exited 0$")

        again = HELLO.match(self.sh(hello_again).strip())
        self.assertTrue(again, "not a greeting")
        self.assertNotEqual(again.group(2), first.group(2), "the same process answered")
        self.assertEqual(self.sh(runner_readyz), "ok\n")

        self.stop()


if __name__ == "__main__":
    extest.main()

"""The pod runner's panel of the web view, in headless Chromium, on `tender pod run` (as root:
each pod in a network namespace of its own)."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: alpha, labels: {app: alpha}}
spec:
  containers:
    - name: ticker
      command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo \\"tick $i at $(date +%%s)\\"; sleep 0.2; done"]
    - name: web
      command: ["%(binary)s", "echo", "--listen", "127.0.0.1:8080", "--admin", "127.0.0.1:9901"]
---
apiVersion: v1
kind: Pod
metadata: {name: beta}
spec:
  containers:
    - name: ticker
      command: ["sh", "-c", "while true; do echo beta; sleep 0.2; done"]
---
apiVersion: v1
kind: Service
metadata: {name: front}
spec:
  type: NodePort
  selector: {app: alpha}
  ports: [{port: 80, targetPort: 8080}]
"""


@unittest.skipUnless(os.geteuid() == 0, "the pod network needs root")
class PodView(uitest.TestCase):
    def pod(self, runner, name):
        status, _, body = http("GET", runner.url("v1/pods/" + name))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def row(self, key):
        return self.find('tr[data-key="%s"]' % key)

    def wait_row(self, key, expected, timeout=15):
        return wait_for(lambda: expected in self.row(key).text, timeout,
                        "row %s to show %r" % (key, expected))

    def click_confirmed(self, css):
        self.find(css).click()
        wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation").accept()

    def test_pods_faults_logs_and_a_containers_own_view(self):
        manifest = os.path.join(self.tmp, "pods.yaml")
        with open(manifest, "w") as f:
            f.write(MANIFEST % {"binary": os.path.abspath(uitest.BINARY)})
        runner = uitest.Proc([uitest.BINARY, "pod", "run", manifest, "--admin", "127.0.0.1:0",
                              "--no-log-view", "--run-dir", os.path.join(self.tmp, "run")],
                             cwd=self.tmp)
        self.procs.append(runner)
        runner.wait_listening()
        self.browser.get(runner.url("ui"))
        loaded = time.time()
        self.wait_text("#panel-title", "Pods")
        for name in ("alpha", "beta"):
            wait_for(lambda: re.search(r"(?<!not )ready", self.row("pod:" + name).text), 30,
                     "pod %s to show ready" % name)
        self.wait_row("c:alpha/web", "running")
        # The Service: its address, its ports with the nodePort, and the pod it sends traffic to.
        alpha_ip = self.pod(runner, "alpha")["podIP"]
        self.wait_row("svc:default/front", alpha_ip + ":8080")
        service = self.row("svc:default/front").text
        self.assertIn("NodePort", service)
        self.assertIn("10.96.0.1", service)
        self.assertRegex(service, r"80:3\d{4}/TCP")

        # Pause after confirming; the state changes, and resuming changes it back.
        self.click_confirmed('button[aria-label="Pause pod beta"]')
        self.wait_row("pod:beta", "paused")
        self.assertTrue(self.pod(runner, "beta")["paused"])
        self.find('button[aria-label="Resume pod beta"]').click()
        wait_for(lambda: "paused" not in self.row("pod:beta").text, 15, "beta to resume")
        self.assertFalse(self.pod(runner, "beta")["paused"])

        # The log tail shows lines printed after the page loaded, as they come.
        self.find('button[aria-label="Logs of alpha/ticker"]').click()
        log = 'tr[data-key="log:alpha/ticker"] pre.log'

        def later_tick():
            stamps = [int(s) for s in re.findall(r"tick \d+ at (\d+)", self.text(log))]
            return stamps and max(stamps) > loaded + 1
        wait_for(later_tick, 15, "a line printed after the page loaded")
        first = self.text(log)
        wait_for(lambda: len(self.text(log)) > len(first), 10, "the log to grow")
        self.screenshot("pod")

        # A cross-origin POST is refused by the runner, and the pod keeps running.
        status, _, body = http("POST", runner.url("v1/pods/alpha/pause"),
                               headers={"Origin": "http://attacker.example"})
        self.assertEqual(status, 403, body)
        self.assertFalse(self.pod(runner, "alpha")["paused"])
        self.assertEqual(self.console_errors(), [])

        # The echo container's own web view, through the runner.
        link = self.find('a[aria-label="Web view of alpha/web"]')
        self.assertTrue(link.is_displayed())
        # A container that runs no tender role has no link.
        self.assertFalse(self.find('a[aria-label="Web view of alpha/ticker"]').is_displayed())
        link.click()
        self.wait_text("#role-name", "echo")
        self.wait_text("#live", "live: ok")
        self.assertIn("/v1/pods/alpha/containers/web/admin/ui", self.browser.current_url)
        self.wait_text("#status pre", '"role": "echo"')
        self.assertEqual(self.console_errors(), [])


if __name__ == "__main__":
    uitest.main()

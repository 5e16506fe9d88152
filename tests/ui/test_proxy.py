"""The proxy's panel in headless Chromium: two `tender echo` backends behind `tender proxy`."""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402

CONFIG = """\
listeners:
  - name: api
    listen: 127.0.0.1:0
    protocol: http
    cluster: api
    retries: 2
clusters:
  - name: api
    endpoints: [%s, %s]
    health_check: {type: http, path: /healthz, interval: 200ms, timeout: 200ms, unhealthy_threshold: 2, healthy_threshold: 1}
"""


class Load:
    """Requests through the proxy, one after another, until stopped."""

    def __init__(self, url):
        self.url = url
        self.done = threading.Event()
        self.answers = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            try:
                self.answers.append(http("GET", self.url, timeout=5)[0])
            except OSError:
                self.answers.append(0)
            self.done.wait(0.02)

    def stop(self):
        self.done.set()
        self.thread.join()


class ProxyView(uitest.TestCase):
    def endpoint_row(self, name):
        for row in self.find_all("#endpoints tbody tr"):
            cells = row.find_elements("css selector", "td")
            if len(cells) > 2 and cells[1].text.startswith(name):
                return row, cells
        return None

    def state(self, name):
        found = self.endpoint_row(name)
        return found[0].get_attribute("data-state") if found else None

    def test_endpoints_health_rate_and_a_killed_backend(self):
        b1 = self.start("echo", "--listen", "127.0.0.1:0", "--id", "b1")
        b2 = self.start("echo", "--listen", "127.0.0.1:0", "--id", "b2")
        a1, a2 = b1.addresses["listen"], b2.addresses["listen"]
        path = os.path.join(self.tmp, "proxy.yaml")
        with open(path, "w") as f:
            f.write(CONFIG % (a1, a2))
        proxy = self.start("proxy", "--config", path, "--workers", "1")
        self.browser.get(proxy.url("ui"))
        self.wait_text("#panel-title", "Clusters")
        # Both endpoints healthy, as words; the listener with its address.
        wait_for(lambda: self.state(a1) == "healthy" and self.state(a2) == "healthy", 15,
                 "both endpoints healthy")
        self.assertIn("\u2713 healthy", self.endpoint_row(a1)[1][2].text)
        self.wait_text("#listeners tbody", "api")
        self.wait_text("#listeners tbody", "http")
        self.wait_text("#clusters tbody", "2 of 2")
        self.wait_text("#clusters tbody", "closed")

        load = Load("http://%s/hello" % proxy.addresses["api"])
        try:
            def rate_shown():
                found = self.endpoint_row(a1)
                rate = found[1][7].text if found else ""
                return rate not in ("", "\u2013") and float(rate.rstrip("kMG")) > 0
            wait_for(rate_shown, 20, "a nonzero request rate for %s" % a1)
            wait_for(lambda: self.text("#charts figure:nth-child(1) .value") not in ("", "\u2013", "0"),
                     20, "the requests chart to show a rate")
            wait_for(lambda: self.endpoint_row(a1)[1][10].text.endswith("ms"), 10,
                     "a p99 latency for %s" % a1)
            self.assertIn(200, load.answers)

            # A backend killed outright: its endpoint turns unhealthy, the other stays healthy.
            b2.stop(signal.SIGKILL)
            wait_for(lambda: self.state(a2) in ("unhealthy", "ejected"), 15,
                     "the killed backend's endpoint to turn unhealthy")
            wait_for(lambda: self.state(a2) == "unhealthy", 15, "the health check's verdict")
            self.assertIn("\u2717 unhealthy", self.endpoint_row(a2)[1][2].text)
            self.assertEqual(self.state(a1), "healthy")
            self.wait_text("#clusters tbody", "1 of 2")
        finally:
            load.stop()
        self.assertEqual(self.console_errors(), [])
        self.screenshot("proxy")


if __name__ == "__main__":
    uitest.main()

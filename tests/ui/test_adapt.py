"""The Sources panel of `tender adapt`, in headless Chromium: a statsd source that is up, a json
source whose app is not there, health checks and a log input."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402

ACCESS_LINE = ('127.0.0.1 - - [06/Dec/2026:12:00:00 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl/8"\n')


class AdaptView(uitest.TestCase):
    def row(self, table, name):
        """The cells' texts of the row of `table` (an id) whose first cell is `name`."""
        for tr in self.find_all("#%s tbody tr" % table):
            cells = [c.text for c in tr.find_elements("css selector", "th, td")]
            if cells and cells[0] == name:
                return cells
        return None

    def cell(self, table, name, i):
        r = self.row(table, name)
        return r[i] if r else None

    def test_sources_checks_and_logs_show_their_real_state(self):
        closed = uitest.free_port()  # nothing listens there
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.addCleanup(listener.close)
        access = os.path.join(self.tmp, "access.log")
        open(access, "w").close()
        config = os.path.join(self.tmp, "adapt.yaml")
        with open(config, "w") as f:
            f.write("metrics:\n  sources:\n"
                    "    - name: stats\n"
                    "      statsd: {udp: 127.0.0.1:0}\n"
                    "    - name: app\n"
                    "      json: {url: 'http://127.0.0.1:%d/stats', timeout: 1s,"
                    " metrics: [{name: app_n, path: $.n}]}\n"
                    "health:\n  checks:\n"
                    "    - {name: db, tcp: 127.0.0.1:%d}\n"
                    "    - {name: cache, tcp: 127.0.0.1:%d}\n"
                    "logs:\n"
                    "  - {name: access, input: %s, format: combined, output: %s}\n"
                    % (closed, closed, listener.getsockname()[1], access,
                       os.path.join(self.tmp, "access.jsonl")))
        adapt = self.start("adapt", "--config", config)
        self.browser.get(adapt.url("ui"))
        self.wait_text("#panel-title", "Sources")
        # Before any scrape a source's state is not known, and the panel says so.
        wait_for(lambda: self.cell("adapt-sources", "app", 2) == "\u2022 not collected yet", 15,
                 "the json source not collected yet")
        self.assertEqual(self.cell("adapt-sources", "app", 1), "json")
        self.assertEqual(self.cell("adapt-sources", "stats", 1), "statsd")
        self.assertEqual(self.cell("adapt-sources", "stats", 6), "0", "no series yet")
        # A scrape (as Prometheus's) collects every source.
        status, _, _ = http("GET", adapt.url("metrics"))
        self.assertEqual(status, 200)
        wait_for(lambda: self.cell("adapt-sources", "app", 2) == "\u2717 down", 15, "app down")
        self.assertIn("refused", self.cell("adapt-sources", "app", 3))
        wait_for(lambda: self.cell("adapt-sources", "stats", 2) == "\u2713 up", 15, "stats up")
        # statsd lines: the series the source holds grow without another scrape.
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        host, _, port = adapt.addresses["stats_udp"].rpartition(":")
        udp.sendto(b"shop.orders:1|c\nshop.queue_depth:7|g\n", (host, int(port)))
        wait_for(lambda: self.cell("adapt-sources", "stats", 6) == "2", 15, "two series held")
        udp.sendto(b"shop.latency:12|ms\n", (host, int(port)))
        wait_for(lambda: self.cell("adapt-sources", "stats", 6) == "3", 15, "three series held")
        # Health checks run when asked: their verdicts and reasons.
        http("GET", adapt.url("healthz/all"))
        wait_for(lambda: self.cell("adapt-checks", "db", 1) == "\u2717 fail", 15, "db fails")
        self.assertTrue(self.cell("adapt-checks", "db", 2), "the reason is shown")
        wait_for(lambda: self.cell("adapt-checks", "cache", 1) == "\u2713 pass", 15, "cache passes")
        # A line appended to the log input (read from its end, as tail -F does) is counted.
        self.assertEqual(self.cell("adapt-logs", "access", 4), "0")
        with open(access, "a") as f:
            f.write(ACCESS_LINE)
        wait_for(lambda: self.cell("adapt-logs", "access", 4) == "1", 15, "the log line read")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("adapt")


if __name__ == "__main__":
    uitest.main()

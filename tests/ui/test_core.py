"""The web view every role serves at /ui, in headless Chromium, on `tender echo`."""
import os
import re
import shutil
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402


class PortForward:
    """A TCP forwarder from a new port to `target`, as `kubectl port-forward` is to a pod."""

    def __init__(self, target):
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


class CoreView(uitest.TestCase):
    def chart(self, title):
        """The CSS selector of the chart whose caption starts with `title`."""
        captions = [f.text for f in self.find_all("#charts figure figcaption > span:first-child")]
        for i, caption in enumerate(captions):
            if caption.startswith(title):
                return "#charts figure:nth-child(%d)" % (i + 1)
        raise AssertionError("no chart %r among %r" % (title, captions))

    def test_page_shows_status_health_metrics_and_config(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        self.browser.get(echo.url("ui"))
        self.assertEqual(self.browser.title, "tender echo")
        self.wait_text("#live", "live: ok")
        self.wait_text("#ready", "ready: yes")
        self.wait_text('[data-fact="pid"]', str(echo.proc.pid))
        self.wait_text('[data-fact="state"]', "running")
        self.wait_text("#status pre", '"role": "echo"')
        self.wait_text("#config pre", '"listen"')
        # The charts fill in: CPU needs two samples, memory one. The role's own come first.
        cpu = self.chart("CPU")
        memory = self.chart("Resident memory")
        wait_for(lambda: "MiB" in self.text(memory + " .value"), 10,
                 "the memory chart to show a value")
        wait_for(lambda: self.text(cpu + " .value") not in ("", "\u2013"), 10,
                 "the CPU chart to show a rate")
        points = self.find(memory + " polyline").get_attribute("points")
        self.assertTrue(points.strip(), "the memory chart draws a line")
        label = self.find(memory + " svg").get_attribute("aria-label")
        self.assertIn("Resident memory: now", label)
        self.assertEqual(self.console_errors(), [])
        self.screenshot("echo")

    def test_drain_button_drains_after_confirmation(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        self.browser.get(echo.url("ui"))
        self.wait_text("#ready", "ready: yes")
        self.find("#drain").click()
        alert = wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation")
        self.assertIn("Drain this echo", alert.text)
        alert.accept()
        self.wait_text("#notice", "Drain: draining")
        self.wait_text("#ready", "ready: no")
        self.wait_text('[data-fact="state"]', "draining")
        status, _, body = http("GET", echo.url("readyz"))
        self.assertEqual(status, 503)

    def test_dismissed_confirmation_changes_nothing(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        self.browser.get(echo.url("ui"))
        self.wait_text("#ready", "ready: yes")
        self.find("#quit").click()
        wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation").dismiss()
        self.wait_text("#ready", "ready: yes")
        self.assertIsNone(echo.proc.poll())

    def test_works_through_a_port_forward_with_relative_urls(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        fwd = PortForward(echo.addresses["admin"])
        try:
            self.browser.get("http://127.0.0.1:%d/ui" % fwd.port)
            self.wait_text("#live", "live: ok")
            self.wait_text('[data-fact="pid"]', str(echo.proc.pid))
            # A state change through the forward is same-origin for the listener too.
            self.find("#drain").click()
            wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation").accept()
            self.wait_text("#ready", "ready: no")
        finally:
            fwd.close()

    def test_unreachable_listener_is_said_and_recovers_nothing_silently(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        self.browser.get(echo.url("ui"))
        self.wait_text("#live", "live: ok")
        echo.stop()
        self.wait_text("#conn", "Cannot reach the admin listener")
        self.wait_text("#live", "live: unknown")

    def test_keyboard_reaches_every_action(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        self.browser.get(echo.url("ui"))
        self.wait_text("#live", "live: ok")
        from selenium.webdriver.common.keys import Keys
        body = self.find("body")
        seen = set()
        for _ in range(12):
            body.send_keys(Keys.TAB) if not seen else self.browser.switch_to.active_element.send_keys(Keys.TAB)
            seen.add(self.browser.switch_to.active_element.get_attribute("id"))
        for wanted in ("pause-updates", "drain", "quit"):
            self.assertIn(wanted, seen)


class Assets(uitest.TestCase):
    @classmethod
    def setUpClass(cls):
        pass  # no browser: plain HTTP

    @classmethod
    def tearDownClass(cls):
        pass

    def test_assets_have_types_and_caching(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        status, headers, page = http("GET", echo.url("ui"))
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(headers["Cache-Control"], "no-cache")
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        links = re.findall(r'(?:src|href)="(ui/static/[^"]+)"', page)
        self.assertGreaterEqual(len(links), 2)
        types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
        for link in links:
            status, h, body = http("GET", echo.url(link))
            self.assertEqual(status, 200, link)
            self.assertEqual(h["Content-Type"], types[os.path.splitext(link.split("?")[0])[1]])
            self.assertEqual(h["Cache-Control"], "public, max-age=31536000, immutable")
            self.assertEqual(h["X-Content-Type-Options"], "nosniff")
            status, _, body = http("GET", echo.url(link), headers={"If-None-Match": h["ETag"]})
            self.assertEqual((status, body), (304, ""))
        status, h, _ = http("GET", echo.url("ui/"))
        self.assertEqual(status, 200, "redirected to the page")  # urllib follows the 308
        status, _, _ = http("GET", echo.url("ui/static/nothing.js"))
        self.assertEqual(status, 404)

    def test_cross_origin_post_is_refused(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0")
        host = echo.addresses["admin"]
        for headers in ({"Origin": "http://attacker.example"},
                        {"Origin": "null"},
                        {"Origin": "http://%s" % host, "Sec-Fetch-Site": "cross-site"}):
            status, _, body = http("POST", echo.url("drain"), "", headers)
            self.assertEqual(status, 403, headers)
            self.assertIn("refused", body)
        status, _, _ = http("GET", echo.url("readyz"))
        self.assertEqual(status, 200, "nothing was drained")
        status, _, _ = http("POST", echo.url("drain"), "", {"Origin": "http://%s" % host})
        self.assertEqual(status, 200)

    def test_the_view_adds_at_most_200_kb_to_the_binary(self):
        nm = shutil.which("nm")
        self.assertIsNotNone(nm, "binutils' nm")
        out = subprocess.run([nm, "-S", "-C", "--size-sort", uitest.BINARY],
                             capture_output=True, text=True, check=True).stdout
        total = 0
        names = 0
        for line in out.splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and ("ui_embedded::" in parts[3] or "tender::add_ui_routes" in parts[3]
                                    or "tender::asset_response" in parts[3]
                                    or re.search(r"tender::\(anonymous namespace\)::(render_page|find_asset|etag_matches|add_page_headers)", parts[3])):
                total += int(parts[1], 16)
                names += 1
        self.assertGreater(names, 3, "the embedded assets are in the binary")
        self.assertLessEqual(total, 200 * 1024, "the web view takes %d bytes" % total)
        print("web view: %d bytes in %d symbols" % (total, names))


if __name__ == "__main__":
    uitest.main()

"""The Echo panel of `tender echo`, in headless Chromium."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402


class EchoView(uitest.TestCase):
    def test_counts_follow_the_requests_served(self):
        echo = self.start("echo", "--listen", "127.0.0.1:0", "--id", "a", "--delay", "1ms",
                          "--delay-fraction", "1")
        self.browser.get(echo.url("ui"))
        self.wait_text("#panel-title", "Echo")
        self.wait_text('[data-echo="listen"]', echo.addresses["listen"])
        self.wait_text('[data-echo="id"]', "a")
        self.assertEqual(self.text('[data-echo="requests_served"]'), "0")
        for i in range(5):
            status, _, _ = http("GET", echo.url("x%d" % i, name="listen"))
            self.assertEqual(status, 200)
        wait_for(lambda: self.text('[data-echo="requests_served"]') == "5", 15, "five requests served")
        self.assertEqual(self.text('[data-echo="delayed_requests"]'), "5")
        self.assertEqual(self.text('[data-echo="in_flight"]'), "0")
        caption = self.text("#charts figure:nth-child(1) figcaption")
        self.assertIn("Requests (/s)", caption)
        wait_for(lambda: self.text("#charts figure:nth-child(1) .value") not in ("", "\u2013"), 15,
                 "the request rate")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("echo-panel")


if __name__ == "__main__":
    uitest.main()

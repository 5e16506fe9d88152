"""What the web view's tests share: the real tender binary, free ports, headless Chromium.

    import uitest
    class Echo(uitest.TestCase):
        def test_page(self):
            echo = self.start("echo", "--listen", "127.0.0.1:0")
            self.browser.get(echo.url("ui"))
            self.wait_text("#live", "live: ok")

Every test talks only to 127.0.0.1. TENDER_BINARY names the binary (ctest sets it); a
screenshot directory may be given in TENDER_UI_SCREENSHOTS.
"""
import json
import os
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

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BINARY = os.environ.get("TENDER_BINARY", "tender")
TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A tender process: started, its `listening` line read, its output kept."""

    def __init__(self, args, env=None, cwd=None):
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)
        self.lines = []
        self.addresses = {}
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if line.startswith("listening ") and not self.addresses:
                for field in line.split()[1:]:
                    k, _, v = field.partition("=")
                    self.addresses[k] = v
                self._ready.set()
        self._ready.set()

    def wait_listening(self, timeout=30):
        if not self._ready.wait(timeout) or not self.addresses:
            raise AssertionError("%s did not start:\n%s" % (" ".join(self.args), self.output()))
        return self

    def output(self):
        return "\n".join(self.lines[-60:])

    def url(self, path="", name="admin"):
        return "http://%s/%s" % (self.addresses[name], path)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers.items()), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read().decode("utf-8", "replace")


def wait_for(predicate, timeout=15, what="the condition", interval=0.1):
    """Polls `predicate` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the page may be between two renders
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def new_browser():
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(30)
    return driver


class TestCase(unittest.TestCase):
    """Starts one browser per test class; every process a test starts is stopped after it."""

    browser = None

    @classmethod
    def setUpClass(cls):
        cls.browser = new_browser()

    @classmethod
    def tearDownClass(cls):
        if cls.browser is not None:
            cls.browser.quit()

    def setUp(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="tender-ui-")

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, role, *args, admin="127.0.0.1:0", wait=True, env=None):
        p = Proc([BINARY, role, "--admin", admin] + list(args), env=env, cwd=self.tmp)
        self.procs.append(p)
        return p.wait_listening() if wait else p

    def find(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def wait_text(self, css, expected, timeout=15):
        """Waits until the element `css` shows text containing `expected`."""
        return wait_for(lambda: expected in self.text(css), timeout,
                        "%r to show %r" % (css, expected))

    def console_errors(self):
        try:
            logs = self.browser.get_log("browser")
        except Exception:
            return []
        # A 503 from /readyz is an answer the page shows, not an error of the page.
        return [l for l in logs if l.get("level") == "SEVERE" and l.get("source") != "network"]

    def screenshot(self, name):
        """Saves a screenshot to $TENDER_UI_SCREENSHOTS/NAME.png when that is set."""
        out = os.environ.get("TENDER_UI_SCREENSHOTS")
        if out:
            os.makedirs(out, exist_ok=True)
            self.browser.save_screenshot(os.path.join(out, name + ".png"))


def main():
    unittest.main(verbosity=2)

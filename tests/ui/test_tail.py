"""The Files panel of `tender tail` and the Sync panel of `tender sync`, in headless Chromium."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402


class Receiver:
    """tests/tail_receiver.py: an HTTP sink that keeps every POSTed body."""

    def __init__(self, out):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(uitest.TESTS_DIR, "tail_receiver.py"), "--port", "0",
             "--out", out], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            raise AssertionError("the receiver did not start: %r" % line)
        self.port = int(line[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class TailView(uitest.TestCase):
    def append(self, path, first, n):
        with open(path, "a") as f:
            for i in range(first, first + n):
                f.write("line %d of the app\n" % i)

    def statusz(self, proc):
        return json.loads(http("GET", proc.url("statusz"))[2])["status"]

    def row(self, table, text):
        """The row of `table` (an id) whose text contains `text`, as a list of cell texts."""
        for tr in self.find_all("#%s tbody tr" % table):
            cells = [c.text for c in tr.find_elements("css selector", "th, td")]
            if any(text in c for c in cells):
                return cells
        return None

    def test_files_and_sink_follow_the_real_shipper(self):
        logs = os.path.join(self.tmp, "logs")
        os.mkdir(logs)
        app_log = os.path.join(logs, "app.log")
        self.append(app_log, 0, 10)
        received = os.path.join(self.tmp, "received.jsonl")
        receiver = Receiver(received)
        self.addCleanup(receiver.stop)
        sink = "http://127.0.0.1:%d/ingest" % receiver.port
        tail = self.start("tail", "--path", logs + "/*.log", "--checkpoint",
                          os.path.join(self.tmp, "tail.db"), "--sink", sink)
        self.browser.get(tail.url("ui"))
        self.wait_text("#panel-title", "Files")
        # The file's row: its offset is what tail read of it.
        row = wait_for(lambda: (lambda r: r if r and r[3] != "\u2013" and int(r[3]) > 0 else None)(
            self.row("tail-files", app_log)), 15, "the file's row with an offset")
        self.assertEqual(row[0], app_log)
        self.assertRegex(row[6], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", "when it last grew")
        first_offset = int(row[3])
        sink_row = wait_for(lambda: self.row("tail-sinks", sink), 15, "the sink's row")
        self.assertEqual(sink_row[1], "http")
        wait_for(lambda: self.row("tail-sinks", sink)[3] == "10", 15, "ten records sent")
        # The application writes more: the offset and the sent count grow with it.
        self.append(app_log, 10, 25)
        size = os.path.getsize(app_log)
        wait_for(lambda: self.row("tail-files", app_log)[3] == str(size), 15,
                 "the offset to reach the file's size %d" % size)
        self.assertGreater(size, first_offset)
        wait_for(lambda: self.row("tail-sinks", sink)[3] == "35", 15, "35 records sent")
        cells = self.row("tail-sinks", sink)
        self.assertIn("idle", cells[2])
        self.assertEqual(cells[5], "0", "no failed writes")
        self.assertEqual(cells[8], "none", "no last error")
        wait_for(lambda: self.row("tail-files", app_log)[5] == "0 B", 15, "no lag once committed")
        with open(received) as f:
            self.assertEqual(sum(1 for _ in f), 35, "the receiver got every line once")
        wait_for(lambda: self.find("#charts figure:nth-child(2) .value").text not in ("", "\u2013"), 15,
                 "the shipped-bytes chart to show a rate")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("tail")

    def test_a_sink_that_refuses_is_retrying_with_its_error(self):
        logs = os.path.join(self.tmp, "logs")
        os.mkdir(logs)
        self.append(os.path.join(logs, "app.log"), 0, 3)
        sink = "http://127.0.0.1:%d/ingest" % uitest.free_port()  # nobody listens
        tail = self.start("tail", "--path", logs + "/*.log", "--checkpoint",
                          os.path.join(self.tmp, "tail.db"), "--sink", sink)
        self.browser.get(tail.url("ui"))
        cells = wait_for(lambda: (lambda r: r if r and "retrying" in r[2] else None)(
            self.row("tail-sinks", sink)), 20, "the sink to say it is retrying")
        self.assertIn("failed in a row", cells[6])
        self.assertNotEqual(cells[8], "none", "the last error is shown")
        self.assertEqual(self.console_errors(), [])


class SyncView(uitest.TestCase):
    def test_shows_the_synced_revision_and_follows_a_change(self):
        src = os.path.join(self.tmp, "src")
        os.mkdir(src)
        with open(os.path.join(src, "index.html"), "w") as f:
            f.write("one\n")
        sync = self.start("sync", "--source", "dir:" + src, "--dest",
                          os.path.join(self.tmp, "site"), "--period", "200ms")
        self.browser.get(sync.url("ui"))
        self.wait_text("#panel-title", "Sync")
        self.wait_text("#sync-state", "in sync")
        st = json.loads(http("GET", sync.url("statusz"))[2])["status"]
        self.assertTrue(st["revision"])
        self.wait_text("#sync-revision", st["revision"])
        self.wait_text("#sync-facts", "dir:" + src)
        self.assertFalse(self.find_all("#panel-body button"), "no sync-now endpoint, no button")
        with open(os.path.join(src, "index.html"), "w") as f:
            f.write("two\n")
        wait_for(lambda: self.text("#sync-revision") not in (st["revision"], ""), 15,
                 "the revision to change")
        now = json.loads(http("GET", sync.url("statusz"))[2])["status"]
        wait_for(lambda: self.text("#sync-revision") == now["revision"], 5, "the new revision")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("sync")


if __name__ == "__main__":
    uitest.main()

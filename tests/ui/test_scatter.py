"""The scatter root's panel in headless Chromium: a root over two real leaves."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402

LEAF = os.path.join(uitest.TESTS_DIR, "scatter_leaf.py")


class ScatterView(uitest.TestCase):
    def leaf(self, shard_id):
        p = uitest.Proc(["/usr/bin/python3", "-u", LEAF, "--port", "0", "--shard-id", shard_id,
                         "--docs", "20", "--seed", "7"], cwd=self.tmp)
        self.procs.append(p)
        return p.wait_listening().addresses["listen"]

    def shard_cells(self, name):
        for row in self.find_all("#shards tbody tr"):
            cells = row.find_elements("css selector", "td")
            if cells and cells[0].text == name:
                return [c.text for c in cells]
        return None

    def test_shards_show_their_counts_latency_and_merge(self):
        leaves = [self.leaf("a"), self.leaf("b")]
        root = self.start("scatter", "--listen", "127.0.0.1:0", "--leaves", ",".join(leaves),
                          "--merge", "topk:score:5")
        self.browser.get(root.url("ui"))
        self.wait_text("#panel-title", "Shards")
        self.wait_text('[data-scatter="merge"]', "topk:score:5")
        wait_for(lambda: self.shard_cells("s0") and self.shard_cells("s1"), 15, "a row per shard")
        self.assertIn("serving", self.shard_cells("s0")[1])
        self.assertEqual(self.shard_cells("s1")[2], "1 of 1")

        url = "http://%s/search?q=tea&k=5" % root.addresses["listen"]
        for _ in range(5):
            status, _, body = http("GET", url)
            self.assertEqual(status, 200, body)

        for shard in ("s0", "s1"):
            wait_for(lambda: self.shard_cells(shard)[3] == "5", 15,
                     "5 requests counted for %s" % shard)
            wait_for(lambda: self.shard_cells(shard)[5] == "5", 15,
                     "5 answers counted for %s" % shard)
            self.assertEqual(self.shard_cells(shard)[6], "0", "no errors")
        self.wait_text("#replicas tbody", leaves[0])
        self.wait_text("#replicas tbody", "healthy")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("scatter")


if __name__ == "__main__":
    uitest.main()

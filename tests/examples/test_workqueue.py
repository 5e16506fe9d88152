"""examples/workqueue: the README's commands, run as written, and its claims checked: every file
of the corpus is one item, every item is acked (done, none ready, leased or dead), the counts
of a file are those this test computes itself, all three workers took part, a killed queue
comes back from its SQLite file with the same counts, and the run stops cleanly."""
import collections
import json
import os
import re

import extest

README = "examples/workqueue/README.md"
MANIFEST = "examples/workqueue/workqueue.yaml"
CORPUS = "/usr/share/common-licenses"
COUNTS = "/tmp/tender-wordcounts"  # the manifest's output directory, moved under tmp
WORKERS = ["work-0", "work-1", "work-2"]


def word_counts(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return collections.Counter(re.findall(r"[a-z]+", f.read().lower()))


class WorkQueue(extest.Example):
    def setUp(self):
        super().setUp()
        self.counts = os.path.join(self.tmp, "counts")
        self.files = sorted(os.listdir(CORPUS))
        self.most_leased = 0

    def manifest(self):
        """The example's manifest, its output directory on this machine moved under tmp."""
        with open(os.path.join(extest.REPO, MANIFEST), encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text.count(COUNTS), 3, "the worker's argument, mount, hostPath")
        text = text.replace(COUNTS, self.counts)
        os.makedirs(os.path.join(self.tmp, "manifest"))
        path = os.path.join(self.tmp, "manifest", os.path.basename(MANIFEST))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def queue_json(self, *args):
        out = self.tender("queue", "stats", "--queue", self.rewrite("http://127.0.0.1:7700"),
                          *args, "--json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def drained(self):
        q = self.queue_json("words")
        c = q and q["counts"]
        if c:
            self.most_leased = max(self.most_leased, c["leased"])
        if c and c["ready"] + c["delayed"] + c["leased"] == 0 and c["done"] == len(self.files):
            return c
        return None

    def table_row(self, out):
        """The row of the queue `words` in the table of `tender queue stats`."""
        lines = out.strip().splitlines()
        header = lines[0].split()
        rows = [dict(zip(header, line.split())) for line in lines[1:]]
        words = [r for r in rows if r["QUEUE"] == "words"]
        self.assertEqual(len(words), 1, out)
        return words[0]

    def worker_status(self, pod):
        answer = self.api("/v1/pods/%s/containers/work/admin/statusz" % pod)
        return answer["status"]

    def test_readme(self):
        commands = extest.readme_commands(README)
        self.assertEqual(commands[0], "tender pod run " + MANIFEST)
        self.run_pods(self.manifest())
        self.wait_ready(["queue"] + WORKERS)
        n = len(self.files)

        rest = [c.replace(COUNTS, self.counts) for c in commands[1:]]
        status, push, table, detail, head, firsts, kill, table_again = rest

        out = self.sh(status)
        for pod in ["queue"] + WORKERS:
            self.assertRegex(out, r"(?m)^%s\b" % pod, out)

        self.assertEqual(self.sh(push).strip(), "pushed %d items to words" % n)
        counts = self.wait_for(self.drained, 60, "every item done")
        self.assertEqual(counts, {"ready": 0, "delayed": 0, "leased": 0, "done": n, "dead": 0})
        self.assertLessEqual(self.most_leased, len(WORKERS))  # one item at a time per worker

        row = self.table_row(self.sh(table))
        self.assertEqual((row["READY"], row["LEASED"], row["DONE"], row["DEAD"]),
                         ("0", "0", str(n), "0"))
        out = self.sh(detail)
        self.assertRegex(out, r"(?m)^done\s+%d$" % n)
        self.assertRegex(out, r"(?m)^dead\s+0$")

        # Every item was acked once with the summary the worker printed as its result.
        for i in range(1, n + 1):
            status_code, body = self.http("http://127.0.0.1:7700/v1/items/%d" % i)
            self.assertEqual(status_code, 200, body)
            item = json.loads(body)
            self.assertEqual(item["state"], "done", item)
            self.assertRegex(item["result"], r"^%s/[^:]+: \d+ words, .* \(item %d\)\n$"
                             % (CORPUS, i))

        # A result, against this test's own count of GPL-3.
        expected = word_counts(os.path.join(CORPUS, "GPL-3"))
        lines = self.sh(head).splitlines()
        self.assertEqual(len(lines), 6)
        self.assertRegex(lines[0], r"^%s/GPL-3: %d words, %d distinct, counted by work-[012] "
                         % (CORPUS, sum(expected.values()), len(expected)))
        top = sorted(expected.items(), key=lambda c: (-c[1], c[0]))[:5]
        self.assertEqual([tuple(l.split()) for l in lines[1:]],
                         [(str(c), w) for w, c in top])
        with open(os.path.join(self.counts, "GPL-3"), encoding="utf-8") as f:
            whole = {w: int(c) for c, w in (l.split() for l in f.read().splitlines()[1:])}
        self.assertEqual(whole, dict(expected))
        # The README's numbers are this machine's.
        with open(os.path.join(extest.REPO, README), encoding="utf-8") as f:
            text = " ".join(f.read().split())
        self.assertIn("pushed %d items to words" % n, text)
        self.assertIn("GPL-3 has %d words, `the` first with %d"
                      % (sum(expected.values()), expected["the"]), text)
        self.assertEqual(top[0][0], "the")

        # One summary per file, and all three workers counted some.
        firsts = self.sh(firsts).splitlines()
        self.assertEqual(sorted(l.split(":")[0] for l in firsts),
                         sorted(os.path.join(CORPUS, f) for f in self.files))
        by = collections.Counter(re.search(r"counted by (\S+) ", l).group(1) for l in firsts)
        self.assertEqual(sorted(by), WORKERS, firsts)
        # The workers' own counts agree: each acked its share, none failed or lost a lease.
        done = {}
        for pod in WORKERS:
            s = self.worker_status(pod)
            self.assertEqual((s["failed"], s["dead"], s["lost"]), (0, 0, 0), s)
            done[pod] = s["done"]
        self.assertEqual(sum(done.values()), n, done)
        self.assertTrue(all(done.values()), done)

        # The queue killed, restarted, and its store as it was.
        self.sh(kill)
        def restarted():
            queue = self.pods().get("queue")
            return queue and queue["containers"][0]["restartCount"] >= 1
        self.wait_for(restarted, 60, "the queue restarted")
        self.wait_ready(["queue"])
        row = self.table_row(self.sh(table_again))
        self.assertEqual((row["READY"], row["LEASED"], row["DONE"], row["DEAD"]),
                         ("0", "0", str(n), "0"))

        self.stop()


if __name__ == "__main__":
    extest.main()

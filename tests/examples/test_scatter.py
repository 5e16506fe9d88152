"""examples/scatter: the README's commands, run as written, and what the README says of them.

The top 10 is computed here from the corpus, independently of the leaf's code, and compared
exactly (hits, order, ties); every shard answers; with one replica slowed by `tender pod delay`,
the hedged root's median latency is well below the unhedged root's (the example's claim, the
only timing compared, and relatively: medians of 20 requests each, with a wide margin).
The replica is slowed by the leaf itself (POST /delay): `tender pod delay` needs netem, which
not every kernel has.
"""
import os
import re
import statistics
import sys

import extest

README = "examples/scatter/README.md"
CORPUS = "/usr/share/common-licenses"
SHARDS = 4
K = 10


def corpus_paragraphs():
    """(doc, text) of every paragraph, in the order the README describes: the regular files of
    the corpus by name, each split into runs of non-blank lines."""
    docs = []
    for name in sorted(os.listdir(CORPUS)):
        path = os.path.join(CORPUS, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        start = None
        for number, line in enumerate(lines + [""], 1):
            if line.strip() and start is None:
                start = number
            elif not line.strip() and start is not None:
                docs.append(("%s:%d" % (name, start), "\n".join(lines[start - 1:number - 1])))
                start = None
    return docs


def expected_top(word):
    """The README's claim: the K paragraphs where `word` occurs most, equal scores to the lower
    shard first, then in corpus order."""
    hits = []
    for i, (doc, text) in enumerate(corpus_paragraphs()):
        score = re.findall(r"[a-z0-9]+", text.lower()).count(word)
        if score:
            hits.append((-score, i % SHARDS, i, {"score": score, "doc": doc, "shard": i % SHARDS,
                                                 "text": " ".join(text.split())[:100]}))
    hits.sort(key=lambda h: h[:3])
    return [h[3] for h in hits[:K]]


class Scatter(extest.Example):
    def test_readme(self):
        cmds = extest.readme_commands(README)
        run = [c for c in cmds if c.startswith("tender pod run ")]
        self.assertEqual(len(run), 1, cmds)
        self.run_pods(run[0].split()[3])
        pods = self.wait_ready()
        leaves = ["shard-%d-%d" % (s, r) for s in range(SHARDS) for r in range(2)]
        self.assertEqual(sorted(pods), sorted(leaves + ["root", "root-hedged"]))
        search, timing, slow, compare, metrics, fast = [c for c in cmds if c not in run]

        # The top 10, exactly; the same through both roots.
        want = expected_top("software")
        self.assertEqual(len(want), K)
        got = extest.json.loads(self.sh(search))
        self.assertEqual(got, {"hits": want})
        # The README's words on it: 7, seven 5s, and two of the three paragraphs with 4.
        self.assertEqual([h["score"] for h in want], [7] + [5] * 7 + [4] * 2)
        self.assertEqual(want[0]["doc"], "GPL-2:11")
        fours = [d for d, text in corpus_paragraphs()
                 if re.findall(r"[a-z0-9]+", text.lower()).count("software") == 4]
        self.assertEqual(len(fours), 3, fours)
        hedged = self.sh(search.replace("8088", "8089"))
        self.assertEqual(extest.json.loads(hedged), {"hits": want})

        # Every shard answered.
        header = self.sh(timing).strip()
        self.assertRegex(header, r"(?i)^x-tender-shards: ")
        shards = [s.strip().split(";") for s in header.split(":", 1)[1].split(",")]
        self.assertEqual(sorted(s[0] for s in shards), ["s0", "s1", "s2", "s3"], header)
        for s in shards:
            self.assertRegex(s[1], r"^ms=\d+\.\d+$", header)
            self.assertNotIn("missing", s, header)

        # One slow replica: the hedged root's median is well below the unhedged one's.
        self.assertEqual(extest.json.loads(self.sh(slow)), {"delay_ms": 400})
        plain, hedge = [], []
        for _ in range(2):  # 10 requests through each root per run of the README's loop
            for line in self.sh(compare, timeout=120).splitlines():
                m = re.fullmatch(r"root ([\d.]+)s\s+root-hedged ([\d.]+)s", line.strip())
                self.assertIsNotNone(m, line)
                plain.append(float(m.group(1)))
                hedge.append(float(m.group(2)))
        self.assertEqual((len(plain), len(hedge)), (20, 20))
        slow_median, hedged_median = statistics.median(plain), statistics.median(hedge)
        print("medians of 20: root %.3fs, root-hedged %.3fs" % (slow_median, hedged_median),
              file=sys.stderr)
        self.assertLess(hedged_median * 3, slow_median,
                        "medians: root %.3fs, root-hedged %.3fs\nroot: %s\nroot-hedged: %s"
                        % (slow_median, hedged_median, plain, hedge))
        # ... because shard s0 was hedged, and the hedges won.
        counts = {}
        for line in self.sh(metrics).splitlines():
            m = re.fullmatch(r'tender_scatter_hedges_total\{(.*)\} (\d+)', line)
            self.assertIsNotNone(m, line)
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            counts[(labels["shard"], labels["outcome"])] = int(m.group(2))
        self.assertEqual({s for s, _ in counts}, {"s0"}, counts)
        self.assertGreaterEqual(counts[("s0", "won")], 8, counts)  # about 10 of the 20
        self.assertGreaterEqual(counts[("s0", "sent")], counts[("s0", "won")], counts)
        # Answers stay right while a replica is slow, through both roots.
        self.assertEqual(extest.json.loads(self.sh(search)), {"hits": want})
        self.assertEqual(extest.json.loads(self.sh(search.replace("8088", "8089"))),
                         {"hits": want})

        self.assertEqual(extest.json.loads(self.sh(fast)), {"delay_ms": 0})
        self.assertEqual(extest.json.loads(self.tender(
            "pod", "exec", "shard-0-0", "--", "curl", "-s", "localhost:8000/delay")),
            {"delay_ms": 0})
        self.stop()


if __name__ == "__main__":
    extest.main()

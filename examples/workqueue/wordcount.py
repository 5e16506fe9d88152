"""The work of one queue item, as `tender work` runs it: the payload (on stdin) is the path of
a text file; its word counts go to OUTDIR/<the file's name>, most frequent first, under a
line that says how many words it has and which worker counted them. That line is also printed,
so it becomes the item's result in the queue. A word is a run of letters, lowercased.

    python3 examples/workqueue/wordcount.py OUTDIR < payload

Running it twice for the same file writes the same counts (the queue delivers at least once).
"""
import collections
import os
import re
import sys


def main():
    outdir = sys.argv[1]
    path = sys.stdin.read().strip()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            words = re.findall(r"[a-z]+", f.read().lower())
    except OSError as e:
        sys.exit("cannot read %r: %s" % (path, e.strerror))  # exit 1: the item is retried
    counts = collections.Counter(words)
    worker = os.environ.get("POD_NAME", "?")
    summary = "%s: %d words, %d distinct, counted by %s (item %s)" % (
        path, len(words), len(counts), worker, os.environ.get("TENDER_ITEM_ID", "?"))
    lines = [summary]
    lines += ["%7d %s" % (n, w) for w, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))]
    out = os.path.join(outdir, os.path.basename(path))
    tmp = "%s.%s.tmp" % (out, worker)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)  # whole or not at all, whichever worker writes it last
    print(summary)


if __name__ == "__main__":
    main()

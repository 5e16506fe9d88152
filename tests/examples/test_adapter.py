"""examples/adapter: redis-server's INFO, adapted by `tender adapt --redis`, appears at the
adapter's hostPort as Prometheus metrics with the server's true numbers, and through the
runner's own /metrics with the pod's labels."""
import re

import extest

README = "examples/adapter/README.md"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def samples(text):
    """{(name, frozenset of labels): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                          m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text, name, **labels):
    """The value of the sample NAME whose labels include LABELS (None: no such sample)."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples(text).items() if n == name and want <= ls]
    return found[0] if len(found) == 1 else None


class Adapter(extest.Example):
    def test_readme(self):
        run, up, mset, expire, keys, commands, scraped = extest.readme_commands(README)
        self.assertTrue(run.startswith("tender pod run "), run)
        self.run_pods(*run.split()[3:])
        self.wait_ready(["cache"])

        first = self.wait_for(lambda: self.sh(up, check=False).stdout, 30, "redis_up")
        self.assertEqual(value(first, "redis_up"), 1, first)
        self.assertEqual(value(first, "redis_db_keys", db="db0"), 0, first)
        self.assertEqual(value(first, "redis_db_keys_expiring", db="db0"), 0, first)
        self.assertEqual(len(first.splitlines()), 3, first)

        self.assertEqual(self.sh(mset).strip(), "OK")
        self.assertEqual(self.sh(expire).strip(), "1")
        # The adapter answers a scrape within a second of the last from that fetch (its cache).
        after = self.wait_for(
            lambda: (lambda t: t if value(t, "redis_db_keys", db="db0") == 3 else None)(
                self.sh(keys)), 30, "redis_db_keys 3")
        self.assertEqual(value(after, "redis_db_keys_expiring", db="db0"), 1, after)
        self.assertEqual(value(after, "redis_up"), 1, after)
        self.assertTrue(590 < value(after, "redis_db_avg_ttl_seconds", db="db0") <= 600, after)
        counted = self.sh(commands)
        self.assertEqual(value(counted, "redis_commands_total", cmd="mset"), 1, counted)
        self.assertEqual(value(counted, "redis_commands_total", cmd="expire"), 1, counted)
        self.assertEqual(len(counted.splitlines()), 2, counted)

        # The runner scrapes the adapter (the pod's prometheus.io/port) into its own /metrics.
        runner = self.wait_for(
            lambda: (lambda t: t if t and value(t, "redis_db_keys", db="db0", pod="cache",
                                                 container="adapt") == 3 else None)(
                self.api("/metrics", raw=True)), 60, "redis_db_keys in the runner's /metrics")
        self.assertEqual(value(runner, "redis_up", pod="cache", container="adapt"), 1)
        lines = self.sh(scraped)
        for name, want in (("redis_db_keys", 3), ("redis_db_keys_expiring", 1)):
            self.assertEqual(value(lines, name, db="db0", pod="cache", container="adapt"), want,
                             lines)

        self.stop()


if __name__ == "__main__":
    extest.main()

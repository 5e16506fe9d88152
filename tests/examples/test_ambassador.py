"""examples/ambassador: the app writes through localhost:6379, the proxy in its pod shards the
keys over redis-0 and redis-1 (each key on exactly one, both used), and reads come back from
the shard that has the key."""
import os

import extest

README = "examples/ambassador/README.md"
N = 100


class Ambassador(extest.Example):
    def keys_on(self, pod):
        out = self.tender("pod", "exec", pod, "--", "redis-cli", "--raw", "keys", "key:*")
        return set(out.split())

    def test_readme(self):
        run, fill, dbsize0, dbsize1, get, get0, get1, clusters = \
            extest.readme_commands(README)
        self.assertTrue(run.startswith("tender pod run "), run)
        self.run_pods(*run.split()[3:])
        self.wait_ready(["redis-0", "redis-1", "app"])

        self.assertEqual(self.sh(fill).strip(),
                         "wrote key:1 ... key:%d through 127.0.0.1:6379" % N)
        sizes = [int(self.sh(dbsize0)), int(self.sh(dbsize1))]
        self.assertEqual(sum(sizes), N, sizes)
        self.assertTrue(all(s > N // 4 for s in sizes), "an uneven split: %s" % sizes)
        with open(os.path.join(extest.REPO, README), encoding="utf-8") as f:
            self.assertIn("`dbsize` answers %d and %d" % tuple(sizes), f.read(),
                          "the README states another split")

        self.assertEqual(self.sh(get).strip(), "value-42")
        self.assertEqual(self.sh(get0), "\n")        # not on redis-0 (nil)
        self.assertEqual(self.sh(get1), "value-42\n")

        # Every key on exactly one shard, and every read answered from it.
        shards = [self.keys_on("redis-0"), self.keys_on("redis-1")]
        self.assertEqual([len(s) for s in shards], sizes)
        self.assertFalse(shards[0] & shards[1])
        self.assertEqual(shards[0] | shards[1], {"key:%d" % i for i in range(1, N + 1)})
        for i in range(1, N + 1):
            self.assertEqual(self.http("http://127.0.0.1:8085/key:%d" % i),
                             (200, "value-%d\n" % i))
        self.assertEqual(self.http("http://127.0.0.1:8085/key:0")[0], 404)

        # The proxy's view: each SET and GET went to its key's shard (a SET and a GET per key,
        # the README's read of key:42 on redis-1, the miss of key:0 on either).
        view = [line.split() for line in self.sh(clusters).splitlines()]
        self.assertEqual([v[:2] for v in view],
                         [["redis-0.redis:6379", "healthy"], ["redis-1.redis:6379", "healthy"]], view)
        requests = [int(v[2]) for v in view]
        self.assertIn(requests, ([2 * sizes[0], 2 * sizes[1] + 2],
                                 [2 * sizes[0] + 1, 2 * sizes[1] + 1]), view)

        self.stop()


if __name__ == "__main__":
    extest.main()

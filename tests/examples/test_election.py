"""examples/election: three replicas beside `tender elect`, over a lock file and over a
3-member etcd. The README's commands run as written: the board names one leader and its token,
the app's elector agrees, killing the leader's pod hands the term to another replica with a
larger token, and the killed pod comes back as a follower. Meanwhile a watcher asks the board
all the time: never two leaders at once, a token belongs to one replica, tokens only grow; and
the apps' logs show work done only under a term the replica led.
"""
import json
import os
import re
import threading

import extest

README = "examples/election/README.md"
LOCK_DIR = "/tmp/tender-election"  # file.yaml's hostPath; each test run uses its own instead
APPS = ["app-0", "app-1", "app-2"]
LEADS = re.compile(r"^(app-\d): I am the leader, token (\d+) \((\d+) jobs? done\)$")
FOLLOWS = re.compile(r"^(app-\d): follower, (app-\d) leads with token (\d+)$")
NO_ANSWER = re.compile(r"^(app-\d): no answer \(.*\)$")


class Watcher(threading.Thread):
    """Asks the board over and over (it asks the three replicas together) and keeps every
    answer: a picture of who says it leads, with which token."""

    def __init__(self, test):
        super().__init__(daemon=True)
        self.test = test
        self.snapshots = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            code, body = self.test.http("http://127.0.0.1:8086/status", timeout=5)
            if code == 200:
                self.snapshots.append(json.loads(body)["replicas"])
            self.done.wait(0.05)

    def stop(self):
        self.done.set()
        self.join(10)


class Election(extest.Example):
    def setUp(self):
        super().setUp()
        self.lock_dir = os.path.join(self.tmp, "tender-election")
        commands = extest.readme_commands(README)
        self.runs = {c.split()[3]: c for c in commands if c.startswith("tender pod run ")}
        self.tries = [c for c in commands if not c.startswith("tender pod run ")]

    # This run's own lock directory instead of the one a run by hand leaves in /tmp.
    def localize(self, manifest):
        path = super().localize(manifest)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(LOCK_DIR, self.lock_dir))
        return path

    def rewrite(self, command):
        return super().rewrite(command).replace(LOCK_DIR, self.lock_dir)

    def test_file(self):
        token = self.tour("examples/election/file.yaml")
        # The token is kept in the lock file: the next run's first term is a larger one.
        self.run_pods("examples/election/file.yaml")
        _, first = self.wait_for(self.one_leader, 60, "one leader in the second run")
        self.assertGreater(first, token)
        self.stop()

    def test_etcd(self):
        self.tour("examples/election/etcd.yaml")

    # --- the tour -------------------------------------------------------------------------

    def tour(self, manifest):
        self.assertIn(manifest, self.runs, "README runs %s" % manifest)
        self.assertEqual(len(self.tries), 4, self.tries)
        board, ask_elect, kill, board_again = self.tries
        self.assertEqual(board, board_again)
        self.assertIn("tender pod kill", kill)

        # The runner's default restart backoff, as in the README: the killed pod stays away
        # 10 s, longer than a term lasts without renewal (2 s), so another replica takes over.
        self.run_pods(manifest, args=["--restart-backoff", "10s:300s"])
        self.wait_ready()
        leader, token = self.wait_for(self.one_leader, 60, "one leader on the board")
        watcher = Watcher(self)
        watcher.start()
        try:
            # The board: one replica leads, the others follow it, all with the same token.
            leader, token = self.read_board(self.sh(board))
            self.wait_for(lambda: self.jobs_of(leader) > 0, 30, "the leader doing its work")

            # What the app asks its elector.
            asked = re.search(r"tender pod exec (\S+) ", ask_elect).group(1)
            answer = json.loads(self.sh(ask_elect))
            self.assertEqual((answer["name"], answer["token"], answer["self"]),
                             (leader, token, asked == leader), answer)
            if "file" in manifest:
                self.assertLockRecord(leader, token)

            # Kill the leader's pod: another replica leads, with a larger token.
            restarts = self.app_restarts(leader)
            killed = json.loads(self.sh(kill))
            self.assertEqual((killed["pod"], killed["signal"]), (leader, "SIGKILL"), killed)
            new_leader, new_token = self.wait_for(
                lambda: self.one_leader(other_than=leader), 60, "another leader")
            self.assertGreater(new_token, token)
            shown_leader, shown_token = self.read_board(self.sh(board_again), killed=leader)
            self.assertEqual((shown_leader, shown_token), (new_leader, new_token))
            if "file" in manifest:
                self.assertLockRecord(new_leader, new_token)

            # The killed replica comes back, as a follower of the new leader.
            self.wait_for(lambda: self.app_restarts(leader) > restarts, 60,
                          "%s restarted" % leader)
            self.wait_for(lambda: self.follows(leader, new_leader, new_token), 60,
                          "%s back as a follower of %s" % (leader, new_leader))
        finally:
            watcher.stop()
        self.check_watched(watcher.snapshots, token, new_token)
        self.check_logs()
        self.assertIn("%s/app | leading now, token %d" % (new_leader, new_token),
                      self.runners[-1].lines)
        self.stop()
        # Every replica stopped cleanly, its elector leaving the election.
        output = self.runners[-1].output(last=100000)
        for pod in APPS:
            for container in ("app", "elect"):
                self.assertIn('container exited pod=%s container=%s status="exited 0"'
                              % (pod, container), output)
            self.assertRegex(output, r"%s/elect \| .* left the election" % pod)
        return new_token

    # --- looking --------------------------------------------------------------------------

    def statuses(self):
        code, body = self.http("http://127.0.0.1:8086/status")
        return json.loads(body)["replicas"] if code == 200 else None

    def one_leader(self, other_than=None):
        """(leader, token) when exactly one replica leads (not `other_than`) and every other
        that answers follows it; else None."""
        statuses = self.statuses()
        if not statuses:
            return None
        leaders = [s for s in statuses if s.get("self")]
        if len(leaders) != 1 or leaders[0]["pod"] == other_than:
            return None
        leader, token = leaders[0]["pod"], leaders[0]["token"]
        for s in statuses:
            if s is not leaders[0] and "error" not in s and (s["leader"], s["token"]) != (leader, token):
                return None
        return leader, token

    def jobs_of(self, pod):
        for s in self.statuses() or []:
            if s["pod"] == pod and "error" not in s:
                return s["jobs"]
        return 0

    def follows(self, pod, leader, token):
        for s in self.statuses() or []:
            if s["pod"] == pod and "error" not in s:
                return not s["self"] and (s["leader"], s["token"]) == (leader, token)
        return False

    def app_restarts(self, pod):
        containers = self.pods()[pod]["containers"]
        return [c for c in containers if c["name"] == "app"][0]["restartCount"]

    def read_board(self, text, killed=None):
        """The board's lines as the README shows them: one leader, the rest following it (the
        killed pod may not answer yet); (leader, token)."""
        lines = text.splitlines()
        self.assertEqual([line.split(":")[0] for line in lines], APPS, text)
        leads = [LEADS.match(line) for line in lines if LEADS.match(line)]
        self.assertEqual(len(leads), 1, text)
        leader, token = leads[0].group(1), int(leads[0].group(2))
        for line in lines:
            if LEADS.match(line):
                continue
            follows = FOLLOWS.match(line)
            if follows:
                self.assertEqual((follows.group(2), int(follows.group(3))), (leader, token), text)
            else:
                self.assertTrue(killed and line.startswith(killed + ":"), text)
        return leader, token

    def assertLockRecord(self, leader, token):
        """file.yaml's lock file holds the term: its token and holder."""
        with open(os.path.join(self.lock_dir, "leader.lock"), encoding="utf-8") as f:
            record = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        self.assertEqual((record["election"], record["holder"], int(record["token"])),
                         ("example", leader, token), record)

    def check_watched(self, snapshots, first_token, last_token):
        """Never two leaders in one picture; a token is one replica's; tokens only grow."""
        self.assertGreater(len(snapshots), 10)
        holder, highest = {}, 0
        for statuses in snapshots:
            leaders = [s for s in statuses if s.get("self")]
            self.assertLessEqual(len(leaders), 1, statuses)
            for s in leaders:
                self.assertEqual(holder.setdefault(s["token"], s["pod"]), s["pod"], statuses)
                self.assertGreaterEqual(s["token"], highest, statuses)
                highest = s["token"]
        self.assertIn(first_token, holder)
        self.assertIn(last_token, holder)

    def check_logs(self):
        """Each app logs `leading now, token T` and works (`job N done as the leader, token T`)
        only under a term it leads; no term is led by two replicas."""
        led_by = {}
        for pod in APPS:
            log = self.tender("pod", "logs", pod, "-c", "app")
            mine = set()
            for line in log.splitlines():
                m = re.match(r"leading now, token (\d+)$", line)
                if m:
                    token = int(m.group(1))
                    self.assertEqual(led_by.setdefault(token, pod), pod, "token %d" % token)
                    mine.add(token)
                m = re.match(r"job \d+ done as the leader, token (\d+)$", line)
                if m:
                    self.assertIn(int(m.group(1)), mine, "%s worked outside its term:\n%s"
                                  % (pod, log))
        self.assertGreaterEqual(len(led_by), 2, led_by)


if __name__ == "__main__":
    extest.main()

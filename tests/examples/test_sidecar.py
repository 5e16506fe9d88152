"""examples/sidecar: the app's numbered log lines, shipped by the tail sidecar, arrive every one,
once and in order, across the app's rotations, a restart of the sidecar and the pod's stop."""
import os
import re

import extest

README = "examples/sidecar/README.md"
LINE = re.compile(r" INFO line (\d+)$")


def shipped(text):
    """The line numbers of the app's lines in a log of the tail container, in its order."""
    return [int(m.group(1)) for m in map(LINE.search, text.splitlines()) if m]


class Sidecar(extest.Example):
    def assert_complete(self, numbers, what):
        self.assertTrue(numbers, what + ": no line shipped")
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)),
                         what + ": lines missing, repeated or out of order")

    def test_readme(self):
        run, last3, ls, kill, count = extest.readme_commands(README)
        self.assertTrue(run.startswith("tender pod run "), run)
        self.run_pods(*run.split()[3:])
        self.wait_ready(["writer"])

        # Past two rotations (every 100 lines), shipped in order and whole.
        self.wait_for(lambda: int(self.sh(count, check=False).stdout or 0) >= 250, 60,
                      "250 lines shipped")
        numbers = shipped(self.sh(last3))
        self.assertEqual(len(numbers), 3, numbers)
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + 3)))
        self.assert_complete(shipped(self.tender("pod", "logs", "writer", "-c", "tail")),
                             "before the restart")
        files = self.sh(ls).split()
        self.assertIn("app.log", files)
        self.assertIn("app.log.1", files)

        # A restart of the sidecar: it resumes from its checkpoint, nothing lost or twice.
        before = int(self.sh(count))
        self.sh(kill)
        self.wait_for(lambda: self.tail()["restartCount"] == 1 and self.tail()["ready"], 60,
                      "the tail sidecar restarted and ready")
        self.wait_for(lambda: int(self.sh(count)) >= before + 100, 60,
                      "100 more lines shipped after the restart")
        self.assert_complete(shipped(self.tender("pod", "logs", "writer", "-c", "tail")),
                             "after the restart")

        # Ctrl-C: the app stops first and says how many lines it wrote; the sidecar ships
        # them all before it stops.
        self.stop()
        runner = self.runners[-1]
        wrote = [int(m.group(1)) for m in
                 (re.search(r"writer/app \| wrote (\d+) lines$", l) for l in runner.lines) if m]
        self.assertEqual(len(wrote), 1, runner.output())
        log = os.path.join(self.tmp, "run", "pods", "writer", "logs", "tail.log")
        with open(log, encoding="utf-8", errors="replace") as f:
            numbers = shipped(f.read())
        self.assert_complete(numbers, "after the stop")
        self.assertEqual(numbers[-1], wrote[0], "the app's last lines were not all shipped")

    def tail(self):
        return next(c for c in self.pods()["writer"]["initContainers"] if c["name"] == "tail")


if __name__ == "__main__":
    extest.main()

"""`tender elect`'s panel in headless Chromium: three electors on one lock file."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402


class ElectView(uitest.TestCase):
    def start_electors(self, n=3):
        lock = os.path.join(self.tmp, "leader.lock")
        return [self.start("elect", "--election", "db", "--id", "e%d" % i,
                           "--backend", "file:" + lock, "--ttl", "1s", "--listen", "127.0.0.1:0")
                for i in range(n)]

    @staticmethod
    def status(p):
        _, _, body = http("GET", p.url("statusz"))
        return json.loads(body)["status"]

    def leader_of(self, electors):
        """(the leading process, its token) once one of them leads."""
        def find():
            for p in electors:
                if p.proc.poll() is None:
                    st = self.status(p)
                    if st["state"] == "leader":
                        return p, st["leader"]["token"]
            return None
        return wait_for(find, 15, "a leader")

    def term_rows(self):
        return self.find_all("#elect-terms tbody tr")

    def test_shows_the_leader_and_follows_a_new_term(self):
        electors = self.start_electors()
        leader, token = self.leader_of(electors)
        follower = next(p for p in electors if p is not leader)
        ids = {p: "e%d" % i for i, p in enumerate(electors)}
        self.browser.get(follower.url("ui"))
        self.wait_text("#panel-title", "Election")
        self.wait_text("#elect-leader", ids[leader])
        self.wait_text("#elect-token", str(token))
        self.wait_text("#elect-self", "follows")
        self.wait_text("#elect-backend", "file")
        self.wait_text("#elect-backend", "answers")
        wait_for(lambda: "expires in" in self.text("#elect-lease"), 10, "the lease's expiry")
        wait_for(lambda: any(ids[leader] in r.text and str(token) in r.text for r in self.term_rows()),
                 10, "the leader's term in the timeline")
        self.assertFalse(self.find("#elect-resign").is_displayed(), "a follower offers no Resign")
        terms_before = len(self.term_rows())

        leader.stop(signal.SIGTERM)  # resigns first: another member leads at once
        rest = [p for p in electors if p is not leader]
        new_leader, new_token = self.leader_of(rest)
        self.assertGreater(new_token, token)
        self.wait_text("#elect-leader", ids[new_leader])
        self.wait_text("#elect-token", str(new_token))
        # The newest row is the new term (a "no leader" row may come between the two).
        newest = lambda: self.term_rows()[0].find_elements("css selector", "td")  # noqa: E731
        wait_for(lambda: [c.text for c in newest()][:2] == [ids[new_leader], str(new_token)], 10,
                 "the timeline to gain the new term")
        self.assertGreater(len(self.term_rows()), terms_before)
        self.assertEqual(newest()[3].text, "current")
        self.assertEqual(self.console_errors(), [])
        self.screenshot("elect")

    def test_resign_on_the_leaders_page_hands_over_and_stands_again(self):
        electors = self.start_electors(2)
        leader, token = self.leader_of(electors)
        other = next(p for p in electors if p is not leader)
        self.browser.get(leader.url("ui"))
        self.wait_text("#elect-self", "leads")
        button = wait_for(lambda: self.find("#elect-resign") if self.find("#elect-resign").is_displayed()
                          else None, 10, "the Resign button")
        button.click()
        alert = wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation")
        self.assertIn("Resign leadership", alert.text)
        self.assertIn("stands again", alert.text)
        alert.accept()
        self.wait_text("#notice", '"resigned":true')
        new_leader, new_token = self.leader_of([other])
        self.assertGreater(new_token, token)
        # The resigned member stays in the election: it follows the new term, still ready.
        self.wait_text("#elect-self", "follows")
        self.wait_text("#elect-token", str(new_token))
        wait_for(lambda: not self.find("#elect-resign").is_displayed(), 10, "Resign to go")
        self.assertIsNone(leader.proc.poll(), "the resigned member keeps running")
        st = self.status(leader)
        self.assertEqual((st["state"], st["leader"]["token"]), ("follower", new_token))
        self.assertEqual(http("GET", leader.url("readyz"))[0], 200)
        status, _, body = http("GET", leader.url("v1/leader", name="listen"))
        self.assertEqual((status, json.loads(body)["name"]), (200, "e%d" % electors.index(other)))

        # A page of another origin cannot make a member resign.
        status, _, text = http("POST", other.url("v1/resign"), "", {"Origin": "http://attacker.example"})
        self.assertEqual(status, 403, text)
        self.assertEqual(self.status(other)["state"], "leader")
        self.assertEqual(self.console_errors(), [])


if __name__ == "__main__":
    uitest.main()

"""`tender queue`'s and `tender work`'s panels in headless Chromium, on a real SQLite queue.

The queue's API is on --listen; the admin listener the page talks to serves its dead-letter
routes too. The test makes items dead through the API, as a worker would, and requeues them
with the panel's buttons.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uitest  # noqa: E402
from uitest import http, wait_for  # noqa: E402


class QueueView(uitest.TestCase):
    def start_queue(self):
        return self.start("queue", "--store", "sqlite:" + os.path.join(self.tmp, "queue.db"),
                          "--listen", "127.0.0.1:0")

    @staticmethod
    def api(q, method, path, body="", headers=None):
        status, _, text = http(method, q.url(path, name="listen"), body, headers or {})
        return status, text

    def row(self, queue):
        return self.find('#queues tbody tr[data-key="%s"]' % queue)

    def cell(self, queue, column):
        """The text of a queue's column, by its header."""
        heads = [th.text for th in self.find_all("#queues thead th")]
        return self.row(queue).find_elements("css selector", "th, td")[heads.index(column)].text

    def test_counts_dead_letters_and_a_requeue(self):
        q = self.start_queue()
        status, text = self.api(q, "POST", "v1/queues/jobs/items", "doomed",
                                {"Tender-Max-Attempts": "1"})
        self.assertEqual(status, 201, text)
        doomed = json.loads(text)["id"]
        for i in range(2):
            status, text = self.api(q, "POST", "v1/queues/jobs/items", "job %d" % i)
            self.assertEqual(status, 201, text)
        status, text = self.api(q, "POST", "v1/queues/jobs/lease?n=1")
        self.assertEqual(status, 200, text)
        leased = json.loads(text)["items"][0]
        self.assertEqual(leased["id"], doomed)
        status, text = self.api(q, "POST", "v1/items/%d/nack?lease_id=%s" % (doomed, leased["lease_id"]),
                                "exit status 3: no such file")
        self.assertEqual((status, json.loads(text)["state"]), (200, "dead"), text)

        self.browser.get(q.url("ui"))
        self.wait_text("#panel-title", "Queues")
        self.wait_text("#queue-api", q.addresses["listen"])
        wait_for(lambda: self.cell("jobs", "Dead") == "1", 10, "one dead item")
        self.assertEqual(self.cell("jobs", "Ready"), "2")
        self.assertIn("active", self.cell("jobs", "State"))
        dead = wait_for(lambda: self.find('#dead-letters tbody tr[data-key="jobs/%d"]' % doomed), 10,
                        "the dead letter listed")
        self.assertIn("no such file", dead.text)
        self.assertTrue(self.row("jobs").find_element("xpath", ".//button[text()='Requeue all']")
                        .is_displayed())
        wait_for(lambda: self.cell("jobs", "Enqueued /s") not in ("", "\u2013"), 10, "a rate")
        self.screenshot("queue")

        # A page of another origin cannot requeue through the operator's browser.
        requeue = "v1/queues/jobs/dead/%d/requeue" % doomed
        status, _, text = http("POST", q.url(requeue), "", {"Origin": "http://attacker.example"})
        self.assertEqual(status, 403, text)
        status, _, text = http("GET", q.url("v1/queues/jobs/dead/%d" % doomed))
        self.assertEqual((status, json.loads(text)["state"]), (200, "dead"), text)

        dead.find_element("xpath", ".//button[text()='Requeue']").click()
        self.wait_text("#notice", "requeued")
        wait_for(lambda: not self.find_all("#dead-letters tbody tr"), 10, "the dead list to empty")
        wait_for(lambda: self.cell("jobs", "Ready") == "3", 10, "three ready items")
        self.assertEqual(self.cell("jobs", "Dead"), "0")
        self.assertFalse(self.row("jobs").find_element("xpath", ".//button[text()='Requeue all']")
                         .is_displayed(), "no bulk actions without dead letters")
        self.wait_text("#dead-note", "No dead letters")
        status, text = self.api(q, "GET", "v1/queues/jobs/dead")
        self.assertEqual((status, json.loads(text)["items"]), (200, []), text)
        self.assertEqual(self.console_errors(), [])

    def test_requeue_all_asks_first(self):
        q = self.start_queue()
        ids = []
        for i in range(3):
            status, text = self.api(q, "POST", "v1/queues/mail/items", "bounce %d" % i,
                                    {"Tender-Max-Attempts": "1"})
            self.assertEqual(status, 201, text)
            ids.append(json.loads(text)["id"])
        status, text = self.api(q, "POST", "v1/queues/mail/lease?n=3")
        self.assertEqual(status, 200, text)
        for it in json.loads(text)["items"]:
            self.assertEqual(self.api(q, "POST", "v1/items/%d/bury?lease_id=%s" % (it["id"], it["lease_id"]),
                                      "550 no such user")[0], 200)
        self.browser.get(q.url("ui"))
        wait_for(lambda: len(self.find_all("#dead-letters tbody tr")) == 3, 10, "three dead letters")
        button = self.row("mail").find_element("xpath", ".//button[text()='Requeue all']")
        button.click()
        alert = wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation")
        self.assertIn("Requeue every dead letter of queue mail", alert.text)
        alert.dismiss()  # nothing happens
        self.assertEqual(len(self.find_all("#dead-letters tbody tr")), 3)
        button.click()
        wait_for(lambda: self.browser.switch_to.alert, 5, "the confirmation").accept()
        self.wait_text("#notice", '"requeued":3')
        wait_for(lambda: self.cell("mail", "Ready") == "3", 10, "three ready items")
        wait_for(lambda: not self.find_all("#dead-letters tbody tr"), 10, "the dead list to empty")
        self.assertEqual(self.console_errors(), [])

    def test_paused_queue_is_said_in_words(self):
        q = self.start_queue()
        self.assertEqual(self.api(q, "POST", "v1/queues/mail/items", "hi")[0], 201)
        self.browser.get(q.url("ui"))
        wait_for(lambda: "active" in self.cell("mail", "State"), 10, "the queue, active")
        self.assertEqual(self.api(q, "POST", "v1/queues/mail/pause")[0], 200)
        wait_for(lambda: "paused" in self.cell("mail", "State"), 10, "the queue, paused")


class WorkView(uitest.TestCase):
    def test_worker_shows_its_queue_command_counts_and_running_item(self):
        q = self.start("queue", "--store", "sqlite:" + os.path.join(self.tmp, "queue.db"),
                       "--listen", "127.0.0.1:0")
        ids = []
        for payload in ("fast 1", "fast 2", "slow"):
            status, _, text = http("POST", q.url("v1/queues/jobs/items", name="listen"), payload)
            self.assertEqual(status, 201, text)
            ids.append(json.loads(text)["id"])
        w = self.start("work", "--grace", "1s", "--queue", "http://" + q.addresses["listen"],
                       "--queue-name", "jobs", "--", "sh", "-c", "if grep -q slow; then sleep 60; fi")
        self.browser.get(w.url("ui"))
        self.wait_text("#panel-title", "Worker")
        self.wait_text("#work-queue", "jobs at " + "http://" + q.addresses["listen"])
        self.wait_text("#work-command", "sh -c 'if grep -q slow; then sleep 60; fi'")
        wait_for(lambda: self.text("#work-done").startswith("2"), 15, "two items done")
        self.wait_text("#work-in-flight", "1 of 1")
        running = wait_for(lambda: self.find_all("#work-running tbody tr"), 10, "the running item")
        self.assertEqual(running[0].find_elements("css selector", "td")[0].text, str(ids[2]))
        self.wait_text("#work-server", "answers")
        self.assertTrue(self.text("#work-failed").startswith("0"))
        self.assertEqual(self.console_errors(), [])
        self.screenshot("work")

if __name__ == "__main__":
    uitest.main()

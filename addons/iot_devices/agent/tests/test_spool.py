"""An offline printer: jobs wait on disk and print exactly once when it
comes back, also across agent restarts."""
import os
import shutil
import tempfile
import unittest

from member_iot_agent.agent import Agent

from .tools import call, receipt, wait_for, write_config

CUT = b"\x1dV\x00"


class OfflinePrinterTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        # the printer's directory is missing until the printer "returns"
        self.output = os.path.join(self.directory, "usb", "lp0")
        self.config = write_config(self.directory, devices=[
                {"name": "printer1", "kind": "printer", "connection": "file",
                    "path": self.output}])

    def start(self):
        agent = Agent(self.config)
        agent.start()
        self.addCleanup(agent.stop)
        return agent

    def post(self, agent, number):
        status, answer, _ = call(agent, "POST", "/print",
            receipt(title=f"Receipt {number}"))
        self.assertEqual(status, 202)
        return answer["job"]

    def job(self, agent, job):
        return call(agent, "GET", f"/jobs/{job}")[1]

    def printed(self):
        with open(self.output, "rb") as file:
            return file.read()

    def test_offline_then_back_across_restart(self):
        agent = self.start()
        jobs = [self.post(agent, n) for n in range(3)]
        # retried with backoff; the later jobs wait behind the first
        self.assertTrue(wait_for(
                lambda: self.job(agent, jobs[0])["attempts"] >= 2))
        answer = self.job(agent, jobs[0])
        self.assertEqual(answer["state"], "queued")
        self.assertIn("lp0", answer["error"])
        self.assertEqual(
            [self.job(agent, j)["state"] for j in jobs], ["queued"] * 3)
        status = call(agent, "GET", "/status")[1]
        self.assertEqual(status["devices"][0]["state"], "offline")
        agent.stop()

        # restarted while the printer is still away: the jobs are on disk
        agent = self.start()
        self.assertEqual([j["id"] for j in agent.spool.queued()], jobs)
        jobs.append(self.post(agent, 3))
        os.makedirs(os.path.dirname(self.output))
        self.assertTrue(wait_for(lambda: all(
                    self.job(agent, j)["state"] == "printed" for j in jobs)))
        data = self.printed()
        self.assertEqual(data.count(CUT), 4)
        # printed in the order they were posted
        titles = [data.index(f"Receipt {n}".encode()) for n in range(4)]
        self.assertEqual(titles, sorted(titles))
        self.assertEqual(call(agent, "GET", "/status")[1]["devices"][0][
                "state"], "ok")
        agent.stop()

        # nothing printed twice after another restart
        agent = self.start()
        self.assertEqual(agent.spool.queued(), [])
        last = self.post(agent, 4)
        self.assertTrue(wait_for(
                lambda: self.job(agent, last)["state"] == "printed"))
        self.assertEqual(self.printed().count(CUT), 5)
        self.assertEqual(self.job(agent, jobs[0])["state"], "printed")

    def test_invalid_spooled_job_fails_at_once(self):
        agent = self.start()
        os.makedirs(os.path.dirname(self.output))
        job = agent.spool.add("printer1", "receipt", {"lines": []})
        self.assertTrue(wait_for(
                lambda: self.job(agent, job["id"])["state"] == "failed"))
        self.assertEqual(self.job(agent, job["id"])["error"],
            "lines: required, a non-empty list")
        self.assertFalse(os.path.exists(self.output))

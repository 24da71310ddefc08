"""The agent's HTTP API over a real local socket, with a pty card reader
and a file printer: swipe to long poll, receipt to ESC/POS bytes."""
import os
import pty
import shutil
import tempfile
import threading
import time
import unittest

from member_iot_agent.agent import Agent

from .tools import KEY, ORIGIN, call, receipt, wait_for, write_config

CUT = b"\x1dV\x00"


class HTTPTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        self.master, slave = pty.openpty()
        self.addCleanup(os.close, self.master)
        port = os.ttyname(slave)
        os.close(slave)
        self.output = os.path.join(self.directory, "lp0")
        config = write_config(self.directory, devices=[
                {"name": "reader1", "kind": "card_reader",
                    "connection": "serial", "port": port,
                    "line_ending": "\r\n", "debounce_ms": 500},
                {"name": "printer1", "kind": "printer", "connection": "file",
                    "path": self.output, "width": 80},
                {"name": "printer2", "kind": "printer",
                    "connection": "dummy", "width": 58},
                {"name": "drawer1", "kind": "drawer", "printer": "printer1"},
                ])
        self.agent = Agent(config)
        self.agent.start()
        self.addCleanup(self.agent.stop)
        self.assertTrue(self.agent.readers[0].wait_state("ok", 5))

    def printed(self):
        try:
            with open(self.output, "rb") as file:
                return file.read()
        except FileNotFoundError:
            return b""

    def test_status(self):
        status, answer, _ = call(self.agent, "GET", "/status")
        self.assertEqual(status, 200)
        self.assertEqual(answer["box"], "test-box")
        self.assertEqual(answer["version"], "1.0.0")
        self.assertEqual(
            [(d["name"], d["kind"], d["state"]) for d in answer["devices"]],
            [("reader1", "card_reader", "ok"), ("printer1", "printer", "ok"),
                ("printer2", "printer", "ok"), ("drawer1", "drawer", "ok")])

    def test_swipe_reaches_long_poll_once(self):
        status, answer, _ = call(self.agent, "GET", "/events?timeout=0")
        self.assertEqual((status, answer["events"]), (200, []))
        since = answer["last"]
        result = {}

        def poll():
            result["answer"] = call(self.agent, "GET",
                f"/events?since={since}&timeout=10")[1]
            result["at"] = time.monotonic()
        thread = threading.Thread(target=poll)
        thread.start()
        # let the poll wait on the agent before the swipe
        time.sleep(0.3)
        swiped = time.monotonic()
        os.write(self.master, b"8800123456\r\n")
        thread.join(10)
        latency = result["at"] - swiped
        print(f"\nswipe to long-poll client: {latency * 1000:.1f} ms")
        self.assertLess(latency, 2)
        events = result["answer"]["events"]
        self.assertEqual([(e["device"], e["kind"], e["code"])
                for e in events], [("reader1", "card", "8800123456")])
        self.assertEqual(result["answer"]["last"], events[0]["id"])
        self.assertTrue(events[0]["at"].endswith("Z"))

        # the next poll from that id does not get the event again
        os.write(self.master, b"8800654321\r\n")
        status, answer, _ = call(self.agent, "GET",
            f"/events?since={events[0]['id']}&timeout=5")
        self.assertEqual([e["code"] for e in answer["events"]],
            ["8800654321"])
        status, answer, _ = call(self.agent, "GET",
            f"/events?since={answer['last']}&timeout=0.2")
        self.assertEqual(answer["events"], [])

    def test_print_and_drawer(self):
        document = receipt(open_drawer=False)
        status, answer, _ = call(self.agent, "POST", "/print",
            {"printer": "printer1", "document": document})
        self.assertEqual(status, 202)
        self.assertEqual(answer["state"], "queued")
        job = answer["job"]
        self.assertTrue(wait_for(lambda: call(
                    self.agent, "GET", f"/jobs/{job}")[1]["state"]
                == "printed"))
        status, answer, _ = call(self.agent, "GET", f"/jobs/{job}")
        self.assertEqual(answer, {"job": job, "state": "printed",
                "attempts": 1, "error": ""})
        data = self.printed()
        self.assertTrue(data.startswith(b"\x1b@\x1c&"))
        self.assertIn("Green tea 龙井".encode("gb18030"), data)
        self.assertIn(b"-" * 48 + b"\n", data)
        self.assertEqual(data.count(CUT), 1)

        # the document itself with a printer key, on the 58 mm printer
        status, answer, _ = call(self.agent, "POST", "/print",
            dict(receipt(), printer="printer2"))
        self.assertEqual(status, 202)
        dummy = self.agent.printers["printer2"].dummy
        self.assertTrue(wait_for(lambda: CUT in dummy.output))
        self.assertIn(b"-" * 32 + b"\n", dummy.output)

        status, answer, _ = call(self.agent, "POST", "/drawer",
            {"printer": "drawer1"})
        self.assertEqual(status, 202)
        self.assertTrue(wait_for(
                lambda: self.printed().endswith(b"\x1bp\x0022")))

    def test_bad_requests(self):
        def error(status, method, path, body=None, **kw):
            answer = call(self.agent, method, path, body, **kw)
            self.assertEqual(answer[0], status, answer[1])
            return answer[1]["error"]

        document = receipt(lines=[{"name": "tea", "amount": "7"},
                {"name": "cake", "amount": "x"}])
        self.assertEqual(error(400, "POST", "/print",
                {"printer": "printer1", "document": document}),
            "lines[1].amount: not a decimal")
        self.assertEqual(error(400, "POST", "/print", data=b"{not json"),
            "body: not valid JSON")
        self.assertEqual(error(404, "POST", "/print",
                {"printer": "lp9", "document": receipt()}),
            "printer: unknown printer 'lp9'")
        self.assertEqual(error(400, "POST", "/print", receipt()),
            "printer: required when there is not exactly one")
        self.assertEqual(error(401, "POST", "/print",
                {"printer": "printer1", "document": receipt()},
                key="wrong"), "X-Agent-Key: missing or wrong key")
        self.assertEqual(error(401, "GET", "/status", key=None),
            "X-Agent-Key: missing or wrong key")
        big = receipt(footer=["x" * 1000] * 300)
        self.assertEqual(error(413, "POST", "/print",
                {"printer": "printer1", "document": big}),
            "body: larger than 262144 bytes")
        self.assertEqual(error(404, "GET", "/jobs/nope"),
            "job: unknown job 'nope'")
        self.assertEqual(error(404, "GET", "/nothing"), "/nothing: not found")
        self.assertEqual(error(405, "GET", "/print"),
            "method GET not allowed")
        self.assertEqual(error(400, "GET", "/events?since=x"),
            "since: not an integer")
        self.assertEqual(error(400, "GET", "/events?timeout=-1"),
            "timeout: not a positive number")
        self.assertEqual(self.agent.spool.queued(), [])
        self.assertEqual(self.printed(), b"")

    def test_cors(self):
        status, _, headers = call(self.agent, "GET", "/status",
            headers={"Origin": ORIGIN})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], ORIGIN)
        status, _, headers = call(self.agent, "GET", "/status",
            headers={"Origin": "http://evil.example.com"})
        self.assertNotIn("Access-Control-Allow-Origin", headers)

        preflight = {"Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-agent-key, content-type"}
        status, _, headers = call(self.agent, "OPTIONS", "/print", key=None,
            headers=preflight)
        self.assertEqual(status, 204)
        self.assertEqual(headers["Access-Control-Allow-Origin"], ORIGIN)
        self.assertIn("X-Agent-Key", headers["Access-Control-Allow-Headers"])
        preflight["Origin"] = "http://evil.example.com"
        status, _, headers = call(self.agent, "OPTIONS", "/print", key=None,
            headers=preflight)
        self.assertEqual(status, 403)
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_key_is_required_with_right_value(self):
        self.assertEqual(call(self.agent, "GET", "/status", key=KEY)[0], 200)
        self.assertEqual(
            call(self.agent, "GET", "/status", key=KEY + "x")[0], 401)

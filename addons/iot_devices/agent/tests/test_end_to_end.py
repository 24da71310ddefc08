"""The whole path of the agent in one journey: a swipe on a pty card reader
reaches a long-polling HTTP client once; receipts posted to /print while the
file printer is away are printed, each exactly once and with the expected
ESC/POS bytes, when it comes back."""
import os
import pty
import shutil
import tempfile
import threading
import time
import unittest

from member_iot_agent.agent import Agent

from .tools import call, wait_for, write_config


def document(number):
    return {"language": "en", "title": f"Receipt {number}",
        "lines": [{"name": "Coffee", "amount": "25.00"}],
        "totals": [["Total", "25.00"]], "qr": "M1"}


def expected(number):
    "The ESC/POS bytes of document(number) on an 80 mm (48 columns) printer"
    rule = b"-" * 48 + b"\n"
    return (b"\x1b@"                      # ESC @: initialise
        + b"\x1c.\x1bt\x00"               # FS .: no Chinese mode; ESC t 0
        + b"\x1bE\x01\x1ba\x01"           # bold, centred
        + f"Receipt {number}\n".encode()
        + b"\x1bE\x00\x1ba\x00" + rule    # bold off, left
        + b"Coffee" + b" " * 37 + b"25.00\n" + rule
        + b"\x1bE\x01Total" + b" " * 38 + b"25.00\n\x1bE\x00"
        + b"\x1ba\x01"                    # centred native QR: GS ( k
        + b"\x1d(k\x04\x001A2\x00"        # model 2
        + b"\x1d(k\x03\x001C\x06"         # module size 6
        + b"\x1d(k\x03\x001E0"            # error correction L
        + b"\x1d(k\x05\x001P0M1"          # store "M1"
        + b"\x1d(k\x03\x001Q0"            # print
        + b"\x1ba\x00\x1bd\x06"           # left, feed 6 lines
        + b"\x1dV\x00")                   # GS V 0: full cut


class EndToEndTestCase(unittest.TestCase):

    def setUp(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        self.master, slave = pty.openpty()
        self.addCleanup(os.close, self.master)
        port = os.ttyname(slave)
        os.close(slave)
        # the printer's directory is missing until the printer "returns"
        self.output = os.path.join(directory, "usb", "lp0")
        config = write_config(directory, devices=[
                {"name": "reader1", "kind": "card_reader",
                    "connection": "serial", "port": port,
                    "line_ending": "\r\n"},
                {"name": "printer1", "kind": "printer", "connection": "file",
                    "path": self.output, "width": 80},
                ])
        self.agent = Agent(config)
        self.agent.start()
        self.addCleanup(self.agent.stop)
        self.assertTrue(self.agent.readers[0].wait_state("ok", 5))

    def job(self, job):
        return call(self.agent, "GET", f"/jobs/{job}")[1]

    def test_swipe_then_receipts_through_printer_outage(self):
        # a swipe reaches the waiting long poll, once
        since = call(self.agent, "GET", "/events?timeout=0")[1]["last"]
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
        print(f"\nswipe to long-poll client: "
            f"{(result['at'] - swiped) * 1000:.1f} ms")
        events = result["answer"]["events"]
        self.assertEqual([(e["device"], e["code"]) for e in events],
            [("reader1", "8800123456")])
        status, answer, _ = call(self.agent, "GET",
            f"/events?since={result['answer']['last']}&timeout=0.3")
        self.assertEqual((status, answer["events"]), (200, []))

        # receipts posted while the printer is away wait in the spool
        jobs = []
        for number in range(1, 4):
            status, answer, _ = call(self.agent, "POST", "/print",
                {"printer": "printer1", "document": document(number)})
            self.assertEqual((status, answer["state"]), (202, "queued"))
            jobs.append(answer["job"])
        self.assertTrue(wait_for(
                lambda: self.job(jobs[0])["attempts"] >= 2))
        self.assertEqual(
            [self.job(j)["state"] for j in jobs], ["queued"] * 3)
        self.assertEqual(call(self.agent, "GET", "/status")[1]["devices"][1][
                "state"], "offline")
        self.assertFalse(os.path.exists(self.output))

        # the printer returns: each receipt printed once, in order
        os.makedirs(os.path.dirname(self.output))
        self.assertTrue(wait_for(lambda: all(
                    self.job(j)["state"] == "printed" for j in jobs)))
        self.assertEqual(self.agent.spool.queued(), [])
        with open(self.output, "rb") as file:
            printed = file.read()
        self.assertEqual(printed, b"".join(expected(n) for n in range(1, 4)))

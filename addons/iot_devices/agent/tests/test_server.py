"""Box <-> server sync against a stdlib test double of the ERP's HTTP
boundary (the server module's own scenario covers the trytond side)."""
import json
import os
import shutil
import stat
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from member_iot_agent.agent import Agent

from .tools import receipt, wait_for, write_config

CUT = b"\x1dV\x00"
PREFIX = "/shop/iot_devices/"


class FakeERP(ThreadingHTTPServer):
    "Implements the iot_protocol.md box <-> server routes in memory"
    daemon_threads = True

    def __init__(self, port=0):
        super().__init__(("127.0.0.1", port), ERPHandler)
        self.tokens = {"pair-me"}
        self.keys = set()
        self.pairings, self.heartbeats, self.acks = [], [], []
        self.jobs = {}
        self.lock = threading.Lock()

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


class ERPHandler(BaseHTTPRequestHandler):

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.server.keys:
            self.reply(401, {"error": "unknown box key"})
            return False
        return True

    def do_GET(self):
        erp = self.server
        if not self.authorized():
            return
        assert self.path.startswith(PREFIX + "jobs?limit=")
        with erp.lock:
            jobs = [j for j in erp.jobs.values() if j["state"] == "queued"]
            for job in jobs:
                job["state"] = "sent"
                job["attempts"] += 1
        self.reply(200, {"jobs": [{k: j[k] for k in
                        ("id", "printer", "kind", "document")}
                    for j in jobs]})

    def do_POST(self):
        erp = self.server
        body = json.loads(self.rfile.read(
                int(self.headers["Content-Length"])))
        path = self.path.removeprefix(PREFIX)
        if path == "pair":
            if body["token"] not in erp.tokens:
                return self.reply(403, {"error": "token used or unknown"})
            erp.tokens.remove(body["token"])
            erp.pairings.append(body)
            erp.keys.add("box-key-1")
            return self.reply(200, {"box": 1, "name": "Lobby",
                    "key": "box-key-1"})
        if not self.authorized():
            return
        if path == "heartbeat":
            erp.heartbeats.append(body)
            return self.reply(200, {"ok": True,
                    "time": "2026-11-23T15:04:05Z"})
        job = erp.jobs.get(int(path.removeprefix("jobs/")))
        if job is None:
            return self.reply(404, {"error": "unknown job"})
        with erp.lock:
            erp.acks.append((job["id"], body["state"]))
            if job["state"] == "sent":
                job.update(state=body["state"], error=body["error"])
        self.reply(200, {"ok": True})


class ServerSyncTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        self.erp = FakeERP().start()
        self.addCleanup(self.erp.stop)
        self.port = self.erp.server_address[1]
        self.output = os.path.join(self.directory, "lp0")

    def agent(self, poll_interval=3600):
        config = write_config(self.directory,
            server={"url": f"http://127.0.0.1:{self.port}",
                "database": "shop", "token": "pair-me",
                "heartbeat_interval": 0, "poll_interval": poll_interval,
                "timeout": 2},
            devices=[
                {"name": "printer1", "kind": "printer", "connection": "file",
                    "path": self.output},
                {"name": "reader1", "kind": "card_reader",
                    "connection": "serial", "port": "loop://"}])
        return Agent(config)

    def queue(self, job_id, printer="printer1", document=None):
        self.erp.jobs[job_id] = {"id": job_id, "printer": printer,
            "kind": "receipt", "document": document or receipt(),
            "state": "queued", "attempts": 0, "error": ""}

    def test_pair_heartbeat_pull_print_ack(self):
        agent = self.agent()
        client = agent.server
        self.queue(12)
        self.queue(13, printer="lp9")
        self.queue(14, document={"lines": "x"})
        client.sync()

        pairing, = self.erp.pairings
        self.assertEqual(pairing["version"], "1.0.0")
        self.assertTrue(pairing["hostname"])
        key_file = os.path.join(agent.config.agent.spool_dir, "box.key")
        with open(key_file) as file:
            self.assertEqual(file.read(), "box-key-1")
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        heartbeat, = self.erp.heartbeats
        self.assertEqual(heartbeat["version"], "1.0.0")
        self.assertEqual(heartbeat["devices"], [
                {"name": "printer1", "kind": "printer", "state": "ok",
                    "message": ""},
                {"name": "reader1", "kind": "card_reader",
                    "state": "offline", "message": "not opened yet"}])
        # jobs the agent cannot print are refused at once
        self.assertEqual(sorted(self.erp.acks), [(13, "failed"),
                (14, "failed")])
        self.assertEqual(self.erp.jobs[13]["error"],
            "printer: unknown printer 'lp9'")
        self.assertEqual(self.erp.jobs[14]["error"],
            "lines: required, a non-empty list")
        self.assertEqual(self.erp.jobs[12]["state"], "sent")

        agent.worker.process()
        with open(self.output, "rb") as file:
            self.assertEqual(file.read().count(CUT), 1)
        client.sync()
        self.assertEqual(self.erp.jobs[12]["state"], "printed")
        self.assertEqual(self.erp.acks[-1], (12, "printed"))

        # the server resends a job it has no ack for: printed only once
        self.erp.jobs[12]["state"] = "queued"
        client.sync()
        agent.worker.process()
        with open(self.output, "rb") as file:
            self.assertEqual(file.read().count(CUT), 1)

        # a new agent process reads the stored key: no second pairing
        again = self.agent()
        again.server.sync()
        self.assertEqual(len(self.erp.pairings), 1)
        self.assertEqual(len(self.erp.heartbeats), 4)

    def test_ack_retried_after_outage(self):
        agent = self.agent()
        client = agent.server
        self.queue(21)
        client.sync()
        self.erp.stop()
        agent.worker.process()
        self.assertEqual(agent.spool.get("srv-21")["state"], "printed")
        with self.assertRaisesRegex(Exception, "server unreachable"):
            client.sync()
        self.assertEqual(len(agent.spool.unacked()), 1)

        # the server comes back on the same address with its data
        erp = FakeERP(self.port)
        erp.keys, erp.jobs = self.erp.keys, self.erp.jobs
        self.erp = erp.start()
        self.addCleanup(erp.stop)
        client.sync()
        self.assertEqual(erp.acks, [(21, "printed")])
        self.assertEqual(erp.jobs[21]["state"], "printed")
        self.assertEqual(agent.spool.unacked(), [])

    def test_ack_of_deleted_job_does_not_block(self):
        agent = self.agent()
        self.queue(41)
        self.queue(42)
        agent.server.sync()
        agent.worker.process()
        del self.erp.jobs[41]
        agent.server.sync()
        self.assertEqual(self.erp.acks, [(42, "printed")])
        self.assertEqual(agent.spool.unacked(), [])

    def test_threads_and_revoked_key(self):
        agent = self.agent(poll_interval=0.1)
        self.queue(31)
        agent.start()
        self.addCleanup(agent.stop)
        self.assertTrue(wait_for(
                lambda: self.erp.jobs[31]["state"] == "printed"))
        self.assertEqual(agent.server.state, "ok")
        self.erp.keys.clear()
        self.assertTrue(wait_for(lambda: agent.server.state == "offline"))
        self.assertIn("HTTP 401", agent.server.message)

    def test_used_token_refused(self):
        self.erp.tokens.clear()
        agent = self.agent()
        with self.assertRaisesRegex(Exception, "pair: HTTP 403"):
            agent.server.sync()
        self.assertEqual(self.erp.heartbeats, [])

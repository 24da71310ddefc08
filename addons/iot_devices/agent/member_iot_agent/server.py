"""Box <-> server client: pairing, heartbeats, print job pull and acks."""
import logging
import os
import socket
import threading
import time

import requests

from . import __version__, receipt_document
from .files import write_atomic

logger = logging.getLogger(__name__)


class ServerError(Exception):

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class ServerClient(threading.Thread):

    def __init__(self, config, spool, printers, device_states):
        super().__init__(name="server-client", daemon=True)
        self.config = config.server
        self.spool = spool
        self.printers = printers
        self.device_states = device_states
        self.base = (f"{self.config.url.rstrip('/')}/"
            f"{self.config.database}/iot_devices/")
        self.key_path = self.config.key_file or os.path.join(
            config.agent.spool_dir, "box.key")
        self.key = self._read_key()
        self.state, self.message = "offline", "not connected yet"
        self.session = requests.Session()
        self.wake = threading.Event()
        self._stop_event = threading.Event()
        self._next_heartbeat = 0
        spool.listeners.append(self._on_change)

    def _read_key(self):
        try:
            with open(self.key_path) as file:
                return file.read().strip() or None
        except FileNotFoundError:
            return None

    def _on_change(self, job):
        if job["server_id"] and job["state"] != "queued":
            self.wake.set()

    def stop(self):
        self._stop_event.set()
        self.wake.set()

    def _request(self, method, path, payload=None, auth=True):
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {self.key}"
        try:
            response = self.session.request(method, self.base + path,
                json=payload, headers=headers, timeout=self.config.timeout,
                verify=self.config.verify_tls)
        except requests.RequestException as error:
            raise ServerError(f"{path}: server unreachable ({error})")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            reason = body.get("error") if isinstance(body, dict) else None
            raise ServerError(f"{path}: HTTP {response.status_code} "
                f"{reason or response.reason}", response.status_code)
        return body

    def pair(self):
        "Exchange the pairing token for a box key stored in the spool dir"
        if not self.config.token:
            raise ServerError("pair: no box key and no server.token to pair")
        body = self._request("POST", "pair", {
                "token": self.config.token,
                "version": __version__,
                "hostname": socket.gethostname(),
                }, auth=False)
        key = body.get("key")
        if not isinstance(key, str) or not key:
            raise ServerError("pair: the answer has no key")
        write_atomic(self.key_path, key.encode(), mode=0o600)
        os.chmod(self.key_path, 0o600)
        self.key = key
        logger.info("paired as box %s (%s)", body.get("box"),
            body.get("name"))
        return body

    def heartbeat(self):
        body = self._request("POST", "heartbeat", {
                "version": __version__,
                "devices": self.device_states(),
                })
        if body.get("unknown"):
            logger.warning("server does not know the devices %s",
                ", ".join(body["unknown"]))
        return body

    def pull(self, limit=10):
        "Spool the jobs the server has for this box; return how many"
        body = self._request("GET", f"jobs?limit={limit}")
        count = 0
        for job in body.get("jobs", []):
            printer = job.get("printer")
            kind = job.get("kind", "receipt")
            document = job.get("document") or {}
            error = ""
            if printer not in self.printers:
                error = f"printer: unknown printer {printer!r}"
            elif kind == "receipt":
                try:
                    receipt_document.validate(document)
                except receipt_document.ReceiptError as exception:
                    error = str(exception)
            elif kind != "drawer":
                error = f"kind: unknown kind {kind!r}"
            if self.spool.add(printer, kind, document, server_id=job["id"],
                    state="failed" if error else "queued", error=error):
                count += 1
        return count

    def acknowledge(self):
        "Acknowledge the finished server jobs; stop at the first failure"
        for job in self.spool.unacked():
            try:
                self._request("POST", f"jobs/{job['server_id']}", {
                        "state": job["state"],
                        "error": job["error"],
                        })
            except ServerError as error:
                # the server will never take this ack (job deleted or
                # refused): drop it rather than block the later ones
                if error.status in (None, 401) or error.status >= 500:
                    raise
                logger.warning("ack of job %s refused: %s",
                    job["server_id"], error)
            self.spool.update(job["id"], acked=True)

    def sync(self):
        "One round: pair if needed, acks, heartbeat when due, pull"
        if not self.key:
            self.pair()
        self.acknowledge()
        if time.monotonic() >= self._next_heartbeat:
            self.heartbeat()
            self._next_heartbeat = (
                time.monotonic() + self.config.heartbeat_interval)
        self.pull()
        self.acknowledge()

    def run(self):
        while not self._stop_event.is_set():
            self.wake.clear()
            try:
                self.sync()
            except ServerError as error:
                if (self.state, self.message) != ("offline", str(error)):
                    logger.warning("server: %s", error)
                self.state, self.message = "offline", str(error)
            else:
                if self.state != "ok":
                    logger.info("server: connected")
                self.state, self.message = "ok", ""
            self.wake.wait(self.config.poll_interval)

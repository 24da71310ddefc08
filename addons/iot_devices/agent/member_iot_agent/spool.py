"""Disk-backed print queue: every job is a JSON file written atomically.

A job is on disk before the HTTP client or the server hears of it, and it
is marked printed right after its bytes are written and flushed, so a
printer or network outage never loses a job nor prints it twice (a power
cut between the write and the mark is the only window for a reprint).
"""
import json
import logging
import os
import threading
import time
import uuid

from escpos.exceptions import Error as EscposError

from . import receipt_document
from .files import write_atomic
from .printers import PrinterOffline

logger = logging.getLogger(__name__)

KEEP_DAYS = 7


class Spool:

    def __init__(self, spool_dir):
        self.dir = os.path.join(spool_dir, "jobs")
        os.makedirs(self.dir, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs = {}
        self.listeners = []
        limit = time.time() - KEEP_DAYS * 86400
        for name in os.listdir(self.dir):
            if not name.endswith(".json"):
                continue
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as file:
                    job = json.load(file)
            except (OSError, ValueError) as error:
                logger.error("spool: unreadable %s (%s), set aside",
                    name, error)
                os.replace(path, path + ".bad")
                continue
            if (job["state"] != "queued" and job.get("acked", True)
                    and job["created"] < limit):
                os.remove(path)
                continue
            self._jobs[job["id"]] = job
        self._seq = max((j["seq"] for j in self._jobs.values()), default=0)

    def _write(self, job):
        write_atomic(os.path.join(self.dir, f"{job['id']}.json"),
            json.dumps(job, ensure_ascii=False).encode("utf-8"))

    def add(self, printer, kind, document, server_id=None, state="queued",
            error=""):
        "Store a new job and return it, None if server_id is known"
        job_id = f"srv-{server_id}" if server_id else uuid.uuid4().hex[:16]
        with self._lock:
            if job_id in self._jobs:
                return
            self._seq += 1
            job = {
                "id": job_id,
                "seq": self._seq,
                "printer": printer,
                "kind": kind,
                "document": document,
                "state": state,
                "attempts": 0,
                "error": error,
                "created": time.time(),
                "server_id": server_id,
                "acked": server_id is None,
                }
            self._write(job)
            self._jobs[job_id] = job
        for listener in self.listeners:
            listener(job)
        return dict(job)

    def get(self, job_id):
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job) if job else None

    def update(self, job_id, **values):
        with self._lock:
            job = dict(self._jobs[job_id], **values)
            self._write(job)
            self._jobs[job_id] = job
        for listener in self.listeners:
            listener(job)
        return dict(job)

    def queued(self):
        with self._lock:
            jobs = [dict(j) for j in self._jobs.values()
                if j["state"] == "queued"]
        return sorted(jobs, key=lambda j: j["seq"])

    def unacked(self):
        "Server jobs that are finished but not yet acknowledged"
        with self._lock:
            jobs = [dict(j) for j in self._jobs.values()
                if not j["acked"] and j["state"] in ("printed", "failed")]
        return sorted(jobs, key=lambda j: j["seq"])


class PrintWorker(threading.Thread):
    "Print queued jobs in order, retrying an offline printer with backoff"

    def __init__(self, spool, printers, retry_min=1.0, retry_max=30.0):
        super().__init__(name="print-worker", daemon=True)
        self.spool = spool
        self.printers = printers
        self.retry_min, self.retry_max = retry_min, retry_max
        self.wake = threading.Event()
        self._stop_event = threading.Event()
        self._retry_at, self._delay = {}, {}
        spool.listeners.append(self._on_change)

    def _on_change(self, job):
        if job["state"] == "queued":
            self.wake.set()

    def stop(self):
        self._stop_event.set()
        self.wake.set()

    def run(self):
        while not self._stop_event.is_set():
            self.wake.clear()
            timeout = self.process()
            self.wake.wait(timeout)

    def process(self):
        "Print what can be printed now; return seconds until next retry"
        now = time.monotonic()
        blocked = set()
        for job in self.spool.queued():
            if self._stop_event.is_set():
                break
            name = job["printer"]
            if name in blocked:
                continue
            printer = self.printers.get(name)
            if printer is None:
                self.spool.update(job["id"], state="failed",
                    error=f"printer: unknown printer {name!r}")
                continue
            if self._retry_at.get(name, 0) > now:
                blocked.add(name)
                continue
            try:
                if job["kind"] == "receipt":
                    receipt_document.validate(job["document"])
                data = printer.render(job["kind"], job["document"])
            except (receipt_document.ReceiptError, EscposError,
                    ValueError) as error:
                self.spool.update(job["id"], state="failed",
                    attempts=job["attempts"] + 1, error=str(error))
                continue
            try:
                printer.send(data)
            except PrinterOffline as error:
                delay = self._delay.get(name, self.retry_min)
                self._retry_at[name] = now + delay
                self._delay[name] = min(delay * 2, self.retry_max)
                blocked.add(name)
                self.spool.update(job["id"], attempts=job["attempts"] + 1,
                    error=str(error))
                continue
            self._retry_at.pop(name, None)
            self._delay.pop(name, None)
            self.spool.update(job["id"], state="printed",
                attempts=job["attempts"] + 1, error="")
            logger.info("job %s printed on %s", job["id"], name)
        if self._retry_at:
            return max(min(self._retry_at.values()) - time.monotonic(), 0.05)
        return None

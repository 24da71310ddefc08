"""Card read events with ids that stay monotonic across restarts."""
import collections
import datetime
import os
import threading
import time

from .files import write_atomic

# ids are reserved by blocks so a swipe costs no disk write most of the
# time; a restart skips the rest of the block, it never reuses an id
ID_BLOCK = 100


class EventLog:

    def __init__(self, spool_dir, size=1000):
        self._path = os.path.join(spool_dir, "events.id")
        self._events = collections.deque(maxlen=size)
        self._condition = threading.Condition()
        try:
            with open(self._path) as file:
                self._last = int(file.read().strip() or 0)
        except FileNotFoundError:
            self._last = 0
        self._reserved = self._last

    @property
    def last(self):
        with self._condition:
            return self._last

    def add(self, device, kind, code):
        "Record and return a new event and wake the long-poll waiters"
        with self._condition:
            event_id = self._last + 1
            if event_id > self._reserved:
                self._reserved = event_id + ID_BLOCK - 1
                write_atomic(self._path, str(self._reserved).encode())
            self._last = event_id
            event = {
                "id": event_id,
                "device": device,
                "kind": kind,
                "code": code,
                "at": datetime.datetime.now(datetime.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                }
            self._events.append(event)
            self._condition.notify_all()
            return event

    def wait(self, since, timeout):
        "Return the events after since, waiting up to timeout seconds"
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                events = [e for e in self._events if e["id"] > since]
                remaining = deadline - time.monotonic()
                if events or remaining <= 0:
                    return events, self._last
                self._condition.wait(remaining)

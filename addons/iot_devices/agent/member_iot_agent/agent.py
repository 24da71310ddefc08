"""The running agent: devices, event log, spool, HTTP API, server client."""
import logging
import os
import threading

from . import __version__
from .events import EventLog
from .http import make_server
from .printers import Printer
from .reader import Reader
from .server import ServerClient
from .spool import PrintWorker, Spool

logger = logging.getLogger(__name__)


class Agent:

    def __init__(self, config):
        self.config = config
        agent = config.agent
        os.makedirs(agent.spool_dir, exist_ok=True)
        self.events = EventLog(agent.spool_dir, agent.event_buffer)
        self.spool = Spool(agent.spool_dir)
        self.printers = {d.name: Printer(d)
            for d in config.of_kind("printer")}
        self.readers = [
            Reader(d, self.events, agent.retry_min, agent.retry_max)
            for d in config.of_kind("card_reader")]
        self.worker = PrintWorker(self.spool, self.printers,
            agent.retry_min, agent.retry_max)
        self.server = None
        if config.server.url:
            self.server = ServerClient(config, self.spool, self.printers,
                self.device_states)
        self.http = None
        self._http_thread = None

    @property
    def address(self):
        "The (host, port) the HTTP API listens on"
        return self.http.server_address[:2]

    def start(self):
        for printer in self.printers.values():
            printer.probe()
        for reader in self.readers:
            reader.start()
        self.worker.start()
        if self.server:
            self.server.start()
        self.http = make_server(self)
        self._http_thread = threading.Thread(
            target=self.http.serve_forever, name="http", daemon=True)
        self._http_thread.start()
        logger.info("agent %s %s listening on %s:%s", self.config.agent.name,
            __version__, *self.address)

    def stop(self):
        if self.http:
            self.http.shutdown()
            self.http.server_close()
        threads = [*self.readers, self.worker]
        if self.server:
            threads.append(self.server)
        for thread in threads:
            thread.stop()
        for thread in threads:
            if thread.is_alive():
                thread.join(5)

    def printer(self, name=None):
        """Return the printer named name (a drawer names its printer) or the
        only printer; None if there is none to choose"""
        if name is None:
            if len(self.printers) == 1:
                return next(iter(self.printers.values()))
            return
        device = self.config.device(name)
        if device and device.kind == "drawer":
            name = device.printer
        return self.printers.get(name)

    def device_states(self):
        states = []
        readers = {r.device.name: r for r in self.readers}
        for device in self.config.devices:
            if device.kind == "card_reader":
                source = readers[device.name]
            elif device.kind == "printer":
                source = self.printers[device.name]
            elif device.kind == "drawer":
                source = self.printers[device.printer]
            else:
                state, message = _display_state(device)
                states.append(_state(device, state, message))
                continue
            states.append(_state(device, source.state, source.message))
        return states

    def status(self):
        return {
            "box": self.config.agent.name,
            "version": __version__,
            "devices": self.device_states(),
            }


def _state(device, state, message):
    return {"name": device.name, "kind": device.kind, "state": state,
        "message": message}


def _display_state(device):
    # customer displays are only listed: nothing drives them yet
    if device.port.startswith("/") and not os.path.exists(device.port):
        return "offline", f"{device.port} not found"
    return "ok", "not driven by this agent version"

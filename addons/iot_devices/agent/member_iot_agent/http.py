"""Local HTTP API for the cashier page (stdlib http.server, no framework)."""
import hmac
import json
import logging
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import receipt_document

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_TIMEOUT = 30
# an oversized body is read and dropped up to this size so the client gets
# the 413 instead of a reset connection; beyond it the socket is closed
MAX_DRAIN = 4 * 1024 * 1024
JOB_PATH = re.compile(r"^/jobs/([0-9A-Za-z-]{1,64})$")


class HTTPError(Exception):

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Handler(BaseHTTPRequestHandler):
    server_version = "member-iot-agent"
    protocol_version = "HTTP/1.1"

    @property
    def agent(self):
        return self.server.agent

    def log_message(self, format, *args):
        logger.debug("%s %s", self.address_string(), format % args)

    def _origin(self):
        "The request's origin if it is allowed, else None"
        origin = self.headers.get("Origin")
        if origin and origin.rstrip("/") in (
                self.agent.config.agent.allowed_origins):
            return origin

    def _send(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Vary", "Origin")
        if self.close_connection:
            self.send_header("Connection", "close")
        origin = self._origin()
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self):
        origin = self._origin()
        if not origin:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers",
            "X-Agent-Key, Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        try:
            self._check_key()
            body = self._body() if method == "POST" else None
            routes = {
                ("GET", "/status"): self.status,
                ("GET", "/events"): self.events,
                ("POST", "/print"): self.print_,
                ("POST", "/drawer"): self.drawer,
                }
            match = JOB_PATH.match(url.path)
            if (method, url.path) in routes:
                status, answer = routes[method, url.path](
                    urllib.parse.parse_qs(url.query), body)
            elif method == "GET" and match:
                status, answer = self.job(match.group(1))
            elif url.path in {p for _, p in routes} or match:
                raise HTTPError(405, f"method {method} not allowed")
            else:
                raise HTTPError(404, f"{url.path}: not found")
        except HTTPError as error:
            if method == "POST":
                # the body may be unread: the socket cannot be reused
                self.close_connection = True
            status, answer = error.status, {"error": error.reason}
        self._send(status, answer)

    def _check_key(self):
        given = self.headers.get("X-Agent-Key", "")
        expected = self.agent.config.agent.key
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPError(401, "X-Agent-Key: missing or wrong key")

    def _body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HTTPError(411, "Content-Length: required")
        if int(length) > MAX_BODY:
            if int(length) <= MAX_DRAIN:
                self.rfile.read(int(length))
            raise HTTPError(413, f"body: larger than {MAX_BODY} bytes")
        data = self.rfile.read(int(length))
        try:
            return json.loads(data or b"{}")
        except ValueError:
            raise HTTPError(400, "body: not valid JSON")

    def status(self, query, body):
        return 200, self.agent.status()

    def events(self, query, body):
        try:
            since = int(query.get("since", [self.agent.events.last])[0])
        except ValueError:
            raise HTTPError(400, "since: not an integer")
        try:
            timeout = float(query.get("timeout", [MAX_TIMEOUT])[0])
        except ValueError:
            raise HTTPError(400, "timeout: not a number")
        if not timeout >= 0:
            raise HTTPError(400, "timeout: not a positive number")
        events, last = self.agent.events.wait(
            since, min(timeout, MAX_TIMEOUT))
        return 200, {"events": events, "last": last}

    def _printer(self, body):
        if not isinstance(body, dict):
            raise HTTPError(400, "body: not an object")
        name = body.get("printer")
        if name is not None and not isinstance(name, str):
            raise HTTPError(400, "printer: not a text")
        printer = self.agent.printer(name)
        if printer is None:
            if name is None:
                raise HTTPError(400,
                    "printer: required when there is not exactly one")
            raise HTTPError(404, f"printer: unknown printer {name!r}")
        return printer

    def print_(self, query, body):
        printer = self._printer(body)
        if "document" in body:
            document = body["document"]
        else:
            document = {k: v for k, v in body.items() if k != "printer"}
        try:
            receipt_document.validate(document)
        except receipt_document.ReceiptError as error:
            raise HTTPError(400, str(error))
        job = self.agent.spool.add(printer.name, "receipt", document)
        return 202, {"job": job["id"], "state": job["state"]}

    def drawer(self, query, body):
        printer = self._printer(body)
        job = self.agent.spool.add(printer.name, "drawer", {})
        return 202, {"job": job["id"], "state": job["state"]}

    def job(self, job_id):
        job = self.agent.spool.get(job_id)
        if job is None:
            raise HTTPError(404, f"job: unknown job {job_id!r}")
        return 200, {"job": job["id"], "state": job["state"],
            "attempts": job["attempts"], "error": job["error"]}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, agent):
        config = agent.config.agent
        super().__init__((config.host, config.port), Handler)
        self.agent = agent


def make_server(agent):
    return Server(agent)

"""Card readers on serial ports (USB-serial, pseudo-terminals, loop://)."""
import logging
import re
import threading
import time

import serial

logger = logging.getLogger(__name__)

HEX = re.compile(r"^[0-9A-Fa-f]+$")
# a reader frame is short; anything longer is line noise without an end
MAX_FRAME = 256


class Framer:
    "Split the byte stream of a reader into card codes"

    def __init__(self, device):
        self.device = device
        self.prefix = device.prefix.encode("latin-1")
        self.end = (device.suffix + device.line_ending).encode("latin-1")
        self._buffer = b""

    def feed(self, data):
        "Return the card codes completed by data"
        self._buffer += data
        codes = []
        while True:
            frame, found, rest = self._buffer.partition(self.end)
            if not found:
                if len(self._buffer) > MAX_FRAME:
                    logger.warning("%s: dropped %d bytes without frame end",
                        self.device.name, len(self._buffer))
                    self._buffer = b""
                return codes
            self._buffer = rest
            code = self.decode(frame)
            if code:
                codes.append(code)

    def decode(self, frame):
        "Return the card code of one frame or None when it is not valid"
        device = self.device
        if self.prefix and self.prefix in frame:
            # noise before the start byte is dropped with it
            frame = frame.split(self.prefix)[-1]
        try:
            text = frame.decode("ascii").strip()
        except UnicodeDecodeError:
            logger.warning("%s: frame %r is not ASCII", device.name, frame)
            return
        if device.strip_prefix and text.startswith(device.strip_prefix):
            text = text[len(device.strip_prefix):]
        if not text:
            return
        if device.uid_format == "hex":
            if not HEX.match(text) or len(text) % 2:
                logger.warning("%s: %r is not a hex UID", device.name, text)
                return
            text = text.upper()
            if device.byte_order == "lsb":
                text = "".join(reversed(
                        [text[i:i + 2] for i in range(0, len(text), 2)]))
        elif device.uid_format == "decimal" and not text.isdigit():
            logger.warning("%s: %r is not a decimal UID", device.name, text)
            return
        if device.mapping == "hex_to_decimal":
            text = str(int(text, 16))
        elif device.mapping == "table":
            code = device.table.get(text)
            if code is None:
                logger.warning("%s: UID %s is not in the table",
                    device.name, text)
            return code
        if device.pad_digits:
            text = text.zfill(device.pad_digits)
        return text


class Reader(threading.Thread):
    "Read one card reader, reconnecting when it is unplugged"

    def __init__(self, device, events, retry_min=1.0, retry_max=30.0):
        super().__init__(name=f"reader-{device.name}", daemon=True)
        self.device = device
        self.events = events
        self.retry_min, self.retry_max = retry_min, retry_max
        self.state, self.message = "offline", "not opened yet"
        self.state_changed = threading.Condition()
        self._stop_event = threading.Event()
        self._seen = {}

    def stop(self):
        self._stop_event.set()

    def _set_state(self, state, message=""):
        with self.state_changed:
            if (state, message) != (self.state, self.message):
                log = logger.info if state == "ok" else logger.warning
                log("%s: %s %s", self.device.name, state, message)
            self.state, self.message = state, message
            self.state_changed.notify_all()

    def wait_state(self, state, timeout):
        "Wait until the reader is in state; return whether it is"
        with self.state_changed:
            return self.state_changed.wait_for(
                lambda: self.state == state, timeout)

    def open(self):
        device = self.device
        return serial.serial_for_url(device.port,
            baudrate=device.baudrate, bytesize=device.bytesize,
            parity=device.parity, stopbits=device.stopbits, timeout=0.1)

    def run(self):
        delay = self.retry_min
        while not self._stop_event.is_set():
            try:
                port = self.open()
            except (serial.SerialException, OSError, ValueError) as error:
                self._set_state("offline", _reason(error))
                self._stop_event.wait(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_min
            framer = Framer(self.device)
            self._set_state("ok")
            try:
                while not self._stop_event.is_set():
                    data = port.read(port.in_waiting or 1)
                    for code in framer.feed(data):
                        self.emit(code)
            except (serial.SerialException, OSError) as error:
                self._set_state("offline", _reason(error))
            finally:
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    pass
        self.state, self.message = "offline", "stopped"

    def emit(self, code, now=None):
        "Record a read unless the same code was read within debounce_ms"
        now = time.monotonic() if now is None else now
        last = self._seen.get(code)
        self._seen[code] = now
        if len(self._seen) > 1000:
            self._seen = {code: now}
        if last is not None and (now - last) * 1000 < (
                self.device.debounce_ms):
            return
        return self.events.add(self.device.name, "card", code)


def _reason(error):
    return str(error).splitlines()[0] if str(error) else type(
        error).__name__

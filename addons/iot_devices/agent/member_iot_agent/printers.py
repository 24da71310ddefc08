"""ESC/POS printers built from the configuration with python-escpos."""
import logging

from escpos.exceptions import DeviceNotFoundError
from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy, File, Network, Serial, Usb

from . import receipt

logger = logging.getLogger(__name__)


class PrinterOffline(Exception):
    "The printer could not take the bytes; the job stays queued"


class AppendFile(File):
    """File printer that appends: the same for a device file, and a plain
    file keeps every job instead of the last one"""

    def open(self, raise_not_found=True):
        if self._device:
            self.close()
        try:
            self.device = open(self.devfile, "ab")
        except OSError as error:
            self.device = None
            raise DeviceNotFoundError(
                f"Could not open {self.devfile}: {error.strerror}")


class Printer:
    "A configured printer, its state and the way to send bytes to it"

    kind = "printer"

    def __init__(self, config):
        self.config = config
        self.name = config.name
        self.state, self.message = "ok", ""
        self.profile = config.profile or None
        # the dummy printer keeps everything it got, for demos and tests
        self.dummy = Dummy(profile=self.profile)

    def build(self):
        "Return a new, unopened python-escpos printer object"
        config = self.config
        if config.connection == "usb":
            if not Usb.is_usable():
                raise PrinterOffline("pyusb is not installed")
            return Usb(config.vendor_id, config.product_id, timeout=5000,
                profile=self.profile)
        elif config.connection == "serial":
            return Serial(config.port, baudrate=config.baudrate,
                bytesize=config.bytesize, parity=config.parity,
                stopbits=config.stopbits, timeout=5, profile=self.profile)
        elif config.connection == "network":
            return Network(config.host, port=config.tcp_port, timeout=10,
                profile=self.profile)
        elif config.connection == "file":
            return AppendFile(config.path, profile=self.profile)
        return self.dummy

    def render(self, kind, document):
        "Return the ESC/POS bytes of a job"
        printer = Dummy(profile=self.profile)
        if kind == "drawer":
            receipt.kick(printer)
        else:
            receipt.render(printer, document, width=self.config.width,
                code_page=self.config.code_page)
        return printer.output

    def send(self, data):
        "Write data to the printer or raise PrinterOffline"
        try:
            printer = self.build()
        except PrinterOffline as error:
            self.set_state("error", str(error))
            raise
        try:
            printer._raw(data)
            if hasattr(printer, "flush"):
                printer.flush()
        except (OSError, EscposError) as error:
            self.set_state("offline", _reason(error))
            raise PrinterOffline(self.message)
        finally:
            if printer is not self.dummy:
                try:
                    printer.close()
                except (OSError, EscposError):
                    pass
        self.set_state("ok")

    def probe(self):
        "Open and close the printer to refresh its state"
        try:
            printer = self.build()
        except PrinterOffline as error:
            self.set_state("error", str(error))
            return False
        try:
            printer.open()
        except (OSError, EscposError) as error:
            self.set_state("offline", _reason(error))
        else:
            self.set_state("ok")
        finally:
            if printer is not self.dummy:
                try:
                    printer.close()
                except (OSError, EscposError):
                    pass
        return self.state == "ok"

    def set_state(self, state, message=""):
        if (state, message) != (self.state, self.message):
            log = logger.info if state == "ok" else logger.warning
            log("%s: %s %s", self.name, state, message)
        self.state, self.message = state, message


def _reason(error):
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " ".join(lines)[:200] or type(error).__name__

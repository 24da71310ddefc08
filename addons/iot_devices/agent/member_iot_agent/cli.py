"""Command line: member-iot-agent --config box.toml [--check]."""
import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading

import serial
from serial.tools import list_ports

from . import __version__
from .agent import Agent
from .config import ConfigError, load
from .printers import Printer

DEFAULT_CONFIG = "/etc/member-iot-agent/box.toml"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"


def setup_logging(config):
    if config.log_file:
        os.makedirs(os.path.dirname(config.log_file), exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(config.log_file,
            maxBytes=config.log_max_bytes, backupCount=config.log_backups,
            encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level.upper())


def usb_printers():
    "Return the descriptions of USB printer-class devices, None without pyusb"
    try:
        import usb.core
    except ImportError:
        return
    found = []
    try:
        devices = list(usb.core.find(find_all=True))
    except usb.core.NoBackendError:
        return
    for device in devices:
        classes = {device.bDeviceClass}
        for configuration in device:
            classes.update(i.bInterfaceClass for i in configuration)
        if 7 in classes:
            found.append(
                f"{device.idVendor:#06x}:{device.idProduct:#06x}")
    return found


def check(config, out=sys.stdout):
    "Print what the box can see; return 0 when every device opens"
    print("Serial ports:", file=out)
    for port in list_ports.comports():
        print(f"  {port.device}  {port.description}", file=out)
    printers = usb_printers()
    if printers is None:
        print("USB printers: unknown (pyusb or libusb not installed)",
            file=out)
    else:
        print("USB printers: " + (", ".join(printers) or "none"), file=out)
    print("Configured devices:", file=out)
    ok = True
    printer_states = {}
    for device in config.devices:
        if device.kind == "card_reader":
            try:
                serial.serial_for_url(device.port, do_not_open=False,
                    timeout=0).close()
                state, message = "ok", ""
            except (serial.SerialException, OSError, ValueError) as error:
                state, message = "offline", str(error)
        elif device.kind == "printer":
            printer = Printer(device)
            printer.probe()
            state, message = printer.state, printer.message
            printer_states[device.name] = (state, message)
        elif device.kind == "drawer":
            state, message = printer_states.get(device.printer) or (
                "ok", "")
            message = message or f"through {device.printer}"
        else:
            state = "ok" if os.path.exists(device.port) else "offline"
            message = device.port
        ok &= state == "ok"
        print(f"  {device.name} ({device.kind}, {device.connection or '-'}):"
            f" {state} {message}".rstrip(), file=out)
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="member-iot-agent",
        description="IoT box agent of the member suite: card readers, "
        "receipt printers and cash drawers behind a local HTTP API.")
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG,
        help=f"box.toml path (default {DEFAULT_CONFIG})")
    parser.add_argument("--check", action="store_true",
        help="list serial ports, USB printers and the configured devices, "
        "then exit 0 if every device opens, else 1")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as error:
        print(f"member-iot-agent: {error}", file=sys.stderr)
        return 2
    if args.check:
        return check(config)
    setup_logging(config.agent)
    agent = Agent(config)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    try:
        agent.start()
    except OSError as error:
        logging.getLogger(__name__).error("cannot start: %s", error)
        return 1
    done.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

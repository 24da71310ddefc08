"""Card readers with real pyserial: loop:// and pseudo-terminals."""
import os
import pty
import shutil
import tempfile
import unittest

import serial
from member_iot_agent.config import DeviceConfig
from member_iot_agent.events import ID_BLOCK, EventLog
from member_iot_agent.reader import Framer, Reader

from .tools import wait_for


def reader_config(**values):
    values.setdefault("name", "reader1")
    return DeviceConfig(kind="card_reader", connection="serial", **values)


def through_loop(device, chunks):
    "Send chunks through pyserial's loop:// and frame what comes back"
    port = serial.serial_for_url("loop://", timeout=0.1)
    framer = Framer(device)
    codes = []
    try:
        for chunk in chunks:
            port.write(chunk)
            codes += framer.feed(port.read(len(chunk)))
    finally:
        port.close()
    return codes


class FramingTestCase(unittest.TestCase):

    def test_text_lines_split_across_reads(self):
        device = reader_config(port="loop://", line_ending="\r\n")
        codes = through_loop(device,
            [b"88001", b"23456\r", b"\n8800654321\r\n", b"99"])
        self.assertEqual(codes, ["8800123456", "8800654321"])

    def test_stx_etx_hex_lsb_to_decimal(self):
        device = reader_config(port="loop://", prefix="\x02",
            suffix="\x03", line_ending="", uid_format="hex",
            byte_order="lsb", mapping="hex_to_decimal", pad_digits=10)
        # noise before STX is dropped; 0x04A1B2C3 read LSB first
        codes = through_loop(device,
            [b"\xff\x02c3b2a104\x03", b"\x02zz\x03", b"\x0200000001\x03"])
        self.assertEqual(codes, [f"{0x04A1B2C3:010d}", "0016777216"])

    def test_strip_prefix_and_table(self):
        device = reader_config(port="loop://", line_ending="\n",
            uid_format="hex", strip_prefix="ID:", mapping="table",
            table={"04A1B2C3": "8800000001"})
        codes = through_loop(device, [b"ID:04a1b2c3\n", b"ID:DEADBEEF\n"])
        self.assertEqual(codes, ["8800000001"])

    def test_decimal_uid_rejects_text(self):
        device = reader_config(port="loop://", line_ending="\n",
            uid_format="decimal", pad_digits=12)
        codes = through_loop(device, [b"12345\n", b"12a45\n"])
        self.assertEqual(codes, ["000000012345"])


class EventLogTestCase(unittest.TestCase):

    def test_ids_survive_restart(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        log = EventLog(directory, size=2)
        ids = [log.add("r", "card", str(i))["id"] for i in range(3)]
        self.assertEqual(ids, [1, 2, 3])
        events, last = log.wait(1, 0)
        self.assertEqual([e["code"] for e in events], ["1", "2"])
        self.assertEqual(last, 3)
        restarted = EventLog(directory)
        self.assertGreater(restarted.add("r", "card", "x")["id"], 3)
        self.assertGreaterEqual(restarted.last, ID_BLOCK)

    def test_debounce(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        log = EventLog(directory)
        reader = Reader(reader_config(port="loop://", debounce_ms=500), log)
        self.assertTrue(reader.emit("A", now=10.0))
        self.assertIsNone(reader.emit("A", now=10.3))
        # a card held on the reader keeps being suppressed
        self.assertIsNone(reader.emit("A", now=10.7))
        self.assertTrue(reader.emit("B", now=10.8))
        self.assertTrue(reader.emit("A", now=11.3))
        self.assertEqual([e["code"] for e in log.wait(0, 0)[0]],
            ["A", "B", "A"])


class PtyReaderTestCase(unittest.TestCase):
    "A reader thread on a pseudo-terminal, unplugged and plugged back"

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        self.link = os.path.join(self.directory, "ttyREADER")
        self.events = EventLog(self.directory)
        self.plug()
        self.reader = Reader(reader_config(port=self.link,
                line_ending="\r\n", debounce_ms=300), self.events,
            retry_min=0.05, retry_max=0.2)
        self.reader.start()
        self.addCleanup(self.reader.join, 5)
        self.addCleanup(self.reader.stop)

    def plug(self):
        self.master, slave = pty.openpty()
        path = os.ttyname(slave)
        os.close(slave)
        os.symlink(path, self.link)

    def unplug(self):
        os.remove(self.link)
        os.close(self.master)

    def codes(self, since=0):
        return [e["code"] for e in self.events.wait(since, 0)[0]]

    def test_reads_debounce_and_replug(self):
        self.assertTrue(self.reader.wait_state("ok", 5))
        os.write(self.master, b"8800123456\r\n")
        self.assertTrue(wait_for(lambda: self.codes() == ["8800123456"]))
        # the same card read again at once is a bounce
        os.write(self.master, b"8800123456\r\n8800999999\r\n")
        self.assertTrue(wait_for(lambda: len(self.codes()) == 2))
        self.assertEqual(self.codes(), ["8800123456", "8800999999"])

        self.unplug()
        self.assertTrue(self.reader.wait_state("offline", 5))
        self.assertTrue(self.reader.message)
        self.plug()
        self.addCleanup(os.close, self.master)
        self.assertTrue(self.reader.wait_state("ok", 5))
        last = self.events.last
        os.write(self.master, b"8800777777\r\n")
        self.assertTrue(wait_for(lambda: self.codes(last) == ["8800777777"]))

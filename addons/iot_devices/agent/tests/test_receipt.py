"""Receipt validation and the ESC/POS bytes python-escpos produces."""
import datetime as dt
import decimal
import json
import os
import tempfile
import unittest

from escpos.printer import Dummy
from member_iot_agent.config import DeviceConfig
from member_iot_agent.printers import Printer
from member_iot_agent.receipt import display_width, render, two_columns, wrap
from member_iot_agent.receipt_document import (
    MAX_QR,
    MAX_SIZE,
    ReceiptError,
    dumps,
    loads,
    validate,
)

from .tools import receipt

INIT = b"\x1b@"
CHINESE_ON = b"\x1c&"
CUT = b"\x1dV\x00"
# ESC p 0 t1 t2: pin 2, 50 x 2 ms on and off
KICK = b"\x1bp\x0022"


def output(document, width=80, code_page="cp437"):
    printer = Dummy()
    render(printer, document, width=width, code_page=code_page)
    return printer.output


class ValidationTestCase(unittest.TestCase):
    "The rules of receipt_document, shared with the server module"

    def assertInvalid(self, document, reason):
        with self.assertRaises(ReceiptError) as context:
            validate(document)
        self.assertEqual(str(context.exception), reason)

    def test_valid(self):
        validate(receipt(barcode={"type": "CODE128", "data": "POS0042"},
                width=58, copy=True, open_drawer=True))
        # null is absent; an item without amount prints its name only
        validate(receipt(qr=None, member=None, width=None, copy=None,
                language=None, lines=[{"name": "Welcome drink"}],
                meta=[["Room", ""]]))

    def test_document_and_lines(self):
        self.assertInvalid([], "document: not an object")
        self.assertInvalid({"title": "x"},
            "lines: required, a non-empty list")
        self.assertInvalid(receipt(lines=[]),
            "lines: required, a non-empty list")
        self.assertInvalid(receipt(lines={"a": 1}),
            "lines: required, a non-empty list")
        self.assertInvalid(receipt(lines=["Tea"]), "lines[0]: not an object")
        self.assertInvalid(receipt(header=["x" * MAX_SIZE]),
            f"document: larger than {MAX_SIZE} bytes")

    def test_line_fields(self):
        lines = [{"name": "a", "amount": "1"}, {"name": "b"},
            {"name": "c", "amount": "12,5"}]
        self.assertInvalid(receipt(lines=lines),
            "lines[2].amount: not a decimal")
        for amount in [1.5, 1, "NaN", "Infinity", True]:
            with self.subTest(amount=amount):
                self.assertInvalid(
                    receipt(lines=[{"name": "a", "amount": amount}]),
                    "lines[0].amount: not a decimal")
        self.assertInvalid(receipt(lines=[{"name": "a", "quantity": "x"}]),
            "lines[0].quantity: not a decimal")
        self.assertInvalid(receipt(lines=[{"name": "a", "unit_price": 2}]),
            "lines[0].unit_price: not a decimal")
        self.assertInvalid(receipt(lines=[{"amount": "1"}]),
            "lines[0].name: required")
        self.assertInvalid(receipt(lines=[{"name": " "}]),
            "lines[0].name: required")
        self.assertInvalid(receipt(lines=[{"name": 3}]),
            "lines[0].name: not a text")
        self.assertInvalid(receipt(lines=[{"name": "a", "note": 1}]),
            "lines[0].note: not a text")

    def test_options(self):
        self.assertInvalid(receipt(language="fr"),
            "language: not one of en, zh_CN")
        self.assertInvalid(receipt(width=76), "width: not 58 or 80")
        self.assertInvalid(receipt(width=True), "width: not 58 or 80")
        self.assertInvalid(receipt(open_drawer="yes"),
            "open_drawer: not true or false")
        self.assertInvalid(receipt(copy=0), "copy: not true or false")
        self.assertInvalid(receipt(title=["x"]), "title: not a text")

    def test_lists_and_pairs(self):
        self.assertInvalid(receipt(header="Hotel"), "header: not a list")
        self.assertInvalid(receipt(header=["Hotel", None]),
            "header[1]: not a text")
        self.assertInvalid(receipt(footer=[None]), "footer[0]: not a text")
        self.assertInvalid(receipt(totals=[["Total"]]),
            "totals[0]: not a [label, value] pair")
        self.assertInvalid(receipt(meta=[("Receipt", "1")]),
            "meta[0]: not a [label, value] pair")
        self.assertInvalid(receipt(payments=[["Cash", 66]]),
            "payments[0][1]: not a text")
        self.assertInvalid(receipt(member=["Gold"]), "member: not an object")
        self.assertInvalid(receipt(member={"tier": 3}),
            "member.tier: not a text")
        self.assertInvalid(receipt(member={"lines": [["a", 1]]}),
            "member.lines[0][1]: not a text")

    def test_control_characters(self):
        "A stray ESC or newline anywhere would reach the printer"
        cases = [
            (receipt(footer=["ok", "\x1bp\x00"]), "footer[1]"),
            (receipt(header=["Hotel\n"]), "header[0]"),
            (receipt(title="Sales\x1d"), "title"),
            (receipt(lines=[{"name": "Tea\x1b@"}]), "lines[0].name"),
            (receipt(lines=[{"name": "Tea", "note": "\x00"}]),
                "lines[0].note"),
            (receipt(totals=[["Total\t", "1"]]), "totals[0][0]"),
            (receipt(member={"name": "\x9b"}), "member.name"),
            (receipt(member={"lines": [["Points", "1\x7f"]]}),
                "member.lines[0][1]"),
            (receipt(qr="https://x\r"), "qr"),
            (receipt(barcode={"type": "CODE39", "data": "A\x1bB"}),
                "barcode.data"),
            ]
        for document, where in cases:
            with self.subTest(where=where):
                self.assertInvalid(document,
                    f"{where}: control characters are not allowed")

    def test_qr_and_barcode(self):
        self.assertInvalid(receipt(qr="x" * (MAX_QR + 1)),
            f"qr: longer than {MAX_QR} characters")
        self.assertInvalid(receipt(qr=""), "qr: required")
        self.assertInvalid(
            receipt(barcode={"type": "PDF417", "data": "1"}),
            "barcode.type: not one of CODABAR, CODE128, CODE39, CODE93, "
            "EAN13, EAN8, ITF, NW7, UPC-A, UPC-E")
        self.assertInvalid(receipt(barcode="POS0042"),
            "barcode: not an object")
        self.assertInvalid(receipt(barcode={"type": "EAN13"}),
            "barcode.data: required")
        # python-escpos' rules per type: charset and length
        invalid = [("EAN13", "12AB"), ("EAN13", "12345"),
            ("EAN8", "123456789"), ("UPC-A", "1234567890123"),
            ("ITF", "123"), ("CODE39", "pos0042"), ("CODE128", "龙井")]
        for type_, data in invalid:
            with self.subTest(type=type_, data=data):
                self.assertInvalid(
                    receipt(barcode={"type": type_, "data": data}),
                    f"barcode.data: not valid for {type_}")
        valid = [("EAN13", "690123456789"), ("EAN8", "1234567"),
            ("UPC-A", "01234567890"), ("ITF", "1234"),
            ("CODE39", "POS-0042"), ("CODE128", "pos/0042"),
            ("CODABAR", "A123B")]
        for type_, data in valid:
            with self.subTest(type=type_, data=data):
                validate(receipt(barcode={"type": type_, "data": data}))

    def test_dumps_and_loads(self):
        document = receipt(lines=[{"name": "Tea",
                    "amount": decimal.Decimal("76.00")}],
            meta=[["Date", str(dt.date(2026, 11, 23))]])
        text = dumps(document)
        self.assertEqual(loads(text)["lines"][0]["amount"], "76.00")
        self.assertEqual(
            json.loads(dumps({"at": dt.date(2026, 11, 23)})),
            {"at": "2026-11-23"})
        with self.assertRaises(ReceiptError) as context:
            dumps({"lines": [{"name": object()}]})
        self.assertEqual(str(context.exception),
            "document: object is not JSON serialisable")
        with self.assertRaises(ReceiptError) as context:
            loads("{")
        self.assertTrue(
            str(context.exception).startswith("document: not JSON"))


class LayoutTestCase(unittest.TestCase):

    def test_cjk_width(self):
        self.assertEqual(display_width("龙井 tea"), 8)
        line, = two_columns("Green tea 龙井", "76.00", 32)
        self.assertEqual(display_width(line), 32)
        self.assertTrue(line.endswith(" 76.00"))

    def test_wrap(self):
        self.assertEqual(wrap("Thank you for staying", 10),
            ["Thank you", "for", "staying"])
        self.assertEqual(wrap("谢谢惠顾谢谢惠顾", 10),
            ["谢谢惠顾谢", "谢惠顾"])

    def test_long_label_wraps_with_value_right(self):
        lines = two_columns("x" * 40, "1.00", 32)
        self.assertEqual(lines, ["x" * 32, "x" * 8, " " * 28 + "1.00"])


class RenderTestCase(unittest.TestCase):

    def test_chinese_receipt_80(self):
        data = output(receipt(copy=True, open_drawer=True))
        self.assertTrue(data.startswith(INIT + CHINESE_ON))
        self.assertIn("Green tea 龙井".encode("gb18030"), data)
        self.assertIn("谢谢惠顾".encode("gb18030"), data)
        self.assertIn("*** COPY / 重印 ***".encode("gb18030"), data)
        self.assertIn(b"-" * 48 + b"\n", data)
        self.assertNotIn(b"-" * 49, data)
        total = b"Total" + b" " * (48 - 10) + b"76.00\n"
        self.assertIn(total, data)
        qr = b"https://example.com/m/ABC"
        store = b"\x1d(k" + bytes([len(qr) + 3, 0]) + b"1P0" + qr
        self.assertIn(store, data)
        self.assertIn(b"\x1d(k\x03\x001Q0", data)
        self.assertEqual(data.count(CUT), 1)
        # the drawer is kicked after the cut
        self.assertTrue(data.endswith(CUT + KICK))

    def test_english_receipt_58(self):
        document = receipt(language="en", header=["Lobby Shop"],
            lines=[{"name": "Coffee", "amount": "25.00"}],
            member=None, footer=["Thank you"], qr=None,
            barcode={"type": "CODE128", "data": "POS0042"})
        data = output(document, width=58, code_page="cp858")
        self.assertTrue(data.startswith(INIT + b"\x1c.\x1bt\x13"))
        self.assertNotIn(CHINESE_ON, data)
        self.assertIn(b"-" * 32 + b"\n", data)
        self.assertNotIn(b"-" * 33, data)
        self.assertIn(b"Coffee" + b" " * 21 + b"25.00\n", data)
        self.assertIn(b"\x1dkI\x09{BPOS0042", data)
        self.assertNotIn(b"\x1d(k", data)
        self.assertNotIn(KICK, data)
        self.assertTrue(data.endswith(CUT))

    def test_document_width_overrides_printer(self):
        data = output(receipt(width=58), width=80)
        self.assertIn(b"-" * 32 + b"\n", data)
        self.assertNotIn(b"-" * 33, data)

    def test_file_printer(self):
        directory = tempfile.mkdtemp()
        path = os.path.join(directory, "lp0")
        printer = Printer(DeviceConfig(name="p", kind="printer",
                connection="file", path=path, width=58))
        data = printer.render("receipt", receipt())
        printer.send(data)
        printer.send(printer.render("drawer", {}))
        with open(path, "rb") as file:
            written = file.read()
        self.assertEqual(written, data + KICK)
        self.assertEqual(printer.state, "ok")
        self.assertIn(b"-" * 32 + b"\n", written)

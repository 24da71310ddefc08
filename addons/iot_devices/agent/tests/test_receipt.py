"""Receipt validation and the ESC/POS bytes python-escpos produces."""
import os
import tempfile
import unittest

from escpos.printer import Dummy
from member_iot_agent.config import DeviceConfig
from member_iot_agent.printers import Printer
from member_iot_agent.receipt import (
    ReceiptError,
    display_width,
    render,
    two_columns,
    validate,
    wrap,
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

    def assertInvalid(self, document, reason):
        with self.assertRaises(ReceiptError) as context:
            validate(document)
        self.assertEqual(str(context.exception), reason)

    def test_valid(self):
        validate(receipt(barcode={"type": "CODE128", "data": "POS0042"},
                width=58, copy=True, open_drawer=True))

    def test_reasons_name_the_field(self):
        lines = [{"name": "a", "amount": "1"}, {"name": "b"},
            {"name": "c", "amount": "12,5"}]
        self.assertInvalid(receipt(lines=lines),
            "lines[2].amount: not a decimal")
        self.assertInvalid({"title": "x"},
            "lines: required, a non-empty list")
        self.assertInvalid(receipt(lines=[{"name": "a", "amount": 1.5}]),
            "lines[0].amount: not a decimal")
        self.assertInvalid(receipt(lines=[{"amount": "1"}]),
            "lines[0].name: not a text")
        self.assertInvalid(receipt(language="fr"),
            "language: not one of en, zh_CN")
        self.assertInvalid(receipt(width=76), "width: not 58 or 80")
        self.assertInvalid(receipt(totals=[["Total"]]),
            "totals[0]: not a [label, value] pair")
        self.assertInvalid(receipt(footer=["ok", "\x1bp\x00"]),
            "footer[1]: control characters are not allowed")
        self.assertInvalid(receipt(member={"tier": 3}),
            "member.tier: not a text")
        self.assertInvalid(
            receipt(barcode={"type": "EAN13", "data": "12AB"}),
            "barcode.data: not valid for EAN13")
        self.assertInvalid(
            receipt(barcode={"type": "PDF417", "data": "1"}),
            "barcode.type: not one of CODABAR, CODE128, CODE39, CODE93, "
            "EAN13, EAN8, ITF, NW7, UPC-A, UPC-E")
        self.assertInvalid(receipt(qr="x" * 501),
            "qr: longer than 500 characters")
        self.assertInvalid(receipt(open_drawer="yes"),
            "open_drawer: not true or false")
        self.assertInvalid([], "document: not an object")


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

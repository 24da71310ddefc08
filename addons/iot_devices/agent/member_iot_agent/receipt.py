"""ESC/POS rendering of receipt documents with python-escpos.

The document format is the suite's contract (iot_protocol.md), checked by
receipt_document.validate before rendering.
"""
import contextlib
import io
import unicodedata

from escpos.constants import ESC, FS

from .receipt_document import barcode_data

COLUMNS = {58: 32, 80: 48}
INIT = ESC + b"@"
# Chinese printers print double-byte GB18030 text in "Chinese mode"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
# ESC t <n> of the usual single-byte code pages (Epson numbering)
CODE_PAGES = {
    "cp437": 0, "cp850": 2, "cp860": 3, "cp863": 4, "cp865": 5,
    "cp1252": 16, "cp866": 17, "cp852": 18, "cp858": 19,
    }


def display_width(text):
    "Columns taken by text in font A: CJK characters take two"
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text)


def wrap(text, columns):
    "Split text in lines of at most columns, at spaces when possible"
    lines, line, width = [], "", 0
    for char in text:
        char_width = display_width(char)
        if width + char_width > columns:
            head, space, tail = line.rpartition(" ")
            if space and head:
                lines.append(head)
                line = tail
            else:
                lines.append(line)
                line = ""
            width = display_width(line)
            if not line and char == " ":
                continue
        line += char
        width += char_width
    if line or not lines:
        lines.append(line)
    return lines


def two_columns(left, right, columns):
    "Return lines with left text and right text aligned to the right edge"
    room = columns - display_width(right) - 1
    if room >= 1 and display_width(left) <= room:
        return [left + " " * (columns - display_width(left)
                - display_width(right)) + right]
    lines = wrap(left, columns)
    return lines + [" " * max(columns - display_width(right), 0) + right]


class Renderer:
    "Render a receipt document on a python-escpos printer object"

    def __init__(self, printer, width=80, code_page="cp437"):
        self.printer = printer
        self.width = width
        self.code_page = code_page

    def render(self, document):
        printer = self.printer
        width = document.get("width") or self.width
        self.columns = COLUMNS[width]
        self.chinese = document.get("language") == "zh_CN"
        # python-escpos' magic encoder has no GB18030 table: the text is
        # encoded here and sent with _raw after selecting the code page
        self.encoding = "gb18030" if self.chinese else self.code_page
        printer._raw(INIT)
        if self.chinese:
            printer._raw(CHINESE_ON)
        else:
            printer._raw(CHINESE_OFF + ESC + b"t"
                + bytes([CODE_PAGES.get(self.code_page, 0)]))
        header = document.get("header") or []
        if header:
            printer.set(align="center", double_width=True,
                double_height=True)
            self.lines(wrap(header[0], self.columns // 2))
            printer.set(normal_textsize=True)
            for text in header[1:]:
                self.lines(wrap(text, self.columns))
        if document.get("title"):
            printer.set(align="center", bold=True)
            self.lines(wrap(document["title"], self.columns))
            printer.set(bold=False)
        if document.get("copy"):
            printer.set(align="center", bold=True)
            self.lines(["*** COPY / 重印 ***" if self.chinese
                    else "*** COPY ***"])
            printer.set(bold=False)
        printer.set(align="left")
        self.pairs(document.get("meta"))
        self.rule()
        for line in document["lines"]:
            self.item(line)
        self.rule()
        totals = document.get("totals") or []
        self.pairs(totals[:-1])
        if totals:
            printer.set(bold=True)
            self.pairs(totals[-1:])
            printer.set(bold=False)
        if document.get("payments"):
            self.rule()
            self.pairs(document["payments"])
        member = document.get("member")
        if member:
            self.rule()
            who = " ".join(filter(None, [member.get("number"),
                        member.get("name")]))
            if who:
                self.lines(two_columns(who, member.get("tier") or "",
                        self.columns))
            self.pairs(member.get("lines"))
        if document.get("footer"):
            self.rule()
            printer.set(align="center")
            for text in document["footer"]:
                self.lines(wrap(text, self.columns))
        if document.get("qr"):
            printer.set(align="center")
            printer.qr(document["qr"], native=True,
                size=6 if width == 80 else 4)
        barcode = document.get("barcode")
        if barcode:
            # python-escpos prints its renderer choice on stdout
            with contextlib.redirect_stdout(io.StringIO()):
                printer.barcode(barcode_data(barcode), barcode["type"],
                    width=2 if width == 58 else 3)
        printer.set(align="left")
        printer.cut()
        if document.get("open_drawer"):
            kick(printer)

    def lines(self, lines):
        for line in lines:
            self.printer._raw(
                line.encode(self.encoding, errors="replace") + b"\n")

    def rule(self):
        self.lines(["-" * self.columns])

    def pairs(self, pairs):
        for label, value in pairs or []:
            self.lines(two_columns(label, value, self.columns))

    def item(self, line):
        amount = line.get("amount") or ""
        quantity, price = line.get("quantity"), line.get("unit_price")
        if quantity is None and price is None:
            self.lines(two_columns(line["name"], amount, self.columns))
        else:
            self.lines(wrap(line["name"], self.columns))
            detail = "  " + " x ".join(
                str(v) for v in (quantity, price) if v is not None)
            self.lines(two_columns(detail, amount, self.columns))
        if line.get("note"):
            self.lines(wrap("  " + line["note"], self.columns))


def kick(printer):
    "Pulse the cash drawer on pin 2 of the printer's kick connector"
    printer.cashdraw(2)


def render(printer, document, width=80, code_page="cp437"):
    "Render the (validated) document on printer"
    Renderer(printer, width, code_page).render(document)


"""Receipt documents: the one validator of the suite's contract.

The agent checks a document before printing it and the server module
(trytond iot_devices, which depends on this package) checks it before
queueing a job, both with validate() here, so a job the server accepts
never fails on the agent. No trytond here: the agent runs without it.

Every error is one line starting with the path of the offending field,
e.g. ``lines[2].amount: not a decimal``.
"""
import datetime as dt
import decimal
import json
import re

from escpos.escpos import Escpos

WIDTHS = (58, 80)
LANGUAGES = ("en", "zh_CN")
# the types printed by the printer itself (python-escpos' BARCODE_FORMATS)
BARCODE_TYPES = ("CODABAR", "CODE128", "CODE39", "CODE93", "EAN13", "EAN8",
    "ITF", "NW7", "UPC-A", "UPC-E")
MAX_QR = 500
MAX_SIZE = 256 * 1024
# a stray ESC in a name would send commands to the printer
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ReceiptError(ValueError):
    "A one-line reason naming the field of the receipt document"


def _text(value, where, blank=True):
    "A string without control characters, not blank unless allowed"
    if not isinstance(value, str):
        raise ReceiptError(f"{where}: not a text")
    if not blank and not value.strip():
        raise ReceiptError(f"{where}: required")
    if CONTROL.search(value):
        raise ReceiptError(f"{where}: control characters are not allowed")


def _optional_text(value, where):
    if value is not None:
        _text(value, where)


def _decimal(value, where):
    "A decimal number written as a string, as the contract says"
    if value is None:
        return
    if not isinstance(value, str):
        raise ReceiptError(f"{where}: not a decimal")
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ReceiptError(f"{where}: not a decimal")
    if not number.is_finite():
        raise ReceiptError(f"{where}: not a decimal")


def _list(value, where):
    if not isinstance(value, list):
        raise ReceiptError(f"{where}: not a list")
    return value


def _object(value, where):
    if not isinstance(value, dict):
        raise ReceiptError(f"{where}: not an object")
    return value


def _texts(value, where):
    if value is None:
        return
    for i, item in enumerate(_list(value, where)):
        _text(item, f"{where}[{i}]")


def _pairs(value, where):
    "A list of [label, value] texts"
    if value is None:
        return
    for i, pair in enumerate(_list(value, where)):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ReceiptError(f"{where}[{i}]: not a [label, value] pair")
        _text(pair[0], f"{where}[{i}][0]")
        _text(pair[1], f"{where}[{i}][1]")


def barcode_data(barcode):
    "Return the data as python-escpos expects it for the barcode type"
    if barcode["type"] == "CODE128" and not barcode["data"].startswith(
            "{"):
        return "{B" + barcode["data"]
    return barcode["data"]


def validate(document):
    """Raise ReceiptError if document is not a valid receipt document

    A key set to null counts as absent; unknown keys are ignored."""
    _object(document, "document")
    if len(dumps(document).encode("utf-8")) > MAX_SIZE:
        raise ReceiptError(f"document: larger than {MAX_SIZE} bytes")
    language = document.get("language")
    if language is not None and language not in LANGUAGES:
        raise ReceiptError("language: not one of en, zh_CN")
    width = document.get("width")
    if width is not None and (
            isinstance(width, bool) or width not in WIDTHS):
        raise ReceiptError("width: not 58 or 80")
    for key in ("copy", "open_drawer"):
        if document.get(key) is not None and not isinstance(
                document[key], bool):
            raise ReceiptError(f"{key}: not true or false")
    _texts(document.get("header"), "header")
    _texts(document.get("footer"), "footer")
    _optional_text(document.get("title"), "title")
    for key in ("meta", "totals", "payments"):
        _pairs(document.get(key), key)
    lines = document.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ReceiptError("lines: required, a non-empty list")
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        _object(line, where)
        if line.get("name") is None:
            raise ReceiptError(f"{where}.name: required")
        _text(line["name"], f"{where}.name", blank=False)
        for key in ("quantity", "unit_price", "amount"):
            _decimal(line.get(key), f"{where}.{key}")
        _optional_text(line.get("note"), f"{where}.note")
    member = document.get("member")
    if member is not None:
        _object(member, "member")
        for key in ("number", "name", "tier"):
            _optional_text(member.get(key), f"member.{key}")
        _pairs(member.get("lines"), "member.lines")
    qr = document.get("qr")
    if qr is not None:
        _text(qr, "qr", blank=False)
        if len(qr) > MAX_QR:
            raise ReceiptError(f"qr: longer than {MAX_QR} characters")
    barcode = document.get("barcode")
    if barcode is not None:
        _object(barcode, "barcode")
        if barcode.get("type") not in BARCODE_TYPES:
            raise ReceiptError("barcode.type: not one of "
                + ", ".join(BARCODE_TYPES))
        if barcode.get("data") is None:
            raise ReceiptError("barcode.data: required")
        _text(barcode["data"], "barcode.data", blank=False)
        if not Escpos.check_barcode(barcode["type"], barcode_data(barcode)):
            raise ReceiptError(
                f"barcode.data: not valid for {barcode['type']}")


def _default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise ReceiptError(
        f"document: {type(value).__name__} is not JSON serialisable")


def dumps(document):
    "Return the document as JSON text, Decimals and dates as strings"
    return json.dumps(
        document, default=_default, ensure_ascii=False, sort_keys=True)


def loads(text):
    "Parse and validate JSON text, return the document"
    try:
        document = json.loads(text)
    except ValueError as exception:
        raise ReceiptError(f"document: not JSON ({exception})")
    validate(document)
    return document

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Validation of receipt documents (see the protocol in README.rst).

Pure Python on purpose: the box agent applies the same rules in its own
package, which cannot import trytond. Every error is one line starting
with the path of the offending field, e.g. ``lines[2].amount: not a
decimal``.
"""
import datetime as dt
import json
from decimal import Decimal, InvalidOperation

MAX_SIZE = 256 * 1024
MAX_QR = 500
LANGUAGES = {'zh_CN', 'en'}
WIDTHS = {58, 80}
BARCODE_TYPES = {
    'UPC-A', 'UPC-E', 'EAN13', 'EAN8', 'CODE39', 'ITF', 'NW7', 'CODABAR',
    'CODE93', 'CODE128'}


class InvalidDocument(ValueError):
    "The receipt document breaks a rule; str() is the one-line reason"


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise InvalidDocument(
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
        raise InvalidDocument(f"document: not JSON ({exception})")
    validate(document)
    return document


def _string(value, path, required=False):
    if value is None:
        if required:
            raise InvalidDocument(f"{path}: is required")
        return
    if not isinstance(value, str):
        raise InvalidDocument(f"{path}: not a string")
    if required and not value.strip():
        raise InvalidDocument(f"{path}: is required")


def _decimal(value, path, required=False):
    if value is None:
        if required:
            raise InvalidDocument(f"{path}: is required")
        return
    if not isinstance(value, str):
        raise InvalidDocument(f"{path}: not a decimal")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidDocument(f"{path}: not a decimal")
    if not number.is_finite():
        raise InvalidDocument(f"{path}: not a decimal")


def _boolean(value, path):
    if value is not None and not isinstance(value, bool):
        raise InvalidDocument(f"{path}: not a boolean")


def _list(value, path):
    if not isinstance(value, list):
        raise InvalidDocument(f"{path}: not a list")
    return value


def _object(value, path):
    if not isinstance(value, dict):
        raise InvalidDocument(f"{path}: not an object")
    return value


def _strings(value, path):
    if value is None:
        return
    for i, item in enumerate(_list(value, path)):
        _string(item, f'{path}[{i}]')


def _pairs(value, path):
    "A list of [label, value] string pairs"
    if value is None:
        return
    for i, pair in enumerate(_list(value, path)):
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)):
            raise InvalidDocument(f"{path}[{i}]: not a [label, value] pair")


def validate(document):
    "Raise InvalidDocument unless the document follows the rules"
    _object(document, 'document')
    if len(dumps(document).encode('utf-8')) > MAX_SIZE:
        raise InvalidDocument(f"document: larger than {MAX_SIZE} bytes")
    language = document.get('language')
    if language is not None and language not in LANGUAGES:
        raise InvalidDocument(
            f"language: not one of {', '.join(sorted(LANGUAGES))}")
    width = document.get('width')
    if width is not None and (
            isinstance(width, bool) or width not in WIDTHS):
        raise InvalidDocument("width: not 58 or 80")
    _boolean(document.get('copy'), 'copy')
    _boolean(document.get('open_drawer'), 'open_drawer')
    _strings(document.get('header'), 'header')
    _strings(document.get('footer'), 'footer')
    _string(document.get('title'), 'title')
    for key in ['meta', 'totals', 'payments']:
        _pairs(document.get(key), key)
    if not document.get('lines'):
        raise InvalidDocument("lines: is required")
    for i, line in enumerate(_list(document['lines'], 'lines')):
        path = f'lines[{i}]'
        _object(line, path)
        _string(line.get('name'), f'{path}.name', required=True)
        _decimal(line.get('amount'), f'{path}.amount', required=True)
        for key in ['quantity', 'unit_price']:
            _decimal(line.get(key), f'{path}.{key}')
        _string(line.get('note'), f'{path}.note')
    member = document.get('member')
    if member is not None:
        _object(member, 'member')
        for key in ['number', 'name', 'tier']:
            _string(member.get(key), f'member.{key}')
        _pairs(member.get('lines'), 'member.lines')
    qr = document.get('qr')
    if qr is not None:
        _string(qr, 'qr', required=True)
        if len(qr) > MAX_QR:
            raise InvalidDocument(f"qr: longer than {MAX_QR} characters")
    barcode = document.get('barcode')
    if barcode is not None:
        _object(barcode, 'barcode')
        if barcode.get('type') not in BARCODE_TYPES:
            raise InvalidDocument(
                f"barcode.type: not one of {', '.join(sorted(BARCODE_TYPES))}")
        _string(barcode.get('data'), 'barcode.data', required=True)

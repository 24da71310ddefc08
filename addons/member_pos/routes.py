# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""The cashier page and its JSON API (user application ``member_pos``).

``GET /<db>/member_pos/cashier`` serves the page (no data, no auth) and
``GET /<db>/member_pos/static/<name>`` its script and style sheet.

Sign-in: the page posts ``{"user": <login>, "application": "member_pos"}``
to ``/<db>/user/application/`` and keeps the key it gets; a back-office
user validates the request once (Users > Applications); until then the
API answers 401 and the page shows "waiting for validation". Every API
call sends ``Authorization: Bearer <key>`` and runs as the key's user,
with its access rules and preferences (company, language). A sale point
with a property is only for users of that property (``member_properties``)
and member administrators or services. A cashier needs the groups "POS"
and "POS Posting" (the page posts each sale) and, as property staff,
serves the members their record rules show.

Bodies and answers are JSON with Decimals as strings. Errors are
``{"error": "<one line>"}``: 400 malformed payload naming the field, 401
no or unvalidated key, 403 sale point not allowed, 404 unknown record,
409 client key reused with another body, 422 refused by the business
rules (member_core's card refusals, insufficient points, wrong PIN…),
503 database busy: retry with the same client key.

- ``GET session`` → user, company, currency, sale points (with their
  programme and property), payment methods.
- ``POST identify`` ``{point, code}`` (card swipe, QR payload, card
  number or phone) → the member with tier, discount, card and balances.
- ``GET products?point=&q=&barcode=&ids=&member=`` → products (found by
  name or code, barcode, or ids) with their price and the member's price.
- ``POST sales`` ``{client_key, point, code?, member?, lines: [{product,
  quantity}], payments: [{method, amount?, points?, pin?, card?}]}``
  creates, pays, processes and posts the sale in one transaction. The
  client key is stored on the sale: a retry with the same key and body
  answers the first sale again, another body with that key is a 409. Cash
  beyond the total is given back as change.
- ``GET sales?number=`` → the posted sale of that number (from its
  receipt) at one of the user's sale points, with its lines and the
  quantities still returnable; 404 when there is none.
- ``POST sales/<id>/return`` ``{client_key, lines: [{line, quantity}]}``
  returns quantities of the lines of a posted sale; member payments are
  refunded in proportion of the amount returned, the rest in cash.
- ``GET sales/<id>/receipt?copy=1`` → the receipt document; a copy is
  counted on the sale (``receipt_copies``).
"""
import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import wraps
from http import HTTPStatus

from werkzeug.exceptions import abort

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import Unique, fields
from trytond.model.exceptions import AccessError, SQLConstraintError
from trytond.pool import Pool, PoolMeta
from trytond.protocols.wrappers import (
    Response,
    user_application,
    with_pool,
    with_transaction,
)
from trytond.tools import file_open
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from .receipt import mask_number

logger = logging.getLogger(__name__)

APPLICATION = 'member_pos'
CLIENT_KEY = re.compile(r'^[A-Za-z0-9._:-]{8,100}$')
PRODUCT_LIMIT = 30
STATIC = {
    'cashier.html': 'text/html; charset=utf-8',
    'cashier.js': 'text/javascript; charset=utf-8',
    'cashier.css': 'text/css; charset=utf-8',
    }
# The page talks to the box agent on another origin of the LAN
PAGE_POLICY = (
    "default-src 'self'; connect-src 'self' http: https:; "
    "img-src 'self' data:; frame-ancestors 'none'")


class UserApplication(metaclass=PoolMeta):
    __name__ = 'res.user.application'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.application.selection.append((APPLICATION, "Cashier Page"))


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    client_key = fields.Char(
        "Client Key", readonly=True, strip=False,
        help="The idempotency key the cashier page posted the sale with.")
    client_digest = fields.Char("Client Digest", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('client_key_unique', Unique(t, t.client_key),
                'member_pos.msg_sale_client_key_unique'),
            ]

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('client_key')
        default.setdefault('client_digest')
        return super().copy(sales, default=default)


class _Replay(Exception):
    "Another request stored the same client key meanwhile"


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _response(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data, default=_json_default, ensure_ascii=False),
        status=status, content_type='application/json')


def _abort(status, reason):
    abort(_response({'error': reason}, status))


def _first_line(message):
    return (str(message or '').strip().splitlines() or [''])[0]


def retry_busy(func):
    """Answer lock conflicts with 503 so the page retries with the same
    client key, and replay once a request that lost a client key race"""
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        try:
            try:
                return func(request, pool, *args, **kwargs)
            except _Replay:
                return func(request, pool, *args, **kwargs)
        except (backend.DatabaseOperationalError, _Replay):
            logger.info("busy: %s", request, exc_info=True)
            return _response(
                {'error': "database busy, retry with the same client key"},
                HTTPStatus.SERVICE_UNAVAILABLE)
    return wrapper


def cashier(func):
    """Run with the preferences of the key's user and answer user errors
    with a one-line JSON reason (the transaction is rolled back)"""
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        try:
            context = _user_context(pool)
            with Transaction().set_context(context):
                return func(request, pool, *args, **kwargs)
        except AccessError as exception:
            _abort(HTTPStatus.FORBIDDEN, _first_line(exception.message))
        except UserError as exception:
            _abort(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                _first_line(exception.message))
    return wrapper


def _user_context(pool):
    """The context of the user's preferences that the API needs (reading
    them all would double the time of an identification)"""
    Configuration = pool.get('ir.configuration')
    User = pool.get('res.user')
    user, = User.read([Transaction().user], [
            'company', 'employee', 'company_filter', 'language.code'])
    context = {
        'language': (user['language.']['code'] if user['language.']
            else Configuration.get_language()),
        'company_filter': user['company_filter'],
        }
    if user['company']:
        context['company'] = user['company']
    if user['employee']:
        context['employee'] = user['employee']
    return context


def _static(name):
    with file_open(os.path.join('member_pos', 'static', name), 'rb') as file:
        data = file.read()
    headers = {'Cache-Control': 'no-cache'}
    if name.endswith('.html'):
        headers['Content-Security-Policy'] = PAGE_POLICY
    return Response(data, content_type=STATIC[name], headers=headers)


@app.route('/<database_name>/member_pos/cashier', methods={'GET'})
def cashier_page(request, database_name):
    return _static('cashier.html')


@app.route('/<database_name>/member_pos/static/<name>', methods={'GET'})
def cashier_static(request, database_name, name):
    if name not in STATIC:
        abort(HTTPStatus.NOT_FOUND)
    return _static(name)


# Payload checks: each names the field of the bad value

def _body(request):
    try:
        data = json.loads(request.get_data() or b'{}', parse_float=Decimal)
    except ValueError:
        _abort(HTTPStatus.BAD_REQUEST, "body: not JSON")
    if not isinstance(data, dict):
        _abort(HTTPStatus.BAD_REQUEST, "body: not an object")
    return data


def _id(data, key, path, required=True):
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not an id")
    return value


def _string(data, key, path, required=True, max_length=200):
    value = data.get(key)
    if value is None and not required:
        return None
    if (not isinstance(value, str) or not value.strip()
            or len(value) > max_length):
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a string")
    return value.strip()


def _decimal(data, key, path, required=True):
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a decimal")
    try:
        value = Decimal(value)
    except InvalidOperation:
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a decimal")
    if not value.is_finite() or value <= 0:
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a positive decimal")
    return value


def _objects(data, key, path, required=True):
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a non-empty list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            _abort(HTTPStatus.BAD_REQUEST, f"{path}[{i}]: not an object")
    return value


def _client_key(data):
    key = _string(data, 'client_key', 'client_key')
    if not CLIENT_KEY.match(key):
        _abort(
            HTTPStatus.BAD_REQUEST,
            "client_key: 8 to 100 letters, digits or . _ : -")
    return key


def _digest(data):
    "Fingerprint of the body without its key and PINs (never stored)"
    data = {k: v for k, v in data.items() if k != 'client_key'}
    if isinstance(data.get('payments'), list):
        data['payments'] = [
            {k: v for k, v in p.items() if k != 'pin'}
            if isinstance(p, dict) else p
            for p in data['payments']]
    canonical = json.dumps(data, sort_keys=True, default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _record(Model, id_, path):
    "Return the record id_ of Model if the user may read it"
    records = Model.search([('id', '=', id_)], limit=1)
    if not records:
        _abort(HTTPStatus.NOT_FOUND, f"{path}: unknown")
    return records[0]


def point_allowed(point):
    """Tell if the user may sell at the point: a point of a property is
    for the staff of the property and the member administration"""
    pool = Pool()
    User = pool.get('res.user')
    if not point.property:
        return True
    if (User.in_group('group_member_admin')
            or User.in_group('group_member_services')):
        return True
    return point.property.id in User.get_member_properties()


def _point(pool, point_id, path='point'):
    POS = pool.get('sale.point')
    point = _record(POS, point_id, path)
    if not point_allowed(point):
        _abort(HTTPStatus.FORBIDDEN, f"{path}: not one of your sale points")
    return point


def member_info(member, card=None, date=None):
    "Return what the cashier sees of member (and the card used)"
    pool = Pool()
    Card = pool.get('member.card')
    Ledger = pool.get('member.point.ledger')
    PointType = pool.get('member.point.type')
    Tier = pool.get('member.tier')
    benefits = Tier.get_benefits(member, date=date)
    balances = []
    types = PointType.search([
            ('programme', '=', member.programme.id),
            ('kind', 'in', ['redeemable', 'stored_value']),
            ], order=[('kind', 'ASC'), ('id', 'ASC')])
    for type_ in types:
        balance = Ledger.balance(member, type_)
        value = None
        if type_.point_value:
            value = (balance['available'] * type_.point_value).quantize(
                Decimal('0.01'), rounding=ROUND_DOWN)
        balances.append({
                'type': type_.id,
                'name': type_.name,
                'kind': type_.kind,
                'balance': balance['balance'],
                'available': balance['available'],
                'value': value,
                })
    stored_cards = Card.search([
            ('member', '=', member.id),
            ('product.kind', '=', 'stored_value'),
            ('state', '=', 'active'),
            ], limit=1)
    tier = benefits.get('tier')
    info = {
        'id': member.id,
        'name': member.name,
        'number': mask_number(member.member_number),
        'state': member.member_state,
        'tier': tier.name if tier else None,
        'discount': benefits.get('discount') or Decimal(0),
        'balances': balances,
        'card': None,
        'stored_value_card': None,
        }
    if card:
        info['card'] = {
            'id': card.id,
            'number': mask_number(card.number),
            'state': card.state,
            'state_string': card.state_string,
            'kind': card.product.kind,
            'product': card.product.name,
            }
    if stored_cards:
        stored, = stored_cards
        info['stored_value_card'] = {
            'id': stored.id,
            'number': mask_number(stored.number),
            'pin_required': bool(
                stored.product.pin_required or stored.has_pin),
            }
    return info


def sale_result(sale):
    "Return the answer of a posted sale (also to a replayed request)"
    lines = [{
            'id': line.id,
            'product': line.product.id,
            'name': line.product.name,
            'quantity': Decimal(str(line.quantity)),
            'unit_price': line.unit_price,
            'original_unit_price': line.original_unit_price,
            'member_discount': line.member_discount,
            'amount': line.amount,
            } for line in sale.lines]
    payments = [{
            'method': payment.method.id,
            'name': payment.method.name,
            'amount': payment.amount,
            'points': payment.points,
            } for payment in sale.payments]
    change = -sum((p.amount for p in sale.payments
            if p.method.cash and p.amount < 0), Decimal(0))
    return {
        'id': sale.id,
        'number': sale.number,
        'state': sale.state,
        'date': sale.date,
        'return_of': sale.return_of.id if sale.return_of else None,
        'total': sale.total,
        'total_tax': sale.total_tax,
        'amount_paid': sale.amount_paid,
        'change': change if sale.total >= 0 else Decimal(0),
        'lines': lines,
        'payments': payments,
        'points_earned': sale.points_earned if sale.member else None,
        'points_redeemed': sale.points_redeemed if sale.member else None,
        'member': (member_info(sale.member, sale.member_card)
            if sale.member else None),
        'receipt': sale.get_receipt_document(),
        'receipt_queued': bool(sale.receipt_printed),
        }


def _replayed(Sale, key, digest):
    "Return the sale stored with key, refusing another body with it"
    sales = Sale.search([('client_key', '=', key)], limit=1)
    if not sales:
        return None
    sale, = sales
    if sale.client_digest != digest:
        _abort(
            HTTPStatus.CONFLICT,
            "client_key: already used for another sale")
    if not point_allowed(sale.point):
        _abort(HTTPStatus.FORBIDDEN, "point: not one of your sale points")
    return sale


def _create_sale(Sale, values):
    try:
        sale, = Sale.create([values])
    except SQLConstraintError as exception:
        # a concurrent request committed the key: its answer is replayed
        # from a new transaction
        if exception.message == gettext(
                'member_pos.msg_sale_client_key_unique'):
            raise _Replay
        raise
    return sale


def _payment(Payment, sale, values, path):
    "Take the payment of values, naming the row when it is refused"
    try:
        Payment.create([{'sale': sale.id, **values}])
    except AccessError:
        raise
    except UserError as exception:
        _abort(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"{path}: {_first_line(exception.message)}")


def _settle(pool, sale, path='payments'):
    "Give the cash beyond the total back as change; process and post"
    Method = pool.get('sale.point.payment.method')
    Payment = pool.get('sale.point.payment')
    Sale = pool.get('sale.point.sale')
    sale = Sale(sale.id)
    if sale.amount_to_pay:
        cash_paid = any(p.method.cash for p in sale.payments)
        if sale.amount_to_pay > 0 or (
                not cash_paid and sale.total >= 0):
            money = sale.company.currency.round
            _abort(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"{path}: {money(sale.total)} to pay, "
                f"{money(sale.amount_paid)} paid")
        cash = Method.search([
                ('company', '=', sale.company.id),
                ('cash', '=', True),
                ], limit=1)
        if not cash:
            _abort(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"{path}: no cash payment method for the change")
        _payment(Payment, sale, {
                'method': cash[0].id,
                'amount': sale.amount_to_pay,
                }, path)
    Sale.process([sale])
    sale = Sale(sale.id)
    Sale.post([sale])
    return Sale(sale.id)


@app.route('/<database_name>/member_pos/session', methods={'GET'})
@with_pool
@retry_busy
@with_transaction()
@user_application(APPLICATION)
@cashier
def session(request, pool):
    Company = pool.get('company.company')
    Method = pool.get('sale.point.payment.method')
    POS = pool.get('sale.point')
    User = pool.get('res.user')
    user = User(Transaction().user)
    company_id = Transaction().context.get('company')
    if not company_id:
        _abort(HTTPStatus.FORBIDDEN, "user: no current company")
    company = Company(company_id)
    currency = company.currency
    points = []
    for point in POS.search([('company', '=', company.id)]):
        if not point_allowed(point):
            continue
        points.append({
                'id': point.id,
                'name': point.name,
                'tax_included': point.tax_included,
                'programme': ({
                        'id': point.programme.id,
                        'name': point.programme.name,
                        } if point.programme else None),
                'property': ({
                        'id': point.property.id,
                        'name': point.property.name,
                        } if point.property else None),
                })
    methods = []
    for method in Method.search([('company', '=', company.id)]):
        type_ = method.point_type
        methods.append({
                'id': method.id,
                'name': method.name,
                'cash': bool(method.cash),
                'member_payment': method.member_payment,
                'point_type': ({
                        'id': type_.id,
                        'name': type_.name,
                        'point_value': type_.point_value,
                        'digits': type_.digits,
                        } if type_ else None),
                })
    # the page follows the browser unless the user chose a language
    language = user.language.code if user.language else None
    return _response({
            'user': {
                'id': user.id, 'name': user.name, 'login': user.login,
                'language': language,
                },
            'company': {'id': company.id, 'name': company.rec_name},
            'currency': {
                'code': currency.code, 'symbol': currency.symbol,
                'digits': currency.digits,
                },
            'points': points,
            'methods': methods,
            })


@app.route('/<database_name>/member_pos/identify', methods={'POST'})
@with_pool
@retry_busy
@with_transaction(readonly=True)
@user_application(APPLICATION)
@cashier
def identify_member(request, pool):
    data = _body(request)
    point = _point(pool, _id(data, 'point', 'point'))
    code = _string(data, 'code', 'code')
    if not point.programme:
        _abort(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "point: no member programme at this sale point")
    member, card = pool.get('sale.point.sale').identify_code(
        point.programme, code)
    return _response(member_info(member, card))


@app.route('/<database_name>/member_pos/products', methods={'GET'})
@with_pool
@retry_busy
@with_transaction()
@user_application(APPLICATION)
@cashier
def products(request, pool):
    Date = pool.get('ir.date')
    Line = pool.get('sale.point.sale.line')
    Party = pool.get('party.party')
    Product = pool.get('product.product')
    Sale = pool.get('sale.point.sale')
    args = request.args
    point = _point(pool, _id(args, 'point', 'point'))
    member = None
    if args.get('member'):
        member = _record(Party, _id(args, 'member', 'member'), 'member')
        if member.programme != point.programme:
            _abort(HTTPStatus.BAD_REQUEST, "member: not of the programme")
    domain = [('salable', '=', True)]
    barcode = (args.get('barcode') or '').strip()
    query = (args.get('q') or '').strip()
    if args.get('ids'):
        ids = args['ids'].split(',')
        if not all(i.isdigit() for i in ids):
            _abort(HTTPStatus.BAD_REQUEST, "ids: not a list of ids")
        domain.append(('id', 'in', [int(i) for i in ids]))
    elif barcode:
        domain.append(['OR',
                ('code', '=', barcode),
                ('identifiers.code', '=', barcode),
                ])
    elif query:
        domain.append(('rec_name', 'ilike', f'%{query}%'))
    found = Product.search(domain, limit=PRODUCT_LIMIT, order=[
            ('rec_name', 'ASC'), ('id', 'ASC')])
    # An unsaved sale prices the products as its lines would be
    sale = Sale(
        point=point, company=point.company, date=Date.today(),
        member=member, member_card=None, lines=[])
    sale._member_benefits()
    result = []
    for product in found:
        line = Line(sale=sale, product=product, quantity=1)
        line.on_change_product()
        if line.unit_price is None:
            continue
        result.append({
                'id': product.id,
                'name': product.name,
                'code': product.code,
                'unit': product.sale_uom.symbol,
                'list_price': line.original_unit_price,
                'price': line.unit_price,
                'member_discount': line.member_discount,
                'count_card': bool(product.member_count_card),
                'stored_value': bool(product.member_stored_value),
                })
    return _response({'products': result})


@app.route('/<database_name>/member_pos/sales', methods={'POST'})
@with_pool
@retry_busy
@with_transaction()
@user_application(APPLICATION)
@cashier
def post_sale(request, pool):
    Card = pool.get('member.card')
    Line = pool.get('sale.point.sale.line')
    Method = pool.get('sale.point.payment.method')
    Party = pool.get('party.party')
    Payment = pool.get('sale.point.payment')
    Product = pool.get('product.product')
    Sale = pool.get('sale.point.sale')
    data = _body(request)
    key = _client_key(data)
    digest = _digest(data)
    if sale := _replayed(Sale, key, digest):
        return _response(sale_result(sale))

    point = _point(pool, _id(data, 'point', 'point'))
    code = _string(data, 'code', 'code', required=False)
    member_id = _id(data, 'member', 'member', required=False)
    lines = []
    for i, line in enumerate(_objects(data, 'lines', 'lines')):
        path = f'lines[{i}]'
        product_id = _id(line, 'product', f'{path}.product')
        quantity = _decimal(line, 'quantity', f'{path}.quantity')
        products = Product.search([
                ('id', '=', product_id),
                ('salable', '=', True),
                ], limit=1)
        if not products:
            _abort(
                HTTPStatus.BAD_REQUEST,
                f"{path}.product: unknown or not salable")
        lines.append((products[0], quantity))
    payments = []
    for i, payment in enumerate(_objects(data, 'payments', 'payments')):
        path = f'payments[{i}]'
        method = _record(
            Method, _id(payment, 'method', f'{path}.method'),
            f'{path}.method')
        if method.company != point.company:
            _abort(HTTPStatus.BAD_REQUEST, f"{path}.method: unknown")
        values = {'method': method.id}
        if method.member_payment == 'points':
            values['points'] = _decimal(payment, 'points', f'{path}.points')
        else:
            values['amount'] = _decimal(payment, 'amount', f'{path}.amount')
        if method.member_payment == 'stored_value':
            card_id = _id(payment, 'card', f'{path}.card', required=False)
            if card_id:
                values['member_card'] = _record(
                    Card, card_id, f'{path}.card').id
            pin = payment.get('pin')
            if pin is not None:
                values['pin'] = _string(
                    payment, 'pin', f'{path}.pin', max_length=12)
        payments.append((path, method, values))

    sale = _create_sale(Sale, {
            'point': point.id,
            'client_key': key,
            'client_digest': digest,
            })
    if code:
        member = Sale.set_member([sale], code)
        if member_id and member.id != member_id:
            _abort(HTTPStatus.CONFLICT, "member: not the member of code")
    elif member_id:
        member = _record(Party, member_id, 'member')
        Sale.write([sale], {'member': member.id})
    sale = Sale(sale.id)
    to_save = []
    for product, quantity in lines:
        line = Line(sale=sale, product=product, quantity=float(quantity))
        line.on_change_product()
        to_save.append(line)
    Line.save(to_save)

    sale = Sale(sale.id)
    # Member payments may not exceed what is left to pay: before the cash
    order = {'points': 0, 'stored_value': 1}
    payments.sort(key=lambda p: (
            order.get(p[1].member_payment, 2), bool(p[1].cash)))
    for path, method, values in payments:
        if (method.member_payment == 'stored_value'
                and 'member_card' not in values and sale.member):
            info = member_info(sale.member)
            if info['stored_value_card']:
                values['member_card'] = info['stored_value_card']['id']
        _payment(Payment, sale, values, path)
    sale = _settle(pool, sale)
    return _response(sale_result(sale))


@app.route(
    '/<database_name>/member_pos/sales/<int:sale_id>/return',
    methods={'POST'})
@with_pool
@retry_busy
@with_transaction()
@user_application(APPLICATION)
@cashier
def return_sale(request, pool, sale_id):
    Line = pool.get('sale.point.sale.line')
    Payment = pool.get('sale.point.payment')
    Sale = pool.get('sale.point.sale')
    data = _body(request)
    data['sale'] = sale_id
    key = _client_key(data)
    digest = _digest(data)
    if sale := _replayed(Sale, key, digest):
        return _response(sale_result(sale))

    original = _record(Sale, sale_id, 'sale')
    if not point_allowed(original.point):
        _abort(HTTPStatus.FORBIDDEN, "point: not one of your sale points")
    if original.state != 'posted' or original.total <= 0:
        _abort(HTTPStatus.UNPROCESSABLE_ENTITY, "sale: not a posted sale")
    sold = _left_to_return(original)
    originals = {line.id: line for line in original.lines}
    returns = []
    for i, item in enumerate(_objects(data, 'lines', 'lines')):
        path = f'lines[{i}]'
        line = originals.get(_id(item, 'line', f'{path}.line'))
        if not line:
            _abort(HTTPStatus.BAD_REQUEST, f"{path}.line: not of the sale")
        quantity = _decimal(item, 'quantity', f'{path}.quantity')
        if quantity > sold[line.product]:
            _abort(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"{path}.quantity: {quantity} is more than the "
                f"{sold[line.product]} left to return")
        sold[line.product] -= quantity
        returns.append((line, quantity))

    sale = _create_sale(Sale, {
            'point': original.point.id,
            'client_key': key,
            'client_digest': digest,
            'return_of': original.id,
            'member': original.member.id if original.member else None,
            'member_card': (original.member_card.id
                if original.member_card else None),
            })
    Line.create([{
                'sale': sale.id,
                'product': line.product.id,
                'quantity': -float(quantity),
                'unit_list_price': line.unit_list_price,
                'unit_gross_price': line.unit_gross_price,
                'original_unit_list_price': line.original_unit_list_price,
                'original_unit_gross_price': line.original_unit_gross_price,
                'member_discount': line.member_discount,
                } for line, quantity in returns])
    sale = Sale(sale.id)
    for values in _member_refunds(Sale, original, sale):
        _payment(Payment, sale, values, 'payments')
    # the rest is refunded in cash
    sale = _settle(pool, sale)
    return _response(sale_result(sale))


def _left_to_return(original):
    "Return {product: quantity} of the sale not returned yet"
    Sale = Pool().get('sale.point.sale')
    sold = defaultdict(Decimal)
    for line in original.lines:
        sold[line.product] += Decimal(str(line.quantity))
    for other in Sale.search([
                ('return_of', '=', original.id),
                ('state', '!=', 'cancelled'),
                ]):
        for line in other.lines:
            sold[line.product] += Decimal(str(line.quantity))
    return sold


@app.route('/<database_name>/member_pos/sales', methods={'GET'})
@with_pool
@retry_busy
@with_transaction()
@user_application(APPLICATION)
@cashier
def find_sale(request, pool):
    "The posted sale of a number (from its receipt) with what is returnable"
    Sale = pool.get('sale.point.sale')
    number = _string(request.args, 'number', 'number', max_length=100)
    sales = [s for s in Sale.search([
                ('number', '=', number),
                ('state', '=', 'posted'),
                ('return_of', '=', None),
                ]) if point_allowed(s.point)]
    if not sales:
        _abort(HTTPStatus.NOT_FOUND, "number: no posted sale of yours")
    sale = sales[0]
    left = _left_to_return(sale)
    lines = []
    for line in sale.lines:
        returnable = min(Decimal(str(line.quantity)), left[line.product])
        left[line.product] -= max(returnable, Decimal(0))
        if returnable > 0:
            lines.append({
                    'id': line.id,
                    'name': line.product.name,
                    'quantity': returnable,
                    })
    return _response({
            'id': sale.id,
            'number': sale.number,
            'date': sale.date,
            'total': sale.total,
            'lines': lines,
            })


def _member_refunds(Sale, original, sale):
    """Return the values of the payments refunding the member payments of
    original in proportion of the amount sale returns"""
    currency = original.company.currency
    ratio = min(-sale.total / original.total, Decimal(1))
    paid = defaultdict(Decimal)
    cards = {}
    for payment in original.payments:
        if payment.method.member_payment:
            paid[payment.method] += payment.amount
            cards.setdefault(payment.method, payment.member_card)
    for other in Sale.search([
                ('return_of', '=', original.id),
                ('state', '=', 'posted'),
                ]):
        for payment in other.payments:
            if payment.method in paid:
                paid[payment.method] += payment.amount
    refunds = []
    for method, amount in paid.items():
        refund = min(currency.round(amount * ratio), amount)
        if refund <= 0:
            continue
        values = {'method': method.id, 'amount': -refund}
        if cards.get(method):
            values['member_card'] = cards[method].id
        refunds.append(values)
    return refunds


@app.route(
    '/<database_name>/member_pos/sales/<int:sale_id>/receipt',
    methods={'GET'})
@with_pool
@retry_busy
@with_transaction(readonly=False)
@user_application(APPLICATION)
@cashier
def receipt(request, pool, sale_id):
    Sale = pool.get('sale.point.sale')
    sale = _record(Sale, sale_id, 'sale')
    if not point_allowed(sale.point):
        _abort(HTTPStatus.FORBIDDEN, "point: not one of your sale points")
    if sale.state not in {'done', 'posted'}:
        _abort(HTTPStatus.UNPROCESSABLE_ENTITY, "sale: not done or posted")
    copy = request.args.get('copy') in {'1', 'true'}
    document = sale.get_receipt_document(copy=copy)
    if copy:
        # Each reprint is counted, as the back office's reprint does
        with without_check_access():
            Sale.write([sale], {
                    'receipt_copies': (sale.receipt_copies or 0) + 1,
                    })
    return _response(document)

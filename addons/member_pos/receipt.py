# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Receipts of point-of-sale sales, printed through the iot agent.

``Sale.get_receipt_document(copy=False)`` builds the receipt document of
the iot protocol (Decimals as strings); ``print_receipt`` queues it on the
printer assigned to the sale point and ``reprint_receipt`` queues a copy."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import timezone as tz
from trytond.transaction import Transaction

from .exceptions import ReceiptError

RECEIPT_LANGUAGES = [
    (None, "User Language"),
    ('en', "English"),
    ('zh_CN', "Chinese (Simplified)"),
    ]


def mask_number(number):
    "Show only the last 4 characters of a member number"
    if not number:
        return ''
    return '****' + number[-4:]


def mask_name(name):
    "Show only the first character of a name"
    if not name:
        return ''
    return name[0] + '*'


def format_quantity(quantity):
    "Format a quantity without useless trailing zeros"
    value = Decimal(str(quantity)).normalize()
    if value == value.to_integral():
        value = value.quantize(Decimal(1))
    return str(value)


def format_points(quantity, digits=None):
    """Format a points quantity with thousands separators, to the digits of
    its point type or without useless trailing zeros"""
    if digits is None:
        quantity = Decimal(format_quantity(quantity))
    else:
        quantity = quantity.quantize(Decimal(1).scaleb(-digits))
    return '{:,}'.format(quantity)


class Point(metaclass=PoolMeta):
    __name__ = 'sale.point'

    receipt_language = fields.Selection(
        RECEIPT_LANGUAGES, "Receipt Language",
        help="The language of the receipts printed at the point.")
    receipt_auto_print = fields.Boolean(
        "Print Receipt on Post",
        help="Queue the receipt on the point's printer when a sale is "
        "posted.")

    @classmethod
    def default_receipt_auto_print(cls):
        return True


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    receipt_printed = fields.Boolean("Receipt Printed", readonly=True)
    receipt_copies = fields.Integer(
        "Receipt Copies", readonly=True,
        help="The number of copies of the receipt printed.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update(
            print_receipt={
                'invisible': (~Eval('state').in_(['done', 'posted'])
                    | Bool(Eval('receipt_printed'))),
                'depends': ['state', 'receipt_printed'],
                },
            reprint_receipt={
                'invisible': (~Eval('state').in_(['done', 'posted'])
                    | ~Eval('receipt_printed')),
                'depends': ['state', 'receipt_printed'],
                },
            )

    @classmethod
    def default_receipt_printed(cls):
        return False

    @classmethod
    def default_receipt_copies(cls):
        return 0

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('receipt_printed', False)
        default.setdefault('receipt_copies', 0)
        return super().copy(sales, default=default)

    @classmethod
    def post(cls, sales):
        pool = Pool()
        Device = pool.get('iot.device')
        super().post(sales)
        to_print = [s for s in sales
            if s.point.receipt_auto_print and not s.receipt_printed
            and Device.for_target(s.point, kind='printer')]
        if to_print:
            cls.print_receipt(to_print)

    @classmethod
    @ModelView.button
    def print_receipt(cls, sales):
        cls._queue_receipts(sales, copy=False)
        cls.write(list(sales), {'receipt_printed': True})

    @classmethod
    @ModelView.button
    def reprint_receipt(cls, sales):
        cls._queue_receipts(sales, copy=True)
        # each copy is counted: a reprint is logged on the sale
        for sale in sales:
            sale.receipt_copies = (sale.receipt_copies or 0) + 1
        cls.save(sales)

    @classmethod
    def _queue_receipts(cls, sales, copy):
        pool = Pool()
        Device = pool.get('iot.device')
        PrintJob = pool.get('iot.print.job')
        for sale in sales:
            if sale.state not in {'done', 'posted'}:
                raise ReceiptError(gettext(
                        'member_pos.msg_receipt_sale_not_done',
                        sale=sale.rec_name))
            printer = Device.for_target(sale.point, kind='printer')
            if not printer:
                raise ReceiptError(gettext(
                        'member_pos.msg_receipt_no_printer',
                        sale=sale.rec_name, point=sale.point.rec_name))
            PrintJob.queue(
                printer, sale.get_receipt_document(copy=copy), source=sale)

    @property
    def receipt_language(self):
        language = (self.point.receipt_language
            or Transaction().language or 'en')
        return 'zh_CN' if language.startswith('zh') else 'en'

    def get_receipt_document(self, copy=False):
        "Return the receipt document of the iot protocol for the sale"
        language = self.receipt_language
        with Transaction().set_context(language=language):
            return self._get_receipt_document(language, copy)

    def _receipt_label(self, name, **variables):
        return gettext(f'member_pos.msg_receipt_{name}', **variables)

    def _receipt_amount(self, amount):
        return str(self.currency.round(amount or Decimal(0)))

    def _get_receipt_document(self, language, copy):
        label = self._receipt_label
        money = self._receipt_amount
        document = {
            'language': language,
            'copy': bool(copy),
            'header': self.get_receipt_header(),
            'title': label('title' if self.total >= 0 else 'title_return'),
            'meta': self.get_receipt_meta(),
            'lines': [],
            'totals': [],
            'payments': [],
            'footer': [label('footer')],
            'open_drawer': not copy and any(
                p.method.cash for p in self.payments),
            }
        if self.number:
            document['qr'] = self.number
        discount = Decimal(0)
        for line in self.lines:
            entry = {
                'name': line.product.name,
                'quantity': format_quantity(line.quantity),
                'unit_price': money(line.unit_price),
                'amount': money(line.amount),
                }
            if line.member_discount and line.original_unit_price:
                entry['note'] = label(
                    'member_price',
                    rate=format_quantity(line.member_discount * 100))
                discount += self.currency.round(
                    (line.original_unit_price - line.unit_price)
                    * Decimal(str(line.quantity)))
            document['lines'].append(entry)
        if discount:
            document['totals'].append(
                [label('subtotal'), money(self.total + discount)])
            document['totals'].append(
                [label('member_discount'), money(-discount)])
        if self.total_tax:
            document['totals'].append([label('tax'), money(self.total_tax)])
        document['totals'].append([label('total'), money(self.total)])
        document['payments'] = self.get_receipt_payments()
        if self.member:
            document['member'] = self.get_receipt_member()
        return document

    def get_receipt_header(self):
        property_ = self.point.property
        if property_:
            return [property_.name, self.point.name]
        return [self.company.party.name, self.point.name]

    def get_receipt_meta(self):
        label = self._receipt_label
        timezone = tz.UTC
        if self.company.timezone:
            timezone = tz.get_tzinfo(self.company.timezone)
        when = (self.create_date or self.write_date)
        if when:
            when = when.replace(tzinfo=tz.UTC).astimezone(timezone)
            date = when.strftime('%Y-%m-%d %H:%M')
        else:
            date = self.date.isoformat()
        if self.employee:
            cashier = self.employee.rec_name
        else:
            cashier = self.create_uid.name if self.create_uid else ''
        meta = [
            [label('number'), self.number or ''],
            [label('date'), date],
            ]
        if cashier:
            meta.append([label('cashier'), cashier])
        return meta

    def get_receipt_payments(self):
        label = self._receipt_label
        payments = []
        for payment in self.payments:
            method = payment.method
            name = method.name
            amount = payment.amount
            if method.member_payment == 'points' and payment.points:
                digits = (method.point_type.digits
                    if method.point_type else None)
                name = label(
                    'points_payment', method=name,
                    points=format_points(payment.points, digits))
            elif method.cash and amount < 0 and self.total >= 0:
                name, amount = label('change'), -amount
            payments.append([name, self._receipt_amount(amount)])
        return payments

    def get_receipt_member(self):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        PointType = pool.get('member.point.type')
        label = self._receipt_label
        member = self.member
        lines = []
        if self.points_earned:
            lines.append([label('points_earned'),
                    format_points(self.points_earned)])
        if self.points_redeemed:
            lines.append([label('points_redeemed'),
                    format_points(self.points_redeemed)])
        types = PointType.search([
                ('programme', '=', member.programme.id),
                ('kind', 'in', ['redeemable', 'stored_value']),
                ], order=[('kind', 'ASC'), ('id', 'ASC')])
        for type_ in types:
            balance = Ledger.balance(member, type_)['balance']
            name = ('stored_value_left' if type_.kind == 'stored_value'
                else 'points_balance')
            lines.append([label(name, type=type_.name),
                    format_points(balance, type_.digits)])
        block = {
            'number': mask_number(member.member_number),
            'name': mask_name(member.name),
            'lines': lines,
            }
        if self.member_tier:
            block['tier'] = self.member_tier.name
        return block


class IoTAssignment(metaclass=PoolMeta):
    __name__ = 'iot.device.assignment'

    @classmethod
    def _get_targets(cls):
        return super()._get_targets() + ['sale.point']


class PrintJob(metaclass=PoolMeta):
    __name__ = 'iot.print.job'

    @classmethod
    def _get_sources(cls):
        return super()._get_sources() + ['sale.point.sale']

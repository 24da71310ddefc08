# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Points and stored value as point-of-sale payment methods.

A member payment method (``member_payment``) books on its account (the
points or stored-value liability) like any sale_point method. Taking such
a payment holds the member's points (``Ledger.hold``, key
``<sale member_key>:pay:…``, source the sale): for points the cashier
enters the points to burn (``points``; the amount is their value,
``points × point_value`` rounded down to the currency), for stored value
the amount (the points are ``amount / point_value`` rounded up to the
type's digits) and the PIN of the member's stored-value card. The sale's
post captures the hold, its cancel or the payment's deletion releases it.
A negative member payment (refund on a return) holds nothing: the return's
post credits it back.
"""
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If

from .exceptions import MemberPaymentError

MEMBER_PAYMENTS = [
    (None, ""),
    ('points', "Points"),
    ('stored_value', "Stored Value"),
    ]


class PaymentMethod(metaclass=PoolMeta):
    __name__ = 'sale.point.payment.method'

    member_payment = fields.Selection(
        MEMBER_PAYMENTS, "Member Payment",
        help="Pay with the member's points or stored value.")
    point_type = fields.Many2One(
        'member.point.type', "Point Type", ondelete='RESTRICT',
        domain=[
            If(Eval('member_payment') == 'stored_value',
                ('kind', '=', 'stored_value'),
                ('kind', '=', 'redeemable')),
            ],
        states={
            'invisible': ~Eval('member_payment'),
            'required': Bool(Eval('member_payment')),
            },
        help="The points burnt; their point value is the exchange rate.")
    code = fields.Char(
        "Code",
        help="The code earning rules use in their payment methods.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.cash.states['invisible'] = Bool(Eval('member_payment'))

    def get_rule_code(self):
        "Return the code of the method for the earning rules"
        if self.code:
            return self.code
        if self.member_payment:
            return self.member_payment
        if self.cash:
            return 'cash'

    def points_amount(self, points, currency):
        "Return the money value of points, rounded down to currency"
        amount = points * self.point_type.point_value
        return currency.round(amount, rounding=ROUND_DOWN)

    def amount_points(self, amount):
        "Return the points worth amount, rounded up to the type's digits"
        type_ = self.point_type
        return (amount / type_.point_value).quantize(
            Decimal(1).scaleb(-type_.digits), rounding=ROUND_UP)

    @classmethod
    def validate_fields(cls, methods, field_names):
        super().validate_fields(methods, field_names)
        for method in methods:
            if method.member_payment and method.cash:
                raise MemberPaymentError(gettext(
                        'member_pos.msg_method_member_cash',
                        method=method.rec_name))


class Payment(metaclass=PoolMeta):
    __name__ = 'sale.point.payment'

    member_payment = fields.Function(fields.Selection(
            MEMBER_PAYMENTS, "Member Payment"),
        'on_change_with_member_payment')
    points = fields.Numeric(
        "Points", digits='point_type',
        states={
            'invisible': Eval('member_payment') != 'points',
            'readonly': Eval('sale_state') != 'open',
            },
        help="The points the member spends; never the whole balance "
        "unless entered.")
    member_card = fields.Many2One(
        'member.card', "Member Card", ondelete='RESTRICT',
        domain=[
            ('member', '=', Eval('member', -1)),
            ('product.kind', '=', 'stored_value'),
            ],
        states={
            'invisible': Eval('member_payment') != 'stored_value',
            'readonly': Eval('sale_state') != 'open',
            })
    pin = fields.Function(fields.Char(
            "PIN",
            states={
                'invisible': Eval('member_payment') != 'stored_value',
                }),
        'get_pin', setter='set_pin')
    hold = fields.Many2One(
        'member.point.hold', "Hold", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('hold'),
            })
    member_key = fields.Char("Member Key", readonly=True)
    member = fields.Function(fields.Many2One(
            'party.party', "Member"), 'on_change_with_member')
    point_type = fields.Function(fields.Many2One(
            'member.point.type', "Point Type"),
        'on_change_with_point_type')
    member_available = fields.Function(fields.Numeric(
            "Available", digits='point_type',
            states={
                'invisible': ~Eval('member_payment'),
                }),
        'on_change_with_member_available')
    member_available_amount = fields.Function(Monetary(
            "Available Value", currency='currency', digits='currency',
            states={
                'invisible': ~Eval('member_payment'),
                }),
        'on_change_with_member_available_amount')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Points and stored value are refunded like cash on returns
        cls.method.domain = [
            ('company', '=', Eval('company', -1)),
            If(Eval('amount', 0) < 0,
                ['OR',
                    ('cash', '=', True),
                    ('member_payment', '!=', None),
                    ],
                ()),
            ]

    @fields.depends('method')
    def on_change_with_member_payment(self, name=None):
        if self.method:
            return self.method.member_payment

    @fields.depends('sale', '_parent_sale.member')
    def on_change_with_member(self, name=None):
        if self.sale:
            return self.sale.member

    @fields.depends('method', 'member')
    def on_change_with_member_available(self, name=None):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        if self.member and self.method and self.method.member_payment:
            return Ledger.balance(
                self.member, self.method.point_type)['available']

    @fields.depends('method')
    def on_change_with_point_type(self, name=None):
        if self.method and self.method.point_type:
            return self.method.point_type.id

    @fields.depends('method', 'currency',
        methods=['on_change_with_member_available'])
    def on_change_with_member_available_amount(self, name=None):
        available = self.on_change_with_member_available()
        if available is not None and self.currency:
            return self.method.points_amount(available, self.currency)

    @fields.depends('method', 'sale', '_parent_sale.member_card',
        'member', methods=['on_change_with_member_payment'])
    def on_change_method(self):
        pool = Pool()
        Card = pool.get('member.card')
        self.member_payment = self.on_change_with_member_payment()
        if self.member_payment == 'points':
            # The cashier enters the points: never the whole balance
            self.points = None
            self.amount = Decimal(0)
        elif self.member_payment == 'stored_value' and self.member:
            card = self.sale.member_card if self.sale else None
            if not card or card.product.kind != 'stored_value':
                cards = Card.search([
                        ('member', '=', self.member.id),
                        ('product.kind', '=', 'stored_value'),
                        ('state', '=', 'active'),
                        ], limit=1)
                card = cards[0] if cards else None
            self.member_card = card

    @fields.depends('points', 'method', 'currency')
    def on_change_points(self):
        if (self.points is not None and self.method
                and self.method.member_payment == 'points'
                and self.currency):
            self.amount = self.method.points_amount(
                self.points, self.currency)

    def get_pin(self, name):
        return None

    @classmethod
    def set_pin(cls, payments, name, value):
        # The PIN is checked when the payment is taken, never stored
        pass

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('hold')
        default.setdefault('member_key')
        return super().copy(payments, default=default)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        pin = values.pop('pin', None)
        if (mode == 'create' and values.get('method')
                and values.get('sale')):
            values = cls._take_member_payment(values, pin)
        return values

    @classmethod
    def _take_member_payment(cls, values, pin):
        "Check the member payment of values and hold its points"
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        Method = pool.get('sale.point.payment.method')
        Sale = pool.get('sale.point.sale')
        method = Method(values['method'])
        if not method.member_payment:
            return values
        sale = Sale(values['sale'])
        currency = sale.company.currency
        if not sale.member:
            raise MemberPaymentError(gettext(
                    'member_pos.msg_payment_member_required',
                    sale=sale.rec_name, method=method.rec_name))
        if method.member_payment == 'points':
            points = values.get('points')
            if points is None and (values.get('amount') or 0) < 0:
                points = method.amount_points(values['amount'])
            if not points:
                raise MemberPaymentError(gettext(
                        'member_pos.msg_payment_points_required',
                        sale=sale.rec_name, method=method.rec_name))
            amount = method.points_amount(points, currency)
        else:
            amount = values.get('amount') or Decimal(0)
            points = method.amount_points(amount)
        values['points'] = points
        values['amount'] = amount
        values['member_key'] = values.get('member_key') or Ledger.new_key(
            f'{sale.member_key}:pay')
        if amount <= 0:
            return values
        if amount > sale.amount_to_pay:
            raise MemberPaymentError(gettext(
                    'member_pos.msg_payment_member_exceeds',
                    sale=sale.rec_name, method=method.rec_name,
                    amount=amount, amount_to_pay=sale.amount_to_pay))
        if method.member_payment == 'stored_value':
            card = values.get('member_card') and Card(values['member_card'])
            if not card or card.member != sale.member:
                raise MemberPaymentError(gettext(
                        'member_pos.msg_payment_card_required',
                        sale=sale.rec_name, member=sale.member.rec_name))
            card.check_usable()
            if card.has_pin or card.product.pin_required:
                card.check_pin(pin)
        hold = Ledger.hold(
            sale.member, method.point_type, points, values['member_key'],
            source=sale, date=sale.date)
        values['hold'] = hold.id
        return values

    @classmethod
    def check_modification(cls, mode, payments, values=None, external=False):
        super().check_modification(
            mode, payments, values=values, external=external)
        if mode == 'write' and values.keys() & {
                'method', 'amount', 'points', 'member_card', 'sale'}:
            for payment in payments:
                if payment.hold:
                    raise MemberPaymentError(gettext(
                            'member_pos.msg_payment_member_modify',
                            payment=payment.rec_name))

    @classmethod
    def on_modification(cls, mode, payments, field_names=None):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        super().on_modification(mode, payments, field_names=field_names)
        if mode == 'delete':
            for payment in payments:
                if payment.hold and payment.hold.state == 'authorised':
                    Ledger.release(payment.hold)

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Members on point-of-sale sales.

``Sale.set_member(sales, code)`` identifies the member by card number, QR
payload or phone (``code`` empty removes the member) and returns it; the
tier discount of the member (``Tier.get_benefits``) is applied to every
line from its original prices, and taken off again when the member goes.

Posting a sale with a member, in one transaction:

* uses one visit of the member's count card per unit of a count-card
  service (``Card.consume_visits``, the card is kept in ``count_card``); a
  return gives them back to the original sale's card
  (``Card.restore_visits``);
* captures the holds of its points and stored-value payments
  (key ``<hold key>:capture``);
* credits the stored value of top-up lines (``Ledger.adjust``, key
  ``<member_key>:topup``);
* earns points with ``Rule.apply(event, member_key)`` on the amount not
  paid with points, and records the spend and one visit (``stays``) as tier
  metrics (keys ``<member_key>:spend`` / ``:visit``);
* for a return (``return_of`` set, negative total): a return of the whole
  sale calls ``Ledger.reverse(original, member_key)`` (earned points,
  points and stored value paid, top-ups); a partial return takes back the
  earned points in proportion of the amount returned (``Ledger.adjust``,
  key ``<member_key>:unearn:<type id>``, at most what is available) and
  refunds its negative member payments (key of the payment).

All postings have the sale as source and keys starting with its
``member_key``; posting is a workflow transition, so a posted sale is never
posted twice.
"""
import re
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

from sql import Literal, Null
from sql.operators import Like

from trytond.i18n import gettext
from trytond.model import Index, ModelView, Unique, Workflow, fields
from trytond.modules.currency.fields import Monetary
from trytond.modules.member_core.exceptions import LookupRefused
from trytond.modules.product import price_digits, round_price
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import MemberSaleError

DISCOUNT_DIGITS = (16, 4)
PHONE = re.compile(r'^\+?[0-9 -]{6,20}$')


class POS(metaclass=PoolMeta):
    __name__ = 'sale.point'

    programme = fields.Many2One(
        'member.programme', "Programme", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="The programme whose members are identified at this point.")
    property = fields.Many2One(
        'member.property', "Property", ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ],
        states={
            'invisible': ~Eval('programme'),
            },
        help="The hotel or shop of the programme the point belongs to.")
    top_up_product = fields.Many2One(
        'product.product', "Top-Up Product", ondelete='RESTRICT',
        domain=[
            ('template.member_stored_value', '=', True),
            ],
        states={
            'invisible': ~Eval('programme'),
            },
        help="The service sold to top up stored value at the till.")


class Posting(metaclass=PoolMeta):
    __name__ = 'member.point.posting'

    @classmethod
    def _get_sources(cls):
        return super()._get_sources() + ['sale.point.sale']


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    programme = fields.Function(fields.Many2One(
            'member.programme', "Programme"), 'on_change_with_programme')
    member = fields.Many2One(
        'party.party', "Member", ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ],
        states={
            'readonly': Eval('state') != 'open',
            'invisible': ~Eval('programme'),
            })
    member_card = fields.Many2One(
        'member.card', "Member Card", ondelete='RESTRICT',
        domain=[
            ('member', '=', Eval('member', -1)),
            ],
        states={
            'readonly': Eval('state') != 'open',
            'invisible': ~Eval('member'),
            })
    member_tier = fields.Many2One(
        'member.tier', "Member Tier", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('member'),
            })
    member_discount = fields.Numeric(
        "Member Discount", digits=DISCOUNT_DIGITS, readonly=True,
        states={
            'invisible': ~Eval('member'),
            })
    member_key = fields.Char(
        "Member Key", readonly=True,
        help="The idempotency key of the member postings of the sale.")
    return_of = fields.Many2One(
        'sale.point.sale', "Return Of", ondelete='RESTRICT',
        domain=[
            ('state', '=', 'posted'),
            ('point.company', '=', Eval('company', -1)),
            If(Bool(Eval('member')),
                ('member', '=', Eval('member', -1)),
                ()),
            ],
        states={
            'readonly': Eval('state') != 'open',
            },
        help="The sale returned, whose member postings are reversed.")
    count_card = fields.Many2One(
        'member.card', "Count Card", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('count_card'),
            },
        help="The count card whose visits the sale used.")
    points_type = fields.Function(fields.Many2One(
            'member.point.type', "Points Type"), 'get_points_type')
    points_earned = fields.Function(fields.Numeric(
            "Points Earned", digits='points_type',
            states={
                'invisible': ~Eval('member'),
                }),
        'get_points')
    points_redeemed = fields.Function(fields.Numeric(
            "Points Redeemed", digits='points_type',
            states={
                'invisible': ~Eval('member'),
                }),
        'get_points')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('member_key_unique', Unique(t, t.member_key),
                'member_pos.msg_sale_member_key_unique'),
            ]
        # the newest sales of a member, on the member form
        cls._sql_indexes.add(Index(t,
                (t.member, Index.Range()),
                (t.date, Index.Range()),
                (t.id, Index.Range()),
                where=t.member != Null))
        cls._buttons.update(
            identify_member={
                'invisible': (Eval('state') != 'open') | ~Eval('programme'),
                'depends': ['state', 'programme'],
                },
            top_up={
                'invisible': (Eval('state') != 'open') | ~Eval('member'),
                'depends': ['state', 'member'],
                },
            )

    @classmethod
    def default_member_key(cls):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        return Ledger.new_key('pos')

    @classmethod
    def default_member_discount(cls):
        return Decimal(0)

    @fields.depends('point')
    def on_change_with_programme(self, name=None):
        return self.point.programme if self.point else None

    @fields.depends('member', 'date', 'lines', 'point', 'company',
        methods=['_member_benefits'])
    def on_change_member(self):
        self._member_benefits()
        for line in self.lines or []:
            line._apply_member_discount(self)
        self.lines = self.lines

    @fields.depends('member', 'date', 'member_card')
    def _member_benefits(self):
        pool = Pool()
        Tier = pool.get('member.tier')
        if self.member:
            benefits = Tier.get_benefits(self.member, date=self.date)
            self.member_tier = benefits['tier']
            self.member_discount = benefits['discount']
        else:
            self.member_tier = None
            self.member_discount = Decimal(0)
            self.member_card = None

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('member_key', lambda data: cls.default_member_key())
        default.setdefault('return_of')
        default.setdefault('count_card')
        return super().copy(sales, default=default)

    def get_points_type(self, name):
        if self.member and self.member.points_type:
            return self.member.points_type.id

    @classmethod
    def get_points(cls, sales, names):
        """Redeemable points earned (negative: taken back by a return) and
        redeemed (negative: refunded) from the ledger lines of the postings
        whose key belongs to the sale; qualifying points and stored value
        are not what the member spends as points"""
        pool = Pool()
        Posting = pool.get('member.point.posting')
        Line = pool.get('member.point.line')
        PointType = pool.get('member.point.type')
        line = Line.__table__()
        posting = Posting.__table__()
        type_ = PointType.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: {s.id: Decimal(0) for s in sales} for n in names}
        for sale in sales:
            if not sale.member or not sale.member_key:
                continue
            cursor.execute(*line
                .join(posting, condition=line.posting == posting.id)
                .join(type_, condition=line.type == type_.id)
                .select(posting.operation, line.quantity,
                    where=Like(posting.key, sale.member_key + ':%')
                    & (type_.kind == Literal('redeemable'))))
            earned = redeemed = Decimal(0)
            for operation, quantity in cursor:
                quantity = Decimal(str(quantity))
                if operation == 'earn' or (
                        operation in {'adjust', 'reverse'}
                        and quantity < 0):
                    earned += quantity
                else:
                    redeemed -= quantity
            if 'points_earned' in result:
                result['points_earned'][sale.id] = earned
            if 'points_redeemed' in result:
                result['points_redeemed'][sale.id] = redeemed
        return result

    @staticmethod
    def identify_code(programme, code):
        """Return (member, card) of code in programme: a card number or QR
        payload, else a phone number (card is None then)"""
        pool = Pool()
        Card = pool.get('member.card')
        Party = pool.get('party.party')
        try:
            card = Card.identify(code, programme=programme)
        except LookupRefused as exception:
            if not PHONE.match(code):
                raise
            try:
                member = Party.lookup_member(phone=code, programme=programme)
            except LookupRefused:
                raise exception
            return member, None
        return card.member, card

    @classmethod
    def set_member(cls, sales, code):
        """Identify the member of code (card number, QR payload or phone),
        set it on the open sales with its tier prices and return it.
        An empty code removes the member."""
        member = card = None
        code = (code or '').strip()
        if code:
            programmes = {s.point.programme for s in sales}
            if len(programmes) != 1 or None in programmes:
                raise MemberSaleError(gettext(
                        'member_pos.msg_sale_no_programme',
                        sales=', '.join(s.rec_name for s in sales)))
            programme, = programmes
            member, card = cls.identify_code(programme, code)
        for sale in sales:
            if sale.state != 'open':
                raise MemberSaleError(gettext(
                        'member_pos.msg_sale_member_not_open',
                        sale=sale.rec_name))
        cls.write(list(sales), {
                'member': member.id if member else None,
                'member_card': card.id if card else None,
                })
        return member

    @classmethod
    def on_modification(cls, mode, sales, field_names=None):
        super().on_modification(mode, sales, field_names=field_names)
        if mode == 'delete':
            cls._release_holds(sales)
        elif mode == 'create' or 'member' in field_names:
            cls.reprice(sales)

    @classmethod
    def validate_fields(cls, sales, field_names):
        super().validate_fields(sales, field_names)
        if field_names is None or field_names & {'member', 'return_of'}:
            for sale in sales:
                sale.check_member()

    def check_member(self):
        if (self.return_of and self.return_of.member
                and self.member != self.return_of.member):
            raise MemberSaleError(gettext(
                    'member_pos.msg_return_member',
                    sale=self.rec_name, original=self.return_of.rec_name,
                    member=self.return_of.member.rec_name))

    @classmethod
    def reprice(cls, sales):
        "Store the member's tier and apply its discount to the lines"
        pool = Pool()
        Line = pool.get('sale.point.sale.line')
        to_write, lines = [], []
        for sale in sales:
            if sale.state != 'open':
                continue
            if sale.member:
                sale.member.check_member_usable()
            tier, discount = sale.member_tier, sale.member_discount
            sale._member_benefits()
            if (tier, discount) != (sale.member_tier, sale.member_discount):
                to_write.extend(([sale], {
                            'member_tier': (
                                sale.member_tier.id
                                if sale.member_tier else None),
                            'member_discount': sale.member_discount,
                            'member_card': (
                                sale.member_card.id
                                if sale.member_card else None),
                            }))
            for line in sale.lines:
                if line._apply_member_discount(sale):
                    lines.append(line)
        if to_write:
            cls.write(*to_write)
        if lines:
            Line.save(lines)

    @classmethod
    @ModelView.button_action('member_pos.wizard_identify_member')
    def identify_member(cls, sales):
        pass

    @classmethod
    @ModelView.button_action('member_pos.wizard_top_up')
    def top_up(cls, sales):
        pass

    def add_top_up(self, amount):
        """Add a line topping up amount of stored value, paid like any
        line so that the cash session counts it; the post credits it"""
        pool = Pool()
        Line = pool.get('sale.point.sale.line')
        product = self.point.top_up_product
        if not self.member or self.state != 'open':
            raise MemberSaleError(gettext(
                    'member_pos.msg_top_up_member',
                    sale=self.rec_name))
        if not product:
            raise MemberSaleError(gettext(
                    'member_pos.msg_top_up_no_product',
                    point=self.point.rec_name))
        if not amount or amount <= 0:
            raise MemberSaleError(gettext(
                    'member_pos.msg_top_up_amount',
                    sale=self.rec_name, amount=amount))
        line = Line(
            sale=self, product=product, quantity=1,
            unit_list_price=amount, unit_gross_price=amount,
            original_unit_list_price=amount,
            original_unit_gross_price=amount)
        line.save()
        return line

    @classmethod
    def cancel(cls, sales):
        pool = Pool()
        Payment = pool.get('sale.point.payment')
        # The holds are given back with the member payments they secured
        payments = [p for s in sales if s.state == 'open'
            for p in s.payments if p.method.member_payment]
        if payments:
            Payment.delete(payments)
        super().cancel(sales)

    @classmethod
    def _release_holds(cls, sales):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        for sale in sales:
            for payment in sale.payments:
                if payment.hold and payment.hold.state == 'authorised':
                    Ledger.release(payment.hold)

    @classmethod
    def do(cls, sales):
        for sale in sales:
            sale.check_member_lines()
        super().do(sales)

    def check_member_lines(self):
        "Refuse member-only lines before the payment is final"
        for line in self.lines:
            template = line.product.template
            if ((template.member_count_card or template.member_stored_value)
                    and not self.member):
                raise MemberSaleError(gettext(
                        'member_pos.msg_line_member_required',
                        sale=self.rec_name, product=line.product.rec_name))
        self.get_count_card_visits()
        self.get_count_card_returns()

    def get_count_card_visits(self):
        "Return [(card, visits)] the count-card lines use; refuse if short"
        pool = Pool()
        Card = pool.get('member.card')
        visits = sum(
            int(line.quantity) for line in self.lines
            if line.product.template.member_count_card and line.quantity > 0)
        if not visits:
            return []
        card = self.member_card
        if not card or card.product.kind != 'count':
            cards = Card.search([
                    ('member', '=', self.member.id),
                    ('product.kind', '=', 'count'),
                    ('state', '=', 'active'),
                    ('visits_remaining', '>=', visits),
                    ], order=[('expiry_date', 'ASC NULLS LAST')], limit=1)
            if not cards:
                raise MemberSaleError(gettext(
                        'member_pos.msg_sale_no_count_card',
                        sale=self.rec_name, member=self.member.rec_name,
                        visits=visits))
            card, = cards
        return [(card, visits)]

    def get_count_card_returns(self):
        """Return the visits the returned count-card lines give back to the
        count card of the original sale; refuse more than it used"""
        returned = -sum(
            int(line.quantity) for line in self.lines
            if line.product.template.member_count_card and line.quantity < 0)
        if not returned:
            return 0
        original = self.return_of
        if not original or not original.count_card:
            raise MemberSaleError(gettext(
                    'member_pos.msg_return_count_card', sale=self.rec_name))
        used = sum(
            int(line.quantity) for line in original.lines
            if line.product.template.member_count_card and line.quantity > 0)
        for other in self.search([
                    ('return_of', '=', original.id),
                    ('state', '=', 'posted'),
                    ('id', '!=', self.id),
                    ]):
            used -= other.get_count_card_returns()
        if returned > used:
            raise MemberSaleError(gettext(
                    'member_pos.msg_return_count_card_visits',
                    sale=self.rec_name, original=original.rec_name,
                    visits=returned, used=used))
        return returned

    @classmethod
    @ModelView.button
    @Workflow.transition('posted')
    def post(cls, sales):
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        members = [s for s in sales if s.member]
        # consume_visits locks the card: it must come before other changes
        count_cards = {}
        for sale in members:
            for card, visits in sale.get_count_card_visits():
                Card.consume_visits(card, visits, reason=sale.rec_name)
                count_cards[sale] = card
            returned = sale.get_count_card_returns()
            if returned:
                card = sale.return_of.count_card
                Card.restore_visits(card, returned, reason=sale.rec_name)
                count_cards[sale] = card
        for sale, card in count_cards.items():
            sale.count_card = card
        cls.save(list(count_cards))
        super().post(sales)
        for sale in members:
            for payment in sale.payments:
                if payment.hold and payment.hold.state == 'authorised':
                    Ledger.capture(
                        payment.hold, f'{payment.hold.key}:capture',
                        date=sale.date)
            if sale.return_of and sale.total < 0:
                sale._post_return()
            else:
                sale._post_top_up()
                if sale.total > 0:
                    sale._post_earning()

    def _top_up_amount(self):
        return sum((line.gross_amount for line in self.lines
                if line.product.template.member_stored_value), Decimal(0))

    def _post_top_up(self):
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        amount = self._top_up_amount()
        if not amount:
            return
        type_ = Card.get_stored_value_type(self.member.programme)
        if not type_:
            raise MemberSaleError(gettext(
                    'member_pos.msg_sale_no_stored_value_type',
                    sale=self.rec_name,
                    programme=self.member.programme.rec_name))
        Ledger.adjust(
            self.member, type_, type_.round(amount / type_.point_value),
            f'{self.member_key}:topup', source=self, date=self.date,
            description=self.rec_name)

    def get_earn_event(self):
        "Return the purchase event of member_points rules for the sale"
        lines, amount = [], Decimal(0)
        for line in self.lines:
            product = line.product
            if (product.template.member_stored_value
                    or line.gross_amount <= 0):
                continue
            categories = list(product.categories) or [
                product.account_category]
            category = categories[0] if categories[0] else None
            lines.append({
                    'category': category.id if category else None,
                    'amount': line.gross_amount,
                    })
            amount += line.gross_amount
        # Points paid do not earn points again
        amount -= sum((p.amount for p in self.payments
                if p.method.member_payment == 'points'), Decimal(0))
        methods = {p.method.get_rule_code() for p in self.payments} - {None}
        return {
            'event': 'purchase',
            'member': self.member,
            'date': self.date,
            'channel': 'pos',
            'property': self.point.property,
            'amount': max(amount, Decimal(0)),
            'lines': lines,
            'payment_method': sorted(methods),
            'source': self,
            }

    def _post_earning(self):
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Metric = pool.get('member.tier.metric')
        event = self.get_earn_event()
        Rule.apply(event, self.member_key)
        metrics = []
        # A top-up alone is no visit
        if event['lines']:
            metrics.append({
                    'member': self.member.id, 'kind': 'stays',
                    'quantity': Decimal(1), 'date': self.date,
                    'source': self, 'key': f'{self.member_key}:visit',
                    })
        if event['amount']:
            metrics.append({
                    'member': self.member.id, 'kind': 'spend',
                    'quantity': event['amount'], 'date': self.date,
                    'source': self, 'key': f'{self.member_key}:spend',
                    })
        if metrics:
            Metric.record_many(metrics)

    def _post_return(self):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        original = self.return_of
        others = self.search([
                ('return_of', '=', original.id),
                ('state', '=', 'posted'),
                ('id', '!=', self.id),
                ], order=[])
        if not others and -self.total >= original.total:
            self.check_full_return_payments()
            Ledger.reverse(original, self.member_key, date=self.date)
            return
        self._post_top_up()
        ratio = min(-self.total / original.total, Decimal(1))
        for type_, earned in original.get_earned().items():
            taken = -sum((r.get_earned().get(type_, Decimal(0))
                    for r in others), Decimal(0))
            quantity = (earned * ratio).quantize(
                Decimal(1).scaleb(-type_.digits), rounding=ROUND_DOWN)
            available = Ledger.balance(self.member, type_)['available']
            # What the member already spent stays unrecovered
            quantity = min(quantity, earned - taken, max(available, 0))
            if quantity > 0:
                Ledger.adjust(
                    self.member, type_, -quantity,
                    f'{self.member_key}:unearn:{type_.id}', source=self,
                    date=self.date, description=self.rec_name)
        for payment in self.payments:
            if payment.method.member_payment and payment.amount < 0:
                Ledger.adjust(
                    self.member, payment.method.point_type, -payment.points,
                    payment.member_key, source=self, date=self.date,
                    description=self.rec_name)

    def get_earned(self):
        "Return {point type: quantity} earned (or taken back) by the sale"
        pool = Pool()
        Line = pool.get('member.point.line')
        earned = defaultdict(Decimal)
        if not self.member_key:
            return earned
        for line in Line.search([
                    ('posting.key', 'like', self.member_key + ':%'),
                    ['OR',
                        ('posting.operation', '=', 'earn'),
                        [('posting.operation', '=', 'adjust'),
                            ('posting.key', 'like', '%:unearn:%')],
                        ],
                    ]):
            earned[line.type] += line.quantity
        return earned

    def check_full_return_payments(self):
        """A whole return gives back what member payments took: its member
        payments must refund them as they were paid"""
        paid = defaultdict(Decimal)
        for payment in self.return_of.payments:
            if payment.method.member_payment:
                paid[payment.method] += payment.amount
        for payment in self.payments:
            if payment.method.member_payment:
                paid[payment.method] += payment.amount
        for method, amount in paid.items():
            if amount:
                raise MemberSaleError(gettext(
                        'member_pos.msg_return_member_payments',
                        sale=self.rec_name, method=method.rec_name,
                        original=self.return_of.rec_name))


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.point.sale.line'

    # Read-only by states so that the client sends what on_change set
    original_unit_list_price = fields.Numeric(
        "Original Unit List Price", digits=price_digits,
        states={'readonly': True})
    original_unit_gross_price = fields.Numeric(
        "Original Unit Gross Price", digits=price_digits,
        states={'readonly': True})
    original_unit_price = fields.Function(fields.Numeric(
            "Original Unit Price", digits=price_digits),
        'on_change_with_original_unit_price')
    member_discount = fields.Numeric(
        "Member Discount", digits=DISCOUNT_DIGITS,
        states={'readonly': True})

    @classmethod
    def default_member_discount(cls):
        return Decimal(0)

    @fields.depends('original_unit_list_price', 'original_unit_gross_price',
        'sale', '_parent_sale.point')
    def on_change_with_original_unit_price(self, name=None):
        if self.sale and self.sale.point:
            if self.sale.point.tax_included:
                return self.original_unit_gross_price
            return self.original_unit_list_price

    @fields.depends('sale', '_parent_sale.member_discount',
        '_parent_sale.member', '_parent_sale.point', '_parent_sale.date',
        '_parent_sale.company', methods=['_apply_member_discount'])
    def on_change_product(self):
        super().on_change_product()
        self.original_unit_list_price = self.unit_list_price
        self.original_unit_gross_price = self.unit_gross_price
        if self.sale:
            self._apply_member_discount(self.sale)

    @fields.depends('product', 'unit_list_price', 'unit_gross_price',
        'original_unit_list_price', 'original_unit_gross_price',
        'member_discount', 'quantity',
        methods=['on_change_with_unit_price', 'on_change_with_amount',
            'on_change_with_original_unit_price'])
    def _apply_member_discount(self, sale):
        """Set the prices from the original ones less the discount of sale,
        return True when they changed"""
        pool = Pool()
        Tax = pool.get('account.tax')
        if not self.product or self.unit_list_price is None:
            return False
        if self.original_unit_list_price is None:
            self.original_unit_list_price = self.unit_list_price
            self.original_unit_gross_price = self.unit_gross_price
        discount = Decimal(0)
        if (sale.member and not self.product.template.member_stored_value
                and not self.product.template.member_count_card):
            discount = sale.member_discount or Decimal(0)
        prices = (self.unit_list_price, self.unit_gross_price,
            self.member_discount)
        if not discount:
            self.unit_list_price = self.original_unit_list_price
            self.unit_gross_price = self.original_unit_gross_price
        else:
            gross_digits = Decimal(1).scaleb(
                -self.__class__.unit_gross_price.digits[1])
            with Transaction().set_context(company=sale.company.id):
                taxes = self.product.customer_taxes_used
            if sale.point.tax_included:
                self.unit_gross_price = (
                    self.original_unit_gross_price * (1 - discount)
                    ).quantize(gross_digits)
                self.unit_list_price = round_price(Tax.reverse_compute(
                        self.unit_gross_price, taxes, date=sale.date))
            else:
                self.unit_list_price = round_price(
                    self.original_unit_list_price * (1 - discount))
                tax_amount = sum(t['amount'] for t in Tax.compute(
                        taxes, self.unit_list_price, 1, date=sale.date))
                self.unit_gross_price = (
                    self.unit_list_price + tax_amount).quantize(
                        gross_digits)
        self.member_discount = discount
        self.unit_price = (self.unit_gross_price if sale.point.tax_included
            else self.unit_list_price)
        self.original_unit_price = (self.original_unit_gross_price
            if sale.point.tax_included else self.original_unit_list_price)
        self.amount = sale.company.currency.round(
            Decimal(str(self.quantity or 0)) * self.unit_price)
        return prices != (self.unit_list_price, self.unit_gross_price,
            self.member_discount)

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('original_unit_list_price')
        default.setdefault('original_unit_gross_price')
        return super().copy(lines, default=default)

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'create' or (field_names & {
                    'product', 'unit_list_price', 'unit_gross_price'}):
            # Lines created without the client's on_change get their
            # member price too
            sales = Sale.browse(
                {line.sale.id for line in lines if line.sale.member})
            if sales:
                Sale.reprice(sales)

    def get_account_move_lines(self):
        pool = Pool()
        Method = pool.get('sale.point.payment.method')
        lines = super().get_account_move_lines()
        if self.product.template.member_stored_value:
            # Top-ups are a liability to the member, not revenue
            methods = Method.search([
                    ('company', '=', self.sale.company.id),
                    ('member_payment', '=', 'stored_value'),
                    ], limit=1)
            if not methods:
                raise MemberSaleError(gettext(
                        'member_pos.msg_sale_no_stored_value_method',
                        sale=self.sale.rec_name))
            method, = methods
            for line in lines:
                line.account = method.account
        return lines


class TopUpStart(ModelView):
    __name__ = 'sale.point.sale.top_up.start'
    __string__ = "Top Up Stored Value"

    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)


class TopUp(Wizard):
    __name__ = 'sale.point.sale.top_up'
    start = StateView(
        'sale.point.sale.top_up.start',
        'member_pos.sale_top_up_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Add", 'add', 'tryton-ok', default=True),
            ])
    add = StateTransition()

    def default_start(self, fields):
        return {'currency': self.record.company.currency.id}

    def transition_add(self):
        self.record.add_top_up(self.start.amount)
        return 'end'


class IdentifyMemberStart(ModelView):
    __name__ = 'sale.point.sale.identify_member.start'
    __string__ = "Identify Member"

    code = fields.Char(
        "Card, QR or Phone",
        help="Swipe or scan the card, or type its number or the phone; "
        "leave empty to remove the member.")


class IdentifyMember(Wizard):
    __name__ = 'sale.point.sale.identify_member'
    start = StateView(
        'sale.point.sale.identify_member.start',
        'member_pos.sale_identify_member_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Identify", 'identify', 'tryton-ok', default=True),
            ])
    identify = StateTransition()

    def transition_identify(self):
        self.model.set_member(self.records, self.start.code)
        return 'end'

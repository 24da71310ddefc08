# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Maker-checker requests that post to the points ledger.

A member services user drafts and requests an adjustment, a conversion or a
transfer; a member administrator other than the requester approves it, which
posts it at once. The postings carry keys derived from the request id
(``adjustment:<id>``, ``conversion:<id>:debit`` / ``:credit``,
``transfer:<id>:debit`` / ``:credit``), so approving twice, or two users
approving together, posts once.

A conversion whose rate does not require approval posts as soon as it is
requested.
"""
import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    Workflow,
    fields,
)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from .exceptions import (
    RequestAccessError,
    RequestError,
    RequestValidationError,
)

STATES = [
    ('draft', "Draft"),
    ('requested', "Requested"),
    ('approved', "Approved"),
    ('rejected', "Rejected"),
    ('posted', "Posted"),
    ]
REASONS = [
    ('goodwill', "Goodwill"),
    ('correction', "Correction"),
    ('complaint', "Complaint"),
    ('migration', "Migration"),
    ('recharge', "Recharge"),
    ('promotion', "Promotion"),
    ('other', "Other"),
    ]


def _quantum(type_):
    return Decimal(1).scaleb(-type_.digits)


def _format(quantity, type_, sign=''):
    "Format quantity with the digits of the type, whatever the backend"
    if quantity is None:
        return ''
    return format(quantity.quantize(_quantum(type_)), sign)


class _PointRequest(Workflow, ModelSQL, ModelView):
    "The maker-checker workflow shared by the point requests"
    # Fields a user may only change while the request is a draft
    _draft_fields = {'programme', 'date', 'reason'}
    _key_prefix = None

    _draft = Eval('state') != 'draft'

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='RESTRICT',
        states={'readonly': _draft})
    date = fields.Date(
        "Effective Date", required=True, states={'readonly': _draft},
        help="The date of the ledger postings.")
    reason = fields.Selection(
        REASONS, "Reason", required=True, states={'readonly': _draft})
    reason_string = reason.translated('reason')
    reason_text = fields.Text(
        "Reason Details", states={'readonly': _draft})
    state = fields.Selection(STATES, "State", readonly=True, required=True)
    state_string = state.translated('state')
    requested_by = fields.Many2One(
        'res.user', "Requested By", readonly=True, ondelete='RESTRICT')
    approved_by = fields.Many2One(
        'res.user', "Approved By", readonly=True, ondelete='RESTRICT')
    approval_date = fields.Timestamp("Approval Date", readonly=True)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_(['draft', 'requested', 'approved'])))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'requested'),
            ('requested', 'draft'),
            ('rejected', 'draft'),
            ('requested', 'approved'),
            ('requested', 'rejected'),
            ('approved', 'posted'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['requested', 'rejected']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'request': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'post': {
                    'invisible': Eval('state') != 'approved',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_reason(cls):
        return 'goodwill'

    @classmethod
    def check_modification(cls, mode, requests, values=None, external=False):
        super().check_modification(
            mode, requests, values=values, external=external)
        if mode == 'delete':
            for request in requests:
                if request.state not in {'draft', 'rejected'}:
                    raise RequestAccessError(gettext(
                            'member_points.msg_request_delete',
                            request=request.rec_name,
                            state=request.state_string))
        elif (mode == 'write' and external
                and cls._draft_fields & set(values)):
            field = sorted(cls._draft_fields & set(values))[0]
            for request in requests:
                if request.state != 'draft':
                    raise RequestAccessError(gettext(
                            'member_points.msg_request_draft_field',
                            request=request.rec_name,
                            state=request.state_string,
                            field=cls.__names__(field)['field']))

    @classmethod
    def copy(cls, requests, default=None):
        default = default.copy() if default is not None else {}
        for name in ['requested_by', 'approved_by', 'approval_date']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(requests, default=default)

    def key(self, suffix=None):
        "Return the idempotency key of the request's posting"
        key = f'{self._key_prefix}:{self.id}'
        if suffix:
            key += f':{suffix}'
        return key

    @property
    def description(self):
        if self.reason_text:
            return f'{self.reason_string}: {self.reason_text}'[:255]
        return self.reason_string

    def check_request(self):
        "Raise unless the request may be requested and posted"
        pass

    def _post(self):
        """Post the request to the ledger and return the values to write
        (the postings)."""
        raise NotImplementedError

    @classmethod
    def _members(cls, requests):
        "Return the members whose accounts the requests post to"
        return [r.member for r in requests]

    @classmethod
    def check_approver(cls, requests):
        pool = Pool()
        User = pool.get('res.user')
        user = User(Transaction().user)
        for request in requests:
            if request.requested_by == user:
                raise RequestAccessError(gettext(
                        'member_points.msg_request_same_approver',
                        request=request.rec_name,
                        requester=request.requested_by.rec_name,
                        approver=user.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, requests):
        cls.write(requests, {
                'requested_by': None,
                'approved_by': None,
                'approval_date': None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('requested')
    def request(cls, requests):
        for request in requests:
            request.check_request()
        cls.write(requests, {'requested_by': Transaction().user})

    @classmethod
    @ModelView.button
    def approve(cls, requests):
        """Approve the requested requests and post them.

        Requests already approved, posted or rejected are left as they are:
        approving twice posts once."""
        cls.lock(requests)
        requests = cls.browse([r.id for r in requests])
        requested = [r for r in requests if r.state == 'requested']
        cls.check_approver(requested)
        cls._approve(requested, approver=Transaction().user or None)
        cls.post(requested)

    @classmethod
    @Workflow.transition('approved')
    def _approve(cls, requests, approver=None):
        "Approve the requests, by approver when it needs one"
        if not requests:
            return
        cls.write(requests, {
                'approved_by': approver,
                'approval_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, requests):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('posted')
    def post(cls, requests):
        pool = Pool()
        Party = pool.get('party.party')
        if not requests:
            return
        # Lock every member first: one restart, always in the same order
        Party.lock(sorted({m.id for m in cls._members(requests)}))
        to_write = []
        for request in requests:
            request.check_request()
            to_write.extend(([request], request._post()))
        cls.write(*to_write)


class Adjustment(_PointRequest):
    __name__ = 'member.point.adjustment'
    __string__ = "Points Adjustment"
    _draft_fields = _PointRequest._draft_fields | {
        'member', 'type', 'quantity', 'amount_paid', 'payment_reference'}
    _key_prefix = 'adjustment'

    _draft = Eval('state') != 'draft'
    _recharge = Eval('reason') == 'recharge'

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    type = fields.Many2One(
        'member.point.type', "Type", required=True, ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            If(_recharge, ('kind', '=', 'stored_value'), ()),
            ],
        states={'readonly': _draft})
    quantity = fields.Numeric(
        "Quantity", digits='type', required=True,
        states={'readonly': _draft},
        help="Positive to credit the member, negative to debit.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    amount_paid = Monetary(
        "Amount Paid", currency='currency', digits='currency',
        states={
            'readonly': _draft,
            'required': _recharge,
            'invisible': ~_recharge,
            },
        help="The money the member paid for the recharge.")
    payment_reference = fields.Char(
        "Payment Reference",
        states={
            'readonly': _draft,
            'invisible': ~_recharge,
            })
    posting = fields.Many2One(
        'member.point.posting', "Posting", readonly=True,
        ondelete='RESTRICT')

    del _draft, _recharge

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # A manual credit or debit must say why when no reason code fits
        cls.reason_text.states['required'] = Eval('reason') == 'other'
        cls.reason_text.depends.add('reason')

    @fields.depends('member', 'programme')
    def on_change_member(self):
        if self.member and self.member.programme:
            self.programme = self.member.programme

    @fields.depends('type')
    def on_change_with_currency(self, name=None):
        if self.type and self.type.kind == 'stored_value':
            return self.type.currency

    def get_rec_name(self, name):
        return (f'{self.member.rec_name} '
            f'{_format(self.quantity, self.type, "+")} {self.type.rec_name}')

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('member.rec_name', *clause[1:])]

    @classmethod
    def validate_fields(cls, adjustments, field_names):
        super().validate_fields(adjustments, field_names)
        if field_names and not (field_names & {
                    'quantity', 'reason', 'type', 'amount_paid'}):
            return
        for adjustment in adjustments:
            adjustment.check_quantity()
            adjustment.check_recharge()

    def check_quantity(self):
        if not self.quantity:
            raise RequestValidationError(gettext(
                    'member_points.msg_adjustment_quantity_zero',
                    request=self.rec_name,
                    field=self.__names__('quantity')['field']))
        self.type.check_quantity(
            abs(self.quantity), field=self.__names__('quantity')['field'])

    def check_recharge(self):
        if self.reason != 'recharge':
            return
        if self.type.kind != 'stored_value' or self.quantity < 0:
            raise RequestValidationError(gettext(
                    'member_points.msg_adjustment_recharge',
                    request=self.rec_name, type=self.type.rec_name))
        if self.amount_paid is None or self.amount_paid < 0:
            raise RequestValidationError(gettext(
                    'member_points.msg_adjustment_amount_paid',
                    request=self.rec_name,
                    field=self.__names__('amount_paid')['field']))

    def check_request(self):
        super().check_request()
        self.member.check_member_usable()

    def _post(self):
        Ledger = Pool().get('member.point.ledger')
        posting = Ledger.adjust(
            self.member, self.type, self.quantity, self.key(), source=self,
            date=self.date, description=self.description)
        return {'posting': posting.id}


class ConversionRate(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.point.conversion.rate'
    __string__ = "Points Conversion Rate"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    from_type = fields.Many2One(
        'member.point.type', "From Type", required=True, ondelete='CASCADE',
        domain=[('programme', '=', Eval('programme', -1))])
    to_type = fields.Many2One(
        'member.point.type', "To Type", required=True, ondelete='CASCADE',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ('id', '!=', Eval('from_type', -1)),
            ])
    ratio = fields.Numeric(
        "Ratio", digits=(16, 6), required=True,
        domain=[('ratio', '>', 0)],
        help="Quantity of the from type that gives one unit of the to "
        "type, e.g. 100 for 100 points to 1 of stored value.\n"
        "The result is rounded down to the digits of the to type.")
    approval_required = fields.Boolean(
        "Approval Required",
        help="Conversions need the approval of another user before they "
        "post.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('types_unique', Unique(t, t.from_type, t.to_type),
                'member_points.msg_conversion_rate_unique'),
            ]

    @classmethod
    def default_approval_required(cls):
        return False

    def get_rec_name(self, name):
        return (f'{self.from_type.rec_name} → {self.to_type.rec_name} '
            f'({self.ratio.normalize():f}:1)')

    @classmethod
    def validate_fields(cls, rates, field_names):
        super().validate_fields(rates, field_names)
        for rate in rates:
            if rate.from_type == rate.to_type:
                raise RequestValidationError(gettext(
                        'member_points.msg_conversion_rate_same_type',
                        rate=rate.rec_name))

    @classmethod
    def get_rate(cls, from_type, to_type):
        "Return the active rate from from_type to to_type or None"
        rates = cls.search([
                ('from_type', '=', from_type.id),
                ('to_type', '=', to_type.id),
                ], limit=1)
        if rates:
            return rates[0]

    def convert(self, quantity):
        """Return (debited, credited): the quantity of the to type is
        quantity / ratio rounded down to its digits; only what it costs is
        debited (rounded up to the digits of the from type), the remainder
        stays with the member."""
        with localcontext() as context:
            context.prec = 50
            context.rounding = ROUND_FLOOR
            credited = (quantity / self.ratio).quantize(
                _quantum(self.to_type))
            context.rounding = ROUND_CEILING
            debited = (credited * self.ratio).quantize(
                _quantum(self.from_type))
        return min(debited, quantity), credited


class Conversion(_PointRequest):
    __name__ = 'member.point.conversion'
    __string__ = "Points Conversion"
    _draft_fields = _PointRequest._draft_fields | {
        'member', 'from_type', 'to_type', 'quantity'}
    _key_prefix = 'conversion'

    _draft = Eval('state') != 'draft'

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    from_type = fields.Many2One(
        'member.point.type', "From Type", required=True,
        ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    to_type = fields.Many2One(
        'member.point.type', "To Type", required=True, ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ('id', '!=', Eval('from_type', -1)),
            ],
        states={'readonly': _draft})
    quantity = fields.Numeric(
        "Quantity", digits='from_type', required=True,
        domain=[('quantity', '>', 0)],
        states={'readonly': _draft},
        help="The quantity of the from type to convert.")
    rate = fields.Many2One(
        'member.point.conversion.rate', "Rate", readonly=True,
        ondelete='RESTRICT')
    converted_quantity = fields.Numeric(
        "Converted Quantity", digits='from_type', readonly=True,
        help="The quantity of the from type debited; the remainder that "
        "does not make a whole unit of the to type is kept.")
    quantity_to = fields.Numeric(
        "Quantity To", digits='to_type', readonly=True,
        help="The quantity of the to type credited.")
    approval_required = fields.Boolean("Approval Required", readonly=True)
    debit_posting = fields.Many2One(
        'member.point.posting', "Debit Posting", readonly=True,
        ondelete='RESTRICT')
    credit_posting = fields.Many2One(
        'member.point.posting', "Credit Posting", readonly=True,
        ondelete='RESTRICT')

    del _draft

    @classmethod
    def default_reason(cls):
        return 'other'

    @fields.depends('member', 'programme')
    def on_change_member(self):
        if self.member and self.member.programme:
            self.programme = self.member.programme

    @fields.depends('from_type', 'to_type', 'quantity',
        'rate', 'converted_quantity', 'quantity_to', 'approval_required')
    def on_change_quantity(self):
        pool = Pool()
        Rate = pool.get('member.point.conversion.rate')
        self.rate = self.converted_quantity = self.quantity_to = None
        if self.from_type and self.to_type:
            self.rate = Rate.get_rate(self.from_type, self.to_type)
        if self.rate:
            self.approval_required = self.rate.approval_required
            if self.quantity and self.quantity > 0:
                self.converted_quantity, self.quantity_to = (
                    self.rate.convert(self.quantity))

    on_change_from_type = on_change_quantity
    on_change_to_type = on_change_quantity

    def get_rec_name(self, name):
        return (f'{self.member.rec_name} '
            f'{_format(self.quantity, self.from_type)} '
            f'{self.from_type.rec_name} → {self.to_type.rec_name}')

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('member.rec_name', *clause[1:])]

    def check_request(self):
        super().check_request()
        self.member.check_member_usable()
        self.from_type.check_quantity(
            self.quantity, field=self.__names__('quantity')['field'])

    def compute(self):
        "Return the rate and quantities of the conversion as values"
        pool = Pool()
        Rate = pool.get('member.point.conversion.rate')
        rate = Rate.get_rate(self.from_type, self.to_type)
        if not rate:
            raise RequestError(gettext(
                    'member_points.msg_conversion_no_rate',
                    request=self.rec_name,
                    from_type=self.from_type.rec_name,
                    to_type=self.to_type.rec_name))
        debited, credited = rate.convert(self.quantity)
        if credited <= 0:
            raise RequestError(gettext(
                    'member_points.msg_conversion_too_small',
                    request=self.rec_name, rate=rate.rec_name,
                    to_type=self.to_type.rec_name))
        return {
            'rate': rate.id,
            'converted_quantity': debited,
            'quantity_to': credited,
            'approval_required': rate.approval_required,
            }

    @classmethod
    @ModelView.button
    def request(cls, conversions):
        to_write = []
        for conversion in conversions:
            if conversion.state == 'draft':
                conversion.check_request()
                to_write.extend(([conversion], conversion.compute()))
        if to_write:
            cls.write(*to_write)
        super().request(conversions)
        conversions = cls.browse([c.id for c in conversions])
        immediate = [c for c in conversions
            if c.state == 'requested' and not c.approval_required]
        cls._approve(immediate)
        cls.post(immediate)

    @classmethod
    def _members(cls, conversions):
        return [c.member for c in conversions]

    def _post(self):
        Ledger = Pool().get('member.point.ledger')
        debit = Ledger.redeem(
            self.member, self.from_type, self.converted_quantity,
            self.key('debit'), source=self, date=self.date,
            description=self.description)
        credit = Ledger.adjust(
            self.member, self.to_type, self.quantity_to,
            self.key('credit'), source=self, date=self.date,
            description=self.description)
        return {'debit_posting': debit.id, 'credit_posting': credit.id}


class Transfer(_PointRequest):
    __name__ = 'member.point.transfer'
    __string__ = "Points Transfer"
    _draft_fields = _PointRequest._draft_fields | {
        'from_member', 'to_member', 'type', 'quantity'}
    _key_prefix = 'transfer'

    _draft = Eval('state') != 'draft'

    from_member = fields.Many2One(
        'party.party', "From Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    to_member = fields.Many2One(
        'party.party', "To Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    type = fields.Many2One(
        'member.point.type', "Type", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    quantity = fields.Numeric(
        "Quantity", digits='type', required=True,
        domain=[('quantity', '>', 0)],
        states={'readonly': _draft})
    debit_posting = fields.Many2One(
        'member.point.posting', "Debit Posting", readonly=True,
        ondelete='RESTRICT',
        states={'invisible': ~Bool(Eval('debit_posting'))})
    credit_posting = fields.Many2One(
        'member.point.posting', "Credit Posting", readonly=True,
        ondelete='RESTRICT',
        states={'invisible': ~Bool(Eval('credit_posting'))})

    del _draft

    @classmethod
    def default_reason(cls):
        return 'other'

    @fields.depends('from_member', 'programme')
    def on_change_from_member(self):
        if self.from_member and self.from_member.programme:
            self.programme = self.from_member.programme

    def get_rec_name(self, name):
        return (f'{self.from_member.rec_name} → {self.to_member.rec_name} '
            f'{_format(self.quantity, self.type)} {self.type.rec_name}')

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('from_member.rec_name', *clause[1:]),
            ('to_member.rec_name', *clause[1:]),
            ]

    @classmethod
    def validate_fields(cls, transfers, field_names):
        super().validate_fields(transfers, field_names)
        for transfer in transfers:
            if transfer.from_member == transfer.to_member:
                raise RequestValidationError(gettext(
                        'member_points.msg_transfer_same_member',
                        request=transfer.rec_name,
                        member=transfer.from_member.rec_name))

    def check_request(self):
        super().check_request()
        self.from_member.check_member_usable()
        self.to_member.check_member_usable()
        self.type.check_quantity(
            self.quantity, field=self.__names__('quantity')['field'])

    @classmethod
    def _members(cls, transfers):
        return [m for t in transfers for m in [t.from_member, t.to_member]]

    def _post(self):
        Ledger = Pool().get('member.point.ledger')
        debit = Ledger.redeem(
            self.from_member, self.type, self.quantity, self.key('debit'),
            source=self, date=self.date, description=self.description)
        credit = Ledger.adjust(
            self.to_member, self.type, self.quantity, self.key('credit'),
            source=self, date=self.date, description=self.description)
        return {'debit_posting': debit.id, 'credit_posting': credit.id}


class Posting(metaclass=PoolMeta):
    __name__ = 'member.point.posting'

    @classmethod
    def _get_sources(cls):
        return super()._get_sources() + [
            'member.point.adjustment',
            'member.point.conversion',
            'member.point.transfer',
            'member.referral',
            'member.card',
            ]

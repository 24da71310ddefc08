# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""The ledger: postings, their lines, earned lots and their allocations.

Everything here is append-only but the lot's remaining quantity and state,
which are the running allocation of earned points; a lot's history is its
allocations.
"""
from sql import Null

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool

from .account import LedgerRecord, TypeDigits, drop_column_index
from .exceptions import LedgerAccessError

OPERATIONS = [
    ('earn', "Earn"),
    ('redeem', "Redeem"),
    ('capture', "Capture"),
    ('reverse', "Reverse"),
    ('expire', "Expire"),
    ('adjust', "Adjust"),
    ]
LINE_KINDS = [
    ('earn', "Earn"),
    ('redeem', "Redeem"),
    ('expire', "Expire"),
    ('reverse', "Reversal"),
    ('adjust', "Adjustment"),
    ]
LOT_STATES = [
    ('open', "Open"),
    ('consumed', "Consumed"),
    ('expired', "Expired"),
    ('cancelled', "Cancelled"),
    ]


class _Immutable(LedgerRecord):
    "Posted records are never changed nor deleted"
    __slots__ = ()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise LedgerAccessError(gettext(
                    'member_points.msg_ledger_immutable',
                    model=cls.__names__()['model']))


class Posting(_Immutable, ModelSQL, ModelView):
    __name__ = 'member.point.posting'
    __string__ = "Points Posting"

    key = fields.Char(
        "Key", required=True, readonly=True,
        help="The idempotency key of the request.")
    fingerprint = fields.Char("Fingerprint", required=True, readonly=True)
    operation = fields.Selection(
        OPERATIONS, "Operation", required=True, readonly=True)
    member = fields.Many2One(
        'party.party', "Member", required=True, readonly=True,
        ondelete='RESTRICT')
    date = fields.Date("Date", required=True, readonly=True)
    source = fields.Reference(
        "Source", selection='get_sources', readonly=True)
    description = fields.Char("Description", readonly=True)
    reversal_of = fields.Many2One(
        'member.point.posting', "Reversal Of", readonly=True,
        ondelete='RESTRICT')
    user = fields.Many2One('res.user', "User", readonly=True)
    lines = fields.One2Many(
        'member.point.line', 'posting', "Lines", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('member')
        t = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.key),
                'member_points.msg_posting_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.source, Index.Equality()),
                    where=t.source != Null),
                Index(t, (t.reversal_of, Index.Equality()),
                    where=t.reversal_of != Null),
                Index(t, (t.member, Index.Range())),
                })
        cls._order.insert(0, ('id', 'DESC'))

    @classmethod
    def get_sources(cls):
        "Models whose records may be the source of a posting"
        pool = Pool()
        Model = pool.get('ir.model')
        models = cls._get_sources()
        return [(None, '')] + [
            (m, Model.get_name(m)) for m in models]

    @classmethod
    def _get_sources(cls):
        return ['party.party']

    def get_rec_name(self, name):
        return self.key


class Line(_Immutable, ModelSQL, ModelView):
    __name__ = 'member.point.line'
    __string__ = "Points Ledger Line"

    posting = fields.Many2One(
        'member.point.posting', "Posting", required=True, readonly=True,
        ondelete='RESTRICT')
    account = fields.Many2One(
        'member.point.account', "Account", required=True, readonly=True,
        ondelete='RESTRICT')
    member = fields.Many2One(
        'party.party', "Member", required=True, readonly=True,
        ondelete='RESTRICT')
    type = fields.Many2One(
        'member.point.type', "Type", required=True, readonly=True,
        ondelete='RESTRICT')
    kind = fields.Selection(LINE_KINDS, "Kind", required=True, readonly=True)
    quantity = fields.Numeric(
        "Quantity", digits='type', required=True, readonly=True)
    date = fields.Date("Date", required=True, readonly=True)
    available_date = fields.Date("Available Date", readonly=True)
    expiry_date = fields.Date("Expiry Date", readonly=True)
    property = fields.Many2One(
        'member.property', "Property", readonly=True, ondelete='RESTRICT')
    unrecovered = fields.Numeric(
        "Unrecovered", digits='type', readonly=True,
        help="Part of a reversed earning already spent that the member's "
        "other points could not cover.")
    reversal_of = fields.Many2One(
        'member.point.line', "Reversal Of", readonly=True,
        ondelete='RESTRICT')
    source = fields.Function(fields.Reference(
            "Source", selection='get_sources'), 'get_posting_field')
    description = fields.Function(
        fields.Char("Description"), 'get_posting_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.account, Index.Range()),
                    (t.date, Index.Range())),
                Index(t, (t.posting, Index.Range())),
                Index(t, (t.type, Index.Range()), (t.date, Index.Range())),
                # the newest lines of a member, on the member form
                Index(t,
                    (t.member, Index.Range()),
                    (t.date, Index.Range()),
                    (t.id, Index.Range())),
                })
        cls._order.insert(0, ('id', 'DESC'))

    @classmethod
    def __setup_indexes__(cls):
        super().__setup_indexes__()
        # (account, date) serves the lookups by account
        drop_column_index(cls, 'account')

    @classmethod
    def get_sources(cls):
        return Pool().get('member.point.posting').get_sources()

    def get_posting_field(self, name):
        value = getattr(self.posting, name)
        return str(value) if name == 'source' and value else value


class Lot(LedgerRecord, TypeDigits, ModelSQL, ModelView):
    __name__ = 'member.point.lot'
    __string__ = "Points Lot"
    _digits_of = 'account'

    account = fields.Many2One(
        'member.point.account', "Account", required=True, readonly=True,
        ondelete='RESTRICT')
    line = fields.Many2One(
        'member.point.line', "Earn Line", required=True, readonly=True,
        ondelete='RESTRICT')
    quantity = fields.Numeric(
        "Quantity", digits='account', required=True, readonly=True)
    remaining = fields.Numeric(
        "Remaining", digits='account', required=True, readonly=True)
    date = fields.Date("Date", required=True, readonly=True)
    available_date = fields.Date(
        "Available Date", required=True, readonly=True)
    expiry_date = fields.Date("Expiry Date", readonly=True)
    state = fields.Selection(LOT_STATES, "State", required=True, readonly=True)
    allocations = fields.One2Many(
        'member.point.lot.allocation', 'lot', "Allocations", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_constraints = [
            ('line_unique', Unique(t, t.line),
                'member_points.msg_lot_line_unique'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.account, Index.Range()),
                    (t.expiry_date, Index.Range()),
                    where=t.state == 'open'),
                Index(t, (t.expiry_date, Index.Range()),
                    where=t.state == 'open'),
                })
        cls._order = [('expiry_date', 'ASC NULLS LAST'), ('id', 'ASC')]

    @classmethod
    def check_modification(cls, mode, lots, values=None, external=False):
        super().check_modification(
            mode, lots, values=values, external=external)
        if mode == 'delete' or (mode == 'write' and external):
            raise LedgerAccessError(gettext(
                    'member_points.msg_ledger_immutable',
                    model=cls.__names__()['model']))


class Allocation(_Immutable, ModelSQL, ModelView):
    __name__ = 'member.point.lot.allocation'
    __string__ = "Points Lot Allocation"

    lot = fields.Many2One(
        'member.point.lot', "Lot", required=True, readonly=True,
        ondelete='RESTRICT')
    line = fields.Many2One(
        'member.point.line', "Line", required=True, readonly=True,
        ondelete='RESTRICT')
    quantity = fields.Numeric(
        "Quantity", digits='lot', required=True, readonly=True,
        help="Taken from the lot; negative when given back to it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('lot')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.lot, Index.Range())),
                Index(t, (t.line, Index.Range())),
                })

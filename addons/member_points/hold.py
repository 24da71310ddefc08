# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool

from .account import LedgerRecord
from .exceptions import LedgerAccessError

STATES = [
    ('authorised', "Authorised"),
    ('captured', "Captured"),
    ('released', "Released"),
    ]


class Hold(LedgerRecord, ModelSQL, ModelView):
    __name__ = 'member.point.hold'
    __string__ = "Points Hold"

    account = fields.Many2One(
        'member.point.account', "Account", required=True, readonly=True,
        ondelete='RESTRICT')
    key = fields.Char("Key", required=True, readonly=True)
    fingerprint = fields.Char("Fingerprint", required=True, readonly=True)
    quantity = fields.Numeric(
        "Quantity", digits='account', required=True, readonly=True)
    source = fields.Reference(
        "Source", selection='get_sources', readonly=True)
    date = fields.Date("Date", required=True, readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    state_string = state.translated('state')
    capture = fields.Many2One(
        'member.point.posting', "Capture", readonly=True,
        ondelete='RESTRICT')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('account')
        t = cls.__table__()
        cls._sql_constraints = [
            ('key_unique', Unique(t, t.key),
                'member_points.msg_hold_key_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.account, Index.Range()),
                where=t.state == 'authorised'))

    @classmethod
    def get_sources(cls):
        pool = Pool()
        Posting = pool.get('member.point.posting')
        return Posting.get_sources()

    @classmethod
    def check_modification(cls, mode, holds, values=None, external=False):
        super().check_modification(
            mode, holds, values=values, external=external)
        if mode == 'delete' or (mode == 'write' and external):
            raise LedgerAccessError(gettext(
                    'member_points.msg_ledger_immutable',
                    model=cls.__names__()['model']))

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from decimal import Decimal

from trytond.model import fields
from trytond.modules.currency.fields import Monetary
from trytond.modules.member_core.party import newest
from trytond.pool import Pool, PoolMeta

# the member's summary shows the first point type (by id) of the programme
# for points and for stored value: a programme runs one of each
SUMMARY_KINDS = ['redeemable', 'stored_value']


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    point_accounts = fields.One2Many(
        'member.point.account', 'member', "Point Accounts", readonly=True)
    points_type = fields.Function(fields.Many2One(
            'member.point.type', "Points Type"), 'get_balances')
    points_available = fields.Function(fields.Numeric(
            "Points Available", digits='points_type',
            help="Redeemable points the member may spend now."),
        'get_balances')
    stored_value_type = fields.Function(fields.Many2One(
            'member.point.type', "Stored Value Type"), 'get_balances')
    stored_value_currency = fields.Function(fields.Many2One(
            'currency.currency', "Stored Value Currency"), 'get_balances')
    stored_value = fields.Function(Monetary(
            "Stored Value", currency='stored_value_currency',
            digits='stored_value_currency',
            help="Stored value the member may spend now."),
        'get_balances')
    recent_point_lines = fields.Function(fields.One2Many(
            'member.point.line', None, "Points", readonly=True,
            help="The newest ledger lines; all of them are in Related."),
        'get_recent_point_lines', setter='set_newest')

    @classmethod
    def get_balances(cls, members, names):
        pool = Pool()
        Account = pool.get('member.point.account')
        PointType = pool.get('member.point.type')
        programmes = {m.programme.id for m in members if m.programme}
        summary = {}
        for type_ in PointType.search([
                    ('programme', 'in', list(programmes)),
                    ('kind', 'in', SUMMARY_KINDS),
                    ], order=[('id', 'ASC')]):
            summary.setdefault((type_.programme.id, type_.kind), type_)
        available = {}
        if {'points_available', 'stored_value'} & set(names):
            for account in Account.search([
                        ('member', 'in', [m.id for m in members]),
                        ('type', 'in', [t.id for t in summary.values()]),
                        ]):
                available[account.member.id, account.type.id] = (
                    account.available)
        result = {n: {} for n in names}
        for member in members:
            programme = member.programme.id if member.programme else None
            points = summary.get((programme, 'redeemable'))
            wallet = summary.get((programme, 'stored_value'))
            values = {}
            if points:
                values['points_type'] = points.id
                values['points_available'] = available.get(
                    (member.id, points.id), Decimal(0))
            if wallet:
                values['stored_value_type'] = wallet.id
                values['stored_value_currency'] = (
                    wallet.currency.id if wallet.currency else None)
                values['stored_value'] = available.get(
                    (member.id, wallet.id), Decimal(0))
            for name in names:
                result[name][member.id] = values.get(name)
        return result

    @classmethod
    def get_recent_point_lines(cls, members, name):
        return newest(
            'member.point.line', members, [('date', 'DESC'), ('id', 'DESC')])

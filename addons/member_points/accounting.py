# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Account moves of the points ledger (when the account module is active).

A point type with a liability account is accounted: every posting of it
gets one posted ``account.move`` (origin: the posting) and its ledger lines
link to that move (``member.point.line.move``). The value of a line is its
quantity times the point value in the company currency, or the quantity
itself in the type's currency for stored value. A credit to the member
(quantity > 0) is Dr the account of the line's kind / Cr the liability; a
debit is the mirror:

- earn, adjust: earning counterpart account
- redeem (redemption and capture): redemption account
- expire: breakage account
- reverse: the account of the reversed line's kind

Expiry is set-based: one move per run and type (the type's programme has
one company) for all its expiry lines of the run, linked by one UPDATE.
The link is on the line, not the posting, because an expiry move gathers
the lines of many postings.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Null
from sql.aggregate import Max, Sum

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import sqlite_apply_types
from trytond.transaction import (
    Transaction,
    inactive_records,
    without_check_access,
)

from .account import In


def _account_field(string, help=None):
    return fields.Many2One(
        'account.account', string, ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '!=', None),
            ('closed', '!=', True),
            ],
        states={
            'required': Bool(Eval('liability_account')),
            'invisible': ~Bool(Eval('liability_account')),
            },
        help=help)


class PointType(metaclass=PoolMeta):
    __name__ = 'member.point.type'

    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company')
    liability_account = fields.Many2One(
        'account.account', "Liability Account", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '!=', None),
            ('closed', '!=', True),
            ],
        help="The value of the outstanding points (deferred revenue) or "
        "stored value.\n"
        "Leave empty to post no account moves for this type.")
    journal = fields.Many2One(
        'account.journal', "Journal", ondelete='RESTRICT',
        states={
            'required': Bool(Eval('liability_account')),
            'invisible': ~Bool(Eval('liability_account')),
            })
    counterpart_account = _account_field(
        "Earning Counterpart Account",
        help="Debited with the value of earned and credited points "
        "(loyalty expense or recharge clearing).")
    redemption_account = _account_field(
        "Redemption Account",
        help="Credited with the value of redeemed points (revenue).")
    breakage_account = _account_field(
        "Breakage Account",
        help="Credited with the value of expired points (income).")

    @fields.depends('programme', '_parent_programme.company')
    def on_change_with_company(self, name=None):
        return self.programme.company if self.programme else None

    @property
    def accounting_currency(self):
        if self.kind == 'stored_value':
            return self.currency
        return self.programme.company.currency

    def accounting_value(self, quantity):
        "Return the value of quantity in the accounting currency, rounded"
        if self.kind != 'stored_value':
            quantity *= self.point_value
        return self.accounting_currency.round(quantity)

    def accounting_account(self, kind):
        "Return the account opposite the liability for a line kind"
        return {
            'earn': self.counterpart_account,
            'adjust': self.counterpart_account,
            'redeem': self.redemption_account,
            'expire': self.breakage_account,
            }[kind]

    def get_account_move(self, date, entries, origin=None, description=None):
        """Return an account move (not saved) or None when it is worth
        nothing. entries are (kind, member, quantity): a positive quantity
        credits the member so the liability."""
        pool = Pool()
        Currency = pool.get('currency.currency')
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        Period = pool.get('account.period')
        company = self.programme.company
        currency = self.accounting_currency
        amounts = defaultdict(lambda: [Decimal(0), Decimal(0)])

        def add(account, member, amount, second):
            party = member if account.party_required else None
            amounts[account, party][0] += amount
            amounts[account, party][1] += second

        for kind, member, quantity in entries:
            value = self.accounting_value(quantity)
            amount = value
            if currency != company.currency:
                with Transaction().set_context(date=date):
                    amount = Currency.compute(
                        currency, value, company.currency)
            add(self.accounting_account(kind), member, amount, value)
            add(self.liability_account, member, -amount, -value)
        lines = []
        for (account, party), (amount, second) in amounts.items():
            if not amount and not second:
                continue
            line = MoveLine(account=account, party=party)
            line.debit = max(amount, Decimal(0))
            line.credit = max(-amount, Decimal(0))
            if currency != company.currency:
                line.amount_second_currency = second
                line.second_currency = currency
            lines.append(line)
        if not lines:
            return
        return Move(
            company=company,
            journal=self.journal,
            period=Period.find(company, date=date),
            date=date,
            origin=origin,
            description=description,
            lines=lines)

    @classmethod
    def get_liability_check(cls, types, date=None):
        """Compare the value of the outstanding points of types up to date
        with the general-ledger balance of their liability accounts (posted
        moves).

        Returns a list of dict per liability account: account, types,
        outstanding (value of the points), booked (credit balance of the
        account) and difference (booked - outstanding), in the company
        currency. Types share the row of their common account."""
        pool = Pool()
        Account = pool.get('account.account')
        Currency = pool.get('currency.currency')
        Line = pool.get('member.point.line')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        line = Line.__table__()
        date = date or dt.date.today()
        types = [t for t in types if t.liability_account]
        quantities = {}
        if types:
            query = line.select(
                line.type, Sum(line.quantity).as_('quantity'),
                where=In(line.type, [t.id for t in types])
                & (line.date <= date),
                group_by=[line.type])
            if backend.name == 'sqlite':
                sqlite_apply_types(query, [None, 'NUMERIC'])
            cursor.execute(*query)
            quantities = dict(cursor)
        rows = {}
        for type_ in types:
            account = type_.liability_account
            company = type_.programme.company
            row = rows.setdefault(account, {
                    'account': account,
                    'types': [],
                    'outstanding': Decimal(0),
                    })
            row['types'].append(type_)
            value = type_.accounting_value(
                type_.round(Decimal(quantities.get(type_.id) or 0)))
            with transaction.set_context(date=date):
                row['outstanding'] += Currency.compute(
                    type_.accounting_currency, value, company.currency)
        for account, row in rows.items():
            with transaction.set_context(
                    company=account.company.id, date=date, posted=True):
                row['booked'] = -Account(account.id).balance
            row['difference'] = row['booked'] - row['outstanding']
        return list(rows.values())


class Line(metaclass=PoolMeta):
    __name__ = 'member.point.line'

    move = fields.Many2One(
        'account.move', "Account Move", readonly=True, ondelete='RESTRICT')


class Move(metaclass=PoolMeta):
    __name__ = 'account.move'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + [
            'member.point.posting', 'member.point.type']


class Ledger(metaclass=PoolMeta):
    __name__ = 'member.point.ledger'

    @classmethod
    def _last_id(cls, model):
        "Return the highest id of model, to tell the records made after"
        table = Pool().get(model).__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Max(table.id)))
        return cursor.fetchone()[0] or 0

    @classmethod
    def _book_new(cls, postings, last_id):
        "Book the postings made by the call (not those replayed)"
        cls.book([p for p in postings if p.id > last_id])

    @classmethod
    def earn(cls, *args, **kwargs):
        last_id = cls._last_id('member.point.posting')
        posting = super().earn(*args, **kwargs)
        cls._book_new([posting], last_id)
        return posting

    @classmethod
    def _earned_many(cls, postings):
        # The batch earning of imports (batch.py) reports its new postings
        super()._earned_many(postings)
        cls.book(postings)

    @classmethod
    def adjust(cls, *args, **kwargs):
        last_id = cls._last_id('member.point.posting')
        posting = super().adjust(*args, **kwargs)
        cls._book_new([posting], last_id)
        return posting

    @classmethod
    def redeem(cls, *args, **kwargs):
        last_id = cls._last_id('member.point.posting')
        posting = super().redeem(*args, **kwargs)
        cls._book_new([posting], last_id)
        return posting

    @classmethod
    def capture(cls, *args, **kwargs):
        last_id = cls._last_id('member.point.posting')
        posting = super().capture(*args, **kwargs)
        cls._book_new([posting], last_id)
        return posting

    @classmethod
    def reverse(cls, *args, **kwargs):
        last_id = cls._last_id('member.point.posting')
        postings = super().reverse(*args, **kwargs)
        cls._book_new(postings, last_id)
        return postings

    @classmethod
    @without_check_access
    @inactive_records
    def book(cls, postings):
        """Post one account move per posting and accounted type for the
        lines not booked yet, and link the lines to it"""
        pool = Pool()
        Line = pool.get('member.point.line')
        Move = pool.get('account.move')
        line_table = Line.__table__()
        cursor = Transaction().connection.cursor()
        lines = Line.search([
                ('posting', 'in', [p.id for p in postings]),
                ('move', '=', None),
                ('type.liability_account', '!=', None),
                ], order=[('id', 'ASC')])
        groups = defaultdict(list)
        for line in lines:
            groups[line.posting, line.type].append(line)
        moves, line_ids = [], []
        for (posting, type_), p_lines in groups.items():
            with Transaction().set_context(
                    company=type_.programme.company.id):
                move = type_.get_account_move(
                    posting.date,
                    [(line.reversal_of.kind if line.kind == 'reverse'
                            else line.kind, line.member, line.quantity)
                        for line in p_lines],
                    origin=posting,
                    description=posting.description or posting.key)
            if move:
                moves.append(move)
                line_ids.append([line.id for line in p_lines])
        if not moves:
            return
        Move.save(moves)
        Move.post(moves)
        # Ledger lines are immutable to users; the link is written in SQL
        for move, ids in zip(moves, line_ids):
            cursor.execute(*line_table.update(
                    [line_table.move], [move.id],
                    where=In(line_table.id, ids)))

    @classmethod
    def expire(cls, date=None):
        last_id = cls._last_id('member.point.line')
        result = super().expire(date=date)
        cls._book_expiry(last_id, date or dt.date.today())
        return result

    @classmethod
    @without_check_access
    @inactive_records
    def _book_expiry(cls, last_id, date):
        "Post one move per accounted type for the expiry lines of the run"
        pool = Pool()
        Line = pool.get('member.point.line')
        Move = pool.get('account.move')
        PointType = pool.get('member.point.type')
        Party = pool.get('party.party')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for type_ in PointType.search([
                    ('liability_account', '!=', None),
                    ]):
            # A party is required per move line on some accounts: then the
            # lines are summed per member
            by_member = (type_.liability_account.party_required
                or type_.breakage_account.party_required)
            run = ((line.id > last_id) & (line.kind == 'expire')
                & (line.type == type_.id) & (line.move == Null))
            columns = [Sum(line.quantity).as_('quantity')]
            if by_member:
                columns.insert(0, line.member)
            query = line.select(
                *columns, where=run,
                group_by=[line.member] if by_member else None)
            if backend.name == 'sqlite':
                sqlite_apply_types(
                    query, [None] * (len(columns) - 1) + ['NUMERIC'])
            cursor.execute(*query)
            entries = []
            for row in cursor:
                if row[-1] is None:
                    continue
                member = Party(row[0]) if by_member else None
                entries.append(
                    ('expire', member, type_.round(Decimal(row[-1]))))
            if not entries:
                continue
            with Transaction().set_context(
                    company=type_.programme.company.id):
                move = type_.get_account_move(
                    date, entries, origin=type_,
                    description=gettext(
                        'member_points.msg_expiry_move_description',
                        type=type_.rec_name))
            if not move:
                continue
            Move.save([move])
            Move.post([move])
            cursor.execute(*line.update([line.move], [move.id], where=run))

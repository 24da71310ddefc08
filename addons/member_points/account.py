# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import functools
from collections import defaultdict
from decimal import Decimal

from sql import Cast, Literal, Select
from sql.aggregate import Sum
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DigitsMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    fields,
)
from trytond.model.fields import SQL_OPERATORS
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .exceptions import LedgerAccessError

In = SQL_OPERATORS['in']
# Columns the ledger maintains itself under the member lock
MAINTAINED = {'balance', 'held', 'lifetime_earned'}


def numeric(column):
    "Compare a Numeric column in SQL: SQLite stores decimals as text"
    if backend.name == 'sqlite':
        return Cast(column, 'NUMERIC')
    return column


def ledger_writes(func):
    """Run a ledger API classmethod with its records exempt from the ORM's
    re-validation (see LedgerRecord)"""
    @functools.wraps(func)
    def wrapper(cls, *args, **kwargs):
        with Transaction().set_context(_member_points_ledger=True):
            return func(cls, *args, **kwargs)
    return wrapper


def forget(*models):
    """Drop the records of models from the transaction's caches after raw
    SQL changed them, as ModelStorage.write does for its records"""
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        for model in models:
            if model.__name__ in cache:
                cache[model.__name__].clear()


def current_timestamp():
    """Return the value CurrentTimestamp() gives in this transaction, read
    once for statements writing many rows: SQLite computes it in Python for
    every row"""
    cursor = Transaction().connection.cursor()
    cursor.execute(*Select([CurrentTimestamp()]))
    return cursor.fetchone()[0]


def drop_column_index(cls, name):
    """Drop the index trytond adds on the Many2One name of cls alone: a
    wider index of cls begins with the column and serves its lookups, and
    every index costs each posting an insert"""
    cls._sql_indexes = {i for i in cls._sql_indexes
        if [getattr(e, 'name', None) for e, _ in i.expressions] != [name]}


class TypeDigits(DigitsMixin):
    """Quantities of the records pointing to this one are shown with the
    digits of its point type (digits='account', digits='lot')"""
    __slots__ = ()
    _digits_of = 'type'

    def _get_digits(self):
        return getattr(self, self._digits_of).get_digits()


class LedgerRecord:
    """A record only the ledger API writes

    The API checks every value before writing, so the ORM's per-record
    domain and required checks would only repeat them: they cost most of a
    posting's time. Clients cannot set the context key (RPC drops keys
    starting with "_").
    """
    __slots__ = ()

    @classmethod
    def _validate(cls, records, field_names=None):
        if not Transaction().context.get('_member_points_ledger'):
            super()._validate(records, field_names=field_names)


class Account(LedgerRecord, TypeDigits, ModelSQL, ModelView):
    __name__ = 'member.point.account'
    __string__ = "Points Account"

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT')
    type = fields.Many2One(
        'member.point.type', "Type", required=True, ondelete='RESTRICT')
    balance = fields.Numeric(
        "Balance", digits='type', readonly=True,
        help="Sum of all ledger lines, pending points included.")
    held = fields.Numeric(
        "Held", digits='type', readonly=True,
        help="Authorised by holds and not yet captured or released.")
    lifetime_earned = fields.Numeric(
        "Lifetime Earned", digits='type', readonly=True)
    pending = fields.Function(fields.Numeric(
            "Pending", digits='type',
            help="Earned but not yet spendable."),
        'get_pending')
    available = fields.Function(fields.Numeric(
            "Available", digits='type',
            help="What the member may spend now."),
        'get_available')
    lines = fields.One2Many(
        'member.point.line', 'account', "Lines", readonly=True)
    lots = fields.One2Many(
        'member.point.lot', 'account', "Lots", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('member')
        t = cls.__table__()
        cls._sql_constraints = [
            ('member_type_unique', Unique(t, t.member, t.type),
                'member_points.msg_account_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.type, Index.Equality())))

    @classmethod
    def __setup_indexes__(cls):
        super().__setup_indexes__()
        # the unique (member, type) constraint's index begins with member
        drop_column_index(cls, 'member')

    @classmethod
    def add_quantities(cls, quantities, lifetime_earned=False):
        """Add {account id: quantity} to the balances, and to the lifetime
        earned if asked, set-based by id. The caller holds the member locks
        or, as the expiry run, relies on PostgreSQL's relative update and
        SQLite's single writer."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        ids = sorted(quantities)
        if backend.name == 'postgresql':
            # Two array parameters joined by id: a CASE of thousands of
            # parameters costs more to send than to run
            lifetime = ('lifetime_earned = COALESCE(a.lifetime_earned, 0) '
                '+ t.q, ' if lifetime_earned else '')
            cursor.execute(
                f'UPDATE "{cls._table}" AS a '
                'SET balance = COALESCE(a.balance, 0) + t.q, '
                f'{lifetime}write_uid = %s, write_date = CURRENT_TIMESTAMP '
                'FROM unnest(%s::integer[], %s::numeric[]) AS t(id, q) '
                'WHERE a.id = t.id',
                (transaction.user, ids, [quantities[i] for i in ids]))
        else:
            # Added in Python: SQLite would add the decimals as floats; one
            # prepared statement run per account, as a CASE may only hold a
            # few dozen parameters on SQLite
            sql_format = cls.balance.sql_format
            now = current_timestamp()
            rows = []
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.select(
                        table.id, table.balance, table.lifetime_earned,
                        where=In(table.id, list(sub_ids))))
                for id_, balance, lifetime in cursor.fetchall():
                    quantity = quantities[id_]
                    row = [sql_format(Decimal(str(balance or 0)) + quantity)]
                    if lifetime_earned:
                        row.append(sql_format(
                                Decimal(str(lifetime or 0)) + quantity))
                    rows.append(row + [transaction.user, now, id_])
            lifetime = 'lifetime_earned = ?, ' if lifetime_earned else ''
            cursor.executemany(
                f'UPDATE "{cls._table}" SET balance = ?, {lifetime}'
                'write_uid = ?, write_date = ? '
                'WHERE id = ?', rows)
        # Records read before must not show the old balances
        forget(cls)

    @classmethod
    def default_balance(cls):
        return Decimal(0)

    @classmethod
    def default_held(cls):
        return Decimal(0)

    @classmethod
    def default_lifetime_earned(cls):
        return Decimal(0)

    def get_rec_name(self, name):
        return f'{self.member.rec_name} - {self.type.rec_name}'

    @classmethod
    def get_pending(cls, accounts, name, date=None):
        pool = Pool()
        Lot = pool.get('member.point.lot')
        lot = Lot.__table__()
        cursor = Transaction().connection.cursor()
        date = date or dt.date.today()
        result = {a.id: Decimal(0) for a in accounts}
        for sub_ids in grouped_slice(list(result), 1000):
            cursor.execute(*lot.select(
                    lot.account, Sum(lot.remaining),
                    where=In(lot.account, sub_ids)
                    & (lot.state == 'open')
                    & (lot.available_date > date),
                    group_by=[lot.account]))
            for account_id, quantity in cursor:
                result[account_id] = Decimal(str(quantity or 0))
        return result

    @classmethod
    def get_available(cls, accounts, name):
        pending = cls.get_pending(accounts, 'pending')
        return {a.id: a.balance - pending[a.id] - a.held for a in accounts}

    @classmethod
    def check_modification(cls, mode, accounts, values=None, external=False):
        super().check_modification(
            mode, accounts, values=values, external=external)
        if mode == 'delete' or (
                mode == 'write' and external and MAINTAINED & set(values)):
            raise LedgerAccessError(gettext(
                    'member_points.msg_account_maintained'))

    @classmethod
    def get_or_create(cls, member, type_):
        "Return the account of member for the point type, creating it"
        accounts = cls.search([
                ('member', '=', member.id),
                ('type', '=', type_.id),
                ], limit=1)
        if accounts:
            return accounts[0]
        account, = cls.create([{'member': member.id, 'type': type_.id}])
        return account

    @classmethod
    def check_balances(cls, accounts=None):
        """Return the ids of accounts whose maintained columns disagree with
        their lines and holds (an empty list when all agree):
        balance = sum(lines), held = sum(authorised holds),
        lifetime_earned = sum(earn lines).
        """
        pool = Pool()
        Line = pool.get('member.point.line')
        Hold = pool.get('member.point.hold')
        account = cls.__table__()
        line = Line.__table__()
        hold = Hold.__table__()
        cursor = Transaction().connection.cursor()
        where = Literal(True)
        if accounts is not None:
            where = In(account.id, [a.id for a in accounts])
        if backend.name == 'sqlite':
            # SQLite sums decimals as floats: add them up exactly here
            expected = defaultdict(lambda: [Decimal(0)] * 3)
            cursor.execute(*line.select(line.account, line.quantity,
                    line.kind))
            for account_id, quantity, kind in cursor:
                expected[account_id][0] += quantity
                if kind == 'earn':
                    expected[account_id][2] += quantity
            cursor.execute(*hold.select(hold.account, hold.quantity,
                    where=hold.state == 'authorised'))
            for account_id, quantity in cursor:
                expected[account_id][1] += quantity
            cursor.execute(*account.select(account.id, account.balance,
                    account.held, account.lifetime_earned, where=where))
            return [account_id for account_id, *actual in cursor
                if list(actual) != expected[account_id]]
        lines = line.select(
            line.account,
            Sum(line.quantity).as_('total'),
            Sum(line.quantity, filter_=line.kind == 'earn').as_('earned'),
            group_by=[line.account])
        holds = hold.select(
            hold.account, Sum(hold.quantity).as_('total'),
            where=hold.state == 'authorised',
            group_by=[hold.account])
        cursor.execute(*account
            .join(lines, 'LEFT', condition=lines.account == account.id)
            .join(holds, 'LEFT', condition=holds.account == account.id)
            .select(account.id,
                where=where & (
                    (account.balance != Coalesce(lines.total, 0))
                    | (account.held != Coalesce(holds.total, 0))
                    | (account.lifetime_earned
                        != Coalesce(lines.earned, 0)))))
        return [i for i, in cursor]

    @classmethod
    def _add(cls, account, balance=0, held=0, earned=0):
        "Add to the maintained columns; the caller holds the member lock"
        account = cls(account.id)
        cls.write([account], {
                'balance': account.balance + balance,
                'held': account.held + held,
                'lifetime_earned': account.lifetime_earned + earned,
                })

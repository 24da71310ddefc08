# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""The posting API of the points ledger: ``member.point.ledger``.

Every call takes an idempotency ``key``: the same key with the same request
returns what the first call wrote and writes nothing; the same key with a
different request raises ``IdempotencyError``. ``Ledger.new_key()`` makes
time-ordered keys for callers without a natural one.

Each call locks the member first (``Party.lock``: on PostgreSQL the
transaction restarts with the row locked), so postings of one member
serialise and the account's maintained columns move in the same
transaction as its lines.

``earn(member, type, quantity, key, source=None, date=None, property=None,
pending_days=0, expiry_date=None, description=None)`` → posting
    Credits a lot that is spendable from ``date + pending_days`` and
    expires by the point type's policy (or ``expiry_date``).
``redeem(member, type, quantity, key, source=None, date=None,
description=None)`` → posting
    Debits available points, oldest expiry first. ``InsufficientBalance``
    unless the type allows a negative balance.
``hold(member, type, quantity, key, source=None, date=None)`` → hold
``capture(hold, key, quantity=None, date=None)`` → posting
``release(hold)`` → hold
``reverse(source, key, date=None)`` → reversal postings
    Reverses every posting of the source not yet reversed and releases its
    authorised holds. A reversed earning gives back what is left of its lot
    and takes the part already spent from the member's other points; what
    they cannot cover is recorded as ``unrecovered``. A reversed
    redemption gives the points back to their lots with their original
    expiry; points whose lot has expired meanwhile expire at once.
``adjust(member, type, quantity, key, source=None, date=None,
description=None)`` → posting
    A signed manual credit or debit (approved adjustments, recharges).
``balance(member, type, date=None)`` → dict balance, pending, held,
available, lifetime_earned
``expire(date=None)`` → number of lots expired (set-based, for the cron)
"""
import datetime as dt
import hashlib
import json
import secrets
import time
from collections import defaultdict
from decimal import Decimal

from sql import Cast, Literal
from sql.aggregate import Sum
from sql.operators import Concat

from trytond.i18n import gettext
from trytond.model import Model
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .account import In, current_timestamp, forget, ledger_writes, numeric
from .exceptions import IdempotencyError, InsufficientBalance, PostingError


def fingerprint(*values):
    "A digest of the request, to tell a retry from another request"
    def default(value):
        if hasattr(value, 'id') and hasattr(value, '__name__'):
            return f'{value.__name__},{value.id}'
        return str(value)
    data = json.dumps(values, default=default, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


class Ledger(Model):
    __name__ = 'member.point.ledger'
    __string__ = "Points Ledger"

    @classmethod
    def new_key(cls, prefix='key'):
        "Return a unique, time-ordered idempotency key"
        return f'{prefix}:{time.time_ns():020d}:{secrets.token_hex(4)}'

    @classmethod
    def _lock(cls, members):
        pool = Pool()
        Party = pool.get('party.party')
        Party.lock(sorted({int(m) for m in members}))

    @classmethod
    def _replay(cls, key, fingerprint_):
        "Return the posting already made with key, or None"
        pool = Pool()
        Posting = pool.get('member.point.posting')
        postings = Posting.search([('key', '=', key)], limit=1)
        if postings:
            posting, = postings
            if posting.fingerprint != fingerprint_:
                raise IdempotencyError(gettext(
                        'member_points.msg_key_reused', key=key))
            return posting

    @classmethod
    def _check_type(cls, member, type_, quantity):
        type_.check_quantity(quantity)
        if member.programme != type_.programme:
            raise PostingError(gettext(
                    'member_points.msg_type_other_programme',
                    type=type_.rec_name, member=member.rec_name))

    @classmethod
    def _check(cls, member, type_, quantity):
        cls._check_type(member, type_, quantity)
        member.check_member_usable()

    @classmethod
    def _posting(cls, operation, key, fingerprint_, member, date,
            source=None, description=None, reversal_of=None):
        pool = Pool()
        Posting = pool.get('member.point.posting')
        posting, = Posting.create([{
                    'key': key,
                    'fingerprint': fingerprint_,
                    'operation': operation,
                    'member': member.id,
                    'date': date,
                    'source': str(source) if source else None,
                    'description': description,
                    'reversal_of': reversal_of.id if reversal_of else None,
                    'user': Transaction().user,
                    }])
        return posting

    @classmethod
    def _line(cls, posting, account, kind, quantity, date, **values):
        pool = Pool()
        Line = pool.get('member.point.line')
        line, = Line.create([{
                    'posting': posting.id,
                    'account': account.id,
                    'member': account.member.id,
                    'type': account.type.id,
                    'kind': kind,
                    'quantity': quantity,
                    'date': date,
                    **values,
                    }])
        return line

    @classmethod
    def _pending(cls, account, date):
        pool = Pool()
        Account = pool.get('member.point.account')
        return Account.get_pending([account], 'pending', date=date)[
            account.id]

    @classmethod
    def _available(cls, account, date):
        return account.balance - cls._pending(account, date) - account.held

    @classmethod
    def _plan(cls, account, quantity, date, pending=False, exclude=None):
        """Return [(lot, quantity)] taking quantity from the open lots of
        account, oldest expiry first; less when the lots run out."""
        pool = Pool()
        Lot = pool.get('member.point.lot')
        domain = [
            ('account', '=', account.id),
            ('state', '=', 'open'),
            ('remaining', '>', 0),
            ]
        if not pending:
            domain.append(('available_date', '<=', date))
        if exclude:
            domain.append(('id', '!=', exclude.id))
        plan, to_take = [], quantity
        for lot in Lot.search(domain):
            if not to_take:
                break
            taken = min(lot.remaining, to_take)
            to_take -= taken
            plan.append((lot, taken))
        return plan

    @classmethod
    def _allocate(cls, line, plan):
        "Record that line takes the planned quantities from their lots"
        pool = Pool()
        Lot = pool.get('member.point.lot')
        Allocation = pool.get('member.point.lot.allocation')
        if not plan:
            return
        Allocation.create([{
                    'lot': lot.id, 'line': line.id, 'quantity': taken}
                for lot, taken in plan])
        to_write = []
        for lot, taken in plan:
            remaining = lot.remaining - taken
            to_write.extend(([lot], {
                        'remaining': remaining,
                        'state': 'open' if remaining else 'consumed',
                        }))
        Lot.write(*to_write)

    @classmethod
    @ledger_writes
    def earn(cls, member, type_, quantity, key, source=None, date=None,
            property=None, pending_days=0, expiry_date=None,
            description=None):
        date = date or dt.date.today()
        fp = fingerprint('earn', member, type_, quantity, source, date,
            property, pending_days, expiry_date)
        cls._lock([member])
        if posting := cls._replay(key, fp):
            return posting
        cls._check(member, type_, quantity)
        if pending_days < 0:
            raise PostingError(gettext(
                    'member_points.msg_pending_days_negative'))
        posting = cls._posting(
            'earn', key, fp, member, date, source=source,
            description=description)
        cls._credit(posting, member, type_, quantity, 'earn', date,
            available_date=date + dt.timedelta(days=pending_days),
            expiry_date=expiry_date or type_.expiry_date(date),
            property=property)
        return posting

    @classmethod
    def _credit(cls, posting, member, type_, quantity, kind, date,
            available_date, expiry_date, property=None):
        "Post a line that credits a new lot"
        pool = Pool()
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        account = Account.get_or_create(member, type_)
        line = cls._line(
            posting, account, kind, quantity, date,
            available_date=available_date, expiry_date=expiry_date,
            property=property.id if property else None)
        Lot.create([{
                    'account': account.id,
                    'line': line.id,
                    'quantity': quantity,
                    'remaining': quantity,
                    'date': date,
                    'available_date': available_date,
                    'expiry_date': expiry_date,
                    'state': 'open',
                    }])
        Account._add(account, balance=quantity,
            earned=quantity if kind == 'earn' else 0)
        return line

    @classmethod
    def _debit(cls, posting, member, type_, quantity, kind, date):
        "Post a line that takes available points, oldest expiry first"
        pool = Pool()
        Account = pool.get('member.point.account')
        account = Account.get_or_create(member, type_)
        cls._check_available(account, quantity, date)
        line = cls._line(posting, account, kind, -quantity, date)
        cls._allocate(line, cls._plan(account, quantity, date))
        Account._add(account, balance=-quantity)
        return line

    @classmethod
    @ledger_writes
    def adjust(cls, member, type_, quantity, key, source=None, date=None,
            description=None):
        """Credit (quantity > 0) or debit (quantity < 0) the member outside
        of any rule; approved adjustments and recharges call it."""
        date = date or dt.date.today()
        fp = fingerprint('adjust', member, type_, quantity, source, date)
        cls._lock([member])
        if posting := cls._replay(key, fp):
            return posting
        if quantity > 0:
            cls._check(member, type_, quantity)
        else:
            # Taking value back (refunds, corrections) must also work for
            # suspended and terminated members
            cls._check_type(member, type_, -quantity)
        posting = cls._posting(
            'adjust', key, fp, member, date, source=source,
            description=description)
        if quantity > 0:
            cls._credit(posting, member, type_, quantity, 'adjust', date,
                available_date=date, expiry_date=type_.expiry_date(date))
        else:
            cls._debit(posting, member, type_, -quantity, 'adjust', date)
        return posting

    @classmethod
    @ledger_writes
    def redeem(cls, member, type_, quantity, key, source=None, date=None,
            description=None):
        date = date or dt.date.today()
        fp = fingerprint('redeem', member, type_, quantity, source, date)
        cls._lock([member])
        if posting := cls._replay(key, fp):
            return posting
        cls._check(member, type_, quantity)
        posting = cls._posting(
            'redeem', key, fp, member, date, source=source,
            description=description)
        cls._debit(posting, member, type_, quantity, 'redeem', date)
        return posting

    @classmethod
    def _check_available(cls, account, quantity, date):
        available = cls._available(account, date)
        if quantity > available and not account.type.allow_negative:
            raise InsufficientBalance(gettext(
                    'member_points.msg_insufficient_balance',
                    member=account.member.rec_name,
                    type=account.type.rec_name,
                    quantity=quantity,
                    available=account.type.round(available)))

    @classmethod
    @ledger_writes
    def hold(cls, member, type_, quantity, key, source=None, date=None):
        pool = Pool()
        Account = pool.get('member.point.account')
        Hold = pool.get('member.point.hold')
        date = date or dt.date.today()
        fp = fingerprint('hold', member, type_, quantity, source)
        cls._lock([member])
        holds = Hold.search([('key', '=', key)], limit=1)
        if holds:
            hold, = holds
            if hold.fingerprint != fp:
                raise IdempotencyError(gettext(
                        'member_points.msg_key_reused', key=key))
            return hold
        cls._check(member, type_, quantity)
        account = Account.get_or_create(member, type_)
        cls._check_available(account, quantity, date)
        hold, = Hold.create([{
                    'account': account.id,
                    'key': key,
                    'fingerprint': fp,
                    'quantity': quantity,
                    'source': str(source) if source else None,
                    'date': date,
                    'state': 'authorised',
                    }])
        Account._add(account, held=quantity)
        return hold

    @classmethod
    @ledger_writes
    def capture(cls, hold, key, quantity=None, date=None):
        pool = Pool()
        Account = pool.get('member.point.account')
        Hold = pool.get('member.point.hold')
        date = date or dt.date.today()
        if quantity is None:
            quantity = hold.quantity
        account = hold.account
        fp = fingerprint('capture', hold, quantity)
        cls._lock([account.member])
        if posting := cls._replay(key, fp):
            return posting
        hold = Hold(hold.id)
        account.type.check_quantity(quantity)
        if hold.state != 'authorised':
            raise PostingError(gettext(
                    'member_points.msg_hold_not_authorised',
                    hold=hold.key, state=hold.state_string))
        if quantity > hold.quantity:
            raise PostingError(gettext(
                    'member_points.msg_capture_exceeds_hold',
                    quantity=quantity, held=hold.quantity))
        posting = cls._posting(
            'capture', key, fp, account.member, date, source=hold.source)
        line = cls._line(posting, account, 'redeem', -quantity, date)
        cls._allocate(line, cls._plan(account, quantity, date))
        Hold.write([hold], {'state': 'captured', 'capture': posting.id})
        Account._add(account, balance=-quantity, held=-hold.quantity)
        return posting

    @classmethod
    @ledger_writes
    def release(cls, hold):
        pool = Pool()
        Account = pool.get('member.point.account')
        Hold = pool.get('member.point.hold')
        cls._lock([hold.account.member])
        hold = Hold(hold.id)
        if hold.state == 'released':
            return hold
        if hold.state != 'authorised':
            raise PostingError(gettext(
                    'member_points.msg_hold_not_authorised',
                    hold=hold.key, state=hold.state_string))
        Hold.write([hold], {'state': 'released'})
        Account._add(hold.account, held=-hold.quantity)
        return hold

    @classmethod
    @ledger_writes
    def reverse(cls, source, key, date=None):
        pool = Pool()
        Posting = pool.get('member.point.posting')
        Hold = pool.get('member.point.hold')
        date = date or dt.date.today()
        source = str(source)
        postings = Posting.search([
                ('source', '=', source),
                ('operation', 'in', ['earn', 'redeem', 'capture', 'adjust']),
                ], order=[('id', 'ASC')])
        holds = Hold.search([
                ('source', '=', source),
                ('state', '=', 'authorised'),
                ])
        members = {p.member for p in postings} | {
            h.account.member for h in holds}
        if not members:
            return []
        cls._lock(members)
        done = {p.reversal_of.id: p for p in Posting.search([
                    ('reversal_of', 'in', [p.id for p in postings]),
                    ])}
        result = []
        # Newest first: a redemption is given back before its earning goes
        for posting in reversed(postings):
            if posting.id in done:
                result.append(done[posting.id])
                continue
            fp = fingerprint('reverse', posting)
            posting_key = f'{key}:{posting.id}'
            if replayed := cls._replay(posting_key, fp):
                result.append(replayed)
                continue
            reversal = cls._posting(
                'reverse', posting_key, fp, posting.member, date,
                source=source, reversal_of=posting)
            for line in posting.lines:
                if line.quantity > 0:
                    cls._reverse_credit(reversal, line, date)
                else:
                    cls._reverse_debit(reversal, line, date)
            result.append(reversal)
        for hold in holds:
            cls.release(hold)
        return result

    @classmethod
    def _reverse_credit(cls, reversal, line, date):
        "Take back an earned lot: what is left, then what was spent"
        pool = Pool()
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        account = Account(line.account.id)
        lot, = Lot.search([('line', '=', line.id)])
        expired = sum(
            (a.quantity for a in lot.allocations
                if a.line.kind == 'expire'), Decimal(0))
        left = lot.remaining if lot.state == 'open' else Decimal(0)
        spent = lot.quantity - expired - left
        coverable = max(account.balance - account.held - left, Decimal(0))
        plan = [(lot, left)] if left else []
        plan += cls._plan(
            account, min(spent, coverable), date, pending=True, exclude=lot)
        taken = sum((q for _, q in plan), Decimal(0))
        reverse_line = cls._line(
            reversal, account, 'reverse', -taken, date,
            reversal_of=line.id,
            unrecovered=(spent - (taken - left)) or None)
        cls._allocate(reverse_line, plan)
        Lot.write([lot], {'remaining': 0, 'state': 'cancelled'})
        Account._add(account, balance=-taken)

    @classmethod
    def _reverse_debit(cls, reversal, line, date):
        "Give spent points back to their lots; expired lots expire again"
        pool = Pool()
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        Allocation = pool.get('member.point.lot.allocation')
        account = Account(line.account.id)
        quantity = -line.quantity
        allocations = Allocation.search([('line', '=', line.id)])
        reverse_line = cls._line(
            reversal, account, 'reverse', quantity, date,
            reversal_of=line.id)
        Allocation.create([{
                    'lot': a.lot.id, 'line': reverse_line.id,
                    'quantity': -a.quantity} for a in allocations])
        late = [a for a in allocations
            if a.lot.expiry_date and a.lot.expiry_date < date]
        restored = defaultdict(Decimal)
        for allocation in allocations:
            if allocation not in late:
                restored[allocation.lot] += allocation.quantity
        to_write = []
        for lot in {a.lot for a in late} - set(restored):
            to_write.extend(([lot], {'state': 'expired'}))
        for lot, given_back in restored.items():
            to_write.extend(([lot], {
                        'remaining': lot.remaining + given_back,
                        'state': 'open',
                        }))
        if to_write:
            Lot.write(*to_write)
        expired = sum((a.quantity for a in late), Decimal(0))
        if expired:
            expire_line = cls._line(
                reversal, account, 'expire', -expired, date)
            Allocation.create([{
                        'lot': a.lot.id, 'line': expire_line.id,
                        'quantity': a.quantity} for a in late])
        Account._add(account, balance=quantity - expired)

    @classmethod
    def balance(cls, member, type_, date=None):
        pool = Pool()
        Account = pool.get('member.point.account')
        Line = pool.get('member.point.line')
        Lot = pool.get('member.point.lot')
        account = Account.__table__()
        line = Line.__table__()
        lot = Lot.__table__()
        cursor = Transaction().connection.cursor()
        today = dt.date.today()
        of_member = (account.member == member.id) & (account.type == type_.id)
        zero = Decimal(0)
        if date and date < today:
            cursor.execute(*line.join(
                    account, condition=line.account == account.id).select(
                    Sum(line.quantity),
                    where=of_member & (line.date <= date)))
            total, = cursor.fetchone()
            return {'balance': Decimal(str(total or 0))}
        # One query: the till asks for it at every identification
        pending = lot.select(
            Sum(lot.remaining),
            where=(lot.account == account.id) & (lot.state == 'open')
            & (lot.available_date > (date or today)))
        cursor.execute(*account.select(
                account.balance, account.held, account.lifetime_earned,
                pending, where=of_member, limit=1))
        row = cursor.fetchone()
        if not row:
            return {k: zero for k in [
                    'balance', 'pending', 'held', 'available',
                    'lifetime_earned']}
        balance, held, lifetime_earned, pending = (
            Decimal(str(v or 0)) for v in row)
        # SQLite sums decimals as floats: back to the type's digits
        digits = pool.get('member.point.type')(type_.id).digits
        pending = pending.quantize(Decimal(1).scaleb(-digits))
        return {
            'balance': balance,
            'pending': pending,
            'held': held,
            'available': balance - pending - held,
            'lifetime_earned': lifetime_earned,
            }

    @classmethod
    @ledger_writes
    def expire(cls, date=None):
        "Post expiry lines for what remains of lots past their expiry date"
        pool = Pool()
        Account = pool.get('member.point.account')
        Posting = pool.get('member.point.posting')
        Line = pool.get('member.point.line')
        Lot = pool.get('member.point.lot')
        Allocation = pool.get('member.point.lot.allocation')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        date = date or dt.date.today()
        user = transaction.user
        lot = Lot.__table__()
        account = Account.__table__()
        posting = Posting.__table__()
        line = Line.__table__()
        allocation = Allocation.__table__()

        cursor.execute(*lot.select(lot.id,
                where=(lot.state == 'open') & (numeric(lot.remaining) > 0)
                & (lot.expiry_date < date),
                order_by=[lot.id]))
        lot_ids = [i for i, in cursor]
        now = Literal(current_timestamp())
        expired = defaultdict(Decimal)
        for sub_ids in grouped_slice(lot_ids, 10_000):
            in_chunk = In(lot.id, list(sub_ids))
            posting_key = Concat('expire:', Cast(lot.id, 'VARCHAR'))
            # Driven by the lot (scalar subqueries, not joins): SQLite
            # otherwise scans every account and probes the lots
            member = account.select(
                account.member, where=account.id == lot.account)
            type_ = account.select(
                account.type, where=account.id == lot.account)
            cursor.execute(*posting.insert(
                    [posting.key, posting.fingerprint, posting.operation,
                        posting.member, posting.date, posting.user,
                        posting.create_uid, posting.create_date],
                    lot.select(posting_key, Literal('expire'),
                        Literal('expire'), member, Literal(date),
                        Literal(user), Literal(user), now,
                        where=in_chunk)))
            expiring = lot.join(
                posting, condition=posting.key == posting_key)
            cursor.execute(*line.insert(
                    [line.posting, line.account, line.member, line.type,
                        line.kind, line.quantity, line.date,
                        line.create_uid, line.create_date],
                    expiring.select(posting.id, lot.account, posting.member,
                        type_, Literal('expire'), -lot.remaining,
                        Literal(date), Literal(user), now,
                        where=in_chunk)))
            cursor.execute(*allocation.insert(
                    [allocation.lot, allocation.line, allocation.quantity,
                        allocation.create_uid, allocation.create_date],
                    expiring.join(line, condition=line.posting == posting.id)
                    .select(lot.id, line.id, lot.remaining,
                        Literal(user), now,
                        where=in_chunk)))
            cursor.execute(*lot.select(
                    lot.account, lot.remaining, where=in_chunk))
            for account_id, remaining in cursor:
                expired[account_id] -= Decimal(str(remaining))
            cursor.execute(*lot.update(
                    [lot.remaining, lot.state],
                    [Literal(0), Literal('expired')],
                    where=in_chunk))
        # One update of the accounts: one per chunk would join each
        # chunk's lots with every account
        Account.add_quantities(expired)
        forget(Lot)
        return len(lot_ids)

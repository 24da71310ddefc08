# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Batch earning for imports: ``Ledger.earn_many(requests)``.

``earn_many(requests)`` → list of postings in request order
    ``requests`` is an iterable of dicts with the arguments of ``earn``:
    ``member``, ``type``, ``quantity``, ``key`` (required), ``source``,
    ``date``, ``property``, ``pending_days``, ``expiry_date``,
    ``description``; ``member``, ``type`` and ``property`` may be records
    or ids. Each request is posted exactly as ``earn`` posts it (same
    posting, line, lot, account columns and fingerprint), so a later
    ``earn`` with the same key replays it and vice versa; a key already
    posted with the same request returns the existing posting, a key
    repeated inside the batch with the same request returns one posting
    for both rows.

    All rows are checked before anything is written; the first bad row
    raises ``PostingError`` naming its number (1-based), its key and the
    field: a quantity not positive or beyond the type's digits, a type of
    another programme, a member who may not earn, negative pending days, a
    missing or unknown field, or a key used for another request (in the
    batch or before).

    The members are locked once, in ascending id order; postings, lines
    and lots are written by COPY on PostgreSQL (multi-row INSERTs on
    SQLite) and the accounts updated set-based.

``_earned_many(postings)``
    Called at the end with the postings the call created (replays left
    out), in request order: extend it to act on new earnings in bulk
    (e.g. accounting moves); it does nothing here.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Column
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .account import In, ledger_writes
from .api import fingerprint
from .exceptions import PostingError

REQUIRED = ('member', 'type', 'quantity', 'key')
OPTIONAL = {
    'source': None,
    'date': None,
    'property': None,
    'pending_days': 0,
    'expiry_date': None,
    'description': None,
    }
# Columns the database fills for every inserted row
MAGIC = {'id', 'create_uid', 'create_date', 'write_uid', 'write_date'}


# trytond checks every id of a browsed group for each of its records: the
# cost grows with the square of the group, so batches browse in small groups
BROWSE = 100


def _id(value):
    "The id of a record or id"
    return value if isinstance(value, int) else value.id


def _browse(Model, ids):
    "Return {id: record} for ids, browsed in groups of BROWSE"
    records = {}
    for sub_ids in grouped_slice(list(dict.fromkeys(ids)), BROWSE):
        records.update((r.id, r) for r in Model.browse(sub_ids))
    return records


class _Row:
    "One request of a batch, normalised as earn receives it"
    __slots__ = ('number', 'member', 'type', 'quantity', 'key', 'source',
        'date', 'property', 'pending_days', 'expiry_date', 'description',
        'fingerprint', 'posting')

    def error(self, exception):
        return PostingError(gettext(
                'member_points.msg_batch_row', row=self.number,
                key=self.key or '', error=exception.message))


class Ledger(metaclass=PoolMeta):
    __name__ = 'member.point.ledger'

    @classmethod
    @ledger_writes
    def earn_many(cls, requests):
        "Post each request as earn would, set-based; see batch.py"
        pool = Pool()
        Posting = pool.get('member.point.posting')
        requests = list(requests)
        # Locked first: on PostgreSQL taking the lock restarts the
        # transaction, which would throw away the rows already built
        cls._lock([_id(r['member']) for r in requests if r.get('member')])
        rows = cls._batch_rows(requests)
        if not rows:
            return []
        new = cls._batch_check(rows)
        if new:
            accounts = cls._batch_accounts(new)
            cls._batch_insert(new, accounts)
        # A key repeated in the batch gets the posting of its first row
        keys = {r.key: r.posting for r in rows if r.posting}
        postings = _browse(Posting, keys.values())
        cls._earned_many([postings[r.posting] for r in new])
        return [postings[keys[r.key]] for r in rows]

    @classmethod
    def _earned_many(cls, postings):
        "Hook called with the earn postings created by earn_many"
        pass

    @classmethod
    def _batch_rows(cls, requests):
        "Return the requests as _Row, raising for a missing or unknown field"
        pool = Pool()
        PointType = pool.get('member.point.type')
        Property = pool.get('member.property')
        today = dt.date.today()

        rows = []
        for number, request in enumerate(requests, 1):
            row = _Row()
            row.number = number
            row.key = request.get('key')
            row.posting = None
            for name in REQUIRED:
                if request.get(name) is None:
                    raise row.error(PostingError(gettext(
                                'member_points.msg_batch_field_missing',
                                field=name)))
            unknown = sorted(
                request.keys() - set(REQUIRED) - OPTIONAL.keys())
            if unknown:
                raise row.error(PostingError(gettext(
                            'member_points.msg_batch_field_unknown',
                            field=unknown[0])))
            for name in REQUIRED:
                setattr(row, name, request[name])
            for name, default in OPTIONAL.items():
                setattr(row, name, request.get(name, default))
            rows.append(row)
        members = cls._batch_members(rows)
        types = _browse(PointType, [_id(r.type) for r in rows])
        properties = _browse(
            Property, [_id(r.property) for r in rows if r.property])
        for row in rows:
            row.member = members[_id(row.member)]
            row.type = types[_id(row.type)]
            if row.property is not None:
                row.property = properties[_id(row.property)]
            row.date = row.date or today
            row.fingerprint = fingerprint(
                'earn', row.member, row.type, row.quantity, row.source,
                row.date, row.property, row.pending_days, row.expiry_date)
        return rows

    @classmethod
    def _batch_members(cls, rows):
        """Return {id: member} with what the checks use: reading whole
        parties would cost most of a batch (the widest table)"""
        pool = Pool()
        Party = pool.get('party.party')
        Programme = pool.get('member.programme')
        member_ids = list({_id(r.member) for r in rows})
        # As earn reads its member: through the record, unchecked
        with without_check_access():
            try:
                values = Party.read(
                    member_ids, ['programme', 'member_state'])
            except UserError as exception:
                existing = {p.id for p in Party.search(
                        [('id', 'in', member_ids)], order=[])}
                row = next(r for r in rows if _id(r.member) not in existing)
                raise row.error(exception) from exception
        programmes = {}
        members = {}
        for value in values:
            programme = value['programme']
            if programme is not None:
                programme = programmes.setdefault(
                    programme, Programme(programme))
            members[value['id']] = Party(value['id'], programme=programme,
                member_state=value['member_state'])
        return members

    @classmethod
    def _batch_check(cls, rows):
        """Set the posting id of replayed rows and return the new rows;
        raise for the first invalid row"""
        pool = Pool()
        Posting = pool.get('member.point.posting')
        posting = Posting.__table__()
        cursor = Transaction().connection.cursor()
        first = {}
        for row in rows:
            other = first.setdefault(row.key, row)
            if other.fingerprint != row.fingerprint:
                raise row.error(PostingError(gettext(
                            'member_points.msg_key_reused', key=row.key)))
        posted = {}
        for keys in grouped_slice(list(first), backend.MAX_QUERY_PARAMS):
            cursor.execute(*posting.select(
                    posting.key, posting.id, posting.fingerprint,
                    where=In(posting.key, list(keys))))
            for key, id_, fingerprint_ in cursor:
                posted[key] = (id_, fingerprint_)
        new, usable = [], set()
        for row in rows:
            if row.key in posted:
                id_, fingerprint_ = posted[row.key]
                if fingerprint_ != row.fingerprint:
                    raise row.error(PostingError(gettext(
                                'member_points.msg_key_reused',
                                key=row.key)))
                row.posting = id_
            elif first[row.key] is row:
                try:
                    cls._check_type(row.member, row.type, row.quantity)
                    if row.member not in usable:
                        row.member.check_member_usable()
                        usable.add(row.member)
                    if row.pending_days < 0:
                        raise PostingError(gettext(
                                'member_points.msg_pending_days_negative'))
                except UserError as exception:
                    raise row.error(exception) from exception
                new.append(row)
        return new

    @classmethod
    def _batch_accounts(cls, rows):
        "Return the account id by (member id, type id), creating missing ones"
        pool = Pool()
        Account = pool.get('member.point.account')
        account = Account.__table__()
        cursor = Transaction().connection.cursor()
        pairs = {(r.member.id, r.type.id) for r in rows}
        type_ids = sorted({t for _, t in pairs})
        result = {}
        for member_ids in grouped_slice(
                sorted({m for m, _ in pairs}),
                max(backend.MAX_QUERY_PARAMS - len(type_ids), 1)):
            cursor.execute(*account.select(
                    account.member, account.type, account.id,
                    where=In(account.member, list(member_ids))
                    & In(account.type, type_ids)))
            for member_id, type_id, id_ in cursor:
                result[member_id, type_id] = id_
        missing = sorted(pairs - result.keys())
        if missing:
            for created in Account.create([
                        {'member': m, 'type': t} for m, t in missing]):
                result[created.member.id, created.type.id] = created.id
        return result

    @classmethod
    def _batch_insert(cls, rows, accounts):
        "Insert the postings, lines and lots of rows; update their accounts"
        pool = Pool()
        Posting = pool.get('member.point.posting')
        Line = pool.get('member.point.line')
        Lot = pool.get('member.point.lot')
        Account = pool.get('member.point.account')
        user = Transaction().user
        postings = cls._insert_many(Posting, [{
                    'key': r.key,
                    'fingerprint': r.fingerprint,
                    'operation': 'earn',
                    'member': r.member.id,
                    'date': r.date,
                    'source': str(r.source) if r.source else None,
                    'description': r.description,
                    'reversal_of': None,
                    'user': user,
                    } for r in rows], 'key')
        values = []
        for row, posting in zip(rows, postings):
            values.append({
                    'posting': posting,
                    'account': accounts[row.member.id, row.type.id],
                    'member': row.member.id,
                    'type': row.type.id,
                    'kind': 'earn',
                    'quantity': row.quantity,
                    'date': row.date,
                    'available_date': (
                        row.date + dt.timedelta(days=row.pending_days)),
                    'expiry_date': (
                        row.expiry_date or row.type.expiry_date(row.date)),
                    'property': row.property.id if row.property else None,
                    })
        lines = cls._insert_many(Line, values, 'posting')
        cls._insert_many(Lot, [{
                    'account': v['account'],
                    'line': line,
                    'quantity': v['quantity'],
                    'remaining': v['quantity'],
                    'date': v['date'],
                    'available_date': v['available_date'],
                    'expiry_date': v['expiry_date'],
                    'state': 'open',
                    } for v, line in zip(values, lines)], 'line')
        earned = defaultdict(Decimal)
        for value in values:
            earned[value['account']] += value['quantity']
        Account.add_quantities(earned, lifetime_earned=True)
        for row, posting in zip(rows, postings):
            row.posting = posting

    @classmethod
    def _insert_many(cls, Model, vlist, natural):
        """Insert vlist into the table of Model, run the create hooks and
        return the new ids in vlist order; natural is a column unique among
        the rows that finds their ids back where COPY is not available."""
        table = Model.__table__()
        vlist = Model._before_create(vlist)
        stored = {n for n, f in Model._fields.items()
            if n not in MAGIC and not hasattr(f, 'set')
            and not isinstance(f, fields.Function)}
        missing = sorted(stored - set().union(*vlist))
        defaults = Model._clean_defaults(
            Model.default_get(missing, with_rec_name=False))
        names = sorted(stored & (set().union(*vlist) | defaults.keys()))
        rows = [[Model._fields[n].sql_format(v.get(n, defaults.get(n)))
                for n in names] for v in vlist]
        if backend.name == 'postgresql':
            ids = cls._copy_rows(table, names, rows)
        else:
            ids = cls._insert_rows(table, names, rows, names.index(natural))
        Model._insert_history(ids)
        for sub_ids in grouped_slice(ids, BROWSE):
            Model._after_create(list(sub_ids))
        return ids

    @staticmethod
    def _copy_rows(table, names, rows):
        "COPY rows into table with ids taken from its sequence; return them"
        from psycopg import sql
        transaction = Transaction()
        connection = transaction.connection
        ids = transaction.database.nextid(connection, table._name, len(rows))
        if len(rows) == 1:
            ids = [ids]
        cursor = connection.cursor()
        # The value CurrentTimestamp() gives the ORM's inserts
        cursor.execute('SELECT CAST(CURRENT_TIMESTAMP AS TIMESTAMP)')
        now, = cursor.fetchone()
        columns = ['id', *names, 'create_uid', 'create_date']
        with cursor.copy(sql.SQL('COPY {} ({}) FROM STDIN').format(
                    sql.Identifier(table._name),
                    sql.SQL(', ').join(map(sql.Identifier, columns)))
                ) as copy:
            for id_, row in zip(ids, rows):
                copy.write_row([id_, *row, transaction.user, now])
        return ids

    @staticmethod
    def _insert_rows(table, names, rows, natural):
        """Insert rows with multi-row INSERTs; return their ids in rows
        order, found back by the values of column number natural"""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        columns = [Column(table, n) for n in names] + [
            table.create_uid, table.create_date]
        natural_column = columns[natural]
        ids = []
        size = max(backend.MAX_QUERY_PARAMS // len(columns), 1)
        for chunk in grouped_slice(rows, size):
            chunk = list(chunk)
            naturals = [r[natural] for r in chunk]
            values = [r + [transaction.user, CurrentTimestamp()]
                for r in chunk]
            if transaction.database.has_returning():
                cursor.execute(*table.insert(columns, values,
                        returning=[natural_column, table.id]))
            else:
                cursor.execute(*table.insert(columns, values))
                cursor.execute(*table.select(natural_column, table.id,
                        where=In(natural_column, naturals)))
            found = dict(cursor)
            ids.extend(found[n] for n in naturals)
        return ids

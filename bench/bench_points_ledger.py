"""Points ledger (member_points): the posting API next to raw SQL.

Loads N members (bench_member_lookup.populate) and, set-based, one point
account each with L earn postings, ledger lines and open lots (accounts'
balances = sums of their lines; a tenth of the lots past their expiry),
then times, each next to raw SQL doing the same work in the same run:

a. single postings: ``Ledger.earn`` in its own transaction and commit, as a
   till calls it through the RPC dispatcher (a first attempt that takes
   the member lock, then the restart that holds it), next to the raw
   lock + INSERT posting, line, lot + UPDATE account + COMMIT;
b. batch import: ``Ledger.earn_many`` in chunks of 1,000 (a commit each)
   next to the same rows written raw with ids taken from the sequences:
   psycopg's ``COPY`` on PostgreSQL, ``executemany`` INSERTs on SQLite;
c. balance: ``Ledger.balance(member, type)`` next to the indexed SELECT of
   the account and its pending lots (p50, p95);
d. expiry: ``Ledger.expire(date)`` next to the same postings, lines,
   allocations, account and lot updates in a handful of statements.

Correctness is checked outside the timed regions (``check_balances`` on a
sample of the posted accounts, the expired lots counted). ratio =
value / baseline: for throughputs the share of the raw speed the API
reaches, for times how many times slower the API is.

Scales: small = 10,000 members and 100,000 lines on both backends;
full = 1,000,000 members and 10,000,000 lines on PostgreSQL (SQLite:
100,000 and 1,000,000). Targets at full scale: batch ≥ 20% of raw,
balance p95 < 2 ms, expiry < 120 s.

The work runs in a subprocess (``python bench_points_ledger.py worker
MEMBERS LINES``) configured for the backend by run.py's environment.
"""
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

BACKENDS = ('sqlite', 'postgresql')
SIZES = {
    ('small', 'sqlite'): (10_000, 100_000),
    ('small', 'postgresql'): (10_000, 100_000),
    ('full', 'sqlite'): (100_000, 1_000_000),
    ('full', 'postgresql'): (1_000_000, 10_000_000),
    }
SINGLE = {'small': 200, 'full': 2_000}
BATCH = {'small': 2_000, 'full': 10_000}
BATCH_CHUNK = 1_000
BALANCES = 2_000
# ledger lines loaded per statement
LOAD_CHUNK = {'sqlite': 100_000, 'postgresql': 1_000_000}
BENCH = Path(__file__).resolve().parent
TODAY = dt.date.today()
EARN_DATE = TODAY - dt.timedelta(days=400)
EXPIRED = TODAY - dt.timedelta(days=30)
VALID = TODAY + dt.timedelta(days=300)


def run(scale, dsn):
    from run import trytond_env
    from suite import VAR, source_hash
    backend = 'sqlite' if dsn.startswith('sqlite') else 'postgresql'
    members, lines = SIZES[(scale, backend)]
    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_points_{members}'
    if backend == 'sqlite':
        # keyed on the sources: a cached database of an older schema
        # would not have the new columns
        env['DB_CACHE'] = str(VAR / 'bench' / 'cache' / source_hash())
    else:
        env['DB_CACHE'] = 'postgresql://'
    result = subprocess.run(
        [sys.executable, __file__, 'worker', str(members), str(lines),
            str(SINGLE[scale]), str(BATCH[scale])],
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise RuntimeError(f"points ledger worker failed ({backend})")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    dataset = f"{members:,} members, {data['lines']:,} lines"
    records = []

    def record(name, value, unit, baseline, extra=''):
        records.append({
                'name': name,
                'dataset': dataset + extra,
                'value': value, 'unit': unit,
                'baseline': baseline,
                'ratio': round(value / baseline, 3) if baseline else None,
                })

    single, batch = data['single'], data['batch']
    record("earn, one posting per transaction",
        round(single['count'] / single['api']), 'postings/s',
        round(single['count'] / single['raw']),
        extra=f", {single['count']:,} postings")
    record("earn_many batch import",
        round(batch['count'] / batch['api']), 'lines/s',
        round(batch['count'] / batch['raw']),
        extra=f", {batch['count']:,} rows in chunks of {BATCH_CHUNK:,}")
    for pct in ['p50', 'p95']:
        api, raw = data['balance'][pct]
        record(f"Ledger.balance {pct}", round(api, 1), 'µs', round(raw, 1),
            extra=f", {BALANCES:,} members")
    expiry = data['expiry']
    record("Ledger.expire", round(expiry['api'], 2), 's',
        round(expiry['raw'], 2), extra=f", {expiry['lots']:,} lots expire")
    record("load (set-based INSERT)", round(data['load'], 1), 's', None)
    return records


# --- worker (runs with trytond configured for the backend) ---------------

def _param():
    from trytond import backend
    return '%s' if backend.name == 'postgresql' else '?'


def _series(size):
    "FROM clause of the integers 1..size"
    from trytond import backend
    if backend.name == 'postgresql':
        return f'generate_series(1, {size}) AS s(i)'
    return (f'(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL '
        f'SELECT i + 1 FROM s WHERE i < {size}) SELECT i FROM s) AS s')


def load_points(programme_id, per_member):
    """Create the point type and, set-based, per member one account and
    per_member earn postings with their lines and open lots (one lot in
    ten past its expiry); return the type id"""
    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    PointType = Pool().get('member.point.type')
    type_, = PointType.create([{
                'programme': programme_id, 'name': "Points", 'code': 'P',
                'expiry_policy': 'months', 'expiry_months': 24,
                }])
    cursor = Transaction().connection.cursor()
    p = _param()
    # a literal % next to %s parameters is written %%
    mod = '%%' if p == '%s' else '%'
    cursor.execute('SELECT MIN(id), MAX(id) FROM party_party '
        f'WHERE programme = {p}', (programme_id,))
    first, last = cursor.fetchone()
    cursor.execute('INSERT INTO member_point_account (member, type, '
        'balance, held, lifetime_earned, create_uid, create_date) '
        f'SELECT id, {p}, 0, 0, 0, 0, CURRENT_TIMESTAMP FROM party_party '
        f'WHERE programme = {p}', (type_.id, programme_id))
    step = max(LOAD_CHUNK[backend.name] // per_member, 1)
    for start in range(first, last + 1, step):
        members = (start, min(start + step - 1, last))
        cursor.execute('SELECT COALESCE(MAX(id), 0) FROM member_point_line')
        last_line, = cursor.fetchone()
        cursor.execute('INSERT INTO member_point_posting (key, fingerprint, '
            'operation, member, date, "user", create_uid, create_date) '
            "SELECT 'bench:' || a.member || ':' || s.i, 'bench', 'earn', "
            f'a.member, {p}, 0, 0, CURRENT_TIMESTAMP '
            f'FROM member_point_account AS a CROSS JOIN {_series(per_member)} '
            f'WHERE a.member BETWEEN {p} AND {p}', (EARN_DATE,) + members)
        # Posting t earns 100 + t % 50 points; its lot expires when t % 10
        # is 0
        cursor.execute('INSERT INTO member_point_line (posting, account, '
            'member, type, kind, quantity, date, available_date, '
            'expiry_date, create_uid, create_date) '
            "SELECT t.id, a.id, a.member, a.type, 'earn', "
            f'100 + t.id {mod} 50, t.date, t.date, '
            f'CASE WHEN t.id {mod} 10 = 0 THEN {p} ELSE {p} END, '
            '0, CURRENT_TIMESTAMP FROM member_point_posting AS t '
            'JOIN member_point_account AS a ON a.member = t.member '
            f'WHERE t.member BETWEEN {p} AND {p} '
            f"AND t.key LIKE 'bench:{mod}' ORDER BY t.id",
            (EXPIRED, VALID) + members)
        cursor.execute('INSERT INTO member_point_lot (account, line, '
            'quantity, remaining, date, available_date, expiry_date, state, '
            'create_uid, create_date) '
            'SELECT account, id, quantity, quantity, date, available_date, '
            "expiry_date, 'open', 0, CURRENT_TIMESTAMP "
            f'FROM member_point_line WHERE id > {p}', (last_line,))
    cursor.execute('UPDATE member_point_account SET balance = t.total, '
        'lifetime_earned = t.total FROM (SELECT account, SUM(quantity) '
        'AS total FROM member_point_line GROUP BY account) AS t '
        'WHERE member_point_account.id = t.account')
    cursor.execute('ANALYZE')
    return type_.id


def percentiles(samples):
    samples = sorted(samples)
    return (statistics.median(samples) * 1e6,
        samples[int(len(samples) * 0.95) - 1] * 1e6)


def till(func):
    """Run func in its own transaction and commit, restarting as the RPC
    dispatcher does when the ledger asks for the member lock"""
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(DB_NAME, 1, **extras) as transaction:
            try:
                result = func()
                transaction.commit()
                return result
            except TransactionError as e:
                transaction.rollback()
                e.fix(extras)


def raw_connection():
    from trytond import backend
    from trytond.tests.test_tryton import DB_NAME
    database = backend.Database(DB_NAME).connect()
    return database, database.get_connection()


def check(account_ids):
    "Raise unless the sampled accounts agree with their lines"
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0, readonly=True):
        Account = Pool().get('member.point.account')
        wrong = Account.check_balances(Account.browse(sorted(account_ids)))
    if wrong:
        raise AssertionError(f"accounts {wrong[:10]} disagree with lines")


def bench_single(count, member_ids, type_id, rng):
    "Earn postings one per transaction: API then raw"
    from trytond import backend
    from trytond.pool import Pool

    picks = [rng.choice(member_ids) for _ in range(count)]

    def earn(n, member_id):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        return Ledger.earn(
            pool.get('party.party')(member_id),
            pool.get('member.point.type')(type_id), Decimal(10 + n % 90),
            f'till:api:{n}', date=TODAY).lines[0].account.id

    start = time.perf_counter()
    accounts = [till(lambda: earn(n, m)) for n, m in enumerate(picks)]
    api = time.perf_counter() - start
    check(accounts)

    p = _param()
    lock = (f'SELECT id FROM party_party WHERE id = {p} FOR UPDATE'
        if backend.name == 'postgresql' else None)
    database, connection = raw_connection()
    cursor = connection.cursor()
    start = time.perf_counter()
    for n, member_id in enumerate(picks):
        quantity = Decimal(10 + n % 90)
        if lock:
            cursor.execute(lock, (member_id,))
        cursor.execute('SELECT id FROM member_point_account '
            f'WHERE member = {p} AND type = {p}', (member_id, type_id))
        account_id, = cursor.fetchone()
        cursor.execute('INSERT INTO member_point_posting (key, fingerprint, '
            'operation, member, date, "user", create_uid, create_date) '
            f"VALUES ({p}, {p}, 'earn', {p}, {p}, 1, 1, CURRENT_TIMESTAMP) "
            'RETURNING id',
            (f'till:raw:{n}', 'raw', member_id, TODAY))
        posting_id, = cursor.fetchone()
        cursor.execute('INSERT INTO member_point_line (posting, account, '
            'member, type, kind, quantity, date, available_date, '
            'expiry_date, create_uid, create_date) '
            f"VALUES ({p}, {p}, {p}, {p}, 'earn', {p}, {p}, {p}, {p}, 1, "
            'CURRENT_TIMESTAMP) RETURNING id',
            (posting_id, account_id, member_id, type_id, quantity, TODAY,
                TODAY, VALID))
        line_id, = cursor.fetchone()
        cursor.execute('INSERT INTO member_point_lot (account, line, '
            'quantity, remaining, date, available_date, expiry_date, state, '
            'create_uid, create_date) '
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, 'open', 1, "
            'CURRENT_TIMESTAMP)',
            (account_id, line_id, quantity, quantity, TODAY, TODAY, VALID))
        cursor.execute('UPDATE member_point_account '
            f'SET balance = balance + {p}, '
            f'lifetime_earned = lifetime_earned + {p} WHERE id = {p}',
            (quantity, quantity, account_id))
        connection.commit()
    raw = time.perf_counter() - start
    database.put_connection(connection)
    return {'count': count, 'api': api, 'raw': raw}


def bench_batch(count, member_ids, type_id, rng):
    """Import count earn rows: earn_many in chunks (a commit each), then
    the same rows raw with ids from the sequences, one commit"""
    from trytond import backend
    from trytond.pool import Pool

    picks = [rng.choice(member_ids) for _ in range(count)]
    quantities = [Decimal(10 + n % 90) for n in range(count)]

    def earn_many(rows):
        Ledger = Pool().get('member.point.ledger')
        return [p.member.id for p in Ledger.earn_many([{
                        'member': m, 'type': type_id, 'quantity': q,
                        'key': f'import:api:{n}', 'date': TODAY,
                        } for n, m, q in rows])]

    rows = list(zip(range(count), picks, quantities))
    start = time.perf_counter()
    for index in range(0, count, BATCH_CHUNK):
        till(lambda: earn_many(rows[index:index + BATCH_CHUNK]))
    api = time.perf_counter() - start

    p = _param()
    database, connection = raw_connection()
    cursor = connection.cursor()
    postgresql = backend.name == 'postgresql'
    start = time.perf_counter()
    accounts = {}
    for index in range(0, count, 5_000):
        members = sorted(set(picks[index:index + 5_000]))
        cursor.execute('SELECT member, id FROM member_point_account '
            f'WHERE type = {p} AND member IN '
            f"({', '.join([p] * len(members))})", [type_id] + members)
        accounts.update(cursor.fetchall())
    posting_ids = next_ids(cursor, 'member_point_posting', count)
    line_ids = next_ids(cursor, 'member_point_line', count)
    postings, lines, lots, totals = [], [], [], {}
    for n, member_id, quantity in rows:
        account_id = accounts[member_id]
        postings.append((posting_ids[n], f'import:raw:{n}', 'raw', 'earn',
                member_id, TODAY, 1, 1))
        lines.append((line_ids[n], posting_ids[n], account_id, member_id,
                type_id, 'earn', quantity, TODAY, TODAY, VALID, 1))
        lots.append((account_id, line_ids[n], quantity, quantity, TODAY,
                TODAY, VALID, 'open', 1))
        totals[account_id] = totals.get(account_id, 0) + quantity
    for table, columns, values in [
            ('member_point_posting', 'id, key, fingerprint, operation, '
                'member, date, "user", create_uid', postings),
            ('member_point_line', 'id, posting, account, member, type, '
                'kind, quantity, date, available_date, expiry_date, '
                'create_uid', lines),
            ('member_point_lot', 'account, line, quantity, remaining, date, '
                'available_date, expiry_date, state, create_uid', lots),
            ]:
        if postgresql:
            with cursor.copy(
                    f'COPY {table} ({columns}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
        else:
            cursor.executemany(f'INSERT INTO {table} ({columns}) VALUES '
                f"({', '.join([p] * len(values[0]))})", values)
    if postgresql:
        cursor.execute('UPDATE member_point_account AS a '
            'SET balance = a.balance + t.q, '
            'lifetime_earned = a.lifetime_earned + t.q '
            'FROM unnest(%s::int[], %s::numeric[]) AS t(id, q) '
            'WHERE a.id = t.id', (list(totals), list(totals.values())))
    else:
        cursor.executemany('UPDATE member_point_account '
            'SET balance = balance + ?, lifetime_earned = lifetime_earned + ? '
            'WHERE id = ?', [(q, q, a) for a, q in totals.items()])
    connection.commit()
    raw = time.perf_counter() - start
    database.put_connection(connection)
    check({accounts[m] for m in picks[:200]})
    return {'count': count, 'api': api, 'raw': raw}


def next_ids(cursor, table, count):
    "Reserve count ids of table as a bulk loader does"
    from trytond import backend
    if backend.name == 'postgresql':
        cursor.execute(f"SELECT nextval('{table}_id_seq') "
            f'FROM generate_series(1, {count})')
        return [i for i, in cursor]
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM {table}')
    last, = cursor.fetchone()
    return list(range(last + 1, last + 1 + count))


def bench_balance(member_ids, type_id, rng):
    "Balance of random members: API then the raw indexed SELECT"
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction

    picks = [rng.choice(member_ids) for _ in range(BALANCES)]
    p = _param()
    with Transaction().start(DB_NAME, 1, readonly=True) as transaction:
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        type_ = pool.get('member.point.type')(type_id)
        cursor = transaction.connection.cursor()

        def api(member_id):
            return Ledger.balance(Party(member_id), type_)['balance']

        def raw(member_id):
            cursor.execute('SELECT a.balance, a.held, (SELECT SUM(remaining) '
                'FROM member_point_lot AS l WHERE l.account = a.id '
                f"AND l.state = 'open' AND l.available_date > {p}) "
                'FROM member_point_account AS a '
                f'WHERE a.member = {p} AND a.type = {p}',
                (TODAY, member_id, type_id))
            return Decimal(str(cursor.fetchone()[0]))

        for member_id in picks[:20]:
            assert api(member_id) == raw(member_id), member_id
        result = {}
        for name, func in [('raw', raw), ('api', api)]:
            samples = []
            for member_id in picks:
                start = time.perf_counter()
                func(member_id)
                samples.append(time.perf_counter() - start)
            result[name] = percentiles(samples)
    return {pct: (result['api'][i], result['raw'][i])
        for i, pct in enumerate(['p50', 'p95'])}


def bench_expiry(type_id):
    """Expire the lots past their expiry: API, rolled back, then raw
    statements doing the same, rolled back"""
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME
    from trytond.transaction import Transaction

    p = _param()
    with Transaction().start(DB_NAME, 0, context={
                '_check_access': False}) as transaction:
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT COUNT(*) FROM member_point_lot '
            f"WHERE state = 'open' AND expiry_date < {p}", (TODAY,))
        due, = cursor.fetchone()
        start = time.perf_counter()
        lots = Ledger.expire(TODAY)
        api = time.perf_counter() - start
        assert lots == due, (lots, due)
        cursor.execute('SELECT account FROM member_point_lot '
            "WHERE state = 'expired' ORDER BY id LIMIT 200")
        sample = Account.browse([a for a, in cursor])
        assert not Account.check_balances(sample)
        assert Lot.search([('state', '=', 'expired')], count=True) == due
        transaction.rollback()

        start = time.perf_counter()
        for sql, args in [
                ('CREATE TEMPORARY TABLE bench_expiring AS '
                    'SELECT l.id AS lot, l.account, a.member, a.type, '
                    'l.remaining FROM member_point_lot AS l '
                    'JOIN member_point_account AS a ON a.id = l.account '
                    "WHERE l.state = 'open' "
                    'AND CAST(l.remaining AS NUMERIC) > 0 '
                    f'AND l.expiry_date < {p}', (TODAY,)),
                ('INSERT INTO member_point_posting (key, fingerprint, '
                    'operation, member, date, "user", create_uid, '
                    "create_date) SELECT 'expire:' || lot, 'expire', "
                    f"'expire', member, {p}, 0, 0, CURRENT_TIMESTAMP "
                    'FROM bench_expiring', (TODAY,)),
                ('INSERT INTO member_point_line (posting, account, member, '
                    'type, kind, quantity, date, create_uid, create_date) '
                    "SELECT t.id, e.account, e.member, e.type, 'expire', "
                    f'-e.remaining, {p}, 0, CURRENT_TIMESTAMP '
                    'FROM bench_expiring AS e JOIN member_point_posting AS t '
                    "ON t.key = 'expire:' || e.lot", (TODAY,)),
                ('INSERT INTO member_point_lot_allocation (lot, line, '
                    'quantity, create_uid, create_date) '
                    'SELECT e.lot, li.id, e.remaining, 0, CURRENT_TIMESTAMP '
                    'FROM bench_expiring AS e JOIN member_point_posting AS t '
                    "ON t.key = 'expire:' || e.lot "
                    'JOIN member_point_line AS li ON li.posting = t.id', ()),
                ('UPDATE member_point_account '
                    'SET balance = balance - t.q FROM (SELECT account, '
                    'SUM(remaining) AS q FROM bench_expiring '
                    'GROUP BY account) AS t '
                    'WHERE member_point_account.id = t.account', ()),
                ("UPDATE member_point_lot SET remaining = 0, "
                    "state = 'expired' "
                    'WHERE id IN (SELECT lot FROM bench_expiring)', ()),
                ]:
            cursor.execute(sql, args)
        raw = time.perf_counter() - start
        cursor.execute('SELECT COUNT(*) FROM member_point_lot '
            "WHERE state = 'expired'")
        assert cursor.fetchone()[0] == due
        transaction.rollback()
    return {'lots': due, 'api': api, 'raw': raw}


def worker(members, lines, single, batch):
    sys.path.insert(0, str(BENCH))
    from bench_member_lookup import populate

    from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
    from trytond.transaction import Transaction

    # Leftovers of an interrupted run would add to the data set
    drop_db(DB_NAME)
    activate_module('member_points')
    start = time.perf_counter()
    with Transaction().start(DB_NAME, 0, context={
                '_check_access': False}) as transaction:
        programme_id = populate(members)
        type_id = load_points(programme_id, lines // members)
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT id FROM party_party WHERE programme = '
            f'{_param()} ORDER BY id', (programme_id,))
        member_ids = [i for i, in cursor]
        cursor.execute('SELECT COUNT(*) FROM member_point_line')
        loaded, = cursor.fetchone()
        cursor.execute('SELECT id FROM member_point_account')
        account_ids = [i for i, in cursor]
        transaction.commit()
    load = time.perf_counter() - start
    check(random.Random(1).sample(account_ids, 100))
    rng = random.Random(42)
    result = {
        'lines': loaded,
        'load': load,
        'single': bench_single(single, member_ids, type_id, rng),
        'batch': bench_batch(batch, member_ids, type_id, rng),
        'balance': bench_balance(member_ids, type_id, rng),
        'expiry': bench_expiry(type_id),
        }
    drop_db(DB_NAME)
    print(json.dumps(result))


if __name__ == '__main__':
    if sys.argv[1:2] == ['worker']:
        worker(*map(int, sys.argv[2:6]))

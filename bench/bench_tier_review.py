"""Benchmark of the periodic tier review (member_core).

Generates members with tiers and three metric lines each (spend, stays,
points) by set-based SQL, then times ``Tier.review()`` next to a raw-SQL
baseline doing the bare aggregate + update of the qualified tier in one
statement, both on the same data (each run is rolled back). Then it times
what the sender cron does next with the shipped notifications: queue the
tier change messages (SMS and email) of every change.

Scales: small = 20,000 members; full = 1,000,000 on PostgreSQL and
200,000 on SQLite. Target: < 60 s at 1M on PostgreSQL.

The work runs in a subprocess (``python bench_tier_review.py worker N``)
so that trytond reads the database URI of the backend from the
environment.
"""
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ('sqlite', 'postgresql')
SIZES = {
    ('small', 'sqlite'): 20_000,
    ('small', 'postgresql'): 20_000,
    ('full', 'sqlite'): 200_000,
    ('full', 'postgresql'): 1_000_000,
    }
REVIEW_DATE = dt.date(2030, 1, 1)
BENCH = Path(__file__).resolve().parent


def run(scale, dsn):
    from run import trytond_env
    backend = 'sqlite' if dsn.startswith('sqlite') else 'postgresql'
    size = SIZES[(scale, backend)]
    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_tier_{size}'
    if backend == 'sqlite':
        cache = BENCH.parent / 'var' / 'bench' / 'cache'
        env['DB_CACHE'] = str(cache)
    else:
        env['DB_CACHE'] = 'postgresql://'
    result = subprocess.run(
        [sys.executable, __file__, 'worker', str(size)],
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
        raise RuntimeError(f"tier review worker failed ({backend})")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    dataset = (f"{size:,} members, {data['lines']:,} metric lines, "
        f"{data['changed']:,} changed")
    queued = (f"{data['changed']:,} changes, {data['messages']:,} messages "
        f"({data['pending']:,} pending)")
    return [{
            'name': "tier review",
            'dataset': dataset,
            'value': round(data['review'], 3),
            'unit': 's',
            'baseline': round(data['baseline'], 3),
            'ratio': round(data['review'] / data['baseline'], 2),
            }, {
            'name': "tier review throughput",
            'dataset': dataset,
            'value': round(size / data['review']),
            'unit': 'members/s',
            'baseline': round(size / data['baseline']),
            'ratio': round(data['baseline'] / data['review'], 2),
            }, {
            'name': "tier change messages queued (sender cron)",
            'dataset': queued,
            'value': round(data['queueing'], 3),
            'unit': 's',
            'baseline': None,
            'ratio': None,
            }]


# --- worker (runs with trytond configured for the backend) ---------------

def _series(backend, size):
    "FROM clause of the integers 1..size"
    if backend == 'postgresql':
        return f'generate_series(1, {size}) AS s(n)'
    return (f'(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL '
        f'SELECT n + 1 FROM s WHERE n < {size}) SELECT n FROM s) AS s')


def _setup(size):
    "Create the programme, its tiers, the members and their metrics"
    from trytond import backend
    from trytond.modules.company.tests import create_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    Tier = pool.get('member.tier')
    cursor = Transaction().connection.cursor()
    company = create_company()
    programme, = Programme.create([{
                'name': "Bench", 'code': 'BENCH', 'company': company.id,
                'member_sequence': Sequence.create([{
                            'name': "Bench",
                            'sequence_type': ModelData.get_id(
                                'member_core', 'sequence_type_member'),
                            }])[0].id,
                }])
    prop, = Property.create([{
                'programme': programme.id, 'code': 'B', 'name': "Hotel"}])
    tiers = Tier.create([
            {'programme': programme.id, 'name': "Classic", 'level': 0},
            {'programme': programme.id, 'name': "Silver", 'level': 10,
                'min_spend': 3000, 'min_stays': 5, 'grace_days': 30},
            {'programme': programme.id, 'name': "Gold", 'level': 20,
                'min_spend': 10000, 'min_stays': 15, 'grace_days': 30},
            {'programme': programme.id, 'name': "Diamond", 'level': 30,
                'qualification': 'all', 'min_spend': 50000,
                'min_stays': 40, 'grace_days': 30},
            ])
    ids = [t.id for t in tiers]
    series = _series(backend.name, size)
    true = 'TRUE' if backend.name == 'postgresql' else '1'
    false = 'FALSE' if backend.name == 'postgresql' else '0'
    cast = '::date' if backend.name == 'postgresql' else ''
    below = (REVIEW_DATE - dt.timedelta(days=40)).isoformat()
    # A third consents to SMS, a half to email: the review queues their
    # tier change messages
    cursor.execute(
        'INSERT INTO party_party (name, code, active, programme, '
        'home_property, member_state, member_number, tier, tier_since, '
        'tier_below_since, tier_override, member_phone, member_email, '
        'consent_sms, consent_email, create_uid, create_date) '
        f"SELECT 'Member ' || n, 'B' || n, {true}, {programme.id}, "
        f"{prop.id}, 'member', 'B' || n, "
        f'CASE n % 4 WHEN 0 THEN {ids[0]} WHEN 1 THEN {ids[1]} '
        f'WHEN 2 THEN {ids[2]} ELSE {ids[3]} END, '
        f"'2029-01-01'{cast}, "
        f"CASE WHEN n % 10 = 0 THEN '{below}'{cast} END, {false}, "
        f"'+86138' || (10000000 + n), 'm' || n || '@example.com', "
        f'CASE WHEN n % 3 = 0 THEN {true} ELSE {false} END, '
        f'CASE WHEN n % 2 = 0 THEN {true} ELSE {false} END, '
        f'0, CURRENT_TIMESTAMP FROM {series}')
    # Spend, stays and points per member; a tenth of them out of window
    for kind, expr in [
            ('spend', '((n % 60000) * 7919) % 60000'),
            ('stays', '((n % 50) * 29) % 50'),
            ('points', '((n % 5000) * 31) % 5000')]:
        cursor.execute(
            'INSERT INTO member_tier_metric (member, kind, quantity, date, '
            'create_uid, create_date) '
            f"SELECT p.id, '{kind}', {expr} + 1, "
            f"CASE WHEN n % 10 = 3 THEN '2028-06-01'{cast} "
            f"ELSE '2029-09-01'{cast} END, 0, CURRENT_TIMESTAMP "
            f"FROM {series} JOIN party_party p ON p.code = 'B' || n")
    if backend.name == 'postgresql':
        cursor.execute('ANALYZE')
    cursor.execute('SELECT COUNT(*) FROM member_tier_metric')
    lines, = cursor.fetchone()
    return programme, tiers, lines


def _baseline(programme, tiers):
    "Aggregate the window and set the qualified tier in one statement"
    from trytond import backend
    from trytond.transaction import Transaction
    cursor = Transaction().connection.cursor()
    param = '%s' if backend.name == 'postgresql' else '?'
    start = REVIEW_DATE - dt.timedelta(days=programme.tier_window_days)
    classic, silver, gold, diamond = tiers
    cursor.execute(
        f'UPDATE party_party SET tier = q.tier, tier_since = {param} '
        'FROM (SELECT t.member, CASE '
        f'WHEN t.spend >= 50000 AND t.stays >= 40 THEN {diamond.id} '
        f'WHEN t.spend >= 10000 OR t.stays >= 15 THEN {gold.id} '
        f'WHEN t.spend >= 3000 OR t.stays >= 5 THEN {silver.id} '
        f'ELSE {classic.id} END AS tier '
        'FROM (SELECT member, '
        "SUM(CASE WHEN kind = 'spend' THEN quantity ELSE 0 END) AS spend, "
        "SUM(CASE WHEN kind = 'stays' THEN quantity ELSE 0 END) AS stays "
        f'FROM member_tier_metric WHERE date > {param} AND date <= {param} '
        'GROUP BY member) AS t) AS q '
        'WHERE party_party.id = q.member '
        'AND party_party.tier != q.tier',
        (REVIEW_DATE, start, REVIEW_DATE))
    return cursor.rowcount


def worker(size):
    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
    from trytond.transaction import Transaction

    # Leftovers of an interrupted run would add to the data set
    drop_db(DB_NAME)
    activate_module('member_core')
    with Transaction().start(DB_NAME, 0, context={
                '_check_access': False}) as transaction:
        programme, tiers, lines = _setup(size)
        transaction.commit()

        Tier = Pool().get('member.tier')
        History = Pool().get('member.tier.history')
        start = time.perf_counter()
        if os.environ.get('BENCH_PROFILE'):
            import cProfile
            cProfile.runctx(
                'Tier.review(date=REVIEW_DATE)', globals(), locals(),
                os.environ['BENCH_PROFILE'])
        else:
            Tier.review(date=REVIEW_DATE)
        review = time.perf_counter() - start
        changed = History.search([], count=True)
        Message = Pool().get('member.message')
        start = time.perf_counter()
        Message.queue_tier_changes(lambda history: history.id > 0)
        queueing = time.perf_counter() - start
        pending = Message.search([('state', '=', 'pending')], count=True)
        messages = Message.search([], count=True)
        transaction.rollback()

        start = time.perf_counter()
        _baseline(programme, tiers)
        baseline = time.perf_counter() - start
        transaction.rollback()
    drop_db(DB_NAME)
    print(json.dumps({
                'lines': lines, 'review': review, 'baseline': baseline,
                'queueing': queueing,
                'changed': changed, 'messages': messages,
                'pending': pending}))


if __name__ == '__main__':
    if sys.argv[1:2] == ['worker']:
        worker(int(sys.argv[2]))

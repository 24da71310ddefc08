"""Member and card lookup: the POS API next to raw indexed SQL.

Builds a database of N members each with one card (set-based INSERTs, not
the ORM), then times 2,000 random lookups of ``Card.identify(number)`` and
``Party.lookup_member(phone=...)`` in one Tryton transaction next to the
raw ``SELECT ... WHERE number = ?`` / ``WHERE member_phone = ?`` doing the
same on the same connection. ratio = api / raw (p50).

The work runs in a subprocess so that trytond is configured for the
backend given by run.py.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ('sqlite', 'postgresql')
SIZES = {
    ('small', 'sqlite'): 5_000,
    ('small', 'postgresql'): 5_000,
    ('full', 'sqlite'): 100_000,
    ('full', 'postgresql'): 1_000_000,
    }
LOOKUPS = 2_000
PREFIX = '6001'
BODY_DIGITS = 10
CHUNK = 50_000


def run(scale, dsn):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import trytond_env
    from suite import VAR, source_hash

    backend = 'sqlite' if dsn.startswith('sqlite') else 'postgresql'
    size = SIZES[(scale, backend)]
    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_member_lookup_{scale}'
    if backend == 'sqlite':
        # the activated database cached by scripts/run_tests.py, keyed on
        # the sources so that a schema change never reuses a stale one
        env.setdefault('DB_CACHE', str(VAR / 'dbcache' / source_hash()))
    else:
        env.pop('DB_CACHE', None)
    result = subprocess.run(
        [sys.executable, __file__, str(size)], env=env, check=True,
        stdout=subprocess.PIPE, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def luhn_sql(n):
    """SQL expression of the Luhn check digit of PREFIX + n on BODY_DIGITS
    digits, with integer arithmetic only (same on SQLite and PostgreSQL)"""
    def weight(digit, position):
        # position 0 is the rightmost digit of the body: it is doubled
        return (f'(2 * {digit} - 9 * ({digit} / 5))'
            if position % 2 == 0 else digit)
    constant = 0
    for position, char in enumerate(reversed(PREFIX), BODY_DIGITS):
        digit = int(char)
        constant += (2 * digit - 9 * (digit // 5)
            if position % 2 == 0 else digit)
    terms = [str(constant)]
    for position in range(BODY_DIGITS):
        digit = f'(({n} / {10 ** position}) % 10)'
        terms.append(weight(digit, position))
    return f"((10 - (({' + '.join(terms)}) % 10)) % 10)"


def populate(size):
    "Create the programme with ORM, members and cards with INSERT SELECT"
    import datetime as dt

    from trytond import backend
    from trytond.modules.company.tests import create_company
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    Product = pool.get('member.card.product')
    company = create_company()
    programme, = Programme.create([{
                'name': "Bench Club", 'code': 'BENCH', 'company': company.id,
                'member_sequence': Sequence.create([{
                            'name': "Members",
                            'sequence_type': ModelData.get_id(
                                'member_core', 'sequence_type_member'),
                            }])[0].id,
                }])
    property_, = Property.create([{
                'programme': programme.id, 'code': 'SH', 'name': "Shanghai",
                }])
    product, = Product.create([{
                'programme': programme.id, 'name': "Club Card",
                'code': 'CLUB', 'kind': 'points', 'number_prefix': PREFIX,
                'number_sequence': Sequence.create([{
                            'name': "Cards",
                            'sequence_type': ModelData.get_id(
                                'member_core', 'sequence_type_member_card'),
                            }])[0].id,
                }])

    today, now = dt.date.today(), dt.datetime.now()
    cursor = Transaction().connection.cursor()

    def execute(sql, params):
        if backend.name == 'sqlite':
            sql = sql.replace('PARAM', '?')
        else:
            sql = sql.replace('%', '%%').replace('PARAM', '%s')
        cursor.execute(sql, params)

    if backend.name == 'sqlite':
        def pad(expr, width):
            return f"printf('%0{width}d', {expr})"
        series = ('WITH RECURSIVE s(n) AS (SELECT {start} UNION ALL '
            'SELECT n + 1 FROM s WHERE n < {stop}) ')
        source = 's'
        token = "lower(hex(randomblob(16)))"
    else:
        def pad(expr, width):
            return f"lpad(CAST({expr} AS TEXT), {width}, '0')"
        series = ''
        source = 'generate_series({start}, {stop}) AS s(n)'
        token = "md5(random()::text || s.n::text)"
    for start in range(1, size + 1, CHUNK):
        bounds = {'start': start, 'stop': min(start + CHUNK - 1, size)}
        # Member n has the code BENCHn and the CN mobile +86139 n (E.164 as
        # the ORM stores it)
        execute(series.format(**bounds)
            + 'INSERT INTO party_party (name, code, active, programme, '
            'member_number, member_state, member_phone, home_property, '
            'join_date, create_uid, create_date) '
            "SELECT 'Member ' || s.n, 'BENCH' || s.n, PARAM, PARAM, "
            f"'M' || {pad('s.n', 8)}, 'member', "
            f"'+86139' || {pad('s.n', 8)}, PARAM, PARAM, 0, PARAM "
            f"FROM {source.format(**bounds)}",
            (True, programme.id, property_.id, today, now))
    # Card of member n: PREFIX, n on BODY_DIGITS digits, Luhn check digit
    number = f"'{PREFIX}' || {pad('s.n', BODY_DIGITS)}"
    execute('INSERT INTO member_card (member, product, programme, number, '
        'qr_payload, medium, state, issue_date, activation_date, '
        'home_property, create_uid, create_date) '
        f"SELECT s.id, PARAM, PARAM, "
        f"{number} || CAST({luhn_sql('s.n')} AS TEXT), "
        f"{token}, 'virtual_qr', 'active', PARAM, PARAM, PARAM, 0, PARAM "
        'FROM (SELECT id, CAST(substr(code, 6) AS INTEGER) AS n '
        "FROM party_party WHERE programme = PARAM AND code LIKE 'BENCH%') "
        'AS s',
        (product.id, programme.id, today, today, property_.id, now,
            programme.id))
    if backend.name == 'postgresql':
        cursor.execute('ANALYZE party_party')
        cursor.execute('ANALYZE member_card')
    else:
        cursor.execute('ANALYZE')
    return programme.id


def percentiles(samples):
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    return p50 * 1e6, p95 * 1e6


def timed(func, args):
    samples = []
    for arg in args:
        start = time.perf_counter()
        func(arg)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def measure(size, programme_id):
    from stdnum import luhn

    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool()
    Card = pool.get('member.card')
    Party = pool.get('party.party')
    cursor = Transaction().connection.cursor()
    param = '?' if backend.name == 'sqlite' else '%s'
    rng = random.Random(42)
    picks = [rng.randint(1, size) for _ in range(LOOKUPS)]
    numbers = []
    for n in picks:
        body = f'{PREFIX}{n:0{BODY_DIGITS}d}'
        numbers.append(body + luhn.calc_check_digit(body))
    # phones as typed at the desk: national form with spaces
    phones = [f'139 {n // 10000:04d} {n % 10000:04d}' for n in picks]
    phones_e164 = [f'+86139{n:08d}' for n in picks]

    def raw_card(number):
        cursor.execute('SELECT c.id, c.state, c.expiry_date, p.member_state '
            'FROM member_card AS c JOIN party_party AS p ON c.member = p.id '
            f'WHERE c.number = {param}', (number,))
        assert cursor.fetchone()

    def api_card(number):
        Card.identify(number, programme=programme_id)

    def raw_phone(phone):
        cursor.execute('SELECT id, member_state FROM party_party '
            f'WHERE member_phone = {param} AND programme = {param}',
            (phone, programme_id))
        assert cursor.fetchone()

    def api_phone(phone):
        Party.lookup_member(phone=phone, programme=programme_id)

    # warm caches and check the answers before timing
    for number, n in zip(numbers[:20], picks):
        card = Card.identify(number, programme=programme_id)
        assert card.member.name == f'Member {n}', (card.member.name, n)
    for phone, n in zip(phones[:20], picks):
        member = Party.lookup_member(phone=phone, programme=programme_id)
        assert member.name == f'Member {n}'
    results = {}
    for name, func, args in [
            ('raw_card', raw_card, numbers),
            ('api_card', api_card, numbers),
            ('raw_phone', raw_phone, phones_e164),
            ('api_phone', api_phone, phones),
            ]:
        results[name] = timed(func, args)
    dataset = f'{size:,} members+cards, {LOOKUPS:,} lookups'
    records = []
    for label, api, raw in [
            ("Card.identify(number)", 'api_card', 'raw_card'),
            ("Party.lookup_member(phone)", 'api_phone', 'raw_phone'),
            ]:
        for index, pct in enumerate(['p50', 'p95']):
            value = results[api][index]
            baseline = results[raw][index]
            records.append({
                    'name': f'{label} {pct}',
                    'dataset': dataset,
                    'value': round(value, 1),
                    'unit': 'µs',
                    'baseline': round(baseline, 1),
                    'ratio': round(value / baseline, 2),
                    })
    return records


def worker(size):
    from run import drop_database

    from trytond.tests import test_tryton
    from trytond.transaction import Transaction

    name = os.environ['DB_NAME']
    drop_database(name)
    test_tryton.activate_module('member_core')
    start = time.perf_counter()
    with Transaction().start(name, 0) as transaction:
        programme_id = populate(size)
        transaction.commit()
    populate_time = time.perf_counter() - start
    with Transaction().start(name, 1, readonly=True):
        records = measure(size, programme_id)
    records.append({
            'name': "populate (set-based INSERT)",
            'dataset': f'{size:,} members+cards',
            'value': round(populate_time, 2), 'unit': 's',
            'baseline': None, 'ratio': None,
            })
    print(json.dumps(records))


if __name__ == '__main__':
    worker(int(sys.argv[1]))

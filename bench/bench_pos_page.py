"""The cashier page API over real HTTP.

Builds a SQLite database with the member_pos test fixture (a sale point
of the Shanghai property with cash, points and stored-value methods, a
points rule) plus N members each with a club card (set-based INSERTs),
a printer assigned to the sale point and a cashier with a validated
application key; serves trytond's WSGI application on loopback with
werkzeug's threaded server (as trytond does) and times, from a keep-alive
HTTP client:

- ``POST /member_pos/identify`` with a random member's card number
  (p50, p95) next to the raw indexed card lookup in SQL;
- ``POST /member_pos/sales`` of the same two-line sale paid in cash, with
  a member (tier, rules, points earned, metrics) and without, alternated;
  both post the sale and queue its receipt job on the printer. ratio =
  with member / without (p50).

The work runs in a subprocess so that trytond is configured for the
backend given by run.py.
"""
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BACKENDS = ('sqlite',)
SIZES = {'small': 5_000, 'full': 50_000}
IDENTIFICATIONS = {'small': 200, 'full': 2_000}
SALES = {'small': 10, 'full': 100}


def run(scale, dsn):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import trytond_env
    from suite import VAR, source_hash

    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_pos_page_{scale}'
    # the activated database cached by scripts/run_tests.py, keyed on the
    # sources so that a schema change never reuses a stale one
    env.setdefault('DB_CACHE', str(VAR / 'dbcache' / source_hash()))
    result = subprocess.run(
        [sys.executable, __file__, scale], env=env, check=True,
        stdout=subprocess.PIPE, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def populate(size):
    """Create the POS fixture, members with cards, a printer and the
    cashier; return what the measure needs"""
    import datetime as dt

    from bench_member_lookup import BODY_DIGITS, PREFIX, luhn_sql

    from trytond.modules.company.tests import create_company, set_company
    from trytond.modules.member_pos.tests.tools import create_member_pos
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool()
    Application = pool.get('res.user.application')
    Assignment = pool.get('iot.device.assignment')
    Box = pool.get('iot.box')
    CardProduct = pool.get('member.card.product')
    Device = pool.get('iot.device')
    ModelData = pool.get('ir.model.data')
    Sequence = pool.get('ir.sequence')
    User = pool.get('res.user')

    company = create_company()
    with set_company(company):
        ns = create_member_pos(company)
        product, = CardProduct.create([{
                    'programme': ns.programme.id, 'name': "Club Card",
                    'code': 'CLUB', 'kind': 'points',
                    'number_prefix': PREFIX,
                    'number_sequence': Sequence.create([{
                                'name': "Cards",
                                'sequence_type': ModelData.get_id(
                                    'member_core',
                                    'sequence_type_member_card'),
                                }])[0].id,
                    }])
        box, = Box.create([{
                    'name': "Bench Box", 'property': ns.shanghai.id,
                    }])
        printer, = Device.create([{
                    'box': box.id, 'name': 'printer1', 'kind': 'printer',
                    'connection': 'file', 'path': '/dev/null',
                    'paper_width': '80',
                    }])
        Assignment.create([{
                    'device': printer.id, 'target': str(ns.pos),
                    }])
        groups = [ModelData.get_id(m, g) for m, g in [
                ('sale_point', 'group_sale_point'),
                ('sale_point', 'group_sale_point_posting'),
                ('member_core', 'group_property_staff'),
                ]]
        user, = User.create([{
                    'login': 'cashier', 'name': "Cashier",
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'groups': [('add', groups)],
                    'member_properties': [('add', [ns.shanghai.id])],
                    }])
        application, = Application.create([{
                    'user': user.id, 'application': 'member_pos',
                    'state': 'validated',
                    }])

    today, now = dt.date.today(), dt.datetime.now()
    cursor = Transaction().connection.cursor()
    series = ('WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL '
        'SELECT n + 1 FROM s WHERE n < ?) ')
    cursor.execute(series
        + 'INSERT INTO party_party (name, code, active, programme, '
        'member_number, member_state, member_phone, home_property, '
        'join_date, create_uid, create_date) '
        "SELECT 'Member ' || s.n, 'BENCH' || s.n, 1, ?, "
        "'M' || printf('%08d', s.n), 'member', "
        "'+86139' || printf('%08d', s.n), ?, ?, 0, ? FROM s",
        (size, ns.programme.id, ns.shanghai.id, today, now))
    number = f"'{PREFIX}' || printf('%0{BODY_DIGITS}d', s.n)"
    cursor.execute('INSERT INTO member_card (member, product, programme, '
        'number, qr_payload, medium, state, issue_date, activation_date, '
        'home_property, create_uid, create_date) '
        f"SELECT s.id, ?, ?, {number} || CAST({luhn_sql('s.n')} AS TEXT), "
        "lower(hex(randomblob(16))), 'virtual_qr', 'active', ?, ?, ?, 0, ? "
        'FROM (SELECT id, CAST(substr(code, 6) AS INTEGER) AS n '
        "FROM party_party WHERE programme = ? AND code LIKE 'BENCH%') AS s",
        (product.id, ns.programme.id, today, today, ns.shanghai.id, now,
            ns.programme.id))
    cursor.execute('ANALYZE')
    return {
        'key': application.key, 'point': ns.pos.id,
        'product': ns.service.id, 'cash': ns.cash.id,
        }


class Client:
    "A keep-alive JSON client of the cashier API"

    def __init__(self, port, database, key):
        self.connection = http.client.HTTPConnection('127.0.0.1', port)
        self.prefix = f'/{database}/member_pos/'
        self.headers = {
            'Authorization': f'Bearer {key}',
            'Content-Type': 'application/json',
            }

    def post(self, path, body):
        self.connection.request(
            'POST', self.prefix + path, body=json.dumps(body),
            headers=self.headers)
        response = self.connection.getresponse()
        data = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {data}")
        return data


def percentiles(samples):
    samples = sorted(samples)
    return (statistics.median(samples) * 1e3,
        samples[int(len(samples) * 0.95) - 1] * 1e3)


def card_number(n):
    from bench_member_lookup import BODY_DIGITS, PREFIX
    from stdnum import luhn
    body = f'{PREFIX}{n:0{BODY_DIGITS}d}'
    return body + luhn.calc_check_digit(body)


def measure(scale, size, setup, port):
    from trytond.transaction import Transaction

    name = os.environ['DB_NAME']
    client = Client(port, name, setup['key'])
    rng = random.Random(42)
    count = IDENTIFICATIONS[scale]
    numbers = [card_number(rng.randint(1, size)) for _ in range(count)]
    # warm the caches and check the answers
    for number in numbers[:10]:
        member = client.post(
            'identify', {'point': setup['point'], 'code': number})
        assert member['card']['state'] == 'active', member
    api = []
    for number in numbers:
        start = time.perf_counter()
        client.post('identify', {'point': setup['point'], 'code': number})
        api.append(time.perf_counter() - start)
    raw = []
    with Transaction().start(name, 0, readonly=True) as transaction:
        cursor = transaction.connection.cursor()
        for number in numbers:
            start = time.perf_counter()
            cursor.execute('SELECT c.id, c.state, c.expiry_date, '
                'p.member_state FROM member_card AS c '
                'JOIN party_party AS p ON c.member = p.id '
                'WHERE c.number = ?', (number,))
            assert cursor.fetchone()
            raw.append(time.perf_counter() - start)

    def sale(index, member):
        body = {
            'client_key': f'bench-{member}-{index}',
            'point': setup['point'],
            'lines': [{'product': setup['product'], 'quantity': '2'}],
            'payments': [{'method': setup['cash'], 'amount': '100.00'}],
            }
        if member:
            body['code'] = card_number(rng.randint(1, size))
        start = time.perf_counter()
        result = client.post('sales', body)
        elapsed = time.perf_counter() - start
        assert result['state'] == 'posted', result
        assert bool(result['points_earned']) == member, result
        return elapsed

    sale(-1, True)
    sale(-1, False)
    with_member, without = [], []
    for index in range(SALES[scale]):
        with_member.append(sale(index, True))
        without.append(sale(index, False))

    identify = percentiles(api)
    lookup = percentiles(raw)
    posted = percentiles(with_member)
    plain = percentiles(without)
    dataset = f'{size:,} members+cards'
    records = []
    for index, pct in enumerate(['p50', 'p95']):
        records.append({
                'name': f'POST identify over HTTP {pct}',
                'dataset': f'{dataset}, {count:,} swipes',
                'value': round(identify[index], 2), 'unit': 'ms',
                'baseline': round(lookup[index], 3),
                'ratio': round(identify[index] / lookup[index], 1),
                })
    for index, pct in enumerate(['p50', 'p95']):
        records.append({
                'name': f'POST sales with member / without {pct}',
                'dataset': f'{dataset}, {SALES[scale]} sales each',
                'value': round(posted[index], 1), 'unit': 'ms',
                'baseline': round(plain[index], 1),
                'ratio': round(posted[index] / plain[index], 2),
                })
    return records


def worker(scale):
    import logging

    from run import drop_database
    from werkzeug.serving import make_server

    from trytond.tests import test_tryton
    from trytond.transaction import Transaction, TransactionError
    from trytond.wsgi import app

    name = os.environ['DB_NAME']
    drop_database(name)
    test_tryton.activate_module('member_pos')
    size = SIZES[scale]
    start = time.perf_counter()
    extras = {}
    while True:
        with Transaction().start(name, 1, **extras) as transaction:
            try:
                setup = populate(size)
                transaction.commit()
                break
            except TransactionError as error:
                # the chart takes table locks the transaction retries
                transaction.rollback()
                error.fix(extras)
    populate_time = time.perf_counter() - start

    # one log line per request would drown the results
    logging.getLogger('werkzeug').setLevel(logging.WARNING)
    server = make_server('127.0.0.1', 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        records = measure(scale, size, setup, server.server_port)
    finally:
        server.shutdown()
    records.append({
            'name': "populate (fixture + set-based INSERT)",
            'dataset': f'{size:,} members+cards',
            'value': round(populate_time, 2), 'unit': 's',
            'baseline': None, 'ratio': None,
            })
    print(json.dumps(records))


if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    worker(sys.argv[1])

"""Opening a member's form in sao next to the same read over JSON-RPC.

Builds a SQLite database with member_pos activated (so that the member
form has every tab: balances, points, tier, cards, messages, POS sales), a
programme, a property, a redeemable point type and one member per size
with N ledger lines posted by ``Ledger.earn_many`` in chunks of 1,000
(dates spread over the last year). Serves trytond's WSGI application with
sao 8.0 (var/sao/package) as web root on loopback with werkzeug's threaded
server, logs in as admin in Debian's headless Chromium through Playwright
and times, in the page:

- form shown: from setting sao's URL of the member
  (``#<db>/model/party.party/<id>;views=[form,tree]&context=...``, what sao
  puts in the address bar for a member opened from the Members action)
  until the member form is drawn with the member's name in its field and
  sao idle (no JSON-RPC call in flight for 300 ms, no "Processing"
  indicator); each sample in a new sao tab (the previous one closed).
  Once after the server started (trytond builds the view and fills its
  caches: "first"), then alternately "cold", sao's view cache cleared
  first (the first member a user opens), and "warm", kept (the next
  members);
- points tab shown: after each warm opening, a click on the tab of the
  newest ledger lines until its list shows rows and sao is idle;

and, in the same run, the baseline: the reads sao made for the form
(``party.party.read`` of the member with the form view's fields, their
names and the columns of the lists on show, point accounts and
categories, read nested: 94 field names) resp. for the points tab
(``member.point.line.read`` of the 100 lines with their list's fields),
replayed with the same parameters from a keep-alive Python HTTP client
(p50). ratio = shown in sao (p50, p95) / JSON-RPC read (p50); the rest is
the view (fields_view_get and others) and sao building and drawing it.

The JSON-RPC calls sao made for the last opening of each kind (method,
start, time seen by the page, time in the server, bytes sent) are
written to var/bench/member_form_profile.json and printed on stderr; a
screenshot of each member's form to var/bench/member_form_<id>.png.

Scales: small = one member with 10,000 lines; full = 10,000 and 100,000.
Target: form shown in under 2 s at 10,000 lines.

The work runs in a subprocess (``python bench_member_form.py SCALE``)
configured for the backend by run.py's environment.
"""
import datetime as dt
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

BACKENDS = ('sqlite',)
SIZES = {'small': (10_000,), 'full': (10_000, 100_000)}
OPENINGS = {'small': 4, 'full': 10}
RPC_READS = {'small': 10, 'full': 30}
CHUNK = 1_000
# ms, form shown
TARGET = 2_000
QUIET = 300
PASSWORD = 'bench-member-form'
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SAO = ROOT / 'var' / 'sao' / 'package'
PROFILE = ROOT / 'var' / 'bench' / 'member_form_profile.json'
TIMEOUT = 60_000


def run(scale, dsn):
    sys.path.insert(0, str(BENCH))
    from run import trytond_env
    from suite import VAR, source_hash

    if not (SAO / 'index.html').exists():
        raise RuntimeError(f"sao is missing in {SAO}: run make sao")
    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_member_form_{scale}'
    # the activated database cached by scripts/run_tests.py, keyed on the
    # sources so that a schema change never reuses a stale one
    env.setdefault('DB_CACHE', str(VAR / 'dbcache' / source_hash()))
    env['TRYTOND_WEB__ROOT'] = str(SAO)
    result = subprocess.run(
        [sys.executable, __file__, scale], env=env,
        stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"member form worker failed ({result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- worker (runs with trytond configured for the backend) ---------------

def populate(sizes):
    """Create the programme, property, point type, the admin's password
    and one member per size; return the type and member ids"""
    from trytond.modules.member_points.tests.tools import (
        create_members,
        create_programme,
    )
    from trytond.pool import Pool

    pool = Pool()
    PointType = pool.get('member.point.type')
    User = pool.get('res.user')
    WizardItem = pool.get('ir.module.config_wizard.item')

    programme = create_programme()
    type_, = PointType.create([{
                'programme': programme.id, 'name': "Points", 'code': 'P',
                'kind': 'redeemable', 'digits': 2,
                'point_value': Decimal('0.10'),
                'expiry_policy': 'months', 'expiry_months': 24,
                }])
    members = create_members(
        programme, [f"Member {size:,} Lines" for size in sizes])
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'password': PASSWORD,
            'companies': [('add', [programme.company.id])],
            'company': programme.company.id,
            })
    # no configuration wizard at the first login
    WizardItem.write(WizardItem.search([]), {'state': 'done'})
    return type_.id, [m.id for m in members]


def earn(name, member_id, type_id, size):
    """Post size earn lines to the member with earn_many in chunks, a
    transaction each (restarted for the member lock)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError

    today = dt.date.today()
    for start in range(0, size, CHUNK):
        requests = [{
                'member': member_id, 'type': type_id,
                'quantity': Decimal(10 + n % 90),
                'key': f'bench:{member_id}:{n}',
                'date': today - dt.timedelta(days=365 * (size - n) // size),
                'description': f"Stay {n}",
                } for n in range(start, min(start + CHUNK, size))]
        extras = {}
        while True:
            with Transaction().start(name, 1, **extras) as transaction:
                try:
                    Pool().get('member.point.ledger').earn_many(requests)
                    transaction.commit()
                    break
                except TransactionError as error:
                    transaction.rollback()
                    error.fix(extras)


def timed(app, log):
    """WSGI middleware appending to log, for each JSON-RPC call, its
    method, start, end, response size and, for reads, the numbers of ids
    and fields and the parameters"""
    def wrapper(environ, start_response):
        if (environ['REQUEST_METHOD'] != 'POST'
                or not environ['PATH_INFO'].endswith('/rpc/')):
            return app(environ, start_response)
        body = environ['wsgi.input'].read(
            int(environ.get('CONTENT_LENGTH') or 0))
        environ['wsgi.input'] = io.BytesIO(body)
        start = time.perf_counter()
        result = b''.join(app(environ, start_response))
        end = time.perf_counter()
        request = json.loads(body)
        method, params = request.get('method'), request.get('params')
        args = ''
        if not method.endswith('.read'):
            params = None
        else:
            args = f'{len(params[0])} ids, {len(params[1])} fields'
        log.append((method, start, end, len(result), args, params))
        return [result]
    return wrapper


class Client:
    "A keep-alive JSON-RPC client of trytond"

    def __init__(self, port, database):
        self.connection = http.client.HTTPConnection('127.0.0.1', port)
        self.path = f'/{database}/rpc/'
        self.headers = {'Content-Type': 'application/json'}
        self.id = 0

    def __call__(self, method, *params):
        self.id += 1
        self.connection.request('POST', self.path, body=json.dumps({
                    'id': self.id, 'method': method, 'params': params,
                    }), headers=self.headers)
        data = json.loads(self.connection.getresponse().read())
        if data.get('error'):
            raise RuntimeError(f"{method}: {data['error']}")
        return data['result']

    def login(self, login, password):
        import base64
        user_id, session = self('common.db.login', login,
            {'password': password}, 'en')[:2]
        token = base64.b64encode(f'{login}:{user_id}:{session}'.encode())
        self.headers['Authorization'] = f'Session {token.decode()}'


# Counts the JSON-RPC calls in flight and logs them (method, start, end)
INSTRUMENT = """
(() => {
    const B = window.__bench = {pending: 0, changed: 0, log: []};
    const open = XMLHttpRequest.prototype.open;
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function(method, url, ...rest) {
        this.__rpc = String(url).includes('/rpc/') ? String(url) : null;
        return open.call(this, method, url, ...rest);
    };
    XMLHttpRequest.prototype.send = function(...args) {
        if (this.__rpc) {
            const entry = {method: this.__rpc.split('#')[1] || '',
                start: performance.now(), end: null};
            B.pending += 1;
            B.changed = entry.start;
            B.log.push(entry);
            this.addEventListener('loadend', () => {
                entry.end = performance.now();
                B.pending -= 1;
                B.changed = entry.end;
            });
        }
        return send.apply(this, args);
    };
})();
"""

# Resolves with the ms from ``start()`` until ``ready()`` holds with no
# JSON-RPC call started or in flight for quiet ms (the quiet time is not
# counted); checked at each animation frame, so after drawing
WAIT = """
async ([start, ready, quiet, timeout]) => {
    const B = window.__bench;
    ready = eval(ready);
    const t0 = performance.now();
    B.log = [];
    eval(start)();
    return await new Promise((resolve, reject) => {
        let since = null;
        const tick = () => {
            const now = performance.now();
            const idle = B.pending === 0
                && !jQuery('#processing').is(':visible');
            if (idle && ready()) {
                if (since === null || B.changed > since) {
                    since = now;
                }
                if (now - since >= quiet) {
                    resolve(since - t0);
                    return;
                }
            } else {
                since = null;
            }
            if (now - t0 > timeout) {
                reject(new Error('not shown in time'));
                return;
            }
            requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
    });
}
"""

# The member form of the current tab shows the name (arguments: name)
FORM_READY = """
() => {
    const tab = Sao.Tab.tabs.get_current();
    if (!tab || !tab.screen || !tab.screen.current_view
            || tab.screen.current_view.view_type !== 'form') {
        return false;
    }
    const name = %s;
    return tab.content.find('input:visible').toArray().some(
        i => i.value === name);
}
"""

# The active page of the form shows rows of a list
POINTS_READY = """
() => Sao.Tab.tabs.get_current().content
    .find('.tab-pane.active:visible tbody tr:visible').toArray()
    .some(row => row.textContent.trim())
"""

CLOSE_TABS = """
async (clear) => {
    for (const tab of [...Sao.Tab.tabs]) {
        await tab.close();
    }
    if (clear) {
        Sao.Session.current_session.cache.clear();
    }
}
"""


def percentiles(samples):
    samples = sorted(samples)
    return (statistics.median(samples),
        samples[max(int(len(samples) * 0.95 + 0.5) - 1, 0)])


def login(page, url, name):
    "Log in to sao as admin, wait until its first calls are answered"
    from browser_smoke import login
    login(page, url, database=name, password=PASSWORD)
    page.wait_for_function('() => window.__bench.pending === 0')


def view_ids():
    "The ids of the member form and list views of the Members action"
    from trytond.pool import Pool
    ModelData = Pool().get('ir.model.data')
    return [ModelData.get_id('member_core', 'member_view_form'),
        ModelData.get_id('member_core', 'member_view_tree')]


def sao_url(name, member_id, views):
    "The URL sao shows for a member opened from the Members action"
    import urllib.parse
    params = [
        ('context', json.dumps({'member_form': True})),
        ('name', json.dumps("Members")),
        ('views', json.dumps(views)),
        ]
    return (f'{name}/model/party.party/{member_id};'
        + '&'.join(f'{k}={urllib.parse.quote(v, safe="")}'
            for k, v in params))


def browse(url, name, members, views, openings, server_log):
    """Open each member's form in sao: once after the server started, then
    openings times cold and warm, alternated, with a click on the points
    tab after each warm one. Return {member_id: {kind: [ms]}} and the
    profile of the last opening of each kind"""
    from browser_smoke import CHROMIUM, FLAGS, VIEWPORT
    from playwright.sync_api import sync_playwright

    times, profile, reads, errors = {}, {}, {}, []
    points = ('() => Sao.Tab.tabs.get_current().content'
        ".find('.nav-tabs a').filter("
        "(i, a) => a.textContent.trim() === 'Points').first().click()")
    with sync_playwright() as p, \
            tempfile.TemporaryDirectory(prefix='chromium-') as tmp:
        context = p.chromium.launch_persistent_context(
            tmp, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport=VIEWPORT, locale='en-US')
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on('pageerror', lambda e: errors.append(str(e)))
            page.add_init_script(INSTRUMENT)
            page.set_default_timeout(TIMEOUT)
            login(page, url, name)

            def measure(key, start, ready):
                del server_log[:]
                elapsed = page.evaluate(WAIT, [start, ready, QUIET, TIMEOUT])
                profile[key] = {
                    'shown ms': round(elapsed),
                    'calls': rpc_profile(
                        page.evaluate('window.__bench.log'), server_log),
                    }
                reads[key] = [(m, p) for m, *_, p in server_log if p]
                return elapsed

            for member_id, member_name in members:
                form = ('() => { location.hash = '
                    f"{json.dumps('#' + sao_url(name, member_id, views))}; }}")
                ready = FORM_READY % json.dumps(member_name)
                result = times[member_id] = {
                    'first': [], 'cold': [], 'warm': [], 'points': []}
                kinds = ['first'] + ['cold', 'warm'] * openings
                for kind in kinds if not errors else []:
                    page.evaluate(CLOSE_TABS, kind != 'warm')
                    result[kind].append(
                        measure((member_id, kind), form, ready))
                    if kind == 'warm':
                        result['points'].append(measure(
                                (member_id, 'points'), points, POINTS_READY))
                shot = PROFILE.with_name(f'member_form_{member_id}.png')
                page.screenshot(path=str(shot))
        finally:
            context.close()
    if errors:
        raise RuntimeError(
            "JavaScript error(s) in sao: " + '; '.join(errors[:5]))
    return times, profile, reads


def rpc_profile(calls, served):
    """The calls seen by the page (start, duration) with the server's
    timings, paired in the order they were served, per method"""
    queue = {}
    for method, start, end, size, args, _ in sorted(
            served, key=lambda s: s[1]):
        queue.setdefault(method, []).append(
            (round((end - start) * 1e3), size, args))
    origin = min((c['start'] for c in calls), default=0)
    rows = []
    for call in sorted(calls, key=lambda c: c['start']):
        server, size, args = (queue.get(call['method']) or [
                (None, None, '')]).pop(0)
        rows.append({
                'method': call['method'], 'args': args,
                'start ms': round(call['start'] - origin),
                'page ms': round(call['end'] - call['start']),
                'server ms': server, 'bytes': size,
                })
    return rows


def baseline(client, reads, count):
    """Time the reads sao made (method and parameters), one after the
    other over JSON-RPC; return the p50 in ms"""
    samples = []
    for _ in range(count + 1):
        start = time.perf_counter()
        for method, params in reads:
            client(method, *params)
        samples.append(time.perf_counter() - start)
    # the first reads fill the server's caches
    return statistics.median(samples[1:]) * 1e3


def report(profile):
    "Write the profile to PROFILE and print it on stderr"
    PROFILE.parent.mkdir(parents=True, exist_ok=True)
    PROFILE.write_text(json.dumps(
            {f'member {m}, {k}': v for (m, k), v in profile.items()},
            indent=1) + '\n')
    for (member_id, kind), data in profile.items():
        sys.stderr.write(f"member {member_id}, {kind} opening: shown in "
            f"{data['shown ms']} ms, {len(data['calls'])} JSON-RPC calls\n")
        for call in data['calls']:
            sys.stderr.write(
                f"  +{call['start ms']:>5} ms {call['page ms']:>5} ms "
                f"(server {call['server ms']} ms, {call['bytes']} bytes) "
                f"{call['method']} {call['args']}\n")


def worker(scale):
    import logging

    from run import drop_database
    from werkzeug.serving import make_server

    from trytond.tests import test_tryton
    from trytond.transaction import Transaction
    from trytond.wsgi import app

    name = os.environ['DB_NAME']
    sizes = SIZES[scale]
    drop_database(name)
    start = time.perf_counter()
    test_tryton.activate_module('member_pos')
    with Transaction().start(name, 1) as transaction:
        type_id, member_ids = populate(sizes)
        views = view_ids()
        transaction.commit()
    for member_id, size in zip(member_ids, sizes):
        earn(name, member_id, type_id, size)
    populate_time = time.perf_counter() - start

    server_log = []
    # one log line per request would drown the results
    logging.getLogger('werkzeug').setLevel(logging.WARNING)
    server = make_server('127.0.0.1', 0, timed(app, server_log),
        threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    try:
        client = Client(port, name)
        client.login('admin', PASSWORD)
        context = client('model.res.user.get_preferences', True, {})
        context['member_form'] = True
        members = [(r['id'], r['rec_name']) for r in client(
                'model.party.party.read', member_ids, ['rec_name'],
                context)]
        start = time.perf_counter()
        times, profile, reads = browse(f'http://127.0.0.1:{port}', name,
            members, views, OPENINGS[scale], server_log)
        browse_time = time.perf_counter() - start
        rpc = {m: (baseline(client, reads[m, 'warm'], RPC_READS[scale]),
                baseline(client, reads[m, 'points'], RPC_READS[scale]))
            for m in member_ids}
    finally:
        server.shutdown()
    report(profile)
    drop_database(name)

    records = []
    for member_id, size in zip(member_ids, sizes):
        form_rpc, tab_rpc = rpc[member_id]
        count = sum(len(p[1]) for _, p in reads[member_id, 'warm'])
        result = times[member_id]
        dataset = f'1 member, {size:,} ledger lines'

        def record(label, samples, baseline, extra=''):
            pcts = ['p50', 'p95'] if len(samples) > 1 else ['']
            for pct, value in zip(pcts, percentiles(samples)):
                records.append({
                        'name': f"{label} {pct}".rstrip(),
                        'dataset': f"{dataset}, {len(samples)} {extra}",
                        'value': round(value), 'unit': 'ms',
                        'baseline': round(baseline, 1),
                        'ratio': round(value / baseline, 1),
                        })

        rpc_label = f"its JSON-RPC read ({count} fields)"
        record("member form shown in sao, first opening after server start",
            result['first'], form_rpc, f'opening; baseline: {rpc_label}')
        record("member form shown in sao, cold (first member of a session)",
            result['cold'], form_rpc, f'openings; baseline: {rpc_label}')
        record("member form shown in sao, warm (next members)",
            result['warm'], form_rpc, f'openings; baseline: {rpc_label}')
        record("points tab (100 newest lines) shown in sao", result['points'],
            tab_rpc, 'clicks; baseline: their JSON-RPC read')
    records.append({
            'name': "populate (activate from cache, earn_many by 1,000)",
            'dataset': ' + '.join(f'{s:,}' for s in sizes) + ' lines',
            'value': round(populate_time, 1), 'unit': 's',
            'baseline': None, 'ratio': None,
            })
    for member_id, size in zip(member_ids, sizes):
        p50, p95 = percentiles(times[member_id]['cold'])
        sys.stderr.write(f"{size:,} lines: form shown cold p50 {p50:.0f} ms, "
            f"p95 {p95:.0f} ms: the {TARGET:,} ms target is "
            f"{'met' if p95 < TARGET else 'not met'}\n")
    sys.stderr.write(f"browser part: {browse_time:.1f} s\n")
    print(json.dumps(records))


if __name__ == '__main__':
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT / 'scripts'))
    sys.path.insert(0, str(ROOT / 'tests' / 'smoke'))
    worker(sys.argv[1])

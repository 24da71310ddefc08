#!/usr/bin/env python3
"""End-to-end test of the cashier page (after make demo-db).

Starts the demo server on a free port and a member-iot-agent with a
pseudo-terminal card reader and a File printer (CORS origin: the demo
server), then in Debian's headless Chromium (Playwright, no browser
download): signs a cashier of a demo property in on
/demo/member_pos/cashier (the application key is validated over JSON-RPC
as admin), swipes the club card of a demo member with points (the number
written into the pty), adds two products, pays with points and cash,
posts, and checks that the receipt bytes the agent printed carry the
points earned and the new balance. Screenshots go to var/screenshots/.

    .venv/bin/python tests/smoke/cashier_e2e.py

The demo database keeps the cashier user and the sale.
"""
import contextlib
import json
import os
import pty
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'scripts'))
from browser_smoke import CHROMIUM, FLAGS, check_browser
from smoke_demo import DB_NAME, RPC, admin_password, demo_server, free_port
from suite import VAR, fail

SCREENSHOTS = VAR / 'screenshots'
BIN = Path(sys.executable).parent
AGENT_KEY = 'cashier-e2e-agent-key'
CASHIER = 'cashier-e2e'
POINTS = Decimal(1000)
PRODUCTS = ['Mug', 'Tea']
TIMEOUT = 30_000


def number(value):
    "Return the Decimal of a JSON-RPC value"
    if isinstance(value, dict):
        return Decimal(value['decimal'])
    return Decimal(str(value))


def shoot(page, name):
    path = SCREENSHOTS / f'cashier-{name}.png'
    page.screenshot(path=str(path))
    print(f"screenshot: {path.relative_to(ROOT)}", flush=True)


class Demo:
    "What the test needs from the demo database, read as admin"

    def __init__(self, url):
        self.rpc = RPC(url)
        self.rpc.login('admin', admin_password())
        self.context = self.rpc('model.res.user.get_preferences', True, {})

    def __call__(self, method, *params):
        return self.rpc(method, *params, self.context)

    def read(self, model, domain, fields, limit=None, order=None):
        return self(f'model.{model}.search_read', domain, 0, limit, order,
            fields)

    def group(self, name):
        "Return the id of the group named name (in English)"
        group, = self.rpc('model.res.group.search_read', [
                ('name', '=', name),
                ], 0, None, None, ['id'], {**self.context, 'language': 'en'})
        return group['id']

    def choose(self):
        "Choose the sale point, the payment methods and the member"
        assigned = {a['target'] for a in self.read(
                'iot.device.assignment', [], ['target'])}
        points = [p for p in self.read('sale.point', [
                    ('programme', '!=', None), ('property', '!=', None),
                    ], ['name', 'programme', 'property'],
                order=[('id', 'ASC')])
            if f"sale.point,{p['id']}" not in assigned]
        if not points:
            fail("the demo has no sale point of a property without a "
                "server printer: run make demo-db (demo/member_pos.py).")
        self.point = points[0]
        self.cash, = self.read(
            'sale.point.payment.method', [('cash', '=', True)],
            ['name'], limit=1)
        self.points_method, = self.read(
            'sale.point.payment.method', [
                ('member_payment', '=', 'points'),
                ], ['name', 'point_type'], limit=1)
        type_id = self.points_method['point_type']
        balances = {a['member']: number(a['available'])
            for a in self.read('member.point.account', [
                    ('type', '=', type_id),
                    ], ['member', 'available'])}
        cards = self.read('member.card', [
                ('programme', '=', self.point['programme']),
                ('state', '=', 'active'),
                ('product.kind', '=', 'points'),
                ('member.member_state', '=', 'member'),
                # property staff see the members of their property
                ('member.home_property', '=', self.point['property']),
                ['OR',
                    ('expiry_date', '=', None),
                    ('expiry_date', '>', time.strftime('%Y-%m-%d')),
                    ],
                ], ['number', 'member', 'member.rec_name'],
            order=[('id', 'ASC')])
        if not cards:
            fail("no demo member with an active club card: run make "
                "demo-db.")
        # the richest in points: a member without enough buys first
        self.card = max(cards, key=lambda c: (
                balances.get(c['member'], 0), -c['id']))
        self.member = self.card['member']
        self.available = balances.get(self.member, Decimal(0))
        print(f"sale point {self.point['name']!r}, member "
            f"{self.card['member.']['rec_name']!r} with card "
            f"{self.card['number']} and {self.available} points available",
            flush=True)

    def sales(self):
        "Return the number of sales of the member"
        return self('model.sale.point.sale.search_count', [
                ('member', '=', self.member),
                ])

    def account(self):
        "Return the member's account of the points method's type"
        account, = self.read('member.point.account', [
                ('member', '=', self.member),
                ('type', '=', self.points_method['point_type']),
                ], ['balance', 'available'])
        return {k: number(v) for k, v in account.items() if k != 'id'}

    def cashier(self):
        "Create (once) the cashier of the sale point's property"
        users = self.read('res.user', [('login', '=', CASHIER)], ['id'])
        if users:
            user_id = users[0]['id']
        else:
            groups = [self.group(n)
                for n in ["POS", "POS Posting", "Property Staff"]]
            english, = self.read('ir.lang', [('code', '=', 'en')], ['id'])
            company = self.context['company']
            user_id, = self('model.res.user.create', [{
                        'login': CASHIER, 'name': "E2E Cashier",
                        'language': english['id'],
                        'companies': [('add', [company])],
                        'company': company,
                        'groups': [('add', groups)],
                        'member_properties': [
                            ('add', [self.point['property']])],
                        }])
        # a pending request would keep the new one from being bound
        pending = self.applications(user_id)
        if pending:
            self('model.res.user.application.cancel', pending)
        self.user_id = user_id

    def applications(self, user_id):
        return [a['id'] for a in self.read('res.user.application', [
                    ('user', '=', user_id), ('state', '=', 'requested'),
                    ], ['id'])]

    def validate_key(self, timeout=30):
        "Validate the key the page requested, as an administrator does"
        deadline = time.monotonic() + timeout
        while not (pending := self.applications(self.user_id)):
            if time.monotonic() > deadline:
                fail("the cashier page did not request an application key.")
            time.sleep(0.3)
        self('model.res.user.application.validate_', pending)
        print("application key validated by admin", flush=True)

    def receipt_values(self, sale_number):
        "Return (points earned, points balance) as the receipt prints them"
        from trytond.modules.member_pos.receipt import format_points
        sale, = self.read('sale.point.sale', [('number', '=', sale_number)], [
                'points_earned', 'points_redeemed'])
        type_, = self.read('member.point.type', [
                ('id', '=', self.points_method['point_type']),
                ], ['digits'])
        earned = number(sale['points_earned'])
        balance = self.account()['balance']
        return (format_points(earned),
            format_points(balance, type_['digits']),
            number(sale['points_redeemed']))


@contextlib.contextmanager
def agent(origin):
    "Run member-iot-agent with a pty card reader; yield (url, pty, file)"
    with tempfile.TemporaryDirectory(prefix='cashier-e2e-') as tmp:
        master, slave = pty.openpty()
        reader = os.ttyname(slave)
        printed = Path(tmp, 'receipts.bin')
        port = free_port()
        config = Path(tmp, 'box.toml')
        config.write_text(f"""[agent]
name = "cashier-e2e"
listen = "127.0.0.1:{port}"
key = "{AGENT_KEY}"
allowed_origins = [{json.dumps(origin)}]
spool_dir = "spool"
log_file = ""
retry_min = 0.2
retry_max = 2.0

[[device]]
name = "reader1"
kind = "card_reader"
connection = "serial"
port = "{reader}"
line_ending = "crlf"
uid_format = "text"
mapping = "as_is"

[[device]]
name = "printer1"
kind = "printer"
connection = "file"
path = "{printed}"
width = 80
""")
        log_path = VAR / 'cashier-e2e-agent.log'
        with open(log_path, 'w') as log:
            process = subprocess.Popen(
                [str(BIN / 'member-iot-agent'), '--config', str(config)],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        url = f'http://127.0.0.1:{port}'
        try:
            wait_agent(process, url, log_path)
            print(f"agent serving {url} (pid {process.pid}), reader "
                f"{reader}", flush=True)
            yield url, master, printed
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(master)
            os.close(slave)


def wait_agent(process, url, log_path, timeout=30):
    "Wait for the agent's reader to be open"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            sys.stderr.write(log_path.read_text()[-3000:])
            fail(f"member-iot-agent stopped (exit code {process.returncode})"
                f": see {log_path}.")
        try:
            request = urllib.request.Request(
                f'{url}/status', headers={'X-Agent-Key': AGENT_KEY})
            with urllib.request.urlopen(request, timeout=5) as response:
                status = json.load(response)
            if all(d['state'] == 'ok' for d in status['devices']):
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if time.monotonic() > deadline:
            fail(f"the agent's devices were not ready within {timeout}s: "
                f"see {log_path}.")
        time.sleep(0.3)


def run(url, demo, agent_url, reader, printed):
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_url = f'{url}/{DB_NAME}/member_pos/cashier'
    with sync_playwright() as p, \
            tempfile.TemporaryDirectory(prefix='chromium-') as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={'width': 1024, 'height': 768}, locale='en-US',
            has_touch=True)
        page = context.pages[0] if context.pages else context.new_page()
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.set_default_timeout(TIMEOUT)
        expect.set_options(timeout=TIMEOUT)
        try:
            page.goto(page_url)
            page.evaluate("""([db, settings]) => {
                localStorage.clear();
                localStorage.setItem(
                    'member_pos.' + db + '.settings',
                    JSON.stringify(settings));
                }""", [DB_NAME, {
                        'agentUrl': agent_url, 'agentKey': AGENT_KEY,
                        'printer': 'printer1', 'language': 'en'}])
            page.reload()
            sign_in(page, demo)
            check_receipt(demo, *sell(page, demo, reader, printed))
        except Exception:
            shoot(page, 'failure')
            raise
        finally:
            context.close()
        if errors:
            fail("JavaScript errors on the cashier page:\n  "
                + '\n  '.join(errors[:10]))


def sign_in(page, demo):
    from playwright.sync_api import expect

    page.fill('#sign-in-login', CASHIER)
    page.click('#btn-sign-in')
    expect(page.locator('#sign-in-waiting')).to_be_visible()
    shoot(page, '1-waiting')
    demo.validate_key()
    # the sale point is chosen, or the page chose the only one
    point = f"[data-point=\"{demo.point['id']}\"]"
    page.wait_for_selector(f'{point}, #view-sale:not([hidden])')
    if page.locator(point).is_visible():
        page.click(point)
    expect(page.locator('#view-sale')).to_be_visible()
    expect(page.locator('#agent-state.on')).to_be_visible()
    print("signed in on the cashier page; agent online", flush=True)


def sell(page, demo, reader, printed):
    """Sell to the swiped member, paying with points (after a first sale in
    cash when the member has none); return the sale number, the points
    spent and the receipt bytes printed for it"""
    if demo.available < 1:
        checkout(page, demo, reader, printed, None)
        demo.available = demo.account()['available']
        page.click('#btn-new-sale')
    points = min(POINTS, demo.available.to_integral_value(ROUND_DOWN))
    sales = demo.sales()
    # the answer to the first post is lost: the page retries with the
    # same client key and gets the sale posted by the first request
    lost = []

    def lose_first_answer(route):
        if lost:
            route.continue_()
        else:
            lost.append(route.fetch().status)
            route.abort('connectionreset')
    page.route('**/member_pos/sales', lose_first_answer)
    result = checkout(page, demo, reader, printed, points)
    page.unroute('**/member_pos/sales')
    if lost != [200] or demo.sales() != sales + 1:
        fail(f"the retried post made {demo.sales() - sales} sales "
            f"(first answer {lost}), not one.")
    print("first answer lost: the retry returned the same sale", flush=True)
    return result


def checkout(page, demo, reader, printed, points):
    from playwright.sync_api import expect

    os.write(reader, (demo.card['number'] + '\r\n').encode())
    expect(page.locator('#member-name')).to_have_text(
        demo.card['member.']['rec_name'])
    print("card swiped: member shown", flush=True)
    for name in PRODUCTS:
        page.fill('#product-search', name)
        button = page.locator('#product-list button', has_text=name).first
        expect(button).to_be_visible()
        button.click()
    expect(page.locator('#cart-lines tr')).to_have_count(len(PRODUCTS))
    shoot(page, '2-cart')
    if points:
        page.click(f"[data-method=\"{demo.points_method['id']}\"]")
        page.fill('#pay-amount', str(points))
        page.click('#btn-pay-add')
    page.click(f"[data-method=\"{demo.cash['id']}\"]")
    page.click('#btn-pay-add')
    expect(page.locator('#btn-post')).to_be_enabled()
    shoot(page, '3-paid')
    offset = printed.stat().st_size if printed.exists() else 0
    page.click('#btn-post')
    expect(page.locator('#view-done')).to_be_visible()
    expect(page.locator('#print-state')).to_have_text('Printed')
    shoot(page, '4-posted')
    sale_number = page.text_content('#done-number')
    print(f"posted {sale_number} ({points or 0} points); receipt printed",
        flush=True)
    return sale_number, points, printed.read_bytes()[offset:]


def check_receipt(demo, sale_number, points, data):
    earned, balance, redeemed = demo.receipt_values(sale_number)
    if redeemed != points:
        fail(f"sale {sale_number} redeemed {redeemed} points, not "
            f"{points}.")
    text = data.decode('gb18030', 'replace')
    missing = [label for label, value in [
            ("points earned", earned), ("points balance", balance)]
        if not re.search(rf'(?m)^.*\S\s+{re.escape(value)}\s*$', text)]
    if missing or sale_number.encode() not in data:
        fail(f"the receipt printed ({len(data)} bytes) lacks the "
            f"{', '.join(missing) or 'number'} of sale {sale_number} "
            f"(earned {earned}, balance {balance}).")
    print(f"receipt bytes: {len(data)}, with the sale number, points "
        f"earned {earned} and balance {balance}", flush=True)


def main():
    check_browser()
    if not (BIN / 'member-iot-agent').exists():
        fail(f"{BIN / 'member-iot-agent'} is missing: run make install.")
    start = time.monotonic()
    with demo_server() as url:
        demo = Demo(url)
        demo.choose()
        demo.cashier()
        with agent(url) as (agent_url, reader, printed):
            run(url, demo, agent_url, reader, printed)
    print(f"cashier end-to-end test passed in "
        f"{time.monotonic() - start:.1f}s")


if __name__ == '__main__':
    main()

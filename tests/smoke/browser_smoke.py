#!/usr/bin/env python3
"""Real-browser smoke test of the demo (after make demo-db).

Starts the demo server on a free port, opens sao in Debian's headless
Chromium (/usr/bin/chromium) through Playwright (no browser download),
logs in as admin, opens the "Members" menu and saves screenshots under
var/screenshots/. Until the "Members" menu exists, "Parties" is opened
instead with a warning.

    .venv/bin/python tests/smoke/browser_smoke.py
"""
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'scripts'))
from smoke_demo import DB_NAME, admin_password, demo_server
from suite import VAR, fail

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
    ]
SCREENSHOTS = VAR / 'screenshots'
MENU = 'Members'
FALLBACK_MENU = 'Parties'
TIMEOUT = 30_000


def shoot(page, name):
    path = SCREENSHOTS / f'{name}.png'
    page.screenshot(path=str(path))
    print(f"screenshot: {path.relative_to(ROOT)}", flush=True)
    return path


def run(url):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, \
            tempfile.TemporaryDirectory(prefix='chromium-') as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=FLAGS,
            viewport={'width': 1400, 'height': 900}, locale='en-US')
        page = context.pages[0] if context.pages else context.new_page()
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.set_default_timeout(TIMEOUT)
        try:
            login(page, url)
            open_menu(page)
        except Exception:
            shoot(page, 'failure')
            raise
        finally:
            context.close()
        if errors:
            print("warning: JavaScript errors on the page:\n  "
                + '\n  '.join(errors[:10]), flush=True)


def login(page, url):
    page.goto(f'{url}/#{DB_NAME}')
    page.wait_for_selector('#login:visible')
    page.fill('#login', 'admin')
    shoot(page, '1-login')
    page.click('.login-dialog button[type=submit]')
    password = page.wait_for_selector('input[type=password]:visible')
    password.fill(admin_password())
    password.press('Enter')
    # the menu tree is shown once logged in
    page.wait_for_selector('#menu table tbody tr', state='visible')
    page.wait_for_timeout(1000)
    shoot(page, '2-home')
    print("logged in to sao as admin", flush=True)


def open_menu(page):
    menu = page.locator('#menu')
    entry = menu.get_by_text(MENU, exact=True)
    name = MENU
    if not entry.count():
        print(f"warning: no \"{MENU}\" menu yet: opening "
            f"\"{FALLBACK_MENU}\" instead.", flush=True)
        entry = menu.get_by_text(FALLBACK_MENU, exact=True)
        name = FALLBACK_MENU
        if not entry.count():
            fail(f"neither the \"{MENU}\" nor the \"{FALLBACK_MENU}\" menu "
                "is shown in sao.")
    # a click on a menu with children expands it
    entry.first.click()
    page.wait_for_timeout(1000)
    shoot(page, f"3-menu-{name.lower()}")
    print(f"expanded the \"{name}\" menu", flush=True)
    # its first child with the same name (or else the first child) is its
    # list: open it in a tab
    rows = menu.locator('table tbody tr')
    texts = [t.strip() for t in rows.all_inner_texts()]
    first = texts.index(name)
    same = [i for i, t in enumerate(texts) if t == name and i > first]
    child = rows.nth(same[0] if same else first + 1)
    label = texts[same[0] if same else first + 1]
    child.click()
    page.wait_for_selector('#tablist li', state='visible')
    page.wait_for_timeout(2000)
    path = shoot(page, f"4-list-{label.lower().replace(' ', '-')}")
    tabs = ', '.join(' '.join(t.replace('\u00d7', '').split())
        for t in page.locator('#tablist li').all_inner_texts())
    print(f"opened \"{label}\" in a tab ({tabs})", flush=True)
    return path


def main():
    if not os.path.exists(CHROMIUM):
        fail(f"{CHROMIUM} is missing: install Chromium with "
            "'apt-get install chromium'.")
    try:
        import playwright  # noqa: F401
    except ImportError:
        fail("the playwright package is missing: run "
            ".venv/bin/pip install -r requirements-ci.txt.")
    start = time.monotonic()
    with demo_server() as url:
        run(url)
    print(f"browser smoke passed in {time.monotonic() - start:.1f}s")


if __name__ == '__main__':
    main()

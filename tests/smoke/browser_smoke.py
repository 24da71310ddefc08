#!/usr/bin/env python3
"""Real-browser smoke test of the demo (after make demo-db).

Starts the demo server on a free port, opens sao in Debian's headless
Chromium (/usr/bin/chromium) through Playwright (no browser download),
logs in as admin, opens the "Members" menu and saves screenshots under
var/screenshots/. Any JavaScript error on the page fails the test.

    .venv/bin/python tests/smoke/browser_smoke.py

As a library (tests/smoke/crawl.py): check_browser(), launch(),
watch_errors(), login() and shoot().
"""
import os
import re
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
VIEWPORT = {'width': 1400, 'height': 900}
MENU = 'Members'
TIMEOUT = 30_000


def check_browser():
    "Stop with a clear sentence when Chromium or Playwright is missing"
    if not os.path.exists(CHROMIUM):
        fail(f"{CHROMIUM} is missing: install Chromium with "
            "'apt-get install chromium'.")
    try:
        import playwright  # noqa: F401
    except ImportError:
        fail("the playwright package is missing: run "
            ".venv/bin/pip install -r requirements-ci.txt.")


def launch(playwright, profile):
    "Debian's Chromium, headless, on a throwaway profile directory"
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
        viewport=VIEWPORT, locale='en-US')


def shoot(page, name, quiet=False):
    "Save a screenshot as var/screenshots/<name>.png (name may hold /)"
    path = SCREENSHOTS / f'{name}.png'
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    if not quiet:
        print(f"screenshot: {path.relative_to(ROOT)}", flush=True)
    return path


def watch_errors(page, errors):
    """Append the JavaScript errors of the page to errors: the uncaught ones
    and those thrown in the callbacks of jQuery's deferreds (most of sao),
    which jQuery turns into rejections and only warns about on the
    console"""
    def on_pageerror(error):
        name = getattr(error, 'name', '')
        message = getattr(error, 'message', '') or str(error)
        errors.append(f"{name}: {message}" if name else message)

    def on_console(message):
        text = message.text
        if message.type == 'warning' and text.startswith(
                'jQuery.Deferred exception'):
            # "jQuery.Deferred exception: <message> <stack>": the stack
            # starts with "<name>: <message>"
            first = text.splitlines()[0]
            error = re.search(r'\b\w*Error: .*$', first)
            errors.append(error.group(0) if error else first)

    page.on('pageerror', on_pageerror)
    page.on('console', on_console)


def run(url):
    from playwright.sync_api import Error, sync_playwright

    errors = []
    with sync_playwright() as p, \
            tempfile.TemporaryDirectory(prefix='chromium-') as profile:
        context = launch(p, profile)
        page = context.pages[0] if context.pages else context.new_page()
        watch_errors(page, errors)
        page.set_default_timeout(TIMEOUT)
        try:
            login(page, url, screenshots=True)
            open_menu(page)
        except Error as e:
            # a JavaScript error usually stops sao half way: the
            # timeout that follows is only its consequence
            shoot(page, 'failure')
            if not errors:
                raise
            print(f"stopped: {str(e).splitlines()[0]}", flush=True)
        finally:
            context.close()
    if errors:
        fail(f"{len(errors)} JavaScript error(s) on the sao page:\n  "
            + '\n  '.join(errors[:10]))


def login(page, url, screenshots=False, database=DB_NAME, password=None):
    """Log in to sao as admin (the demo's password unless given); with
    screenshots, of the login and home"""
    page.goto(f'{url}/#{database}')
    page.wait_for_selector('#login:visible')
    page.fill('#login', 'admin')
    if screenshots:
        shoot(page, '1-login')
    page.click('.login-dialog button[type=submit]')
    entry = page.wait_for_selector('input[type=password]:visible')
    entry.fill(password or admin_password())
    entry.press('Enter')
    # the menu tree is shown once logged in
    page.wait_for_selector('#menu table tbody tr', state='visible')
    page.wait_for_timeout(1000)
    if screenshots:
        shoot(page, '2-home')
    print("logged in to sao as admin", file=sys.stderr, flush=True)


def open_menu(page):
    menu = page.locator('#menu')
    entry = menu.get_by_text(MENU, exact=True)
    if not entry.count():
        fail(f"the \"{MENU}\" menu is not shown in sao.")
    # a click on a menu with children expands it
    entry.first.click()
    page.wait_for_timeout(1000)
    shoot(page, f"3-menu-{MENU.lower()}")
    print(f"expanded the \"{MENU}\" menu", flush=True)
    # its first child with the same name (or else the first child) is its
    # list: open it in a tab
    rows = menu.locator('table tbody tr')
    texts = [t.strip() for t in rows.all_inner_texts()]
    first = texts.index(MENU)
    same = [i for i, t in enumerate(texts) if t == MENU and i > first]
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
    check_browser()
    start = time.monotonic()
    with demo_server() as url:
        run(url)
    print(f"browser smoke passed in {time.monotonic() - start:.1f}s")


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Web-client crawler of the demo (after make demo-db).

Starts the demo server on a free port and, in Debian's headless Chromium
(Playwright, no browser download), once per language of the demo (en,
zh_CN; the two passes run side by side), logs in to sao as admin and
visits every menu entry of the suite modules (addons/*/tryton.cfg),
found in the database, so a new module is crawled without editing this
script:

- a window action: its list, the form of its first record and every tab
  (notebook page) of that form;
- a wizard: opened, then cancelled;

and prints every report of the suite for one record of its model (over
JSON-RPC, as sao's print button does). A JavaScript error, an error or
warning dialog, or a "Processing" lasting more than 15 s breaks the
screen; the run ends with the list of broken screens and exit code 1.
One screenshot per screen goes to
var/screenshots/crawl/<language>/NNN-<menu>-<list|form|wizard>.png.

    .venv/bin/python tests/smoke/crawl.py [--lang zh_CN] [--match TEXT]
        [--sequential] [--url http://localhost:8000]

--match restricts the crawl to the entries whose XML id or English name
holds TEXT; --sequential runs the languages one after the other; --url
crawls a demo server already running (make serve).
"""
import argparse
import contextlib
import dataclasses
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'scripts'))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_smoke as browser
from smoke_demo import DB_NAME, RPC, admin_password, demo_server
from suite import VAR, fail, modules

LANGUAGES = ['en', 'zh_CN']
# the requirement: a "Processing" shown longer than this breaks a screen
PROCESSING_LIMIT = 15
# sao shows "Processing" only after 3 s: a request pending longer than
# that plus the limit is stuck as well
BUSY_LIMIT = PROCESSING_LIMIT + 5
# how long sao may stay busy after a JavaScript error
AFTER_ERROR = 2
# sao often chains requests (view, then records, then the counters of
# the tab domains): idle means no request for this long
SETTLE = 0.35
# bounds the notebook pages clicked on one form (nested notebooks too)
MAX_PAGES = 40
CRAWL = 'crawl'

# Hooks sao's dialogs of errors (server exceptions), warnings (UserError)
# and user warnings, and its message dialog when it reports a failed
# request, so that the crawler reads what a user would have seen.
HOOKS_JS = """() => {
    const log = window.__crawl = {dialogs: []};
    const hook = (dialog, pick) => {
        const run = dialog.run;
        dialog.run = function(...args) {
            const text = pick(...args);
            if (text) {
                log.dialogs.push(text);
            }
            return run.apply(this, args);
        };
    };
    const join = (...texts) => texts.filter(t => t).join(': ');
    hook(Sao.common.error, (title, details) => join(
        'error dialog', title,
        String(details || '').trim().split('\\n').pop()));
    hook(Sao.common.warning, (message, title) => join(
        'warning dialog', title, message));
    hook(Sao.common.userwarning, (message, title) => join(
        'user warning dialog', title, message));
    hook(Sao.common.message, (message, icon) =>
        icon == 'tryton-error' ? join('message dialog', message) : null);
    // the last wizard run, to find the button of its end state
    const run = Sao.Wizard.prototype.run;
    Sao.Wizard.prototype.run = function(...args) {
        log.wizard = this;
        return run.apply(this, args);
    };
}"""
STATE_JS = """() => {
    const tab = Sao.Tab.tabs.get_current();
    const screen = tab && tab.screen;
    const view = screen && screen.current_view;
    return {
        tabs: Sao.Tab.tabs.length,
        name: tab ? tab.name_long : null,
        wizard: Boolean(tab && tab.wizard),
        view_type: view ? view.view_type : null,
        records: screen ? screen.group.length : 0,
        modals: jQuery('.modal.in').length,
        wizard_dialogs: jQuery('.wizard-dialog.in').length,
        language: Sao.Session.current_session.context.language,
    };
}"""
BUSY_JS = """() => ({
    requests: jQuery.active,
    processing: jQuery('#processing').is(':visible'),
})"""
# what the menu does on a click (Sao.main_menu_row_activate); the
# deferred is not returned: a broken action never resolves it
OPEN_MENU_JS = """(id) => {
    Sao.Action.exec_keyword(
        'tree_open', {'model': 'ir.ui.menu', 'id': id}, null, false);
}"""
# as a double click on the first row (which an editable list does not
# honour), for every kind of list
OPEN_FORM_JS = """() => {
    const screen = Sao.Tab.tabs.get_current().screen;
    if (!screen.current_record) {
        screen.current_record = screen.group[0];
    }
    screen.switch_view('form');
}"""
# The last visible notebook page not clicked yet of the current tab:
# the last one so that the pages of a nested notebook, which follow the
# page that shows them, are clicked while they are visible.
NEXT_PAGE_JS = """() => {
    const pane = jQuery('#tabcontent > .tab-pane.active');
    pane.find('a[data-crawl=next]').attr('data-crawl', 'done');
    const link = pane.find('.form-notebook > .nav-tabs > li > a')
        .filter(':visible').not('[data-crawl]').last();
    link.attr('data-crawl', 'next');
    return link.length ? link.text().trim() : null;
}"""
CLOSE_TABS_JS = "() => { Sao.Tab.tabs.close(false); }"
# closes the dialogs the crawler recorded (their "Close", "OK" or "No")
DISMISS_JS = """() => {
    jQuery('.error-dialog.in, .warning-dialog.in, .message-dialog.in')
        .find('.modal-footer .btn-primary').click();
    jQuery('.user-warning-dialog.in').find('.modal-footer .btn-link')
        .click();
}"""
# marks the button of the last wizard's end state ("Cancel", "Close"...)
CANCEL_WIZARD_JS = """() => {
    const wizard = window.__crawl.wizard;
    const button = wizard && wizard.states[wizard.end_state];
    if (!button || !button.el.is(':visible')) {
        return null;
    }
    button.el.attr('data-crawl', 'cancel');
    return button.el.text().trim();
}"""
# the tabs of the action's domains (Draft, Active, All...)
DOMAIN_TABS_JS = """() => jQuery('#tabcontent > .tab-pane.active')
    .find('.tab-domain > .nav-tabs > li > a').filter(':visible')
    .map((i, a) => {
        a.setAttribute('data-crawl-domain', i);
        // without the counter's badge
        return jQuery(a).clone().children('.badge').remove().end()
            .text().trim();
    }).get()"""


class Stuck(Exception):
    "sao did not become idle in time"


@dataclasses.dataclass
class Entry:
    "One screen (a menu entry) or report to crawl"
    number: int
    kind: str  # window, wizard or report
    xml_id: str
    db_id: int  # the menu's or the report's
    name: str = ''  # in English
    model: str = ''  # of a report
    report_name: str = ''

    @property
    def slug(self):
        name = self.xml_id.split('.', 1)[1]
        name = re.sub(r'^(menu|report)_', '', name)
        return f'{self.number:03d}-{name.replace("_", "-")}'


@dataclasses.dataclass
class Result:
    language: str
    entry: Entry
    name: str
    status: str = 'OK'  # or FAIL, SKIP
    notes: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    seconds: float = 0

    def line(self):
        text = '; '.join(self.errors or self.notes)
        return (f"{self.status:4} [{self.language}] {self.entry.number:03d}"
            f" {self.entry.kind} {self.name}"
            + (f": {text}" if text else '') + f" ({self.seconds:.1f}s)")


def read_xml_ids(models):
    """{(model, id): 'module.fs_id'} of the records of the models defined
    by the suite modules

    ir.model.data is not served over JSON-RPC: read from the demo's
    SQLite file (read only, beside the running server).
    """
    suite = modules()
    path = VAR / f'{DB_NAME}.sqlite'
    with contextlib.closing(sqlite3.connect(
                f'file:{path}?mode=ro', uri=True)) as db:
        rows = db.execute(
            'SELECT model, db_id, module, fs_id FROM ir_model_data '
            'WHERE model IN (%s) AND module IN (%s)' % (
                ', '.join('?' * len(models)), ', '.join('?' * len(suite))),
            [*models, *suite]).fetchall()
    return {(m, i): f'{module}.{fs_id}' for m, i, module, fs_id in rows}


def discover(rpc, context):
    """The menu entries with a window action or a wizard and the reports of
    the suite modules, the menus in the order of the menu tree"""
    suite = modules()
    xml_ids = read_xml_ids(['ir.ui.menu', 'ir.action.report'])
    # every menu the admin sees, for the position of the suite's in the
    # tree (their parents may be outside the suite)
    menus = {m['id']: m for m in rpc('model.ir.ui.menu.search_read', [],
            0, None, None, ['parent', 'sequence', 'action',
                'complete_name'], context)}

    def position(menu_id):
        menu = menus.get(menu_id)
        if not menu:
            return ()
        return position(menu['parent']) + ((menu['sequence'] or 0,
                menu_id),)

    entries = []
    kinds = {'ir.action.act_window': 'window', 'ir.action.wizard': 'wizard'}
    for menu_id in sorted((i for m, i in xml_ids if m == 'ir.ui.menu'
                and i in menus), key=position):
        menu = menus[menu_id]
        kind = kinds.get((menu['action'] or ',').split(',')[0])
        if kind:
            entries.append(Entry(len(entries) + 1, kind,
                    xml_ids['ir.ui.menu', menu_id], menu_id,
                    menu['complete_name']))
    reports = rpc('model.ir.action.report.search_read',
        [('id', 'in', [i for m, i in xml_ids if m == 'ir.action.report'])],
        0, None, None, ['name', 'model', 'report_name'], context)
    for report in sorted(reports, key=lambda r: (
                suite.index(xml_ids['ir.action.report', r['id']]
                    .split('.')[0]), r['id'])):
        entries.append(Entry(len(entries) + 1, 'report',
                xml_ids['ir.action.report', report['id']], report['id'],
                report['name'], report['model'] or '',
                report['report_name']))
    return entries


class Languages:
    """Sets the admin's language for each sao login (sao takes it from the
    user's preferences), one login at a time, and restores it at the end"""

    def __init__(self, rpc):
        self.rpc = rpc
        self.lock = threading.Lock()
        self.original = rpc('model.res.user.get_preferences', True,
            {})['language']

    def set(self, language):
        self.rpc('model.res.user.set_preferences', {'language': language},
            {})

    def restore(self):
        self.set(self.original)


class Crawler:
    "One language's pass in its own Chromium"

    def __init__(self, url, language, languages, entries):
        self.url = url
        self.language = language
        self.languages = languages
        self.entries = entries
        self.playwright = self.chromium = self.profile = self.page = None
        self.js_errors = []
        self.results = []
        self.rpc = RPC(url)
        self.rpc.login('admin', admin_password())
        self.context = dict(self.rpc('model.res.user.get_preferences',
                True, {}), language=language)
        # the names of the entries in this language
        self.names = {}
        for model, kind in [('ir.ui.menu', {'window', 'wizard'}),
                ('ir.action.report', {'report'})]:
            ids = [e.db_id for e in entries if e.kind in kind]
            field = 'complete_name' if model == 'ir.ui.menu' else 'name'
            for record in self.rpc(f'model.{model}.read', ids, [field],
                    self.context):
                self.names[model, record['id']] = record[field]

    def name(self, entry):
        model = 'ir.action.report' if entry.kind == 'report' else (
            'ir.ui.menu')
        return self.names.get((model, entry.db_id), entry.name)

    def say(self, text):
        print(f"[{self.language}] {text}", flush=True)

    # --- the browser ---------------------------------------------------

    def run(self):
        from playwright.sync_api import sync_playwright

        screens = [e for e in self.entries if e.kind != 'report']
        try:
            with sync_playwright() as self.playwright:
                try:
                    self.start()
                    for entry in screens:
                        self.results.append(self.screen(entry))
                        print(self.results[-1].line(), flush=True)
                finally:
                    self.stop()
            for entry in self.entries:
                if entry.kind == 'report':
                    self.results.append(self.report(entry))
                    print(self.results[-1].line(), flush=True)
        except Exception as e:
            # the summary tells that this pass did not end
            self.say(f"stopped: {type(e).__name__}: {e}")
        return self.results

    def start(self):
        "Chromium on a fresh profile, logged in to sao"
        self.profile = tempfile.TemporaryDirectory(prefix='chromium-')
        self.chromium = browser.launch(self.playwright, self.profile.name)
        self.page = self.chromium.pages[0] if self.chromium.pages else (
            self.chromium.new_page())
        self.page.set_default_timeout(browser.TIMEOUT)
        browser.watch_errors(self.page, self.js_errors)
        self.page.on('dialog', self.on_dialog)
        self.login()

    def stop(self):
        if self.chromium:
            self.chromium.close()
            self.profile.cleanup()
        self.chromium = None

    def recover(self):
        "A new Chromium after a screen left sao stuck or broken"
        self.say("restarting Chromium and logging in again")
        self.stop()
        self.start()
        del self.js_errors[:]

    def on_dialog(self, dialog):
        # window.alert() and the like: "No action defined." for one
        self.js_errors.append(f"browser dialog: {dialog.message}")
        dialog.dismiss()

    def login(self):
        # sao reads the language from the user's preferences at login:
        # one login at a time, each in its language
        with self.languages.lock:
            self.languages.set(self.language)
            browser.login(self.page, self.url)
        self.page.evaluate(HOOKS_JS)
        state = self.state()
        if state['language'] != self.language:
            raise RuntimeError(f"sao logged in with language "
                f"{state['language']} instead of {self.language}.")

    def state(self):
        return self.page.evaluate(STATE_JS)

    def wait_idle(self):
        "Wait until no request is pending, raise Stuck past the limits"
        start = time.monotonic()
        shown = quiet = broken = None
        while True:
            busy = self.page.evaluate(BUSY_JS)
            now = time.monotonic()
            if self.js_errors and (busy['requests'] or busy['processing']):
                # after a JavaScript error sao mostly stays "Processing":
                # the screen is broken anyway, do not wait for the limit
                broken = broken or now
                if now - broken > AFTER_ERROR:
                    raise Stuck("sao stays busy after the error")
            if busy['processing']:
                shown = shown or now
                if now - shown > PROCESSING_LIMIT:
                    raise Stuck(f"\"Processing\" did not end within "
                        f"{PROCESSING_LIMIT} s")
            else:
                shown = None
            if busy['requests'] or busy['processing']:
                quiet = None
                if now - start > BUSY_LIMIT and not shown:
                    raise Stuck(f"a request is pending after {BUSY_LIMIT} s")
            else:
                quiet = quiet or now
                if now - quiet >= SETTLE:
                    return
            time.sleep(0.05)

    def problems(self):
        "The JavaScript errors and dialogs since the last call"
        found = self.js_errors[:]
        del self.js_errors[:len(found)]
        dialogs = self.page.evaluate(
            "() => window.__crawl.dialogs.splice(0)")
        # a dialog often repeats the same error for each record: once
        return list(dict.fromkeys(found + dialogs))

    def shoot(self, entry, what):
        # the modal dialogs fade in
        self.page.wait_for_timeout(200)
        browser.shoot(self.page,
            f'{CRAWL}/{self.language}/{entry.slug}-{what}', quiet=True)

    def screen(self, entry):
        result = Result(self.language, entry, self.name(entry))
        start = time.monotonic()
        step = 'open'
        try:
            self.problems()
            self.page.evaluate(DISMISS_JS)
            if entry.kind == 'window':
                steps = self.window(entry, result)
            else:
                steps = self.wizard(entry, result)
            for step in steps:
                self.wait_idle()
                errors = self.problems()
                if errors:
                    result.errors.extend(f"{step}: {e}" for e in errors)
                    break
            if result.errors:
                self.shoot_broken(entry, step)
            step = 'close'
            self.page.evaluate(DISMISS_JS)
            self.close()
            result.errors.extend(f"close: {e}" for e in self.problems())
        except Exception as e:
            # Stuck, a Playwright timeout or a closed page: what caused
            # it, then start afresh
            with contextlib.suppress(Exception):
                result.errors.extend(
                    f"{step}: {error}" for error in self.problems())
            message = str(e).strip().splitlines()[0]
            if not isinstance(e, Stuck):
                message = f"{type(e).__name__}: {message}"
            result.errors.append(f"{step}: {message}")
            self.shoot_broken(entry, step)
            self.recover()
        if result.errors:
            result.status = 'FAIL'
        result.seconds = time.monotonic() - start
        return result

    def shoot_broken(self, entry, step):
        "The broken state replaces the screenshot of its screen"
        what = 'wizard' if entry.kind == 'wizard' else (
            'list' if step == 'open' or step.startswith('list') else 'form')
        try:
            # with the error dialog faded in
            self.page.wait_for_timeout(300)
            self.shoot(entry, what)
        except Exception:
            # a crashed page: the line of the screen tells enough
            pass

    def window(self, entry, result):
        """Generator of the steps of a window action: each yields once its
        action is launched, to be checked"""
        self.page.evaluate(OPEN_MENU_JS, entry.db_id)
        yield 'list'
        state = self.state()
        if not state['tabs']:
            result.errors.append("list: no tab opened")
            return
        if state['view_type'] == 'form':
            result.notes.append("opens a form")
        else:
            # the first tab of the domains (Draft...) may be empty
            domains = self.page.evaluate(DOMAIN_TABS_JS)
            i = 0
            for i, label in enumerate(domains):
                if i:
                    self.page.click(f'a[data-crawl-domain="{i}"]',
                        timeout=5000)
                    yield f"list tab \"{label}\""
                    state = self.state()
                if state['records']:
                    break
            self.shoot(entry, 'list')
            result.notes.append(f"{state['records']} record(s) listed"
                + (f" in \"{label}\"" if state['records'] and i else ''))
            if not state['records']:
                result.notes.append("form: no record")
                return
            self.page.evaluate(OPEN_FORM_JS)
            yield 'form'
            if self.state()['view_type'] != 'form':
                result.notes.append("form: the action has no form view")
                return
        self.shoot(entry, 'form')
        pages = []
        for _ in range(MAX_PAGES):
            label = self.page.evaluate(NEXT_PAGE_JS)
            if label is None:
                break
            pages.append(label)
            self.page.click('a[data-crawl=next]', timeout=5000)
            yield f"tab \"{label}\""
        if pages:
            result.notes.append(f"{len(pages)} tab(s) clicked")

    def wizard(self, entry, result):
        "Generator of the steps of a wizard, as window()"
        tabs = self.state()['tabs']
        self.page.evaluate(OPEN_MENU_JS, entry.db_id)
        yield 'open'
        state = self.state()
        if state['wizard_dialogs'] or state['wizard']:
            self.shoot(entry, 'wizard')
            label = self.page.evaluate(CANCEL_WIZARD_JS)
            if label is None:
                result.errors.append(
                    "open: the wizard shows no button to cancel it")
                return
            self.page.click('[data-crawl=cancel]', timeout=5000)
            yield f"cancel ({label})"
            # the dialog fades out
            self.page.wait_for_timeout(400)
            state = self.state()
            if state['wizard_dialogs'] or state['wizard']:
                result.errors.append(
                    f"cancel: the wizard is still open after {label}")
            else:
                result.notes.append(f"opened, cancelled with {label}")
        elif state['tabs'] > tabs:
            self.shoot(entry, 'wizard')
            result.notes.append(f"ended at once, opened \"{state['name']}\"")
        else:
            self.shoot(entry, 'wizard')
            result.notes.append("ended at once")

    def close(self):
        "Close every tab (and the dialog asking to save, if any)"
        state = self.state()
        if not state['tabs'] and not state['modals']:
            return
        self.page.evaluate(CLOSE_TABS_JS)
        self.wait_idle()
        for _ in range(3):
            state = self.state()
            if not state['tabs'] and not state['modals']:
                return
            # "This record has been modified": "No" (the crawler changes
            # nothing, but an on_change may have)
            no = self.page.locator('.modal.in .modal-footer .btn-default')
            if no.count():
                no.first.click()
            self.page.wait_for_timeout(400)
            self.page.evaluate(CLOSE_TABS_JS)
            self.wait_idle()
        raise Stuck(f"{state['tabs']} tab(s) and {state['modals']} "
            "dialog(s) stay open")

    # --- reports over JSON-RPC -----------------------------------------

    def report(self, entry):
        result = Result(self.language, entry, self.name(entry))
        start = time.monotonic()
        if not entry.model:
            result.status = 'SKIP'
            result.notes.append("skipped: no model (run by a wizard)")
            return result
        try:
            records = self.rpc(f'model.{entry.model}.search_read', [], 0,
                1, None, ['rec_name'], self.context)
        except Exception as e:
            result.status = 'FAIL'
            result.errors.append(f"no record read: {e}")
            return result
        if not records:
            result.status = 'SKIP'
            result.notes.append(f"skipped: no record of {entry.model}")
            return result
        record = records[0]
        data = {'model': entry.model, 'id': record['id'],
            'ids': [record['id']], 'action_id': entry.db_id}
        try:
            extension, content, _, name = self.rpc(
                f'report.{entry.report_name}.execute', [record['id']],
                data, self.context)
        except Exception as e:
            # a report run without the data of its wizard (over RPC, from
            # a print button) must still print, not fail
            result.status = 'FAIL'
            result.errors.append(str(e).splitlines()[0][:300])
        else:
            if isinstance(content, dict):  # bytes in Tryton's JSON
                content = content.get('base64', '')
            if not content:
                result.status = 'FAIL'
                result.errors.append(
                    f"empty {extension} for {record['rec_name']}")
            else:
                result.notes.append(
                    f"{name}.{extension} of {record['rec_name']}")
        result.seconds = time.monotonic() - start
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lang', action='append', choices=LANGUAGES,
        help="a language to crawl (repeatable; default: all)")
    parser.add_argument('--match', help="crawl only the entries whose XML "
        "id or English name holds this text")
    parser.add_argument('--sequential', action='store_true',
        help="crawl the languages one after the other")
    parser.add_argument('--url', help="crawl the demo served there (make "
        "serve) instead of starting a server")
    args = parser.parse_args()
    browser.check_browser()
    languages = args.lang or LANGUAGES
    start = time.monotonic()
    server = contextlib.nullcontext(args.url.rstrip('/')) if args.url else (
        demo_server())
    with server as url:
        rpc = RPC(url)
        rpc.login('admin', admin_password())
        context = rpc('model.res.user.get_preferences', True, {})
        entries = discover(rpc, dict(context, language='en'))
        if args.match:
            match = args.match.lower()
            entries = [e for e in entries if match in e.xml_id.lower()
                or match in e.name.lower()]
            if not entries:
                fail(f"no menu entry nor report matches {args.match!r}.")
        else:
            for language in languages:
                shutil.rmtree(browser.SCREENSHOTS / CRAWL / language,
                    ignore_errors=True)
        kinds = [e.kind for e in entries]
        print(f"crawling {kinds.count('window')} window action(s), "
            f"{kinds.count('wizard')} wizard(s) and "
            f"{kinds.count('report')} report(s) of "
            f"{', '.join(modules())} in {', '.join(languages)}", flush=True)
        switch = Languages(rpc)
        crawlers = [Crawler(url, language, switch, entries)
            for language in languages]
        try:
            if args.sequential:
                for crawler in crawlers:
                    crawler.run()
            else:
                # daemons: Ctrl-C stops the run
                threads = [threading.Thread(target=crawler.run,
                        name=crawler.language, daemon=True)
                    for crawler in crawlers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        finally:
            switch.restore()
    summary(crawlers, languages, time.monotonic() - start)


def summary(crawlers, languages, seconds):
    results = [r for c in crawlers for r in c.results]
    broken = [r for r in results if r.status == 'FAIL']
    skipped = [r for r in results if r.status == 'SKIP']
    print()
    for language in languages:
        mine = [r for r in results if r.language == language]
        counts = {s: sum(r.status == s for r in mine)
            for s in ['OK', 'FAIL', 'SKIP']}
        print(f"[{language}] {len(mine)} screen(s) and report(s): "
            f"{counts['OK']} OK, {counts['FAIL']} broken, "
            f"{counts['SKIP']} skipped")
    for result in skipped:
        print(result.line())
    print(f"crawled in {seconds:.1f}s; screenshots in "
        f"{(browser.SCREENSHOTS / CRAWL).relative_to(ROOT)}/")
    stopped = [c.language for c in crawlers
        if len(c.results) < len(c.entries)]
    if broken or stopped:
        print(f"\n{len(broken)} broken screen(s) or report(s):")
        for result in broken:
            print(f"  {result.line()}")
        for language in stopped:
            print(f"  [{language}] the pass stopped before the end: see "
                "above")
        sys.exit(1)
    print("web-client crawl passed")


if __name__ == '__main__':
    main()

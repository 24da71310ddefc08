#!/usr/bin/env python3
"""Run the tests of every suite module, each in its own process.

    .venv/bin/python scripts/run_tests.py [--modules "a b"] [-k PATTERN]

For each module (dependencies first) it runs with unittest
tests.test_module, tests.test_scenario, any other tests/test_*.py and the
tests of the packages shipped inside the module (e.g. the IoT agent), so
the scenario doctests that load_tests adds run too (pytest would skip
them). It ends with one line
"N passed, N failed[, N skipped]" and exits non-zero on any failure or
when no test ran.

Databases: SQLite in memory unless TRYTOND_DATABASE__URI is set.
Activated databases are cached in var/dbcache/<hash of addons sources>
(DB_CACHE), so a schema change never reuses a stale cache.
"""
import argparse
import concurrent.futures
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import (
    ADDONS,
    TEST_ID_KEY,
    SuiteError,
    db_cache_dir,
    fail,
    select_modules,
)

TEST_FILES = ['test_module', 'test_scenario']
SLOWEST = int(os.environ.get('SLOWEST', 8))


def child(module, pattern, result_file, verbosity):
    "Run the tests of one module in this process, write counts as JSON"
    names = [f'trytond.modules.{module}.tests.{n}'
        for n in test_files(module)]
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromNames(names)
    for project in subprojects(module):
        suite.addTests(loader.discover(
                str(project / 'tests'), top_level_dir=str(project)))
    if pattern:
        suite = _filter(suite, pattern)
    runner = unittest.TextTestRunner(verbosity=verbosity, stream=sys.stdout,
        resultclass=TimedResult)
    result = runner.run(suite)
    print_slowest(result.durations)
    # a test whose subtests fail is one failed test
    failed = {getattr(test, 'test_case', test).id()
        for test, _ in result.failures + result.errors}
    counts = {
        'run': result.testsRun,
        'failed': len(failed) + len(result.unexpectedSuccesses),
        'skipped': len(result.skipped),
        }
    counts['passed'] = counts['run'] - counts['failed'] - counts['skipped']
    Path(result_file).write_text(json.dumps(counts))


class TimedResult(unittest.TextTestResult):
    "Records how long each test took, to show where CI time goes"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._started, test.id()))


def print_slowest(durations, count=SLOWEST):
    if not durations:
        return
    print(f"Slowest {min(count, len(durations))} of {len(durations)}:")
    for seconds, name in sorted(durations, reverse=True)[:count]:
        print(f"  {seconds:7.1f}s  {name}")


def test_files(module):
    """test_module, test_scenario, then any other tests/test_*.py

    Each is loaded with unittest, so load_tests (the scenario doctests) is
    honoured.
    """
    found = sorted(p.stem for p in (ADDONS / module / 'tests').glob(
            'test_*.py'))
    return ([n for n in TEST_FILES if n in found]
        + [n for n in found if n not in TEST_FILES])


def subprojects(module):
    """Packages shipped inside a module that trytond does not load

    e.g. the IoT box agent (addons/iot_devices/agent): a pyproject.toml
    and a tests/ folder of plain unittest tests.
    """
    return sorted(p.parent for p in (ADDONS / module).glob('*/pyproject.toml')
        if (p.parent / 'tests').is_dir())


def _filter(suite, pattern):
    "Keep tests whose id matches pattern (substring or glob)"
    if not any(c in pattern for c in '*?['):
        pattern = f'*{pattern}*'
    kept = unittest.TestSuite()
    for test in _iter(suite):
        if fnmatch.fnmatchcase(test.id(), pattern) or fnmatch.fnmatchcase(
                str(test), pattern):
            kept.addTest(test)
    return kept


def _iter(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _iter(test)
        else:
            yield test


def prepare_env():
    env = dict(os.environ)
    env.setdefault('TRYTOND_MEMBER__ID_KEY', TEST_ID_KEY)
    env.setdefault('TRYTOND_DATABASE__URI', 'sqlite://')
    if 'DB_CACHE' not in env:
        env['DB_CACHE'] = str(db_cache_dir())
    env['PYTHONUNBUFFERED'] = '1'
    return env


def _drop_database(uri, name):
    "Drop a PostgreSQL test database left by a module run"
    code = (
        'import sys, psycopg\n'
        'uri, name = sys.argv[1], sys.argv[2]\n'
        'with psycopg.connect(uri.rstrip("/") + "/postgres",'
        ' autocommit=True) as conn:\n'
        '    conn.execute("DROP DATABASE IF EXISTS \\"%s\\"" % name)\n')
    subprocess.run([sys.executable, '-c', code, uri, name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_module(module, args, env, output):
    """Run the tests of module in a child process writing to output (None:
    this process's stdout), return (counts, summary line)"""
    uri = env['TRYTOND_DATABASE__URI']
    start = time.monotonic()
    module_env = dict(env)
    if uri.startswith('postgresql'):
        module_env['DB_NAME'] = f'test_{module}_{int(time.time())}'
    with tempfile.NamedTemporaryFile(suffix='.json') as result:
        cmd = [sys.executable, os.path.abspath(__file__),
            '--child', module, '--result', result.name]
        if args.tests:
            cmd += ['--tests', args.tests]
        if args.verbose:
            cmd.append('--verbose')
        returncode = subprocess.call(cmd, env=module_env,
            stdout=output, stderr=subprocess.STDOUT if output else None)
        try:
            counts = json.loads(Path(result.name).read_text())
        except (OSError, ValueError):
            counts = None
    if 'DB_NAME' in module_env:
        _drop_database(uri, module_env['DB_NAME'])
    if counts is None:
        counts = {'passed': 0, 'failed': 1, 'skipped': 0}
        note = f" (test process died, exit code {returncode})"
    elif returncode and not counts['failed']:
        counts['failed'] = 1
        note = f" (test process exit code {returncode})"
    else:
        note = ''
    line = (f"{module}: {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['skipped']} skipped "
        f"in {time.monotonic() - start:.1f}s{note}")
    return counts, line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--modules', default=os.environ.get('MODULES', ''),
        help="space separated modules to test (default: all)")
    parser.add_argument('-k', '--tests', default=os.environ.get('TESTS', ''),
        help="only tests whose id matches this substring or glob")
    parser.add_argument('-v', '--verbose', action='store_true',
        default=bool(os.environ.get('VERBOSE')))
    parser.add_argument('-j', '--jobs', type=int,
        default=int(os.environ.get('TEST_JOBS') or 1),
        help="modules tested at once (default 1)")
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args()
    verbosity = 2 if args.verbose else 1

    if args.child:
        child(args.child, args.tests, args.result, verbosity)
        return

    try:
        modules = select_modules(args.modules)
    except SuiteError as e:
        fail(str(e))
    if not modules:
        print("No suite module found (addons/*/tryton.cfg).")
    env = prepare_env()
    backend = env['TRYTOND_DATABASE__URI'].split(':', 1)[0]
    jobs = f", {args.jobs} at once" if args.jobs > 1 else ''
    print(f"Testing {len(modules)} module(s) on {backend}{jobs}: "
        f"{' '.join(modules)}", flush=True)

    start_all = time.monotonic()
    if args.jobs > 1:
        # Each module activates only its own modules, so no two children
        # build the same cached database; the modules on top (the most
        # tests) start first
        order = list(reversed(modules))
        done = threading.Lock()

        def job(module):
            with tempfile.TemporaryFile('w+') as output:
                result = run_module(module, args, env, output)
                output.seek(0)
                with done:
                    print(f"\n=== {module}", flush=True)
                    sys.stdout.write(output.read())
                    print(f"--- {result[1]}", flush=True)
            return result
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as executor:
            results = dict(zip(order, executor.map(job, order)))
    else:
        results = {}
        for index, module in enumerate(modules, 1):
            print(f"\n=== [{index}/{len(modules)}] {module}", flush=True)
            results[module] = run_module(module, args, env, None)
            print(f"--- {results[module][1]}", flush=True)
    totals = {'passed': 0, 'failed': 0, 'skipped': 0}
    lines = []
    for module in modules:
        counts, line = results[module]
        for key in totals:
            totals[key] += counts[key]
        lines.append(line)

    print(f"\nSummary ({time.monotonic() - start_all:.1f}s):")
    for line in lines:
        print(f"  {line}")
    ran = sum(totals.values())
    if not ran:
        print("No test ran.")
    closing = f"{totals['passed']} passed, {totals['failed']} failed"
    if totals['skipped']:
        closing += f", {totals['skipped']} skipped"
    print(closing, flush=True)
    sys.exit(1 if totals['failed'] or not ran else 0)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Run the suite's benchmarks: every bench/bench_*.py module.

    .venv/bin/python bench/run.py [--scale small|full] [-k PATTERN]

A benchmark module exposes

    BACKENDS = ('sqlite',)            # optional: and/or 'postgresql'
    def run(scale, dsn) -> list[dict]

called once per backend. dsn is a database URI for trytond
(TRYTOND_DATABASE__URI): ``sqlite:///<dir>`` where the benchmark may
create SQLite databases (its path is trytond's [database] path), or
``postgresql://user@host:port/`` of a throwaway cluster (started once,
removed afterwards) or of TRYTOND_DATABASE__URI when that is set.
trytond_env(dsn) gives the environment for a trytond subprocess.

Each record is {"name", "dataset", "value", "unit", "baseline", "ratio"};
baseline and ratio may be None. The table is printed and written with
the run's context to var/bench/results.json.
"""
import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / 'scripts'))
import pgcluster
from suite import TEST_ID_KEY, VAR, db_cache_dir, fail

RESULTS = VAR / 'bench' / 'results.json'
FIELDS = ['name', 'dataset', 'value', 'unit', 'baseline', 'ratio']
SCALES = ['small', 'full']
# trytond's DB_CACHE per dsn: the benchmarks start from a copy of the
# activated modules instead of activating them again
DB_CACHES = {}


def trytond_env(dsn, environ=None):
    "Environment variables for a trytond process using dsn"
    env = dict(os.environ if environ is None else environ)
    env.setdefault('TRYTOND_MEMBER__ID_KEY', TEST_ID_KEY)
    parts = urllib.parse.urlparse(dsn)
    if parts.scheme == 'sqlite':
        env['TRYTOND_DATABASE__URI'] = 'sqlite://'
        env['TRYTOND_DATABASE__PATH'] = parts.path
    else:
        env['TRYTOND_DATABASE__URI'] = dsn
    if dsn in DB_CACHES:
        env['DB_CACHE'] = DB_CACHES[dsn]
    return env


def drop_database(name):
    "Drop the database name if it exists: each run starts from a new one"
    from trytond import backend
    from trytond.tests import test_tryton
    if test_tryton.db_exist(name):
        database = backend.Database()
        database.connect()
        connection = database.get_connection(autocommit=True)
        try:
            database.drop(connection, name)
        finally:
            database.put_connection(connection)
            database.close()


def discover(pattern=None):
    modules = []
    for path in sorted(BENCH.glob('bench_*.py')):
        name = path.stem
        if pattern and pattern not in name:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        if not callable(getattr(module, 'run', None)):
            fail(f"{path.relative_to(ROOT)} has no run(scale, dsn) "
                "function.")
        modules.append(module)
    return modules


@contextlib.contextmanager
def databases(backends):
    "Yield {backend: dsn} for the backends needed"
    dsns = {}
    with contextlib.ExitStack() as stack:
        if 'sqlite' in backends:
            path = VAR / 'bench' / 'sqlite'
            path.mkdir(parents=True, exist_ok=True)
            dsns['sqlite'] = f'sqlite://{path}'
            DB_CACHES[dsns['sqlite']] = str(db_cache_dir())
        if 'postgresql' in backends:
            uri, throwaway = stack.enter_context(pgcluster.cluster())
            dsns['postgresql'] = uri
            if throwaway:
                DB_CACHES[uri] = pgcluster.db_cache(throwaway)
        yield dsns


def check_record(record, module):
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"{module.__name__} returned a record without "
            f"{', '.join(missing)}: {record!r}")


def fmt(value):
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)


def print_table(rows):
    headers = ['benchmark', 'backend'] + FIELDS
    table = [[fmt(r.get(h if h != 'benchmark' else 'module'))
            for h in headers] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in table])
        for i, h in enumerate(headers)]
    line = '  '.join(h.ljust(w) for h, w in zip(headers, widths))
    print(line.rstrip())
    print('  '.join('-' * w for w in widths))
    for row in table:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if not rows:
        print("(no result)")


def git_commit():
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT,
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale',
        default=os.environ.get('BENCH_SCALE') or 'full')
    parser.add_argument('-k', dest='pattern',
        default=os.environ.get('BENCH_ONLY'),
        help="only benchmark modules whose name contains this")
    args = parser.parse_args()
    if args.scale not in SCALES:
        fail(f"BENCH_SCALE={args.scale} is unknown: use "
            f"{' or '.join(SCALES)}.")

    modules = discover(args.pattern)
    print(f"Benchmarks at scale {args.scale}: "
        f"{', '.join(m.__name__ for m in modules) or 'none'}", flush=True)
    rows, failed = [], []
    start_all = time.monotonic()
    backends = {b for m in modules for b in getattr(m, 'BACKENDS', ['sqlite'])}
    with databases(backends) as dsns:
        for module in modules:
            for backend in getattr(module, 'BACKENDS', ['sqlite']):
                print(f"--- {module.__name__} on {backend}", flush=True)
                start = time.monotonic()
                try:
                    records = module.run(args.scale, dsns[backend]) or []
                    for record in records:
                        check_record(record, module)
                except Exception:
                    traceback.print_exc()
                    failed.append(f'{module.__name__} ({backend})')
                    continue
                for record in records:
                    rows.append(dict(record, module=module.__name__,
                            backend=backend))
                print(f"    {len(records)} result(s) in "
                    f"{time.monotonic() - start:.1f}s", flush=True)

    print()
    if not modules:
        print("No benchmark yet: add bench/bench_<name>.py modules "
            "(see bench/README.md).")
    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
                'date': dt.datetime.now(dt.timezone.utc).isoformat(
                    timespec='seconds'),
                'scale': args.scale,
                'commit': git_commit(),
                'machine': {
                    'cpus': os.cpu_count(),
                    'python': platform.python_version(),
                    'platform': platform.platform(),
                    },
                'duration': round(time.monotonic() - start_all, 1),
                'failed': failed,
                'results': rows,
                }, indent=2, default=str) + '\n')
    print(f"\nresults written to {RESULTS.relative_to(ROOT)}")
    if failed:
        fail(f"benchmark(s) failed: {', '.join(failed)}.")


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Facts about the suite shared by the Makefile and the other scripts.

Standard library only: it runs before the virtual environment exists.

    python3 scripts/suite.py modules      # suite modules, dependencies first
    python3 scripts/suite.py addons       # addons/* dirs with a pyproject
    python3 scripts/suite.py hash         # hash of the addons' sources
"""
import configparser
import hashlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ROOT / 'addons'
VAR = ROOT / 'var'
DEMO = ROOT / 'demo'
VENV = ROOT / '.venv'

# Fixed key for tests only: the demo and production use a generated one.
TEST_ID_KEY = 'dGVzdC1rZXktZm9yLW1lbWJlci1pZHMtMDAwMDAwMDA='

_SKIP_DIRS = {'__pycache__', 'build', 'node_modules', '.git'}


class SuiteError(Exception):
    "A configuration problem explained in one sentence"


def fail(message):
    "Stop with one clear sentence instead of a traceback"
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def _list(value):
    return [v.strip() for v in value.replace(',', '\n').splitlines()
        if v.strip()]


def read_cfg(module_dir):
    parser = configparser.ConfigParser()
    parser.read(module_dir / 'tryton.cfg', encoding='utf-8')
    section = parser['tryton'] if parser.has_section('tryton') else {}
    return {
        'depends': _list(section.get('depends', '')),
        'extras_depend': _list(section.get('extras_depend', '')),
        }


def addon_dirs():
    """Directories under addons/ to pip install

    Only modules: with tryton.cfg, as trytond fails to start when an
    installed module has none; plus the packages shipped inside a module
    (the IoT box agent), which the module requires and PyPI does not hold.
    """
    if not ADDONS.is_dir():
        return []
    modules = [p for p in ADDONS.iterdir()
        if (p / 'pyproject.toml').is_file() and (p / 'tryton.cfg').is_file()]
    return sorted(modules + [p.parent for m in modules
            for p in m.glob('*/pyproject.toml')])


def modules():
    """Suite modules (addons/*/tryton.cfg) in activation order

    A module comes after every suite module it depends on (extras too);
    ties are broken by name so the order is stable.
    """
    infos = {}
    if ADDONS.is_dir():
        for cfg in sorted(ADDONS.glob('*/tryton.cfg')):
            infos[cfg.parent.name] = read_cfg(cfg.parent)
    deps = {
        name: {d for d in info['depends'] + info['extras_depend']
            if d in infos and d != name}
        for name, info in infos.items()}
    ordered, done = [], set()
    while len(ordered) < len(deps):
        ready = sorted(n for n, d in deps.items()
            if n not in done and d <= done)
        if not ready:
            cycle = sorted(set(deps) - done)
            raise SuiteError(
                "The modules %s depend on each other in a cycle."
                % ', '.join(cycle))
        ordered.extend(ready)
        done.update(ready)
    return ordered


def select_modules(wanted=None):
    "The suite modules restricted to wanted (space/comma separated)"
    available = modules()
    if not wanted:
        return available
    names = _list(wanted.replace(' ', '\n'))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SuiteError(
            "Unknown module %s: the suite has %s."
            % (', '.join(unknown), ', '.join(available) or 'no module'))
    return [m for m in available if m in names]


def db_cache_dir():
    """The directory of trytond's database caches (DB_CACHE) for the
    current sources; caches of older sources are removed"""
    cache_root = VAR / 'dbcache'
    current = source_hash()
    if cache_root.is_dir():
        for old in cache_root.iterdir():
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)
    cache = cache_root / current
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def source_hash():
    "Hash of every source file of the addons, to key database caches"
    digest = hashlib.sha256()
    try:
        from importlib.metadata import version
        digest.update(version('trytond').encode())
    except Exception:
        pass
    if ADDONS.is_dir():
        for dirpath, dirnames, filenames in os.walk(ADDONS):
            dirnames[:] = sorted(d for d in dirnames
                if d not in _SKIP_DIRS and not d.endswith('.egg-info'))
            for filename in sorted(filenames):
                if filename.endswith(('.pyc', '.pyo', '.swp', '~')):
                    continue
                path = Path(dirpath, filename)
                digest.update(str(path.relative_to(ADDONS)).encode())
                digest.update(b'\0')
                try:
                    digest.update(path.read_bytes())
                except OSError:
                    pass
                digest.update(b'\0')
    return digest.hexdigest()[:16]


def main(argv):
    command = argv[1] if len(argv) > 1 else 'modules'
    try:
        if command == 'modules':
            print(' '.join(modules()))
        elif command == 'addons':
            print(' '.join(str(p.relative_to(ROOT)) for p in addon_dirs()))
        elif command == 'hash':
            print(source_hash())
        else:
            fail(f"unknown command {command!r}: use modules, addons or hash.")
    except SuiteError as e:
        fail(str(e))


if __name__ == '__main__':
    main(sys.argv)

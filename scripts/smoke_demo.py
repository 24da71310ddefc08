#!/usr/bin/env python3
"""Smoke test of the demo server (after make demo-db).

Starts trytond on a free port with var/trytond.conf, logs in over
JSON-RPC as admin, reads parties and programmes (when the model exists),
checks that GET / serves the sao page, then stops the server.

    .venv/bin/python scripts/smoke_demo.py [--keep-running]

As a library: ``with demo_server() as url: ...`` (used by the browser
smoke test).
"""
import argparse
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import VAR, fail

CONF = VAR / 'trytond.conf'
DB_NAME = 'demo'
BIN = Path(sys.executable).parent


def admin_password():
    try:
        return (VAR / 'admin.password').read_text().strip()
    except OSError:
        fail("var/admin.password is missing: run make demo-db first.")


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def demo_server(timeout=90):
    "Serve the demo database on a free port, yield its base URL"
    if not CONF.exists() or not (VAR / f'{DB_NAME}.sqlite').exists():
        fail("the demo database is missing: run make demo-db first.")
    port = free_port()
    lines = []
    for line in CONF.read_text().splitlines():
        if line.strip().startswith('listen'):
            line = f'listen = 127.0.0.1:{port}'
        lines.append(line)
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, 'trytond.conf')
        conf.write_text('\n'.join(lines) + '\n')
        log_path = VAR / 'smoke-trytond.log'
        with open(log_path, 'w') as log:
            # the pool is loaded at start, see demo.server_env()
            server = subprocess.Popen(
                [str(BIN / 'trytond'), '-c', str(conf)],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, TRYTOND_DATABASE_NAMES=DB_NAME))
        url = f'http://127.0.0.1:{port}'
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    sys.stderr.write(log_path.read_text()[-3000:])
                    fail(f"trytond stopped at start (exit code "
                        f"{server.returncode}): see {log_path}.")
                try:
                    with socket.create_connection(('127.0.0.1', port), 1):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    fail(f"trytond did not listen on port {port} within "
                        f"{timeout}s: see {log_path}.")
                time.sleep(0.3)
            print(f"trytond serving {url} (pid {server.pid})", flush=True)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


class RPC:
    "Minimal JSON-RPC client of trytond"

    def __init__(self, url, database=DB_NAME):
        self.url = f'{url}/{database}/rpc/'
        self.auth = None
        self.id = 0

    def __call__(self, method, *params):
        self.id += 1
        body = json.dumps({
                'id': self.id, 'method': method, 'params': list(params)})
        headers = {'Content-Type': 'application/json'}
        if self.auth:
            headers['Authorization'] = self.auth
        request = urllib.request.Request(
            self.url, data=body.encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)
        if result.get('error'):
            raise RuntimeError(f"{method}: {result['error']}")
        return result['result']

    def login(self, login, password):
        user_id, session = self('common.db.login', login,
            {'password': password}, 'en')[:2]
        token = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.auth = f'Session {token}'
        return user_id


def smoke(url):
    rpc = RPC(url)
    user_id = rpc.login('admin', admin_password())
    print(f"login: admin is user {user_id}")
    context = rpc('model.res.user.get_preferences', True, {})
    parties = rpc('model.party.party.search_read', [], 0, 5, None,
        ['rec_name'], context)
    print(f"party.party: read {len(parties)} record(s)")
    models = rpc('model.ir.model.search_read',
        [('name', '=', 'member.programme')], 0, 1, None, ['name'],
        context)
    if models:
        programmes = rpc('model.member.programme.search_read', [], 0, 5,
            None, ['rec_name'], context)
        print(f"member.programme: read {len(programmes)} record(s)")
    else:
        print("member.programme: model absent, not read")

    with urllib.request.urlopen(f'{url}/', timeout=30) as response:
        page = response.read().decode('utf-8', 'replace')
    if 'tryton-sao' not in page:
        fail("GET / does not serve the sao web client: run make sao.")
    for asset in ['dist/tryton-sao.js', 'node_modules/jquery/dist/jquery.js']:
        try:
            with urllib.request.urlopen(f'{url}/{asset}', timeout=30) as r:
                r.read()
        except urllib.error.HTTPError as e:
            fail(f"sao asset {asset} is not served ({e.code}): "
                "run make sao.")
    print("GET /: sao page and assets served")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep-running', action='store_true')
    args = parser.parse_args()
    start = time.monotonic()
    with demo_server() as url:
        smoke(url)
        if args.keep_running:
            print("Ctrl-C stops the server")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    print(f"demo smoke passed in {time.monotonic() - start:.1f}s")


if __name__ == '__main__':
    main()

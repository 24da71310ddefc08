#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests and benchmarks.

    python3 scripts/pgcluster.py run -- COMMAND...

runs COMMAND with TRYTOND_DATABASE__URI pointing to PostgreSQL:
the URI already in the environment if set (checked first), otherwise a
new cluster under var/pgtest/ made with Debian's binaries, started on a
free port of 127.0.0.1 and removed afterwards, also on failure.

From Python: ``with pgcluster.cluster() as uri: ...``.
Standard library only.
"""
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import VAR, fail

BASE = VAR / 'pgtest'
PG_USER = 'postgres'


def bindir():
    "Directory of the newest installed PostgreSQL server binaries"
    candidates = []
    for path in glob.glob('/usr/lib/postgresql/*/bin'):
        version = Path(path).parent.name
        if os.path.exists(os.path.join(path, 'initdb')):
            try:
                key = tuple(int(x) for x in version.split('.'))
            except ValueError:
                key = (0,)
            candidates.append((key, path))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which('initdb')
    if initdb:
        return os.path.dirname(initdb)
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _ensure_user():
    "initdb refuses root: the cluster runs as the postgres user"
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(['useradd', '--system', '--no-create-home',
                '--shell', '/usr/sbin/nologin', PG_USER], check=True)
        return pwd.getpwnam(PG_USER)


def _as_user(cmd, user):
    if user is None:
        return cmd
    return ['runuser', '-u', user.pw_name, '--'] + cmd


def reachable(uri, timeout=5):
    "None if the server of uri accepts a connection, else the reason"
    parts = urllib.parse.urlparse(uri)
    host = parts.hostname
    port = parts.port or 5432
    if host and not host.startswith('/'):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as e:
            return f"{host}:{port} does not answer ({e.strerror or e})"
    pg_isready = shutil.which('pg_isready') or (
        os.path.join(bindir(), 'pg_isready') if bindir() else None)
    if pg_isready:
        cmd = [pg_isready, '-t', str(timeout), '-d', 'postgres']
        if host:
            cmd += ['-h', host]
        cmd += ['-p', str(port)]
        if parts.username:
            cmd += ['-U', urllib.parse.unquote(parts.username)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            return (result.stdout or result.stderr).strip() or (
                "the server rejects connections")
    return None


def _remove_stale(base, bin_, user):
    "Remove clusters left by runs that were killed"
    for workdir in base.glob('cluster-*'):
        pidfile = workdir / 'data' / 'postmaster.pid'
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, 0)
            continue  # still running: another run uses it
        except (OSError, ValueError, IndexError):
            pass
        if time.time() - workdir.stat().st_mtime > 60:
            shutil.rmtree(workdir, ignore_errors=True)


def start(base=BASE):
    """Create and start a cluster, return (uri, handle)

    The handle is given back to stop().
    """
    bin_ = bindir()
    if not bin_:
        fail("PostgreSQL server binaries are missing: "
            "install them with 'apt-get install postgresql'.")
    user = _ensure_user() if os.geteuid() == 0 else None
    base.mkdir(parents=True, exist_ok=True)
    _remove_stale(base, bin_, user)
    workdir = Path(tempfile.mkdtemp(prefix='cluster-', dir=base))
    data, sockdir = workdir / 'data', workdir / 'sock'
    sockdir.mkdir()
    if user:
        # the postgres user must reach its directories through var/
        for path in [VAR, base]:
            path.chmod(path.stat().st_mode | 0o055)
        for path in [workdir, sockdir]:
            os.chown(path, user.pw_uid, user.pw_gid)
    superuser = user.pw_name if user else pwd.getpwuid(os.geteuid()).pw_name
    log = workdir / 'postgresql.log'
    env = dict(os.environ, LC_ALL='C.UTF-8', LANG='C.UTF-8')
    handle = {'workdir': workdir, 'data': data, 'user': user, 'bin': bin_,
        'env': env}
    try:
        subprocess.run(_as_user([os.path.join(bin_, 'initdb'),
                    '-D', str(data), '-U', superuser, '--auth=trust',
                    '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], user),
            check=True, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, cwd=workdir)
        for attempt in range(5):
            port = free_port()
            options = ' '.join([
                    f'-p {port}', f'-k {sockdir}',
                    "-c listen_addresses=127.0.0.1",
                    '-c fsync=off', '-c synchronous_commit=off',
                    '-c full_page_writes=off', '-c max_connections=100',
                    '-c jit=off',
                    ])
            result = subprocess.run(_as_user([
                        os.path.join(bin_, 'pg_ctl'), '-D', str(data),
                        '-l', str(log), '-o', options, '-w', '-t', '60',
                        'start'], user),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                cwd=workdir)
            if result.returncode == 0:
                break
        else:
            raise RuntimeError(
                "PostgreSQL did not start, see %s" % log)
    except BaseException:
        _remove(handle)
        raise
    handle['port'] = port
    uri = f'postgresql://{superuser}@127.0.0.1:{port}/'
    return uri, handle


def _remove(handle):
    shutil.rmtree(handle['workdir'], ignore_errors=True)
    try:
        handle['workdir'].parent.rmdir()
    except OSError:
        pass


def stop(handle):
    if handle['data'].exists():
        subprocess.run(_as_user([os.path.join(handle['bin'], 'pg_ctl'),
                    '-D', str(handle['data']), '-m', 'immediate', '-w',
                    'stop'], handle['user']),
            env=handle['env'], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=handle['workdir'])
    _remove(handle)


@contextlib.contextmanager
def cluster(base=BASE):
    """Yield a PostgreSQL URI and whether it is a throwaway cluster

    TRYTOND_DATABASE__URI wins when it points to PostgreSQL.
    """
    uri = os.environ.get('TRYTOND_DATABASE__URI', '')
    if uri.startswith('postgresql'):
        reason = reachable(uri)
        if reason:
            fail(f"TRYTOND_DATABASE__URI={uri} is unreachable: {reason}.")
        yield uri, False
        return
    uri, handle = start(base)
    try:
        yield uri, True
    finally:
        stop(handle)


def db_cache(throwaway):
    """trytond's DB_CACHE for a cluster: template databases on a throwaway
    one (they die with it, so they are never stale), else None"""
    return 'postgresql://' if throwaway else None


def run(command):
    "Run command against PostgreSQL and return its exit code"
    def terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    with cluster() as (uri, throwaway):
        env = dict(os.environ, TRYTOND_DATABASE__URI=uri)
        if throwaway:
            env.setdefault('DB_CACHE', db_cache(throwaway))
            print(f"PostgreSQL: throwaway cluster at {uri}", flush=True)
        else:
            print(f"PostgreSQL: {uri}", flush=True)
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 130


def main(argv):
    if len(argv) >= 2 and argv[1] == 'run':
        command = argv[2:]
        if command[:1] == ['--']:
            command = command[1:]
        if not command:
            fail("nothing to run: use pgcluster.py run -- COMMAND.")
        sys.exit(run(command))
    elif len(argv) >= 2 and argv[1] == 'bindir':
        print(bindir() or '')
    else:
        fail("usage: pgcluster.py run -- COMMAND.")


if __name__ == '__main__':
    main(sys.argv)

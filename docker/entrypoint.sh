#!/bin/sh
# Entry point of the member suite image.
#   server   WSGI server (gunicorn) for the clients and sao
#   cron     scheduled jobs (trytond-cron)
#   worker   queue tasks (trytond-worker)
#   admin    create or update the database with every suite module
#   anything else is run as is
# Configuration comes from TRYTOND_<SECTION>__<OPTION> environment
# variables; the database name from TRYTOND_DATABASE_NAMES.
set -eu

DB_NAME="${TRYTOND_DATABASE_NAMES:-tryton}"
export TRYTOND_DATABASE_NAMES="$DB_NAME"

fail() {
    echo "error: $*" >&2
    exit 2
}

[ -n "${TRYTOND_DATABASE__URI:-}" ] \
    || fail "TRYTOND_DATABASE__URI is not set: point it to PostgreSQL."
if [ -z "${TRYTOND_MEMBER__ID_KEY:-}" ] && [ -n "${MEMBER_ID_KEY:-}" ]; then
    export TRYTOND_MEMBER__ID_KEY="$MEMBER_ID_KEY"
fi
[ -n "${TRYTOND_MEMBER__ID_KEY:-}" ] || fail "MEMBER_ID_KEY is not set:" \
    "generate it once (python3 -c 'import base64, os;" \
    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())')," \
    "back it up and never store it in the database."

# wait for the database server, then make sure the database exists
python - <<'PY'
import os, sys, time
import psycopg

uri = os.environ['TRYTOND_DATABASE__URI'].rstrip('/')
name = os.environ['TRYTOND_DATABASE_NAMES']
timeout = int(os.environ.get('DB_WAIT_TIMEOUT', '120'))
deadline = time.monotonic() + timeout
while True:
    try:
        conn = psycopg.connect(uri + '/postgres', autocommit=True,
            connect_timeout=5)
        break
    except psycopg.OperationalError as e:
        if time.monotonic() > deadline:
            sys.exit(f"error: PostgreSQL is unreachable after {timeout}s: "
                f"{str(e).strip()}")
        print("waiting for PostgreSQL...", flush=True)
        time.sleep(2)
with conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
            (name,)).fetchone():
        try:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"database {name} created", flush=True)
        except psycopg.errors.DuplicateDatabase:
            pass  # created meanwhile by another service
PY

command="${1:-server}"
case "$command" in
    server)
        shift || true
        exec gunicorn --bind "${TRYTOND_WEB__LISTEN:-0.0.0.0:8000}" \
            --workers "${WEB_WORKERS:-2}" --threads "${WEB_THREADS:-4}" \
            --timeout "${WEB_TIMEOUT:-120}" "$@" trytond.application:app
        ;;
    cron)
        shift
        exec trytond-cron -d "$DB_NAME" "$@"
        ;;
    worker)
        shift
        exec trytond-worker -d "$DB_NAME" "$@"
        ;;
    admin)
        shift
        # shellcheck disable=SC2046
        exec trytond-admin -d "$DB_NAME" \
            -u $(cat /opt/suite/modules.txt) --activate-dependencies \
            -l zh_CN "$@"
        ;;
    *)
        exec "$@"
        ;;
esac

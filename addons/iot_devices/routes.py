# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Box ↔ server protocol (see README.rst)

The boxes are not Tryton users: they authenticate with their box key, so
these routes run as root (the default user of with_transaction) without
access checks. Each handler only reads or writes the authenticated box,
its devices and its print jobs, which is the narrow scope a box key
grants.
"""
import json
from functools import wraps
from http import HTTPStatus

from werkzeug.exceptions import abort

from trytond import backend
from trytond.protocols.wrappers import (
    Response,
    set_max_request_size,
    with_pool,
    with_transaction,
)
from trytond.wsgi import app

MAX_REQUEST_SIZE = 512 * 1024
DEVICE_STATES = {'ok', 'offline', 'error', 'unknown'}
JOB_STATES = {'printed', 'failed'}


def _response(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data), status=status, content_type='application/json')


def _abort(status, reason):
    abort(_response({'error': reason}, status))


def service_unavailable(func):
    "Turn lock conflicts into 503 so the box retries later"
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        try:
            return func(request, pool, *args, **kwargs)
        except backend.DatabaseOperationalError:
            return _response(
                {'error': "database busy, retry later"},
                HTTPStatus.SERVICE_UNAVAILABLE)
    return wrapper


def with_box(func):
    "Authenticate the box by its key from the Bearer authorization"
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        Box = pool.get('iot.box')
        scheme, _, key = request.headers.get(
            'Authorization', '').partition(' ')
        box = None
        if scheme.lower() == 'bearer':
            box = Box.from_key(key.strip())
        if box is None:
            _abort(HTTPStatus.UNAUTHORIZED, "unknown or revoked box key")
        return func(request, pool, box, *args, **kwargs)
    return wrapper


def _body(request):
    try:
        data = json.loads(request.get_data() or b'{}')
    except ValueError:
        _abort(HTTPStatus.BAD_REQUEST, "body: not JSON")
    if not isinstance(data, dict):
        _abort(HTTPStatus.BAD_REQUEST, "body: not an object")
    return data


def _string(data, key, path=None, required=False):
    value = data.get(key)
    path = path or key
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        _abort(HTTPStatus.BAD_REQUEST, f"{path}: not a string")
    return value


def _choice(data, key, choices, path=None):
    value = data.get(key)
    if value not in choices:
        _abort(
            HTTPStatus.BAD_REQUEST,
            f"{path or key}: not one of {', '.join(sorted(choices))}")
    return value


@app.route('/<database_name>/iot_devices/pair', methods={'POST'})
@set_max_request_size(MAX_REQUEST_SIZE)
@with_pool
@service_unavailable
@with_transaction(readonly=False)
def pair(request, pool):
    Box = pool.get('iot.box')
    data = _body(request)
    token = _string(data, 'token', required=True)
    hostname = _string(data, 'hostname')
    version = _string(data, 'version')
    result = Box.pair(token, hostname=hostname, version=version)
    if result is None:
        _abort(
            HTTPStatus.FORBIDDEN, "unknown, used or expired pairing token")
    box, key = result
    return _response({'box': box.id, 'name': box.name, 'key': key})


@app.route('/<database_name>/iot_devices/heartbeat', methods={'POST'})
@set_max_request_size(MAX_REQUEST_SIZE)
@with_pool
@service_unavailable
@with_transaction(readonly=False)
@with_box
def heartbeat(request, pool, box):
    data = _body(request)
    version = _string(data, 'version')
    devices = data.get('devices', [])
    if not isinstance(devices, list):
        _abort(HTTPStatus.BAD_REQUEST, "devices: not a list")
    reports = []
    for i, device in enumerate(devices):
        path = f'devices[{i}]'
        if not isinstance(device, dict):
            _abort(HTTPStatus.BAD_REQUEST, f"{path}: not an object")
        reports.append({
                'name': _string(
                    device, 'name', path=f'{path}.name', required=True),
                'state': _choice(
                    device, 'state', DEVICE_STATES, path=f'{path}.state'),
                'message': _string(
                    device, 'message', path=f'{path}.message'),
                })
    unknown = box.heartbeat(version, reports)
    result = {
        'ok': True,
        'time': box.last_heartbeat.isoformat() + 'Z',
        }
    if unknown:
        result['unknown'] = unknown
    return _response(result)


@app.route('/<database_name>/iot_devices/jobs', methods={'GET'})
@with_pool
@service_unavailable
@with_transaction(readonly=False)
@with_box
def jobs(request, pool, box):
    PrintJob = pool.get('iot.print.job')
    try:
        limit = int(request.args.get('limit', 10))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        _abort(HTTPStatus.BAD_REQUEST, "limit: not an integer from 1 to 100")
    return _response({'jobs': [{
                    'id': job.id,
                    'printer': job.printer.name,
                    'kind': job.kind,
                    'document': job.payload,
                    } for job in PrintJob.pull(box, limit=limit)]})


@app.route(
    '/<database_name>/iot_devices/jobs/<int:job_id>', methods={'POST'})
@set_max_request_size(MAX_REQUEST_SIZE)
@with_pool
@service_unavailable
@with_transaction(readonly=False)
@with_box
def acknowledge(request, pool, box, job_id):
    PrintJob = pool.get('iot.print.job')
    data = _body(request)
    state = _choice(data, 'state', JOB_STATES)
    error = _string(data, 'error')
    # Another box's job is reported as unknown to not reveal it exists
    jobs = PrintJob.search([
            ('id', '=', job_id),
            ('box', '=', box.id),
            ], limit=1)
    if not jobs:
        _abort(HTTPStatus.NOT_FOUND, f"job {job_id}: unknown")
    job, = jobs
    job.acknowledge(state, error=error)
    return _response({'ok': True})

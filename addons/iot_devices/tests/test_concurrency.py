# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Concurrent pulls of the print jobs of one box (PostgreSQL only: SQLite
serialises writers, so the row locks are never contended there)."""
import json
import threading
import time
import unittest

from werkzeug.test import Client

from trytond import backend
from trytond.modules.iot_devices.tests.test_iot import (
    RECEIPT,
    create_box,
    create_properties,
    printer_of,
)
from trytond.pool import Pool
from trytond.protocols.wrappers import Response
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app


def run(func):
    "Run func in a committed transaction, restarted to take its locks"
    extras = {}
    while True:
        try:
            with Transaction().start(DB_NAME, 0, **extras) as transaction:
                result = func()
                transaction.commit()
                return result
        except TransactionError as e:
            e.fix(extras)


def pull(key, limit):
    "GET jobs as the box does: return (status, job ids)"
    response = Client(app, Response).get(
        f'/{DB_NAME}/iot_devices/jobs?limit={limit}',
        headers={'Authorization': f'Bearer {key}'})
    data = json.loads(response.get_data())
    return response.status_code, [j['id'] for j in data.get('jobs', [])]


@unittest.skipUnless(backend.name == 'postgresql',
    "row locks are contended on PostgreSQL only")
class ConcurrentPullTestCase(unittest.TestCase):
    "Two pulls of the same box never hand out a job twice"

    @classmethod
    def setUpClass(cls):
        activate_module('iot_devices')

        def setup():
            property_, _ = create_properties()
            return property_.id
        cls.property_id = run(setup)

    @classmethod
    def tearDownClass(cls):
        # The tests committed: later test classes need a clean database
        drop_db()

    def create_jobs(self, count):
        "Commit a paired box with count queued jobs, return (key, job ids)"
        def setup():
            pool = Pool()
            Box = pool.get('iot.box')
            Property = pool.get('member.property')
            PrintJob = pool.get('iot.print.job')
            box = create_box(Property(self.property_id))
            _, key = Box.pair(box.new_pairing_token())
            printer = printer_of(box)
            return key, [PrintJob.queue(printer, RECEIPT).id
                for _ in range(count)]
        return run(setup)

    def jobs(self, ids):
        def read():
            PrintJob = Pool().get('iot.print.job')
            return [(j.state, j.attempts) for j in PrintJob.browse(ids)]
        return run(read)

    def test_locked_rows_answer_503(self):
        "A pull meeting rows locked by another pull gets 503, then the rest"
        key, ids = self.create_jobs(6)
        pulled, release = threading.Event(), threading.Event()
        first = []

        def hold():
            PrintJob = Pool().get('iot.print.job')
            box = PrintJob(ids[0]).box
            jobs = PrintJob.pull(box, limit=4)
            pulled.set()
            # keep the transaction and its row locks open
            release.wait(30)
            return [j.id for j in jobs]
        thread = threading.Thread(target=lambda: first.extend(run(hold)))
        thread.start()
        try:
            self.assertTrue(pulled.wait(30))
            status, second = pull(key, 10)
            self.assertEqual((status, second), (503, []))
        finally:
            release.set()
            thread.join(30)

        self.assertEqual(first, ids[:4])
        self.assertEqual(pull(key, 10), (200, ids[4:]))
        self.assertEqual(pull(key, 10), (200, []))
        self.assertEqual(self.jobs(ids), [('sent', 1)] * 6)

    def test_concurrent_pulls_hand_out_each_job_once(self):
        "Two boxes' worth of pulls race on one box until the queue is empty"
        key, ids = self.create_jobs(30)
        results = [[], []]
        errors = []

        def box(result):
            try:
                empty = 0
                while empty < 3:
                    status, pulled = pull(key, 3)
                    if status == 503:
                        # the box retries later, as the agent does
                        time.sleep(0.01)
                        continue
                    self.assertEqual(status, 200)
                    result.extend(pulled)
                    empty = empty + 1 if not pulled else 0
            except Exception as exception:
                errors.append(exception)
        threads = [threading.Thread(target=box, args=(r,)) for r in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

        self.assertEqual(errors, [])
        handed_out = results[0] + results[1]
        self.assertEqual(sorted(handed_out), ids)
        self.assertEqual(self.jobs(ids), [('sent', 1)] * 30)

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Concurrent postings on hot members (PostgreSQL only: SQLite serialises
writers). MEMBER_POINTS_RELIABILITY_OPS sets the number of operations
(20,000 by default) shared by 8 processes."""
import multiprocessing
import os
import random
import time
import unittest
from collections import Counter
from decimal import Decimal

from trytond import backend
from trytond.exceptions import UserError
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError

PROCESSES = 8
MEMBERS = 50


def run(func):
    "Run func in a transaction, retried like the dispatcher does"
    extras = {}
    for attempt in range(100):
        try:
            with Transaction().start(DB_NAME, 0, **extras) as transaction:
                result = func()
                transaction.commit()
                return result
        except TransactionError as e:
            e.fix(extras)
        except backend.DatabaseOperationalError:
            time.sleep(random.random() * 0.01 * (attempt + 1))
    raise RuntimeError("gave up after 100 attempts")


def work(worker, operations, member_ids, type_id, queue):
    Pool.start()
    Pool(DB_NAME).init()
    rng = random.Random(worker)
    stats = Counter()
    history = []
    earned_sources = []

    def call(operation, args):
        def func():
            pool = Pool()
            Ledger = pool.get('member.point.ledger')
            Party = pool.get('party.party')
            PointType = pool.get('member.point.type')
            member, type_ = Party(args['member']), PointType(type_id)
            if operation == 'earn':
                return Ledger.earn(member, type_, args['quantity'],
                    args['key'], source=args['source']).id
            elif operation == 'redeem':
                return Ledger.redeem(member, type_, args['quantity'],
                    args['key']).id
            else:
                return [p.id for p in Ledger.reverse(
                            args['source'], args['key'])]
        try:
            return run(func)
        except UserError:
            stats[f'{operation} refused'] += 1
            return 'refused'

    for i in range(operations):
        draw = rng.random()
        if history and draw < 0.1:
            # A client retrying with the same key gets the same answer
            operation, args, result = rng.choice(history)
            if operation != 'reverse':
                replayed = call(operation, args)
                if result != 'refused' and replayed != result:
                    stats['replay mismatch'] += 1
                stats['replay'] += 1
            continue
        member = rng.choice(member_ids)
        key = f'w{worker}:{i}'
        if draw < 0.55:
            source = f'party.party,{10_000_000 + worker * 1_000_000 + i}'
            args = {'member': member, 'key': key, 'source': source,
                'quantity': Decimal(rng.randint(1, 100))}
            operation = 'earn'
            earned_sources.append((member, source))
        elif draw < 0.9 or not earned_sources:
            args = {'member': member, 'key': key,
                'quantity': Decimal(rng.randint(1, 80))}
            operation = 'redeem'
        else:
            member, source = rng.choice(earned_sources)
            args = {'member': member, 'key': key, 'source': source}
            operation = 'reverse'
        result = call(operation, args)
        history.append((operation, args, result))
        stats[operation] += 1
    queue.put(dict(stats))


@unittest.skipUnless(backend.name == 'postgresql',
    "concurrent postings need PostgreSQL")
class ReliabilityTestCase(unittest.TestCase):
    "Concurrent postings keep every balance equal to its lines"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    @classmethod
    def tearDownClass(cls):
        # The workers committed: later test classes need a clean database
        drop_db()

    def setup_fixture(self):
        def func():
            PointType = Pool().get('member.point.type')
            programme = create_programme(code='HOT')
            members = create_members(
                programme, [f"Hot {i}" for i in range(MEMBERS)])
            type_ = PointType(programme=programme, name="Points",
                code='P')
            type_.save()
            return [m.id for m in members], type_.id
        return run(func)

    def test_concurrent_postings(self):
        "8 processes post earn/redeem/reverse on 50 hot members"
        operations = int(os.environ.get(
                'MEMBER_POINTS_RELIABILITY_OPS', 20_000))
        member_ids, type_id = self.setup_fixture()
        context = multiprocessing.get_context('spawn')
        queue = context.Queue()
        processes = [context.Process(target=work, args=(
                    n, operations // PROCESSES, member_ids, type_id, queue))
            for n in range(PROCESSES)]
        for process in processes:
            process.start()
        stats = Counter()
        for _ in processes:
            stats.update(queue.get(timeout=3600))
        for process in processes:
            process.join()
            self.assertEqual(process.exitcode, 0)
        self.assertEqual(stats['replay mismatch'], 0)
        self.assertGreater(stats['earn'], 0)
        self.assertGreater(stats['reverse'], 0)
        self.assertGreater(stats['replay'], 0)

        def check():
            pool = Pool()
            Account = pool.get('member.point.account')
            Posting = pool.get('member.point.posting')
            Line = pool.get('member.point.line')
            Lot = pool.get('member.point.lot')
            self.assertEqual(Account.check_balances(), [])
            accounts = Account.search([('type', '=', type_id)])
            self.assertTrue(accounts)
            for account in accounts:
                self.assertGreaterEqual(account.balance, 0)
                open_lots = Lot.search([
                        ('account', '=', account.id),
                        ('state', '=', 'open')])
                self.assertEqual(
                    sum(lot.remaining for lot in open_lots), account.balance)
            earn_postings = Posting.search([('operation', '=', 'earn')])
            self.assertEqual(
                len(earn_postings), stats['earn'] - stats['earn refused'])
            earn_lines = Line.search([('kind', '=', 'earn')])
            self.assertEqual(len(earn_lines), len(earn_postings))
            reversed_ = Posting.search([('reversal_of', '!=', None)])
            self.assertEqual(
                len(reversed_), len({p.reversal_of for p in reversed_}))
        run(check)

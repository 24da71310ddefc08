# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Batch earning: Ledger.earn_many posts as earn does, set-based."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.member_points.exceptions import (
    IdempotencyError,
    PostingError,
)
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

TODAY = dt.date.today()
D = Decimal

POSTING_FIELDS = ['operation', 'date', 'source', 'description', 'user']
LINE_FIELDS = ['kind', 'quantity', 'date', 'available_date', 'expiry_date',
    'property', 'unrecovered', 'reversal_of']
LOT_FIELDS = ['quantity', 'remaining', 'date', 'available_date',
    'expiry_date', 'state']
ACCOUNT_FIELDS = ['balance', 'held', 'lifetime_earned', 'pending',
    'available']


def day(offset):
    return TODAY + dt.timedelta(days=offset)


class BatchTestCase(unittest.TestCase):
    "Test batch earning"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_members(self, names=("Ann", "Bob", "Carl", "Dan", "Eve")):
        "Return the members, a property and two point types"
        pool = Pool()
        PointType = pool.get('member.point.type')
        Property = pool.get('member.property')
        programme = create_programme()
        property_ = Property(programme=programme, code='H', name="Hotel")
        property_.save()
        members = create_members(programme, names, property_=property_)
        points = PointType(
            programme=programme, name="Points", code='P',
            expiry_policy='months', expiry_months=12)
        miles = PointType(
            programme=programme, name="Miles", code='M', digits=2)
        PointType.save([points, miles])
        return members, property_, points, miles

    def requests(
            self, member, other, property_, points, miles, prefix,
            source=None):
        "Requests of two members, two types and every optional argument"
        return [
            {'member': member, 'type': points, 'quantity': D(100),
                'key': f'{prefix}:1'},
            {'member': other.id, 'type': miles.id, 'quantity': D('12.50'),
                'key': f'{prefix}:2', 'date': day(-3),
                'property': property_.id, 'pending_days': 7,
                'description': "Stay"},
            {'member': member, 'type': miles, 'quantity': D('0.25'),
                'key': f'{prefix}:3', 'expiry_date': day(30),
                'source': source},
            {'member': other, 'type': points, 'quantity': D(40),
                'key': f'{prefix}:4', 'date': day(-400),
                'property': property_},
            {'member': member, 'type': points, 'quantity': D(7),
                'key': f'{prefix}:5', 'pending_days': 2},
            ]

    def earn_each(self, requests):
        "Post the requests one by one with earn, which takes records"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        models = {
            'member': pool.get('party.party'),
            'type': pool.get('member.point.type'),
            'property': pool.get('member.property'),
            }
        postings = []
        for request in requests:
            request = {
                n: models[n](v) if isinstance(v, int) and n in models else v
                for n, v in request.items()}
            postings.append(Ledger.earn(
                    request.pop('member'), request.pop('type'),
                    request.pop('quantity'), request.pop('key'), **request))
        return postings

    def snapshot(self, members, types):
        "The ledger of the members, comparable across members"
        pool = Pool()
        Account = pool.get('member.point.account')
        Posting = pool.get('member.point.posting')
        Lot = pool.get('member.point.lot')

        def values(record, names):
            return [getattr(record, n) for n in names]

        result = []
        for member in members:
            for type_ in types:
                accounts = Account.search([
                        ('member', '=', member.id),
                        ('type', '=', type_.id)])
                result.append([values(a, ACCOUNT_FIELDS) for a in accounts])
            for posting in Posting.search(
                    [('member', '=', member.id)], order=[('key', 'ASC')]):
                line, = posting.lines
                lot, = Lot.search([('line', '=', line.id)])
                result.append(values(posting, POSTING_FIELDS)
                    + [line.type.code, line.account.type.code]
                    + values(line, LINE_FIELDS)
                    + values(lot, LOT_FIELDS)
                    + [lot.account == line.account])
        return result

    def assertConsistent(self):
        Account = Pool().get('member.point.account')
        self.assertEqual(Account.check_balances(), [])

    @with_transaction()
    def test_same_as_earn(self):
        "earn_many writes what earn writes, for mixed members and types"
        Ledger = Pool().get('member.point.ledger')
        (ann, bob, carl, dan, eve), property_, points, miles = (
            self.setup_members())
        self.earn_each(
            self.requests(ann, bob, property_, points, miles, 'one', eve))
        postings = Ledger.earn_many(
            self.requests(carl, dan, property_, points, miles, 'many', eve))

        self.assertEqual(
            [p.key for p in postings], [f'many:{i}' for i in range(1, 6)])
        self.assertEqual([p.member for p in postings],
            [carl, dan, carl, dan, carl])
        self.assertEqual(postings[2].source, eve)
        self.assertEqual(
            self.snapshot([carl, dan], [points, miles]),
            self.snapshot([ann, bob], [points, miles]))
        self.assertEqual(
            Ledger.balance(dan, points)['balance'], D(40))
        self.assertEqual(
            Ledger.balance(dan, miles)['pending'], D('12.50'))
        self.assertConsistent()

    @with_transaction()
    def test_balances_not_stale_after_batch(self):
        "Postings after earn_many start from the balance it wrote"
        Ledger = Pool().get('member.point.ledger')
        (ann, bob, *_), _, points, _ = self.setup_members()
        Ledger.earn_many([{
                    'member': ann, 'type': points, 'quantity': D(100),
                    'key': 'first'}])
        Ledger.earn_many([{
                    'member': ann, 'type': points, 'quantity': D(70),
                    'key': 'second', 'source': bob}])
        Ledger.reverse(bob, 'undo')
        self.assertEqual(Ledger.balance(ann, points)['balance'], D(100))
        Ledger.expire(day(400))
        Ledger.earn(ann, points, D(5), 'after', date=day(400))
        self.assertEqual(Ledger.balance(ann, points)['balance'], D(5))
        self.assertConsistent()

    @with_transaction()
    def test_replay_both_ways(self):
        "A key posted by earn replays in earn_many and the other way round"
        Ledger = Pool().get('member.point.ledger')
        (ann, bob, _, _, eve), property_, points, miles = self.setup_members()
        requests = self.requests(
            ann, bob, property_, points, miles, 'k', eve)
        single = self.earn_each(requests[:2])
        postings = Ledger.earn_many(requests)
        self.assertEqual(postings[:2], single)
        self.assertEqual(self.earn_each(requests[2:]), postings[2:])
        self.assertEqual(Ledger.earn_many(requests), postings)
        with self.assertRaises(IdempotencyError):
            Ledger.earn(ann, points, D(101), 'k:1')
        self.assertEqual(Ledger.balance(ann, points)['balance'], D(107))
        self.assertEqual(
            Ledger.balance(ann, points)['lifetime_earned'], D(107))
        self.assertConsistent()

    @with_transaction()
    def test_key_repeated_in_batch(self):
        "A key twice in the batch with the same request posts once"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Posting = pool.get('member.point.posting')
        (ann, *_), _, points, _ = self.setup_members()
        request = {'member': ann, 'type': points, 'quantity': D(5),
            'key': 'same'}
        first, second = Ledger.earn_many([request, dict(request)])
        self.assertEqual(first, second)
        self.assertEqual(Posting.search_count([]), 1)
        self.assertEqual(Ledger.balance(ann, points)['balance'], D(5))

    @with_transaction()
    def test_row_errors_write_nothing(self):
        "A bad row names its number, key and field; nothing is written"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Account = pool.get('member.point.account')
        Posting = pool.get('member.point.posting')
        Party = pool.get('party.party')
        PointType = pool.get('member.point.type')
        (ann, bob, carl, *_), _, points, miles = self.setup_members()
        other = PointType(
            programme=create_programme('O'), name="Other", code='O')
        other.save()
        Party.write([carl], {'member_state': 'terminated'})
        Ledger.earn(ann, points, D(1), 'taken')
        # A member id that no longer exists (created in this transaction,
        # so the test needs no lock restart)
        ghost, = Party.create([{'name': "Ghost"}])
        ghost = ghost.id
        Party.delete(Party.browse([ghost]))
        good = {'member': bob, 'type': points, 'quantity': D(10)}
        cases = [
            ({'quantity': D(0)}, 'Row 2 (key "bad")', 'quantity'),
            ({'quantity': D('1.5')}, 'Row 2 (key "bad")', 'decimals'),
            ({'quantity': 1.0}, 'Row 2 (key "bad")', 'quantity'),
            ({'type': other}, 'Row 2 (key "bad")', '"Other"'),
            ({'member': carl}, 'Row 2 (key "bad")', 'Carl'),
            ({'member': ghost}, 'Row 2 (key "bad")', str(ghost)),
            ({'pending_days': -1}, 'Row 2 (key "bad")', ''),
            ({'key': 'taken'}, 'Row 2 (key "taken")', 'idempotency'),
            ({'key': 'good:1', 'quantity': D(11)}, 'Row 2 (key "good:1")',
                'idempotency'),
            ({'quantity': None}, 'Row 2 (key "bad")', '"quantity"'),
            ({'amount': D(1)}, 'Row 2 (key "bad")', '"amount"'),
            ]
        for change, row, field in cases:
            with self.subTest(change=change):
                bad = {**good, 'key': 'bad', **change}
                if bad['quantity'] is None:
                    del bad['quantity']
                with self.assertRaises(PostingError) as context:
                    Ledger.earn_many([
                            {**good, 'key': 'good:1'}, bad,
                            {**good, 'key': 'good:3'}])
                self.assertIn(row, context.exception.message)
                self.assertIn(field, context.exception.message)
                self.assertEqual(Posting.search_count([]), 1)
                self.assertEqual(
                    [a.member for a in Account.search([])], [ann])
        self.assertConsistent()

    @with_transaction()
    def test_thousand_rows(self):
        "A batch of 1,000 rows of 10 members and 2 types posts them all"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Lot = pool.get('member.point.lot')
        members, _, points, miles = self.setup_members(
            [f"Member {i}" for i in range(10)])
        requests = [{
                'member': members[i % 10],
                'type': points if i % 3 else miles,
                'quantity': D(i % 7 + 1) if i % 3 else D('0.01') * (i + 1),
                'key': f'import:{i}',
                'date': day(-(i % 30)),
                } for i in range(1000)]
        postings = Ledger.earn_many(requests)
        self.assertEqual(len(set(postings)), 1000)
        self.assertEqual(
            [p.key for p in postings], [r['key'] for r in requests])
        self.assertEqual(Lot.search_count([('state', '=', 'open')]), 1000)
        for member in members[:2]:
            for type_ in [points, miles]:
                expected = sum((r['quantity'] for r in requests
                        if r['member'] == member and r['type'] == type_),
                    D(0))
                self.assertEqual(
                    Ledger.balance(member, type_)['balance'], expected)
        self.assertConsistent()
        self.assertEqual(Ledger.earn_many(requests), postings)
        self.assertConsistent()

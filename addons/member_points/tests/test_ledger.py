# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Rules and edge cases of the points ledger API."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.member_core.exceptions import CardRefused
from trytond.modules.member_points.exceptions import (
    IdempotencyError,
    InsufficientBalance,
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


def day(offset):
    return TODAY + dt.timedelta(days=offset)


class LedgerTestCase(unittest.TestCase):
    "Test the points ledger"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_member(self, expiry='never', months=None, **type_values):
        PointType = Pool().get('member.point.type')
        programme = create_programme()
        members = create_members(programme, ["Ann", "Bob"])
        type_ = PointType(
            programme=programme, name="Points", code='P',
            expiry_policy=expiry, expiry_months=months, **type_values)
        type_.save()
        return members, type_

    def balance(self, member, type_, date=None):
        Ledger = Pool().get('member.point.ledger')
        return Ledger.balance(member, type_, date=date)

    def assertConsistent(self):
        Account = Pool().get('member.point.account')
        self.assertEqual(Account.check_balances(), [])
        self.assertTrue(Account.search([]))

    @with_transaction()
    def test_earn_and_idempotent_repost(self):
        "The same key with the same request posts once"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        first = Ledger.earn(ann, points, D(100), 'sale:1')
        again = Ledger.earn(ann, points, D(100), 'sale:1')
        self.assertEqual(first, again)
        self.assertEqual(self.balance(ann, points)['balance'], D(100))
        self.assertEqual(
            self.balance(ann, points)['lifetime_earned'], D(100))
        self.assertConsistent()

    @with_transaction()
    def test_key_reused_for_other_request(self):
        "The same key with another request is refused"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(100), 'sale:1')
        with self.assertRaises(IdempotencyError):
            Ledger.earn(ann, points, D(101), 'sale:1')

    @with_transaction()
    def test_bad_quantities(self):
        "Negative, zero, float and too precise quantities are refused"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        for quantity in [D(-5), D(0), 5.0, D('1.5')]:
            with self.subTest(quantity=quantity):
                with self.assertRaises(PostingError):
                    Ledger.earn(ann, points, quantity, f'bad:{quantity}')
        self.assertEqual(self.balance(ann, points)['balance'], D(0))

    @with_transaction()
    def test_terminated_member_refused(self):
        "A member who is not in the member state cannot earn"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        (ann, _), points = self.setup_member()
        Party.write([ann], {'member_state': 'terminated'})
        with self.assertRaises(CardRefused):
            Ledger.earn(ann, points, D(10), 'sale:1')

    @with_transaction()
    def test_insufficient_balance(self):
        "Redeeming more than available is refused and writes nothing"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(50), 'earn:1')
        with self.assertRaises(InsufficientBalance):
            Ledger.redeem(ann, points, D(51), 'redeem:1')
        self.assertEqual(self.balance(ann, points)['balance'], D(50))

    @with_transaction()
    def test_negative_allowed(self):
        "A type allowing negative balances lets redemptions go below zero"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member(allow_negative=True)
        Ledger.redeem(ann, points, D(30), 'redeem:1')
        self.assertEqual(self.balance(ann, points)['balance'], D(-30))
        self.assertConsistent()

    @with_transaction()
    def test_fifo_by_expiry(self):
        "Redemptions take the lots that expire first"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Lot = pool.get('member.point.lot')
        (ann, _), points = self.setup_member(expiry='months', months=12)
        Ledger.earn(ann, points, D(100), 'e:late', date=day(-10))
        Ledger.earn(ann, points, D(100), 'e:early', date=day(-300))
        Ledger.earn(ann, points, D(100), 'e:never', date=day(-5),
            expiry_date=day(900))
        Ledger.redeem(ann, points, D(150), 'r:1')
        lots = {t.line.posting.key: t.remaining for t in Lot.search([])}
        self.assertEqual(lots, {
                'e:early': D(0), 'e:late': D(50), 'e:never': D(100)})
        self.assertConsistent()

    @with_transaction()
    def test_pending_points(self):
        "Pending points are in the balance but cannot be spent"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(80), 'e:1', pending_days=7)
        balance = self.balance(ann, points)
        self.assertEqual(
            (balance['balance'], balance['pending'], balance['available']),
            (D(80), D(80), D(0)))
        with self.assertRaises(InsufficientBalance):
            Ledger.redeem(ann, points, D(1), 'r:1')
        self.assertEqual(
            self.balance(ann, points, date=None)['pending'], D(80))
        Ledger.redeem(ann, points, D(80), 'r:2', date=day(7))
        self.assertEqual(self.balance(ann, points)['balance'], D(0))

    @with_transaction()
    def test_reverse_pending_earning_cancels(self):
        "Reversing the source of pending points cancels them"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Lot = pool.get('member.point.lot')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(80), 'e:1', source=ann, pending_days=7)
        Ledger.reverse(ann, 'rev:1')
        lot, = Lot.search([])
        self.assertEqual((lot.state, lot.remaining), ('cancelled', D(0)))
        balance = self.balance(ann, points)
        self.assertEqual((balance['balance'], balance['pending']),
            (D(0), D(0)))
        self.assertConsistent()

    @with_transaction()
    def test_expiry_run(self):
        "The expiry run posts what remains of lots past their expiry"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Line = pool.get('member.point.line')
        (ann, bob), points = self.setup_member(expiry='months', months=1)
        Ledger.earn(ann, points, D(100), 'e:1', date=day(-60))
        Ledger.redeem(ann, points, D(30), 'r:1', date=day(-50))
        Ledger.earn(ann, points, D(10), 'e:2', date=day(-1))
        Ledger.earn(bob, points, D(5), 'e:3', date=day(-40))
        self.assertEqual(Ledger.expire(), 2)
        self.assertEqual(Ledger.expire(), 0)
        self.assertEqual(self.balance(ann, points)['balance'], D(10))
        self.assertEqual(self.balance(bob, points)['balance'], D(0))
        expired = sorted(
            t.quantity for t in Line.search([('kind', '=', 'expire')]))
        self.assertEqual(expired, [D(-70), D(-5)])
        self.assertConsistent()

    @with_transaction()
    def test_refund_after_partial_spend(self):
        "Reversing an earning partly spent takes the rest from other lots"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Line = pool.get('member.point.line')
        (ann, bob), points = self.setup_member()
        Ledger.earn(ann, points, D(100), 'e:1', source=ann)
        Ledger.redeem(ann, points, D(60), 'r:1')
        Ledger.earn(ann, points, D(20), 'e:2')
        reversal, = Ledger.reverse(ann, 'refund:1')
        line, = reversal.lines
        # 40 left in its lot, 20 taken from the other lot, 40 unrecovered
        self.assertEqual((line.quantity, line.unrecovered), (D(-60), D(40)))
        self.assertEqual(self.balance(ann, points)['balance'], D(0))
        self.assertEqual(Ledger.reverse(ann, 'refund:1'), [reversal])
        self.assertEqual(Ledger.reverse(ann, 'refund:2'), [reversal])
        self.assertEqual(len(Line.search([('kind', '=', 'reverse')])), 1)
        self.assertConsistent()

    @with_transaction()
    def test_reverse_redemption_keeps_expiry(self):
        "Restored points keep their expiry; expired ones expire at once"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Lot = pool.get('member.point.lot')
        (ann, bob), points = self.setup_member()
        Ledger.earn(ann, points, D(50), 'e:1', date=day(-20),
            expiry_date=day(-10))
        Ledger.earn(ann, points, D(50), 'e:2', date=day(-20),
            expiry_date=day(100))
        Ledger.redeem(ann, points, D(80), 'r:1', source=bob,
            date=day(-15))
        Ledger.reverse(bob, 'undo:1')
        lots = {t.line.posting.key: (t.state, t.remaining)
            for t in Lot.search([])}
        self.assertEqual(lots, {
                'e:1': ('expired', D(0)), 'e:2': ('open', D(50))})
        self.assertEqual(self.balance(ann, points)['balance'], D(50))
        self.assertConsistent()

    @with_transaction()
    def test_hold_capture_release(self):
        "Held points cannot be spent twice; capture and release settle"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        (ann, bob), points = self.setup_member()
        Ledger.earn(ann, points, D(100), 'e:1')
        hold = Ledger.hold(ann, points, D(70), 'h:1', source=bob)
        self.assertEqual(
            Ledger.hold(ann, points, D(70), 'h:1', source=bob), hold)
        with self.assertRaises(InsufficientBalance):
            Ledger.redeem(ann, points, D(31), 'r:1')
        with self.assertRaises(PostingError):
            Ledger.capture(hold, 'c:1', quantity=D(71))
        posting = Ledger.capture(hold, 'c:1', quantity=D(60))
        self.assertEqual(Ledger.capture(hold, 'c:1', quantity=D(60)),
            posting)
        balance = self.balance(ann, points)
        self.assertEqual((balance['balance'], balance['held']),
            (D(40), D(0)))
        other = Ledger.hold(ann, points, D(40), 'h:2', source=bob)
        Ledger.reverse(bob, 'cancel:1')
        other = other.__class__(other.id)
        self.assertEqual(other.state, 'released')
        balance = self.balance(ann, points)
        self.assertEqual((balance['balance'], balance['held']),
            (D(100), D(0)))
        self.assertConsistent()

    @with_transaction()
    def test_ledger_immutable(self):
        "Posted lines cannot be changed or deleted"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Line = pool.get('member.point.line')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(10), 'e:1')
        line, = Line.search([])
        with self.assertRaises(AccessError):
            Line.write([line], {'quantity': D(1000)})
        with self.assertRaises(AccessError):
            Line.delete([line])

    @with_transaction()
    def test_adjust(self):
        "Adjustments credit a lot or debit available points"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        Ledger.adjust(ann, points, D(25), 'adj:1')
        Ledger.adjust(ann, points, D(-5), 'adj:2')
        with self.assertRaises(InsufficientBalance):
            Ledger.adjust(ann, points, D(-21), 'adj:3')
        self.assertEqual(self.balance(ann, points)['balance'], D(20))
        self.assertConsistent()

    @with_transaction()
    def test_balance_at_date(self):
        "The balance at a past date sums the lines up to that date"
        Ledger = Pool().get('member.point.ledger')
        (ann, _), points = self.setup_member()
        Ledger.earn(ann, points, D(10), 'e:1', date=day(-10))
        Ledger.earn(ann, points, D(20), 'e:2', date=day(-5))
        self.assertEqual(
            self.balance(ann, points, date=day(-6))['balance'], D(10))

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Points expiry reminders queued as member messages."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.member_points.exceptions import (
    PointTypeValidationError,
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


class ReminderTestCase(unittest.TestCase):
    "Test points expiry reminders"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_types(self):
        "Return Ann, Bob (SMS consent), Carl (no consent) and three types"
        pool = Pool()
        PointType = pool.get('member.point.type')
        Property = pool.get('member.property')
        programme = create_programme()
        property_ = Property(programme=programme, code='H', name="Hotel")
        property_.save()
        ann, = create_members(programme, ["Ann"], property_=property_,
            member_phone='13800138000', consent_sms=True)
        bob, = create_members(programme, ["Bob"], property_=property_,
            member_phone='13800138001', consent_sms=True)
        carl, = create_members(programme, ["Carl"], property_=property_,
            member_phone='13800138002')
        points = PointType(
            programme=programme, name="Points", code='P', reminder_days=30)
        miles = PointType(
            programme=programme, name="Miles", code='M', reminder_days=30,
            expiry_reminder_sms="{name}: {quantity} {type} end {date}")
        silent = PointType(programme=programme, name="Silent", code='S')
        PointType.save([points, miles, silent])
        return (ann, bob, carl), (points, miles, silent)

    def earn(self, member, type_, quantity, expiry):
        Ledger = Pool().get('member.point.ledger')
        return Ledger.earn(member, type_, D(quantity),
            Ledger.new_key('test'), expiry_date=expiry)

    def messages(self):
        Message = Pool().get('member.message')
        return sorted(
            (m.member.name, m.reference, m.state, m.text, str(m.origin))
            for m in Message.search([('kind', '=', 'points_expiry')]))

    def date(self, date):
        Lang = Pool().get('ir.lang')
        return Lang.get().strftime(date)

    @with_transaction()
    def test_window_and_groups(self):
        "One message per member, type and expiry date within the window"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Lot = pool.get('member.point.lot')
        (ann, bob, _), (points, miles, silent) = self.setup_types()
        self.earn(ann, points, 30, day(0))
        self.earn(ann, points, 20, day(30))
        self.earn(ann, points, 25, day(30))
        self.earn(ann, points, 99, day(31))
        self.earn(ann, points, 98, day(-1))
        self.earn(ann, miles, 7, day(30))
        self.earn(ann, silent, 97, day(1))
        self.earn(bob, points, 1200, day(12))

        self.assertEqual(Ledger.queue_expiry_reminders(), 4)
        self.assertEqual(self.messages(), sorted([
                    ("Ann", f'points-expiry:{points.id}:{day(0)}',
                        'pending',
                        f"Dear Ann, 30 Points expire on {self.date(day(0))}.",
                        str(points)),
                    ("Ann", f'points-expiry:{points.id}:{day(30)}',
                        'pending',
                        f"Dear Ann, 45 Points expire on "
                        f"{self.date(day(30))}.",
                        str(points)),
                    ("Ann", f'points-expiry:{miles.id}:{day(30)}',
                        'pending',
                        f"Ann: 7 Miles end {self.date(day(30))}",
                        str(miles)),
                    ("Bob", f'points-expiry:{points.id}:{day(12)}',
                        'pending',
                        f"Dear Bob, 1,200 Points expire on "
                        f"{self.date(day(12))}.",
                        str(points)),
                    ]))
        reminded = {
            (t.quantity, t.expiry_reminded) for t in Lot.search([])}
        self.assertEqual(reminded, {
                (D(30), TODAY), (D(20), TODAY), (D(25), TODAY),
                (D(99), None), (D(98), None), (D(7), TODAY),
                (D(97), None), (D(1200), TODAY)})

    @with_transaction()
    def test_no_duplicate(self):
        "A second run queues nothing; a new expiry date gets its message"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Message = pool.get('member.message')
        (ann, _, _), (points, _, _) = self.setup_types()
        self.earn(ann, points, 30, day(10))
        self.assertEqual(Ledger.queue_expiry_reminders(), 1)
        self.assertEqual(Ledger.queue_expiry_reminders(), 0)
        # Earned after the reminder, same date: the member was reminded
        self.earn(ann, points, 5, day(10))
        self.assertEqual(Ledger.queue_expiry_reminders(), 0)
        self.earn(ann, points, 6, day(11))
        self.assertEqual(Ledger.queue_expiry_reminders(), 1)
        self.assertEqual(
            Ledger.queue_expiry_reminders(date=day(5)), 0)
        self.assertEqual(Message.search_count([]), 2)

    @with_transaction()
    def test_window_moves_with_date(self):
        "Lots later out of the window are reminded when it reaches them"
        Ledger = Pool().get('member.point.ledger')
        (ann, _, _), (points, _, _) = self.setup_types()
        self.earn(ann, points, 30, day(40))
        self.assertEqual(Ledger.queue_expiry_reminders(), 0)
        self.assertEqual(Ledger.queue_expiry_reminders(date=day(9)), 0)
        self.assertEqual(Ledger.queue_expiry_reminders(date=day(10)), 1)

    @with_transaction()
    def test_zero_remaining_skipped(self):
        "Lots spent, reversed or expired are not reminded"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        (ann, bob, _), (points, _, _) = self.setup_types()
        self.earn(ann, points, 50, day(5))
        Ledger.redeem(ann, points, D(50), 'r:1')
        Ledger.earn(bob, points, D(8), 'e:1', source=bob,
            expiry_date=day(5))
        Ledger.reverse(bob, 'rev:1')
        self.assertEqual(Ledger.queue_expiry_reminders(), 0)
        self.earn(ann, points, 40, day(6))
        Ledger.redeem(ann, points, D(15), 'r:2')
        self.assertEqual(Ledger.queue_expiry_reminders(), 1)
        (_, _, _, text, _), = self.messages()
        self.assertIn("Dear Ann, 25 Points", text)

    @with_transaction()
    def test_refused_members(self):
        """Members without SMS consent get a skipped message, members not
        approved none"""
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        Message = pool.get('member.message')
        (ann, bob, carl), (points, _, _) = self.setup_types()
        self.earn(carl, points, 10, day(3))
        self.earn(bob, points, 10, day(3))
        Party.write([bob], {'member_state': 'terminated'})
        self.assertEqual(Ledger.queue_expiry_reminders(), 1)
        message, = Message.search([('kind', '=', 'points_expiry')])
        self.assertEqual((message.member, message.state), (carl, 'skipped'))
        self.assertEqual(
            message.error, Message.refusal(carl, 'sms'))
        self.assertTrue(message.error)

    @with_transaction()
    def test_template_checked(self):
        "A template with an unknown placeholder is refused"
        PointType = Pool().get('member.point.type')
        _, (points, _, _) = self.setup_types()
        points.expiry_reminder_sms = "{name} loses {amount}"
        with self.assertRaises(PointTypeValidationError) as context:
            points.save()
        self.assertIn("Expiry Reminder SMS", context.exception.message)
        points.expiry_reminder_sms = "{name}: {quantity} on {date}"
        points.save()
        self.assertEqual(PointType(points.id).expiry_reminder_sms,
            "{name}: {quantity} on {date}")

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""What the members list and the member form show of the ledger."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.member_core.party import TAB_LIMIT
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_point_types,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

D = Decimal


class MemberLedgerTestCase(unittest.TestCase):
    "Test the member's balances and ledger lines on its screens"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_members(self):
        "Return (ann, bob), a points type (0 digits) and a wallet (2)"
        programme = create_programme()
        # the types before the members: in test mode, creating a member
        # computes its function fields and the transaction keeps them
        points, wallet = create_point_types(programme)
        members = create_members(programme, ["Ann", "Bob"])
        return members, points, wallet

    @with_transaction()
    def test_balances(self):
        "The list shows what the member may spend, pending and held out"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        (ann, bob), points, wallet = self.setup_members()
        Ledger.earn(ann, points, D(100), 'a:1')
        Ledger.earn(ann, points, D(40), 'a:2', pending_days=10)
        Ledger.hold(ann, points, D(30), 'a:3')
        Ledger.earn(ann, wallet, D('12.50'), 'a:4')
        ann, bob = Party.browse([ann.id, bob.id])
        self.assertEqual(ann.points_available, D(70))
        self.assertEqual(ann.points_type, points)
        self.assertEqual(ann.stored_value, D('12.50'))
        self.assertEqual(ann.stored_value_currency, wallet.currency)
        # a member without an account of the types has nothing to spend
        self.assertEqual(bob.points_available, D(0))
        self.assertEqual(bob.stored_value, D(0))

    @with_transaction()
    def test_recent_lines(self):
        "The form shows the newest lines, with their source, at most 100"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        (ann, bob), points, _ = self.setup_members()
        today = dt.date.today()
        for i in range(TAB_LIMIT + 5):
            Ledger.earn(ann, points, D(1), f'r:{i}', source=bob,
                date=today - dt.timedelta(days=TAB_LIMIT + 5 - i))
        ann = Party(ann.id)
        lines = ann.recent_point_lines
        self.assertEqual(len(lines), TAB_LIMIT)
        dates = [line.date for line in lines]
        self.assertEqual(dates, sorted(dates, reverse=True))
        self.assertEqual(dates[0], today - dt.timedelta(days=1))
        self.assertEqual(lines[0].source, bob)

    @with_transaction()
    def test_quantities_take_type_digits(self):
        "Quantities are shown with the digits of their point type"
        pool = Pool()
        Account = pool.get('member.point.account')
        Ledger = pool.get('member.point.ledger')
        Line = pool.get('member.point.line')
        Lot = pool.get('member.point.lot')
        (ann, _), points, wallet = self.setup_members()
        Ledger.earn(ann, points, D(17), 'd:1')
        Ledger.earn(ann, wallet, D('17.25'), 'd:2')
        for type_, digits in [(points, 0), (wallet, 2)]:
            account, = Account.search([('type', '=', type_.id)])
            line, = Line.search([('type', '=', type_.id)])
            lot, = Lot.search([('account', '=', account.id)])
            for record, field in [
                    (account, 'balance'), (line, 'quantity'),
                    (lot, 'remaining')]:
                with self.subTest(type=type_.name, model=record.__name__):
                    # the field names the record whose digits it takes
                    digits_of = record._fields[field].digits
                    self.assertEqual(
                        getattr(record, digits_of).get_digits(),
                        (None, digits))

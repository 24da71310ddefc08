# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Account moves of the points ledger."""
import datetime as dt
import unittest
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace

from dateutil.relativedelta import relativedelta

from trytond.exceptions import UserError
from trytond.model.exceptions import RequiredValidationError
from trytond.modules.account.tests.test_module import (
    create_chart,
    get_fiscalyear,
)
from trytond.modules.company.tests.test_module import set_company
from trytond.modules.currency.tests import add_currency_rate, create_currency
from trytond.modules.member_core.tests.fixture import CommittedFixture
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

TODAY = dt.date.today()
D = Decimal


def day(offset):
    return TODAY + dt.timedelta(days=offset)


class AccountingTestCase(CommittedFixture, unittest.TestCase):
    "Test the account moves of the points ledger"
    module = ['member_points', 'account']

    @classmethod
    def setUpFixture(cls):
        """Members Ann and Bob and accounts, in a company with a chart of
        accounts and a fiscal year from 400 days ago to 400 days ahead"""
        pool = Pool()
        Account = pool.get('account.account')
        FiscalYear = pool.get('account.fiscalyear')
        Journal = pool.get('account.journal')
        programme = create_programme()
        company = programme.company
        with set_company(company):
            create_chart(company)
            fiscalyear = get_fiscalyear(company,
                start_date=day(-400).replace(day=1),
                end_date=day(400) + relativedelta(day=31))
            fiscalyear.save()
            FiscalYear.create_period([fiscalyear])

            def find(**clause):
                account, = Account.search([
                        ('company', '=', company.id),
                        ('closed', '!=', True),
                        *((f'type.{k}', '=', v) for k, v in clause.items()),
                        ], limit=1)
                return account
            revenue, expense = find(revenue=True), find(expense=True)
            payable = find(payable=True)
            cash, = Account.search([
                    ('company', '=', company.id), ('code', '=', '1.1.1')])

            def new(name, template, **values):
                account = Account(name=name, type=template.type,
                    parent=template.parent, company=company, **values)
                account.save()
                return account
            return SimpleNamespace(
                company=company,
                members=create_members(programme, ["Ann", "Bob"]),
                accounts={
                    'revenue': revenue,
                    'expense': expense,
                    'cash': cash,
                    'liability': new("Points Liability", payable,
                        party_required=False),
                    'member_liability': new("Member Liability", payable,
                        party_required=True),
                    'breakage': new("Breakage", revenue),
                    'journal': Journal.search([('type', '=', 'general')])[0],
                    })

    @contextmanager
    def accounting(self):
        "Yield (members, accounts) of the fixture in the company's context"
        with set_company(self.fixture().company):
            ns = self.fixture()
            yield ns.members, ns.accounts

    def point_type(self, members, accounts, code='P', liability='liability',
            **values):
        PointType = Pool().get('member.point.type')
        type_ = PointType(
            programme=members[0].programme, name=code, code=code,
            point_value=D('0.01'), **values)
        if liability:
            type_.liability_account = accounts[liability]
            type_.journal = accounts['journal']
            type_.counterpart_account = accounts['expense']
            type_.redemption_account = accounts['revenue']
            type_.breakage_account = accounts['breakage']
        type_.save()
        return type_

    def booked(self, move):
        "Return {(account, party): (debit, credit)} of the move"
        self.assertEqual(move.state, 'posted')
        return {
            (line.account.name, line.party.name if line.party else None):
                (line.debit, line.credit) for line in move.lines}

    def move_of(self, posting):
        moves = {line.move for line in posting.lines}
        self.assertEqual(len(moves), 1)
        move, = moves
        self.assertIsNotNone(move)
        self.assertEqual(move.origin, posting)
        self.assertEqual(move.date, posting.date)
        return move

    def assertReconciled(self, *types, date=None):
        PointType = Pool().get('member.point.type')
        for row in PointType.get_liability_check(types, date=date):
            self.assertEqual(
                row['booked'], row['outstanding'], msg=row['account'].name)
            self.assertEqual(row['difference'], 0)

    @with_transaction()
    def test_earn_books_liability(self):
        "Earning credits the liability at the point value"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts)
            posting = Ledger.earn(ann, points, D(1000), 'sale:1')
            move = self.move_of(posting)
            self.assertEqual(move.journal, accounts['journal'])
            self.assertEqual(self.booked(move), {
                    (accounts['expense'].name, None): (D(10), D(0)),
                    ("Points Liability", None): (D(0), D(10)),
                    })
            self.assertReconciled(points)
            check, = points.get_liability_check([points])
            self.assertEqual(check['outstanding'], D(10))
            self.assertEqual(check['types'], [points])

    @with_transaction()
    def test_redeem_and_capture_release_liability(self):
        "Redemptions and captures move the value to revenue"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts)
            Ledger.earn(ann, points, D(1000), 'sale:1')
            redemption = Ledger.redeem(ann, points, D(300), 'shop:1')
            self.assertEqual(self.booked(self.move_of(redemption)), {
                    ("Points Liability", None): (D(3), D(0)),
                    (accounts['revenue'].name, None): (D(0), D(3)),
                    })
            hold = Ledger.hold(ann, points, D(200), 'hold:1')
            self.assertFalse(Pool().get('account.move').search(
                    [('origin', '=', str(hold))]))
            capture = Ledger.capture(hold, 'capture:1', quantity=D(150))
            self.assertEqual(self.booked(self.move_of(capture)), {
                    ("Points Liability", None): (D('1.5'), D(0)),
                    (accounts['revenue'].name, None): (D(0), D('1.5')),
                    })
            self.assertReconciled(points)

    @with_transaction()
    def test_expire_books_one_move_per_type(self):
        "An expiry run books breakage in one move per type"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Move = pool.get('account.move')
        Line = pool.get('member.point.line')
        with self.accounting() as ((ann, bob), accounts):
            points = self.point_type(
                (ann,), accounts, expiry_policy='months', expiry_months=1)
            miles = self.point_type(
                (ann,), accounts, code='M', expiry_policy='months',
                expiry_months=1)
            free = self.point_type(
                (ann,), accounts, code='F', liability=None,
                expiry_policy='months', expiry_months=1)
            for i, (member, type_, quantity) in enumerate([
                        (ann, points, D(500)), (bob, points, D(200)),
                        (ann, miles, D(100)), (bob, free, D(100))]):
                Ledger.earn(member, type_, quantity, f'old:{i}',
                    date=day(-60))
            Ledger.redeem(ann, points, D(100), 'shop:1', date=day(-50))
            Ledger.earn(ann, points, D(50), 'new:1')
            # A type withdrawn from use still books its expiry
            miles.active = False
            miles.save()

            self.assertEqual(Ledger.expire(TODAY), 4)

            lines = Line.search([('kind', '=', 'expire')])
            self.assertEqual(len(lines), 4)
            moves = {line.type: line.move for line in lines}
            self.assertIsNone(moves[free])
            self.assertNotEqual(moves[points], moves[miles])
            self.assertEqual(
                {line.move for line in lines if line.type == points},
                {moves[points]})
            self.assertEqual(moves[points].origin, points)
            self.assertEqual(moves[points].date, TODAY)
            self.assertEqual(self.booked(moves[points]), {
                    ("Points Liability", None): (D(6), D(0)),
                    ("Breakage", None): (D(0), D(6)),
                    })
            self.assertEqual(self.booked(moves[miles]), {
                    ("Points Liability", None): (D(1), D(0)),
                    ("Breakage", None): (D(0), D(1)),
                    })
            self.assertReconciled(points, miles)

            count = Move.search_count([])
            self.assertEqual(Ledger.expire(TODAY), 0)
            self.assertEqual(Move.search_count([]), count)

    @with_transaction()
    def test_expire_per_member_when_party_required(self):
        "A liability account that requires a party is booked per member"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, bob), accounts):
            points = self.point_type(
                (ann,), accounts, liability='member_liability',
                expiry_policy='months', expiry_months=1)
            earning = Ledger.earn(ann, points, D(300), 'a', date=day(-60))
            self.assertEqual(self.booked(self.move_of(earning)), {
                    (accounts['expense'].name, None): (D(3), D(0)),
                    ("Member Liability", "Ann"): (D(0), D(3)),
                    })
            Ledger.earn(bob, points, D(200), 'b', date=day(-60))
            Ledger.expire(TODAY)
            Line = Pool().get('member.point.line')
            move, = {
                line.move for line in Line.search([('kind', '=', 'expire')])}
            self.assertEqual(self.booked(move), {
                    ("Member Liability", "Ann"): (D(3), D(0)),
                    ("Member Liability", "Bob"): (D(2), D(0)),
                    ("Breakage", None): (D(0), D(5)),
                    })
            self.assertReconciled(points)

    @with_transaction()
    def test_reverse_mirrors(self):
        "A reversal books the mirror of what it reverses"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, bob), accounts):
            points = self.point_type((ann,), accounts)
            Ledger.earn(ann, points, D(1000), 'sale:1', source=ann)
            Ledger.earn(bob, points, D(400), 'sale:2', source=bob)
            Ledger.redeem(bob, points, D(100), 'shop:1', source=ann)
            # Newest first: Bob's redemption, then Ann's earning
            redemption_reversal, earning_reversal = Ledger.reverse(
                ann, 'refund:1')
            self.assertEqual(
                self.booked(self.move_of(redemption_reversal)), {
                    (accounts['revenue'].name, None): (D(1), D(0)),
                    ("Points Liability", None): (D(0), D(1)),
                    })
            self.assertEqual(self.booked(self.move_of(earning_reversal)), {
                    ("Points Liability", None): (D(10), D(0)),
                    (accounts['expense'].name, None): (D(0), D(10)),
                    })
            self.assertReconciled(points)

    @with_transaction()
    def test_replay_books_nothing(self):
        "A replayed key returns the first posting and books no more"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Move = pool.get('account.move')
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts)
            first = Ledger.earn(ann, points, D(100), 'sale:1', source=ann)
            Ledger.redeem(ann, points, D(40), 'shop:1')
            self.assertEqual(Move.search_count([]), 2)
            self.assertEqual(
                Ledger.earn(ann, points, D(100), 'sale:1', source=ann),
                first)
            Ledger.redeem(ann, points, D(40), 'shop:1')
            self.assertEqual(Move.search_count([]), 2)
            reversals = Ledger.reverse(ann, 'refund:1')
            self.assertEqual(Move.search_count([]), 3)
            self.assertEqual(Ledger.reverse(ann, 'refund:1'), reversals)
            self.assertEqual(Move.search_count([]), 3)
            self.assertReconciled(points)

    @with_transaction()
    def test_earn_many_books_each_posting(self):
        "Batch earning books each new posting once"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Move = pool.get('account.move')
        with self.accounting() as ((ann, bob), accounts):
            points = self.point_type((ann,), accounts)
            requests = [
                {'member': ann, 'type': points, 'quantity': D(100),
                    'key': 'import:1'},
                {'member': bob, 'type': points, 'quantity': D(300),
                    'key': 'import:2'},
                ]
            first, second = Ledger.earn_many(requests)
            self.assertEqual(self.booked(self.move_of(second)), {
                    (accounts['expense'].name, None): (D(3), D(0)),
                    ("Points Liability", None): (D(0), D(3)),
                    })
            self.move_of(first)
            self.assertEqual(Ledger.earn_many(requests), [first, second])
            self.assertEqual(Move.search_count([]), 2)
            self.assertReconciled(points)

    @with_transaction()
    def test_type_without_accounts_books_nothing(self):
        "Accounting is opt-in per point type"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Move = pool.get('account.move')
        with self.accounting() as ((ann, _), accounts):
            free = self.point_type((ann,), accounts, liability=None)
            posting = Ledger.earn(ann, free, D(100), 'sale:1')
            Ledger.redeem(ann, free, D(40), 'shop:1')
            Ledger.reverse(ann, 'refund:1')
            self.assertIsNone(posting.lines[0].move)
            self.assertEqual(Move.search_count([]), 0)
            self.assertEqual(free.get_liability_check([free]), [])

    @with_transaction()
    def test_accounts_required_with_liability(self):
        "A liability account needs the journal and the other accounts"
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts, liability=None)
            points.liability_account = accounts['liability']
            with self.assertRaises(RequiredValidationError):
                points.save()

    @with_transaction()
    def test_stored_value_recharge_and_spend(self):
        "Stored value books its own amount, recharges against cash"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, _), accounts):
            stored = self.point_type(
                (ann,), accounts, code='SV', kind='stored_value',
                currency=ann.programme.company.currency, digits=2)
            stored.counterpart_account = accounts['cash']
            stored.save()
            recharge = Ledger.adjust(ann, stored, D('100.00'), 'recharge:1')
            self.assertEqual(self.booked(self.move_of(recharge)), {
                    (accounts['cash'].name, None): (D(100), D(0)),
                    ("Points Liability", None): (D(0), D(100)),
                    })
            spend = Ledger.redeem(ann, stored, D('42.50'), 'shop:1')
            self.assertEqual(self.booked(self.move_of(spend)), {
                    ("Points Liability", None): (D('42.50'), D(0)),
                    (accounts['revenue'].name, None): (D(0), D('42.50')),
                    })
            refund = Ledger.adjust(ann, stored, D('-57.50'), 'refund:1')
            self.assertEqual(self.booked(self.move_of(refund)), {
                    ("Points Liability", None): (D('57.50'), D(0)),
                    (accounts['cash'].name, None): (D(0), D('57.50')),
                    })
            self.assertReconciled(stored)
            check, = stored.get_liability_check([stored])
            self.assertEqual(check['booked'], D(0))

    @with_transaction()
    def test_stored_value_in_other_currency(self):
        "Stored value in another currency keeps its amount as second"
        with self.accounting() as ((ann, _), accounts):
            Ledger = Pool().get('member.point.ledger')
            euro = create_currency('EUR')
            add_currency_rate(euro, D(2))
            stored = self.point_type(
                (ann,), accounts, code='SV', kind='stored_value',
                currency=euro, digits=2)
            recharge = Ledger.adjust(ann, stored, D('100.00'), 'recharge:1')
            move = self.move_of(recharge)
            self.assertEqual(self.booked(move), {
                    (accounts['expense'].name, None): (D(50), D(0)),
                    ("Points Liability", None): (D(0), D(50)),
                    })
            self.assertEqual(
                sorted((line.amount_second_currency, line.second_currency)
                    for line in move.lines),
                [(D(-100), euro), (D(100), euro)])
            self.assertReconciled(stored)

    @with_transaction()
    def test_liability_check_finds_difference(self):
        "Points booked outside the ledger show as a difference"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Move = pool.get('account.move')
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts)
            miles = self.point_type((ann,), accounts, code='M')
            Ledger.earn(ann, points, D(1000), 'sale:1')
            Ledger.earn(ann, miles, D(500), 'sale:2')
            check, = points.get_liability_check([points, miles])
            self.assertEqual(check['types'], [points, miles])
            self.assertEqual(check['outstanding'], D(15))
            self.assertEqual(check['difference'], D(0))
            move = points.get_account_move(
                TODAY, [('earn', ann, D(100))])
            move.save()
            Move.post([move])
            check, = points.get_liability_check([points, miles])
            self.assertEqual(check['difference'], D(1))
            yesterday, = points.get_liability_check(
                [points, miles], date=day(-1))
            self.assertEqual(yesterday['outstanding'], D(0))
            self.assertEqual(yesterday['booked'], D(0))

    @with_transaction()
    def test_no_fiscal_year(self):
        "Without a period the posting fails with the account error"
        Ledger = Pool().get('member.point.ledger')
        with self.accounting() as ((ann, _), accounts):
            points = self.point_type((ann,), accounts)
            with self.assertRaises(UserError) as cm:
                # after the end of the fiscal year
                Ledger.earn(ann, points, D(100), 'sale:1', date=day(800))
            self.assertIn('create a period', str(cm.exception))


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Rules and edge cases of the earning rules engine."""
import datetime as dt
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.member_points.exceptions import RuleError
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

D = Decimal
# A Wednesday, outside of any leap day question
DAY = dt.date(2025, 3, 12)


class RuleTestCase(unittest.TestCase):
    "Test the earning rules"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_programme(self, digits=0):
        pool = Pool()
        Property = pool.get('member.property')
        PointType = pool.get('member.point.type')
        Tier = pool.get('member.tier')
        Group = pool.get('member.point.rule.group')
        programme = create_programme()
        self.classic, self.gold = Tier.create([{
                    'programme': programme.id, 'name': "Classic",
                    'level': 0,
                    }, {
                    'programme': programme.id, 'name': "Gold",
                    'level': 10, 'points_multiplier': D('1.5'),
                    }])
        self.hotel, self.mall = Property.create([{
                    'programme': programme.id, 'code': 'H', 'name': "Hotel",
                    }, {
                    'programme': programme.id, 'code': 'M', 'name': "Mall",
                    }])
        self.ann, self.bob = create_members(
            programme, ["Ann", "Bob"], property_=self.hotel,
            tier=self.classic.id, birthday=dt.date(1990, 3, 12))
        self.points = PointType(
            programme=programme, name="Points", code='P', digits=digits)
        self.points.save()
        self.stack, = Group.create([{
                    'programme': programme.id, 'name': "Stack",
                    'combination': 'stack',
                    }])
        self.programme = programme
        return programme

    def rule(self, group=None, **values):
        Rule = Pool().get('member.point.rule')
        values.setdefault('name', "Rule")
        values.setdefault('type', self.points.id)
        values.setdefault('kind', 'per_amount')
        if values['kind'] == 'per_amount':
            values.setdefault('rate', D(1))
        rule, = Rule.create([{
                    'group': (group or self.stack).id, **values}])
        return rule

    def event(self, amount=D(100), member=None, **values):
        return {
            'event': 'purchase',
            'member': member or self.ann,
            'date': DAY,
            'amount': amount,
            **values,
            }

    def compute(self, *args, **kwargs):
        Rule = Pool().get('member.point.rule')
        return [(a['rule'].name, a['quantity'])
            for a in Rule.compute(self.event(*args, **kwargs))]

    @with_transaction()
    def test_rounding_modes(self):
        "Per-amount awards round down, half up or up to the type digits"
        self.setup_programme()
        self.rule(name="Down", rate=D(1), unit=D(10), rounding='down')
        self.rule(name="Half", rate=D(1), unit=D(10), rounding='half_up')
        self.rule(name="Up", rate=D(1), unit=D(10), rounding='up')
        self.assertEqual(self.compute(D('95')), [
                ("Down", D(9)), ("Half", D(10)), ("Up", D(10))])
        self.assertEqual(self.compute(D('94.99')), [
                ("Down", D(9)), ("Half", D(9)), ("Up", D(10))])

    @with_transaction()
    def test_rounding_digits(self):
        "Awards are quantized to the digits of the point type"
        self.setup_programme(digits=2)
        self.rule(name="Rate", rate=D('0.333'), rounding='half_up')
        self.assertEqual(self.compute(D('10')), [("Rate", D('3.33'))])

    @with_transaction()
    def test_tier_multiplier(self):
        "The tier multiplier applies before rounding when the rule says so"
        pool = Pool()
        Party = pool.get('party.party')
        self.setup_programme()
        self.rule(name="Base")
        self.rule(name="Flat", kind='fixed', quantity=D(25),
            tier_multiplier=False)
        Party.write([self.ann], {'tier': self.gold.id})
        self.assertEqual(self.compute(D('101')), [
                ("Base", D(151)), ("Flat", D(25))])

    @with_transaction()
    def test_multiplier(self):
        "A multiplier rule adds (multiplier - 1) times the base award"
        pool = Pool()
        Category = pool.get('product.category')
        Group = pool.get('member.point.rule.group')
        self.setup_programme()
        spa, room = Category.create([{'name': "Spa"}, {'name': "Room"}])
        self.rule(name="Base", rate=D(1))
        self.rule(name="Spa x2", kind='multiplier',
            multiplier=D(2), categories=[('add', [spa.id])])
        self.rule(name="All x3", kind='multiplier', multiplier=D(3))
        # Rules of other groups are not multiplied
        campaign, = Group.create([{
                    'programme': self.programme.id, 'name': "Campaign",
                    'combination': 'stack', 'sequence': 20}])
        self.rule(group=campaign, name="Campaign", rate=D(5))
        lines = [
            {'category': spa.id, 'amount': D(300)},
            {'category': room.id, 'amount': D(700)},
            ]
        self.assertEqual(self.compute(None, lines=lines), [
                ("Base", D(1000)), ("Spa x2", D(300)),
                ("All x3", D(2000)), ("Campaign", D(5000))])
        # No base rule matching: nothing to multiply
        self.assertEqual(
            self.compute(None, lines=lines, event='signup'), [])

    @with_transaction()
    def test_best_group(self):
        "A best group records only its largest award"
        pool = Pool()
        Group = pool.get('member.point.rule.group')
        self.setup_programme()
        best, = Group.create([{
                    'programme': self.programme.id, 'name': "Best",
                    'combination': 'best'}])
        self.rule(group=best, name="Small", kind='fixed', quantity=D(100))
        self.rule(group=best, name="Large", kind='fixed', quantity=D(200),
            birthday='day')
        Rule = pool.get('member.point.rule')
        awards = Rule.compute(self.event())
        self.assertEqual([(a['rule'].name, a['quantity']) for a in awards],
            [("Large", D(200))])
        self.assertIn('"Best"', awards[0]['reason'])
        self.assertEqual(
            self.compute(date=DAY + dt.timedelta(days=1)),
            [("Small", D(100))])

    @with_transaction()
    def test_best_group_same_day(self):
        "A best group tops up to its largest award over a day's events"
        pool = Pool()
        Group = pool.get('member.point.rule.group')
        Rule = pool.get('member.point.rule')
        Ledger = pool.get('member.point.ledger')
        self.setup_programme()
        best, = Group.create([{
                    'programme': self.programme.id, 'name': "Best",
                    'combination': 'best'}])
        self.rule(group=best, name="Signup", event='signup',
            kind='fixed', quantity=D(100))
        self.rule(group=best, name="Birthday", kind='fixed',
            quantity=D(200), birthday='day')
        Rule.apply(self.event(event='signup', source=self.ann), 'signup:1')
        self.assertEqual(self.compute(), [("Birthday", D(100))])
        Rule.apply(self.event(source=self.ann), 'sale:1')
        self.assertEqual(
            Ledger.balance(self.ann, self.points)['balance'], D(200))
        self.assertEqual(self.compute(), [])
        # The other way round
        Rule.apply(self.event(member=self.bob, source=self.bob), 'sale:2')
        self.assertEqual(
            self.compute(member=self.bob, event='signup'), [])
        self.assertEqual(
            Ledger.balance(self.bob, self.points)['balance'], D(200))

    @with_transaction()
    def test_category_hierarchy(self):
        "A rule on a category counts the spend of its children only"
        pool = Pool()
        Category = pool.get('product.category')
        self.setup_programme()
        wellness, = Category.create([{'name': "Wellness"}])
        spa, = Category.create([{'name': "Spa", 'parent': wellness.id}])
        food, = Category.create([{'name': "Food"}])
        self.rule(name="Wellness", rate=D(2),
            categories=[('add', [wellness.id])])
        lines = [
            {'category': spa.id, 'amount': D(120)},
            {'category': food.id, 'amount': D(80)},
            {'category': None, 'amount': D(50)},
            ]
        self.assertEqual(self.compute(None, lines=lines), [
                ("Wellness", D(240))])
        self.assertEqual(
            self.compute(None, lines=[{'category': food.id, 'amount': D(9)}]),
            [])

    @with_transaction()
    def test_first_purchase(self):
        "First purchase rules see the member's previous purchase awards"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Ledger = pool.get('member.point.ledger')
        self.setup_programme()
        self.rule(name="Welcome", kind='fixed', quantity=D(50),
            first_purchase=True)
        self.assertEqual(self.compute(), [("Welcome", D(50))])
        self.assertEqual(self.compute(first_purchase=False), [])
        # Points earned outside of rules do not count as a purchase
        Ledger.earn(self.ann, self.points, D(5), 'manual:1', date=DAY)
        self.assertEqual(self.compute(), [("Welcome", D(50))])
        Rule.apply(self.event(source=self.ann), 'sale:1')
        self.assertEqual(self.compute(date=DAY + dt.timedelta(days=1)), [])
        self.assertEqual(
            self.compute(date=DAY + dt.timedelta(days=1),
                first_purchase=True), [("Welcome", D(50))])
        self.assertEqual(self.compute(member=self.bob), [("Welcome", D(50))])
        # An earlier date does not see the later purchase
        self.assertEqual(self.compute(date=DAY - dt.timedelta(days=1)),
            [("Welcome", D(50))])

    @with_transaction()
    def test_first_purchase_reversed(self):
        "A reversed purchase does not count as the first one"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Ledger = pool.get('member.point.ledger')
        self.setup_programme()
        self.rule(name="Welcome", kind='fixed', quantity=D(50),
            first_purchase=True)
        Rule.apply(self.event(source=self.bob), 'sale:1')
        self.assertEqual(self.compute(), [])
        Ledger.reverse(self.bob, 'refund:1', date=DAY)
        self.assertEqual(self.compute(), [("Welcome", D(50))])

    @with_transaction()
    def test_birthday(self):
        "Birthday rules match on the day or in the month"
        pool = Pool()
        Party = pool.get('party.party')
        self.setup_programme()
        self.rule(name="Day", kind='fixed', quantity=D(10), birthday='day')
        self.rule(name="Month", kind='fixed', quantity=D(5),
            birthday='month')
        self.assertEqual(self.compute(), [("Day", D(10)), ("Month", D(5))])
        self.assertEqual(self.compute(date=dt.date(2025, 3, 30)),
            [("Month", D(5))])
        self.assertEqual(self.compute(date=dt.date(2025, 4, 12)), [])
        with Transaction().set_context(_member_identity_edit=True):
            Party.write([self.ann], {'birthday': None})
        self.assertEqual(self.compute(), [])
        with Transaction().set_context(_member_identity_edit=True):
            Party.write([self.ann], {'birthday': dt.date(2000, 2, 29)})
        self.assertEqual(self.compute(date=dt.date(2025, 2, 28)),
            [("Day", D(10)), ("Month", D(5))])
        self.assertEqual(self.compute(date=dt.date(2024, 2, 28)),
            [("Month", D(5))])
        self.assertEqual(self.compute(date=dt.date(2024, 2, 29)),
            [("Day", D(10)), ("Month", D(5))])

    @with_transaction()
    def test_condition_filters(self):
        "Channel, property, payment method and tier conditions filter"
        pool = Pool()
        Party = pool.get('party.party')
        self.setup_programme()
        self.rule(name="POS", channels=['pos', 'front_desk'])
        self.rule(name="Mall", properties=[('add', [self.mall.id])])
        self.rule(name="Alipay", payment_methods='alipay, wechat_pay')
        self.rule(name="Gold", tiers=[('add', [self.gold.id])])
        self.assertEqual(self.compute(), [])
        self.assertEqual(self.compute(
                channel='front_desk', property=self.mall.id,
                payment_method='wechat_pay'),
            [("POS", D(100)), ("Mall", D(100)), ("Alipay", D(100))])
        self.assertEqual(self.compute(
                channel='web', property=self.hotel,
                payment_method=['cash', 'alipay']),
            [("Alipay", D(100))])
        Party.write([self.ann], {'tier': self.gold.id})
        self.assertEqual(self.compute(), [("Gold", D(150))])

    @with_transaction()
    def test_dates_and_weekdays(self):
        "Date ranges are inclusive and weekdays filter"
        self.setup_programme()
        self.rule(name="Off-season", start_date=dt.date(2025, 3, 1),
            end_date=DAY, weekdays=['mon', 'wed'])
        self.assertEqual(self.compute(), [("Off-season", D(100))])
        self.assertEqual(self.compute(date=dt.date(2025, 3, 10)),
            [("Off-season", D(100))])
        # Tuesday
        self.assertEqual(self.compute(date=dt.date(2025, 3, 11)), [])
        # After the end
        self.assertEqual(self.compute(date=dt.date(2025, 3, 17)), [])
        self.assertEqual(self.compute(date=dt.date(2025, 2, 26)), [])

    @with_transaction()
    def test_caps(self):
        "Caps cut awards per transaction, day, member and campaign"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Ledger = pool.get('member.point.ledger')
        self.setup_programme()
        rule = self.rule(name="Capped", cap_transaction=D(80),
            cap_day=D(120), cap_member=D(200), cap_total=D(250))
        awards = Rule.compute(self.event())
        self.assertEqual(awards[0]['quantity'], D(80))
        self.assertIn("Cap per Transaction", awards[0]['reason'])

        def apply(key, member=None, date=DAY):
            postings = Rule.apply(self.event(
                    member=member, date=date, source=self.ann), key)
            return sum(p.lines[0].quantity for p in postings)
        self.assertEqual(apply('s:1'), D(80))
        self.assertEqual(apply('s:2'), D(40))
        self.assertEqual(apply('s:3'), D(0))
        next_day = DAY + dt.timedelta(days=1)
        self.assertEqual(apply('s:4', date=next_day), D(80))
        self.assertEqual(apply('s:5', date=next_day + dt.timedelta(1)), 0)
        self.assertEqual(apply('s:6', member=self.bob), D(50))
        self.assertEqual(apply('s:7', member=self.bob), D(0))
        awards = Rule.compute(self.event(member=self.bob))
        self.assertEqual(awards, [])
        # Reversing the postings gives their caps back
        Ledger.reverse(self.ann, 'refund:all', date=DAY)
        self.assertTrue(rule.awards)
        self.assertEqual(apply('s:8'), D(80))

    @with_transaction()
    def test_apply_idempotent(self):
        "Applying an event posts its awards once per key"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Ledger = pool.get('member.point.ledger')
        Metric = pool.get('member.tier.metric')
        Award = pool.get('member.point.rule.award')
        self.setup_programme()
        self.rule(name="Base", qualifying=True, pending_days=3)
        self.rule(name="Bonus", kind='fixed', quantity=D(7))
        event = self.event(D('42.50'), source=self.ann, property=self.hotel)
        postings = Rule.apply(event, 'sale:9')
        self.assertEqual(sorted(p.key for p in postings), sorted(
                f'sale:9:{r.id}' for r in Rule.search([])))
        self.assertEqual(Rule.apply(event, 'sale:9'), postings)
        self.assertEqual(len(Award.search([])), 2)
        balance = Ledger.balance(self.ann, self.points, date=DAY)
        self.assertEqual(balance['balance'], D(49))
        self.assertEqual(
            Ledger.balance(self.ann, self.points)['pending'], D(0))
        metric, = Metric.search([('kind', '=', 'points')])
        self.assertEqual(
            (metric.quantity, metric.key), (D(42), postings[0].key))
        line = postings[0].lines[0]
        self.assertEqual(line.property, self.hotel)
        self.assertEqual(
            line.available_date, DAY + dt.timedelta(days=3))

    @with_transaction()
    def test_award_immutable(self):
        "Awards cannot be changed or deleted"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Award = pool.get('member.point.rule.award')
        self.setup_programme()
        self.rule(name="Base")
        Rule.apply(self.event(source=self.ann), 'sale:1')
        award, = Award.search([])
        with self.assertRaises(AccessError):
            Award.write([award], {'quantity': D(1)})
        with self.assertRaises(AccessError):
            Award.delete([award])

    @with_transaction()
    def test_bad_events_and_rules(self):
        "Bad events raise RuleError; bad rules do not validate"
        pool = Pool()
        Rule = pool.get('member.point.rule')
        Party = pool.get('party.party')
        self.setup_programme()
        walk_in, = Party.create([{'name': "Walk-in"}])
        for event in [
                {'member': self.ann},
                {'event': 'purchase'},
                self.event(member=walk_in),
                self.event(-1),
                self.event(1.5),
                self.event(None, lines=[{'category': None, 'amount': 'x'}]),
                ]:
            with self.subTest(event=event):
                with self.assertRaises(RuleError):
                    Rule.compute(event)
        for values in [
                {'rate': D(0)},
                {'unit': D(0)},
                {'kind': 'fixed'},
                {'kind': 'multiplier', 'multiplier': D(1)},
                {'cap_day': D(0)},
                {'pending_days': -1},
                {'start_date': DAY, 'end_date': DAY - dt.timedelta(1)},
                ]:
            with self.subTest(values=values):
                with self.assertRaises(ValidationError):
                    self.rule(**values)

    @with_transaction()
    def test_simulation_form(self):
        "The simulation form computes the awards without posting"
        pool = Pool()
        Start = pool.get('member.point.rule.simulate.start')
        Line = pool.get('member.point.rule.simulate.line')
        Posting = pool.get('member.point.posting')
        self.setup_programme()
        self.rule(name="Base")
        start = Start(member=self.ann, event='purchase', date=DAY,
            lines=[Line(category=None, amount=D(30)),
                Line(category=None, amount=D(12))])
        awards = start.on_change_with_awards()
        self.assertEqual([(a.rule.name, a.quantity) for a in awards],
            [("Base", D(42))])
        self.assertEqual(start.on_change_with_total(), '42 Points')
        self.assertEqual(Posting.search([]), [])


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import unittest
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.member_core.exceptions import (
    MemberAccessError,
    MemberError,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction

TODAY = dt.date(2030, 6, 15)


def day(n):
    return TODAY + dt.timedelta(days=n)


def create_programme(company, code, window=365, tiers=()):
    "Create a programme with a property and tiers (name, level, values)"
    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    SequenceType = pool.get('ir.sequence.type')
    ModelData = pool.get('ir.model.data')
    Tier = pool.get('member.tier')
    member_type = SequenceType(
        ModelData.get_id('member_core', 'sequence_type_member'))
    programme, = Programme.create([{
                'name': code, 'code': code, 'company': company.id,
                'tier_window_days': window,
                'member_sequence': Sequence.create([{
                            'name': code,
                            'sequence_type': member_type.id,
                            }])[0].id,
                }])
    Property.create([{
                'programme': programme.id, 'code': 'P', 'name': "Hotel",
                }])
    Tier.create([
            dict(values, programme=programme.id, name=name, level=level)
            for name, level, values in tiers])
    return programme


def create_members(programme, count):
    "Create approved members (state set directly) with their initial tier"
    pool = Pool()
    Party = pool.get('party.party')
    Tier = pool.get('member.tier')
    members = Party.create([{
                'name': f"{programme.code} {i}",
                'programme': programme.id,
                'home_property': programme.properties[0].id,
                'member_state': 'member',
                } for i in range(count)])
    Tier.update_members(members, date=TODAY)
    return Party.browse([m.id for m in members])


def tier_names(members):
    Party = Pool().get('party.party')
    return [m.tier.name for m in Party.browse([m.id for m in members])]


STANDARD = [
    ('Classic', 0, {}),
    ('Silver', 10, {
            'qualification': 'any', 'min_spend': Decimal('100'),
            'min_stays': 2, 'grace_days': 10}),
    ('Gold', 20, {
            'qualification': 'all', 'min_spend': Decimal('1000'),
            'min_stays': 10, 'grace_days': 10}),
    ]


class TierTestCase(unittest.TestCase):
    "Test member tiers"

    @classmethod
    def setUpClass(cls):
        activate_module('member_core')

    def setUp(self):
        super().setUp()
        self.company = None

    def programme(self, code='A', window=365, tiers=STANDARD):
        if self.company is None:
            self.company = create_company()
        return create_programme(self.company, code, window, tiers)

    @with_transaction()
    def test_any_of_and_all_of(self):
        "Any-of tiers need one threshold, all-of tiers need all of them"
        Metric = Pool().get('member.tier.metric')
        Tier = Pool().get('member.tier')
        programme = self.programme()
        with set_company(self.company):
            spender, stayer, both, none = create_members(programme, 4)
            Metric.record_many([
                    {'member': spender, 'kind': 'spend',
                        'quantity': Decimal('5000'), 'date': day(-1)},
                    {'member': stayer, 'kind': 'stays',
                        'quantity': 12, 'date': day(-1)},
                    {'member': both, 'kind': 'spend',
                        'quantity': Decimal('1000'), 'date': day(-1)},
                    {'member': both, 'kind': 'stays',
                        'quantity': 10, 'date': day(-1)},
                    ])
            Tier.review(date=TODAY)
            self.assertEqual(
                tier_names([spender, stayer, both, none]),
                ['Silver', 'Silver', 'Gold', 'Classic'])

    @with_transaction()
    def test_exactly_on_threshold(self):
        "A total equal to the threshold qualifies, one cent less does not"
        Metric = Pool().get('member.tier.metric')
        Tier = Pool().get('member.tier')
        programme = self.programme()
        with set_company(self.company):
            exact, short = create_members(programme, 2)
            Metric.record(exact, 'spend', Decimal('100.00'), date=day(-5))
            Metric.record(short, 'spend', Decimal('99.99'), date=day(-5))
            Tier.review(date=TODAY)
            self.assertEqual(
                tier_names([exact, short]), ['Silver', 'Classic'])

    @with_transaction()
    def test_window_bounds(self):
        "The window excludes its first day and includes the review date"
        Metric = Pool().get('member.tier.metric')
        Tier = Pool().get('member.tier')
        programme = self.programme(window=30)
        with set_company(self.company):
            member, = create_members(programme, 1)
            Metric.record(member, 'spend', Decimal('7'), date=day(-30))
            Metric.record(member, 'spend', Decimal('5'), date=day(-29))
            Metric.record(member, 'spend', Decimal('3'), date=TODAY)
            Metric.record(member, 'spend', Decimal('-1'), date=TODAY)
            totals = Tier.get_metrics([member], TODAY)[member.id]
            self.assertEqual(totals['spend'], Decimal('7.00'))
            self.assertEqual(totals['stays'], Decimal('0.00'))

    @with_transaction()
    def test_multiple_programmes(self):
        "Each programme is reviewed with its own window and tiers"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        short = self.programme('S', window=30)
        long_ = self.programme('L', window=365, tiers=[
                ('Blue', 5, {}),
                ('Red', 7, {'min_spend': Decimal('100')}),
                ])
        with set_company(self.company):
            s_member, = create_members(short, 1)
            l_member, = create_members(long_, 1)
            for member in [s_member, l_member]:
                Metric.record(
                    member, 'spend', Decimal('150'), date=day(-100))
            Tier.review(date=TODAY)
            self.assertEqual(
                tier_names([s_member, l_member]), ['Classic', 'Red'])

    @with_transaction()
    def test_grace_and_one_step_downgrade(self):
        "Downgrades wait for the grace period and go one tier per review"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        Party = pool.get('party.party')
        History = pool.get('member.tier.history')
        programme = self.programme(window=30)
        with set_company(self.company):
            member, back = create_members(programme, 2)
            for m in [member, back]:
                Metric.record_many([
                        {'member': m, 'kind': 'spend',
                            'quantity': 1000, 'date': TODAY},
                        {'member': m, 'kind': 'stays',
                            'quantity': 10, 'date': TODAY},
                        ])
            Tier.review(date=TODAY)
            self.assertEqual(tier_names([member, back]), ['Gold', 'Gold'])

            Tier.review(date=day(31))
            member, back = Party.browse([member.id, back.id])
            self.assertEqual(member.tier_below_since, day(31))
            self.assertEqual(tier_names([member, back]), ['Gold', 'Gold'])

            # Back above the thresholds within the grace: grace cleared
            Metric.record_many([
                    {'member': back, 'kind': 'spend',
                        'quantity': 1000, 'date': day(35)},
                    {'member': back, 'kind': 'stays',
                        'quantity': 10, 'date': day(35)},
                    ])
            Tier.review(date=day(40))
            member, back = Party.browse([member.id, back.id])
            self.assertEqual(tier_names([member, back]), ['Gold', 'Gold'])
            self.assertIsNone(back.tier_below_since)
            self.assertEqual(member.tier_below_since, day(31))

            Tier.review(date=day(41))
            self.assertEqual(tier_names([member]), ['Silver'])
            Tier.review(date=day(41))
            self.assertEqual(tier_names([member]), ['Classic'])
            self.assertIsNone(Party(member.id).tier_below_since)
            Tier.review(date=day(42))
            self.assertEqual(tier_names([member]), ['Classic'])
            self.assertEqual(
                [(h.reason, h.to_tier.name) for h in History.search(
                        [('member', '=', member.id)],
                        order=[('id', 'ASC')])],
                [('initial', 'Classic'), ('upgrade', 'Gold'),
                    ('downgrade', 'Silver'), ('downgrade', 'Classic')])

    @with_transaction()
    def test_record_upgrades_at_once(self):
        "Recording jumps several tiers at once and is idempotent on keys"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        programme = self.programme()
        with set_company(self.company):
            member, = create_members(programme, 1)
            today = pool.get('ir.date').today()
            lines = Metric.record_many([
                    {'member': member, 'kind': 'spend', 'quantity': 600,
                        'key': 'k1'},
                    {'member': member, 'kind': 'spend', 'quantity': 600,
                        'key': 'k1'},
                    {'member': member, 'kind': 'stays', 'quantity': 10,
                        'key': 'k2'},
                    {'member': member, 'kind': 'spend', 'quantity': 400},
                    ])
            self.assertEqual(lines[0], lines[1])
            self.assertEqual(len(set(lines)), 3)
            self.assertEqual(
                Metric.record(member, 'stays', 10, key='k2'), lines[2])
            self.assertEqual(tier_names([member]), ['Gold'])
            self.assertEqual(
                Tier.get_metrics([member], today)[member.id]['spend'],
                Decimal('1000.00'))
            with self.assertRaises(MemberError):
                Metric.record(member, 'stays', 11, key='k2')

    @with_transaction()
    def test_metric_append_only(self):
        "Metric lines can be neither changed nor deleted"
        Metric = Pool().get('member.tier.metric')
        programme = self.programme()
        with set_company(self.company):
            member, = create_members(programme, 1)
            line = Metric.record(member, 'spend', 10)
            with self.assertRaises(MemberAccessError):
                Metric.write([line], {'quantity': 11})
            with self.assertRaises(MemberAccessError):
                Metric.delete([line])

    @with_transaction()
    def test_review_in_chunks(self):
        "Every member is reviewed when the ids span several chunks"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        programme = self.programme()
        with set_company(self.company):
            members = create_members(programme, 7)
            Metric.record_many([
                    {'member': m, 'kind': 'stays', 'quantity': 2,
                        'date': day(-1)} for m in members])
            chunk = Tier._review_chunk
            Tier._review_chunk = 2
            try:
                Tier.review(date=TODAY)
            finally:
                Tier._review_chunk = chunk
            self.assertEqual(tier_names(members), ['Silver'] * 7)

    @with_transaction()
    def test_suspended_kept_terminated_skipped(self):
        "Suspended members are reviewed, terminated ones are left alone"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        Party = pool.get('party.party')
        programme = self.programme()
        with set_company(self.company):
            suspended, terminated = create_members(programme, 2)
            Party.write([suspended], {'member_state': 'suspended'})
            Party.write([terminated], {'member_state': 'terminated'})
            Metric.record_many([
                    {'member': m, 'kind': 'stays', 'quantity': 2,
                        'date': day(-1)} for m in [suspended, terminated]])
            Tier.review(date=TODAY)
            self.assertEqual(
                tier_names([suspended, terminated]), ['Silver', 'Classic'])
            self.assertIsNone(
                Tier.get_benefits(suspended, TODAY)['tier'])

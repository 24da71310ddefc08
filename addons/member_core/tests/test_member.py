# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import unittest

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.member_core.identity import mask_phone
from trytond.modules.member_core.party import newest
from trytond.modules.member_core.tests.test_tier import (
    STANDARD,
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction


class MemberScreenTestCase(unittest.TestCase):
    "Test what the members list and the member form show"

    @classmethod
    def setUpClass(cls):
        activate_module('member_core')

    def members(self, count=1):
        company = create_company()
        programme = create_programme(company, 'A', tiers=STANDARD)
        with set_company(company):
            return company, create_members(programme, count)

    def staff(self, company, viewer=False):
        "A member services user, an ID number viewer or not"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        groups = [ModelData.get_id('member_core', 'group_member_services')]
        if viewer:
            groups.append(
                ModelData.get_id('member_core', 'group_member_id_viewer'))
        user, = User.create([{
                    'login': f'staff{int(viewer)}', 'name': "Staff",
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'groups': [('add', groups)],
                    }])
        return user

    def test_mask_phone(self):
        "A phone keeps its country code and its last 4 digits"
        self.assertEqual(mask_phone('+8613912345678'), '+86*******5678')
        self.assertEqual(mask_phone('+14155550123'), '+1******0123')
        self.assertEqual(mask_phone('0123'), '0123')
        self.assertEqual(mask_phone(None), None)

    @with_transaction()
    def test_phone_shown_masked_to_staff(self):
        "Staff see the phone masked, ID number viewers in clear"
        Party = Pool().get('party.party')
        company, (member,) = self.members()
        member.member_phone = '+8613912345678'
        member.save()
        for viewer, shown in [
                (False, '+86*******5678'), (True, '+8613912345678')]:
            user = self.staff(company, viewer=viewer)
            with Transaction().set_user(user.id), \
                    Transaction().set_context(company=company.id):
                member = Party(member.id)
                self.assertEqual(member.member_phone_shown, shown)
                self.assertEqual(Party.search([
                            ('member_phone_shown', '=', '+8613912345678'),
                            ]), [member])

    @with_transaction()
    def test_phone_shown_masked_value_sent_back(self):
        "The masked phone sent back changes nothing, a new one is saved"
        Party = Pool().get('party.party')
        company, (member,) = self.members()
        member.member_phone = '+8613912345678'
        member.save()
        user = self.staff(company)
        with Transaction().set_user(user.id), \
                Transaction().set_context(company=company.id):
            Party.write([Party(member.id)], {
                    'member_phone_shown': '+86*******5678'})
            self.assertEqual(Party(member.id).member_phone, '+8613912345678')
            Party.write([Party(member.id)], {
                    'member_phone_shown': '13987654321'})
            self.assertEqual(Party(member.id).member_phone, '+8613987654321')

    @with_transaction()
    def test_tier_ends(self):
        "The tier ends with the override, the paid period or the grace"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        company, (member,) = self.members()
        today = Date.today()
        self.assertIsNone(member.tier_ends)
        Party.write([member], {
                'tier_below_since': today, 'tier_paid_until': None})
        grace = member.tier.grace_days
        self.assertEqual(Party(member.id).tier_ends,
            today + dt.timedelta(days=grace))
        Party.write([member], {
                'tier_paid_until': today + dt.timedelta(days=grace - 1)})
        self.assertEqual(Party(member.id).tier_ends,
            today + dt.timedelta(days=grace - 1))
        Party.write([member], {
                'tier_override': True,
                'tier_override_end': today + dt.timedelta(days=90)})
        self.assertEqual(Party(member.id).tier_ends,
            today + dt.timedelta(days=90))

    @with_transaction()
    def test_newest(self):
        "The newest records of each member, newest first, at most limit"
        pool = Pool()
        History = pool.get('member.tier.history')
        company, (first, second) = self.members(2)
        tier = first.tier
        dates = [dt.date(2030, 1, d) for d in range(1, 6)]
        History.create([{
                    'member': first.id, 'from_tier': tier.id,
                    'to_tier': tier.id, 'reason': 'upgrade', 'date': d,
                    } for d in dates])
        order = [('date', 'DESC'), ('id', 'DESC')]
        result = newest('member.tier.history', [first, second], order,
            limit=3)
        for member in [first, second]:
            expected = History.search(
                [('member', '=', member.id)], order=order)
            self.assertEqual(result[member.id], [h.id for h in expected][:3])
        self.assertEqual(len(result[first.id]), 3)
        shown = [History(i).date for i in result[first.id]]
        self.assertEqual(shown, sorted(shown, reverse=True))

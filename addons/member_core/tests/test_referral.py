# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import unittest

from trytond.modules.company.tests import create_company
from trytond.modules.member_core.exceptions import (
    MemberAccessError,
    MemberValidationError,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction


def setup_members(count):
    "Create a programme and count prospects, return them with the programme"
    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    SequenceType = pool.get('ir.sequence.type')
    ModelData = pool.get('ir.model.data')
    Party = pool.get('party.party')
    company = create_company()
    member_type = SequenceType(
        ModelData.get_id('member_core', 'sequence_type_member'))
    sequence, = Sequence.create([{
                'name': "Members", 'sequence_type': member_type.id}])
    programme, = Programme.create([{
                'name': "Club", 'code': 'CLUB', 'company': company.id,
                'member_sequence': sequence.id,
                }])
    property_, = Property.create([{
                'programme': programme.id, 'code': 'SH', 'name': "Shanghai",
                }])
    members = Party.create([{
                'name': f"M{i}", 'programme': programme.id,
                'home_property': property_.id,
                } for i in range(count)])
    return programme, members


def refer(programme, referrer, referee, state='requested'):
    Referral = Pool().get('member.referral')
    referral, = Referral.create([{
                'programme': programme.id,
                'referrer': referrer.id,
                'referee': referee.id,
                'state': state,
                }])
    return referral


class ReferralTestCase(unittest.TestCase):
    "Test circular referral detection"

    @classmethod
    def setUpClass(cls):
        activate_module('member_core')

    @with_transaction()
    def test_ancestors_follow_chain(self):
        "Ancestors are every referrer up the chain, not the descendants"
        Referral = Pool().get('member.referral')
        programme, (a, b, c, d) = setup_members(4)
        refer(programme, a, b, state='approved')
        refer(programme, b, c)
        refer(programme, c, d, state='draft')
        self.assertEqual(Referral.get_ancestors([d.id]), {a.id, b.id, c.id})
        self.assertEqual(Referral.get_ancestors([b.id]), {a.id})
        self.assertEqual(Referral.get_ancestors([a.id]), set())

    @with_transaction()
    def test_ancestors_skip_rejected_and_excluded(self):
        "Rejected and excluded referrals break the chain"
        Referral = Pool().get('member.referral')
        programme, (a, b, c) = setup_members(3)
        first = refer(programme, a, b, state='rejected')
        second = refer(programme, b, c)
        self.assertEqual(Referral.get_ancestors([c.id]), {b.id})
        self.assertEqual(
            Referral.get_ancestors([c.id], exclude=[second.id]), set())
        self.assertEqual(first.state, 'rejected')

    @with_transaction()
    def test_ancestors_stop_on_existing_cycle(self):
        "A cycle already in the table does not loop forever"
        Referral = Pool().get('member.referral')
        programme, (a, b, c) = setup_members(3)
        refer(programme, a, b)
        refer(programme, b, c)
        table = Referral.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.insert(
                [table.programme, table.referrer, table.referee,
                    table.date, table.state],
                [[programme.id, c.id, a.id, '2024-01-01', 'approved']]))
        self.assertEqual(
            Referral.get_ancestors([a.id]), {a.id, b.id, c.id})

    def _assert_circular(self, length):
        "Closing a chain of length referrals into a loop is refused"
        programme, members = setup_members(length + 1)
        for referrer, referee in zip(members, members[1:]):
            refer(programme, referrer, referee)
        last, first = members[-1], members[0]
        with self.assertRaises(MemberValidationError) as cm:
            refer(programme, last, first)
        self.assertIn(
            f'"{last.name}" cannot refer "{first.name}"', str(cm.exception))

    @with_transaction()
    def test_circular_direct(self):
        "A referee cannot refer back their referrer"
        self._assert_circular(1)

    @with_transaction()
    def test_circular_transitive(self):
        "A loop through several members is refused"
        self._assert_circular(3)

    @with_transaction()
    def test_circular_allowed_after_rejection(self):
        "Once the referral that made the loop is rejected, the way is free"
        Referral = Pool().get('member.referral')
        programme, (a, b) = setup_members(2)
        referral = refer(programme, a, b)
        Referral.reject([referral])
        back = refer(programme, b, a)
        self.assertEqual(back.state, 'requested')

    @with_transaction()
    def test_circular_in_one_batch(self):
        "Two referrals creating a loop together are refused"
        Referral = Pool().get('member.referral')
        programme, (a, b) = setup_members(2)
        with self.assertRaises(MemberValidationError):
            Referral.create([{
                        'programme': programme.id,
                        'referrer': a.id, 'referee': b.id,
                        }, {
                        'programme': programme.id,
                        'referrer': b.id, 'referee': a.id,
                        }])

    @with_transaction()
    def test_approval_groups_checked_in_code(self):
        "Server-side callers get the group rules of the buttons too"
        pool = Pool()
        Referral = pool.get('member.referral')
        User = pool.get('res.user')
        programme, (a, b) = setup_members(2)
        referral = refer(programme, a, b)
        user, = User.create([{'login': 'nobody', 'name': "Nobody"}])
        with Transaction().set_user(user.id):
            with self.assertRaises(MemberAccessError):
                Referral.first_approve([Referral(referral.id)])
        Referral.first_approve([referral])
        with self.assertRaises(MemberAccessError):
            Referral.approve([referral])
        with Transaction().set_user(user.id):
            with self.assertRaises(MemberAccessError):
                Referral.approve([Referral(referral.id)])
        self.assertEqual(referral.state, 'first_approved')

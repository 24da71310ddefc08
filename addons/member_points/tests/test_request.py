# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Rules of the maker-checker requests, referral rewards and stored-value
cards."""
import unittest
from decimal import Decimal

from trytond.model.exceptions import (
    DigitsValidationError,
    DomainValidationError,
    RequiredValidationError,
)
from trytond.modules.member_core.exceptions import CardRefused
from trytond.modules.member_points.exceptions import (
    InsufficientBalance,
    RequestAccessError,
    RequestError,
    RequestValidationError,
)
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_point_types,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

D = Decimal


class RequestTestCase(unittest.TestCase):
    "Test point requests"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_members(self):
        "Return (ann, bob), points and stored value types"
        programme = create_programme()
        members = create_members(programme, ["Ann", "Bob"])
        points, stored = create_point_types(programme)
        return members, points, stored

    def make_user(self, login):
        User = Pool().get('res.user')
        user, = User.create([{'login': login, 'name': login.title()}])
        return user

    def balance(self, member, type_):
        Ledger = Pool().get('member.point.ledger')
        return Ledger.balance(member, type_)['balance']

    def request_as(self, user, Model, requests):
        with Transaction().set_user(user.id):
            Model.request(requests)

    @with_transaction()
    def test_ratio_rounding(self):
        "The converted quantity is rounded down, only its cost is debited"
        pool = Pool()
        Rate = pool.get('member.point.conversion.rate')
        PointType = pool.get('member.point.type')
        for ratio, from_digits, to_digits, quantity, expected in [
                (D(100), 0, 2, D(150), (D(150), D('1.50'))),
                (D(100), 0, 0, D(150), (D(100), D(1))),
                (D(100), 0, 0, D(99), (D(0), D(0))),
                (D(3), 0, 2, D(10), (D(10), D('3.33'))),
                (D(3), 0, 0, D(10), (D(9), D(3))),
                (D('0.5'), 2, 0, D('2.75'), (D('2.50'), D(5))),
                (D('1.1'), 0, 1, D(1000), (D(1000), D('909.0'))),
                ]:
            with self.subTest(ratio=ratio, quantity=quantity):
                rate = Rate(
                    ratio=ratio,
                    from_type=PointType(digits=from_digits),
                    to_type=PointType(digits=to_digits))
                debited, credited = rate.convert(quantity)
                self.assertEqual((debited, credited), expected)
                self.assertLessEqual(debited, quantity)
                self.assertLessEqual(credited * ratio, debited)

    @with_transaction()
    def test_adjustment_requester_cannot_approve(self):
        "The requester of an adjustment cannot approve it"
        pool = Pool()
        Adjustment = pool.get('member.point.adjustment')
        (ann, _), points, _ = self.setup_members()
        adjustment = Adjustment(
            programme=ann.programme, member=ann, type=points,
            quantity=D(100), reason='goodwill')
        adjustment.save()
        Adjustment.request([adjustment])
        with self.assertRaises(RequestAccessError):
            Adjustment.approve([adjustment])
        self.assertEqual(adjustment.state, 'requested')
        self.assertEqual(self.balance(ann, points), D(0))

    @with_transaction()
    def test_adjustment_approve_twice_posts_once(self):
        "Approving twice, or posting again, posts the adjustment once"
        pool = Pool()
        Adjustment = pool.get('member.point.adjustment')
        Posting = pool.get('member.point.posting')
        (ann, _), points, _ = self.setup_members()
        clerk = self.make_user('clerk')
        adjustment = Adjustment(
            programme=ann.programme, member=ann, type=points,
            quantity=D(-30), reason='correction', reason_text="Typo")
        adjustment.save()
        Pool().get('member.point.ledger').earn(ann, points, D(50), 'e:1')
        self.request_as(clerk, Adjustment, [adjustment])
        Adjustment.approve([adjustment])
        Adjustment.approve([adjustment])
        Adjustment.post([adjustment])
        self.assertEqual(adjustment.state, 'posted')
        self.assertEqual(adjustment.posting.key, f'adjustment:{adjustment.id}')
        self.assertEqual(adjustment.posting.source, adjustment)
        # The ledger key makes a second posting a replay
        self.assertEqual(
            adjustment._post(), {'posting': adjustment.posting.id})
        self.assertEqual(
            Posting.search_count([('source', '=', str(adjustment))]), 1)
        self.assertEqual(self.balance(ann, points), D(20))
        self.assertEqual(adjustment.requested_by, clerk)
        self.assertEqual(adjustment.approved_by.id, Transaction().user)

    @with_transaction()
    def test_adjustment_rejected_posts_nothing(self):
        "A rejected adjustment posts nothing and cannot be approved"
        pool = Pool()
        Adjustment = pool.get('member.point.adjustment')
        (ann, _), points, _ = self.setup_members()
        clerk = self.make_user('clerk')
        adjustment = Adjustment(
            programme=ann.programme, member=ann, type=points,
            quantity=D(100), reason='complaint')
        adjustment.save()
        self.request_as(clerk, Adjustment, [adjustment])
        Adjustment.reject([adjustment])
        Adjustment.approve([adjustment])
        self.assertEqual(adjustment.state, 'rejected')
        self.assertIsNone(adjustment.posting)
        self.assertEqual(self.balance(ann, points), D(0))

    @with_transaction()
    def test_adjustment_validation(self):
        "Zero, too precise and misplaced recharge quantities are refused"
        pool = Pool()
        Adjustment = pool.get('member.point.adjustment')
        (ann, _), points, stored = self.setup_members()
        for values, error in [
                ({'type': points, 'quantity': D(0)},
                    RequestValidationError),
                # the quantity takes the digits of its point type
                ({'type': points, 'quantity': D('1.5')},
                    DigitsValidationError),
                ({'type': points, 'quantity': D(10), 'reason': 'recharge',
                        'amount_paid': D(10)}, DomainValidationError),
                ({'type': stored, 'quantity': D(-10), 'reason': 'recharge',
                        'amount_paid': D(10)}, RequestValidationError),
                ({'type': stored, 'quantity': D(10), 'reason': 'recharge'},
                    RequiredValidationError),
                ]:
            with self.subTest(values=values):
                values = {
                    'programme': ann.programme, 'member': ann,
                    'reason': 'goodwill', **values}
                with self.assertRaises(error):
                    Adjustment(**values).save()

    @with_transaction()
    def test_recharge(self):
        "A recharge credits the stored value once approved"
        pool = Pool()
        Adjustment = pool.get('member.point.adjustment')
        (ann, _), _, stored = self.setup_members()
        clerk = self.make_user('clerk')
        recharge = Adjustment(
            programme=ann.programme, member=ann, type=stored,
            quantity=D('500.00'), reason='recharge', amount_paid=D(500),
            payment_reference='WX-1')
        recharge.save()
        self.request_as(clerk, Adjustment, [recharge])
        Adjustment.approve([recharge])
        self.assertEqual(self.balance(ann, stored), D(500))

    def setup_rate(
            self, points, stored, approval_required=False, ratio=D(100)):
        Rate = Pool().get('member.point.conversion.rate')
        rate = Rate(
            programme=points.programme, from_type=points, to_type=stored,
            ratio=ratio, approval_required=approval_required)
        rate.save()
        return rate

    @with_transaction()
    def test_conversion_without_approval(self):
        "A conversion without approval posts once when requested"
        pool = Pool()
        Conversion = pool.get('member.point.conversion')
        Ledger = pool.get('member.point.ledger')
        (ann, _), points, stored = self.setup_members()
        self.setup_rate(points, stored)
        Ledger.earn(ann, points, D(1000), 'e:1')
        conversion = Conversion(
            programme=ann.programme, member=ann, from_type=points,
            to_type=stored, quantity=D(250))
        conversion.save()
        Conversion.request([conversion])
        Conversion.request([conversion])
        self.assertEqual(conversion.state, 'posted')
        self.assertEqual(conversion.quantity_to, D('2.50'))
        self.assertEqual(self.balance(ann, points), D(750))
        self.assertEqual(self.balance(ann, stored), D('2.50'))
        self.assertEqual(
            [conversion.debit_posting.key, conversion.credit_posting.key],
            [f'conversion:{conversion.id}:debit',
                f'conversion:{conversion.id}:credit'])
        self.assertIsNone(conversion.approved_by)

    @with_transaction()
    def test_conversion_insufficient_balance(self):
        "Converting more than available is refused by the ledger"
        pool = Pool()
        Conversion = pool.get('member.point.conversion')
        (ann, _), points, stored = self.setup_members()
        self.setup_rate(points, stored)
        conversion = Conversion(
            programme=ann.programme, member=ann, from_type=points,
            to_type=stored, quantity=D(250))
        conversion.save()
        with self.assertRaises(InsufficientBalance):
            Conversion.request([conversion])

    @with_transaction()
    def test_conversion_without_rate_or_too_small(self):
        "A conversion needs a rate and must make one unit"
        pool = Pool()
        Conversion = pool.get('member.point.conversion')
        Rate = pool.get('member.point.conversion.rate')
        (ann, _), points, stored = self.setup_members()
        conversion = Conversion(
            programme=ann.programme, member=ann, from_type=points,
            to_type=stored, quantity=D(1))
        conversion.save()
        with self.assertRaises(RequestError):
            Conversion.request([conversion])
        rate = self.setup_rate(points, stored, ratio=D(1000))
        with self.assertRaises(RequestError):
            Conversion.request([conversion])
        Rate.write([rate], {'active': False})
        conversion.quantity = D(200)
        conversion.save()
        with self.assertRaises(RequestError):
            Conversion.request([conversion])

    @with_transaction()
    def test_conversion_with_approval(self):
        "A conversion whose rate requires approval waits for it"
        pool = Pool()
        Conversion = pool.get('member.point.conversion')
        Ledger = pool.get('member.point.ledger')
        (ann, _), points, stored = self.setup_members()
        self.setup_rate(points, stored, approval_required=True)
        Ledger.earn(ann, points, D(1000), 'e:1')
        clerk = self.make_user('clerk')
        conversion = Conversion(
            programme=ann.programme, member=ann, from_type=points,
            to_type=stored, quantity=D(1000))
        conversion.save()
        self.request_as(clerk, Conversion, [conversion])
        self.assertEqual(conversion.state, 'requested')
        self.assertEqual(self.balance(ann, points), D(1000))
        Conversion.approve([conversion])
        self.assertEqual(conversion.state, 'posted')
        self.assertEqual(self.balance(ann, points), D(0))
        self.assertEqual(self.balance(ann, stored), D(10))

    @with_transaction()
    def test_transfer(self):
        "An approved transfer debits the sender and credits the receiver"
        pool = Pool()
        Transfer = pool.get('member.point.transfer')
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        (ann, bob), points, _ = self.setup_members()
        Ledger.earn(ann, points, D(100), 'e:1')
        clerk = self.make_user('clerk')
        with self.assertRaises(RequestValidationError):
            Transfer(
                programme=ann.programme, from_member=ann, to_member=ann,
                type=points, quantity=D(10)).save()
        transfer = Transfer(
            programme=ann.programme, from_member=ann, to_member=bob,
            type=points, quantity=D(60), reason='other',
            reason_text="Family pooling")
        transfer.save()
        self.request_as(clerk, Transfer, [transfer])
        Transfer.approve([transfer])
        Transfer.approve([transfer])
        self.assertEqual(transfer.state, 'posted')
        self.assertEqual(self.balance(ann, points), D(40))
        self.assertEqual(self.balance(bob, points), D(60))

        Party.write([bob], {'member_state': 'suspended'})
        refused = Transfer(
            programme=ann.programme, from_member=ann, to_member=bob,
            type=points, quantity=D(10), reason='goodwill')
        refused.save()
        with self.assertRaises(CardRefused):
            Transfer.request([refused])

    @with_transaction()
    def test_referral_award_once(self):
        "An approved referral awards both members once"
        pool = Pool()
        Referral = pool.get('member.referral')
        Reward = pool.get('member.point.referral.reward')
        (ann, bob), points, _ = self.setup_members()
        Reward.create([{
                    'programme': ann.programme.id, 'type': points.id,
                    'referrer_quantity': D(500),
                    'referee_quantity': D(200),
                    }])
        referral, = Referral.create([{
                    'programme': ann.programme.id,
                    'referrer': ann.id, 'referee': bob.id,
                    }])
        Referral.on_approved([referral])
        Referral.on_approved([referral])
        self.assertEqual(self.balance(ann, points), D(500))
        self.assertEqual(self.balance(bob, points), D(200))
        self.assertEqual(bob.referred_by, ann)

    @with_transaction()
    def test_referral_reward_validation(self):
        "A reward gives something and is unique per programme"
        pool = Pool()
        Reward = pool.get('member.point.referral.reward')
        (ann, _), points, _ = self.setup_members()
        with self.assertRaises(RequestValidationError):
            Reward.create([{
                        'programme': ann.programme.id, 'type': points.id,
                        'referrer_quantity': D(0),
                        'referee_quantity': D(0),
                        }])


class CardRefundTestCase(unittest.TestCase):
    "Test stored-value card refunds"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_card(self):
        pool = Pool()
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        Product = pool.get('member.card.product')
        Card = pool.get('member.card')
        (ann, bob), points, stored = RequestTestCase.setup_members(self)
        product, = Product.create([{
                    'programme': ann.programme.id, 'name': "Stored Value",
                    'code': 'SVC', 'kind': 'stored_value',
                    'number_prefix': '77',
                    'number_sequence': Sequence.create([{
                                'name': "Cards",
                                'sequence_type': ModelData.get_id(
                                    'member_core',
                                    'sequence_type_member_card'),
                                'padding': 8,
                                }])[0].id,
                    }])
        card = Card.issue(ann, product, "New")
        return ann, stored, product, card

    @with_transaction()
    def test_close_refunds_stored_value(self):
        "Closing the last stored-value card refunds the available value"
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        ann, stored, _, card = self.setup_card()
        Ledger.adjust(ann, stored, D('120.50'), 'recharge:1')
        Ledger.hold(ann, stored, D('20.00'), 'hold:1')
        self.assertEqual(
            Card.get_refund_amounts([card]), {card.id: D('100.50')})
        amounts = Card.close([card], "Member leaves")
        self.assertEqual(amounts, {card.id: D('100.50')})
        balance = Ledger.balance(ann, stored)
        self.assertEqual(balance['balance'], D('20.00'))
        self.assertEqual(balance['available'], D(0))
        posting, = pool.get('member.point.posting').search([
                ('key', '=', f'card-close:{card.id}')])
        self.assertEqual(posting.source, card)
        # Closing hooks called again refund nothing more
        Card.on_closed([card])
        self.assertEqual(Ledger.balance(ann, stored)['balance'], D('20.00'))

    @with_transaction()
    def test_close_with_other_card_keeps_value(self):
        "Closing one of two stored-value cards refunds nothing"
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        ann, stored, product, card = self.setup_card()
        other = Card.issue(ann, product, "Second card")
        Ledger.adjust(ann, stored, D(50), 'recharge:1')
        self.assertEqual(Card.close([card], "Lost interest"),
            {card.id: D(0)})
        self.assertEqual(Ledger.balance(ann, stored)['balance'], D(50))
        self.assertEqual(Card.close([other], "Leaves"), {other.id: D(50)})
        self.assertEqual(Ledger.balance(ann, stored)['balance'], D(0))

    @with_transaction()
    def test_replace_keeps_value(self):
        "Replacing a card moves nothing: the value stays with the member"
        pool = Pool()
        Card = pool.get('member.card')
        Ledger = pool.get('member.point.ledger')
        ann, stored, _, card = self.setup_card()
        Ledger.adjust(ann, stored, D(80), 'recharge:1')
        new = Card.replace(card, "Damaged")
        self.assertEqual(Ledger.balance(ann, stored)['balance'], D(80))
        self.assertEqual(Card.get_refund_amounts([new]), {new.id: D(80)})

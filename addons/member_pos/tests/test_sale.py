# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import unittest
from decimal import Decimal

from trytond.modules.company.tests.test_module import set_company
from trytond.modules.member_core.exceptions import CardRefused
from trytond.modules.member_points.exceptions import InsufficientBalance
from trytond.modules.member_points.tests.tools import create_members
from trytond.modules.member_pos.exceptions import (
    MemberPaymentError,
    MemberSaleError,
)
from trytond.modules.member_pos.tests.tools import MemberPosFixture
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class MemberSaleTestCase(MemberPosFixture, unittest.TestCase):
    "Test members on POS sales"

    @classmethod
    def setUpFixture(cls):
        Party = Pool().get('party.party')
        ns = super().setUpFixture()
        with set_company(ns.company):
            ns.ann, ns.bob = create_members(
                ns.programme, ["Ann", "Bob"], property_=ns.shanghai)
            Party.write([ns.ann], {'tier': ns.gold.id})
        return ns

    def _sale(self, ns, member=None, product=None, quantity=1):
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        sale, = Sale.create([{
                    'point': ns.pos.id,
                    'member': member.id if member else None,
                    'lines': [('create', [{
                                    'product': (product or ns.service).id,
                                    'quantity': quantity,
                                    'unit_list_price': (
                                        product or ns.service
                                        ).list_price_used,
                                    'unit_gross_price': (
                                        product or ns.service
                                        ).gross_price_used,
                                    }])],
                    }])
        return sale

    def _earn(self, ns, member, quantity):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Ledger.earn(member, ns.points, quantity, Ledger.new_key('test'))

    def _pay(self, ns, sale, method, **values):
        pool = Pool()
        Payment = pool.get('sale.point.payment')
        payment, = Payment.create([{
                    'sale': sale.id, 'method': method.id, **values}])
        return payment

    @with_transaction()
    def test_discount_applied_once_and_removed(self):
        "Lines created on the server get the tier price once"
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            sale = self._sale(ns, member=ns.ann)
            line, = sale.lines
            self.assertEqual(sale.member_tier, ns.gold)
            self.assertEqual(line.member_discount, Decimal('0.10'))
            self.assertEqual(line.unit_gross_price, Decimal('32.4000'))
            self.assertEqual(
                line.original_unit_gross_price, Decimal('36.0000'))
            self.assertEqual(sale.total, Decimal('32.40'))

            Sale.write([sale], {'member': None})
            line, = sale.lines
            self.assertEqual(line.unit_gross_price, Decimal('36.0000'))
            self.assertEqual(line.member_discount, Decimal(0))
            self.assertIsNone(sale.member_tier)

            Sale.write([sale], {'member': ns.ann.id})
            Sale.write([sale], {'member': ns.ann.id})
            self.assertEqual(sale.total, Decimal('32.40'))

    @with_transaction()
    def test_no_discount_on_top_up(self):
        "Stored-value top-ups keep their face value"
        with self.member_pos() as ns:
            sale = self._sale(
                ns, member=ns.ann, product=ns.top_up, quantity=50)
            self.assertEqual(sale.total, Decimal('50.00'))

    @with_transaction()
    def test_top_up(self):
        "A top-up line credits the stored value when the sale is posted"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            sale, = Sale.create([{'point': ns.pos.id}])
            with self.assertRaises(MemberSaleError):
                sale.add_top_up(Decimal('50'))
            Sale.write([sale], {'member': ns.ann.id})
            with self.assertRaises(MemberSaleError):
                sale.add_top_up(Decimal('-5'))
            sale.add_top_up(Decimal('50'))
            self.assertEqual(sale.total, Decimal('50.00'))
            self._pay(ns, sale, ns.cash, amount=sale.total)
            Sale.process([sale])
            Sale.post([sale])
            self.assertEqual(
                Ledger.balance(ns.ann, ns.stored)['balance'],
                Decimal('50.00'))
            self.assertEqual(sale.points_earned, Decimal(0))
            move_line, = [
                ml for ml in sale.move.lines
                if ml.account == ns.accounts['stored_value']]
            self.assertEqual(move_line.credit, Decimal('50.00'))

    @with_transaction()
    def test_terminated_member_refused(self):
        "A terminated member cannot be set on a sale"
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            Party.write([ns.bob], {'member_state': 'terminated'})
            sale = self._sale(ns)
            with self.assertRaises(CardRefused):
                Sale.write([sale], {'member': ns.bob.id})

    @with_transaction()
    def test_points_to_money_rounding(self):
        "Points are worth their value rounded down, amounts cost points "
        "rounded up to the type's digits"
        pool = Pool()
        PointType = pool.get('member.point.type')
        with self.member_pos() as ns:
            currency = ns.company.currency
            method = ns.points_method
            self.assertEqual(
                method.points_amount(Decimal('12.35'), currency),
                Decimal('1.23'))
            self.assertEqual(
                method.amount_points(Decimal('1.01')), Decimal('10.10'))
            PointType.write([ns.points], {'point_value': Decimal('0.03')})
            self.assertEqual(
                method.amount_points(Decimal('1.01')), Decimal('33.67'))
            self.assertEqual(
                method.points_amount(Decimal('33.67'), currency),
                Decimal('1.01'))

    @with_transaction()
    def test_points_payment(self):
        "A points payment holds the points and books their value"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        with self.member_pos() as ns:
            self._earn(ns, ns.ann, Decimal('100'))
            sale = self._sale(ns, member=ns.ann)
            payment = self._pay(
                ns, sale, ns.points_method, points=Decimal('12.35'),
                amount=Decimal('30'))
            self.assertEqual(payment.amount, Decimal('1.23'))
            self.assertEqual(payment.hold.quantity, Decimal('12.35'))
            self.assertEqual(
                Ledger.balance(ns.ann, ns.points)['available'],
                Decimal('87.65'))

    @with_transaction()
    def test_insufficient_points(self):
        "Asking more points than available is refused, nothing held"
        pool = Pool()
        Hold = pool.get('member.point.hold')
        with self.member_pos() as ns:
            self._earn(ns, ns.ann, Decimal('10'))
            sale = self._sale(ns, member=ns.ann)
            with self.assertRaises(InsufficientBalance) as cm:
                self._pay(ns, sale, ns.points_method, points=Decimal('11'))
            self.assertIn("Ann", cm.exception.message)
            self.assertIn("11", cm.exception.message)
            self.assertIn("10", cm.exception.message)
            self.assertFalse(Hold.search([]))

    @with_transaction()
    def test_points_payment_needs_points_and_member(self):
        "Points payments need a member and the points entered"
        with self.member_pos() as ns:
            sale = self._sale(ns)
            with self.assertRaises(MemberPaymentError):
                self._pay(ns, sale, ns.points_method, points=Decimal('1'))
            sale = self._sale(ns, member=ns.ann)
            with self.assertRaises(MemberPaymentError):
                self._pay(ns, sale, ns.points_method, amount=Decimal('5'))

    @with_transaction()
    def test_points_payment_exceeding_amount_to_pay(self):
        "Points cannot pay more than what is left to pay"
        with self.member_pos() as ns:
            self._earn(ns, ns.ann, Decimal('1000'))
            sale = self._sale(ns, member=ns.ann)
            with self.assertRaises(MemberPaymentError):
                self._pay(ns, sale, ns.points_method, points=Decimal('325'))

    @with_transaction()
    def test_stored_value_wrong_pin(self):
        "A wrong PIN refuses the stored-value payment, nothing held"
        pool = Pool()
        Card = pool.get('member.card')
        CardProduct = pool.get('member.card.product')
        Hold = pool.get('member.point.hold')
        Ledger = pool.get('member.point.ledger')
        ModelData = pool.get('ir.model.data')
        Sequence = pool.get('ir.sequence')
        with self.member_pos() as ns:
            sequence = Sequence(
                name="Cards", padding=7, sequence_type=ModelData.get_id(
                    'member_core', 'sequence_type_member_card'))
            sequence.save()
            product = CardProduct(
                programme=ns.programme, name="Value", code='V',
                kind='stored_value', number_prefix='7001',
                number_sequence=sequence, pin_required=True)
            product.save()
            card = Card.issue(ns.ann, product, "Test", pin='2468')
            Ledger.adjust(ns.ann, ns.stored, Decimal('50'), 'topup-test')
            sale = self._sale(ns, member=ns.ann)
            with self.assertRaises(CardRefused):
                self._pay(
                    ns, sale, ns.stored_method, amount=Decimal('20'),
                    member_card=card.id, pin='1111')
            self.assertFalse(Hold.search([]))
            with self.assertRaises(MemberPaymentError):
                self._pay(ns, sale, ns.stored_method, amount=Decimal('20'))
            payment = self._pay(
                ns, sale, ns.stored_method, amount=Decimal('20'),
                member_card=card.id, pin='2468')
            self.assertEqual(payment.hold.quantity, Decimal('20.00'))

    @with_transaction()
    def test_count_card_required(self):
        "A count-card service needs a member with visits left"
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            sale = self._sale(ns, product=ns.spa_visit)
            with self.assertRaises(MemberSaleError):
                Sale.process([sale])
            sale = self._sale(ns, member=ns.ann, product=ns.spa_visit)
            with self.assertRaises(MemberSaleError):
                Sale.process([sale])

    @with_transaction()
    def test_earning_idempotent(self):
        "Posting earns once under the sale's key; a replay adds nothing"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Metric = pool.get('member.tier.metric')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            sale = self._sale(ns, member=ns.ann)
            self._pay(ns, sale, ns.cash, amount=sale.total)
            Sale.process([sale])
            Sale.post([sale])
            # 32.40 × 1.5
            self.assertEqual(sale.points_earned, Decimal('48.60'))
            sale._post_earning()
            Sale.post([sale])
            self.assertEqual(
                Ledger.balance(ns.ann, ns.points)['balance'], Decimal('48.60'))
            metrics = Metric.search([('source', '=', str(sale))])
            self.assertEqual(
                sorted((m.kind, m.quantity) for m in metrics),
                [('spend', Decimal('32.40')), ('stays', Decimal(1))])

    def _paid_sale(self, ns):
        "Post 2 massages (64.80 for Gold) paid 100 points and cash"
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        self._earn(ns, ns.ann, Decimal('100'))
        sale = self._sale(ns, member=ns.ann, quantity=2)
        self._pay(ns, sale, ns.points_method, points=Decimal('100'))
        self._pay(ns, sale, ns.cash, amount=Decimal('54.80'))
        Sale.process([sale])
        Sale.post([sale])
        return sale

    def _return(self, ns, sale, quantity, payments):
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        back = self._sale(ns, member=ns.ann, quantity=-quantity)
        Sale.write([back], {'return_of': sale.id})
        for method, amount in payments:
            self._pay(ns, back, method, amount=amount)
        Sale.process([back])
        Sale.post([back])
        return back

    @with_transaction()
    def test_partial_return(self):
        "A partial return takes back earned points in proportion and "
        "credits its points refund"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        with self.member_pos() as ns:
            sale = self._paid_sale(ns)
            # (64.80 - 10.00) × 1.5
            self.assertEqual(sale.points_earned, Decimal('82.20'))
            self.assertEqual(sale.points_redeemed, Decimal('100'))
            back = self._return(ns, sale, 1, [
                    (ns.points_method, Decimal('-5.00')),
                    (ns.cash, Decimal('-27.40')),
                    ])
            self.assertEqual(back.state, 'posted')
            self.assertEqual(back.points_earned, Decimal('-41.10'))
            self.assertEqual(back.points_redeemed, Decimal('-50.00'))
            self.assertEqual(
                Ledger.balance(ns.ann, ns.points)['balance'],
                Decimal('91.10'))

    @with_transaction()
    def test_full_return_refunds_as_paid(self):
        "A whole return must refund member payments as they were paid"
        with self.member_pos() as ns:
            sale = self._paid_sale(ns)
            with self.assertRaises(MemberSaleError):
                self._return(ns, sale, 2, [(ns.cash, Decimal('-64.80'))])

    @with_transaction()
    def test_sale_without_member_unchanged(self):
        "A sale without member posts no ledger line"
        pool = Pool()
        Line = pool.get('member.point.line')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            sale = self._sale(ns)
            self.assertEqual(sale.total, Decimal('36.00'))
            self._pay(ns, sale, ns.cash, amount=sale.total)
            Sale.process([sale])
            Sale.post([sale])
            self.assertEqual(sale.state, 'posted')
            self.assertFalse(Line.search([]))
            self.assertEqual(sale.points_earned, Decimal(0))


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Cash session totals per cashier, the handover and commission."""
import io
import unittest
import zipfile
from decimal import Decimal

from trytond.model.exceptions import ValidationError
from trytond.modules.company.tests import set_company
from trytond.modules.member_pos.tests.tools import MemberPosFixture
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

D = Decimal


def create_user(company, login, name):
    User = Pool().get('res.user')
    user, = User.create([{
                'login': login, 'name': name,
                'companies': [('add', [company.id])],
                'company': company.id,
                }])
    return user


def create_employee(company, name):
    pool = Pool()
    Employee = pool.get('company.employee')
    Party = pool.get('party.party')
    party = Party(name=name)
    party.save()
    employee = Employee(party=party, company=company)
    employee.save()
    return employee


def create_member(ns, name, tier=None):
    "An approved member of the programme at Shanghai"
    Party = Pool().get('party.party')
    member, = Party.create([{
                'name': name, 'programme': ns.programme.id,
                'home_property': ns.shanghai.id,
                'member_state': 'member',
                'tier': tier.id if tier else None,
                }])
    return member


def create_card_method(ns):
    "A non-cash payment method (bank card terminal)"
    pool = Pool()
    Account = pool.get('account.account')
    Method = pool.get('sale.point.payment.method')
    account, = Account.copy([ns.accounts['cash']], {'code': '1.1.9'})
    method = Method(name="Card", account=account)
    method.save()
    return method


class SessionFixture(MemberPosFixture):
    "The POS fixtures with a card method"

    @classmethod
    def setUpFixture(cls):
        ns = super().setUpFixture()
        with set_company(ns.company):
            ns.card = create_card_method(ns)
        return ns


def make_sale(ns, lines, payments, member=None, post=False):
    """Create and process a sale of lines [(product, quantity, values)]
    paid by payments [(method, amount, values)]; an amount None pays what
    is left to pay"""
    pool = Pool()
    Sale = pool.get('sale.point.sale')
    Line = pool.get('sale.point.sale.line')
    Payment = pool.get('sale.point.payment')
    sale = Sale(point=ns.pos, member=member)
    sale.save()
    for product, quantity, values in lines:
        line = Line(sale=sale, product=product, quantity=quantity)
        line.on_change_product()
        for name, value in values.items():
            setattr(line, name, value)
        line.save()
    sale = Sale(sale.id)
    for method, amount, values in payments:
        if amount is None:
            amount = Sale(sale.id).amount_to_pay
        Payment(sale=sale, method=method, amount=amount, **values).save()
    Sale.process([sale])
    sale = Sale(sale.id)
    assert sale.state == 'done', sale.state
    if post:
        Sale.post([sale])
    return Sale(sale.id)


class SessionTestCase(SessionFixture, unittest.TestCase):
    "Test cash session handover and commission"

    @with_transaction()
    def test_cashier_totals_two_cashiers_mixed_methods(self):
        "The session totals every method per cashier who took payments"
        pool = Pool()
        Session = pool.get('sale.point.cash.session')
        with self.member_pos() as ns:
            ann = create_user(ns.company, 'ann', "Ann Cashier")
            bob = create_user(ns.company, 'bob', "Bob Cashier")
            with Transaction().set_user(ann.id):
                make_sale(ns, [(ns.service, 1, {})], [(ns.cash, D('36'), {})])
                make_sale(ns, [(ns.service, 2, {})], [(ns.card, D('72'), {})])
                make_sale(ns, [(ns.service, 1, {})], [
                        (ns.cash, D('10'), {}), (ns.card, D('26'), {})])
            with Transaction().set_user(bob.id):
                sale = make_sale(
                    ns, [(ns.service, 3, {})], [(ns.card, D('108'), {})])

            session = Session(sale.till_session.id)
            totals = {(t.cashier.login, t.method.name): (t.count, t.amount)
                for t in session.cashier_totals}
            self.assertEqual(totals, {
                    ('ann', "Cash"): (2, D('46.00')),
                    ('ann', "Card"): (2, D('98.00')),
                    ('bob', "Card"): (1, D('108.00')),
                    })
            # sale_point's cash balance is unchanged: only cash counts
            self.assertEqual(session.balance, D('46.00'))
            methods, cashiers = session.get_handover_totals()
            self.assertEqual(
                {m['method'].name: (m['count'], m['amount']) for m in methods},
                {"Cash": (2, D('46.00')), "Card": (3, D('206.00'))})
            self.assertEqual(len(cashiers), 3)

    @with_transaction()
    def test_cashier_totals_points(self):
        "Points taken as payment are totalled in points and money"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        with self.member_pos() as ns:
            member = create_member(ns, "Mei")
            Ledger.earn(member, ns.points, D(500), Ledger.new_key())
            sale = make_sale(ns, [(ns.service, 1, {})], [
                    (ns.points_method, D('20.00'), {'points': D(200)}),
                    (ns.cash, D('16.00'), {}),
                    ], member=member)

            totals = {t.method.name: (t.count, t.amount, t.points)
                for t in sale.till_session.cashier_totals}
            self.assertEqual(totals["Points"], (1, D('20.00'), D(200)))
            self.assertEqual(totals["Cash"], (1, D('16.00'), D(0)))

    @with_transaction()
    def test_hand_over(self):
        "Handing over closes the session and opens the next one"
        pool = Pool()
        Session = pool.get('sale.point.cash.session')
        HandOver = pool.get(
            'sale.point.cash.session.hand_over', type='wizard')
        HandoverReport = pool.get(
            'sale.point.cash.session.handover', type='report')
        with self.member_pos() as ns:
            ann = create_user(ns.company, 'ann', "Ann Cashier")
            bob = create_user(ns.company, 'bob', "Bob Cashier")
            with Transaction().set_user(ann.id):
                sale = make_sale(
                    ns, [(ns.service, 1, {})], [(ns.cash, D('36'), {})])
            session = sale.till_session

            session_id, _, _ = HandOver.create()
            with Transaction().set_user(ann.id), Transaction().set_context(
                    active_model=Session.__name__, active_id=session.id,
                    active_ids=[session.id]):
                hand_over = HandOver(session_id)
                start = hand_over.default_start(None)
                self.assertEqual(start['expected_amount'], D('36.00'))
                hand_over.start.end_amount = D('30.00')
                hand_over.start.incoming_cashier = bob
                with self.assertRaises(ValidationError):
                    hand_over.transition_hand_over()
                hand_over.start.end_amount = D('36.00')
                self.assertEqual(hand_over.transition_hand_over(), 'print_')

            session = Session(session.id)
            self.assertEqual(session.state, 'closed')
            self.assertEqual(session.handed_over_by, ann)
            self.assertEqual(session.handed_over_to, bob)
            self.assertTrue(session.handover_date)
            following, = Session.search([
                    ('point', '=', ns.pos.id), ('state', '=', 'open')])
            self.assertEqual(following.previous_session, session)
            self.assertEqual(following.start_amount, D('36.00'))

            oext, content, _, _ = HandoverReport.execute([session.id], {})
            self.assertEqual(oext, 'odt')
            content = zipfile.ZipFile(io.BytesIO(content)).read(
                'content.xml').decode()
            for text in ["Ann Cashier", "Bob Cashier", "Cash", "36.00"]:
                self.assertIn(text, content)

    @with_transaction()
    def test_commission_rate_template_overrides_category(self):
        "The template's rate wins over its category's, then parents'"
        pool = Pool()
        Category = pool.get('product.category')
        with self.member_pos() as ns:
            parent = Category(name="Wellness", commission_rate=D('0.08'))
            parent.save()
            child = Category(name="Spa", parent=parent)
            child.save()
            template = ns.service.template
            template.categories = [child]
            template.save()
            self.assertEqual(template.get_commission_rate(), D('0.08'))
            child.commission_rate = D('0.10')
            child.save()
            self.assertEqual(template.get_commission_rate(), D('0.10'))
            template.commission_rate = D('0.05')
            template.save()
            self.assertEqual(template.get_commission_rate(), D('0.05'))
            template.commission_rate = D('0')
            template.save()
            self.assertEqual(template.get_commission_rate(), D('0'))

            template.commission_rate = D('1.5')
            with self.assertRaises(ValidationError):
                template.save()

    @with_transaction()
    def test_commission_per_session_and_staff(self):
        "Commission is frozen on the lines and reported per staff"
        pool = Pool()
        Category = pool.get('product.category')
        Report = pool.get('sale.point.commission.report')
        with self.member_pos() as ns:
            spa = Category(name="Spa", commission_rate=D('0.10'))
            spa.save()
            ns.service.template.categories = [spa]
            ns.service.template.save()
            lily = create_employee(ns.company, "Lily Therapist")
            wen = create_employee(ns.company, "Wen Assistant")

            sale = make_sale(ns, [
                    (ns.service, 2, {'sales_staff': lily}),
                    (ns.service, 1, {'sales_staff': wen}),
                    (ns.service, 1, {}),
                    ], [(ns.cash, D('144'), {})])
            make_sale(ns, [(ns.service, 1, {'sales_staff': lily})],
                [(ns.cash, D('36'), {})])

            line = sale.lines[0]
            self.assertEqual(line.commission_rate, D('0.10'))
            self.assertEqual(line.commission_base, D('72.00'))
            self.assertEqual(line.commission_amount, D('7.20'))
            self.assertIsNone(sale.lines[2].commission_amount)

            rows = Report.search([('session', '=', sale.till_session.id)])
            self.assertEqual(
                {r.sales_staff.rec_name: (r.lines, r.base, r.amount)
                    for r in rows},
                {"Lily Therapist": (2, D('108.00'), D('10.80')),
                    "Wen Assistant": (1, D('36.00'), D('3.60'))})


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""The cashier page API through trytond's WSGI application: the user
application key of a property cashier, real SQLite or PostgreSQL, nothing
mocked."""
import json
import threading
import unittest
from decimal import Decimal

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.member_core.tests.fixture import CommittedFixture
from trytond.modules.member_core.tests.tools import ID_NUMBERS
from trytond.modules.member_pos.tests.tools import create_member_pos
from trytond.pool import Pool
from trytond.protocols.wrappers import Response
from trytond.tests.test_tryton import DB_NAME, Client
from trytond.transaction import Transaction
from trytond.wsgi import app

D = Decimal
URL = f'/{DB_NAME}/member_pos'


class RoutesTestCase(CommittedFixture, unittest.TestCase):
    "Test the cashier page routes"
    # the routes run their own transactions: the fixture is committed
    module = 'member_pos'

    @classmethod
    def setUpFixture(cls):
        pool = Pool()
        Application = pool.get('res.user.application')
        Card = pool.get('member.card')
        CardProduct = pool.get('member.card.product')
        Group = pool.get('res.group')
        Ledger = pool.get('member.point.ledger')
        ModelData = pool.get('ir.model.data')
        Party = pool.get('party.party')
        Property = pool.get('member.property')
        Sequence = pool.get('ir.sequence')
        User = pool.get('res.user')

        company = create_company()
        with set_company(company):
            ns = create_member_pos(company)
            card_product, = CardProduct.create([{
                        'programme': ns.programme.id, 'name': "Club Card",
                        'code': 'CLUB', 'kind': 'points',
                        'number_prefix': '88',
                        'number_sequence': Sequence.create([{
                                    'name': "Cards",
                                    'sequence_type': ModelData.get_id(
                                        'member_core',
                                        'sequence_type_member_card'),
                                    'padding': 8,
                                    }])[0].id,
                        }])
            members = Party.create([{
                        'name': name, 'programme': ns.programme.id,
                        'home_property': ns.shanghai.id,
                        'member_phone': f'1380013800{i}',
                        'id_document_type': 'cn_ric',
                        'id_number': ID_NUMBERS[i],
                        } for i, name in enumerate(["Li Wei", "Wang Fang"])])
            Party.approve_member(members)
            cls.card = Card.issue(members[0], card_product, "New").number
            cls.lost = Card.issue(members[1], card_product, "New")
            Card.report_lost([cls.lost], "Lost in the lobby")
            cls.lost = cls.lost.number
            Ledger.earn(
                members[0], ns.points, D(500), Ledger.new_key('test'))
            value_card, = CardProduct.create([{
                        'programme': ns.programme.id, 'name': "Value Card",
                        'code': 'VAL', 'kind': 'stored_value',
                        'pin_required': True, 'number_prefix': '89',
                        'number_sequence': Sequence.create([{
                                    'name': "Value Cards",
                                    'sequence_type': ModelData.get_id(
                                        'member_core',
                                        'sequence_type_member_card'),
                                    'padding': 8,
                                    }])[0].id,
                        }])
            Card.issue(members[0], value_card, "Sold", pin='4711')
            Ledger.adjust(
                members[0], ns.stored, D(50), Ledger.new_key('test'))
            cls.member = members[0].id
            beijing = Property(
                programme=ns.programme, code='BJ', name="Beijing")
            beijing.save()

            groups = [Group(ModelData.get_id(m, g)).id for m, g in [
                    ('sale_point', 'group_sale_point'),
                    ('sale_point', 'group_sale_point_posting'),
                    ('member_core', 'group_property_staff'),
                    ]]
            users = User.create([{
                        'login': login, 'name': login.title(),
                        'companies': [('add', [company.id])],
                        'company': company.id,
                        'groups': [('add', groups)],
                        'member_properties': [('add', [property_.id])],
                        } for login, property_ in [
                        ('ann', ns.shanghai), ('bob', beijing)]])
            cls.keys = {}
            for user in users:
                application, = Application.create([{
                            'user': user.id, 'application': 'member_pos',
                            'state': 'validated',
                            }])
                cls.keys[user.login] = application.key
        cls.pos = ns.pos.id
        cls.service = ns.service.id
        cls.cash = ns.cash.id
        cls.points_method = ns.points_method.id
        cls.points_type = ns.points.id
        cls.stored_method = ns.stored_method.id
        cls.stored_type = ns.stored.id

    def call(self, method, path, body=None, user='ann', **kwargs):
        "Return (status, JSON answer) of the request as user"
        client = Client(app, Response)
        headers = {}
        if user:
            headers['Authorization'] = f'Bearer {self.keys[user]}'
        if body is not None:
            kwargs['data'] = json.dumps(body)
            kwargs['content_type'] = 'application/json'
        response = client.open(
            URL + path, method=method, headers=headers, **kwargs)
        try:
            return response.status_code, json.loads(response.data)
        except ValueError:
            self.fail(f"{response.status_code}: {response.data[:500]}")

    def sale_body(self, key, **values):
        return {
            'client_key': key, 'point': self.pos, 'code': self.card,
            'lines': [{'product': self.service, 'quantity': '2'}],
            'payments': [
                {'method': self.points_method, 'points': '100'},
                {'method': self.cash, 'amount': '100.00'},
                ],
            **values,
            }

    def member_postings(self):
        "Return the number of ledger postings of the member"
        with Transaction().start(DB_NAME, 0, readonly=True):
            Posting = Pool().get('member.point.posting')
            return Posting.search([], count=True)

    def test_page_served_without_key(self):
        "The page and its assets are served without a key"
        client = Client(app, Response)
        response = client.get(f'{URL}/cashier')
        self.assertEqual(response.status_code, 200)
        self.assertIn(b'cashier.js', response.data)
        self.assertIn("connect-src", response.headers[
                'Content-Security-Policy'])
        response = client.get(f'{URL}/static/cashier.js')
        self.assertEqual(response.status_code, 200)
        response = client.get(f'{URL}/static/routes.py')
        self.assertEqual(response.status_code, 404)

    def test_api_needs_validated_key(self):
        "The API answers 401 without a key or with a requested one"
        client = Client(app, Response)
        response = client.get(f'{URL}/session')
        self.assertEqual(response.status_code, 401)
        response = client.post(
            f'/{DB_NAME}/user/application/',
            data=json.dumps({'user': 'ann', 'application': 'member_pos'}),
            content_type='application/json')
        self.assertEqual(response.status_code, 200)
        key = json.loads(response.data)
        response = client.get(
            f'{URL}/session', headers={'Authorization': f'Bearer {key}'})
        self.assertEqual(response.status_code, 401)

    def test_session(self):
        "The session lists the user's sale points and the methods"
        status, session = self.call('GET', '/session')
        self.assertEqual(status, 200)
        self.assertEqual(session['user']['login'], 'ann')
        self.assertEqual(
            [p['id'] for p in session['points']], [self.pos])
        methods = {m['id']: m for m in session['methods']}
        self.assertEqual(
            methods[self.points_method]['member_payment'], 'points')
        self.assertEqual(
            methods[self.points_method]['point_type']['point_value'],
            '0.10')
        self.assertTrue(methods[self.cash]['cash'])

        status, session = self.call('GET', '/session', user='bob')
        self.assertEqual(status, 200)
        self.assertEqual(session['points'], [])

    def test_identify(self):
        "A swiped card shows the member with tier and balances"
        status, member = self.call(
            'POST', '/identify', {'point': self.pos, 'code': self.card})
        self.assertEqual(status, 200)
        self.assertEqual(member['id'], self.member)
        self.assertEqual(member['name'], "Li Wei")
        self.assertEqual(member['card']['state'], 'active')
        self.assertTrue(member['card']['number'].startswith('****'))
        points, = [b for b in member['balances']
            if b['type'] == self.points_type]
        self.assertGreaterEqual(D(points['available']), D(100))

    def test_identify_phone(self):
        "A phone number identifies the member without a card"
        status, member = self.call(
            'POST', '/identify', {'point': self.pos, 'code': '13800138000'})
        self.assertEqual(status, 200)
        self.assertEqual(member['id'], self.member)
        self.assertIsNone(member['card'])

    def test_identify_lost_card(self):
        "A lost card is refused with member_core's reason"
        status, answer = self.call(
            'POST', '/identify', {'point': self.pos, 'code': self.lost})
        self.assertEqual(status, 422)
        self.assertIn(self.lost, answer['error'])
        self.assertIn("Lost", answer['error'])

    def test_identify_other_property(self):
        "A cashier of another property may not use the sale point"
        status, answer = self.call(
            'POST', '/identify', {'point': self.pos, 'code': self.card},
            user='bob')
        self.assertEqual(status, 403)
        self.assertEqual(answer['error'], "point: not one of your sale points")

    def test_products_member_price(self):
        "Products come with the member's price"
        status, answer = self.call(
            'GET', '/products', user='ann',
            query_string={'point': self.pos, 'q': 'mass'})
        self.assertEqual(status, 200)
        product, = answer['products']
        self.assertEqual(product['id'], self.service)
        self.assertEqual(product['price'], '36.0000')
        self.assertEqual(product['list_price'], '36.0000')

    def test_sale_idempotent(self):
        "A sale posted twice with its client key is one sale, one credit"
        body = self.sale_body('test-sale-idempotent')
        status, first = self.call('POST', '/sales', body)
        self.assertEqual(status, 200, first)
        self.assertEqual(first['state'], 'posted')
        self.assertEqual(first['total'], '72.00')
        self.assertEqual(D(first['points_redeemed']), D(100))
        # 62.00 not paid with points, 1 point per 1.00
        self.assertEqual(D(first['points_earned']), D(62))
        self.assertEqual(first['change'], '38.00')
        self.assertEqual(first['receipt']['member']['number'][:4], '****')
        postings = self.member_postings()

        status, second = self.call('POST', '/sales', body)
        self.assertEqual(status, 200, second)
        self.assertEqual(second['id'], first['id'])
        self.assertEqual(second['number'], first['number'])
        self.assertEqual(D(second['points_earned']), D(62))
        self.assertEqual(self.member_postings(), postings)

    @unittest.skipUnless(backend.name == 'postgresql',
        "concurrent writers meet on PostgreSQL only")
    def test_sale_same_key_concurrently(self):
        "Two posts of one client key at once make one sale, one credit"
        key = 'test-sale-race'
        body = self.sale_body(key)
        barrier = threading.Barrier(2)
        answers = []

        def post():
            barrier.wait()
            answers.append(self.call('POST', '/sales', body))
        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, (status, answer) in enumerate(answers):
            self.assertIn(status, {200, 503}, answer)
            if status == 503:
                # as the page does: retry with the same client key
                answers[i] = self.call('POST', '/sales', body)
        (status1, first), (status2, second) = answers
        self.assertEqual((status1, status2), (200, 200))
        self.assertEqual(first['id'], second['id'])
        self.assertEqual(D(first['points_earned']), D(62))
        with Transaction().start(DB_NAME, 0, readonly=True):
            pool = Pool()
            Posting = pool.get('member.point.posting')
            Sale = pool.get('sale.point.sale')
            self.assertEqual(
                Sale.search([('client_key', '=', key)], count=True), 1)
            operations = [p.operation for p in Posting.search([
                        ('source', '=', f'sale.point.sale,{first["id"]}'),
                        ])]
        self.assertIn('earn', operations)
        self.assertEqual(len(operations), len(set(operations)), operations)

    def test_sale_key_reused(self):
        "The client key of a sale with another body is a conflict"
        status, _ = self.call(
            'POST', '/sales', self.sale_body('test-sale-reused'))
        self.assertEqual(status, 200)
        postings = self.member_postings()
        status, answer = self.call('POST', '/sales', self.sale_body(
                'test-sale-reused',
                lines=[{'product': self.service, 'quantity': '3'}]))
        self.assertEqual(status, 409)
        self.assertIn("client_key", answer['error'])
        self.assertEqual(self.member_postings(), postings)

    def test_sale_malformed(self):
        "A malformed payload is refused naming the field"
        for body, error in [
                (self.sale_body('test-malformed-1', lines=[
                            {'product': self.service, 'quantity': 'two'}]),
                    "lines[0].quantity: not a decimal"),
                (self.sale_body('test-malformed-2', lines=[]),
                    "lines: not a non-empty list"),
                (self.sale_body('test-malformed-3', payments=[
                            {'method': self.points_method}]),
                    "payments[0].points: not a decimal"),
                (self.sale_body('short'),
                    "client_key: 8 to 100 letters, digits or . _ : -"),
                ]:
            with self.subTest(error=error):
                status, answer = self.call('POST', '/sales', body)
                self.assertEqual(status, 400)
                self.assertEqual(answer['error'], error)

    def test_sale_insufficient_payment(self):
        "A sale not fully paid is refused and nothing is written"
        postings = self.member_postings()
        status, answer = self.call('POST', '/sales', self.sale_body(
                'test-sale-short', payments=[
                    {'method': self.points_method, 'points': '100'}]))
        self.assertEqual(status, 422)
        self.assertTrue(answer['error'].startswith("payments: "))
        self.assertEqual(self.member_postings(), postings)
        with Transaction().start(DB_NAME, 0, readonly=True):
            Sale = Pool().get('sale.point.sale')
            self.assertFalse(
                Sale.search([('client_key', '=', 'test-sale-short')]))

    def test_sale_stored_value_pin(self):
        "Stored value pays with the card's PIN; a wrong PIN writes nothing"
        def body(key, pin):
            return self.sale_body(key, payments=[
                    {'method': self.stored_method, 'amount': '20.00',
                        'pin': pin},
                    {'method': self.cash, 'amount': '52.00'},
                    ])

        def stored_value():
            status, member = self.call(
                'POST', '/identify', {'point': self.pos, 'code': self.card})
            balance, = [b for b in member['balances']
                if b['type'] == self.stored_type]
            return D(balance['available'])
        before = stored_value()
        status, answer = self.call(
            'POST', '/sales', body('test-sale-pin-wrong', '0000'))
        self.assertEqual(status, 422)
        self.assertTrue(answer['error'].startswith("payments[0]: "))
        self.assertIn("PIN", answer['error'])
        self.assertEqual(stored_value(), before)

        status, sale = self.call(
            'POST', '/sales', body('test-sale-pin-right', '4711'))
        self.assertEqual(status, 200, sale)
        self.assertEqual(stored_value(), before - 20)

    def test_find_sale_to_return(self):
        "A sale found by its receipt number shows what is left to return"
        status, sale = self.call(
            'POST', '/sales', self.sale_body('test-sale-to-find'))
        self.assertEqual(status, 200, sale)
        line, = sale['lines']

        status, found = self.call(
            'GET', '/sales', query_string={'number': sale['number']})
        self.assertEqual(status, 200, found)
        self.assertEqual(found['id'], sale['id'])
        self.assertEqual(
            [(f['id'], D(f['quantity'])) for f in found['lines']],
            [(line['id'], D(2))])

        status, returned = self.call(
            'POST', f"/sales/{sale['id']}/return", {
                'client_key': 'test-find-return-1',
                'lines': [{'line': line['id'], 'quantity': '1'}],
                })
        self.assertEqual(status, 200, returned)
        status, found = self.call(
            'GET', '/sales', query_string={'number': sale['number']})
        self.assertEqual(
            [(f['id'], D(f['quantity'])) for f in found['lines']],
            [(line['id'], D(1))])

        # Not a return, not another property's, not a missing number
        status, answer = self.call(
            'GET', '/sales', query_string={'number': returned['number']})
        self.assertEqual(status, 404)
        self.assertIn("number", answer['error'])
        status, _ = self.call(
            'GET', '/sales', query_string={'number': sale['number']},
            user='bob')
        self.assertEqual(status, 404)
        status, answer = self.call('GET', '/sales')
        self.assertEqual(status, 400)
        self.assertIn("number", answer['error'])

    def test_sale_other_property(self):
        "A cashier of another property may not sell at the sale point"
        status, answer = self.call(
            'POST', '/sales', self.sale_body('test-sale-bob'), user='bob')
        self.assertEqual(status, 403)

    def test_return_and_receipt_copy(self):
        "A partial return takes back points; a reprint is a copy"
        status, sale = self.call(
            'POST', '/sales', self.sale_body('test-sale-to-return'))
        self.assertEqual(status, 200, sale)
        line, = sale['lines']
        body = {
            'client_key': 'test-return-1',
            'lines': [{'line': line['id'], 'quantity': '1'}],
            }
        status, returned = self.call(
            'POST', f"/sales/{sale['id']}/return", body)
        self.assertEqual(status, 200, returned)
        self.assertEqual(returned['return_of'], sale['id'])
        self.assertEqual(returned['total'], '-36.00')
        self.assertLess(D(returned['points_earned']), 0)

        status, again = self.call(
            'POST', f"/sales/{sale['id']}/return", body)
        self.assertEqual(again['id'], returned['id'])
        status, answer = self.call(
            'POST', f"/sales/{sale['id']}/return", {
                'client_key': 'test-return-2',
                'lines': [{'line': line['id'], 'quantity': '2'}],
                })
        self.assertEqual(status, 422)
        self.assertIn("lines[0].quantity", answer['error'])

        status, document = self.call(
            'GET', f"/sales/{sale['id']}/receipt",
            query_string={'copy': '1'})
        self.assertEqual(status, 200)
        self.assertTrue(document['copy'])
        with Transaction().start(DB_NAME, 0, readonly=True):
            Sale = Pool().get('sale.point.sale')
            self.assertEqual(Sale(sale['id']).receipt_copies, 1)


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import contextlib
import datetime as dt
import unittest

from stdnum import luhn

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.member_core.exceptions import (
    CardRefused,
    LookupRefused,
    MemberAccessError,
    MemberError,
    MemberValidationError,
)
from trytond.modules.member_core.tests.tools import ID_NUMBERS
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction


@contextlib.contextmanager
def count_queries():
    "Count the SQL statements run inside the block (SQLite only)"
    statements = []
    connection = Transaction().connection
    connection.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        connection.set_trace_callback(None)


def setup_programme(kind='count', **product_values):
    "Create a programme, a card product and an approved member"
    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    SequenceType = pool.get('ir.sequence.type')
    ModelData = pool.get('ir.model.data')
    Product = pool.get('member.card.product')
    Party = pool.get('party.party')
    company = create_company()
    member_type = SequenceType(
        ModelData.get_id('member_core', 'sequence_type_member'))
    card_type = SequenceType(
        ModelData.get_id('member_core', 'sequence_type_member_card'))
    programme, = Programme.create([{
                'name': "Club", 'code': 'CLUB', 'company': company.id,
                'member_sequence': Sequence.create([{
                            'name': "Members",
                            'sequence_type': member_type.id,
                            }])[0].id,
                }])
    property_, = Property.create([{
                'programme': programme.id, 'code': 'SH', 'name': "Shanghai",
                }])
    values = {
        'programme': programme.id, 'name': "Card", 'code': 'C',
        'kind': kind, 'number_prefix': '88',
        'number_sequence': Sequence.create([{
                    'name': "Cards", 'sequence_type': card_type.id,
                    'padding': 8,
                    }])[0].id,
        }
    if kind == 'count':
        values['visits'] = 2
    values.update(product_values)
    product, = Product.create([values])
    member, = Party.create([{
                'name': "Li Wei", 'programme': programme.id,
                'home_property': property_.id,
                'member_phone': '13800138000',
                'id_document_type': 'cn_ric', 'id_number': ID_NUMBERS[0],
                }])
    Party.approve_member([member])
    return company, programme, product, member


class CardTestCase(unittest.TestCase):
    "Test member cards"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('member_core')

    @with_transaction()
    def test_number_luhn(self):
        "Card numbers get the prefix, the sequence and a Luhn check digit"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme()
        with set_company(company):
            first = Card.issue(member, product, "New")
            second = Card.issue(member, product, "New")
        self.assertEqual(first.number[:-1], '8800000001')
        self.assertEqual(second.number[:-1], '8800000002')
        self.assertTrue(luhn.is_valid(first.number))
        self.assertTrue(luhn.is_valid(second.number))
        self.assertNotEqual(first.qr_payload, second.qr_payload)

    @with_transaction()
    def test_number_wrong_check_digit(self):
        "A number with a wrong check digit is refused naming the field"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme()
        good = '7992739871' + luhn.calc_check_digit('7992739871')
        bad = good[:-1] + str((int(good[-1]) + 1) % 10)
        with set_company(company):
            card, = Card.create([{
                        'member': member.id, 'product': product.id,
                        'number': good[:5] + ' ' + good[5:],
                        }])
            self.assertEqual(card.number, good)
            with self.assertRaisesRegex(
                    MemberValidationError,
                    f'Number "{bad}" has a wrong check digit'):
                Card.create([{
                            'member': member.id, 'product': product.id,
                            'number': bad,
                            }])
            with self.assertRaisesRegex(
                    LookupRefused, 'wrong check digit'):
                Card.identify(bad)

    @with_transaction()
    def test_pin_hashed(self):
        "The PIN is stored as a password hash and checked against it"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme(pin_required=True)
        with set_company(company):
            card = Card.issue(member, product, "New", pin='4711')
            self.assertNotIn('4711', card.pin_hash)
            self.assertTrue(card.pin_hash.startswith('$argon2'))
            self.assertIsNone(card.pin_code)
            card.check_pin('4711')
            with self.assertRaisesRegex(CardRefused, 'PIN .* is wrong'):
                card.check_pin('4712')
            with self.assertRaisesRegex(
                    MemberValidationError, 'PIN must be 4 to 12 digits'):
                Card.write([card], {'pin_code': '12a4'})

    @with_transaction()
    def test_pin_required_to_activate(self):
        "A product requiring a PIN refuses to activate a card without one"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme(pin_required=True)
        with set_company(company):
            with self.assertRaisesRegex(MemberError, "needs a PIN"):
                Card.issue(member, product, "New")

    @with_transaction()
    def test_history_immutable(self):
        "Card history rows can be neither changed nor deleted"
        pool = Pool()
        Card = pool.get('member.card')
        History = pool.get('member.card.history')
        company, _, product, member = setup_programme()
        with set_company(company):
            card = Card.issue(member, product, "New")
        entry = card.history[0]
        with self.assertRaises(MemberAccessError):
            History.write([entry], {'reason': "Other"})
        with self.assertRaises(MemberAccessError):
            History.delete([entry])
        self.assertEqual(History(entry.id).reason, "New")

    @with_transaction()
    def test_expire_cards_set_based(self):
        "The expiry job updates every due card with a fixed number of queries"
        pool = Pool()
        Card = pool.get('member.card')
        History = pool.get('member.card.history')
        company, _, product, member = setup_programme()
        today = dt.date.today()
        with set_company(company):
            cards = [Card.issue(member, product, "New") for _ in range(12)]
        due, kept = cards[:10], cards[10:]
        Card.write(due, {'expiry_date': today - dt.timedelta(days=1)})
        Card.write(kept, {'expiry_date': today})
        if backend.name == 'sqlite':
            with count_queries() as statements:
                Card.expire_cards()
            writes = [s.split()[0] for s in statements
                if s.startswith(('INSERT', 'UPDATE', 'DELETE'))]
            self.assertEqual(writes, ['INSERT', 'UPDATE'])
            # the rest reads the translated reason
            self.assertLessEqual(len(statements), 4)
        else:
            Card.expire_cards()
        self.assertEqual({Card(c.id).state for c in due}, {'expired'})
        self.assertEqual({Card(c.id).state for c in kept}, {'active'})
        expired = History.search([('action', '=', 'expire')])
        self.assertEqual({h.card for h in expired}, set(due))
        with self.assertRaisesRegex(CardRefused, 'is Expired'):
            Card.identify(due[0].number)

    @with_transaction()
    def test_identify_one_query(self):
        "Identifying a usable card takes one SQL query"
        pool = Pool()
        Card = pool.get('member.card')
        Party = pool.get('party.party')
        company, programme, product, member = setup_programme()
        with set_company(company):
            card = Card.issue(member, product, "New")
        if backend.name != 'sqlite':
            self.skipTest("statements are counted on SQLite")
        Card.identify(card.number)
        Party.lookup_member(phone='138 0013 8000', programme=programme)
        with count_queries() as statements:
            self.assertEqual(Card.identify(card.number), card)
            self.assertEqual(Card.identify(card.qr_payload), card)
        self.assertEqual(len(statements), 2)
        with count_queries() as statements:
            self.assertEqual(Party.lookup_member(
                    phone='138 0013 8000', programme=programme), member)
        self.assertEqual(len(statements), 1)

    @with_transaction()
    def test_consume_visits(self):
        "Count cards lose a visit per use and refuse once empty"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme()
        with set_company(company):
            card = Card.issue(member, product, "New")
            self.assertEqual(card.visits_remaining, 2)
            self.assertEqual(Card.consume_visits(card), 1)
            self.assertEqual(Card.consume_visits(card), 0)
            with self.assertRaisesRegex(CardRefused, '0 visits left'):
                Card.consume_visits(card)
        self.assertEqual(
            [h.action for h in Card(card.id).history].count('visit'), 2)

    @with_transaction()
    def test_restore_visits(self):
        "Returned visits go back to the count card, never to a closed one"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme()
        with set_company(company):
            card = Card.issue(member, product, "New")
            Card.consume_visits(card, 2)
            with self.assertRaisesRegex(MemberError, 'give back'):
                Card.restore_visits(card, 0)
            self.assertEqual(Card.restore_visits(card, 1, "Return"), 1)
            self.assertEqual(Card(card.id).visits_remaining, 1)
            Card.close([Card(card.id)], "Closed")
            with self.assertRaisesRegex(CardRefused, 'cannot be given back'):
                Card.restore_visits(card)
        self.assertEqual(
            [h.action for h in Card(card.id).history].count(
                'visit_restore'), 1)

    @with_transaction()
    def test_renew_annual(self):
        "Renewal extends the validity by the product's months"
        pool = Pool()
        Card = pool.get('member.card')
        company, _, product, member = setup_programme(
            kind='annual', validity_months=1)
        with set_company(company):
            card = Card.issue(member, product, "New")
            expiry = card.expiry_date
            Card.renew([card], "Paid")
        self.assertGreater(Card(card.id).expiry_date, expiry)
        self.assertEqual(Card(card.id).state, 'active')

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.modules.member_core import identity
from trytond.modules.member_core.tests.views import (
    ViewWidgetsMixin,
    undrawable_fields,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class MemberCoreTestCase(ViewWidgetsMixin, ModuleTestCase):
    "Test Member Core module"
    module = 'member_core'

    def test_mask(self):
        "ID numbers keep 3 leading and 4 trailing characters"
        self.assertEqual(
            identity.mask('110105194912310021'), '110***********0021')
        self.assertEqual(identity.mask('E1234567'), '******67')

    def test_encrypt_roundtrip_not_clear(self):
        "Encryption is reversible and never contains the number"
        number = '11010519491231002X'
        token = identity.encrypt(number)
        self.assertNotIn(number, token)
        self.assertNotEqual(token, identity.encrypt(number))
        self.assertEqual(identity.decrypt(token), number)

    def test_hash_normalized(self):
        "The lookup hash ignores case, spaces and dashes"
        self.assertEqual(
            identity.hash_number('11010519491231002x'),
            identity.hash_number(' 110105-19491231002X'))

    def test_validate_resident_id(self):
        "Resident ID numbers are checked with their check digit"
        self.assertTrue(
            identity.validate_id_number('cn_ric', '11010519491231002X'))
        self.assertFalse(
            identity.validate_id_number('cn_ric', '110105194912310021'))
        self.assertTrue(identity.validate_id_number('passport', 'E12345678'))
        self.assertFalse(identity.validate_id_number('passport', 'E1'))

    @with_transaction()
    def test_view_widgets_bare_timestamp(self):
        "A list with a bare Timestamp column is refused by the view check"
        pool = Pool()
        View = pool.get('ir.ui.view')
        History = pool.get('member.card.history')
        bare, drawn = View.create([{
                    'model': History.__name__,
                    'type': 'tree',
                    'arch': '<tree><field name="date"/></tree>',
                    }, {
                    'model': History.__name__,
                    'type': 'tree',
                    'arch': '<tree><field name="date" widget="date"/>'
                    '<field name="date" widget="time"/></tree>',
                    }])
        self.assertEqual(
            undrawable_fields(History, bare.id), [('date', 'timestamp')])
        self.assertEqual(undrawable_fields(History, drawn.id), [])


del ModuleTestCase

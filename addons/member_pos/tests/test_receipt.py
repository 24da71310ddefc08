# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""The receipt document of point-of-sale sales."""
import unittest
from decimal import Decimal

from member_iot_agent import receipt_document

from trytond.modules.member_pos.exceptions import ReceiptError
from trytond.modules.member_pos.receipt import (
    format_points,
    format_quantity,
    mask_name,
    mask_number,
)
from trytond.modules.member_pos.tests.test_session import (
    SessionFixture,
    create_member,
    make_sale,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

D = Decimal


def leaves(value):
    "Yield the scalar values of a nested document"
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def assign_printer(ns):
    "Assign a USB printer of a box at Shanghai to the sale point"
    pool = Pool()
    Box = pool.get('iot.box')
    Assignment = pool.get('iot.device.assignment')
    box, = Box.create([{
                'name': "Shop till", 'property': ns.shanghai.id,
                'devices': [('create', [{
                                'name': 'printer1', 'kind': 'printer',
                                'connection': 'usb', 'vendor_id': '04b8',
                                'product_id': '0202', 'paper_width': '80',
                                }])],
                }])
    printer, = box.devices
    Assignment.create([{'device': printer.id, 'target': str(ns.pos)}])
    return printer


class ReceiptTestCase(SessionFixture, unittest.TestCase):
    "Test the receipt document"

    def test_formatting(self):
        "Masks and number formats of the receipt"
        self.assertEqual(mask_number('C000012345678'), '****5678')
        self.assertEqual(mask_number(None), '')
        self.assertEqual(mask_name("王芳"), '王*')
        self.assertEqual(format_quantity(2.0), '2')
        self.assertEqual(format_quantity(D('10.50')), '10.5')
        self.assertEqual(format_points(D('1000'), 0), '1,000')
        self.assertEqual(format_points(D('88'), 2), '88.00')
        self.assertEqual(format_points(D('1500.00')), '1,500')

    @with_transaction()
    def test_member_sale_document(self):
        "A member sale shows prices, points payment and the member block"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        with self.member_pos() as ns:
            member = create_member(ns, "Mei Wang", tier=ns.gold)
            Party.write([member], {'member_number': 'GH00012345678'})
            Ledger.earn(member, ns.points, D(500), Ledger.new_key())
            sale = make_sale(ns, [(ns.service, 2, {})], [
                    (ns.points_method, D('10.00'), {'points': D(100)}),
                    (ns.cash, None, {}),
                    ], member=member, post=True)

            document = sale.get_receipt_document()

            self.assertEqual(document['language'], 'en')
            self.assertFalse(document['copy'])
            self.assertEqual(document['header'], ["Shanghai", "Shop"])
            self.assertEqual(document['title'], "Sales Receipt")
            self.assertEqual(document['meta'][0], ["Receipt", sale.number])
            self.assertEqual(document['meta'][1][0], "Date")
            self.assertEqual(document['lines'], [{
                        'name': "Massage", 'quantity': '2',
                        'unit_price': '32.40', 'amount': '64.80',
                        'note': "Member price -10%",
                        }])
            self.assertEqual(document['totals'], [
                    ["Subtotal", '72.00'],
                    ["Member discount", '-7.20'],
                    ["Total", '64.80'],
                    ])
            self.assertEqual(document['payments'], [
                    ["Points (100.00)", '10.00'], ["Cash", '54.80']])
            self.assertEqual(document['qr'], sale.number)
            self.assertTrue(document['open_drawer'])

            block = document['member']
            self.assertEqual(block['number'], '****5678')
            self.assertNotIn('GH00012345678', str(document))
            self.assertEqual(block['name'], "M*")
            self.assertEqual(block['tier'], "Gold")
            balance = Ledger.balance(member, ns.points)['balance']
            self.assertEqual(dict(block['lines']), {
                    "Points earned": format_points(sale.points_earned),
                    "Points redeemed": '100',
                    "Points balance": format_points(balance, 2),
                    "Stored Value left": '0.00',
                    })
            self.assertEqual(balance, D(400) + sale.points_earned)
            for value in leaves(document):
                self.assertIsInstance(value, (str, bool))
            # the agent's validator accepts it
            receipt_document.loads(receipt_document.dumps(document))

    @with_transaction()
    def test_copy_in_chinese(self):
        "A copy is marked, opens no drawer and uses the point's language"
        pool = Pool()
        Lang = pool.get('ir.lang')
        ModelData = pool.get('ir.model.data')
        Translation = pool.get('ir.translation')
        with self.member_pos() as ns:
            sale = make_sale(
                ns, [(ns.service, 1, {})], [(ns.cash, None, {})], post=True)
            lang, = Lang.search([('code', '=', 'zh_CN')])
            lang.translatable = True
            lang.save()
            Translation.create([{
                        'name': 'ir.message,text', 'type': 'model',
                        'lang': 'zh_CN', 'module': 'member_pos',
                        'res_id': ModelData.get_id(
                            'member_pos', 'msg_receipt_title'),
                        'src': "Sales Receipt", 'value': "销售小票",
                        }])

            document = sale.get_receipt_document()
            self.assertEqual(
                (document['language'], document['title']),
                ('en', "Sales Receipt"))

            ns.pos.receipt_language = 'zh_CN'
            ns.pos.save()
            sale = sale.__class__(sale.id)
            document = sale.get_receipt_document(copy=True)
            self.assertEqual(document['language'], 'zh_CN')
            self.assertEqual(document['title'], "销售小票")
            self.assertTrue(document['copy'])
            self.assertFalse(document['open_drawer'])
            self.assertNotIn('member', document)
            self.assertEqual(document['totals'], [["Total", '36.00']])
            self.assertNotIn('note', document['lines'][0])

    @with_transaction()
    def test_print_on_post_and_reprint(self):
        "Posting queues one receipt job, a reprint queues a counted copy"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            member = create_member(ns, "Mei", tier=ns.gold)
            sale = make_sale(ns, [(ns.service, 1, {})],
                [(ns.cash, None, {})], member=member)
            with self.assertRaises(ReceiptError):
                Sale.print_receipt([sale])

            printer = assign_printer(ns)
            Sale.post([sale])
            job, = PrintJob.search([])
            self.assertEqual(
                (job.printer, job.source, job.kind, job.state),
                (printer, sale, 'receipt', 'queued'))
            sale = Sale(sale.id)
            self.assertTrue(sale.receipt_printed)
            self.assertEqual(sale.receipt_copies, 0)

            Sale.reprint_receipt([sale])
            Sale.reprint_receipt([sale])
            self.assertEqual(PrintJob.search([], count=True), 3)
            self.assertEqual(Sale(sale.id).receipt_copies, 2)
            copy = PrintJob.search([], order=[('id', 'DESC')])[0]
            self.assertIn('"copy": true', copy.document)

    @with_transaction()
    def test_no_auto_print(self):
        "Without the point's flag, posting queues nothing"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        Sale = pool.get('sale.point.sale')
        with self.member_pos() as ns:
            assign_printer(ns)
            ns.pos.receipt_auto_print = False
            ns.pos.save()
            sale = make_sale(ns, [(ns.service, 1, {})],
                [(ns.cash, None, {})], post=True)
            self.assertEqual(PrintJob.search([]), [])
            self.assertFalse(sale.receipt_printed)
            Sale.print_receipt([sale])
            self.assertEqual(PrintJob.search([], count=True), 1)

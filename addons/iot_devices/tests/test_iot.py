# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Pairing, keys, print jobs, assignments and access of the IoT boxes."""
import copy
import datetime as dt
import json
import unittest
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests.test_module import create_company
from trytond.modules.iot_devices.box import digest
from trytond.modules.iot_devices.exceptions import (
    DeviceValidationError,
    DocumentError,
    IoTError,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction, check_access

RECEIPT = {
    'language': 'zh_CN',
    'width': 58,
    'title': "Sales Receipt",
    'lines': [
        {'name': "Green tea 龙井", 'quantity': "2", 'unit_price': "38.00",
            'amount': "76.00"},
        ],
    'totals': [["Total", "76.00"]],
    'member': {'number': "****5678", 'lines': [["Points earned", "152"]]},
    'qr': "https://example.com/m/ABC",
    'barcode': {'type': 'CODE128', 'data': "POS0042"},
    }


def create_properties():
    "Create a programme with the properties A and B, return them"
    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    company = create_company()
    sequence = Sequence(name="Members", sequence_type=ModelData.get_id(
            'member_core', 'sequence_type_member'))
    sequence.save()
    programme = Programme(
        name="Club", code='C', company=company, member_sequence=sequence)
    programme.save()
    return Property.create([
            {'programme': programme.id, 'code': code, 'name': code}
            for code in ['A', 'B']])


def create_box(property_, name="Front desk"):
    "Create a box with a USB printer and a serial card reader"
    pool = Pool()
    Box = pool.get('iot.box')
    box, = Box.create([{
                'name': name,
                'property': property_.id,
                'devices': [('create', [{
                                'name': 'printer1', 'kind': 'printer',
                                'connection': 'usb', 'vendor_id': '04b8',
                                'product_id': '0202', 'paper_width': '58',
                                }, {
                                'name': 'reader1', 'kind': 'card_reader',
                                'connection': 'serial',
                                'port': '/dev/ttyUSB0',
                                }])],
                }])
    return box


def printer_of(box):
    return next(d for d in box.devices if d.kind == 'printer')


class IoTTestCase(unittest.TestCase):
    "Test the IoT boxes"

    @classmethod
    def setUpClass(cls):
        activate_module('iot_devices')

    def paired_box(self, property_=None):
        pool = Pool()
        Box = pool.get('iot.box')
        if property_ is None:
            property_, _ = create_properties()
        box = create_box(property_)
        box, key = Box.pair(
            box.new_pairing_token(), hostname='till-1', version='1.0.0')
        return box, key

    @with_transaction()
    def test_pairing_token_used_once(self):
        "A pairing token gives one key, then it is refused"
        pool = Pool()
        Box = pool.get('iot.box')
        property_, _ = create_properties()
        box = create_box(property_)
        token = box.new_pairing_token()

        paired, key = Box.pair(token, hostname='till-1', version='1.0.0')
        self.assertEqual(paired, box)
        self.assertEqual(box.state, 'paired')
        self.assertEqual(box.hostname, 'till-1')
        self.assertEqual(Box.from_key(key), box)
        self.assertIsNone(Box.pair(token))

    @with_transaction()
    def test_pairing_token_expired(self):
        "An expired pairing token is refused"
        pool = Pool()
        Box = pool.get('iot.box')
        property_, _ = create_properties()
        box = create_box(property_)
        token = box.new_pairing_token()
        Box.write([box], {
                'pairing_token_expiry': (
                    dt.datetime.now() - dt.timedelta(seconds=1)),
                })

        self.assertIsNone(Box.pair(token))
        self.assertEqual(box.state, 'draft')

    @with_transaction()
    def test_new_token_replaces_old(self):
        "Generating a token makes the previous one useless"
        pool = Pool()
        Box = pool.get('iot.box')
        property_, _ = create_properties()
        box = create_box(property_)
        old = box.new_pairing_token()
        new = box.new_pairing_token()

        self.assertIsNone(Box.pair(old))
        self.assertIsNotNone(Box.pair(new))

    @with_transaction()
    def test_secrets_stored_as_hashes(self):
        "Neither the token nor the key is stored, only their hashes"
        pool = Pool()
        Box = pool.get('iot.box')
        property_, _ = create_properties()
        box = create_box(property_)
        token = box.new_pairing_token()
        self.assertEqual(box.pairing_token_hash, digest(token))
        _, key = Box.pair(token)

        table = Box.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.pairing_token_hash, table.key_hash,
                where=table.id == box.id))
        token_hash, key_hash = cursor.fetchone()
        self.assertIsNone(token_hash)
        self.assertEqual(key_hash, digest(key))
        self.assertNotIn(key, key_hash)

    @with_transaction()
    def test_revoke(self):
        "A revoked key is refused and the box can be paired again"
        pool = Pool()
        Box = pool.get('iot.box')
        box, key = self.paired_box()

        with self.assertRaises(IoTError):
            box.new_pairing_token()
        Box.revoke([box])
        self.assertEqual(box.state, 'revoked')
        self.assertIsNone(box.key_hash)
        self.assertIsNone(Box.from_key(key))

        _, new_key = Box.pair(box.new_pairing_token())
        self.assertEqual(Box.from_key(new_key), box)
        self.assertIsNone(Box.from_key(key))

    @with_transaction()
    def test_heartbeat(self):
        "A heartbeat updates the known devices and reports unknown names"
        box, _ = self.paired_box()

        unknown = box.heartbeat('1.0.1', [
                {'name': 'reader1', 'state': 'error',
                    'message': "unplugged"},
                {'name': 'scale', 'state': 'ok'},
                ])
        self.assertEqual(unknown, ['scale'])
        self.assertEqual(box.version, '1.0.1')
        self.assertTrue(box.online)
        reader, = [d for d in box.devices if d.name == 'reader1']
        self.assertEqual(
            (reader.state, reader.message), ("error", "unplugged"))
        self.assertEqual(len(box.devices), 2)

    @with_transaction()
    def test_queue_pull_acknowledge(self):
        "A job is handed out once, printed once"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        document = copy.deepcopy(RECEIPT)
        document['lines'][0]['amount'] = Decimal('76.00')
        job = PrintJob.queue(printer_of(box), document)

        self.assertEqual(job.box, box)
        self.assertEqual(job.payload['lines'][0]['amount'], "76.00")
        pulled = PrintJob.pull(box)
        self.assertEqual(pulled, [job])
        self.assertEqual((job.state, job.attempts), ('sent', 1))
        self.assertEqual(PrintJob.pull(box), [])

        job.acknowledge('printed')
        job.acknowledge('failed', "paper out")
        self.assertEqual(job.state, 'printed')
        self.assertIsNone(job.error)

    @with_transaction()
    def test_stale_sent_job_handed_out_again(self):
        "A sent job not acknowledged for 5 minutes is pulled again"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        job = PrintJob.queue(printer_of(box), RECEIPT)
        PrintJob.pull(box)
        PrintJob.write([job], {
                'sent_date': dt.datetime.now() - dt.timedelta(minutes=6),
                })

        self.assertEqual(PrintJob.pull(box), [job])
        self.assertEqual(job.attempts, 2)

    @with_transaction()
    def test_pull_only_own_jobs(self):
        "A box pulls only its own jobs"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        other = create_box(box.property, name="Shop")
        PrintJob.queue(printer_of(other), RECEIPT)

        self.assertEqual(PrintJob.pull(box), [])

    @with_transaction()
    def test_retry_failed(self):
        "A failed job can be queued again"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        job = PrintJob.queue(printer_of(box), RECEIPT)
        PrintJob.pull(box)
        job.acknowledge('failed', "paper out")
        self.assertEqual(job.error, "paper out")

        PrintJob.retry([job])
        self.assertEqual((job.state, job.error), ('queued', None))
        self.assertEqual(PrintJob.pull(box), [job])

    @with_transaction()
    def test_cancel(self):
        "A cancelled job is not printed even if the box acknowledges it"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        job = PrintJob.queue(printer_of(box), RECEIPT)
        PrintJob.pull(box)

        PrintJob.cancel([job])
        job.acknowledge('printed')
        self.assertEqual(job.state, 'failed')
        self.assertEqual(job.error, "Cancelled by a user.")
        self.assertEqual(PrintJob.pull(box), [])

    @with_transaction()
    def test_queue_invalid_document_names_field(self):
        "An invalid receipt is refused with the field in the message"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        lines = [
            {'name': "Tea", 'amount': "1"},
            {'name': "Cake", 'amount': "1"},
            {'name': "Soup", 'amount': "abc"},
            ]

        with self.assertRaisesRegex(
                DocumentError, r'lines\[2\]\.amount: not a decimal'):
            PrintJob.queue(printer_of(box), dict(RECEIPT, lines=lines))
        self.assertEqual(PrintJob.search([]), [])

    @with_transaction()
    def test_write_invalid_document(self):
        "Editing a queued job validates its document too"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        job = PrintJob.queue(printer_of(box), RECEIPT)

        with self.assertRaisesRegex(DocumentError, r'width: not 58 or 80'):
            PrintJob.write([job], {
                    'document': json.dumps(dict(RECEIPT, width=76)),
                    })

    @with_transaction()
    def test_drawer_job_without_document(self):
        "A drawer kick needs no receipt"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()

        job = PrintJob.queue(printer_of(box), None, kind='drawer')
        self.assertEqual(job.payload, {})

    @with_transaction()
    def test_queue_refuses_what_the_agent_refuses(self):
        "The server validates with the agent's validator, nothing is written"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        cases = [
            ({'footer': ["Thanks", "\x1bp\x00"]},
                r'footer\[1\]: control characters are not allowed'),
            ({'header': ["Hotel", None]}, r'header\[1\]: not a text'),
            ({'barcode': {'type': 'EAN13', 'data': "12AB"}},
                r'barcode\.data: not valid for EAN13'),
            ({'lines': [{'name': "Tea", 'amount': 1}]},
                r'lines\[0\]\.amount: not a decimal'),
            ]
        for values, reason in cases:
            with self.subTest(reason=reason):
                with self.assertRaisesRegex(DocumentError, reason):
                    PrintJob.queue(printer_of(box), dict(RECEIPT, **values))
        self.assertEqual(PrintJob.search([]), [])

    @with_transaction()
    def test_for_target(self):
        "The device of a kind assigned to a desk is found"
        pool = Pool()
        Device = pool.get('iot.device')
        Desk = pool.get('iot.desk')
        Assignment = pool.get('iot.device.assignment')
        box, _ = self.paired_box()
        desk, other_desk = Desk.create([
                {'name': "Lobby", 'property': box.property.id},
                {'name': "Spa", 'property': box.property.id},
                ])
        printer = printer_of(box)
        reader, = [d for d in box.devices if d.kind == 'card_reader']
        Assignment.create([
                {'device': printer.id, 'target': str(desk)},
                {'device': reader.id, 'target': str(desk)},
                ])

        self.assertEqual(Device.for_target(desk), printer)
        self.assertEqual(Device.for_target(desk, kind='card_reader'), reader)
        self.assertIsNone(Device.for_target(other_desk))
        Device.write([printer], {'active': False})
        self.assertIsNone(Device.for_target(desk))

    @with_transaction()
    def test_one_device_per_kind_and_target(self):
        "A desk cannot have two printers"
        pool = Pool()
        Device = pool.get('iot.device')
        Desk = pool.get('iot.desk')
        Assignment = pool.get('iot.device.assignment')
        box, _ = self.paired_box()
        desk = Desk(name="Lobby", property=box.property)
        desk.save()
        printer, = Device.copy([printer_of(box)], {'name': 'printer2'})
        Assignment(device=printer_of(box), target=desk).save()

        with self.assertRaises(DeviceValidationError):
            Assignment(device=printer, target=desk).save()

    @with_transaction()
    def test_usb_ids(self):
        "USB ids are four hexadecimal digits"
        pool = Pool()
        Device = pool.get('iot.device')
        box, _ = self.paired_box()

        with self.assertRaisesRegex(DeviceValidationError, "Vendor ID"):
            Device.create([{
                        'box': box.id, 'name': 'printer9',
                        'kind': 'printer', 'connection': 'usb',
                        'vendor_id': 'epson', 'product_id': '0202',
                        }])

    @with_transaction()
    def test_purge(self):
        "Old printed jobs are purged, others kept"
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        box, _ = self.paired_box()
        printed, failed, queued = [
            PrintJob.queue(printer_of(box), RECEIPT) for _ in range(3)]
        PrintJob.pull(box)
        printed.acknowledge('printed')
        failed.acknowledge('failed')

        PrintJob.purge(dt.datetime.now() + dt.timedelta(seconds=1))
        self.assertEqual(
            sorted(PrintJob.search([])), sorted([failed, queued]))

    @with_transaction()
    def test_property_staff_see_own_boxes(self):
        "Staff of property A neither see nor print on the box of B"
        pool = Pool()
        User = pool.get('res.user')
        Box = pool.get('iot.box')
        PrintJob = pool.get('iot.print.job')
        ModelData = pool.get('ir.model.data')
        property_a, property_b = create_properties()
        box_a, box_b = create_box(property_a), create_box(property_b, "B")
        user = User(
            login='staff', name="Staff",
            groups=[ModelData.get_id('member_core', 'group_property_staff')],
            member_properties=[property_a])
        user.save()
        printer_b = printer_of(box_b)

        with Transaction().set_user(user.id), check_access():
            self.assertEqual(Box.search([]), [box_a])
            self.assertEqual(Box(box_a.id).name, "Front desk")
            with self.assertRaises(AccessError):
                Box.read([box_b.id], ['name'])
            job = PrintJob.queue(printer_of(Box(box_a.id)), RECEIPT)
            self.assertEqual(job.box, box_a)
            with self.assertRaises(AccessError):
                PrintJob.queue(printer_b, RECEIPT)
            with self.assertRaises(AccessError):
                Box.write([Box(box_a.id)], {'name': "Renamed"})

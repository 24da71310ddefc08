# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import io
import unittest

from openpyxl import Workbook

from trytond.modules.company.tests import create_company
from trytond.modules.member_core.exceptions import MemberError
from trytond.modules.member_core.member_import import (
    decode,
    detect_format,
    parse_date,
    propose_mapping,
    read_file,
)
from trytond.modules.member_core.tests.tools import ID_NUMBERS
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction


class MemberImportFunctionsTestCase(unittest.TestCase):
    "Reading files, proposing mappings and parsing values"

    def test_propose_mapping(self):
        "Headers in English and Chinese are mapped, others are not"
        self.assertEqual(
            propose_mapping([
                    "Full Name", "Mobile", "E-mail", "ID No.", "DOB",
                    "性别", "门店代码", "Remarks", "Join_Date", "标签"]),
            ['name', 'phone', 'email', 'id_number', 'birthday', 'gender',
                'home_property', None, 'join_date', 'tags'])

    def test_propose_mapping_once(self):
        "A field is proposed for the first matching column only"
        self.assertEqual(
            propose_mapping(["手机", "电话", "姓名"]),
            ['phone', None, 'name'])

    def test_detect_format(self):
        "The format comes from the extension"
        self.assertEqual(detect_format('members.CSV'), 'csv')
        self.assertEqual(detect_format('members.xlsx'), 'xlsx')
        self.assertIsNone(detect_format('members.xls'))

    def test_decode_utf8_bom(self):
        "UTF-8 with a byte order mark is read without the mark"
        self.assertEqual(
            decode('\ufeff姓名'.encode('utf-8'), 'a.csv'),
            ('姓名', 'utf-8-sig'))

    def test_decode_gb18030(self):
        "Text that is not UTF-8 is read as GB18030"
        self.assertEqual(
            decode('姓名,手机'.encode('gb18030'), 'a.csv'),
            ('姓名,手机', 'gb18030'))

    def test_parse_date_formats(self):
        "Dates are read in the formats of the legacy exports"
        expected = dt.date(2024, 1, 31)
        for value in [
                '2024-01-31', '2024/1/31', '31.01.2024', '2024.01.31',
                '20240131', '2024年1月31日', '2024-01-31 10:30:00',
                dt.datetime(2024, 1, 31, 8, 0), expected, 45322, 45322.0]:
            with self.subTest(value=value):
                self.assertEqual(parse_date(value), expected)

    def test_parse_date_invalid(self):
        "Ambiguous or impossible dates are refused"
        for value in ['31/01/2024', '01/02/2024', '2024-02-30', 'soon', -3]:
            with self.subTest(value=value):
                self.assertIsNone(parse_date(value))

    def test_read_xlsx_date_cells(self):
        "Excel date cells are read as dates and empty rows skipped"
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(["Name", "Birthday", "Mobile"])
        sheet.append(["Ann", dt.date(1990, 3, 7), 13900000001])
        sheet.append([None, None, None])
        sheet.append(["Ben", "1991/4/8", None])
        content = io.BytesIO()
        workbook.save(content)
        header, rows, file_format, encoding = read_file(
            content.getvalue(), 'members.xlsx')
        self.assertEqual(header, ["Name", "Birthday", "Mobile"])
        self.assertEqual(file_format, 'xlsx')
        self.assertEqual([n for n, _ in rows], [2, 4])
        self.assertEqual(parse_date(rows[0][1][1]), dt.date(1990, 3, 7))
        self.assertEqual(parse_date(rows[1][1][1]), dt.date(1991, 4, 8))

    def test_read_csv_semicolon(self):
        "The delimiter is detected from the header"
        header, rows, _, _ = read_file(
            b'Name;Mobile\nAnn;13900000001\n', 'members.csv')
        self.assertEqual(header, ['Name', 'Mobile'])
        self.assertEqual(rows, [(2, ['Ann', '13900000001'])])

    def test_read_xlsx_invalid(self):
        "A file that is not a workbook raises an error"
        with self.assertRaises(MemberError):
            read_file(b'Name,Mobile\n', 'members.xlsx')


class MemberImportTestCase(unittest.TestCase):
    "Import of rows into a programme"

    @classmethod
    def setUpClass(cls):
        activate_module('member_core')

    def create_programme(self):
        pool = Pool()
        Programme = pool.get('member.programme')
        Property = pool.get('member.property')
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        sequence, = Sequence.create([{
                    'name': "Members",
                    'sequence_type': ModelData.get_id(
                        'member_core', 'sequence_type_member'),
                    }])
        programme, = Programme.create([{
                    'name': "Club", 'code': 'CLUB', 'company': company.id,
                    'member_sequence': sequence.id,
                    }])
        property_, = Property.create([{
                    'programme': programme.id, 'code': 'SH',
                    'name': "Shanghai",
                    }])
        return programme, property_

    @with_transaction()
    def test_decode_undecodable(self):
        "Undecodable bytes raise an error naming the file and row"
        with self.assertRaises(MemberError) as cm:
            decode(b'name\nAnn\n\xff\xfe', 'bad.csv')
        self.assertIn('Row 3 of the file "bad.csv"', cm.exception.message)

    @with_transaction()
    def test_import_masks_rejected_id_number(self):
        "A rejected ID number is shown masked in the report"
        pool = Pool()
        Import = pool.get('member.import')
        programme, property_ = self.create_programme()
        bad = ID_NUMBERS[0][:-1] + '0'
        result = Import.import_file(
            programme, f"Name,ID Number\nAnn,{bad}\n".encode(), 'a.csv',
            home_property=property_)
        line, = result.lines
        self.assertEqual(line.action, 'rejected')
        self.assertNotIn(bad, line.message)
        self.assertIn('110***', line.message)

    @with_transaction()
    def test_import_approve_complete_rows(self):
        "Complete rows are approved, incomplete ones stay prospects"
        pool = Pool()
        Import = pool.get('member.import')
        Party = pool.get('party.party')
        programme, property_ = self.create_programme()
        data = (f"Name,Mobile,ID Number\nAnn,13900000001,{ID_NUMBERS[0]}\n"
            "Ben,13900000002,\n").encode()
        result = Import.import_file(
            programme, data, 'a.csv', home_property=property_,
            approve=True)
        self.assertEqual(result.created, 2)
        ann, = Party.search([('name', '=', "Ann")])
        ben, = Party.search([('name', '=', "Ben")])
        self.assertEqual(ann.member_state, 'member')
        self.assertEqual(ben.member_state, 'prospect')
        self.assertTrue(ann.member_number)
        self.assertNotEqual(ann.member_number, ben.member_number)
        self.assertEqual(
            Party.search([('id_number', '=', ID_NUMBERS[0])]), [ann])

    @with_transaction()
    def test_import_missing_key_column(self):
        "A file without phone, email or ID column writes nothing"
        pool = Pool()
        Import = pool.get('member.import')
        programme, property_ = self.create_programme()
        with self.assertRaises(MemberError):
            Import.import_file(
                programme, b"Name,Birthday\nAnn,1990-01-01\n", 'a.csv',
                home_property=property_)
        self.assertEqual(Import.search([]), [])

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Points statement, liability and monthly reports."""
import datetime as dt
import io
import re
import unittest
import zipfile
from decimal import Decimal
from xml.etree import ElementTree

from trytond.model.exceptions import AccessError
from trytond.modules.member_points.exceptions import StatementError
from trytond.modules.member_points.tests.tools import (
    create_members,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction, check_access

D = Decimal
FROM, TO = dt.date(2025, 2, 1), dt.date(2025, 4, 30)
SHEET_NS = {
    'x': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'}


def xlsx_sheets(content):
    "Return the rows of each sheet of the XLSX as lists of cell texts"
    with zipfile.ZipFile(io.BytesIO(content)) as xlsx:
        strings = [
            ''.join(t.text or '' for t in si.iter(
                    '{%s}t' % SHEET_NS['x']))
            for si in ElementTree.fromstring(
                xlsx.read('xl/sharedStrings.xml')).findall(
                'x:si', SHEET_NS)]
        workbook = ElementTree.fromstring(xlsx.read('xl/workbook.xml'))
        names = [s.get('name') for s in workbook.iter(
                '{%s}sheet' % SHEET_NS['x'])]
        sheets = {}
        for i, name in enumerate(names, 1):
            sheet = ElementTree.fromstring(
                xlsx.read(f'xl/worksheets/sheet{i}.xml'))
            rows = []
            for row in sheet.iter('{%s}row' % SHEET_NS['x']):
                cells = []
                for cell in row.findall('x:c', SHEET_NS):
                    value = cell.findtext('x:v', '', SHEET_NS)
                    if cell.get('t') == 's':
                        value = strings[int(value)]
                    # Empty cells are not written: place by reference
                    column = ord(re.match('[A-Z]', cell.get('r'))[0]) - 65
                    cells.extend([''] * (column - len(cells)))
                    cells.append(value)
                rows.append(cells)
            sheets[name] = rows
        return sheets


class ReportingTestCase(unittest.TestCase):
    "Test the points reports"

    @classmethod
    def setUpClass(cls):
        activate_module('member_points')

    def setup_members(self, **type_values):
        pool = Pool()
        PointType = pool.get('member.point.type')
        Property = pool.get('member.property')
        programme = create_programme()
        hotel = Property(programme=programme, code='H', name="Hotel")
        hotel.save()
        shop = Property(programme=programme, code='S', name="商店")
        shop.save()
        members = create_members(programme, ["Ann", "王伟"], hotel)
        type_values.setdefault('expiry_policy', 'months')
        type_values.setdefault('expiry_months', 3)
        points = PointType(
            programme=programme, name="Points", code='P', **type_values)
        points.save()
        return members, points, hotel, shop

    def post_history(self):
        """Post Ann's history around the period 2025-02-01..2025-04-30:
        opening 77, earned 53, redeemed 22, expired 45, adjusted -40,
        closing 23."""
        Ledger = Pool().get('member.point.ledger')
        (ann, wang), points, hotel, shop = self.setup_members()

        def date(month, day):
            return dt.date(2025, month, day)
        Ledger.earn(ann, points, D(100), 'e1', date=date(1, 10))
        Ledger.redeem(ann, points, D(30), 'r1', date=date(1, 20))
        # The day before the period and its first day
        Ledger.earn(ann, points, D(7), 'e2', date=date(1, 31))
        Ledger.earn(ann, points, D(3), 'e3', date=date(2, 1))
        Ledger.earn(
            ann, points, D(50), 'e4', source=wang, date=date(2, 5))
        Ledger.redeem(ann, points, D(20), 'r2', date=date(2, 10))
        Ledger.adjust(ann, points, D(15), 'a1', date=date(3, 1),
            description="Goodwill")
        Ledger.adjust(ann, points, D(-5), 'a2', date=date(3, 5))
        Ledger.reverse(wang, 'cancel', date=date(3, 10))
        Ledger.expire(date(4, 11))
        # The last day of the period and after it
        Ledger.redeem(ann, points, D(2), 'r3', date=date(4, 30))
        Ledger.earn(ann, points, D(10), 'e5', date=date(5, 10))
        Ledger.earn(wang, points, D(5), 'w1', date=date(2, 20))
        return (ann, wang), points, hotel, shop

    @with_transaction()
    def test_statement_figures(self):
        "Opening and the period's movements by kind make the closing"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Statement = pool.get('member.point.statement.account')
        (ann, wang), points, _, _ = self.post_history()

        ann_statement, wang_statement = Statement.compute(
            [ann, wang], FROM, TO)

        self.assertEqual(ann_statement.member, ann)
        self.assertEqual(
            [ann_statement.opening, ann_statement.earned,
                ann_statement.redeemed, ann_statement.expired,
                ann_statement.adjusted, ann_statement.closing],
            [D(77), D(53), D(22), D(45), D(-40), D(23)])
        self.assertEqual(
            ann_statement.closing,
            Ledger.balance(ann, points, date=TO)['balance'])
        self.assertEqual(
            ann_statement.opening,
            Ledger.balance(
                ann, points, date=FROM - dt.timedelta(days=1))['balance'])
        self.assertEqual(
            [(line.date, line.kind, line.quantity)
                for line in ann_statement.lines],
            [(dt.date(2025, 2, 1), 'earn', D(3)),
                (dt.date(2025, 2, 5), 'earn', D(50)),
                (dt.date(2025, 2, 10), 'redeem', D(-20)),
                (dt.date(2025, 3, 1), 'adjust', D(15)),
                (dt.date(2025, 3, 5), 'adjust', D(-5)),
                (dt.date(2025, 3, 10), 'reverse', D(-50)),
                (dt.date(2025, 4, 11), 'expire', D(-45)),
                (dt.date(2025, 4, 30), 'redeem', D(-2)),
                ])
        self.assertEqual(ann_statement.lines[0].balance, D(80))
        self.assertEqual(ann_statement.lines[-1].balance, D(23))
        self.assertEqual(ann_statement.lines[3].description, "Goodwill")

        self.assertEqual(wang_statement.member, wang)
        self.assertEqual(
            [wang_statement.opening, wang_statement.earned,
                wang_statement.closing], [D(0), D(5), D(5)])

    @with_transaction()
    def test_statement_type_filter_and_digits(self):
        "Only the asked types are stated, rounded to their digits"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        PointType = pool.get('member.point.type')
        Statement = pool.get('member.point.statement.account')
        (ann, _), points, _, _ = self.setup_members()
        stored = PointType(
            programme=points.programme, name="Stored Value", code='SV',
            kind='stored_value', digits=2, point_value=D(1),
            currency=points.programme.company.currency)
        stored.save()
        Ledger.adjust(ann, stored, D('12.34'), 'sv', date=FROM)
        Ledger.earn(ann, points, D(9), 'p', date=FROM)

        statement, = Statement.compute([ann], FROM, TO, [stored])
        self.assertEqual(statement.type, stored)
        self.assertEqual(statement.closing, D('12.34'))
        self.assertEqual(str(statement.closing), '12.34')
        self.assertEqual(len(Statement.compute([ann], FROM, TO)), 2)

    @with_transaction()
    def test_statement_period_before_any_line(self):
        "A period before the first posting states nothing"
        Statement = Pool().get('member.point.statement.account')
        (ann, _), _, _, _ = self.post_history()
        self.assertEqual(
            Statement.compute(
                [ann], dt.date(2024, 1, 1), dt.date(2024, 12, 31)), [])

    @with_transaction()
    def test_statement_dates_reversed(self):
        "A period ending before it starts is refused"
        Statement = Pool().get('member.point.statement.account')
        (ann, _), _, _, _ = self.setup_members()
        with self.assertRaisesRegex(StatementError, "From Date"):
            Statement.compute([ann], TO, FROM)

    @with_transaction()
    def test_statement_xlsx(self):
        "The XLSX has a summary row per member and type and their lines"
        pool = Pool()
        Report = pool.get('member.point.statement.xlsx', type='report')
        (ann, wang), points, _, _ = self.post_history()

        oext, content, direct_print, name = Report.execute(
            [ann.id, wang.id], {
                'model': 'party.party', 'ids': [ann.id, wang.id],
                'from_date': FROM, 'to_date': TO, 'types': []})

        self.assertEqual(oext, 'xlsx')
        self.assertFalse(direct_print)
        self.assertIn("Points Statement", name)
        sheets = xlsx_sheets(content)
        self.assertEqual(
            list(sheets), ["Points Statement", "Points Statement Line"])
        summary, lines = sheets.values()
        self.assertEqual(
            summary[0][:3], ["Member Number", "Member", "Point Type"])
        self.assertEqual(summary[0][5:], [
                "Opening Balance", "Earned", "Redeemed", "Expired",
                "Adjusted", "Closing Balance"])
        ann_row, wang_row = summary[1:]
        self.assertEqual(ann_row[1:3], ["Ann", "Points"])
        self.assertEqual(
            [D(v) for v in ann_row[5:]],
            [D(77), D(53), D(22), D(45), D(-40), D(23)])
        self.assertEqual(wang_row[1], "王伟")
        self.assertEqual(D(wang_row[-1]), D(5))
        self.assertEqual(len(lines), 1 + 8 + 1)
        self.assertEqual(lines[1][1], "Ann")
        self.assertEqual(lines[1][4], "Earn")
        self.assertEqual(D(lines[8][-1]), D(23))
        self.assertEqual(lines[9][1], "王伟")

    @with_transaction()
    def test_statement_print(self):
        "The printed statement names the member and its closing balance"
        pool = Pool()
        Report = pool.get('member.point.statement', type='report')
        (ann, _), _, _, _ = self.post_history()

        oext, content, _, _ = Report.execute([ann.id], {
                'model': 'party.party', 'ids': [ann.id],
                'from_date': FROM, 'to_date': TO, 'types': []})

        self.assertEqual(oext, 'odt')
        with zipfile.ZipFile(io.BytesIO(content)) as odt:
            text = ' '.join(re.sub(
                    r'<[^>]+>', ' ', odt.read('content.xml').decode()).split())
        self.assertIn("Ann", text)
        self.assertIn("Closing Balance 23", text)
        self.assertIn("Opening Balance 77", text)
        self.assertIn("Goodwill", text)
        self.assertNotIn("No point account", text)

    @with_transaction()
    def test_liability_by_type_property_expiry_month(self):
        "The open lots are grouped by type, property and expiry month"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        PointType = pool.get('member.point.type')
        Liability = pool.get('member.point.liability')
        (ann, wang), points, hotel, shop = self.setup_members(
            expiry_months=12)
        stored = PointType(
            programme=points.programme, name="Stored Value", code='SV',
            kind='stored_value', digits=2, point_value=D(1),
            currency=points.programme.company.currency)
        stored.save()
        Ledger.earn(ann, points, D(100), 'e1', date=dt.date(2026, 1, 15))
        Ledger.earn(ann, points, D(40), 'e2', date=dt.date(2026, 1, 20),
            property=shop)
        # A consumed lot owes nothing
        Ledger.earn(wang, points, D(5), 'w1', date=dt.date(2026, 1, 1),
            property=shop)
        Ledger.redeem(wang, points, D(5), 'w2', date=dt.date(2026, 1, 2))
        Ledger.earn(wang, points, D(60), 'w3', date=dt.date(2026, 1, 25))
        Ledger.earn(ann, points, D(30), 'e3', date=dt.date(2026, 3, 2))
        # Taken from the lot expiring first
        Ledger.redeem(ann, points, D(20), 'r1', date=dt.date(2026, 3, 5))
        Ledger.adjust(ann, stored, D('25.50'), 'sv')

        rows = Liability.search([])
        self.assertEqual(len(rows), 4)
        expected = {
            (points.id, hotel.id, dt.date(2027, 1, 1)): (D(140), D('1.40')),
            (points.id, shop.id, dt.date(2027, 1, 1)): (D(40), D('0.40')),
            (points.id, hotel.id, dt.date(2027, 3, 1)): (D(30), D('0.30')),
            (stored.id, hotel.id, None): (D('25.50'), D('25.50')),
            }
        self.assertEqual({
                (r.type.id, r.property.id, r.expiry_month):
                (r.quantity, r.value) for r in rows}, expected)
        self.assertTrue(all(
                r.currency == points.programme.company.currency
                for r in rows))

        Report = pool.get('member.point.liability.xlsx', type='report')
        oext, content, _, _ = Report.execute([r.id for r in rows], {
                'model': 'member.point.liability',
                'ids': [r.id for r in rows]})
        self.assertEqual(oext, 'xlsx')
        sheet, = xlsx_sheets(content).values()
        self.assertEqual(sheet[0][3:6], ["Expiry Month", "Quantity", "Value"])
        self.assertEqual(
            sorted((r[1], r[2], D(r[4]), D(r[5])) for r in sheet[1:]),
            sorted([
                    ("Points", "[H] Hotel", D(140), D('1.4')),
                    ("Points", "[S] 商店", D(40), D('0.4')),
                    ("Points", "[H] Hotel", D(30), D('0.3')),
                    ("Stored Value", "[H] Hotel", D('25.5'), D('25.5')),
                    ]))

    @with_transaction()
    def test_monthly(self):
        "The movements are summed per month, taken out as positive"
        Monthly = Pool().get('member.point.monthly')
        (ann, wang), points, hotel, _ = self.post_history()

        rows = Monthly.search([], order=[('month', 'ASC')])
        self.assertEqual(
            [(r.month, r.earned, r.redeemed, r.expired, r.adjusted)
                for r in rows],
            [(dt.date(2025, 1, 1), D(107), D(30), D(0), D(0)),
                (dt.date(2025, 2, 1), D(58), D(20), D(0), D(0)),
                (dt.date(2025, 3, 1), D(0), D(0), D(0), D(-40)),
                (dt.date(2025, 4, 1), D(0), D(2), D(45), D(0)),
                (dt.date(2025, 5, 1), D(10), D(0), D(0), D(0)),
                ])
        self.assertEqual({(r.type, r.property) for r in rows},
            {(points, hotel)})

    @with_transaction()
    def test_property_staff_see_own_properties(self):
        "Property staff see the reports of their properties only"
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Liability = pool.get('member.point.liability')
        Monthly = pool.get('member.point.monthly')
        (ann, _), points, hotel, shop = self.setup_members()
        Ledger.earn(ann, points, D(10), 'e1', date=dt.date(2026, 1, 1))
        Ledger.earn(ann, points, D(20), 'e2', date=dt.date(2026, 1, 1),
            property=shop)
        staff = User(login='staff', name="Staff",
            groups=[ModelData.get_id('member_core', 'group_property_staff')],
            member_properties=[shop.id])
        staff.save()
        services = User(login='services', name="Services",
            groups=[ModelData.get_id('member_core', 'group_member_services')])
        services.save()

        for user, properties in [
                (staff, {shop}), (services, {hotel, shop})]:
            with Transaction().set_user(user.id), check_access():
                self.assertEqual(
                    {r.property for r in Liability.search([])}, properties)
                self.assertEqual(
                    {r.property for r in Monthly.search([])}, properties)

        # Ann's home is the hotel: the staff of the shop cannot state her
        Statement = pool.get('member.point.statement.xlsx', type='report')
        data = {
            'model': 'party.party', 'ids': [ann.id],
            'from_date': FROM, 'to_date': TO, 'types': []}
        with Transaction().set_user(staff.id), check_access():
            with self.assertRaises(AccessError):
                Statement.execute([ann.id], data)
        with Transaction().set_user(services.id), check_access():
            self.assertEqual(Statement.execute([ann.id], data)[0], 'xlsx')


# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Aggregation, property rules and XLSX export of the POS reports."""
import io
import unittest
import zipfile
from decimal import Decimal

from trytond.modules.member_pos.tests.test_session import (
    SessionFixture,
    create_member,
    make_sale,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

D = Decimal


class ReportingTestCase(SessionFixture, unittest.TestCase):
    "Test the point-of-sale reports"

    @with_transaction()
    def test_member_sales_by_tier(self):
        "Member and non-member sales are counted and summed apart"
        pool = Pool()
        Report = pool.get('sale.point.report.member_sale')
        with self.member_pos() as ns:
            gold = create_member(ns, "Mei", tier=ns.gold)
            make_sale(ns, [(ns.service, 1, {})], [(ns.cash, None, {})],
                member=gold, post=True)
            make_sale(ns, [(ns.service, 2, {})], [(ns.cash, None, {})],
                member=gold, post=True)
            make_sale(ns, [(ns.service, 1, {})], [(ns.cash, None, {})],
                post=True)
            # an open sale is not reported
            pool.get('sale.point.sale')(point=ns.pos).save()

            rows = {(r.customer, r.tier): (r.sales, r.amount)
                for r in Report.search([])}
            self.assertEqual(rows, {
                    ('member', ns.gold): (2, D('97.20')),
                    ('walk_in', None): (1, D('36.00')),
                    })
            row, = Report.search([('customer', '=', 'member')])
            self.assertEqual(row.property, ns.shanghai)
            self.assertEqual(row.month, row.month.replace(day=1))

    @with_transaction()
    def test_points_and_stored_value_at_till(self):
        "Points issued and stored value topped up at the till per month"
        pool = Pool()
        PointsReport = pool.get('sale.point.report.points')
        StoredReport = pool.get('sale.point.report.stored_value')
        Property = pool.get('member.property')
        with self.member_pos() as ns:
            member = create_member(ns, "Mei", tier=ns.gold)
            sales = [
                make_sale(ns, [(ns.service, quantity, {})],
                    [(ns.cash, None, {})], member=member, post=True)
                for quantity in [1, 3]]
            earned = sum(s.points_earned for s in sales)
            self.assertTrue(earned)
            make_sale(ns, [(ns.top_up, 50, {})], [(ns.cash, None, {})],
                member=member, post=True)

            row, = PointsReport.search([])
            self.assertEqual(
                (row.type, row.property, row.issued, row.redeemed),
                (ns.points, ns.shanghai, earned, D(0)))
            row, = StoredReport.search([])
            self.assertEqual(
                (row.type, row.topped_up, row.taken),
                (ns.stored, D(50), D(0)))

            other = Property(
                programme=ns.programme, code='BJ', name="Beijing")
            other.save()
            with Transaction().set_context(property=other.id):
                self.assertEqual(PointsReport.search([]), [])

    @with_transaction()
    def test_property_staff_rule(self):
        "Property staff see only the rows of their properties"
        pool = Pool()
        Report = pool.get('sale.point.report.member_sale')
        User = pool.get('res.user')
        Property = pool.get('member.property')
        ModelData = pool.get('ir.model.data')
        with self.member_pos() as ns:
            make_sale(ns, [(ns.service, 1, {})], [(ns.cash, None, {})],
                post=True)
            other = Property(
                programme=ns.programme, code='BJ', name="Beijing")
            other.save()
            staff, = User.create([{
                        'login': 'desk', 'name': "Desk",
                        'companies': [('add', [ns.company.id])],
                        'company': ns.company.id,
                        'groups': [('add', [ModelData.get_id(
                                        'member_core',
                                        'group_property_staff')])],
                        'member_properties': [('add', [other.id])],
                        }])
            with Transaction().set_user(staff.id), \
                    Transaction().set_context(_check_access=True):
                self.assertEqual(Report.search([]), [])
            User.write([staff], {
                    'member_properties': [('add', [ns.shanghai.id])]})
            with Transaction().set_user(staff.id), \
                    Transaction().set_context(_check_access=True):
                self.assertEqual(len(Report.search([])), 1)

    @with_transaction()
    def test_xlsx_export(self):
        "The XLSX export writes the report's columns of the rows"
        pool = Pool()
        Report = pool.get('sale.point.report.member_sale')
        XLSX = pool.get('sale.point.report.xlsx', type='report')
        ActionReport = pool.get('ir.action.report')
        with self.member_pos() as ns:
            make_sale(ns, [(ns.service, 1, {})], [(ns.cash, None, {})],
                post=True)
            rows = Report.search([])
            action, = ActionReport.search([
                    ('report_name', '=', XLSX.__name__),
                    ('model', '=', Report.__name__),
                    ])
            oext, content, direct_print, _ = XLSX.execute(
                [r.id for r in rows], {'action_id': action.id})
            self.assertEqual((oext, direct_print), ('xlsx', False))
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                strings = archive.read('xl/sharedStrings.xml').decode()
                sheet = archive.read('xl/worksheets/sheet1.xml').decode()
            for text in ["Month", "Property", "Customer", "Sales", "Amount",
                    "Shanghai", "Shop", "Non-member"]:
                self.assertIn(text, strings)
            # the amount is a number cell, not text
            self.assertRegex(sheet, r'<c r="G2"><v>36(\.0+)?</v></c>')

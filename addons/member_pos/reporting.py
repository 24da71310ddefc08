# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Point-of-sale reports: member sales by tier and property, points and
stored value at the till per month, and their XLSX export."""
import io

import xlsxwriter
from sql import Literal, Null
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc
from sql.operators import Concat

from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.report import Report
from trytond.transaction import Transaction


class ReportContext(ModelView):
    __name__ = 'sale.point.report.context'
    __string__ = "POS Report Context"

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date("From Date")
    to_date = fields.Date("To Date")
    property = fields.Many2One('member.property', "Property")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class _ReportMixin:
    __slots__ = ()
    # fields written by the XLSX export, in order
    _xlsx_columns = []

    month = fields.Date("Month")
    company = fields.Many2One('company.company', "Company")
    property = fields.Many2One('member.property', "Property")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _where(cls, date_column, company_column, property_column):
        "The condition of the report context on the rows"
        context = Transaction().context
        where = company_column == context.get('company', -1)
        if context.get('from_date'):
            where &= date_column >= context['from_date']
        if context.get('to_date'):
            where &= date_column <= context['to_date']
        if context.get('property'):
            where &= property_column == context['property']
        return where


class MemberSaleReport(_ReportMixin, ModelSQL, ModelView):
    __name__ = 'sale.point.report.member_sale'
    __string__ = "POS Member Sales"
    _xlsx_columns = [
        'month', 'property', 'point', 'tier', 'customer', 'sales',
        'amount']

    point = fields.Many2One('sale.point', "Point")
    tier = fields.Many2One('member.tier', "Tier")
    customer = fields.Selection([
            ('member', "Member"),
            ('walk_in', "Non-member"),
            ], "Customer")
    sales = fields.Integer("Sales")
    amount = Monetary("Amount", currency='currency', digits='currency')
    customer_string = customer.translated('customer')
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'get_currency')

    @classmethod
    def table_query(cls):
        pool = Pool()
        Sale = pool.get('sale.point.sale')
        Point = pool.get('sale.point')
        Payment = pool.get('sale.point.payment')
        sale = Sale.__table__()
        point = Point.__table__()
        payment = Payment.__table__()
        paid = payment.select(
            payment.sale.as_('sale'),
            Sum(Coalesce(payment.amount, 0)).as_('amount'),
            group_by=[payment.sale])
        # The month is computed in a sub-query: PostgreSQL does not see two
        # DATE_TRUNC with parameters as the same GROUP BY expression
        rows = (sale
            .join(point, condition=sale.point == point.id)
            .join(paid, 'LEFT', condition=paid.sale == sale.id)
            .select(
                sale.id.as_('id'),
                cls.month.sql_cast(
                    DateTrunc('month', sale.date)).as_('month'),
                sale.company.as_('company'),
                point.property.as_('property'),
                sale.point.as_('point'),
                sale.member_tier.as_('tier'),
                Case((sale.member != Null, 'member'),
                    else_='walk_in').as_('customer'),
                Coalesce(paid.amount, 0).as_('amount'),
                where=sale.state.in_(['done', 'posted'])
                & cls._where(sale.date, sale.company, point.property)))
        return rows.select(
            Min(rows.id).as_('id'),
            rows.month.as_('month'),
            rows.company.as_('company'),
            rows.property.as_('property'),
            rows.point.as_('point'),
            rows.tier.as_('tier'),
            rows.customer.as_('customer'),
            Count(rows.id).as_('sales'),
            cls.amount.sql_cast(Sum(rows.amount)).as_('amount'),
            group_by=[
                rows.month, rows.company, rows.property, rows.point,
                rows.tier, rows.customer])

    def get_currency(self, name):
        return self.company.currency


class _LedgerReportMixin(_ReportMixin):
    """Ledger lines of postings whose source is a point-of-sale sale,
    summed per month, property and point type: what the till credited
    and what it debited, reversals (returns, cancellations) netted against
    the operation they reverse"""
    __slots__ = ()
    _kinds = []
    _credit, _debit = 'credit', 'debit'

    type = fields.Many2One('member.point.type', "Type")

    @classmethod
    def table_query(cls):
        pool = Pool()
        Line = pool.get('member.point.line')
        Posting = pool.get('member.point.posting')
        PointType = pool.get('member.point.type')
        Sale = pool.get('sale.point.sale')
        Point = pool.get('sale.point')
        line = Line.__table__()
        original = Line.__table__()
        posting = Posting.__table__()
        type_ = PointType.__table__()
        sale = Sale.__table__()
        point = Point.__table__()
        kind = Coalesce(original.kind, line.kind)
        rows = (line
            .join(posting, condition=line.posting == posting.id)
            .join(type_, condition=line.type == type_.id)
            .join(sale, condition=posting.source == Concat(
                    'sale.point.sale,', sale.id))
            .join(point, condition=sale.point == point.id)
            .join(original, 'LEFT',
                condition=line.reversal_of == original.id)
            .select(
                line.id.as_('id'),
                cls.month.sql_cast(
                    DateTrunc('month', line.date)).as_('month'),
                sale.company.as_('company'),
                point.property.as_('property'),
                line.type.as_('type'),
                Case((kind == 'redeem', Literal(0)),
                    else_=line.quantity).as_('credit'),
                Case((kind == 'redeem', -line.quantity),
                    else_=Literal(0)).as_('debit'),
                where=type_.kind.in_(cls._kinds)
                & (kind != 'expire')
                & cls._where(line.date, sale.company, point.property)))
        credit = getattr(cls, cls._credit)
        debit = getattr(cls, cls._debit)
        return rows.select(
            Min(rows.id).as_('id'),
            rows.month.as_('month'),
            rows.company.as_('company'),
            rows.property.as_('property'),
            rows.type.as_('type'),
            credit.sql_cast(Sum(rows.credit)).as_(cls._credit),
            debit.sql_cast(Sum(rows.debit)).as_(cls._debit),
            group_by=[rows.month, rows.company, rows.property, rows.type])


class PointsReport(_LedgerReportMixin, ModelSQL, ModelView):
    __name__ = 'sale.point.report.points'
    __string__ = "Points at the Till"
    _xlsx_columns = ['month', 'property', 'type', 'issued', 'redeemed']
    _kinds = ['redeemable', 'qualifying']
    _credit, _debit = 'issued', 'redeemed'

    issued = fields.Numeric("Issued", digits='type')
    redeemed = fields.Numeric("Redeemed", digits='type')


class StoredValueReport(_LedgerReportMixin, ModelSQL, ModelView):
    __name__ = 'sale.point.report.stored_value'
    __string__ = "Stored Value at the Till"
    _xlsx_columns = ['month', 'property', 'type', 'topped_up', 'taken']
    _kinds = ['stored_value']
    _credit, _debit = 'topped_up', 'taken'

    topped_up = fields.Numeric("Topped Up", digits='type')
    taken = fields.Numeric("Taken", digits='type')


class ReportXLSX(Report):
    "Point of Sale Report XLSX"
    __name__ = 'sale.point.report.xlsx'

    @classmethod
    def _execute(cls, records, header, data, action):
        pool = Pool()
        Model = pool.get(action.model or data['model'])
        return 'xlsx', cls.render_xlsx(Model, records)

    @classmethod
    def render_xlsx(cls, Model, records):
        "Return the XLSX bytes of the records' export columns"
        columns = Model._xlsx_columns
        definitions = Model.fields_get(columns)
        buffer = io.BytesIO()
        workbook = xlsxwriter.Workbook(buffer, {'in_memory': True})
        sheet = workbook.add_worksheet()
        bold = workbook.add_format({'bold': True})
        date_format = workbook.add_format({'num_format': 'yyyy-mm'})
        for col, name in enumerate(columns):
            sheet.write_string(0, col, definitions[name]['string'], bold)
        for row, record in enumerate(records, 1):
            for col, name in enumerate(columns):
                value = getattr(record, name)
                type_ = definitions[name]['type']
                if value is None:
                    continue
                elif type_ == 'many2one':
                    sheet.write_string(row, col, value.rec_name)
                elif type_ == 'date':
                    sheet.write_datetime(row, col, value, date_format)
                elif type_ == 'selection':
                    sheet.write_string(
                        row, col, getattr(record, f'{name}_string'))
                else:
                    # spreadsheets hold binary floats: the export is for
                    # reading, the ledger keeps the exact Decimals
                    sheet.write_number(row, col, value)
        sheet.set_column(0, len(columns) - 1, 18)
        workbook.close()
        return buffer.getvalue()

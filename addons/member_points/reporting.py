# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Points reporting: outstanding liability and monthly movements.

Both reports attribute points to a property: the property of the ledger
line (where the points were earned), or else the member's home property
(redemptions, adjustments and expiries carry no property). The property
record rules of member_core restrict Property Staff to their properties.
"""
import io

from sql import Literal
from sql.aggregate import Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc

from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.report import Report

from .account import numeric
from .statement import ADJUSTED_KINDS, XLSXFormats


class Liability(ModelSQL, ModelView):
    # What members may still use today: the remaining quantity of the open
    # lots, by point type, property and expiry month (empty when the points
    # never expire), valued at the point type's point value (1 for stored
    # value, which is then an amount in its currency).
    __name__ = 'member.point.liability'
    __string__ = "Points Liability"

    programme = fields.Many2One('member.programme', "Programme")
    type = fields.Many2One('member.point.type', "Point Type")
    property = fields.Many2One('member.property', "Property")
    expiry_month = fields.Date(
        "Expiry Month", help="Empty when the points never expire.")
    quantity = fields.Numeric("Quantity", digits='type')
    currency = fields.Many2One('currency.currency', "Currency")
    value = Monetary("Value", currency='currency', digits='currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('type', 'ASC'),
            ('expiry_month', 'ASC NULLS LAST'),
            ('property', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Lot = pool.get('member.point.lot')
        Account = pool.get('member.point.account')
        Line = pool.get('member.point.line')
        Party = pool.get('party.party')
        PointType = pool.get('member.point.type')
        Programme = pool.get('member.programme')
        Company = pool.get('company.company')
        lot = Lot.__table__()
        account = Account.__table__()
        line = Line.__table__()
        party = Party.__table__()
        type_ = PointType.__table__()
        programme = Programme.__table__()
        company = Company.__table__()
        remaining = numeric(lot.remaining)
        # The month is computed in a sub-query: PostgreSQL does not see two
        # DATE_TRUNC with parameters as the same GROUP BY expression
        lots = (lot
            .join(account, condition=lot.account == account.id)
            .join(line, condition=lot.line == line.id)
            .join(party, condition=account.member == party.id)
            .join(type_, condition=account.type == type_.id)
            .join(programme, condition=type_.programme == programme.id)
            .join(company, condition=programme.company == company.id)
            .select(
                lot.id.as_('id'),
                type_.programme.as_('programme'),
                account.type.as_('type'),
                Coalesce(line.property, party.home_property).as_(
                    'property'),
                cls.expiry_month.sql_cast(
                    DateTrunc('month', lot.expiry_date)).as_('expiry_month'),
                remaining.as_('quantity'),
                (remaining * numeric(type_.point_value)).as_('value'),
                Coalesce(type_.currency, company.currency).as_('currency'),
                where=(lot.state == 'open') & (remaining > 0)))
        return lots.select(
            Min(lots.id).as_('id'),
            lots.programme.as_('programme'),
            lots.type.as_('type'),
            lots.property.as_('property'),
            lots.expiry_month.as_('expiry_month'),
            cls.quantity.sql_cast(Sum(lots.quantity)).as_('quantity'),
            lots.currency.as_('currency'),
            cls.value.sql_cast(Sum(lots.value)).as_('value'),
            group_by=[
                lots.programme, lots.type, lots.property,
                lots.expiry_month, lots.currency])


class LiabilityXLSX(Report):
    "The selected liability rows as an XLSX sheet"
    __name__ = 'member.point.liability.xlsx'

    @classmethod
    def _execute(cls, records, header, data, action):
        import xlsxwriter
        Liability = Pool().get('member.point.liability')
        names = [
            'programme', 'type', 'property', 'expiry_month', 'quantity',
            'value', 'currency']
        strings = Liability.fields_get(names)
        content = io.BytesIO()
        workbook = xlsxwriter.Workbook(content, {'in_memory': True})
        formats = XLSXFormats(workbook)
        sheet = workbook.add_worksheet(Liability.__names__()['model'][:31])
        formats.header(sheet, [strings[n]['string'] for n in names])
        for row, record in enumerate(records, 1):
            sheet.write_string(row, 0, record.programme.rec_name)
            sheet.write_string(row, 1, record.type.rec_name)
            sheet.write_string(row, 2,
                record.property.rec_name if record.property else '')
            if record.expiry_month:
                sheet.write_datetime(
                    row, 3, record.expiry_month, formats.date)
            sheet.write_number(row, 4, record.quantity,
                formats.number(record.type.digits))
            sheet.write_number(row, 5, record.value,
                formats.number(record.currency.digits))
            sheet.write_string(row, 6, record.currency.code)
        sheet.autofilter(0, 0, len(records), 6)
        sheet.set_column(0, 6, 16)
        workbook.close()
        return 'xlsx', content.getvalue()


class Monthly(ModelSQL, ModelView):
    # The ledger movements of each month by point type and property: earned,
    # redeemed and expired as positive quantities, adjusted signed
    # (adjustments, conversions, transfers and reversals).
    __name__ = 'member.point.monthly'
    __string__ = "Points per Month"

    month = fields.Date("Month")
    programme = fields.Many2One('member.programme', "Programme")
    type = fields.Many2One('member.point.type', "Point Type")
    property = fields.Many2One('member.property', "Property")
    earned = fields.Numeric("Earned", digits='type')
    redeemed = fields.Numeric("Redeemed", digits='type')
    expired = fields.Numeric("Expired", digits='type')
    adjusted = fields.Numeric("Adjusted", digits='type')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('month', 'DESC'),
            ('type', 'ASC'),
            ('property', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Line = pool.get('member.point.line')
        Party = pool.get('party.party')
        PointType = pool.get('member.point.type')
        line = Line.__table__()
        party = Party.__table__()
        type_ = PointType.__table__()
        lines = (line
            .join(party, condition=line.member == party.id)
            .join(type_, condition=line.type == type_.id)
            .select(
                line.id.as_('id'),
                cls.month.sql_cast(
                    DateTrunc('month', line.date)).as_('month'),
                type_.programme.as_('programme'),
                line.type.as_('type'),
                Coalesce(line.property, party.home_property).as_(
                    'property'),
                line.kind.as_('kind'),
                numeric(line.quantity).as_('quantity')))

        def total(field, kinds, negate=False):
            quantity = -lines.quantity if negate else lines.quantity
            return field.sql_cast(Sum(Case(
                        (lines.kind.in_(kinds), quantity),
                        else_=Literal(0))))

        return lines.select(
            Min(lines.id).as_('id'),
            lines.month.as_('month'),
            lines.programme.as_('programme'),
            lines.type.as_('type'),
            lines.property.as_('property'),
            total(cls.earned, ['earn']).as_('earned'),
            total(cls.redeemed, ['redeem'], True).as_('redeemed'),
            total(cls.expired, ['expire'], True).as_('expired'),
            total(cls.adjusted, ADJUSTED_KINDS).as_('adjusted'),
            group_by=[
                lines.month, lines.programme, lines.type, lines.property])

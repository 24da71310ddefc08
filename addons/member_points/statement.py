# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Member points statement for a period: a printable report and an XLSX
export, both built from ``member.point.statement.account.compute``.

The movements are classified by ledger line kind: earned (``earn``),
redeemed (``redeem``, captures and the debit side of conversions and
transfers included), expired (``expire``) and adjusted (``adjust`` and
``reverse``: manual corrections, the credit side of conversions and
transfers, reversals). Redeemed and expired are shown as positive
quantities taken out, so that
closing = opening + earned - redeemed - expired + adjusted.
"""
import datetime as dt
import io
from decimal import Decimal

from sql import Literal
from sql.aggregate import Sum
from sql.conditionals import Case

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.report import Report
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import Button, StateReport, StateView, Wizard

from .account import In
from .exceptions import StatementError
from .ledger import LINE_KINDS

ADJUSTED_KINDS = ['adjust', 'reverse']


def _decimal(value):
    # SQLite sums the text-stored decimals as floats
    return Decimal(str(value or 0))


class XLSXFormats:
    "The cell formats of an XLSX workbook, each added once"

    def __init__(self, workbook):
        self.workbook = workbook
        self.bold = workbook.add_format({'bold': True})
        self.date = workbook.add_format({'num_format': 'yyyy-mm-dd'})
        self._numbers = {}

    def number(self, digits):
        "Return the format of numbers with digits decimal places"
        if digits not in self._numbers:
            pattern = '#,##0'
            if digits:
                pattern += '.' + '0' * digits
            self._numbers[digits] = self.workbook.add_format(
                {'num_format': pattern})
        return self._numbers[digits]

    def header(self, sheet, strings):
        "Write the header row of the sheet and keep it in view"
        sheet.write_row(0, 0, strings, self.bold)
        sheet.freeze_panes(1, 0)


class StatementAccount(ModelView):
    # The statement of a point account over a period
    __name__ = 'member.point.statement.account'
    __string__ = "Points Statement"

    member = fields.Many2One('party.party', "Member", readonly=True)
    member_number = fields.Char("Member Number", readonly=True)
    type = fields.Many2One('member.point.type', "Point Type", readonly=True)
    from_date = fields.Date("From Date", readonly=True)
    to_date = fields.Date("To Date", readonly=True)
    opening = fields.Numeric(
        "Opening Balance", digits='type', readonly=True)
    earned = fields.Numeric("Earned", digits='type', readonly=True)
    redeemed = fields.Numeric(
        "Redeemed", digits='type', readonly=True)
    expired = fields.Numeric("Expired", digits='type', readonly=True)
    adjusted = fields.Numeric(
        "Adjusted", digits='type', readonly=True,
        help="Adjustments, conversions, transfers and reversals.")
    closing = fields.Numeric(
        "Closing Balance", digits='type', readonly=True)
    lines = fields.One2Many(
        'member.point.statement.line', None, "Lines", readonly=True)

    @classmethod
    def compute(cls, members, from_date, to_date, types=None):
        """Return the statements of the accounts of members (of types if
        given) for the period from_date..to_date included, ordered by
        member then point type: opening balance at from_date - 1, the
        movements of the period by kind, the closing balance and the lines
        of the period with their running balance.

        Raises StatementError when from_date is after to_date."""
        pool = Pool()
        Account = pool.get('member.point.account')
        Line = pool.get('member.point.line')
        StatementLine = pool.get('member.point.statement.line')
        if from_date > to_date:
            raise StatementError(gettext(
                    'member_points.msg_statement_dates',
                    from_date=from_date, to_date=to_date))
        account = Account.__table__()
        line = Line.__table__()
        cursor = Transaction().connection.cursor()

        in_period = (line.date >= from_date) & (line.date <= to_date)

        def total(condition, negate=False):
            quantity = -line.quantity if negate else line.quantity
            return Sum(Case((condition, quantity), else_=Literal(0)))

        member_ids = [m.id for m in members]
        where = line.date <= to_date
        if types:
            where &= In(account.type, [t.id for t in types])
        totals = {}
        for sub_ids in grouped_slice(member_ids, 1000):
            cursor.execute(*line.join(account,
                    condition=line.account == account.id
                    ).select(
                    line.account,
                    total(line.date < from_date),
                    total(in_period & (line.kind == 'earn')),
                    total(in_period & (line.kind == 'redeem'), True),
                    total(in_period & (line.kind == 'expire'), True),
                    total(in_period & In(line.kind, ADJUSTED_KINDS)),
                    where=where & In(account.member, list(sub_ids)),
                    group_by=[line.account]))
            for account_id, *values in cursor:
                totals[account_id] = [_decimal(v) for v in values]

        lines = {}
        for line_ in Line.search([
                    ('account', 'in', list(totals)),
                    ('date', '>=', from_date),
                    ('date', '<=', to_date),
                    ], order=[('date', 'ASC'), ('id', 'ASC')]):
            lines.setdefault(line_.account.id, []).append(line_)

        order = {m: i for i, m in enumerate(member_ids)}
        statements = []
        for account_ in sorted(Account.browse(list(totals)),
                key=lambda a: (order[a.member.id], a.type.name, a.id)):
            type_ = account_.type
            opening, earned, redeemed, expired, adjusted = (
                type_.round(v) for v in totals[account_.id])
            balance = opening
            statement_lines = []
            for line_ in lines.get(account_.id, []):
                balance += line_.quantity
                statement_lines.append(StatementLine(
                        line=line_,
                        type=type_,
                        date=line_.date,
                        kind=line_.kind,
                        description=line_.posting.description,
                        property=line_.property,
                        reference=line_.posting.key,
                        quantity=type_.round(line_.quantity),
                        balance=type_.round(balance)))
            statements.append(cls(
                    member=account_.member,
                    member_number=account_.member.member_number,
                    type=type_,
                    from_date=from_date,
                    to_date=to_date,
                    opening=opening,
                    earned=earned,
                    redeemed=redeemed,
                    expired=expired,
                    adjusted=adjusted,
                    closing=opening + earned - redeemed - expired + adjusted,
                    lines=statement_lines))
        return statements


class StatementLine(ModelView):
    __name__ = 'member.point.statement.line'
    __string__ = "Points Statement Line"

    line = fields.Many2One('member.point.line', "Ledger Line", readonly=True)
    type = fields.Many2One('member.point.type', "Point Type", readonly=True)
    date = fields.Date("Date", readonly=True)
    kind = fields.Selection(LINE_KINDS, "Kind", readonly=True)
    kind_string = kind.translated('kind')
    description = fields.Char("Description", readonly=True)
    property = fields.Many2One(
        'member.property', "Property", readonly=True)
    reference = fields.Char("Reference", readonly=True)
    quantity = fields.Numeric("Quantity", digits='type', readonly=True)
    balance = fields.Numeric("Balance", digits='type', readonly=True)


class StatementStart(ModelView):
    __name__ = 'member.point.statement.start'
    __string__ = "Points Statement"

    from_date = fields.Date("From Date", required=True)
    to_date = fields.Date("To Date", required=True)
    members = fields.Many2Many(
        'party.party', None, None, "Members", required=True,
        domain=[('programme', '!=', None)])
    types = fields.Many2Many(
        'member.point.type', None, None, "Point Types",
        help="Leave empty for all the point types of the members.")

    @classmethod
    def default_from_date(cls):
        return dt.date.today().replace(day=1)

    @classmethod
    def default_to_date(cls):
        return dt.date.today()


class Statement(Wizard):
    "Points Statement"
    __name__ = 'member.point.statement.wizard'

    start = StateView(
        'member.point.statement.start',
        'member_points.statement_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Export", 'export', 'tryton-save'),
            Button("Print", 'print_', 'tryton-print', default=True),
            ])
    print_ = StateReport('member.point.statement')
    export = StateReport('member.point.statement.xlsx')

    def default_start(self, fields):
        defaults = {}
        if self.model and self.model.__name__ == 'party.party':
            defaults['members'] = [r.id for r in self.records]
        return defaults

    def _data(self):
        if self.start.from_date > self.start.to_date:
            raise StatementError(gettext(
                    'member_points.msg_statement_dates',
                    from_date=self.start.from_date,
                    to_date=self.start.to_date))
        return {
            'model': 'party.party',
            'ids': [m.id for m in self.start.members],
            'from_date': self.start.from_date,
            'to_date': self.start.to_date,
            'types': [t.id for t in self.start.types],
            }

    def do_print_(self, action):
        return action, self._data()

    def do_export(self, action):
        return action, self._data()


class _StatementMixin:
    __slots__ = ()

    @classmethod
    def get_period(cls, data):
        """The dates of the wizard; printed without it, the period it
        proposes (this month so far)"""
        Start = Pool().get('member.point.statement.start')
        return (data.get('from_date') or Start.default_from_date(),
            data.get('to_date') or Start.default_to_date())

    @classmethod
    def get_statements(cls, records, data):
        pool = Pool()
        Party = pool.get('party.party')
        PointType = pool.get('member.point.type')
        StatementAccount = pool.get('member.point.statement.account')
        return StatementAccount.compute(
            Party.browse([r.id for r in records]), *cls.get_period(data),
            PointType.browse(data.get('types') or []))


class StatementReport(_StatementMixin, Report):
    "Points Statement"
    __name__ = 'member.point.statement'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['statements'] = cls.get_statements(records, data)
        context['from_date'], context['to_date'] = cls.get_period(data)
        return context


class StatementXLSX(_StatementMixin, Report):
    """Points Statement (XLSX)

    One workbook for all the members: a summary sheet with a row per member
    and point type and a sheet of the lines, each row with its member, so
    that the accountant can filter and pivot them."""
    __name__ = 'member.point.statement.xlsx'

    @classmethod
    def _execute(cls, records, header, data, action):
        return 'xlsx', cls.render_xlsx(cls.get_statements(records, data))

    @classmethod
    def render_xlsx(cls, statements):
        "Return the bytes of the XLSX workbook of the statements"
        import xlsxwriter
        pool = Pool()
        StatementAccount = pool.get('member.point.statement.account')
        StatementLine = pool.get('member.point.statement.line')
        account_fields = StatementAccount.fields_get()
        line_fields = StatementLine.fields_get()

        content = io.BytesIO()
        workbook = xlsxwriter.Workbook(content, {'in_memory': True})
        formats = XLSXFormats(workbook)
        bold, date_format = formats.bold, formats.date

        def number_format(type_):
            return formats.number(type_.digits)

        def header(sheet, names, fields_):
            formats.header(sheet, [fields_[n]['string'] for n in names])

        def write_member(sheet, row, statement):
            sheet.write_string(row, 0, statement.member_number or '')
            sheet.write_string(row, 1, statement.member.rec_name)
            sheet.write_string(row, 2, statement.type.rec_name)

        summary = workbook.add_worksheet(
            StatementAccount.__names__()['model'][:31])
        amounts = [
            'opening', 'earned', 'redeemed', 'expired', 'adjusted',
            'closing']
        header(summary, [
                'member_number', 'member', 'type', 'from_date', 'to_date',
                *amounts], account_fields)
        for row, statement in enumerate(statements, 1):
            write_member(summary, row, statement)
            summary.write_datetime(row, 3, statement.from_date, date_format)
            summary.write_datetime(row, 4, statement.to_date, date_format)
            for column, name in enumerate(amounts, 5):
                summary.write_number(
                    row, column, getattr(statement, name),
                    number_format(statement.type))
        summary.autofilter(0, 0, len(statements), 4 + len(amounts))
        summary.set_column(0, 2, 18)
        summary.set_column(3, 10, 14)

        details = workbook.add_worksheet(
            StatementLine.__names__()['model'][:31])
        header(details, [
                'member_number', 'member', 'type'], account_fields)
        details.write_row(0, 3, [line_fields[n]['string'] for n in [
                    'date', 'kind', 'description', 'property', 'reference',
                    'quantity', 'balance']], bold)
        row = 0
        for statement in statements:
            format_ = number_format(statement.type)
            for line in statement.lines:
                row += 1
                write_member(details, row, statement)
                details.write_datetime(row, 3, line.date, date_format)
                details.write_string(row, 4, line.kind_string)
                details.write_string(row, 5, line.description or '')
                details.write_string(
                    row, 6, line.property.rec_name if line.property else '')
                details.write_string(row, 7, line.reference)
                details.write_number(row, 8, line.quantity, format_)
                details.write_number(row, 9, line.balance, format_)
        details.autofilter(0, 0, row, 9)
        details.set_column(0, 2, 18)
        details.set_column(3, 9, 14)
        workbook.close()
        return content.getvalue()

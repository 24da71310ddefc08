# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Sales-staff commission on point-of-sale lines.

The staff member is an employee (company.employee), not a user: spa
therapists and shop assistants who earn commission seldom have a Tryton
login, while the cashier who takes the payment does."""
from sql.aggregate import Count, Min, Sum

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .exceptions import CommissionValidationError

RATE_DIGITS = (16, 4)


class _CommissionRateMixin:
    __slots__ = ()
    commission_rate = fields.Numeric(
        "Commission Rate", digits=RATE_DIGITS,
        help="The share of the line amount without tax paid to the sales "
        "staff (0.05 for 5%).")

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        if field_names and 'commission_rate' not in field_names:
            return
        for record in records:
            rate = record.commission_rate
            if rate is not None and not (0 <= rate <= 1):
                raise CommissionValidationError(gettext(
                        'member_pos.msg_commission_rate_invalid',
                        record=record.rec_name, rate=rate))


class Category(_CommissionRateMixin, metaclass=PoolMeta):
    __name__ = 'product.category'

    def get_commission_rate(self):
        "Return the rate of the category or of its nearest parent"
        category = self
        while category:
            if category.commission_rate is not None:
                return category.commission_rate
            category = category.parent


class Template(_CommissionRateMixin, metaclass=PoolMeta):
    __name__ = 'product.template'

    def get_commission_rate(self):
        """Return the rate of the template, else of its first category
        that has one (parents included), else None"""
        if self.commission_rate is not None:
            return self.commission_rate
        for category in self.categories:
            rate = category.get_commission_rate()
            if rate is not None:
                return rate


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    @classmethod
    def do(cls, sales):
        pool = Pool()
        Line = pool.get('sale.point.sale.line')
        super().do(sales)
        lines = [
            line for sale in sales for line in sale.lines
            if line.sales_staff]
        for line in lines:
            line.set_commission()
        Line.save(lines)


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.point.sale.line'

    sales_staff = fields.Many2One(
        'company.employee', "Sales Staff",
        domain=[('company', '=', Eval('company', -1))],
        states={'readonly': Eval('sale_state') != 'open'},
        help="The employee who earns commission on the line.")
    commission_rate = fields.Numeric(
        "Commission Rate", digits=RATE_DIGITS, readonly=True)
    commission_base = Monetary(
        "Commission Base", currency='currency', digits='currency',
        readonly=True)
    commission_amount = Monetary(
        "Commission", currency='currency', digits='currency', readonly=True)

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        for name in ['commission_rate', 'commission_base',
                'commission_amount']:
            default.setdefault(name)
        return super().copy(lines, default=default)

    def set_commission(self):
        "Freeze the commission of the line when the sale is done"
        rate = self.product.template.get_commission_rate()
        if rate is None:
            self.commission_rate = self.commission_base = None
            self.commission_amount = None
            return
        self.commission_rate = rate
        self.commission_base = self.untax_amount
        self.commission_amount = self.sale.currency.round(
            self.untax_amount * rate)


class CommissionReport(ModelSQL, ModelView):
    __name__ = 'sale.point.commission.report'
    __string__ = "Commission per Session and Staff"

    session = fields.Many2One('sale.point.cash.session', "Session")
    point = fields.Many2One('sale.point', "Point", required=True)
    sales_staff = fields.Many2One('company.employee', "Sales Staff")
    company = fields.Many2One('company.company', "Company")
    lines = fields.Integer("Lines")
    base = Monetary("Base", currency='currency', digits='currency')
    amount = Monetary("Commission", currency='currency', digits='currency')
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('point')
        cls._order = [
            ('session', 'DESC'),
            ('sales_staff', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Line = pool.get('sale.point.sale.line')
        Sale = pool.get('sale.point.sale')
        line = Line.__table__()
        sale = Sale.__table__()
        return line.join(sale, condition=line.sale == sale.id
            ).select(
            Min(line.id).as_('id'),
            sale.till_session.as_('session'),
            sale.point.as_('point'),
            line.sales_staff.as_('sales_staff'),
            sale.company.as_('company'),
            Count(line.id).as_('lines'),
            cls.base.sql_cast(Sum(line.commission_base)).as_('base'),
            cls.amount.sql_cast(Sum(line.commission_amount)).as_('amount'),
            where=sale.state.in_(['done', 'posted'])
            & (line.commission_amount != None),  # noqa: E711
            group_by=[
                sale.till_session, sale.point, line.sales_staff,
                sale.company])

    def get_currency(self, name):
        return self.company.currency

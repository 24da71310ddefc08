# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    DigitsMixin,
    ModelSQL,
    ModelView,
    Unique,
    fields,
)
from trytond.pyson import Eval

from .exceptions import PointTypeValidationError, PostingError

KINDS = [
    ('redeemable', "Redeemable Points"),
    ('qualifying', "Qualifying Points"),
    ('stored_value', "Stored Value"),
    ]
EXPIRY_POLICIES = [
    ('never', "Never"),
    ('months', "Months After Earning"),
    ('year_end', "End of Year"),
    ]


class PointType(DigitsMixin, DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.point.type'
    __string__ = "Point Type"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    currency = fields.Many2One(
        'currency.currency', "Currency",
        states={
            'required': Eval('kind') == 'stored_value',
            'invisible': Eval('kind') != 'stored_value',
            })
    digits = fields.Integer(
        "Digits", required=True,
        domain=[('digits', '>=', 0), ('digits', '<=', 4)],
        help="Decimal places a quantity of this type may have.")
    allow_negative = fields.Boolean(
        "Allow Negative Balance",
        help="Let redemptions take the balance below zero.")
    expiry_policy = fields.Selection(
        EXPIRY_POLICIES, "Expiry", required=True)
    expiry_months = fields.Integer(
        "Expiry Months",
        domain=['OR',
            ('expiry_months', '=', None),
            ('expiry_months', '>', 0)],
        states={
            'required': Eval('expiry_policy') == 'months',
            'invisible': Eval('expiry_policy') != 'months',
            },
        help="Points expire this many months after they were earned.")
    expiry_years = fields.Integer(
        "Expiry Years",
        domain=['OR',
            ('expiry_years', '=', None),
            ('expiry_years', '>=', 0)],
        states={
            'required': Eval('expiry_policy') == 'year_end',
            'invisible': Eval('expiry_policy') != 'year_end',
            },
        help="Points expire at the end of the year this many years after "
        "the year they were earned in.")
    reminder_days = fields.Integer(
        "Expiry Reminder Days",
        help="Remind members this many days before their points expire.")
    point_value = fields.Numeric(
        "Point Value", digits=(16, 6), required=True,
        help="Money value of one unit, used for the liability.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(t, t.programme, t.code),
                'member_points.msg_point_type_code_unique'),
            ]

    @classmethod
    def default_kind(cls):
        return 'redeemable'

    @classmethod
    def default_digits(cls):
        return 0

    @classmethod
    def default_allow_negative(cls):
        return False

    @classmethod
    def default_expiry_policy(cls):
        return 'never'

    @classmethod
    def default_point_value(cls):
        return Decimal('0.01')

    @fields.depends('kind', 'currency')
    def on_change_kind(self):
        if self.kind == 'stored_value':
            self.expiry_policy = 'never'
            self.point_value = Decimal(1)
            if self.currency:
                self.digits = self.currency.digits

    def expiry_date(self, date):
        "Return the date points earned on date expire, or None"
        if self.expiry_policy == 'months':
            return date + relativedelta(months=self.expiry_months)
        elif self.expiry_policy == 'year_end':
            return dt.date(date.year + self.expiry_years, 12, 31)

    def round(self, quantity):
        "Return quantity with the digits of the type"
        return quantity.quantize(Decimal(1).scaleb(-self.digits))

    def check_quantity(self, quantity, field="quantity"):
        "Raise unless quantity is a positive Decimal within the digits"
        if not isinstance(quantity, Decimal) or not quantity.is_finite():
            raise PostingError(gettext(
                    'member_points.msg_quantity_not_decimal',
                    field=field, value=quantity))
        if quantity <= 0:
            raise PostingError(gettext(
                    'member_points.msg_quantity_not_positive',
                    field=field, value=quantity, type=self.rec_name))
        if quantity != self.round(quantity):
            raise PostingError(gettext(
                    'member_points.msg_quantity_digits',
                    field=field, value=quantity, type=self.rec_name,
                    digits=self.digits))

    @classmethod
    def validate_fields(cls, types, field_names):
        super().validate_fields(types, field_names)
        for type_ in types:
            if type_.kind == 'stored_value' and not type_.currency:
                raise PointTypeValidationError(gettext(
                        'member_points.msg_point_type_currency_required',
                        type=type_.rec_name))

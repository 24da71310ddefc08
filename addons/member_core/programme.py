# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval, Id
from trytond.transaction import Transaction


class Programme(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.programme'
    __string__ = "Membership Programme"

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='RESTRICT')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    properties = fields.One2Many(
        'member.property', 'programme', "Properties")
    member_sequence = fields.Many2One(
        'ir.sequence', "Member Number Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('member_core', 'sequence_type_member')),
            ('company', 'in', [Eval('company', -1), None]),
            ],
        help="Numbers given to new members of the programme.")
    phone_region = fields.Char(
        "Phone Region", required=True, size=2,
        help="ISO country code used to read phone numbers written "
        "without an international prefix.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(t, t.code),
                'member_core.msg_programme_code_unique'),
            ]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_phone_region(cls):
        return 'CN'

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('phone_region'):
            values['phone_region'] = values['phone_region'].upper()
        return values


class Property(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.property'
    __string__ = "Property"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    kind = fields.Selection([
            ('hotel', "Hotel"),
            ('shop', "Shop"),
            ('restaurant', "Restaurant"),
            ('office', "Office"),
            ('agency', "Travel Agency"),
            ], "Kind", required=True)
    address = fields.Text("Address")
    staff = fields.Many2Many(
        'member.property-res.user', 'property', 'user', "Staff",
        help="Users who work at the property and may see its members.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_unique', Unique(t, t.programme, t.code),
                'member_core.msg_property_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_kind(cls):
        return 'hotel'

    def get_rec_name(self, name):
        return f'[{self.code}] {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('code', operator, value, *clause[3:]),
            ('name', operator, value, *clause[3:]),
            ]

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        if mode == 'delete' or (field_names and 'staff' in field_names):
            Pool().get('res.user')._get_member_properties_cache.clear()


class PropertyUser(ModelSQL):
    __name__ = 'member.property-res.user'
    __string__ = "Property - User"

    property = fields.Many2One(
        'member.property', "Property", required=True, ondelete='CASCADE')
    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('res.user')._get_member_properties_cache.clear()

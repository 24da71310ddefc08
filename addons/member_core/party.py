# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt

import phonenumbers
from sql import Null
from sql.functions import Extract

from trytond.i18n import gettext
from trytond.model import Index, ModelView, Unique, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction

from . import identity
from .exceptions import (
    CardRefused,
    MemberAccessError,
    MemberError,
    MemberValidationError,
)

MEMBER_STATES = [
    (None, ""),
    ('prospect', "Prospect"),
    ('member', "Member"),
    ('suspended', "Suspended"),
    ('terminated', "Terminated"),
    ]
SOURCE_CHANNELS = [
    (None, ""),
    ('front_desk', "Front Desk"),
    ('website', "Website"),
    ('wechat', "WeChat"),
    ('phone', "Phone"),
    ('qr_campaign', "QR Campaign"),
    ('import', "Import"),
    ('referral', "Referral"),
    ]
GENDERS = [
    (None, ""),
    ('female', "Female"),
    ('male', "Male"),
    ('other', "Other"),
    ]
CONSENT_CHANNELS = ['sms', 'email', 'wechat']
# Fields that identify the person: frozen once the member is approved
IDENTITY_FIELDS = {
    'name', 'id_document_type', 'id_number', 'id_number_cipher',
    'id_number_hash', 'birthday', 'gender'}

_member = Bool(Eval('programme'))
# The form tabs of lists that grow with the member's history show the newest
# records only; the full lists are a relate action away.
TAB_LIMIT = 100


def newest(model_name, members, order, field='member', limit=TAB_LIMIT):
    "The ids of the newest records of model_name per member, for form tabs"
    Model = Pool().get(model_name)
    return {m.id: [r.id for r in Model.search(
                [(field, '=', m.id)], order=order, limit=limit)]
        for m in members}


def normalize_phone(number, region):
    "Return the E.164 form of number or None if it is not a valid phone"
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164)


class Party(Workflow, metaclass=PoolMeta):
    __name__ = 'party.party'
    _transition_state = 'member_state'

    programme = fields.Many2One(
        'member.programme', "Programme", ondelete='RESTRICT',
        states={
            'readonly': Eval('member_state').in_(
                ['member', 'suspended', 'terminated']),
            },
        help="The membership programme the party has joined.")
    member_number = fields.Char(
        "Member Number", readonly=True,
        states={'invisible': ~_member})
    member_state = fields.Selection(
        MEMBER_STATES, "Member State", readonly=True,
        states={'invisible': ~_member})
    join_date = fields.Date(
        "Join Date", states={'invisible': ~_member})
    source_channel = fields.Selection(
        SOURCE_CHANNELS, "Source Channel",
        states={'invisible': ~_member})
    home_property = fields.Many2One(
        'member.property', "Home Property", ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={
            'invisible': ~_member,
            'required': _member,
            })
    salesperson = fields.Many2One(
        'res.user', "Salesperson", ondelete='SET NULL',
        states={'invisible': ~_member})
    birthday = fields.Date("Birthday", states={'invisible': ~_member})
    birthday_month = fields.Function(
        fields.Integer("Birthday Month"), 'get_birthday_month',
        searcher='search_birthday_month')
    gender = fields.Selection(
        GENDERS, "Gender", states={'invisible': ~_member})
    member_phone = fields.Char(
        "Mobile Phone", states={'invisible': ~_member},
        help="Stored in international form; unique within the programme.")
    member_phone_shown = fields.Function(fields.Char(
            "Mobile Phone", states={'invisible': ~_member},
            help="Masked unless the user may see identity data."),
        'get_member_phone_shown', setter='set_member_phone_shown',
        searcher='search_member_phone_shown')
    member_email = fields.Char(
        "Email", states={'invisible': ~_member})
    id_document_type = fields.Selection(
        identity.DOCUMENT_TYPES, "ID Document Type",
        states={'invisible': ~_member})
    id_number = fields.Function(fields.Char(
            "ID Number", states={'invisible': ~_member},
            help="Stored encrypted and shown masked."),
        'get_id_number', setter='set_id_number',
        searcher='search_id_number')
    id_number_cipher = fields.Char("ID Number Cipher", readonly=True)
    id_number_hash = fields.Char("ID Number Hash", readonly=True)
    identity_logs = fields.One2Many(
        'member.identity.log', 'member', "Identity Changes", readonly=True)

    pref_room_type = fields.Selection([
            (None, ""),
            ('standard', "Standard"),
            ('deluxe', "Deluxe"),
            ('suite', "Suite"),
            ('family', "Family"),
            ], "Room Type")
    pref_floor = fields.Selection([
            (None, ""),
            ('low', "Low Floor"),
            ('middle', "Middle Floor"),
            ('high', "High Floor"),
            ], "Floor")
    pref_bed = fields.Selection([
            (None, ""),
            ('king', "King Bed"),
            ('twin', "Twin Beds"),
            ], "Bed")
    pref_pillow = fields.Selection([
            (None, ""),
            ('soft', "Soft"),
            ('firm', "Firm"),
            ('feather', "Feather"),
            ('buckwheat', "Buckwheat"),
            ], "Pillow")
    pref_smoking = fields.Selection([
            (None, ""),
            ('non_smoking', "Non-smoking"),
            ('smoking', "Smoking"),
            ], "Smoking")
    pref_baby_cot = fields.Boolean("Baby Cot")
    pref_accessible = fields.Boolean("Accessible Room")
    allergies = fields.Text("Allergies")
    special_needs = fields.Text("Special Needs")

    consent_sms = fields.Boolean("SMS Consent")
    consent_sms_date = fields.Timestamp("SMS Consent Date", readonly=True)
    consent_email = fields.Boolean("Email Consent")
    consent_email_date = fields.Timestamp(
        "Email Consent Date", readonly=True)
    consent_wechat = fields.Boolean("WeChat Consent")
    consent_wechat_date = fields.Timestamp(
        "WeChat Consent Date", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('member_number_unique',
                Unique(t, t.programme, t.member_number),
                'member_core.msg_member_number_unique'),
            ('member_phone_unique',
                Unique(t, t.programme, t.member_phone),
                'member_core.msg_member_phone_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.member_phone, Index.Equality()),
                    where=t.member_phone != Null),
                Index(t, (t.id_number_hash, Index.Equality()),
                    where=t.id_number_hash != Null),
                Index(t, (t.home_property, Index.Equality()),
                    where=t.home_property != Null),
                Index(t, (t.salesperson, Index.Equality()),
                    where=t.salesperson != Null),
                })
        cls._transitions |= {
            ('prospect', 'member'),
            ('member', 'suspended'),
            ('suspended', 'member'),
            ('member', 'terminated'),
            ('suspended', 'terminated'),
            ('terminated', 'member'),
            }
        cls._buttons.update({
                'approve_member': {
                    'invisible': Eval('member_state') != 'prospect',
                    'depends': ['member_state'],
                    },
                'suspend_member': {
                    'invisible': Eval('member_state') != 'member',
                    'depends': ['member_state'],
                    },
                'resume_member': {
                    'invisible': Eval('member_state') != 'suspended',
                    'depends': ['member_state'],
                    },
                'edit_identity_wizard': {
                    'invisible': ~Eval('member_state').in_(
                        ['member', 'suspended', 'terminated']),
                    'depends': ['member_state'],
                    },
                })
        for name in IDENTITY_FIELDS - {'id_number_cipher', 'id_number_hash'}:
            field = getattr(cls, name)
            field.states = field.states.copy()
            locked = Eval('member_state').in_(
                ['member', 'suspended', 'terminated'])
            field.states['readonly'] = (
                field.states.get('readonly', False) | locked)
            field.depends = set(field.depends) | {'member_state'}

    @classmethod
    def default_member_state(cls):
        return None

    @classmethod
    def default_consent_sms(cls):
        return False

    @classmethod
    def default_consent_email(cls):
        return False

    @classmethod
    def default_consent_wechat(cls):
        return False

    @fields.depends('programme', 'member_state', 'join_date')
    def on_change_programme(self):
        if self.programme and not self.member_state:
            self.member_state = 'prospect'
        if self.programme and not self.join_date:
            self.join_date = dt.date.today()

    def get_birthday_month(self, name):
        return self.birthday.month if self.birthday else None

    @classmethod
    def search_birthday_month(cls, name, clause):
        table = cls.__table__()
        _, operator, value = clause
        Operator = fields.SQL_OPERATORS[operator]
        query = table.select(
            table.id,
            where=Operator(Extract('MONTH', table.birthday), value))
        return [('id', 'in', query)]

    @classmethod
    def set_newest(cls, members, name, value):
        # the lists of the newest records (see newest()) are read-only
        # excerpts: their records are changed where they belong
        pass

    @classmethod
    def _reveal_identity(cls):
        "Whether the user is shown identity data in clear"
        User = Pool().get('res.user')
        return (User.in_group('group_member_id_viewer')
            and not Transaction().context.get('_member_mask_id'))

    @classmethod
    def get_member_phone_shown(cls, parties, name):
        reveal = cls._reveal_identity()
        return {p.id: p.member_phone if reveal
            else identity.mask_phone(p.member_phone)
            for p in parties}

    @classmethod
    def set_member_phone_shown(cls, parties, name, value):
        if value and '*' in value:
            # The client sends back the masked value it was shown
            return
        cls.write(parties, {'member_phone': value})

    @classmethod
    def search_member_phone_shown(cls, name, clause):
        return [('member_phone',) + tuple(clause[1:])]

    @classmethod
    def get_id_number(cls, parties, name):
        reveal = cls._reveal_identity()
        result = {}
        for party in parties:
            if not party.id_number_cipher:
                result[party.id] = None
                continue
            number = identity.decrypt(party.id_number_cipher)
            result[party.id] = number if reveal else identity.mask(number)
        return result

    @classmethod
    def set_id_number(cls, parties, name, value):
        if value and '*' in value:
            # The client sends back the masked value it was shown
            return
        if value:
            number = identity.normalize_id_number(value)
            values = {
                'id_number_cipher': identity.encrypt(number),
                'id_number_hash': identity.hash_number(number),
                }
        else:
            values = {'id_number_cipher': None, 'id_number_hash': None}
        cls.write(parties, values)

    @classmethod
    def search_id_number(cls, name, clause):
        _, operator, value = clause
        if operator not in {'=', '!='} or not value:
            return [('id_number_hash', operator, value)]
        return [('id_number_hash', operator, identity.hash_number(value))]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Programme = pool.get('member.programme')
        values = super().preprocess_values(mode, values)
        now = dt.datetime.now()
        for channel in CONSENT_CHANNELS:
            # Time of the last grant or withdrawal, as proof of consent
            if f'consent_{channel}' in values and (
                    mode == 'write' or values[f'consent_{channel}']):
                values[f'consent_{channel}_date'] = now
        if values.get('member_email'):
            values['member_email'] = values['member_email'].strip().lower()
        if mode == 'create' and values.get('programme'):
            programme = Programme(values['programme'])
            values.setdefault('member_state', 'prospect')
            values.setdefault('join_date', dt.date.today())
            if not values.get('member_number'):
                values['member_number'] = programme.member_sequence.get()
        if values.get('member_phone'):
            values['member_phone'] = values['member_phone'].strip()
        return values

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        context = Transaction().context
        if (mode == 'write'
                and not context.get('_member_identity_edit')
                and IDENTITY_FIELDS & set(values)):
            for party in records:
                if party.member_state in {
                        'member', 'suspended', 'terminated'}:
                    field = sorted(IDENTITY_FIELDS & set(values))[0]
                    if field.startswith('id_number'):
                        field = 'id_number'
                    raise MemberAccessError(gettext(
                            'member_core.msg_identity_locked',
                            member=party.rec_name,
                            field=cls.__names__(field)['field']))

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        cls.check_member_phone(parties, field_names)
        cls.check_member_email(parties, field_names)
        cls.check_id_document(parties, field_names)

    @classmethod
    def check_member_phone(cls, parties, field_names=None):
        if field_names and not (
                field_names & {'member_phone', 'programme'}):
            return
        to_write = []
        for party in parties:
            if not party.member_phone or not party.programme:
                continue
            phone = normalize_phone(
                party.member_phone, party.programme.phone_region)
            if not phone:
                raise MemberValidationError(gettext(
                        'member_core.msg_member_phone_invalid',
                        phone=party.member_phone, member=party.rec_name))
            if phone != party.member_phone:
                to_write.extend(([party], {'member_phone': phone}))
        if to_write:
            cls.write(*to_write)

    @classmethod
    def check_member_email(cls, parties, field_names=None):
        from email.headerregistry import Address
        if field_names and 'member_email' not in field_names:
            return
        for party in parties:
            if not party.member_email:
                continue
            try:
                address = Address(addr_spec=party.member_email)
                valid = bool(address.username and '.' in address.domain)
            except (ValueError, IndexError):
                valid = False
            if not valid:
                raise MemberValidationError(gettext(
                        'member_core.msg_member_email_invalid',
                        email=party.member_email, member=party.rec_name))

    @classmethod
    def check_id_document(cls, parties, field_names=None):
        if field_names and not (field_names & {
                    'id_document_type', 'id_number_cipher'}):
            return
        for party in parties:
            if not party.id_number_cipher:
                continue
            if not party.id_document_type:
                raise MemberValidationError(gettext(
                        'member_core.msg_id_document_type_required',
                        member=party.rec_name))
            number = identity.decrypt(party.id_number_cipher)
            if not identity.validate_id_number(
                    party.id_document_type, number):
                raise MemberValidationError(gettext(
                        'member_core.msg_id_number_invalid',
                        member=party.rec_name,
                        number=identity.mask(number)))

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        # Exports leave the server as files: never with ID numbers in clear
        with Transaction().set_context(_member_mask_id=True):
            # Browse again: records keep the context they were read with
            return super().export_data(
                cls.browse(records), fields_names, header=header)

    @classmethod
    def export_data_domain(cls, domain, fields_names, offset=0, limit=None,
            order=None, header=False):
        with Transaction().set_context(_member_mask_id=True):
            return super().export_data_domain(
                domain, fields_names, offset=offset, limit=limit,
                order=order, header=header)

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'member_number', 'member_phone', 'id_number_cipher',
                'id_number_hash', 'identity_logs']:
            default.setdefault(name, None)
        return super().copy(parties, default=default)

    def check_registration(self):
        "Raise if the member lacks what approval requires"
        missing = []
        if not self.id_document_type:
            missing.append('id_document_type')
        if not self.id_number_cipher:
            missing.append('id_number')
        if not (self.member_phone or self.member_email):
            missing.append('member_phone')
        if not self.home_property:
            missing.append('home_property')
        if missing:
            names = ', '.join(
                self.__names__(f)['field'] for f in missing)
            raise MemberError(gettext(
                    'member_core.msg_registration_incomplete',
                    member=self.rec_name, fields=names))

    @classmethod
    @ModelView.button
    @Workflow.transition('member')
    def approve_member(cls, parties):
        for party in parties:
            party.check_registration()
        cls.write(
            [p for p in parties if not p.join_date],
            {'join_date': dt.date.today()})

    @classmethod
    @ModelView.button
    @Workflow.transition('suspended')
    def suspend_member(cls, parties):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('member')
    def resume_member(cls, parties):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_identity_edit')
    def edit_identity_wizard(cls, parties):
        pass

    @classmethod
    def edit_identity(cls, party, values, reason):
        """Change identity fields of an approved member and log each change.

        Only for the Edit Identity wizard: it checks the user is allowed.
        """
        pool = Pool()
        Log = pool.get('member.identity.log')
        now = dt.datetime.now()
        user = Transaction().user
        logs = []
        for name, new in values.items():
            old = getattr(party, name)
            if name == 'id_number':
                with Transaction().set_context(_member_mask_id=True):
                    old = cls(party.id).id_number
                new = identity.mask(new)
            logs.append({
                    'member': party.id,
                    'field': name,
                    'old_value': str(old) if old is not None else None,
                    'new_value': str(new) if new is not None else None,
                    'reason': reason,
                    'user': user,
                    'date': now,
                    })
        cls.write([party], values)
        Log.create(logs)

    def check_member_usable(self):
        """Raise CardRefused if the member may not earn, redeem or use cards.

        Other modules call this before any member transaction.
        """
        if self.member_state != 'member':
            state = dict(self.fields_get(['member_state'])[
                    'member_state']['selection']).get(self.member_state)
            raise CardRefused(gettext(
                    'member_core.msg_member_not_usable',
                    member=self.rec_name, state=state or ''))

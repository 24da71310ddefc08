# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Protection of identity document numbers.

Numbers are encrypted with Fernet (AES + HMAC) under a key read from the
trytond configuration file ``[member] id_key`` so that a copy of the
database alone never reveals them. A keyed hash (HMAC-SHA256 with a key
derived from the same secret) allows exact-match lookups without
decrypting.
"""
import base64
import hashlib
import hmac
import re

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from stdnum.cn import ric

from trytond import config
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.tools import logging as tools_logging
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import IdentityKeyError, MemberAccessError, MemberError

DOCUMENT_TYPES = [
    (None, ""),
    ('cn_ric', "Resident Identity Card"),
    ('passport', "Passport"),
    ('hk_macao_permit', "Mainland Travel Permit for HK/Macao Residents"),
    ('taiwan_permit', "Mainland Travel Permit for Taiwan Residents"),
    ('foreign_permanent', "Foreign Permanent Resident ID Card"),
    ('other', "Other"),
    ]
_OTHER_DOCUMENT = re.compile(r'^[A-Z0-9]{5,20}$')
# The RPC log redacts values of keys containing these words: an ID number
# typed in the client must never reach the server log in clear.
tools_logging._SENSITIVE_KEYS.add('id_number')


def _secret():
    key = config.get('member', 'id_key', default=None)
    if not key:
        raise IdentityKeyError(gettext('member_core.msg_id_key_missing'))
    return key.encode() if isinstance(key, str) else key


def _fernet():
    try:
        return Fernet(_secret())
    except ValueError:
        raise IdentityKeyError(gettext('member_core.msg_id_key_invalid'))


def normalize_id_number(number):
    return re.sub(r'[\s-]', '', number or '').upper()


def validate_id_number(document_type, number):
    "Return True if the number is valid for the document type"
    if document_type == 'cn_ric':
        return ric.is_valid(number)
    return bool(_OTHER_DOCUMENT.match(number))


def encrypt(number):
    return _fernet().encrypt(number.encode()).decode()


def decrypt(token):
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise IdentityKeyError(gettext('member_core.msg_id_key_invalid'))


def hash_number(number):
    derived = hashlib.sha256(b'member-id-hash:' + _secret()).digest()
    return base64.b16encode(hmac.new(
            derived, normalize_id_number(number).encode(),
            hashlib.sha256).digest()).decode().lower()


def mask(number):
    "Show only the first 3 and last 4 characters, e.g. 110***********1234"
    if not number:
        return number
    if len(number) <= 8:
        return '*' * (len(number) - 2) + number[-2:]
    return number[:3] + '*' * (len(number) - 7) + number[-4:]


def mask_phone(phone):
    "Keep the country code and the last 4 digits: +86*******5678"
    if not phone:
        return phone
    head = ''
    if phone.startswith('+'):
        try:
            head = f'+{phonenumbers.parse(phone).country_code}'
        except phonenumbers.NumberParseException:
            head = '+'
    return head + '*' * max(len(phone) - len(head) - 4, 0) + phone[-4:]


class IdentityLog(ModelSQL, ModelView):
    __name__ = 'member.identity.log'
    __string__ = "Member Identity Change"

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='CASCADE')
    field = fields.Char("Field", required=True)
    old_value = fields.Char("Old Value")
    new_value = fields.Char("New Value")
    reason = fields.Text("Reason", required=True)
    user = fields.Many2One('res.user', "User", required=True)
    date = fields.Timestamp("Date", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('member')
        cls._order.insert(0, ('date', 'DESC'))

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise MemberAccessError(
                gettext('member_core.msg_identity_log_immutable'))


class EditIdentity(Wizard):
    "Edit Member Identity"
    __name__ = 'member.identity.edit'

    start = StateView(
        'member.identity.edit.start',
        'member_core.identity_edit_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Save", 'save', 'tryton-ok', default=True),
            ])
    save = StateTransition()

    def default_start(self, fields):
        member = self.record
        return {
            'name': member.name,
            'id_document_type': member.id_document_type,
            'birthday': member.birthday,
            'gender': member.gender,
            }

    def transition_save(self):
        pool = Pool()
        Party = pool.get('party.party')
        User = pool.get('res.user')
        if not User.in_group('group_member_admin'):
            raise MemberAccessError(
                gettext('member_core.msg_identity_edit_not_allowed'))
        values = {}
        for name in ['name', 'id_document_type', 'birthday', 'gender']:
            value = getattr(self.start, name)
            if value != getattr(self.record, name):
                values[name] = value
        if self.start.id_number:
            number = normalize_id_number(self.start.id_number)
            if (not self.record.id_number_hash
                    or hash_number(number) != self.record.id_number_hash):
                values['id_number'] = number
        if not values:
            raise MemberError(gettext('member_core.msg_identity_no_change'))
        with Transaction().set_context(_member_identity_edit=True):
            Party.edit_identity(self.record, values, self.start.reason)
        return 'end'


class EditIdentityStart(ModelView):
    __name__ = 'member.identity.edit.start'
    __string__ = "Edit Member Identity"

    name = fields.Char("Name", required=True)
    id_document_type = fields.Selection(
        DOCUMENT_TYPES, "ID Document Type")
    id_number = fields.Char(
        "New ID Number", help="Leave empty to keep the current number.")
    birthday = fields.Date("Birthday")
    gender = fields.Selection([
            (None, ""),
            ('female', "Female"),
            ('male', "Male"),
            ('other', "Other"),
            ], "Gender")
    reason = fields.Text("Reason", required=True)

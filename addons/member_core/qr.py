# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""QR codes: member identification and acquisition channels.

Member QR API (used by the POS and devices):

``Party.identify_qr(payload)``
    ``payload`` is the text read from a member QR code:
    ``M1:<programme code>:<member number>:<revision>:<signature>``. The
    signature is an HMAC-SHA256 (truncated to 96 bits) keyed with a key
    derived from ``[member] id_key`` of the trytond configuration, so codes
    cannot be forged or altered without the server secret. ``revision`` is
    ``Party.member_qr_revision``: "Renew QR Code" increases it, which
    revokes every code printed before. Returns the member; raises
    ``LookupRefused`` when the payload is malformed, tampered, revoked or
    unknown and ``CardRefused`` when the member may not be used (not an
    approved member). One indexed query; record rules are not applied.

Channel QR API (used by signup pages):

``ChannelQR.record_scan(code)``
    Records one scan of the active, unexpired channel code; returns the
    ``member.channel.qr.scan``. Raises ``LookupRefused`` for an unknown,
    inactive or expired code.

``Party.signup_from_qr(code, values, scan=None)``
    Creates the prospect member from ``values`` (only the keys of
    ``SIGNUP_FIELDS``) in the programme of the code, with
    ``source_channel='qr_campaign'``, ``channel_qr`` set, the property and
    staff of the code as defaults for ``home_property`` and
    ``salesperson``; links the scan (an id returned by ``record_scan``) to
    the new member. Returns the member. Raises ``LookupRefused`` like
    ``record_scan`` and ``MemberError`` for a value that may not be given.
"""
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import secrets
import zipfile
from urllib.parse import urlencode

import qrcode
import qrcode.image.pil
from sql import Null
from sql.aggregate import Count, Min
from sql.functions import DateTrunc

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    fields,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import (
    Button,
    StateAction,
    StateTransition,
    StateView,
    Wizard,
)

from . import identity
from .exceptions import LookupRefused, MemberError, MemberValidationError
from .party import SOURCE_CHANNELS

MEMBER_QR_PREFIX = 'M1'
CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
_CODE = re.compile(r'^[A-Za-z0-9_-]{3,64}$')
SIGNUP_FIELDS = {
    'name', 'member_phone', 'member_email', 'birthday', 'gender', 'lang',
    'consent_sms', 'consent_email', 'consent_wechat', 'home_property',
    }
MAX_GENERATE = 1000


def qr_png(data):
    "Return the PNG image (bytes) of a QR code holding data"
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=8, border=4,
        image_factory=qrcode.image.pil.PilImage)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format='PNG')
    return buffer.getvalue()


def _signature(programme_code, member_number, revision):
    key = hashlib.sha256(b'member-qr:' + identity._secret()).digest()
    message = f'{programme_code}:{member_number}:{revision}'.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24].upper()


def member_qr_payload(programme_code, member_number, revision):
    signature = _signature(programme_code, member_number, revision)
    return ':'.join([
            MEMBER_QR_PREFIX, programme_code, member_number, str(revision),
            signature])


def parse_parameters(text):
    """Return the dict of parameters written as a JSON object or as
    key=value lines; raise ValueError with the offending line"""
    text = (text or '').strip()
    if not text:
        return {}
    if text.startswith('{'):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(text)
        return {str(k): str(v) for k, v in value.items()}
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition('=')
        if not sep or not key.strip():
            raise ValueError(line)
        result[key.strip()] = value.strip()
    return result


class Programme(metaclass=PoolMeta):
    __name__ = 'member.programme'

    qr_signup_url = fields.Char(
        "QR Signup URL",
        help="The signup page that channel QR codes open; "
        "the code and its parameters are added to the query.")


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    member_qr_revision = fields.Integer(
        "QR Code Revision", readonly=True,
        help="Renewing the QR code increases it and revokes older codes.")
    member_qr_payload = fields.Function(
        fields.Char("QR Code Payload"), 'get_member_qr')
    # Own getter: the PNG is rendered only when the image is read
    member_qr = fields.Function(
        fields.Binary("QR Code", filename='member_qr_filename'),
        'get_member_qr_image')
    member_qr_filename = fields.Function(
        fields.Char("QR Code File Name"), 'get_member_qr')
    channel_qr = fields.Many2One(
        'member.channel.qr', "Channel QR Code", readonly=True,
        ondelete='RESTRICT',
        states={'invisible': ~Eval('channel_qr')},
        help="The acquisition QR code the member signed up with.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.channel_qr, Index.Equality()),
                where=t.channel_qr != Null))
        cls._buttons.update({
                'renew_member_qr': {
                    'invisible': ~Eval('member_number'),
                    'depends': ['member_number'],
                    },
                })

    @classmethod
    def default_member_qr_revision(cls):
        return 0

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('member_qr_revision', 0)
        default.setdefault('channel_qr', None)
        return super().copy(parties, default=default)

    @classmethod
    def get_member_qr(cls, parties, names):
        result = {n: {p.id: None for p in parties} for n in names}
        for party in parties:
            if not party.programme or not party.member_number:
                continue
            payload = member_qr_payload(
                party.programme.code, party.member_number,
                party.member_qr_revision or 0)
            if 'member_qr_payload' in names:
                result['member_qr_payload'][party.id] = payload
            if 'member_qr_filename' in names:
                result['member_qr_filename'][party.id] = (
                    f'member-{party.member_number}.png')
        return result

    def get_member_qr_image(self, name):
        if self.member_qr_payload:
            return qr_png(self.member_qr_payload)

    @classmethod
    @ModelView.button
    def renew_member_qr(cls, parties):
        for party in parties:
            cls.write([party], {
                    'member_qr_revision': (party.member_qr_revision or 0) + 1,
                    })

    @classmethod
    def identify_qr(cls, payload):
        "Return the member identified by the member QR payload"
        pool = Pool()
        Programme = pool.get('member.programme')
        parts = (payload or '').strip().split(':')
        if len(parts) < 5 or parts[0] != MEMBER_QR_PREFIX:
            raise LookupRefused(gettext('member_core.msg_member_qr_invalid'))
        programme_code = ':'.join(parts[1:-3])
        number, revision, signature = parts[-3:]
        expected = _signature(programme_code, number, revision)
        if not hmac.compare_digest(signature.upper(), expected):
            raise LookupRefused(gettext('member_core.msg_member_qr_invalid'))
        party = cls.__table__()
        programme = Programme.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*party.join(programme,
                condition=party.programme == programme.id
                ).select(
                party.id, party.member_state, party.member_qr_revision,
                where=(programme.code == programme_code)
                & (party.member_number == number),
                limit=1))
        row = cursor.fetchone()
        if not row:
            raise LookupRefused(gettext(
                    'member_core.msg_member_qr_unknown', number=number))
        member_id, member_state, current = row
        if str(current or 0) != revision:
            raise LookupRefused(gettext(
                    'member_core.msg_member_qr_revoked', number=number))
        member = cls(member_id)
        if member_state != 'member':
            member.check_member_usable()
        return member

    @classmethod
    def signup_from_qr(cls, code, values, scan=None):
        "Create and return the prospect member who signed up through code"
        pool = Pool()
        ChannelQR = pool.get('member.channel.qr')
        Scan = pool.get('member.channel.qr.scan')
        channel = ChannelQR.get_usable(code)
        for name in sorted(values):
            if name not in SIGNUP_FIELDS:
                raise MemberError(gettext(
                        'member_core.msg_signup_field_not_allowed',
                        field=name, code=channel.code))
        values = dict(values)
        values.update({
                'programme': channel.programme.id,
                'source_channel': 'qr_campaign',
                'channel_qr': channel.id,
                })
        if not values.get('home_property') and channel.property:
            values['home_property'] = channel.property.id
        if channel.staff:
            values['salesperson'] = channel.staff.id
        member, = cls.create([values])
        if scan is not None:
            scan = Scan(int(scan))
            if scan.channel_qr != channel or scan.member:
                raise MemberError(gettext(
                        'member_core.msg_channel_qr_scan_mismatch',
                        code=channel.code))
            Scan.write([scan], {'member': member.id})
        return member


class ChannelQR(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.channel.qr'
    __string__ = "Channel QR Code"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='RESTRICT',
        states={'readonly': Eval('id', -1) >= 0})
    property = fields.Many2One(
        'member.property', "Property", ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        help="The home property given to members who sign up.")
    campaign = fields.Char("Campaign", required=True)
    code = fields.Char(
        "Code", readonly=True,
        help="Generated; unique across all programmes.")
    staff = fields.Many2One(
        'res.user', "Staff", ondelete='RESTRICT',
        help="The salesperson credited with signups.")
    location = fields.Char("Location")
    parameters = fields.Text(
        "Parameters",
        help="Added to the URL: one key=value per line or a JSON object.")
    expiry_date = fields.Date(
        "Expiry Date", help="Scans and signups are refused after this day.")
    url = fields.Function(fields.Char("URL"), 'get_url')
    image = fields.Function(
        fields.Binary("QR Code", filename='image_name'), 'get_image')
    image_name = fields.Function(
        fields.Char("QR Code File Name"), 'get_image_name')
    scans = fields.One2Many(
        'member.channel.qr.scan', 'channel_qr', "Scans", readonly=True)
    scan_count = fields.Function(
        fields.Integer("Scans"), 'get_counts')
    signup_count = fields.Function(
        fields.Integer("Signups"), 'get_counts')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'member_core.msg_channel_qr_code_unique'),
            ]
        cls._order.insert(0, ('campaign', 'ASC'))
        cls._order.insert(1, ('code', 'ASC'))

    @classmethod
    def default_programme(cls):
        pool = Pool()
        Programme = pool.get('member.programme')
        programmes = Programme.search([], limit=2)
        if len(programmes) == 1:
            return programmes[0].id

    def get_rec_name(self, name):
        return f'{self.code} ({self.campaign})'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('campaign', operator, operand, *extra),
            ]

    @classmethod
    def generate_code(cls):
        return ''.join(secrets.choice(CODE_ALPHABET) for _ in range(10))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('code'):
            values['code'] = cls.generate_code()
        if values.get('code'):
            values['code'] = values['code'].strip()
        return values

    @classmethod
    def validate_fields(cls, codes, field_names):
        super().validate_fields(codes, field_names)
        cls.check_code(codes, field_names)
        cls.check_parameters(codes, field_names)

    @classmethod
    def check_code(cls, codes, field_names=None):
        if field_names and 'code' not in field_names:
            return
        for channel in codes:
            if not _CODE.match(channel.code or ''):
                raise MemberValidationError(gettext(
                        'member_core.msg_channel_qr_code_invalid',
                        code=channel.code or ''))

    @classmethod
    def check_parameters(cls, codes, field_names=None):
        if field_names and 'parameters' not in field_names:
            return
        for channel in codes:
            try:
                parse_parameters(channel.parameters)
            except ValueError as exception:
                raise MemberValidationError(gettext(
                        'member_core.msg_channel_qr_parameters_invalid',
                        code=channel.code,
                        line=str(exception)[:80])) from exception

    def get_url(self, name):
        base = self.programme.qr_signup_url if self.programme else None
        if not base or not self.code:
            return None
        query = {'qr': self.code}
        query.update(parse_parameters(self.parameters))
        separator = '&' if '?' in base else '?'
        return base + separator + urlencode(query)

    def get_image(self, name):
        # Without a signup URL the code alone is encoded
        return qr_png(self.url or self.code) if self.code else None

    def get_image_name(self, name):
        return f'{self.code}.png' if self.code else None

    @classmethod
    def get_counts(cls, codes, names):
        pool = Pool()
        Scan = pool.get('member.channel.qr.scan')
        Party = pool.get('party.party')
        cursor = Transaction().connection.cursor()
        result = {n: {c.id: 0 for c in codes} for n in names}
        tables = {
            'scan_count': (Scan.__table__(), 'channel_qr'),
            'signup_count': (Party.__table__(), 'channel_qr'),
            }
        for name in names:
            table, column = tables[name]
            column = getattr(table, column)
            for sub_ids in grouped_slice(
                    [c.id for c in codes], backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.select(
                        column, Count(table.id),
                        where=fields.SQL_OPERATORS['in'](column, sub_ids),
                        group_by=[column]))
                result[name].update(dict(cursor))
        return result

    @classmethod
    def copy(cls, codes, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('code', None)
        default.setdefault('scans', None)
        return super().copy(codes, default=default)

    @classmethod
    def get_usable(cls, code):
        """Return the active, unexpired channel QR with the code or raise
        LookupRefused"""
        pool = Pool()
        Date = pool.get('ir.date')
        with Transaction().set_context(active_test=False):
            channels = cls.search([('code', '=', (code or '').strip())])
        if not channels:
            raise LookupRefused(gettext(
                    'member_core.msg_channel_qr_unknown', code=code))
        channel, = channels
        if not channel.active:
            raise LookupRefused(gettext(
                    'member_core.msg_channel_qr_inactive', code=channel.code))
        if channel.expiry_date and channel.expiry_date < Date.today():
            raise LookupRefused(gettext(
                    'member_core.msg_channel_qr_expired', code=channel.code,
                    date=channel.expiry_date))
        return channel

    @classmethod
    def record_scan(cls, code):
        "Record a scan of the channel QR code and return the scan"
        pool = Pool()
        Scan = pool.get('member.channel.qr.scan')
        channel = cls.get_usable(code)
        scan, = Scan.create([{
                    'channel_qr': channel.id,
                    'date': dt.datetime.now(),
                    }])
        return scan


class ChannelQRScan(ModelSQL, ModelView):
    __name__ = 'member.channel.qr.scan'
    __string__ = "Channel QR Code Scan"

    channel_qr = fields.Many2One(
        'member.channel.qr', "Channel QR Code", required=True,
        ondelete='CASCADE')
    date = fields.Timestamp("Date", required=True)
    member = fields.Many2One(
        'party.party', "Member", readonly=True, ondelete='SET NULL',
        help="The member who signed up after this scan.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('channel_qr')
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.channel_qr, Index.Range()), (t.date, Index.Range())))
        cls._order.insert(0, ('date', 'DESC'))


class GenerateChannelQRStart(ModelView):
    __name__ = 'member.channel.qr.generate.start'
    __string__ = "Generate Channel QR Codes"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True)
    property = fields.Many2One(
        'member.property', "Property",
        domain=[('programme', '=', Eval('programme', -1))])
    campaign = fields.Char("Campaign", required=True)
    expiry_date = fields.Date("Expiry Date")
    parameters = fields.Text(
        "Parameters",
        help="Added to the URL: one key=value per line or a JSON object.")
    staff = fields.Many2Many(
        'res.user', None, None, "Staff",
        help="One code for each user.")
    locations = fields.Text(
        "Locations", help="One code for each line.")
    count = fields.Integer(
        "Count",
        domain=[If(Bool(Eval('count')),
                [('count', '>', 0), ('count', '<=', MAX_GENERATE)],
                [])],
        help="The number of codes to generate "
        "when no staff or location is given.")

    @classmethod
    def default_programme(cls):
        pool = Pool()
        ChannelQR = pool.get('member.channel.qr')
        return ChannelQR.default_programme()


class GenerateChannelQR(Wizard):
    "Generate Channel QR Codes"
    __name__ = 'member.channel.qr.generate'

    start = StateView(
        'member.channel.qr.generate.start',
        'member_core.channel_qr_generate_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Generate", 'generate', 'tryton-ok', default=True),
            ])
    generate = StateTransition()
    open_ = StateAction('member_core.act_channel_qr_form')

    def transition_generate(self):
        pool = Pool()
        ChannelQR = pool.get('member.channel.qr')
        start = self.start
        base = {
            'programme': start.programme.id,
            'property': start.property.id if start.property else None,
            'campaign': start.campaign,
            'expiry_date': start.expiry_date,
            'parameters': start.parameters,
            }
        to_create = []
        for user in start.staff:
            to_create.append({**base, 'staff': user.id})
        for line in (start.locations or '').splitlines():
            if line.strip():
                to_create.append({**base, 'location': line.strip()})
        if not to_create:
            to_create = [dict(base) for _ in range(start.count or 0)]
        if not to_create:
            raise MemberError(gettext('member_core.msg_channel_qr_no_count'))
        if len(to_create) > MAX_GENERATE:
            raise MemberError(gettext(
                    'member_core.msg_channel_qr_too_many',
                    count=len(to_create), maximum=MAX_GENERATE))
        self._created = ChannelQR.create(to_create)
        return 'open_'

    def do_open_(self, action):
        action['domain'] = [('id', 'in', [c.id for c in self._created])]
        return action, {}


class ExportChannelQRStart(ModelView):
    __name__ = 'member.channel.qr.export.start'
    __string__ = "Download Channel QR Codes"

    file = fields.Binary("File", filename='filename', readonly=True)
    filename = fields.Char("File Name", readonly=True)


class ExportChannelQR(Wizard):
    "Download Channel QR Codes"
    __name__ = 'member.channel.qr.export'

    start = StateView(
        'member.channel.qr.export.start',
        'member_core.channel_qr_export_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        return {
            'file': self.build_zip(self.records),
            'filename': 'channel-qr-codes.zip',
            }

    @classmethod
    def build_zip(cls, codes):
        "Return a ZIP with one PNG per code and index.csv describing them"
        buffer = io.BytesIO()
        index = io.StringIO()
        writer = csv.writer(index)
        writer.writerow([
                'code', 'campaign', 'programme', 'property', 'staff',
                'location', 'expiry_date', 'url', 'file'])
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            for channel in codes:
                archive.writestr(channel.image_name, channel.image)
                writer.writerow([
                        channel.code, channel.campaign,
                        channel.programme.code,
                        channel.property.code if channel.property else '',
                        channel.staff.login if channel.staff else '',
                        channel.location or '',
                        channel.expiry_date.isoformat()
                        if channel.expiry_date else '',
                        channel.url or '', channel.image_name])
            archive.writestr('index.csv', index.getvalue())
        return buffer.getvalue()


class SignupReport(ModelSQL, ModelView):
    __name__ = 'member.signup.report'
    __string__ = "Signups per Month by Channel"

    month = fields.Date("Month")
    programme = fields.Many2One('member.programme', "Programme")
    source_channel = fields.Selection(SOURCE_CHANNELS, "Source Channel")
    channel_qr = fields.Many2One('member.channel.qr', "Channel QR Code")
    campaign = fields.Char("Campaign")
    property = fields.Many2One('member.property', "Property")
    signups = fields.Integer("Signups")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('month', 'DESC'),
            ('source_channel', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        ChannelQR = pool.get('member.channel.qr')
        party = Party.__table__()
        channel = ChannelQR.__table__()
        # The month is computed in a sub-query: PostgreSQL does not see two
        # DATE_TRUNC with parameters as the same GROUP BY expression
        signup = party.join(channel, 'LEFT',
            condition=party.channel_qr == channel.id
            ).select(
            party.id.as_('id'),
            cls.month.sql_cast(
                DateTrunc('month', party.join_date)).as_('month'),
            party.programme.as_('programme'),
            party.source_channel.as_('source_channel'),
            party.channel_qr.as_('channel_qr'),
            channel.campaign.as_('campaign'),
            party.home_property.as_('property'),
            where=(party.programme != Null) & (party.join_date != Null))
        return signup.select(
            Min(signup.id).as_('id'),
            signup.month.as_('month'),
            signup.programme.as_('programme'),
            signup.source_channel.as_('source_channel'),
            signup.channel_qr.as_('channel_qr'),
            signup.campaign.as_('campaign'),
            signup.property.as_('property'),
            Count(signup.id).as_('signups'),
            group_by=[
                signup.month, signup.programme, signup.source_channel,
                signup.channel_qr, signup.campaign, signup.property])

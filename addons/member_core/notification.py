# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Messages to members: SMS gateway, email notifications, birthdays.

Every message sent (or not sent) to a member is recorded as a
``member.message`` shown on the member form.

``Message.send_sms(member, text, kind='other', reference=None)``
    Sends the SMS through the backend of the notification configuration
    (``log``: written to the ``trytond.modules.member_core.notification``
    logger; ``webhook``: JSON ``{to, text, member, kind}`` POSTed to the
    configured URL). Returns the ``member.message``: ``sent``, ``failed``
    (with the error) or ``skipped`` (no SMS consent or no phone). With a
    ``reference`` it is idempotent: a second call for the same member and
    reference returns the first message and sends nothing. Never raises
    for gateway errors. The phone number is masked in the log.

Emails are ``notification.email`` records (module notification_email) with
a "Member Message Kind": they are sent only to members with email consent,
to ``party.member_email``, and recorded as messages.

``Message.send_birthday_greetings(date=None)`` (daily cron)
    Greets the approved members born on that day (29 February is greeted
    on 28 February in common years) by SMS and email according to their
    consents, once per member, channel and year.
"""
import calendar
import datetime as dt
import logging

import requests
from sql import Literal, Null
from sql.functions import Extract
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSingleton,
    ModelSQL,
    ModelView,
    Unique,
    fields,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import identity
from .exceptions import MemberValidationError

logger = logging.getLogger(__name__)

CHANNELS = [
    ('sms', "SMS"),
    ('email', "Email"),
    ('wechat', "WeChat"),
    ]
KINDS = [
    ('tier_change', "Tier Change"),
    ('birthday', "Birthday"),
    ('other', "Other"),
    ]
TEMPLATE_SAMPLE = {
    'name': "Li Wei",
    'number': "M00000001",
    'programme': "Grand Hotels Club",
    'tier': "Gold",
    }


class SMSError(Exception):
    pass


def format_template(template, member, **extra):
    values = {
        'name': member.name or '',
        'number': member.member_number or '',
        'programme': member.programme.name if member.programme else '',
        'tier': '',
        }
    values.update(extra)
    return template.format_map(values)


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "Member Notification Configuration"
    __name__ = 'member.notification.configuration'

    sms_backend = fields.Selection([
            ('log', "Log"),
            ('webhook', "Webhook"),
            ], "SMS Backend", required=True,
        help="Log: the messages are only written to the server log.\n"
        "Webhook: the messages are posted as JSON to the URL.")
    sms_webhook_url = fields.Char(
        "SMS Webhook URL",
        states={
            'required': Eval('sms_backend') == 'webhook',
            'invisible': Eval('sms_backend') != 'webhook',
            })
    sms_webhook_timeout = fields.Integer(
        "SMS Webhook Timeout", required=True,
        domain=[('sms_webhook_timeout', '>', 0)],
        states={'invisible': Eval('sms_backend') != 'webhook'},
        help="In seconds.")
    birthday_sms = fields.Char(
        "Birthday SMS", translate=True,
        help="Placeholders: {name}, {number}, {programme}.")
    tier_change_sms = fields.Char(
        "Tier Change SMS", translate=True,
        help="Placeholders: {name}, {number}, {programme}, {tier}.")

    @classmethod
    def default_sms_backend(cls):
        return 'log'

    @classmethod
    def default_sms_webhook_timeout(cls):
        return 10

    @classmethod
    def default_birthday_sms(cls):
        return "Happy birthday, {name}! Best wishes from {programme}."

    @classmethod
    def default_tier_change_sms(cls):
        return "Dear {name}, your {programme} tier is now {tier}."

    @classmethod
    def validate_fields(cls, configurations, field_names):
        super().validate_fields(configurations, field_names)
        for configuration in configurations:
            for name in ['birthday_sms', 'tier_change_sms']:
                if field_names and name not in field_names:
                    continue
                template = getattr(configuration, name) or ''
                try:
                    template.format_map(TEMPLATE_SAMPLE)
                except (KeyError, ValueError, IndexError) as exception:
                    raise MemberValidationError(gettext(
                            'member_core.msg_message_template_invalid',
                            field=cls.__names__(name)['field'],
                            error=str(exception))) from exception


class Message(ModelSQL, ModelView):
    "Member Message"
    __name__ = 'member.message'

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='CASCADE',
        readonly=True)
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        readonly=True)
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    text = fields.Text("Text", readonly=True)
    recipient = fields.Char("Recipient", readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('sent', "Sent"),
            ('failed', "Failed"),
            ('skipped', "Skipped"),
            ], "State", required=True, readonly=True, sort=False)
    date = fields.Timestamp("Date", required=True, readonly=True)
    error = fields.Text("Error", readonly=True)
    reference = fields.Char(
        "Reference", readonly=True,
        help="Makes the message unique for the member and the channel.")
    email = fields.Many2One(
        'ir.email', "Email", readonly=True, ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('member')
        t = cls.__table__()
        cls._sql_constraints += [
            ('reference_unique',
                Unique(t, t.member, t.channel, t.reference),
                'member_core.msg_message_reference_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.member, Index.Range()), (t.date, Index.Range())))
        cls._order.insert(0, ('date', 'DESC'))

    @classmethod
    def default_date(cls):
        return dt.datetime.now()

    @classmethod
    def default_kind(cls):
        return 'other'

    @classmethod
    def refusal(cls, member, channel):
        "Return why the member may not receive on the channel or None"
        if not getattr(member, f'consent_{channel}'):
            return gettext(
                'member_core.msg_message_no_consent',
                channel=dict(CHANNELS)[channel])
        if channel == 'sms' and not member.member_phone:
            return gettext('member_core.msg_message_no_phone')
        if channel == 'email' and not member.member_email:
            return gettext('member_core.msg_message_no_email')

    @classmethod
    def send_sms(cls, member, text, kind='other', reference=None):
        "Send the SMS to the member and return the member.message"
        pool = Pool()
        Configuration = pool.get('member.notification.configuration')
        if reference:
            messages = cls.search([
                    ('member', '=', member.id),
                    ('channel', '=', 'sms'),
                    ('reference', '=', reference),
                    ], limit=1)
            if messages:
                return messages[0]
        values = {
            'member': member.id,
            'channel': 'sms',
            'kind': kind,
            'text': text,
            'recipient': member.member_phone,
            'reference': reference,
            'date': dt.datetime.now(),
            }
        error = cls.refusal(member, 'sms')
        if error:
            values.update(state='skipped', error=error)
        else:
            configuration = Configuration(1)
            send = getattr(cls, f'_send_sms_{configuration.sms_backend}')
            try:
                send(configuration, member, text, kind)
            except SMSError as exception:
                values.update(state='failed', error=str(exception))
            else:
                values['state'] = 'sent'
        message, = cls.create([values])
        return message

    @classmethod
    def _send_sms_log(cls, configuration, member, text, kind):
        logger.info(
            "SMS %s to member %s (%s): %s", kind, member.member_number,
            identity.mask(member.member_phone), text)

    @classmethod
    def _send_sms_webhook(cls, configuration, member, text, kind):
        try:
            response = requests.post(
                configuration.sms_webhook_url,
                json={
                    'to': member.member_phone,
                    'text': text,
                    'member': member.member_number,
                    'kind': kind,
                    },
                timeout=configuration.sms_webhook_timeout)
            response.raise_for_status()
        except requests.RequestException as exception:
            logger.warning(
                "SMS %s to member %s failed: %s", kind,
                member.member_number, exception)
            raise SMSError(gettext(
                    'member_core.msg_message_sms_failed',
                    error=str(exception))) from exception

    @classmethod
    def notify_tier_change(cls, histories, trigger):
        "Trigger action: send the tier change SMS of the tier histories"
        pool = Pool()
        Configuration = pool.get('member.notification.configuration')
        configuration = Configuration(1)
        for history in histories:
            if not history.to_tier or history.to_tier == history.from_tier:
                continue
            member = history.member
            text = format_template(
                configuration.tier_change_sms or '', member,
                tier=history.to_tier.name)
            cls.send_sms(
                member, text, kind='tier_change',
                reference=f'tier:{history.id}')

    @classmethod
    def _birthday_condition(cls, party, date):
        month = Extract('MONTH', party.birthday)
        day = Extract('DAY', party.birthday)
        condition = (month == date.month) & (day == date.day)
        if (date.month, date.day) == (2, 28) and not calendar.isleap(
                date.year):
            condition |= (month == 2) & (day == 29)
        return condition

    @classmethod
    def send_birthday_greetings(cls, date=None):
        "Greet the members born on the date (today by default)"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        Configuration = pool.get('member.notification.configuration')
        if date is None:
            date = Date.today()
        reference = f'birthday:{date.year}'
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        configuration = Configuration(1)
        now = dt.datetime.now()
        for channel in ['sms', 'email']:
            message = cls.__table__()
            greeted = message.select(
                Literal(1),
                where=(message.member == party.id)
                & (message.channel == channel)
                & (message.reference == reference))
            cursor.execute(*party.select(
                    party.id,
                    where=(party.member_state == 'member')
                    & (party.birthday != Null)
                    & cls._birthday_condition(party, date)
                    & ~Exists(greeted),
                    order_by=[party.id.asc]))
            member_ids = [i for i, in cursor]
            for sub_ids in grouped_slice(member_ids, 500):
                members = Party.browse(sub_ids)
                if channel == 'sms':
                    for member in members:
                        cls.send_sms(
                            member,
                            format_template(
                                configuration.birthday_sms or '', member),
                            kind='birthday', reference=reference)
                    continue
                to_create = []
                for member in members:
                    error = cls.refusal(member, 'email')
                    to_create.append({
                            'member': member.id,
                            'channel': 'email',
                            'kind': 'birthday',
                            'recipient': member.member_email,
                            'reference': reference,
                            'date': now,
                            'state': 'skipped' if error else 'pending',
                            'error': error,
                            })
                # A trigger on pending birthday emails sends them
                cls.create(to_create)


class Trigger(metaclass=PoolMeta):
    __name__ = 'ir.trigger'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            ('member.message|notify_tier_change', "Member Tier Change SMS"))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    messages = fields.One2Many(
        'member.message', 'member', "Messages", readonly=True)

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('messages', None)
        return super().copy(parties, default=default)


class NotificationEmail(metaclass=PoolMeta):
    __name__ = 'notification.email'

    member_message_kind = fields.Selection(
        [(None, "")] + KINDS, "Member Message Kind",
        help="Send only to members who consent to email "
        "and record the email on the member.")

    def send_email(self, records, trigger):
        pool = Pool()
        Message = pool.get('member.message')
        Email = pool.get('ir.email')
        if not self.member_message_kind:
            return super().send_email(records, trigger)
        now = dt.datetime.now()
        to_send, refused = [], {}
        for record in records:
            member = self.get_member(record)
            error = Message.refusal(member, 'email')
            if not error and not self._get_to(record)[0]:
                error = gettext('member_core.msg_message_no_email')
            if error:
                refused[record] = error
            else:
                to_send.append(record)
        super().send_email(to_send, trigger)
        emails = {}
        if to_send:
            for email in Email.search([
                        ('notification_email', '=', self.id),
                        ('notification_trigger', '=', trigger.id),
                        ('resource', 'in', [str(r) for r in to_send]),
                        ], order=[('id', 'ASC')]):
                emails[str(email.resource)] = email
        to_create, to_write = [], []
        for record in records:
            email = emails.get(str(record))
            if record in refused:
                values = {'state': 'skipped', 'error': refused[record]}
            elif email:
                values = {
                    'state': 'sent',
                    'email': email.id,
                    'text': email.subject,
                    'recipient': email.recipients,
                    }
            else:
                values = {
                    'state': 'failed',
                    'error': gettext('member_core.msg_message_no_email'),
                    }
            if isinstance(record, Message):
                to_write.extend(([record], values))
            else:
                member = self.get_member(record)
                values.update({
                        'member': member.id,
                        'channel': 'email',
                        'kind': self.member_message_kind,
                        'date': now,
                        })
                values.setdefault('recipient', member.member_email)
                to_create.append(values)
        if to_write:
            Message.write(*to_write)
        if to_create:
            Message.create(to_create)

    @classmethod
    def get_member(cls, record):
        "Return the member the notification about record is sent to"
        pool = Pool()
        Party = pool.get('party.party')
        if isinstance(record, Party):
            return record
        return record.member


class EmailTemplate(metaclass=PoolMeta):
    __name__ = 'ir.email.template'

    @classmethod
    def _get_address(cls, record):
        pool = Pool()
        Party = pool.get('party.party')
        address = super()._get_address(record)
        # Members give their email on the member form, not as a contact
        if (isinstance(record, Party)
                and record.programme and record.member_email):
            address = (record.name, record.member_email)
        return address


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('member.message|send_birthday_greetings',
                "Send Member Birthday Greetings"))

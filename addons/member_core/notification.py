# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Messages to members: SMS gateway, email notifications, birthdays.

Every message sent (or not sent) to a member is recorded as a
``member.message`` shown on the member form.

``Message.send_sms(member, text, kind='other', reference=None)``
    Sends the SMS at once through the backend of the notification
    configuration (``log``: written to the
    ``trytond.modules.member_core.notification`` logger; ``webhook``: JSON
    ``{to, text, member, kind}`` POSTed to the configured URL). Returns the
    ``member.message``: ``sent``, ``failed`` (with the error) or ``skipped``
    (no SMS consent or no phone). With a ``reference`` it is idempotent: a
    second call for the same member and reference returns the first
    message and sends nothing. Never raises for gateway errors. The phone
    number is masked in the log.

Tier changes and birthday greetings are queued, then sent by a cron:

``Message.queue_tier_changes(where)``
    Set-based (one INSERT ... SELECT per channel): for the
    ``member.tier.history`` rows matching ``where(history table)`` that are
    a tier change (reason not ``initial``, a new tier different from the
    old one), creates a ``tier_change`` message per channel (SMS, email),
    ``pending`` when the member consents to the channel and has a phone /
    email, else ``skipped`` with the reason, so that every tier change
    shows on the member whether it was notified or not. The reference
    ``tier-history:<history id>`` makes it idempotent. Called for the rows
    inserted by SQL (``Tier._history_inserted``, review and metric
    upgrades) and for the rows created by the ORM (overrides, purchases).
``Message.send_birthday_greetings(date=None)`` (daily cron)
    Queues the greetings of the approved members born on that day (29
    February is greeted on 28 February in common years), set-based, once
    per member, channel and year.
``Message.send_pending()`` (cron every 5 minutes)
    Sends the pending messages by chunks of ``_send_chunk`` (500), each one
    locked, checked still pending, sent and recorded ``sent``, ``failed``
    (with the error) or ``skipped`` (consent withdrawn meanwhile) in its own
    commit: a gateway failure keeps the others and nothing is sent twice.
    SMS texts are rendered from the configuration templates when sent;
    emails are rendered on the message by the ``notification.email`` of
    the message's kind (``member_message_kind``) and sent at commit by the
    mail system of notification_email.

Emails of a ``notification.email`` with a "Member Message Kind" are sent
only to members with email consent, to ``party.member_email``, and recorded
as messages, also when a trigger sends them.
"""
import calendar
import datetime as dt
import logging

import requests
from sql import For, Literal, Null
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp, Extract
from sql.operators import Concat, Exists

import trytond.config as config
from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSingleton,
    ModelSQL,
    ModelView,
    Unique,
    fields,
)
from trytond.modules.notification_email import (
    notification as email_notification,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.tools.email_ import has_rcpt
from trytond.transaction import Transaction, without_check_access

from . import identity
from .exceptions import MemberValidationError
from .party import newest

logger = logging.getLogger(__name__)

CHANNELS = [
    ('sms', "SMS"),
    ('email', "Email"),
    ('wechat', "WeChat"),
    ]
# The party field holding the address of the member on the channel
CONTACTS = {
    'sms': 'member_phone',
    'email': 'member_email',
    }
KINDS = [
    ('tier_change', "Tier Change"),
    ('birthday', "Birthday"),
    ('other', "Other"),
    ]
# The configuration field holding the SMS template of the kind
SMS_TEMPLATES = {
    'tier_change': 'tier_change_sms',
    'birthday': 'birthday_sms',
    }
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
    __name__ = 'member.notification.configuration'
    __string__ = "Member Notification Configuration"

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
    __name__ = 'member.message'
    __string__ = "Member Message"

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
    origin = fields.Reference(
        "Origin", selection='get_origins', readonly=True)
    email = fields.Many2One(
        'ir.email', "Email", readonly=True, ondelete='SET NULL')

    _send_chunk = 500

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
        cls._sql_indexes.update({
                Index(t, (t.member, Index.Range()), (t.date, Index.Range())),
                Index(t, (t.id, Index.Range()),
                    where=t.state == 'pending'),
                })
        cls._order.insert(0, ('date', 'DESC'))

    @classmethod
    def default_date(cls):
        return dt.datetime.now()

    @classmethod
    def default_kind(cls):
        return 'other'

    @classmethod
    def _get_origins(cls):
        "Return the models that can cause a message"
        return ['member.tier.history']

    @classmethod
    def get_origins(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origins()]

    @classmethod
    def _refusals(cls, channel):
        """Return the reasons not to send on the channel: no consent and no
        address (None for a channel without address)"""
        no_consent = gettext(
            'member_core.msg_message_no_consent',
            channel=dict(CHANNELS)[channel])
        no_contact = {
            'sms': 'member_core.msg_message_no_phone',
            'email': 'member_core.msg_message_no_email',
            }.get(channel)
        return no_consent, gettext(no_contact) if no_contact else None

    @classmethod
    def refusal(cls, member, channel):
        "Return why the member may not receive on the channel or None"
        no_consent, no_contact = cls._refusals(channel)
        if not getattr(member, f'consent_{channel}'):
            return no_consent
        if channel in CONTACTS and not getattr(member, CONTACTS[channel]):
            return no_contact

    @classmethod
    def send_sms(cls, member, text, kind='other', reference=None):
        "Send the SMS to the member and return the member.message"
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
            values.update(cls._gateway_sms(member, text, kind))
        message, = cls.create([values])
        return message

    @classmethod
    def _gateway_sms(cls, member, text, kind):
        """Send the SMS through the configured backend; return the state
        and error values of the message"""
        pool = Pool()
        Configuration = pool.get('member.notification.configuration')
        configuration = Configuration(1)
        send = getattr(cls, f'_send_sms_{configuration.sms_backend}')
        try:
            send(configuration, member, text, kind)
        except SMSError as exception:
            return {'state': 'failed', 'error': str(exception)}
        return {'state': 'sent', 'error': None}

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
    def _queue(cls, from_, party, kind, reference, origin, where):
        """Insert a message of kind per channel for the rows of from_
        matching where: party is the member table of from_, reference and
        origin are SQL expressions. Rows already having a message with the
        reference on the channel are left out."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        message = cls.__table__()
        existing = cls.__table__()
        now = dt.datetime.now()
        user = transaction.user
        for channel, contact_name in CONTACTS.items():
            no_consent, no_contact = cls._refusals(channel)
            contact = getattr(party, contact_name)
            consented = Coalesce(
                getattr(party, f'consent_{channel}'), Literal(False)
                ) == Literal(True)
            reachable = Coalesce(contact, '') != ''
            cursor.execute(*message.insert(
                    [message.member, message.channel, message.kind,
                        message.recipient, message.state, message.error,
                        message.date, message.reference, message.origin,
                        message.create_uid, message.create_date],
                    from_.select(
                        party.id, Literal(channel), Literal(kind), contact,
                        Case((consented & reachable, 'pending'),
                            else_='skipped'),
                        Case((~consented, no_consent),
                            (~reachable, no_contact),
                            else_=Null),
                        Literal(now), reference, origin, Literal(user),
                        CurrentTimestamp(),
                        where=where & ~Exists(existing.select(
                                Literal(1),
                                where=(existing.member == party.id)
                                & (existing.channel == channel)
                                & (existing.reference == reference))))))

    @classmethod
    def queue_tier_changes(cls, where):
        """Queue the tier change messages of the member.tier.history rows
        matching where(history table), set-based and idempotent"""
        pool = Pool()
        History = pool.get('member.tier.history')
        Party = pool.get('party.party')
        history = History.__table__()
        party = Party.__table__()
        cls._queue(
            history.join(party, condition=history.member == party.id),
            party, 'tier_change',
            Concat('tier-history:', history.id),
            Concat(f'{History.__name__},', history.id),
            where(history)
            & (history.reason != 'initial')
            & (history.to_tier != Null)
            & ((history.from_tier == Null)
                | (history.from_tier != history.to_tier)))

    @classmethod
    def queue_recent_tier_changes(cls, days=7):
        """Queue the changes of the last days not queued yet

        The tier review inserts its history rows with SQL in one large
        transaction: their messages are queued here, by the sender cron,
        so that the review does not also write a message per channel."""
        pool = Pool()
        Date = pool.get('ir.date')
        since = Date.today() - dt.timedelta(days=days)
        cls.queue_tier_changes(lambda history: history.date >= since)

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
        "Queue the greetings of the members born on the date (today)"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        if date is None:
            date = Date.today()
        party = Party.__table__()
        cls._queue(
            party, party, 'birthday', Literal(f'birthday:{date.year}'),
            Literal(None),
            (party.member_state == 'member')
            & (party.birthday != Null)
            & cls._birthday_condition(party, date))

    @classmethod
    def send_pending(cls):
        """Send the pending messages (cron)

        Commits after each message: call it only as the cron or in a
        transaction of its own."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        last_id = 0
        cls.queue_recent_tier_changes()
        transaction.commit()
        with without_check_access():
            while True:
                cursor.execute(*table.select(
                        table.id,
                        where=(table.state == 'pending')
                        & (table.id > last_id),
                        order_by=[table.id.asc],
                        limit=cls._send_chunk))
                ids = [i for i, in cursor]
                if not ids:
                    break
                last_id = ids[-1]
                for message_id in ids:
                    cls._send_pending(message_id)
                    transaction.commit()

    @classmethod
    def _lock_pending(cls, message_id):
        "Lock the message row and return whether it is still pending"
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        query = table.select(table.state, where=table.id == message_id)
        # ModelSQL.lock would restart the transaction to take the lock
        if transaction.database.has_select_for():
            query.for_ = For('UPDATE')
        cursor.execute(*query)
        row = cursor.fetchone()
        return bool(row) and row[0] == 'pending'

    @classmethod
    def _send_pending(cls, message_id):
        "Send the message if it is still pending and record the outcome"
        transaction = Transaction()
        if not cls._lock_pending(message_id):
            return
        message = cls(message_id)
        try:
            values = message._deliver()
        except backend.DatabaseOperationalError:
            raise
        except Exception as exception:
            # A message that cannot be rendered must not block the queue
            logger.exception("Member message %s failed", message_id)
            transaction.rollback()
            if not cls._lock_pending(message_id):
                return
            values = {'state': 'failed', 'error': str(exception)}
        cls.write([cls(message_id)], values)

    def _deliver(self):
        "Send the pending message and return the values to record"
        error = self.refusal(self.member, self.channel)
        if error:
            return {'state': 'skipped', 'error': error}
        deliver = getattr(self, f'_deliver_{self.channel}', None)
        if deliver is None:
            return {
                'state': 'failed',
                'error': gettext(
                    'member_core.msg_message_channel_unsupported',
                    channel=dict(CHANNELS)[self.channel]),
                }
        values = deliver()
        values['date'] = dt.datetime.now()
        return values

    def _deliver_sms(self):
        text = self.text or self.get_sms_text()
        values = {'text': text, 'recipient': self.member.member_phone}
        values.update(self._gateway_sms(self.member, text, self.kind))
        return values

    def _deliver_email(self):
        pool = Pool()
        NotificationEmail = pool.get('notification.email')
        notifications = NotificationEmail.search([
                ('member_message_kind', '=', self.kind),
                ('model', '=', self.__name__),
                ], order=[('id', 'ASC')], limit=1)
        if not notifications:
            return {
                'state': 'failed',
                'error': gettext(
                    'member_core.msg_message_no_notification_email',
                    kind=dict(KINDS)[self.kind]),
                }
        notification, = notifications
        email = notification.send_member_message(self)
        if not email:
            return {
                'state': 'failed',
                'error': gettext('member_core.msg_message_no_email'),
                }
        return {
            'state': 'sent',
            'error': None,
            'email': email.id,
            'text': email.subject,
            'recipient': email.recipients,
            }

    def get_sms_text(self):
        "Return the SMS text of the kind from the configuration template"
        pool = Pool()
        Configuration = pool.get('member.notification.configuration')
        History = pool.get('member.tier.history')
        configuration = Configuration(1)
        template = getattr(configuration, SMS_TEMPLATES.get(self.kind, ''),
            None) or ''
        extra = {}
        if isinstance(self.origin, History) and self.origin.to_tier:
            extra['tier'] = self.origin.to_tier.name
        return format_template(template, self.member, **extra)


class TierHistory(metaclass=PoolMeta):
    __name__ = 'member.tier.history'

    @classmethod
    def on_modification(cls, mode, histories, field_names=None):
        pool = Pool()
        Message = pool.get('member.message')
        super().on_modification(mode, histories, field_names=field_names)
        if mode == 'create':
            for sub_ids in grouped_slice(
                    [h.id for h in histories], backend.MAX_QUERY_PARAMS):
                ids = list(sub_ids)
                Message.queue_tier_changes(
                    lambda history, ids=ids: history.id.in_(ids))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    messages = fields.One2Many(
        'member.message', 'member', "Messages", readonly=True)
    recent_messages = fields.Function(fields.One2Many(
            'member.message', None, "Messages", readonly=True,
            help="The newest messages; all of them are in Related."),
        'get_recent_messages', setter='set_newest')

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('messages', None)
        return super().copy(parties, default=default)

    @classmethod
    def get_recent_messages(cls, members, name):
        return newest(
            'member.message', members, [('date', 'DESC'), ('id', 'DESC')])


class NotificationEmail(metaclass=PoolMeta):
    __name__ = 'notification.email'

    member_message_kind = fields.Selection(
        [(None, "")] + KINDS, "Member Message Kind",
        help="Send only to members who consent to email "
        "and record the email on the member.\n"
        "The pending member messages of the kind are sent with it.")

    def send_member_message(self, message):
        """Send the email rendered on the member.message at commit and
        return the ir.email or None without recipient"""
        pool = Pool()
        Email = pool.get('ir.email')
        # Through the module attributes, as send_email does
        datamanager = Transaction().join(
            email_notification.SMTPDataManager())
        from_ = (config.get('notification_email', 'from')
            or config.get('email', 'from'))
        to, to_languages = self._get_to(message)
        cc, cc_languages = self._get_cc(message)
        bcc, bcc_languages = self._get_bcc(message)
        msg = self.get_email(
            message, from_, to, cc, bcc,
            to_languages | cc_languages | bcc_languages)
        if not has_rcpt(msg):
            return None
        email_notification.send_message_transactional(
            msg, datamanager=datamanager)
        email = Email.from_message(
            msg, resource=message, notification_email=self)
        email.save()
        return email

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
        to_create = []
        for record in records:
            member = self.get_member(record)
            email = emails.get(str(record))
            values = {
                'member': member.id,
                'channel': 'email',
                'kind': self.member_message_kind,
                'date': now,
                'recipient': member.member_email,
                }
            if record in refused:
                values.update(state='skipped', error=refused[record])
            elif email:
                values.update(
                    state='sent', email=email.id, text=email.subject,
                    recipient=email.recipients)
            else:
                values.update(
                    state='failed',
                    error=gettext('member_core.msg_message_no_email'))
            to_create.append(values)
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
        cls.method.selection.append(
            ('member.message|send_pending', "Send Pending Member Messages"))

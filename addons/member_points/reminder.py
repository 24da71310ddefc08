# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Reminders that points are about to expire.

A point type with ``reminder_days`` (empty: no reminder) sends its
``expiry_reminder_sms`` template (placeholders ``{name}``, ``{quantity}``,
``{type}``, ``{date}``) to the members whose points of the type expire
within that many days.

``Ledger.queue_expiry_reminders(date=None)`` → number of messages queued
    Daily cron. Set-based: finds the open lots with points left that
    expire from ``date`` (today) to ``date + reminder_days`` and were never
    reminded, of approved members, and queues one SMS ``member.message``
    of kind ``points_expiry`` per member, point type and expiry date with
    the sum expiring, its origin the point type and its reference
    ``points-expiry:<type id>:<expiry date>``. It is ``pending`` when the
    member consents to SMS and has a phone, else ``skipped`` with the
    reason, as every member message (``Message.refusal``); the cron
    ``send_pending`` of member_core delivers it. The lots record the date
    of the run (``expiry_reminded``) so that no run reminds them again; a
    lot earned later with an expiry date already reminded is not reminded
    either: one message per member, type and expiry date.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Null
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Equal, Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .account import In, numeric
from .exceptions import PointTypeValidationError

TEMPLATE_SAMPLE = {
    'name': "Li Wei",
    'quantity': "1,200",
    'type': "Points",
    'date': "12/31/2026",
    }


class PointType(metaclass=PoolMeta):
    __name__ = 'member.point.type'

    expiry_reminder_sms = fields.Char(
        "Expiry Reminder SMS", translate=True,
        states={
            'required': ~Equal(Eval('reminder_days', None), None),
            'invisible': Equal(Eval('reminder_days', None), None),
            },
        help="Placeholders: {name}, {quantity}, {type}, {date}.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.reminder_days.domain = ['OR',
            ('reminder_days', '=', None),
            ('reminder_days', '>=', 0),
            ]
        cls.reminder_days.help = (
            "Remind members this many days before their points expire.\n"
            "Leave empty for no reminder.")

    @classmethod
    def default_expiry_reminder_sms(cls):
        return "Dear {name}, {quantity} {type} expire on {date}."

    @classmethod
    def validate_fields(cls, types, field_names):
        super().validate_fields(types, field_names)
        if field_names and 'expiry_reminder_sms' not in field_names:
            return
        for type_ in types:
            try:
                (type_.expiry_reminder_sms or '').format_map(TEMPLATE_SAMPLE)
            except (KeyError, ValueError, IndexError) as exception:
                raise PointTypeValidationError(gettext(
                        'member_points.msg_expiry_reminder_template_invalid',
                        field=cls.__names__('expiry_reminder_sms')['field'],
                        type=type_.rec_name,
                        error=str(exception))) from exception

    def expiry_reminder_text(self, member, quantity, date):
        "Return the SMS telling member that quantity expires on date"
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        return (self.expiry_reminder_sms or '').format_map({
                'name': member.name or '',
                'quantity': lang.format_number(quantity, self.digits),
                'type': self.name,
                'date': lang.strftime(date),
                })


class Lot(metaclass=PoolMeta):
    __name__ = 'member.point.lot'

    expiry_reminded = fields.Date(
        "Expiry Reminded", readonly=True,
        help="When the member was reminded that the lot expires.")


class Message(metaclass=PoolMeta):
    __name__ = 'member.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection.append(('points_expiry', "Points Expiry"))

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + ['member.point.type']


class Ledger(metaclass=PoolMeta):
    __name__ = 'member.point.ledger'

    @classmethod
    def queue_expiry_reminders(cls, date=None):
        "Queue the SMS of points expiring soon; see reminder.py"
        pool = Pool()
        Date = pool.get('ir.date')
        PointType = pool.get('member.point.type')
        if date is None:
            date = Date.today()
        count = 0
        for type_ in PointType.search([('reminder_days', '!=', None)]):
            expiring = cls._expiring_lots(type_, date)
            for keys in grouped_slice(
                    sorted(expiring), backend.MAX_QUERY_PARAMS // 2):
                count += cls._queue_expiry_reminders(
                    type_, date, {k: expiring[k] for k in keys})
        return count

    @classmethod
    def _expiring_lots(cls, type_, date):
        """Return {(member id, expiry date): [quantity, lot ids]} of the
        lots of type_ to remind on date"""
        pool = Pool()
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        Party = pool.get('party.party')
        lot = Lot.__table__()
        account = Account.__table__()
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        until = date + dt.timedelta(days=type_.reminder_days)
        cursor.execute(*lot
            .join(account, condition=lot.account == account.id)
            .join(party, condition=account.member == party.id)
            .select(account.member, lot.expiry_date, lot.id, lot.remaining,
                where=(account.type == type_.id)
                & (lot.state == 'open')
                & (numeric(lot.remaining) > 0)
                & (lot.expiry_date >= date) & (lot.expiry_date <= until)
                & (lot.expiry_reminded == Null)
                & (party.member_state == 'member')))
        # Summed in Python: SQLite would add the decimals as floats
        result = defaultdict(lambda: [Decimal(0), []])
        for member_id, expiry_date, lot_id, remaining in cursor:
            group = result[member_id, expiry_date]
            group[0] += Decimal(str(remaining))
            group[1].append(lot_id)
        return result

    @classmethod
    def _queue_expiry_reminders(cls, type_, date, expiring):
        """Insert the messages of expiring (see _expiring_lots), mark its
        lots reminded and return the number of messages"""
        pool = Pool()
        Lot = pool.get('member.point.lot')
        Message = pool.get('member.message')
        Party = pool.get('party.party')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        message = Message.__table__()
        lot = Lot.__table__()
        now = dt.datetime.now()

        def reference(expiry_date):
            return f'points-expiry:{type_.id}:{expiry_date.isoformat()}'

        member_ids = sorted({m for m, _ in expiring})
        references = sorted({reference(d) for _, d in expiring})
        cursor.execute(*message.select(message.member, message.reference,
                where=In(message.member, member_ids)
                & In(message.reference, references)
                & (message.channel == 'sms')))
        sent = set(cursor)
        members = {m.id: m for m in Party.browse(member_ids)}
        rows = []
        for (member_id, expiry_date), (quantity, _) in sorted(
                expiring.items()):
            if (member_id, reference(expiry_date)) in sent:
                continue
            member = members[member_id]
            error = Message.refusal(member, 'sms')
            rows.append([
                    member.id, 'sms', 'points_expiry',
                    type_.expiry_reminder_text(member, quantity, expiry_date),
                    member.member_phone, 'skipped' if error else 'pending',
                    error, now, reference(expiry_date), str(type_),
                    transaction.user, CurrentTimestamp()])
        columns = [message.member, message.channel, message.kind,
            message.text, message.recipient, message.state, message.error,
            message.date, message.reference, message.origin,
            message.create_uid, message.create_date]
        for sub_rows in grouped_slice(
                rows, backend.MAX_QUERY_PARAMS // len(columns)):
            cursor.execute(*message.insert(columns, list(sub_rows)))
        lot_ids = [i for _, ids in expiring.values() for i in ids]
        for sub_ids in grouped_slice(lot_ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*lot.update(
                    [lot.expiry_reminded], [date],
                    where=In(lot.id, list(sub_ids))))
        # Records read before must show the new messages and reminders
        transaction.counter += 1
        return len(rows)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('member.point.ledger|queue_expiry_reminders',
                "Queue Points Expiry Reminders"))

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import calendar
import datetime as dt

from sql import Literal, Null
from sql.conditionals import Case
from sql.functions import Extract
from sql.operators import Concat, Exists

from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSingleton,
    ModelSQL,
    ModelView,
    Workflow,
    fields,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import MemberValidationError

KINDS = [
    ('call', "Call"),
    ('visit', "Visit"),
    ('birthday', "Birthday Greeting"),
    ('renewal', "Renewal Due"),
    ('other', "Other"),
    ]


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __name__ = 'member.activity.configuration'
    __string__ = "Member Activity Configuration"

    birthday_days = fields.Integer(
        "Birthday Reminder Days", required=True,
        help="How many days before a member's birthday the greeting task "
        "is created.")
    renewal_days = fields.Integer(
        "Renewal Reminder Days", required=True,
        help="How many days before an annual card or a paid tier expires "
        "the renewal task is created.")

    @classmethod
    def default_birthday_days(cls):
        return 7

    @classmethod
    def default_renewal_days(cls):
        return 30

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        for record in records:
            for name in ['birthday_days', 'renewal_days']:
                value = getattr(record, name)
                if value is not None and not (0 <= value <= 366):
                    raise MemberValidationError(gettext(
                            'member_core.msg_activity_days_range',
                            field=cls.__names__(name)['field'],
                            value=value))


class Activity(Workflow, ModelSQL, ModelView):
    __name__ = 'member.activity'
    __string__ = "Member Activity"

    _open = Eval('state') != 'open'

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='CASCADE',
        domain=[('programme', '!=', None)],
        states={'readonly': _open})
    salesperson = fields.Many2One(
        'res.user', "Salesperson", ondelete='SET NULL',
        states={'readonly': _open},
        help="The user who must do the task.")
    kind = fields.Selection(
        KINDS, "Kind", required=True, states={'readonly': _open})
    kind_string = kind.translated('kind')
    due_date = fields.Date(
        "Due Date", required=True, states={'readonly': _open})
    state = fields.Selection([
            ('open', "Open"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True)
    done_date = fields.Date("Done Date", readonly=True)
    notes = fields.Text("Notes")
    origin = fields.Reference(
        "Origin", selection='get_origins', readonly=True,
        help="What caused the task.")
    mine = fields.Function(
        fields.Boolean("Mine"), 'get_mine', searcher='search_mine')
    overdue = fields.Function(
        fields.Boolean("Overdue"), 'get_overdue', searcher='search_overdue')
    due_this_week = fields.Function(
        fields.Boolean("Due This Week"), 'get_due_this_week',
        searcher='search_due_this_week')

    del _open

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.member, Index.Equality())),
                Index(t, (t.salesperson, Index.Equality()),
                    (t.due_date, Index.Range()),
                    where=t.state == 'open'),
                Index(t, (t.origin, Index.Equality()),
                    where=t.origin != Null),
                })
        cls._order = [('due_date', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('open', 'done'),
            ('open', 'cancelled'),
            }
        cls._buttons.update({
                'done': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'open'

    @classmethod
    def default_kind(cls):
        return 'call'

    @classmethod
    def default_salesperson(cls):
        return Transaction().user

    @classmethod
    def default_due_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def _get_origins(cls):
        "Return the models that can cause an activity"
        return ['party.party', 'member.card', 'member.referral',
            'member.termination']

    @classmethod
    def get_origins(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origins()]

    @fields.depends('member', '_parent_member.salesperson')
    def on_change_member(self):
        if self.member and self.member.salesperson:
            self.salesperson = self.member.salesperson

    def get_rec_name(self, name):
        return f'{self.kind_string} {self.member.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('member.rec_name', *clause[1:])]

    @staticmethod
    def _positive(clause):
        _, operator, value = clause
        return (operator == '=') == bool(value)

    def get_mine(self, name):
        return bool(self.salesperson
            and self.salesperson.id == Transaction().user)

    @classmethod
    def search_mine(cls, name, clause):
        user = Transaction().user
        if cls._positive(clause):
            return [('salesperson', '=', user)]
        return ['OR',
            ('salesperson', '!=', user),
            ('salesperson', '=', None),
            ]

    def get_overdue(self, name):
        today = Pool().get('ir.date').today()
        return self.state == 'open' and self.due_date < today

    @classmethod
    def search_overdue(cls, name, clause):
        today = Pool().get('ir.date').today()
        if cls._positive(clause):
            return [('state', '=', 'open'), ('due_date', '<', today)]
        return ['OR', ('state', '!=', 'open'), ('due_date', '>=', today)]

    @classmethod
    def _this_week(cls):
        today = Pool().get('ir.date').today()
        monday = today - dt.timedelta(days=today.weekday())
        return monday, monday + dt.timedelta(days=6)

    def get_due_this_week(self, name):
        monday, sunday = self._this_week()
        return monday <= self.due_date <= sunday

    @classmethod
    def search_due_this_week(cls, name, clause):
        monday, sunday = cls._this_week()
        if cls._positive(clause):
            return [('due_date', '>=', monday), ('due_date', '<=', sunday)]
        return ['OR', ('due_date', '<', monday), ('due_date', '>', sunday)]

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def done(cls, activities):
        cls.write(activities, {
                'done_date': Pool().get('ir.date').today(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, activities):
        pass

    @classmethod
    def create_reminders(cls, date=None):
        """Create the birthday greeting and renewal due tasks of the days
        configured ahead of date (today).

        Set-based and idempotent: INSERT ... SELECT ... WHERE NOT EXISTS, so
        running it again creates no duplicates.
        """
        pool = Pool()
        Date = pool.get('ir.date')
        Configuration = pool.get('member.activity.configuration')
        if date is None:
            date = Date.today()
        config = Configuration(1)
        cls._create_birthday_reminders(date, config.birthday_days)
        cls._create_renewal_reminders(date, config.renewal_days)

    @classmethod
    def _insert(cls, from_, columns, where):
        "Insert the open activities selected by columns from from_"
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        activity = cls.__table__()
        user = transaction.user
        now = dt.datetime.now()
        cursor.execute(*activity.insert(
                [activity.member, activity.salesperson, activity.kind,
                    activity.due_date, activity.origin, activity.state,
                    activity.create_uid, activity.create_date],
                from_.select(
                    *columns, Literal('open'), Literal(user), Literal(now),
                    where=where)))

    @classmethod
    def _create_birthday_reminders(cls, date, days):
        pool = Pool()
        Party = pool.get('party.party')
        party = Party.__table__()
        existing = cls.__table__()
        month = Extract('MONTH', party.birthday)
        day = Extract('DAY', party.birthday)
        whens = []
        for offset in range(days + 1):
            when = date + dt.timedelta(days=offset)
            match = (month == when.month) & (day == when.day)
            if (when.month, when.day) == (2, 28) and not calendar.isleap(
                    when.year):
                # Members born on 29 February are greeted on the 28th
                match |= (month == 2) & (day == 29)
            whens.append((match, when))
        due_date = Case(*whens)
        match_any = whens[0][0]
        for match, _ in whens[1:]:
            match_any |= match
        where = ((party.member_state == 'member')
            & (party.birthday != Null)
            & match_any
            & ~Exists(existing.select(
                    existing.id,
                    where=(existing.member == party.id)
                    & (existing.kind == 'birthday')
                    & (existing.due_date == due_date))))
        cls._insert(party, [
                party.id, party.salesperson, Literal('birthday'), due_date,
                Concat('party.party,', party.id)], where)

    @classmethod
    def _create_renewal_reminders(cls, date, days):
        pool = Pool()
        Party = pool.get('party.party')
        Card = pool.get('member.card')
        Product = pool.get('member.card.product')
        end = date + dt.timedelta(days=days)
        party = Party.__table__()
        card = Card.__table__()
        product = Product.__table__()
        existing = cls.__table__()

        origin = Concat('member.card,', card.id)
        from_ = card.join(product, condition=card.product == product.id
            ).join(party, condition=card.member == party.id)
        where = ((card.state == 'active')
            & (product.kind == 'annual')
            & (card.expiry_date >= date) & (card.expiry_date <= end)
            & (party.member_state == 'member')
            & ~Exists(existing.select(
                    existing.id,
                    where=(existing.origin == origin)
                    & (existing.kind == 'renewal')
                    & (existing.due_date == card.expiry_date))))
        cls._insert(from_, [
                party.id, party.salesperson, Literal('renewal'),
                card.expiry_date, origin], where)

        paid_until = Party._fields.get('tier_paid_until')
        if paid_until is None or isinstance(paid_until, fields.Function):
            return
        party = Party.__table__()
        origin = Concat('party.party,', party.id)
        tier_end = party.tier_paid_until
        where = ((party.member_state == 'member')
            & (tier_end >= date) & (tier_end <= end)
            & ~Exists(existing.select(
                    existing.id,
                    where=(existing.origin == origin)
                    & (existing.kind == 'renewal')
                    & (existing.due_date == tier_end))))
        cls._insert(party, [
                party.id, party.salesperson, Literal('renewal'), tier_end,
                origin], where)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    activities = fields.One2Many(
        'member.activity', 'member', "Activities",
        order=[('due_date', 'DESC'), ('id', 'DESC')])

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('activities', None)
        return super().copy(parties, default=default)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('member.activity|create_reminders', "Create Member Reminders"))

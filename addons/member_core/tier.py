# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Member tiers: configuration, qualification metrics, review, purchases.

Tiers of a programme are ordered by ``level``; the lowest is the default
tier of new members. A member qualifies for a tier when its metric totals
over the programme's rolling window (``tier_window_days``, the window is
``(date - days, date]``) reach the tier's thresholds: any of them or all of
them (``qualification``). A tier without any threshold is reached only by
being the lowest tier, an override or a purchase.

Metrics API (core defines how metrics are fed, not who feeds them):

``Metric.record(member, kind, quantity, date=None, source=None, key=None)``
    Append one ``member.tier.metric`` line (``kind`` among
    ``Metric.kind`` selection: spend, stays, points, extended by higher
    modules; ``quantity`` a Decimal, negative for a correction; ``date``
    defaults to today; ``source`` a ``'model,id'`` reference; ``key`` an
    idempotency key). Idempotent on ``key``: the same key returns the
    existing line without counting twice, the same key with another member,
    kind or quantity raises ``MemberError``. Then upgrades the member at
    once (possibly by several tiers) when its window totals qualify for a
    higher tier. Raises ``MemberValidationError`` for a member without
    programme or a zero quantity. Returns the line.
``Metric.record_many(values)``
    The same for a list of dicts with the keys of ``record``; one insert
    and one set-based upgrade. Returns the lines in the order given.
``Tier.get_metrics(members, date=None)``
    ``{member id: {kind: Decimal total}}`` over the window ending at
    ``date`` (today), one aggregate query per programme.

Benefits API:

``Tier.get_benefits(member, date=None)``
    ``{'tier': tier or None, 'discount': Decimal rate (0.10 = 10%),
    'points_multiplier': Decimal, 'benefits': text}`` for the member at
    ``date``. Only approved members (state ``member``) have benefits. The
    member's tier already includes overrides and purchases; an override
    ended at ``date`` but not yet reviewed gives the tier the review will
    restore.

Review (cron ``member.tier|review``):

``Tier.review(date=None)``
    Set-based over every member (state member or suspended) of every
    programme, in chunks of member ids: upgrades at once, downgrades one
    tier per review once ``date >= tier_below_since + grace_days``; an
    active override holds the tier, an ended override restores the
    qualified tier; an active paid purchase is a floor, an expired one
    drops to the qualified tier; paid purchases past their end become
    expired. History rows are inserted with INSERT ... SELECT. ``date``
    (today) may be given to back-fill or test.

Hooks for higher modules:

``Tier._metric_queries(start, end, member_where)``
    Returns the list of python-sql queries whose rows (columns ``member``,
    ``kind``, ``quantity``) count for qualification, dated in
    ``(start, end]`` and restricted by ``member_where(member column)``;
    they are combined with UNION ALL. Extend it to add a source read from
    another table instead of feeding ``Metric.record``.
``Tier._threshold_kinds()``
    ``[(threshold field name, metric kind), ...]``; extend it with a new
    numeric threshold field on ``member.tier`` for a new metric kind.
``Tier._history_inserted(last_id)``
    Called after each chunk of the review inserted history rows (ids above
    ``last_id``) with SQL; by default runs their ir.trigger create
    triggers. History rows created by purchases and overrides go through
    the ORM.
"""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sql import Cast, Literal, Null, Table, Union
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index,
    ModelSQL,
    ModelView,
    Unique,
    Workflow,
    fields,
)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import MemberAccessError, MemberError, MemberValidationError

METRIC_KINDS = [
    ('spend', "Spend"),
    ('stays', "Stays"),
    ('points', "Points"),
    ]
QUALIFICATIONS = [
    ('any', "Any Threshold"),
    ('all', "All Thresholds"),
    ]
HISTORY_REASONS = [
    ('initial', "Initial"),
    ('upgrade', "Upgrade"),
    ('downgrade', "Review Downgrade"),
    ('override', "Override"),
    ('override_end', "Override End"),
    ('purchase', "Purchase"),
    ('purchase_expiry', "Purchase Expiry"),
    ]
PURCHASE_KINDS = [
    ('tier', "Tier"),
    ('annual_fee', "Annual Fee"),
    ]
PURCHASE_STATES = [
    ('draft', "Draft"),
    ('paid', "Paid"),
    ('expired', "Expired"),
    ('cancelled', "Cancelled"),
    ]
# Member states whose tier the review maintains
REVIEWED_STATES = ['member', 'suspended']
PLAN_TABLE = 'member_tier_plan'
# Override status computed by the review query
_OVERRIDE_NONE, _OVERRIDE_ACTIVE, _OVERRIDE_ENDED = 0, 1, 2


def _refresh_cache(*names):
    "Forget cached records of the models changed by raw SQL"
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        for name in names:
            if name in cache:
                cache[name].clear()


def _decimal(value):
    "Total as a Decimal with the digits of metric quantities"
    if value is None:
        value = 0
    elif not isinstance(value, Decimal):
        # SQLite returns the sums of numeric columns as floats
        value = str(value)
    return Decimal(value).quantize(Decimal('0.01'))


class Programme(metaclass=PoolMeta):
    __name__ = 'member.programme'

    tier_window_days = fields.Integer(
        "Tier Window", required=True,
        help="Days of metrics counted to qualify for a tier.")
    tiers = fields.One2Many('member.tier', 'programme', "Tiers")

    @classmethod
    def default_tier_window_days(cls):
        return 365

    @classmethod
    def validate_fields(cls, programmes, field_names):
        super().validate_fields(programmes, field_names)
        if field_names and 'tier_window_days' not in field_names:
            return
        for programme in programmes:
            if (programme.tier_window_days or 0) < 1:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_window_days_invalid',
                        programme=programme.rec_name))


class Tier(ModelSQL, ModelView):
    __name__ = 'member.tier'
    __string__ = "Member Tier"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    level = fields.Integer(
        "Level", required=True,
        help="Higher is better; the lowest tier is given to new members.")
    qualification = fields.Selection(
        QUALIFICATIONS, "Qualification", required=True,
        help="Whether reaching one threshold or all of them qualifies.")
    min_spend = fields.Numeric(
        "Minimum Spend", digits=(16, 2),
        help="Leave empty to ignore spend.")
    min_stays = fields.Integer(
        "Minimum Stays", help="Stays or visits; leave empty to ignore.")
    min_points = fields.Numeric(
        "Minimum Points", digits=(16, 2),
        help="Qualifying points; leave empty to ignore.")
    grace_days = fields.Integer(
        "Grace Days", required=True,
        help="Days a member keeps the tier after falling below its "
        "thresholds.")
    discount_rate = fields.Numeric(
        "Discount", digits=(16, 4), required=True)
    points_multiplier = fields.Numeric(
        "Points Multiplier", digits=(16, 2), required=True)
    benefits = fields.Text("Benefits", translate=True)
    purchasable = fields.Boolean("Purchasable")
    fee_product = fields.Many2One(
        'product.product', "Fee Product", ondelete='RESTRICT',
        states={
            'invisible': ~Eval('purchasable'),
            'required': Bool(Eval('purchasable')),
            })
    fee_amount = fields.Numeric(
        "Fee Amount", digits=(16, 2),
        states={
            'invisible': ~Eval('purchasable'),
            'required': Bool(Eval('purchasable')),
            })
    validity_months = fields.Integer(
        "Validity Months",
        states={
            'invisible': ~Eval('purchasable'),
            'required': Bool(Eval('purchasable')),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('programme_level_unique', Unique(t, t.programme, t.level),
                'member_core.msg_tier_level_unique'),
            ]
        cls._order = [
            ('programme', 'ASC'), ('level', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_qualification(cls):
        return 'any'

    @classmethod
    def default_grace_days(cls):
        return 0

    @classmethod
    def default_discount_rate(cls):
        return Decimal(0)

    @classmethod
    def default_points_multiplier(cls):
        return Decimal(1)

    @classmethod
    def default_purchasable(cls):
        return False

    @classmethod
    def validate_fields(cls, tiers, field_names):
        super().validate_fields(tiers, field_names)
        for tier in tiers:
            tier.check_values()

    def check_values(self):
        thresholds = [
            getattr(self, f) for f, _ in self._threshold_kinds()]
        if any(v is not None and v < 0 for v in thresholds) or (
                self.grace_days or 0) < 0:
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_threshold_negative',
                    tier=self.rec_name))
        if not (0 <= self.discount_rate <= 1):
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_discount_invalid',
                    tier=self.rec_name))
        if self.points_multiplier < 0:
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_multiplier_invalid',
                    tier=self.rec_name))
        if self.purchasable and (
                not self.fee_product or self.fee_amount is None
                or self.fee_amount < 0 or (self.validity_months or 0) < 1):
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_fee_required',
                    tier=self.rec_name))

    @classmethod
    def _threshold_kinds(cls):
        "Pairs of threshold field and the metric kind it is compared to"
        return [
            ('min_spend', 'spend'),
            ('min_stays', 'stays'),
            ('min_points', 'points'),
            ]

    def _thresholds(self):
        return [(kind, getattr(self, name))
            for name, kind in self._threshold_kinds()
            if getattr(self, name) is not None]

    def qualifies(self, totals):
        "Whether the totals {kind: Decimal} reach the thresholds"
        checks = [totals.get(k, 0) >= v for k, v in self._thresholds()]
        if not checks:
            return False
        return all(checks) if self.qualification == 'all' else any(checks)

    def _sql_condition(self, totals):
        "SQL condition of the thresholds over the totals sub-query"
        conditions = [
            Coalesce(getattr(totals, kind), 0) >= Cast(
                Literal(Decimal(value)), 'NUMERIC')
            for kind, value in self._thresholds()]
        if not conditions:
            return None
        condition = conditions[0]
        for other in conditions[1:]:
            if self.qualification == 'all':
                condition &= other
            else:
                condition |= other
        return condition

    @classmethod
    def _metric_kinds(cls):
        Metric = Pool().get('member.tier.metric')
        return [k for k, _ in Metric.fields_get(['kind'])['kind'][
                'selection'] if k]

    @classmethod
    def _metric_queries(cls, start, end, member_where):
        """Return the queries of metric rows (member, kind, quantity)
        dated in (start, end] for the members satisfying member_where"""
        Metric = Pool().get('member.tier.metric')
        metric = Metric.__table__()
        return [metric.select(
                metric.member.as_('member'),
                metric.kind.as_('kind'),
                metric.quantity.as_('quantity'),
                where=(metric.date > start) & (metric.date <= end)
                & member_where(metric.member))]

    @classmethod
    def _metric_totals(cls, start, end, member_where):
        "Query of one row per member with a total column per kind"
        queries = cls._metric_queries(start, end, member_where)
        source = queries[0]
        if len(queries) > 1:
            source = Union(*queries, all_=True)
        columns = [
            Sum(Case((source.kind == kind, source.quantity), else_=0)
                ).as_(kind)
            for kind in cls._metric_kinds()]
        return source.select(
            source.member.as_('member'), *columns,
            group_by=[source.member])

    @classmethod
    def get_metrics(cls, members, date=None):
        "Return {member id: {kind: total}} over the programmes' windows"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        if date is None:
            date = Date.today()
        cursor = Transaction().connection.cursor()
        kinds = cls._metric_kinds()
        members = Party.browse([int(m) for m in members])
        result = {m.id: dict.fromkeys(kinds, _decimal(0)) for m in members}
        by_programme = defaultdict(list)
        for member in members:
            if member.programme:
                by_programme[member.programme].append(member.id)
        for programme, ids in by_programme.items():
            start = date - dt.timedelta(days=programme.tier_window_days)
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                sub_ids = list(sub_ids)
                totals = cls._metric_totals(
                    start, date, lambda c: c.in_(sub_ids))
                cursor.execute(*totals.select(
                        totals.member, *[getattr(totals, k) for k in kinds]))
                for member_id, *values in cursor:
                    result[member_id] = {
                        k: _decimal(v) for k, v in zip(kinds, values)}
        return result

    @classmethod
    def get_benefits(cls, member, date=None):
        "Return the tier and benefits of the member at the date"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        Purchase = pool.get('member.tier.purchase')
        if date is None:
            date = Date.today()
        member = Party(int(member))
        tier = member.tier if member.member_state == 'member' else None
        if (tier and member.tier_override and member.tier_override_end
                and member.tier_override_end <= date):
            totals = cls.get_metrics([member], date)[member.id]
            tiers = cls.search([('programme', '=', member.programme.id)])
            candidates = [t for t in tiers if t.qualifies(totals)]
            candidates.append(tiers[0])
            candidates.extend(p.tier for p in Purchase.search([
                        ('member', '=', member.id),
                        ('kind', '=', 'tier'),
                        ('state', '=', 'paid'),
                        ('start_date', '<=', date),
                        ('end_date', '>=', date),
                        ]))
            tier = max(candidates, key=lambda t: t.level)
        if tier is None:
            return {
                'tier': None,
                'discount': Decimal(0),
                'points_multiplier': Decimal(1),
                'benefits': '',
                }
        return {
            'tier': tier,
            'discount': tier.discount_rate,
            'points_multiplier': tier.points_multiplier,
            'benefits': tier.benefits or '',
            }

    @classmethod
    def review(cls, date=None):
        "Review the tiers of all members at date (cron)"
        pool = Pool()
        Date = pool.get('ir.date')
        Programme = pool.get('member.programme')
        if date is None:
            date = Date.today()
        programmes = Programme.search([('tiers', '!=', None)])
        with without_check_access():
            for programme in programmes:
                cls._update_programme(programme, date, 'review')
            cls._expire_purchases(date)

    @classmethod
    def update_members(cls, members, date=None):
        """Give members without tier their tier and upgrade the others
        that qualify for a higher one, at once"""
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        if date is None:
            date = Date.today()
        by_programme = defaultdict(list)
        for member in Party.browse([int(m) for m in members]):
            if member.programme and member.member_state in REVIEWED_STATES:
                by_programme[member.programme].append(member.id)
        with without_check_access():
            for programme, ids in by_programme.items():
                cls._update_programme(programme, date, 'upgrade', ids)

    _review_chunk = 50000

    @classmethod
    def _plan_table(cls):
        "Return the temporary table of planned changes, created empty"
        cursor = Transaction().connection.cursor()
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{PLAN_TABLE}" ('
            'member INTEGER PRIMARY KEY, old_tier INTEGER, '
            'new_tier INTEGER, reason VARCHAR, below_since DATE, '
            'clear_override INTEGER)')
        plan = Table(PLAN_TABLE)
        cursor.execute(*plan.delete())
        return plan

    @classmethod
    def _update_programme(cls, programme, date, mode, ids=None):
        pool = Pool()
        Party = pool.get('party.party')
        tiers = cls.search([('programme', '=', programme.id)])
        if not tiers:
            return
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        plan = cls._plan_table()
        where = ((party.programme == programme.id)
            & party.member_state.in_(REVIEWED_STATES))
        if ids is not None:
            ranges = [(list(s), None) for s in grouped_slice(
                    ids, backend.MAX_QUERY_PARAMS // 8)]
        else:
            cursor.execute(*party.select(
                    Min(party.id), Max(party.id), where=where))
            low, high = cursor.fetchone()
            if low is None:
                return
            ranges = [
                (None, (lo, lo + cls._review_chunk))
                for lo in range(low, high + 1, cls._review_chunk)]
        changed = False
        for sub_ids, bounds in ranges:
            if sub_ids is not None:
                def member_where(column, sub_ids=sub_ids):
                    return column.in_(sub_ids)
            else:
                def member_where(column, bounds=bounds):
                    return (column >= bounds[0]) & (column < bounds[1])
            query = cls._plan_query(
                programme, tiers, date, mode, member_where)
            cursor.execute(*plan.insert(
                    [plan.member, plan.old_tier, plan.new_tier, plan.reason,
                        plan.below_since, plan.clear_override],
                    query))
            if cursor.rowcount == 0:
                continue
            cls._apply_plan(plan, date)
            cursor.execute(*plan.delete())
            changed = True
        if changed:
            _refresh_cache('party.party')

    @classmethod
    def _plan_query(cls, programme, tiers, date, mode, member_where):
        """Return the query of the changes of the members: member, old
        tier, new tier, history reason, below since, clear override"""
        pool = Pool()
        Party = pool.get('party.party')
        Purchase = pool.get('member.tier.purchase')
        party = Party.__table__()
        purchase = Purchase.__table__()
        tiers = sorted(tiers, key=lambda t: t.level)
        lowest = tiers[0]

        def level_of(column):
            return Case(*((column == t.id, t.level) for t in tiers))

        def tier_at(column):
            return Case(*((column == t.level, t.id) for t in tiers))

        start = date - dt.timedelta(days=programme.tier_window_days)
        totals = cls._metric_totals(start, date, member_where)
        qualified = []
        for tier in reversed(tiers[1:]):
            condition = tier._sql_condition(totals)
            if condition is not None:
                qualified.append((condition, tier.level))
        qualified = (Case(*qualified, else_=lowest.level)
            if qualified else Literal(lowest.level))

        paid_where = ((purchase.state == 'paid')
            & (purchase.kind == 'tier')
            & member_where(purchase.member))
        paid = purchase.select(
            purchase.member.as_('member'),
            Max(level_of(purchase.tier)).as_('level'),
            where=paid_where & (purchase.start_date <= date)
            & (purchase.end_date >= date),
            group_by=[purchase.member])
        expired = purchase.select(
            purchase.member.as_('member'),
            Max(level_of(purchase.tier)).as_('level'),
            where=paid_where & (purchase.end_date < date),
            group_by=[purchase.member])

        override = Case(
            ((party.tier_override == Literal(True))
                & ((party.tier_override_end == Null)
                    | (party.tier_override_end > date)),
                _OVERRIDE_ACTIVE),
            (party.tier_override == Literal(True), _OVERRIDE_ENDED),
            else_=_OVERRIDE_NONE)
        base = (party
            .join(totals, 'LEFT', condition=totals.member == party.id)
            .join(paid, 'LEFT', condition=paid.member == party.id)
            .join(expired, 'LEFT', condition=expired.member == party.id)
            .select(
                party.id.as_('member'),
                party.tier.as_('cur'),
                level_of(party.tier).as_('cur_l'),
                qualified.as_('q_l'),
                paid.level.as_('f_l'),
                expired.level.as_('e_l'),
                party.tier_below_since.as_('below'),
                override.as_('ov'),
                where=(party.programme == programme.id)
                & party.member_state.in_(REVIEWED_STATES)
                & member_where(party.id)))
        # The target is the qualified tier raised to the paid one
        target = base.select(
            base.member, base.cur, base.cur_l, base.e_l, base.below,
            base.ov,
            Case((base.f_l > base.q_l, base.f_l), else_=base.q_l
                ).as_('t_l'))
        t = target
        lower = (Case(*((t.cur == b.id, a.level)
                    for a, b in zip(tiers, tiers[1:])))
            if len(tiers) > 1 else Literal(lowest.level))
        graced = Case(*(
                (t.cur == tier.id,
                    date - dt.timedelta(days=tier.grace_days))
                for tier in tiers))
        below = Coalesce(t.below, date)
        if mode == 'upgrade':
            branches = [
                (t.cur == Null, t.t_l, 'initial', Null),
                (t.ov == _OVERRIDE_ACTIVE, t.cur_l, Null, t.below),
                (t.t_l > t.cur_l, t.t_l, 'upgrade', Null),
                ]
            default = (t.cur_l, Null, t.below)
        else:
            expiry = ((t.e_l != Null) & (t.cur_l <= t.e_l)
                & (t.t_l < t.cur_l))
            branches = [
                (t.cur == Null, t.t_l, 'initial', Null),
                (t.ov == _OVERRIDE_ACTIVE, t.cur_l, Null, t.below),
                (t.ov == _OVERRIDE_ENDED, t.t_l, 'override_end', Null),
                (t.t_l > t.cur_l, t.t_l, 'upgrade', Null),
                (t.t_l == t.cur_l, t.cur_l, Null, Null),
                (expiry, t.t_l, 'purchase_expiry', Null),
                (below <= graced, lower, 'downgrade',
                    Case((lower > t.t_l, below), else_=Null)),
                ]
            # Below the thresholds within the grace period
            default = (t.cur_l, Null, below)
        decision = t.select(
            t.member, t.cur, t.cur_l, t.below,
            Case(*((b[0], b[1]) for b in branches), else_=default[0]
                ).as_('new_l'),
            Case(*((b[0], b[2]) for b in branches), else_=default[1]
                ).as_('reason'),
            Case(*((b[0], b[3]) for b in branches), else_=default[2]
                ).as_('new_below'),
            Case((t.ov == _OVERRIDE_ENDED, 1), else_=0
                ).as_('clear_override')
            if mode == 'review' else Literal(0).as_('clear_override'))
        d = decision
        never = dt.date.min
        return d.select(
            d.member, d.cur, tier_at(d.new_l), d.reason, d.new_below,
            d.clear_override,
            where=(d.cur == Null) | (d.new_l != d.cur_l)
            | (d.clear_override == 1)
            | (Coalesce(d.new_below, never) != Coalesce(d.below, never)))

    @classmethod
    def _apply_plan(cls, plan, date):
        "Write the planned changes and their history, set-based"
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('member.tier.history')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        party = Party.__table__()
        history = History.__table__()
        user = transaction.user
        if backend.name == 'postgresql':
            cursor.execute(f'ANALYZE "{PLAN_TABLE}"')
        changed = (plan.old_tier == Null) | (plan.old_tier != plan.new_tier)
        cursor.execute(*history.select(Max(history.id)))
        last_id, = cursor.fetchone()
        cursor.execute(*history.insert(
                [history.member, history.from_tier, history.to_tier,
                    history.reason, history.date, history.user,
                    history.create_uid, history.create_date],
                plan.select(
                    plan.member, plan.old_tier, plan.new_tier, plan.reason,
                    Literal(date), Literal(user), Literal(user),
                    CurrentTimestamp(),
                    where=changed)))
        cls._history_inserted(last_id or 0)
        cleared = plan.clear_override == 1
        cursor.execute(*party.update(
                [party.tier, party.tier_since, party.tier_below_since,
                    party.tier_override, party.tier_override_reason,
                    party.tier_override_end,
                    party.write_uid, party.write_date],
                [plan.new_tier,
                    Case((changed, date), else_=party.tier_since),
                    plan.below_since,
                    Case((cleared, Literal(False)),
                        else_=party.tier_override),
                    Case((cleared, Null), else_=party.tier_override_reason),
                    Case((cleared, Null), else_=party.tier_override_end),
                    Literal(user), CurrentTimestamp()],
                from_=[plan],
                where=party.id == plan.member))
        return True

    @classmethod
    def _history_inserted(cls, last_id):
        """Called after the review inserted the history rows with an id
        greater than last_id; runs their create triggers in chunks.

        ir.trigger evaluates its condition row by row: a module reacting to
        tier changes at scale should extend this method with set-based SQL
        over those rows instead of an ir.trigger.
        """
        pool = Pool()
        History = pool.get('member.tier.history')
        Trigger = pool.get('ir.trigger')
        triggers = Trigger.get_triggers(History.__name__, 'create')
        if not triggers:
            return
        history = History.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*history.select(
                history.id, where=history.id > last_id,
                order_by=[history.id]))
        ids = [i for i, in cursor]
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            records = History.browse(sub_ids)
            for trigger in triggers:
                trigger.queue_trigger_action(records)

    @classmethod
    def _expire_purchases(cls, date):
        "Expire paid purchases ended before date and their paid-until"
        pool = Pool()
        Party = pool.get('party.party')
        Purchase = pool.get('member.tier.purchase')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        purchase = Purchase.__table__()
        cursor.execute(*purchase.update(
                [purchase.state, purchase.write_date],
                ['expired', CurrentTimestamp()],
                where=(purchase.state == 'paid')
                & (purchase.end_date < date)))
        remaining = purchase.select(
            Max(purchase.end_date),
            where=(purchase.member == party.id)
            & (purchase.state == 'paid') & (purchase.kind == 'tier'))
        cursor.execute(*party.update(
                [party.tier_paid_until], [remaining],
                where=party.tier_paid_until < date))
        _refresh_cache('party.party', 'member.tier.purchase')


class Metric(ModelSQL, ModelView):
    __name__ = 'member.tier.metric'
    __string__ = "Member Tier Metric"

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '!=', None)])
    kind = fields.Selection(METRIC_KINDS, "Kind", required=True)
    quantity = fields.Numeric("Quantity", digits=(16, 2), required=True)
    date = fields.Date("Date", required=True)
    source = fields.Reference("Source", selection='get_sources')
    key = fields.Char(
        "Key", readonly=True,
        help="Idempotency key: recording it again has no effect.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_unique', Unique(t, t.key),
                'member_core.msg_tier_metric_key_unique'),
            ]
        cls._sql_indexes.add(
            Index(t,
                (t.member, Index.Range()),
                (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def get_sources(cls):
        IrModel = Pool().get('ir.model')
        return [(None, '')] + IrModel.get_name_items()

    def get_rec_name(self, name):
        return f'{self.member.rec_name} {self.kind} {self.quantity}'

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise MemberAccessError(gettext(
                    'member_core.msg_tier_metric_immutable',
                    line=records[0].rec_name))

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        for line in lines:
            if line.quantity == 0:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_metric_quantity_zero',
                        member=line.member.rec_name))

    @classmethod
    def record(cls, member, kind, quantity, date=None, source=None,
            key=None):
        "Record a metric line and upgrade the member at once"
        line, = cls.record_many([{
                    'member': member,
                    'kind': kind,
                    'quantity': quantity,
                    'date': date,
                    'source': source,
                    'key': key,
                    }])
        return line

    @classmethod
    def record_many(cls, values):
        "Record metric lines (list of dicts) and upgrade their members"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        Tier = pool.get('member.tier')
        today = Date.today()
        rows = []
        for value in values:
            member = Party(int(value['member']))
            if not member.programme:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_metric_member_no_programme',
                        member=member.rec_name))
            source = value.get('source')
            if source is not None and not isinstance(source, str):
                source = str(source)
            rows.append({
                    'member': member.id,
                    'kind': value['kind'],
                    'quantity': Decimal(value['quantity']),
                    'date': value.get('date') or today,
                    'source': source,
                    'key': value.get('key'),
                    })
        keys = [r['key'] for r in rows if r['key']]
        lines = {}
        for sub_keys in grouped_slice(keys, backend.MAX_QUERY_PARAMS):
            for line in cls.search([('key', 'in', list(sub_keys))]):
                lines[line.key] = line
        known = {k: (v.member.id, v.kind, v.quantity)
            for k, v in lines.items()}
        to_create = []
        for row in rows:
            key = row['key']
            values = (row['member'], row['kind'], row['quantity'])
            if key and key in known:
                if known[key] != values:
                    raise MemberError(gettext(
                            'member_core.msg_tier_metric_key_conflict',
                            key=key,
                            member=Party(row['member']).rec_name))
                continue
            if key:
                known[key] = values
            to_create.append(row)
        with without_check_access():
            created = cls.create(to_create)
        new = iter(created)
        result = []
        for row in rows:
            key = row['key']
            if key and key in lines:
                result.append(lines[key])
                continue
            line = next(new)
            if key:
                lines[key] = line
            result.append(line)
        if created:
            Tier.update_members(
                list({line.member.id for line in created}), date=today)
        return result


class History(ModelSQL, ModelView):
    __name__ = 'member.tier.history'
    __string__ = "Member Tier History"

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='CASCADE')
    from_tier = fields.Many2One(
        'member.tier', "From Tier", ondelete='RESTRICT')
    to_tier = fields.Many2One(
        'member.tier', "To Tier", ondelete='RESTRICT')
    reason = fields.Selection(HISTORY_REASONS, "Reason", required=True)
    date = fields.Date("Date", required=True)
    user = fields.Many2One('res.user', "User", ondelete='SET NULL')
    note = fields.Text("Note")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.member, Index.Range()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise MemberAccessError(gettext(
                    'member_core.msg_tier_history_immutable'))

    @classmethod
    def add(cls, member, from_tier, to_tier, reason, date, note=None):
        with without_check_access():
            return cls.create([{
                        'member': member.id,
                        'from_tier': from_tier.id if from_tier else None,
                        'to_tier': to_tier.id if to_tier else None,
                        'reason': reason,
                        'date': date,
                        'user': Transaction().user,
                        'note': note,
                        }])[0]


class Purchase(Workflow, ModelSQL, ModelView):
    __name__ = 'member.tier.purchase'
    __string__ = "Tier Purchase"

    _draft = {'readonly': Eval('state') != 'draft'}

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '!=', None)], states=_draft)
    programme = fields.Function(
        fields.Many2One('member.programme', "Programme"),
        'on_change_with_programme')
    kind = fields.Selection(
        PURCHASE_KINDS, "Kind", required=True, states=_draft)
    tier = fields.Many2One(
        'member.tier', "Tier", ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ('purchasable', '=', True),
            ],
        states={
            'readonly': _draft['readonly'],
            'required': Eval('kind') == 'tier',
            'invisible': Eval('kind') != 'tier',
            })
    product = fields.Many2One(
        'product.product', "Product", ondelete='RESTRICT', states=_draft)
    fee_amount = fields.Numeric(
        "Fee Amount", digits=(16, 2), required=True, states=_draft)
    validity_months = fields.Integer(
        "Validity Months", required=True, states=_draft)
    start_date = fields.Date(
        "Start Date", states=_draft,
        help="Leave empty to start when paid, or after the current "
        "period for a renewal.")
    end_date = fields.Date("End Date", readonly=True)
    paid_date = fields.Date("Paid Date", readonly=True)
    state = fields.Selection(PURCHASE_STATES, "State", readonly=True)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t,
                (t.member, Index.Range()),
                (t.end_date, Index.Range()),
                where=t.state == 'paid'))
        cls._order = [('start_date', 'DESC NULLS FIRST'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'paid'),
            ('draft', 'cancelled'),
            ('paid', 'expired'),
            }
        cls._buttons.update({
                'pay': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_kind(cls):
        return 'tier'

    @classmethod
    def default_validity_months(cls):
        return 12

    @fields.depends('member')
    def on_change_with_programme(self, name=None):
        return self.member.programme if self.member else None

    @fields.depends('tier')
    def on_change_tier(self):
        if self.tier:
            self.product = self.tier.fee_product
            self.fee_amount = self.tier.fee_amount
            self.validity_months = self.tier.validity_months

    def get_rec_name(self, name):
        what = self.tier.rec_name if self.tier else dict(
            PURCHASE_KINDS)[self.kind]
        return f'{self.member.rec_name} - {what} #{self.id}'

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Tier = pool.get('member.tier')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and values.get('tier'):
            tier = Tier(values['tier'])
            if values.get('fee_amount') is None:
                values['fee_amount'] = tier.fee_amount
            if not values.get('product') and tier.fee_product:
                values['product'] = tier.fee_product.id
            if not values.get('validity_months') and tier.validity_months:
                values['validity_months'] = tier.validity_months
        return values

    @classmethod
    def validate_fields(cls, purchases, field_names):
        super().validate_fields(purchases, field_names)
        for purchase in purchases:
            if purchase.fee_amount < 0 or purchase.validity_months < 1:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_purchase_values',
                        purchase=purchase.rec_name))
            if purchase.kind != 'tier' or not purchase.tier:
                continue
            if purchase.tier.programme != purchase.member.programme:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_purchase_programme',
                        tier=purchase.tier.rec_name,
                        purchase=purchase.rec_name,
                        member=purchase.member.rec_name))
            if not purchase.tier.purchasable:
                raise MemberValidationError(gettext(
                        'member_core.msg_tier_purchase_not_purchasable',
                        tier=purchase.tier.rec_name))

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for purchase in records:
                if purchase.state not in {'draft', 'cancelled'}:
                    raise MemberAccessError(gettext(
                            'member_core.msg_tier_purchase_delete',
                            purchase=purchase.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, purchases):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('paid')
    def pay(cls, purchases):
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        History = pool.get('member.tier.history')
        today = Date.today()
        for purchase in purchases:
            if purchase.member.member_state != 'member':
                raise MemberError(gettext(
                        'member_core.msg_tier_purchase_member_state',
                        member=purchase.member.rec_name,
                        purchase=purchase.rec_name))
        members = set()
        for purchase in purchases:
            start = purchase.start_date
            if start is None:
                # A renewal starts when the current period ends
                current = cls.search([
                        ('member', '=', purchase.member.id),
                        ('kind', '=', purchase.kind),
                        ('tier', '=', purchase.tier),
                        ('state', '=', 'paid'),
                        ('end_date', '>=', today),
                        ], order=[('end_date', 'DESC')], limit=1)
                start = (current[0].end_date + dt.timedelta(days=1)
                    if current else today)
            purchase.start_date = start
            purchase.end_date = (start
                + relativedelta(months=purchase.validity_months)
                - dt.timedelta(days=1))
            purchase.paid_date = today
            purchase.state = 'paid'
            purchase.save()
            members.add(purchase.member)
        with without_check_access():
            for member in members:
                paid = cls.search([
                        ('member', '=', member.id),
                        ('kind', '=', 'tier'),
                        ('state', '=', 'paid'),
                        ('end_date', '>=', today),
                        ])
                active = [p.tier for p in paid if p.start_date <= today]
                values = {
                    'tier_paid_until': max(
                        (p.end_date for p in paid), default=None),
                    }
                best = max(active, key=lambda t: t.level, default=None)
                if (best and not member.tier_override_active(today)
                        and (not member.tier
                            or member.tier.level < best.level)):
                    History.add(member, member.tier, best, 'purchase', today)
                    values.update({
                            'tier': best.id,
                            'tier_since': today,
                            'tier_below_since': None,
                            })
                Party.write([member], values)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    tier = fields.Many2One(
        'member.tier', "Tier", readonly=True, ondelete='RESTRICT')
    tier_since = fields.Date("Tier Since", readonly=True)
    tier_below_since = fields.Date(
        "Below Tier Since", readonly=True,
        help="When the member first fell below the thresholds of its tier; "
        "the grace period counts from it.")
    tier_override = fields.Boolean("Tier Overridden", readonly=True)
    tier_override_reason = fields.Text(
        "Override Reason", readonly=True,
        states={'invisible': ~Eval('tier_override')})
    tier_override_end = fields.Date(
        "Override End", readonly=True,
        states={'invisible': ~Eval('tier_override')})
    tier_paid_until = fields.Date("Tier Paid Until", readonly=True)
    annual_fee_paid_until = fields.Function(
        fields.Date("Annual Fee Paid Until"), 'get_annual_fee_paid_until')
    tier_benefits = fields.Function(
        fields.Char("Tier Benefits"), 'get_tier_benefits')
    tier_ends = fields.Function(
        fields.Date(
            "Tier Ends",
            help="When the member leaves the tier unless it qualifies "
            "again: the end of the override, of the paid period or of the "
            "grace period once below the thresholds; empty while the member "
            "qualifies."),
        'get_tier_ends')
    tier_histories = fields.One2Many(
        'member.tier.history', 'member', "Tier History", readonly=True)
    tier_purchases = fields.One2Many(
        'member.tier.purchase', 'member', "Tier Purchases", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.tier, Index.Equality()), where=t.tier != Null))
        cls._buttons.update({
                'tier_override_wizard': {
                    'invisible': ~Eval('member_state').in_(
                        ['member', 'suspended']),
                    'depends': ['member_state'],
                    },
                })

    @classmethod
    def default_tier_override(cls):
        return False

    def get_tier_benefits(self, name):
        # on one line in the member's summary
        if self.tier and self.tier.benefits:
            return '; '.join(self.tier.benefits.split('\n'))

    def get_tier_ends(self, name):
        if not self.tier:
            return None
        today = Pool().get('ir.date').today()
        if self.tier_override_active(today):
            return self.tier_override_end
        ends = [self.tier_paid_until] if self.tier_paid_until else []
        if self.tier_below_since:
            ends.append(self.tier_below_since
                + dt.timedelta(days=self.tier.grace_days))
        return min(ends, default=None)

    def tier_override_active(self, date):
        return bool(self.tier_override and (
                not self.tier_override_end or self.tier_override_end > date))

    @classmethod
    def get_annual_fee_paid_until(cls, members, name):
        pool = Pool()
        Purchase = pool.get('member.tier.purchase')
        purchase = Purchase.__table__()
        cursor = Transaction().connection.cursor()
        result = dict.fromkeys((m.id for m in members), None)
        for sub_ids in grouped_slice(
                [m.id for m in members], backend.MAX_QUERY_PARAMS):
            cursor.execute(*purchase.select(
                    purchase.member, Max(purchase.end_date),
                    where=purchase.member.in_(list(sub_ids))
                    & (purchase.kind == 'annual_fee')
                    & (purchase.state == 'paid'),
                    group_by=[purchase.member]))
            for member_id, end in cursor:
                if isinstance(end, str):
                    end = dt.date.fromisoformat(end)
                result[member_id] = end
        return result

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'tier', 'tier_since', 'tier_below_since',
                'tier_override_reason', 'tier_override_end',
                'tier_paid_until', 'tier_histories', 'tier_purchases']:
            default.setdefault(name, None)
        default.setdefault('tier_override', False)
        return super().copy(parties, default=default)

    @classmethod
    def approve_member(cls, parties):
        pool = Pool()
        Tier = pool.get('member.tier')
        super().approve_member(parties)
        Tier.update_members([p.id for p in parties])

    @classmethod
    @ModelView.button_action('member_core.wizard_tier_override')
    def tier_override_wizard(cls, parties):
        pass

    def override_tier(self, tier, reason, end_date):
        "Set the tier until end_date (excluded) and log it"
        pool = Pool()
        Date = pool.get('ir.date')
        History = pool.get('member.tier.history')
        today = Date.today()
        if tier.programme != self.programme:
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_override_programme',
                    tier=tier.rec_name, member=self.rec_name))
        if not end_date or end_date <= today:
            raise MemberValidationError(gettext(
                    'member_core.msg_tier_override_end_date',
                    member=self.rec_name))
        with without_check_access():
            History.add(self, self.tier, tier, 'override', today, reason)
            self.write([self], {
                    'tier': tier.id,
                    'tier_since': today,
                    'tier_below_since': None,
                    'tier_override': True,
                    'tier_override_reason': reason,
                    'tier_override_end': end_date,
                    })


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('member.tier|review', "Review Member Tiers"))


class OverrideStart(ModelView):
    __name__ = 'member.tier.override.start'
    __string__ = "Override Tier"

    programme = fields.Many2One(
        'member.programme', "Programme", readonly=True)
    tier = fields.Many2One(
        'member.tier', "Tier", required=True,
        domain=[('programme', '=', Eval('programme', -1))])
    reason = fields.Text("Reason", required=True)
    end_date = fields.Date(
        "End Date", required=True,
        domain=[If(Bool(Eval('today')), ('end_date', '>', Eval('today')),
                ())],
        help="The review restores the qualified tier from this date.")
    today = fields.Date("Today", readonly=True)


class Override(Wizard):
    "Override Member Tier"
    __name__ = 'member.tier.override'

    start = StateView(
        'member.tier.override.start',
        'member_core.tier_override_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Override", 'override', 'tryton-ok', default=True),
            ])
    override = StateTransition()

    def default_start(self, fields):
        Date = Pool().get('ir.date')
        return {
            'programme': self.record.programme.id,
            'tier': self.record.tier.id if self.record.tier else None,
            'today': Date.today(),
            }

    def transition_override(self):
        self.record.override_tier(
            self.start.tier, self.start.reason, self.start.end_date)
        return 'end'


class Report(ModelSQL, ModelView):
    __name__ = 'member.tier.report'
    __string__ = "Members by Tier"

    programme = fields.Many2One('member.programme', "Programme")
    tier = fields.Many2One('member.tier', "Tier")
    property = fields.Many2One('member.property', "Property")
    member_count = fields.Integer("Members")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('tier', 'ASC'), ('property', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        party = Party.__table__()
        return party.select(
            Min(party.id).as_('id'),
            party.programme.as_('programme'),
            party.tier.as_('tier'),
            party.home_property.as_('property'),
            Count(party.id).as_('member_count'),
            where=(party.tier != Null) & (party.member_state == 'member'),
            group_by=[party.programme, party.tier, party.home_property])

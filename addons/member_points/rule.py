# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Earning rules: which member events earn how many points.

Rules sit in rule groups of a programme (``member.point.rule.group``). A
group combines the awards of its matching rules: ``stack`` records all of
them, ``best`` only the largest one (ties go to the first by sequence).
Across the events of a member on one day, a best group tops up what it
already awarded that day to its largest award: a signup bonus of 100 then
a birthday purchase bonus of 200 on the same day record 200 in all (100 +
100), the other way round 200 only. A best group should hold rules of one
point type.

Earn event, a dict:

``event``
    ``'purchase'``, ``'signup'``, ``'follow'``, ``'survey'``,
    ``'referral'`` (referral approved): the ``event`` selection of
    ``member.point.rule``, which other modules may extend. Required.
``member``
    party.party record or id. Required; it must belong to a programme.
``date``
    ``datetime.date`` of the event, default today.
``channel``
    a code of the ``channels`` selection (``'pos'``, ``'web'``,
    ``'wechat'``, ``'front_desk'``, ``'merchant'``) or None.
``property``
    member.property record or id, or None.
``amount``
    Decimal spend in the programme currency, not negative; default the
    sum of the lines, else 0.
``lines``
    ``[{'category': product.category id or None, 'amount': Decimal}]``.
``payment_method``
    a payment method code (or a list of codes) or None.
``source``
    a record or ``'model,id'`` stored on the postings and metric lines.
``first_purchase``
    bool, optional. When absent: True unless the member already has a
    purchase award (not reversed) dated on or before the event date.

A rule matches when the event has the rule's event and every condition of
the rule holds; an empty condition (no channel, property, category,
payment method, tier, date, weekday) matches anything. Conditions:
channels, properties, product categories (a line matches the category of a
rule or any of its children), payment methods (comma-separated codes),
member tiers (the tier giving the member's benefits at the event date),
date range (inclusive), weekdays, birthday (same day, Feb 29 birthdays on
Feb 28 of other years; or same month) and first purchase only.

Award, for a matching rule:

``per_amount``
    ``spend × rate / unit`` where spend is the event amount or, for a rule
    restricted to categories, the amount of the matching lines.
``fixed``
    ``quantity``.
``multiplier``
    ``(multiplier − 1) × base``: the base is the sum of the per-amount
    awards (rounded, before tier multiplier and caps) of the other matching
    rules of the same group and point type (in a best group: the one it
    keeps), recomputed on the spend the multiplier rule matches. A
    multiplier of 2 doubles the base points of the matched spend; other
    groups' rules (campaigns) are not multiplied. Put multiplier rules in a
    stack group with their base rules.

Then, when ``tier_multiplier`` is set, times the member's tier
``points_multiplier`` (``Tier.get_benefits``); the result is rounded once
to the digits of the point type by ``rounding`` (down, half-up, up). Caps
cut it, in order: per transaction, per member per day, per member (the
rule's lifetime) and per campaign (the rule's total over all members);
awards of reversed postings do not count. Caps never refuse the event: a
capped award is smaller or absent. Finally groups combine the awards.

API:

``Rule.compute(event)`` → ``[{'rule', 'type', 'quantity', 'reason'}]``
    The awards of the event, quantity > 0, in group then rule order, with
    a human explanation (conditions matched, base, multiplier, rounding,
    caps, group). Pure: writes nothing. Raises ``RuleError`` for a bad
    event.
``Rule.apply(event, key)`` → ``[posting]``
    Locks the member (and the rules with a campaign cap), then posts each
    award with ``Ledger.earn(member, type, quantity,
    key=f'{key}:{rule.id}', source, date, property, pending_days)``,
    records it in ``member.point.rule.award`` (used by the caps) and, for
    ``qualifying`` rules, feeds member_core's tier metric ``points`` with
    ``Metric.record(..., key=f'{key}:{rule.id}')``. Idempotent: when awards
    were already recorded under ``key``, returns their postings and posts
    nothing. Ledger errors (e.g. a member who may not earn) propagate.
"""
import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

from sql import Null
from sql.aggregate import Sum

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    fields,
    sequence_ordered,
)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateView, Wizard

from .exceptions import RuleError, RuleValidationError
from .ledger import _Immutable

COMBINATIONS = [
    ('best', "Best One Only"),
    ('stack', "Stack All"),
    ]
EVENTS = [
    ('purchase', "Purchase"),
    ('signup', "Signup"),
    ('follow', "Follow"),
    ('survey', "Survey"),
    ('referral', "Referral Approved"),
    ]
CHANNELS = [
    ('pos', "Point of Sale"),
    ('web', "Website"),
    ('wechat', "WeChat"),
    ('front_desk', "Front Desk"),
    ('merchant', "Alliance Merchant"),
    ]
WEEKDAYS = [
    ('mon', "Monday"),
    ('tue', "Tuesday"),
    ('wed', "Wednesday"),
    ('thu', "Thursday"),
    ('fri', "Friday"),
    ('sat', "Saturday"),
    ('sun', "Sunday"),
    ]
BIRTHDAYS = [
    ('none', "Any Day"),
    ('day', "Birthday"),
    ('month', "Birthday Month"),
    ]
KINDS = [
    ('per_amount', "Points per Amount"),
    ('fixed', "Fixed Points"),
    ('multiplier', "Multiplier"),
    ]
ROUNDINGS = {
    'down': ROUND_DOWN,
    'half_up': ROUND_HALF_UP,
    'up': ROUND_UP,
    }
CAPS = ['cap_transaction', 'cap_day', 'cap_member', 'cap_total']
AMOUNT_DIGITS = (16, 4)


def _fmt(value):
    "Format a Decimal without exponent nor trailing zeros"
    value = Decimal(value).normalize()
    return format(value, 'f')


def _decimal(value):
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    # SQLite returns sums of numeric columns as floats or text
    return Decimal(str(value))


class RuleGroup(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'member.point.rule.group'
    __string__ = "Earning Rule Group"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    combination = fields.Selection(
        COMBINATIONS, "Combination", required=True,
        help="Whether the group records all its matching awards or only "
        "the largest one.")
    rules = fields.One2Many('member.point.rule', 'group', "Rules")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.programme, Index.Equality())))

    @classmethod
    def default_combination(cls):
        return 'stack'


class Rule(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'member.point.rule'
    __string__ = "Earning Rule"

    group = fields.Many2One(
        'member.point.rule.group', "Group", required=True,
        ondelete='CASCADE')
    programme = fields.Function(
        fields.Many2One('member.programme', "Programme"),
        'on_change_with_programme')
    name = fields.Char("Name", required=True, translate=True)
    type = fields.Many2One(
        'member.point.type', "Point Type", required=True,
        ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))])
    event = fields.Selection(EVENTS, "Event", required=True)

    channels = fields.MultiSelection(
        CHANNELS, "Channels", help="Leave empty for any channel.")
    properties = fields.Many2Many(
        'member.point.rule-member.property', 'rule', 'property',
        "Properties",
        domain=[('programme', '=', Eval('programme', -1))],
        help="Leave empty for any property.")
    categories = fields.Many2Many(
        'member.point.rule-product.category', 'rule', 'category',
        "Product Categories",
        help="Only the spend of lines in these categories or their "
        "children counts; leave empty for the whole spend.")
    payment_methods = fields.Char(
        "Payment Methods",
        help="Comma-separated payment method codes; leave empty for any.")
    tiers = fields.Many2Many(
        'member.point.rule-member.tier', 'rule', 'tier', "Tiers",
        domain=[('programme', '=', Eval('programme', -1))],
        help="Leave empty for members of any tier.")
    start_date = fields.Date(
        "Start Date",
        domain=['OR',
            ('start_date', '<=', Eval('end_date', None)),
            ('start_date', '=', None),
            ('end_date', '=', None),
            ])
    end_date = fields.Date("End Date")
    weekdays = fields.MultiSelection(
        WEEKDAYS, "Weekdays", help="Leave empty for any day of the week.")
    birthday = fields.Selection(BIRTHDAYS, "Birthday", required=True)
    first_purchase = fields.Boolean(
        "First Purchase Only",
        help="Only the member's first purchase earns with this rule.")

    kind = fields.Selection(KINDS, "Award", required=True)
    rate = fields.Numeric(
        "Rate", digits=AMOUNT_DIGITS,
        states={
            'required': Eval('kind') == 'per_amount',
            'invisible': Eval('kind') != 'per_amount',
            },
        help="Points for each unit of spend.")
    unit = fields.Numeric(
        "Unit", digits=AMOUNT_DIGITS,
        states={
            'required': Eval('kind') == 'per_amount',
            'invisible': Eval('kind') != 'per_amount',
            },
        help="The amount of spend that earns the rate.")
    quantity = fields.Numeric(
        "Quantity", digits='type',
        states={
            'required': Eval('kind') == 'fixed',
            'invisible': Eval('kind') != 'fixed',
            })
    multiplier = fields.Numeric(
        "Multiplier", digits=AMOUNT_DIGITS,
        states={
            'required': Eval('kind') == 'multiplier',
            'invisible': Eval('kind') != 'multiplier',
            },
        help="2 doubles the points of the matched spend: the rule awards "
        "(multiplier - 1) times the per-amount awards of the other rules "
        "of its group and point type, on the spend it matches.")
    rounding = fields.Selection([
            ('down', "Down"),
            ('half_up', "Half Up"),
            ('up', "Up"),
            ], "Rounding", required=True,
        help="How the award is rounded to the digits of the point type.")
    tier_multiplier = fields.Boolean(
        "Apply Tier Multiplier",
        help="Multiply the award by the points multiplier of the member's "
        "tier.")
    pending_days = fields.Integer(
        "Pending Days", required=True,
        help="Days before the points may be spent.")
    cap_transaction = fields.Numeric(
        "Cap per Transaction", digits='type')
    cap_day = fields.Numeric(
        "Cap per Member per Day", digits='type')
    cap_member = fields.Numeric(
        "Cap per Member", digits='type',
        help="The most a member may earn with this rule.")
    cap_total = fields.Numeric(
        "Campaign Cap", digits='type',
        help="The most all members together may earn with this rule.")
    qualifying = fields.Boolean(
        "Qualifying",
        help="The award also counts as qualifying points for the tiers.")
    awards = fields.One2Many(
        'member.point.rule.award', 'rule', "Awards", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.group, Index.Equality()), (t.event, Index.Equality())))

    @classmethod
    def default_event(cls):
        return 'purchase'

    @classmethod
    def default_birthday(cls):
        return 'none'

    @classmethod
    def default_first_purchase(cls):
        return False

    @classmethod
    def default_kind(cls):
        return 'per_amount'

    @classmethod
    def default_unit(cls):
        return Decimal(1)

    @classmethod
    def default_rounding(cls):
        return 'down'

    @classmethod
    def default_tier_multiplier(cls):
        return True

    @classmethod
    def default_pending_days(cls):
        return 0

    @classmethod
    def default_qualifying(cls):
        return False

    @fields.depends('group', '_parent_group.programme')
    def on_change_with_programme(self, name=None):
        return self.group.programme if self.group else None

    @classmethod
    def validate_fields(cls, rules, field_names):
        super().validate_fields(rules, field_names)
        for rule in rules:
            rule.check_values()

    def check_values(self):
        if self.type.programme != self.group.programme:
            raise RuleValidationError(gettext(
                    'member_points.msg_rule_type_programme',
                    rule=self.rec_name, type=self.type.rec_name,
                    programme=self.group.programme.rec_name))
        if self.kind == 'per_amount' and not (
                (self.rate or 0) > 0 and (self.unit or 0) > 0):
            raise RuleValidationError(gettext(
                    'member_points.msg_rule_per_amount_values',
                    rule=self.rec_name))
        if self.kind == 'fixed' and not (self.quantity or 0) > 0:
            raise RuleValidationError(gettext(
                    'member_points.msg_rule_fixed_quantity',
                    rule=self.rec_name))
        if self.kind == 'multiplier' and not (self.multiplier or 0) > 1:
            raise RuleValidationError(gettext(
                    'member_points.msg_rule_multiplier_value',
                    rule=self.rec_name))
        for name in CAPS:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise RuleValidationError(gettext(
                        'member_points.msg_rule_cap_positive',
                        rule=self.rec_name,
                        field=self.__names__(name)['field']))
        if self.pending_days < 0:
            raise RuleValidationError(gettext(
                    'member_points.msg_rule_pending_days',
                    rule=self.rec_name))

    @property
    def payment_method_codes(self):
        return {c.strip() for c in (self.payment_methods or '').split(',')
            if c.strip()}

    def _label(self, name, value):
        "The label of value in the selection of field name"
        selection = dict(self.fields_get([name])[name]['selection'])
        return selection.get(value, value)

    def _field(self, name):
        return self.__names__(name)['field']

    # Evaluation

    @classmethod
    def _event(cls, event):
        "Return a normalised copy of the event or raise RuleError"
        pool = Pool()
        Date = pool.get('ir.date')
        Party = pool.get('party.party')
        Property = pool.get('member.property')
        event = dict(event)
        for name in ['event', 'member']:
            if not event.get(name):
                raise RuleError(gettext(
                        'member_points.msg_rule_event_missing', field=name))
        member = Party(int(event['member']))
        if not member.programme:
            raise RuleError(gettext(
                    'member_points.msg_rule_event_member',
                    member=member.rec_name))
        event['member'] = member
        event['date'] = event.get('date') or Date.today()
        if event.get('property'):
            event['property'] = Property(int(event['property']))
        else:
            event['property'] = None
        lines = []
        for line in event.get('lines') or []:
            amount = cls._check_amount(line.get('amount'), 'lines.amount')
            category = line.get('category')
            lines.append({
                    'category': int(category) if category else None,
                    'amount': amount,
                    })
        event['lines'] = lines
        amount = event.get('amount')
        if amount is None:
            amount = sum((line['amount'] for line in lines), Decimal(0))
        event['amount'] = cls._check_amount(amount, 'amount')
        method = event.get('payment_method')
        if isinstance(method, str):
            method = [method]
        event['payment_methods'] = set(method or [])
        source = event.get('source')
        event['source'] = str(source) if source else None
        event.setdefault('channel', None)
        return event

    @classmethod
    def _check_amount(cls, value, field):
        if (not isinstance(value, (Decimal, int))
                or isinstance(value, bool)
                or not Decimal(value).is_finite() or value < 0):
            raise RuleError(gettext(
                    'member_points.msg_rule_event_amount',
                    field=field, value=value))
        return Decimal(value)

    @classmethod
    def _rules(cls, event):
        "The active rules of the event for the member's programme, in order"
        rules = cls.search([
                ('group.programme', '=', event['member'].programme.id),
                ('group.active', '=', True),
                ('event', '=', event['event']),
                ])
        return sorted(rules, key=lambda r: (
                r.group.sequence is not None, r.group.sequence or 0,
                r.group.id, r.sequence is not None, r.sequence or 0, r.id))

    @classmethod
    def _first_purchase(cls, member, date):
        "Whether the member has no purchase award up to date"
        pool = Pool()
        Award = pool.get('member.point.rule.award')
        award = Award.__table__()
        rule = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*award.join(rule, condition=award.rule == rule.id
                ).select(award.id,
                where=(award.member == member.id)
                & (award.date <= date)
                & (rule.event == 'purchase')
                & ~award.posting.in_(cls._reversed_postings()),
                limit=1))
        return cursor.fetchone() is None

    @classmethod
    def _reversed_postings(cls):
        Posting = Pool().get('member.point.posting')
        posting = Posting.__table__()
        return posting.select(
            posting.reversal_of, where=posting.reversal_of != Null)

    @classmethod
    def _category_ids(cls, rules):
        "{rule: set of category ids with their children} of the rules"
        Category = Pool().get('product.category')
        result = {}
        for rule in rules:
            if rule.categories:
                result[rule] = {c.id for c in Category.search([
                            ('parent', 'child_of',
                                [c.id for c in rule.categories]),
                            ])}
            else:
                result[rule] = None
        return result

    @classmethod
    def _used(cls, rules, member, date):
        """{cap field: {rule id: quantity awarded}}, one aggregate per cap,
        and 'best': {(group id, type id): quantity awarded on the day}"""
        pool = Pool()
        Award = pool.get('member.point.rule.award')
        cursor = Transaction().connection.cursor()
        result = {}
        for name in CAPS[1:]:
            ids = [r.id for r in rules if getattr(r, name) is not None]
            result[name] = {}
            if not ids:
                continue
            award = Award.__table__()
            where = (award.rule.in_(ids)
                & ~award.posting.in_(cls._reversed_postings()))
            if name == 'cap_day':
                where &= (award.member == member.id) & (award.date == date)
            elif name == 'cap_member':
                where &= award.member == member.id
            cursor.execute(*award.select(
                    award.rule, Sum(award.quantity),
                    where=where, group_by=[award.rule]))
            result[name] = {r: _decimal(q) for r, q in cursor}
        # What the best groups already awarded the member on the day
        groups = list({r.group.id for r in rules
                if r.group.combination == 'best'})
        result['best'] = {}
        if groups:
            award = Award.__table__()
            rule = cls.__table__()
            cursor.execute(*award.join(rule,
                    condition=award.rule == rule.id).select(
                    rule.group, award.type, Sum(award.quantity),
                    where=rule.group.in_(groups)
                    & (award.member == member.id) & (award.date == date)
                    & ~award.posting.in_(cls._reversed_postings()),
                    group_by=[rule.group, award.type]))
            result['best'] = {(g, t): _decimal(q) for g, t, q in cursor}
        return result

    def _match(self, event, context):
        """Return the descriptions of the conditions matched or None when
        the rule does not match the event"""
        date = event['date']
        matched = []
        if self.channels:
            if event['channel'] not in self.channels:
                return
            matched.append(f"{self._field('channels')}: "
                f"{self._label('channels', event['channel'])}")
        if self.properties:
            if event['property'] not in self.properties:
                return
            matched.append(f"{self._field('properties')}: "
                f"{event['property'].rec_name}")
        if self.payment_method_codes:
            methods = event['payment_methods'] & self.payment_method_codes
            if not methods:
                return
            matched.append(f"{self._field('payment_methods')}: "
                f"{', '.join(sorted(methods))}")
        if self.tiers:
            tier = context['benefits']['tier']
            if tier not in self.tiers:
                return
            matched.append(f"{self._field('tiers')}: {tier.rec_name}")
        if self.start_date and date < self.start_date:
            return
        if self.end_date and date > self.end_date:
            return
        if self.start_date or self.end_date:
            matched.append(f"{self._field('start_date')}: "
                f"{self.start_date or ''}..{self.end_date or ''}")
        if self.weekdays:
            weekday = WEEKDAYS[date.weekday()][0]
            if weekday not in self.weekdays:
                return
            matched.append(f"{self._field('weekdays')}: "
                f"{self._label('weekdays', weekday)}")
        if self.birthday != 'none':
            birthday = event['member'].birthday
            if not birthday or birthday.month != date.month:
                return
            if self.birthday == 'day' and birthday.day != date.day:
                leap_day = (birthday.month, birthday.day) == (2, 29)
                try:
                    dt.date(date.year, 2, 29)
                    is_leap = True
                except ValueError:
                    is_leap = False
                if not (leap_day and not is_leap and date.day == 28):
                    return
            matched.append(f"{self._field('birthday')}: "
                f"{self._label('birthday', self.birthday)}")
        if self.first_purchase:
            if not context['first_purchase']():
                return
            matched.append(self._field('first_purchase'))
        categories = context['categories'][self]
        if categories is not None:
            if not any(line['category'] in categories
                    for line in event['lines']):
                return
            names = ', '.join(c.rec_name for c in self.categories)
            matched.append(f"{self._field('categories')}: {names}")
        return matched

    @staticmethod
    def _spend(event, categories, within=None):
        """The spend of the event restricted to the categories (None: all)
        and to within (None: no further restriction)"""
        if categories is None and within is None:
            return event['amount']
        return sum((line['amount'] for line in event['lines']
                if (categories is None or line['category'] in categories)
                and (within is None or line['category'] in within)),
            Decimal(0))

    def _round(self, value):
        exp = Decimal(1).scaleb(-self.type.digits)
        return value.quantize(exp, rounding=ROUNDINGS[self.rounding])

    def _base(self, event, categories, within=None):
        "The rounded per-amount award of the spend (before tier and caps)"
        spend = self._spend(event, categories, within)
        return self._round(spend * self.rate / self.unit)

    @classmethod
    def compute(cls, event):
        "Return the awards of the event; writes nothing"
        return [a for a in cls._evaluate(cls._event(event))
            if a['quantity'] > 0]

    @classmethod
    def _evaluate(cls, event):
        pool = Pool()
        Tier = pool.get('member.tier')
        member, date = event['member'], event['date']
        rules = cls._rules(event)
        first = []

        def first_purchase():
            if event.get('first_purchase') is not None:
                return bool(event['first_purchase'])
            if not first:
                first.append(cls._first_purchase(member, date))
            return first[0]

        context = {
            'benefits': Tier.get_benefits(member, date=date),
            'first_purchase': first_purchase,
            'categories': cls._category_ids(rules),
            }
        matched = []
        for rule in rules:
            conditions = rule._match(event, context)
            if conditions is not None:
                matched.append((rule, conditions))
        used = cls._used([r for r, _ in matched], member, date)

        awards = {}
        for rule, conditions in matched:
            if rule.kind != 'multiplier':
                awards[rule] = rule._award(
                    event, context, conditions, used)
        # The base of multipliers: per-amount awards kept by their groups
        base_rules = [a['rule'] for a in cls._combine(awards.values())
            if a['rule'].kind == 'per_amount']
        for rule, conditions in matched:
            if rule.kind == 'multiplier':
                base = [r for r in base_rules
                    if r.group == rule.group and r.type == rule.type]
                awards[rule] = rule._award(
                    event, context, conditions, used, base=base)
        return cls._combine((awards[r] for r, _ in matched), used=used)

    def _award(self, event, context, conditions, used, base=None):
        "Return the award of the matching rule"
        categories = context['categories'][self]
        if conditions:
            reasons = [gettext('member_points.msg_rule_reason_conditions',
                    conditions=', '.join(conditions))]
        else:
            reasons = [gettext('member_points.msg_rule_reason_no_condition')]
        if self.kind == 'per_amount':
            spend = self._spend(event, categories)
            value = spend * self.rate / self.unit
            reasons.append(gettext('member_points.msg_rule_reason_per_amount',
                    spend=_fmt(spend), rate=_fmt(self.rate),
                    unit=_fmt(self.unit), quantity=_fmt(value)))
        elif self.kind == 'fixed':
            value = self.quantity
            reasons.append(gettext('member_points.msg_rule_reason_fixed',
                    quantity=_fmt(value)))
        else:
            base_value = sum((
                    r._base(event, context['categories'][r], categories)
                    for r in base or []), Decimal(0))
            value = base_value * (self.multiplier - 1)
            reasons.append(gettext('member_points.msg_rule_reason_multiplier',
                    base=_fmt(base_value), multiplier=_fmt(self.multiplier),
                    quantity=_fmt(value)))
        if self.tier_multiplier:
            factor = context['benefits']['points_multiplier']
            if factor != 1:
                value *= factor
                reasons.append(gettext(
                        'member_points.msg_rule_reason_tier',
                        multiplier=_fmt(factor), quantity=_fmt(value)))
        rounded = self._round(value)
        if rounded != value:
            reasons.append(gettext('member_points.msg_rule_reason_rounded',
                    rounding=self._label('rounding', self.rounding),
                    quantity=_fmt(rounded)))
        quantity = rounded
        for name in CAPS:
            limit = getattr(self, name)
            if limit is None:
                continue
            already = used.get(name, {}).get(self.id, Decimal(0))
            allowed = max(limit - already, Decimal(0))
            if quantity > allowed:
                quantity = allowed.quantize(
                    Decimal(1).scaleb(-self.type.digits),
                    rounding=ROUND_DOWN)
                reasons.append(gettext('member_points.msg_rule_reason_cap',
                        cap=self._field(name), limit=_fmt(limit),
                        used=_fmt(already), quantity=_fmt(quantity)))
        return {
            'rule': self,
            'type': self.type,
            'quantity': quantity,
            'reason': f'{self.rec_name}: ' + '; '.join(reasons),
            }

    @classmethod
    def _combine(cls, awards, used=None):
        """Keep the awards of stack groups and the best award of best
        groups, topped up to it when used gives what the group already
        awarded the member on the day"""
        awards = [a for a in awards if a['quantity'] > 0]
        best = {}
        for award in awards:
            group = award['rule'].group
            if group.combination != 'best':
                continue
            if (group not in best
                    or award['quantity'] > best[group]['quantity']):
                best[group] = award
        result = []
        for award in awards:
            group = award['rule'].group
            if group.combination == 'best':
                if best[group] is not award:
                    continue
                others = [a for a in awards
                    if a['rule'].group == group and a is not award]
                award = dict(award)
                if others:
                    award['reason'] += '; ' + gettext(
                        'member_points.msg_rule_reason_best',
                        group=group.rec_name,
                        others=', '.join(
                            f"{a['rule'].rec_name} {_fmt(a['quantity'])}"
                            for a in others))
                already = (used or {}).get('best', {}).get(
                    (group.id, award['type'].id))
                if already:
                    award['quantity'] = award['rule']._round(
                        max(award['quantity'] - already, Decimal(0)))
                    award['reason'] += '; ' + gettext(
                        'member_points.msg_rule_reason_best_day',
                        group=group.rec_name, used=_fmt(already),
                        quantity=_fmt(award['quantity']))
                if not award['quantity']:
                    continue
            result.append(award)
        return result

    @classmethod
    def apply(cls, event, key):
        "Post the awards of the event under key; idempotent"
        pool = Pool()
        Party = pool.get('party.party')
        Ledger = pool.get('member.point.ledger')
        Award = pool.get('member.point.rule.award')
        Metric = pool.get('member.tier.metric')
        event = cls._event(event)
        member = event['member']
        Party.lock([member.id])
        campaigns = [r for r in cls._rules(event) if r.cap_total is not None]
        if campaigns:
            cls.lock(campaigns)
        done = Award.search([('key', '=', key)], order=[('id', 'ASC')])
        if done:
            return [a.posting for a in done]
        postings, to_create, metrics = [], [], []
        for award in cls.compute(event):
            rule = award['rule']
            rule_key = f'{key}:{rule.id}'
            posting = Ledger.earn(
                member, rule.type, award['quantity'], rule_key,
                source=event['source'], date=event['date'],
                property=event['property'],
                pending_days=rule.pending_days,
                description=rule.rec_name)
            postings.append(posting)
            to_create.append({
                    'rule': rule.id,
                    'member': member.id,
                    'type': rule.type.id,
                    'posting': posting.id,
                    'quantity': award['quantity'],
                    'date': event['date'],
                    'key': key,
                    'reason': award['reason'],
                    })
            qualifying = award['quantity'].quantize(
                Decimal('0.01'), rounding=ROUND_DOWN)
            if rule.qualifying and qualifying:
                metrics.append({
                        'member': member.id,
                        'kind': 'points',
                        'quantity': qualifying,
                        'date': event['date'],
                        'source': event['source'],
                        'key': rule_key,
                        })
        with without_check_access():
            Award.create(to_create)
            if metrics:
                Metric.record_many(metrics)
        return postings


class RuleProperty(ModelSQL):
    __name__ = 'member.point.rule-member.property'
    __string__ = "Earning Rule - Property"

    rule = fields.Many2One(
        'member.point.rule', "Rule", required=True, ondelete='CASCADE')
    property = fields.Many2One(
        'member.property', "Property", required=True, ondelete='CASCADE')


class RuleCategory(ModelSQL):
    __name__ = 'member.point.rule-product.category'
    __string__ = "Earning Rule - Product Category"

    rule = fields.Many2One(
        'member.point.rule', "Rule", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Category", required=True, ondelete='CASCADE')


class RuleTier(ModelSQL):
    __name__ = 'member.point.rule-member.tier'
    __string__ = "Earning Rule - Tier"

    rule = fields.Many2One(
        'member.point.rule', "Rule", required=True, ondelete='CASCADE')
    tier = fields.Many2One(
        'member.tier', "Tier", required=True, ondelete='CASCADE')


class Award(_Immutable, ModelSQL, ModelView):
    __name__ = 'member.point.rule.award'
    __string__ = "Earning Rule Award"

    rule = fields.Many2One(
        'member.point.rule', "Rule", required=True, readonly=True,
        ondelete='RESTRICT')
    member = fields.Many2One(
        'party.party', "Member", required=True, readonly=True,
        ondelete='RESTRICT')
    type = fields.Many2One(
        'member.point.type', "Point Type", required=True, readonly=True,
        ondelete='RESTRICT')
    posting = fields.Many2One(
        'member.point.posting', "Posting", required=True, readonly=True,
        ondelete='RESTRICT')
    quantity = fields.Numeric(
        "Quantity", digits='type', required=True, readonly=True)
    date = fields.Date("Date", required=True, readonly=True)
    key = fields.Char(
        "Event Key", required=True, readonly=True,
        help="The idempotency key of the earn event.")
    reason = fields.Text("Reason", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('member')
        t = cls.__table__()
        cls._sql_constraints = [
            ('posting_unique', Unique(t, t.posting),
                'member_points.msg_rule_award_posting_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.key, Index.Equality())),
                Index(t,
                    (t.rule, Index.Equality()),
                    (t.member, Index.Equality()),
                    (t.date, Index.Range())),
                Index(t, (t.member, Index.Range()), (t.date, Index.Range())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]


class SimulateStart(ModelView):
    __name__ = 'member.point.rule.simulate.start'
    __string__ = "Simulate Earning"

    member = fields.Many2One(
        'party.party', "Member", required=True,
        domain=[('programme', '!=', None)])
    programme = fields.Function(
        fields.Many2One('member.programme', "Programme"),
        'on_change_with_programme')
    event = fields.Selection('get_events', "Event", required=True)
    date = fields.Date("Date", required=True)
    channel = fields.Selection('get_channels', "Channel")
    property = fields.Many2One(
        'member.property', "Property",
        domain=[('programme', '=', Eval('programme', -1))])
    amount = fields.Numeric(
        "Amount", digits=(16, 2),
        help="Leave empty for the sum of the lines.")
    payment_method = fields.Char("Payment Method")
    first_purchase = fields.Selection([
            (None, "Computed"),
            ('yes', "Yes"),
            ('no', "No"),
            ], "First Purchase")
    lines = fields.One2Many(
        'member.point.rule.simulate.line', None, "Lines")
    awards = fields.One2Many(
        'member.point.rule.simulate.award', None, "Awards", readonly=True)
    total = fields.Char("Total", readonly=True)

    @classmethod
    def get_events(cls):
        Rule = Pool().get('member.point.rule')
        return Rule.fields_get(['event'])['event']['selection']

    @classmethod
    def get_channels(cls):
        Rule = Pool().get('member.point.rule')
        return [(None, "")] + Rule.fields_get(
            ['channels'])['channels']['selection']

    @fields.depends('member')
    def on_change_with_programme(self, name=None):
        return self.member.programme if self.member else None

    def get_event(self):
        "The earn event of the form"
        first_purchase = {'yes': True, 'no': False}.get(self.first_purchase)
        lines = [{
                'category': line.category.id if line.category else None,
                'amount': line.amount or Decimal(0),
                } for line in self.lines or []]
        return {
            'event': self.event,
            'member': self.member,
            'date': self.date,
            'channel': self.channel,
            'property': self.property,
            'amount': self.amount,
            'lines': lines,
            'payment_method': self.payment_method or None,
            'first_purchase': first_purchase,
            }

    @fields.depends(
        'member', 'event', 'date', 'channel', 'property', 'amount',
        'payment_method', 'first_purchase', 'lines')
    def _compute(self):
        pool = Pool()
        Rule = pool.get('member.point.rule')
        if not (self.member and self.member.programme and self.event):
            return []
        return Rule.compute(self.get_event())

    @fields.depends(methods=['_compute'])
    def on_change_with_awards(self):
        Award = Pool().get('member.point.rule.simulate.award')
        return [Award(
                rule=a['rule'], type=a['type'], quantity=a['quantity'],
                reason=a['reason']) for a in self._compute()]

    @fields.depends(methods=['_compute'])
    def on_change_with_total(self, name=None):
        totals = {}
        for award in self._compute():
            type_ = award['type']
            totals[type_] = totals.get(type_, Decimal(0)) + award['quantity']
        return ', '.join(f'{_fmt(q)} {t.rec_name}' for t, q in totals.items())


class SimulateLine(ModelView):
    __name__ = 'member.point.rule.simulate.line'
    __string__ = "Simulate Earning Line"

    category = fields.Many2One('product.category', "Category")
    amount = fields.Numeric("Amount", digits=(16, 2), required=True)


class SimulateAward(ModelView):
    __name__ = 'member.point.rule.simulate.award'
    __string__ = "Simulated Award"

    rule = fields.Many2One('member.point.rule', "Rule", readonly=True)
    type = fields.Many2One('member.point.type', "Point Type", readonly=True)
    quantity = fields.Numeric(
        "Quantity", digits='type', readonly=True)
    reason = fields.Text("Reason", readonly=True)


class Simulate(Wizard):
    "Simulate Earning"
    __name__ = 'member.point.rule.simulate'

    start = StateView(
        'member.point.rule.simulate.start',
        'member_points.rule_simulate_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        Date = Pool().get('ir.date')
        values = {
            'event': 'purchase',
            'date': Date.today(),
            }
        if (self.model and self.model.__name__ == 'party.party'
                and self.record and self.record.programme):
            values['member'] = self.record.id
            values['programme'] = self.record.programme.id
        return values

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Demo data of member_points: the point types and earning rules of the
Grand Horizon Club and two years of points history of its members.

The history earns points for the hotel stays that member_core's demo
recorded as tier metrics (points = spend x the tier's points multiplier,
doubled on the birthday, as the rules say), welcome bonuses and birthday
gifts valid 90 days, all in date order by ``Ledger.earn_many`` batches.
Then it replays day by day up to today what depends on the balance at
that date: the expiry (before the day's postings, so lots expire when they
would have in production), reward redemptions (oldest points first; the
ledger counts points earned after the redemption date as pending then), a
few cancelled stays and rewards, and wallet recharges and payments of the
members with a stored-value card.
"""
import datetime as dt
import random
import time
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

from proteus import Model
from trytond.pool import Pool
from trytond.transaction import Transaction

REWARDS = [
    (Decimal(2000), "Breakfast for two"),
    (Decimal(5000), "Spa treatment"),
    (Decimal(10000), "Free night"),
    (Decimal(20000), "Suite night"),
    ]
WELCOME = Decimal(500)
BIRTHDAY_GIFT = Decimal(300)
BIRTHDAY_GIFT_DAYS = 90
RECHARGES = [Decimal(500), Decimal(1000), Decimal(2000), Decimal(5000)]
CHUNK = 500


def setup(config, scale):
    rng = random.Random(20261124)
    Programme = Model.get('member.programme')
    programme, = Programme.find([('code', '=', 'GHC')])
    types = create_types(programme)
    create_rules(programme, types)
    start = time.monotonic()
    # The ledger locks each member (Party.lock) and would restart the
    # transaction for every new one: the load owns the whole table instead
    with Transaction().start(config.database_name, config.user,
            context=config.context,
            _lock_tables=['party_party']) as transaction:
        stats = History(programme.id, {k: t.id for k, t in types.items()},
            rng).run()
        transaction.commit()
    print("member_points: %(members)s members with points, %(lines)s "
        "ledger lines, %(expired)s expired lots, %(redemptions)s "
        "redemptions, %(reversals)s reversals, %(recharges)s wallet "
        "recharges" % stats + f" in {time.monotonic() - start:.0f}s",
        flush=True)


def create_types(programme):
    "The redeemable points, the tier points and the wallet"
    PointType = Model.get('member.point.type')
    points = PointType(
        programme=programme, name="Points", code='PTS', kind='redeemable',
        digits=0, expiry_policy='months', expiry_months=24,
        reminder_days=30, point_value=Decimal('0.01'))
    tier_points = PointType(
        programme=programme, name="Tier Points", code='TP',
        kind='qualifying', digits=0, expiry_policy='never',
        point_value=Decimal(0))
    wallet = PointType(
        programme=programme, name="Member Wallet", code='WAL',
        kind='stored_value', currency=programme.currency, digits=2,
        expiry_policy='never', point_value=Decimal(1))
    PointType.save([points, tier_points, wallet])
    return {'points': points, 'tier_points': tier_points, 'wallet': wallet}


def create_rules(programme, types):
    """Everyday stay points (1 per CNY, tier multiplier, doubled on the
    birthday), tier points and a welcome bonus"""
    Group = Model.get('member.point.rule.group')
    Property = Model.get('member.property')
    hotels = Property.find([
            ('programme', '=', programme.id), ('kind', '=', 'hotel')])
    everyday = Group(
        programme=programme, name="Everyday", combination='stack',
        sequence=10)
    stay = everyday.rules.new(
        name="Hotel stays: 1 point per CNY", type=types['points'],
        kind='per_amount', rate=Decimal(1), unit=Decimal(1),
        rounding='down', tier_multiplier=True)
    stay.properties.extend(Property(h.id) for h in hotels)
    birthday = everyday.rules.new(
        name="Birthday double points", type=types['points'],
        kind='multiplier', multiplier=Decimal(2), birthday='day',
        tier_multiplier=True)
    birthday.properties.extend(Property(h.id) for h in hotels)
    everyday.rules.new(
        name="Tier points: 1 per 10 CNY", type=types['tier_points'],
        kind='per_amount', rate=Decimal(1), unit=Decimal(10),
        rounding='down', tier_multiplier=False, qualifying=True)
    welcome = Group(
        programme=programme, name="Welcome", combination='best',
        sequence=20)
    welcome.rules.new(
        name="Welcome bonus", type=types['points'], event='signup',
        kind='fixed', quantity=WELCOME, tier_multiplier=False)
    Group.save([everyday, welcome])


class History:
    """Two years of points of the programme's members, replayed day by day

    Events refer to members by id: records browsed together in one large
    list would each read the whole list again after every write.
    """

    def __init__(self, programme_id, type_ids, rng):
        pool = Pool()
        self.pool = pool
        self.rng = rng
        self.programme = pool.get('member.programme')(programme_id)
        PointType = pool.get('member.point.type')
        self.points = PointType(type_ids['points'])
        self.tier_points = PointType(type_ids['tier_points'])
        self.wallet = PointType(type_ids['wallet'])
        self.today = dt.date.today()
        self.first = self.today - dt.timedelta(days=730)
        self.earns = []
        # day -> [(order, kind, values)] of what depends on the balance
        self.events = defaultdict(list)
        self.stats = defaultdict(int)
        self.cancelling = set()

    def run(self):
        pool = self.pool
        Party = pool.get('party.party')
        Ledger = pool.get('member.point.ledger')
        Account = pool.get('member.point.account')
        Lot = pool.get('member.point.lot')
        Line = pool.get('member.point.line')
        members = Party.search([
                ('programme', '=', self.programme.id),
                ('member_state', '=', 'member'),
                ], order=[('id', 'ASC')])
        self.plan_stays(members)
        self.plan_bonuses(members)
        self.plan_redemptions(members)
        self.plan_wallets(members)
        self.earns.sort(key=lambda v: (v['date'], v['key']))
        for start in range(0, len(self.earns), CHUNK):
            Ledger.earn_many(self.earns[start:start + CHUNK])
        day = self.first
        while day <= self.today:
            # lots past their expiry go before the day's postings use them
            Ledger.expire(day)
            self.post_day(day)
            day += dt.timedelta(days=1)
        wrong = Account.check_balances()
        if wrong:
            raise AssertionError(
                f"demo points: accounts {wrong[:10]} disagree with their "
                "lines")
        self.stats['members'] = Account.search(
            [('type', '=', self.points.id)], count=True)
        self.stats['lines'] = Line.search([], count=True)
        self.stats['expired'] = Lot.search(
            [('state', '=', 'expired')], count=True)
        return self.stats

    def add(self, day, order, kind, **values):
        if not self.first <= day <= self.today:
            return
        if kind == 'earn':
            self.earns.append(values)
        else:
            self.events[day].append((order, kind, values))

    def plan_stays(self, members):
        """Points and tier points of the stays recorded as tier metrics
        by member_core's demo"""
        pool = self.pool
        Metric = pool.get('member.tier.metric')
        Tier = pool.get('member.tier')
        Property = pool.get('member.property')
        by_id = {m.id: m for m in members}
        hotels = Property.search([
                ('programme', '=', self.programme.id),
                ('kind', '=', 'hotel')])
        metric = Metric.__table__()
        cursor = Transaction().connection.cursor()
        # browsing 10,000 records at once is quadratic in trytond: read rows
        cursor.execute(*metric.select(
                metric.id, metric.member, metric.date, metric.quantity,
                where=(metric.kind == 'spend')
                & metric.key.like('demo:stay:%'),
                order_by=[metric.date, metric.id]))
        multipliers = {}
        for spend_id, member_id, date, spend in cursor.fetchall():
            if member_id not in by_id:
                continue
            member = by_id[member_id]
            spend = Decimal(str(spend))
            if member.id not in multipliers:
                multipliers[member.id] = Tier.get_benefits(
                    member)['points_multiplier']
            property_ = (member.home_property if self.rng.random() < 0.7
                else self.rng.choice(hotels))
            quantity = (spend * multipliers[member.id]).quantize(
                Decimal(1), rounding=ROUND_DOWN)
            if self.is_birthday(member, date):
                quantity *= 2
            description = f"Stay at {property_.name}"
            self.add(date, 0, 'earn', member=member.id,
                type=self.points.id, quantity=quantity,
                key=f'demo:stay:{spend_id}', date=date,
                property=property_.id, description=description)
            self.add(date, 0, 'earn', member=member.id,
                type=self.tier_points.id,
                quantity=(spend / 10).quantize(
                    Decimal(1), rounding=ROUND_DOWN),
                key=f'demo:stay-tp:{spend_id}', date=date,
                property=property_.id, description=description)
        # A few stays are cancelled (no-show) a week later: their points
        # go back; the club card shown at check-in is their source
        Card = self.pool.get('member.card')
        planned = [v for v in self.earns if v['type'] == self.points.id]
        cancelled = set()
        for values in self.rng.sample(planned, min(30, len(planned))):
            member_id = values['member']
            cards = Card.search([
                    ('member', '=', member_id),
                    ('product.kind', '=', 'points'),
                    ], order=[('id', 'ASC')], limit=1)
            if not cards or member_id in cancelled:
                continue
            cancelled.add(member_id)
            source = f'member.card,{cards[0].id}'
            values['source'] = source
            self.add(values['date'] + dt.timedelta(days=7), 2, 'reverse',
                source=source, key=f'demo:no-show:{cards[0].id}')

    @staticmethod
    def is_birthday(member, date):
        birthday = member.birthday
        if not birthday:
            return False
        if (birthday.month, birthday.day) == (2, 29):
            return (date.month, date.day) == (2, 28)
        return (date.month, date.day) == (birthday.month, birthday.day)

    def plan_bonuses(self, members):
        "Welcome bonus at joining, birthday gifts valid 90 days"
        for member in members:
            join_date = member.join_date or self.first
            self.add(join_date, 0, 'earn', member=member.id,
                type=self.points.id,
                quantity=WELCOME, key=f'demo:welcome:{member.id}',
                date=join_date, description="Welcome bonus")
            if not member.birthday:
                continue
            for year in [self.today.year - 2, self.today.year - 1,
                    self.today.year]:
                try:
                    date = member.birthday.replace(year=year)
                except ValueError:
                    date = dt.date(year, 2, 28)
                if date < join_date or self.rng.random() < 0.3:
                    continue
                self.add(date, 0, 'earn', member=member.id,
                    type=self.points.id,
                    quantity=BIRTHDAY_GIFT,
                    key=f'demo:birthday:{member.id}:{year}', date=date,
                    expiry_date=date + dt.timedelta(
                        days=BIRTHDAY_GIFT_DAYS),
                    description="Birthday gift (valid 90 days)")

    def plan_redemptions(self, members):
        "Rewards at random dates, when the member has enough points then"
        for member in members:
            start = max(member.join_date or self.first, self.first)
            span = (self.today - start).days
            if span <= 0:
                continue
            for n in range(self.rng.choice([0, 0, 1, 1, 2, 3, 4])):
                date = start + dt.timedelta(days=self.rng.randrange(span))
                self.add(date, 1, 'redeem', member=member.id,
                    key=f'demo:reward:{member.id}:{n}',
                    cancel=self.rng.random() < 0.05)

    def plan_wallets(self, members):
        """Recharges and payments of the members with a stored-value card,
        since they joined: the value stays with the member whatever card
        carries it"""
        Card = self.pool.get('member.card')
        cards = Card.search([
                ('member', 'in', [m.id for m in members]),
                ('product.kind', '=', 'stored_value'),
                ], order=[('id', 'ASC')])
        for card in cards:
            start = max(card.member.join_date or self.first, self.first)
            span = max((self.today - start).days, 1)
            for n in range(self.rng.randint(1, 4)):
                date = start + dt.timedelta(days=self.rng.randrange(span))
                self.add(date, 0, 'recharge', member=card.member.id,
                    card=card.id, key=f'demo:recharge:{card.id}:{n}',
                    quantity=self.rng.choice(RECHARGES))
            for n in range(self.rng.randint(0, 6)):
                date = start + dt.timedelta(days=self.rng.randrange(span))
                self.add(date, 1, 'pay', member=card.member.id,
                    key=f'demo:wallet-pay:{card.id}:{n}',
                    amount=Decimal(self.rng.randrange(8000, 160000)) / 100)

    def post_day(self, day):
        pool = self.pool
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        events = [(k, v) for _, k, v in sorted(
                self.events.pop(day, []), key=lambda e: e[0])]
        members = {m.id: m for m in Party.browse(
                {v['member'] for _, v in events if 'member' in v})}
        for kind, values in events:
            member = members.get(values.get('member'))
            if kind == 'recharge':
                Ledger.adjust(member, self.wallet, values['quantity'],
                    values['key'], source=f"member.card,{values['card']}",
                    date=day,
                    description="Wallet recharge at the front desk")
                self.stats['recharges'] += 1
            elif kind == 'pay':
                amount = min(values['amount'],
                    self.available(member, self.wallet, day))
                if amount > 0:
                    Ledger.redeem(member, self.wallet, amount,
                        values['key'], date=day,
                        description="Paid with the wallet")
            elif kind == 'redeem':
                self.redeem(member, day, values)
            elif kind == 'reverse':
                Ledger.reverse(values['source'], values['key'], date=day)
                self.stats['reversals'] += 1

    def available(self, member, type_, day):
        """What member may spend on day: the balance of the lines up to day
        (no demo points are pending nor held)"""
        Ledger = self.pool.get('member.point.ledger')
        balance = Ledger.balance(member, type_, date=day)['balance']
        return balance.quantize(
            Decimal(1).scaleb(-type_.digits), rounding=ROUND_DOWN)

    def redeem(self, member, day, values):
        "Redeem the best affordable reward; some are cancelled next day"
        Ledger = self.pool.get('member.point.ledger')
        available = self.available(member, self.points, day)
        affordable = [r for r in REWARDS if r[0] <= available]
        if not affordable:
            return
        quantity, reward = self.rng.choice(affordable[-2:])
        # the member's own record is the source of a cancellable reward:
        # each member cancels at most one
        source = (f'party.party,{member.id}' if values['cancel']
            and member.id not in self.cancelling else None)
        Ledger.redeem(member, self.points, quantity, values['key'],
            source=source, date=day, description=reward)
        self.stats['redemptions'] += 1
        if source:
            self.cancelling.add(member.id)
            self.add(day + dt.timedelta(days=1), 2, 'reverse',
                source=source, key=f'demo:reward-cancel:{member.id}')

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Demo data of member_pos: a shop at each hotel of the Grand Horizon Club
with its products and payment methods, and a few months of point-of-sale
sales, a third of them to members, some paid with points, a few returned,
the till handed over at the end of each day.

The accounting (chart, fiscal years) is created when the demo has none.
"""
import datetime as dt
import random
import time
from decimal import Decimal

from proteus import Model
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError

PRODUCTS = [
    # name, type, gross price (CNY), extra values
    ("Longjing Green Tea 龙井", 'goods', Decimal('88.00'), {}),
    ("Bund Souvenir Mug", 'goods', Decimal('128.00'), {}),
    ("Silk Scarf", 'goods', Decimal('398.00'), {}),
    ("Breakfast Buffet", 'service', Decimal('168.00'), {}),
    ("Spa Massage 60 min", 'service', Decimal('498.00'), {}),
    ("Spa Visit (count card)", 'service', Decimal('0.00'),
        {'member_count_card': True}),
    ("Member Wallet Top-Up", 'service', Decimal('1.00'),
        {'member_stored_value': True}),
    ]
DAYS = 120


def setup(config, scale):
    Company = Model.get('company.company')
    Programme = Model.get('member.programme')
    company, = Company.find([], limit=1)
    programme, = Programme.find([('code', '=', 'GHC')])
    start = time.monotonic()
    accounts = ensure_accounting(company, config)
    points = setup_shops(company, programme, accounts)
    count = 300 if scale != 'tiny' else 60
    # The load owns the tables it locks (members for the ledger, cash
    # sessions, sequences, journal periods) instead of restarting the
    # transaction for each sale; a lock not foreseen restarts it once
    extras = {'_lock_tables': [
            'party_party', 'sale_point_cash_session', 'ir_sequence',
            'ir_sequence_strict', 'account_journal_period']}
    while True:
        try:
            with Transaction().start(config.database_name, config.user,
                    context=config.context, **extras) as transaction:
                stats = Shop(programme.id, points, random.Random(
                        20261125)).run(count)
                transaction.commit()
            break
        except TransactionError as exception:
            exception.fix(extras)
    print("member_pos: %(sales)s sales (%(members)s to members, "
        "%(points)s paid with points, %(returns)s returns), "
        "%(sessions)s cash sessions" % stats
        + f" in {time.monotonic() - start:.0f}s", flush=True)


def ensure_accounting(company, config):
    "Return the accounts, creating a chart and fiscal years if none"
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences,
    )
    Account = Model.get('account.account')
    FiscalYear = Model.get('account.fiscalyear')
    if not Account.find([('type', '!=', None)], limit=1):
        create_chart(company, config=config)
    today = dt.date.today()
    for year in sorted({(today - dt.timedelta(days=DAYS)).year,
                today.year}):
        if not FiscalYear.find([
                    ('start_date', '<=', dt.date(year, 6, 30)),
                    ('end_date', '>=', dt.date(year, 6, 30)),
                    ]):
            # The calendar year: around a single day, create_fiscalyear
            # would end on 30 November and leave December without period
            fiscalyear = set_fiscalyear_invoice_sequences(
                create_fiscalyear(company,
                    today=(dt.date(year, 1, 1), dt.date(year, 12, 31)),
                    config=config),
                config=config)
            fiscalyear.click('create_period')
    return get_accounts(company, config=config)


def setup_shops(company, programme, accounts):
    """Create the products, payment methods and a shop sale point per
    property; return the ids the sales need"""
    Category = Model.get('product.category')
    Employee = Model.get('company.employee')
    Journal = Model.get('account.journal')
    Location = Model.get('stock.location')
    Method = Model.get('sale.point.payment.method')
    Party = Model.get('party.party')
    POS = Model.get('sale.point')
    PointType = Model.get('member.point.type')
    Property = Model.get('member.property')
    SequenceStrict = Model.get('ir.sequence.strict')
    SequenceType = Model.get('ir.sequence.type')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')

    liabilities = {}
    for key, name, code in [
            ('points', "Points Liability", '2.9.1'),
            ('stored_value', "Member Wallet Liability", '2.9.2')]:
        liabilities[key], = accounts['tax'].duplicate(
            default={'name': name, 'code': code})
    terminal, = accounts['cash'].duplicate(
        default={'name': "Card Terminal", 'code': '1.1.9'})

    category = Category(name="Shop", accounting=True)
    category.account_revenue = accounts['revenue']
    category.commission_rate = Decimal('0.03')
    category.save()
    unit, = Uom.find([('name', '=', 'Unit')])
    products = []
    for name, type_, price, values in PRODUCTS:
        template = Template(name=name, type=type_, default_uom=unit)
        template.salable = True
        template.account_category = category
        template.list_price = price
        template.gross_price = price
        if name.startswith("Spa Massage"):
            template.commission_rate = Decimal('0.10')
        for key, value in values.items():
            setattr(template, key, value)
        template.save()
        products.append(template.products[0].id)

    points, = PointType.find([
            ('programme', '=', programme.id), ('code', '=', 'PTS')])
    wallet, = PointType.find([
            ('programme', '=', programme.id), ('code', '=', 'WAL')])
    cash = Method(name="Cash", account=accounts['cash'], cash=True)
    card = Method(name="Bank Card", account=terminal, code='card')
    points_method = Method(
        name="Points", account=liabilities['points'],
        member_payment='points', point_type=points)
    wallet_method = Method(
        name="Member Wallet", account=liabilities['stored_value'],
        member_payment='stored_value', point_type=wallet)
    Method.save([cash, card, points_method, wallet_method])

    journal, = Journal.find([('type', '=', 'revenue')], limit=1)
    storage, = Location.find([('code', '=', 'STO')])
    customer, = Location.find([('code', '=', 'CUS')])
    sequence_type, = SequenceType.find([('name', '=', "POS")], limit=1)
    points_ids = []
    for property_ in Property.find([('programme', '=', programme.id)]):
        sequence = SequenceStrict(
            name=f"{property_.code} Shop", company=company,
            sequence_type=sequence_type, prefix=f'{property_.code}-',
            padding=5)
        sequence.save()
        pos = POS(name=f"{property_.name} Shop", company=company)
        pos.journal = journal
        pos.sequence = sequence
        pos.storage_location = storage
        pos.return_location = storage
        pos.customer_location = customer
        pos.programme = programme
        pos.property = property_
        pos.receipt_language = 'zh_CN'
        pos.save()
        points_ids.append(pos.id)
    staff = []
    for name in ["Lily Therapist", "Wen Shop Assistant"]:
        party = Party(name=name)
        party.save()
        employee = Employee(party=party, company=company)
        employee.save()
        staff.append(employee.id)
    return {
        'points': points_ids, 'products': products, 'staff': staff,
        'cash': cash.id, 'card': card.id, 'points_method': points_method.id,
        }


class Shop:
    "Sales of the shops, day by day, through the server API"

    def __init__(self, programme_id, ids, rng):
        pool = Pool()
        self.pool = pool
        self.rng = rng
        Method = pool.get('sale.point.payment.method')
        self.points = pool.get('sale.point').browse(ids['points'])
        products = pool.get('product.product').browse(ids['products'])
        # the count-card visit and the top-up need a card: not sold here
        self.products = [p for p in products
            if not p.member_count_card and not p.member_stored_value]
        self.staff = pool.get('company.employee').browse(ids['staff'])
        self.cash = Method(ids['cash'])
        self.card = Method(ids['card'])
        self.points_method = Method(ids['points_method'])
        Party = pool.get('party.party')
        members = Party.search([
                ('programme', '=', programme_id),
                ('member_state', '=', 'member'),
                ])
        self.members = {}
        for member in members:
            self.members.setdefault(member.home_property, []).append(member)
        self.stats = dict.fromkeys(
            ['sales', 'members', 'points', 'returns', 'sessions'], 0)

    def run(self, count):
        today = dt.date.today()
        days = sorted(today - dt.timedelta(days=self.rng.randrange(DAYS))
            for _ in range(count))
        for day in sorted(set(days)):
            for _ in range(days.count(day)):
                self.sell(self.rng.choice(self.points), day)
            self.hand_over()
        return self.stats

    def available(self, member, day):
        """Points the member could spend on day: the history runs to today,
        so lots earned after day are still pending then"""
        Account = self.pool.get('member.point.account')
        accounts = Account.search([
                ('member', '=', member.id),
                ('type', '=', self.points_method.point_type.id),
                ])
        if not accounts:
            return Decimal(0)
        account, = accounts
        pending = Account.get_pending(accounts, 'pending', date=day)
        return account.balance - pending[account.id] - account.held

    def sell(self, point, day):
        pool = self.pool
        Sale = pool.get('sale.point.sale')
        Line = pool.get('sale.point.sale.line')
        rng = self.rng
        member = None
        candidates = self.members.get(point.property)
        if candidates and rng.random() < 0.35:
            member = rng.choice(candidates)
        sale = Sale(point=point, date=day, member=member)
        sale.save()
        lines = []
        for product in rng.sample(self.products, rng.randint(1, 3)):
            line = Line(sale=sale, product=product,
                quantity=rng.choice([1, 1, 1, 2, 3]),
                sales_staff=rng.choice(self.staff + [None]))
            line.on_change_product()
            lines.append(line)
        Line.save(lines)
        sale = Sale(sale.id)
        payments = []
        if member and rng.random() < 0.3:
            available = self.available(member, day)
            points = min(available, Decimal(rng.choice([500, 1000, 2000])))
            amount = self.points_method.points_amount(
                points, sale.currency)
            if 0 < amount < sale.total:
                payments.append((self.points_method, amount, points))
                self.stats['points'] += 1
        self.pay(sale, payments)
        Sale.post([sale])
        self.stats['sales'] += 1
        self.stats['members'] += bool(member)
        if member and rng.random() < 0.05:
            self.give_back(Sale(sale.id), day)

    def pay(self, sale, payments):
        Sale = self.pool.get('sale.point.sale')
        Payment = self.pool.get('sale.point.payment')
        paid = Decimal(0)
        to_save = []
        for method, amount, points in payments:
            to_save.append(Payment(
                    sale=sale, method=method, amount=amount, points=points))
            paid += amount
        method = self.cash if self.rng.random() < 0.4 else self.card
        to_save.append(Payment(
                sale=sale, method=method, amount=sale.total - paid))
        Payment.save(to_save)
        Sale.process([sale])

    def give_back(self, original, day):
        "The member brings back the first line of the sale"
        Sale = self.pool.get('sale.point.sale')
        Line = self.pool.get('sale.point.sale.line')
        back = Sale(point=original.point, date=day, member=original.member,
            return_of=original)
        back.save()
        first = original.lines[0]
        line = Line(sale=back, product=first.product, quantity=-1)
        line.on_change_product()
        line.save()
        back = Sale(back.id)
        payment = self.pool.get('sale.point.payment')(
            sale=back, method=self.cash, amount=back.total)
        payment.save()
        Sale.process([back])
        Sale.post([back])
        self.stats['returns'] += 1

    def hand_over(self):
        "Count the drawer and close the day's sessions"
        Session = self.pool.get('sale.point.cash.session')
        sessions = Session.search([('state', '=', 'open')])
        for session in sessions:
            session.end_amount = session.start_amount + session.balance
        Session.save(sessions)
        Session.close(sessions)
        self.stats['sessions'] += len(sessions)

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Fixtures of the member_pos tests.

Proteus flavour (scenarios): after ``activate_modules('member_pos',
create_company, create_chart)`` call ``setup_member_pos()``; it returns a
``SimpleNamespace`` with:

``company``, ``accounts`` (of ``get_accounts`` plus ``points`` and
``stored_value``: the liability accounts of the member payment methods),
``tax`` (21 %), ``programme`` (tiers ``classic`` level 0 and ``gold``:
10 % discount, points ×1.5), ``shanghai`` (the property of the sale
point), ``points`` (redeemable type, 2 digits, 1 point = 0.10) and
``stored`` (stored-value type in the company currency), ``rule`` (1 point
per 1.00 spent at the POS, rounded down, tier multiplier),
``pos`` (tax included), ``cash``, ``terminal``, ``points_method``,
``stored_method`` (payment methods), ``goods`` (12.00 gross),
``service`` (36.00 gross), ``spa_visit`` (count-card service, 0.00),
``top_up`` (stored-value top-up service, the top-up product of the
point), ``value_card`` (stored-value
card product, PIN required) and ``count_card`` (5 visits card product).

``register_member(ns, name, index)`` registers and approves a member
(phone ``1380013800<index>``); ``issue_card(member, product, pin=None)``
issues and returns an active card; ``top_up(ns, member, amount)`` credits
stored value through a POS sale ("Top Up Stored Value" button) paid in cash
and posted.

Transaction flavour (unit tests): inside ``with_transaction``,
``company = create_company()`` then ``with set_company(company):
ns = create_member_pos(company)`` builds the same (services only, no
taxes) with the pool and returns the same names; test classes mixing in
``MemberPosFixture`` build it once, committed, and share it.
"""
import datetime as dt
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace

from proteus import Model, Wizard
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.company.tests.tools import get_company
from trytond.modules.member_core.tests.fixture import CommittedFixture
from trytond.modules.member_core.tests.tools import (
    ID_NUMBERS,
    create_programme,
    get_property,
)


def setup_member_pos(config=None):
    "Create the accounting, programme and sale point of the POS tests"
    from trytond.modules.account.tests.tools import (
        create_fiscalyear,
        create_tax,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences,
    )

    def get(name):
        return Model.get(name, config=config)

    ns = SimpleNamespace()
    ns.company = company = get_company(config=config)
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(company, config=config), config=config)
    fiscalyear.click('create_period')
    ns.accounts = accounts = get_accounts(company, config=config)
    # Liabilities without party, as the tax account
    accounts['points'], = accounts['tax'].duplicate(
        default={'name': "Points Liability", 'code': '6.3.7'})
    accounts['stored_value'], = accounts['tax'].duplicate(
        default={'name': "Stored Value Liability", 'code': '6.3.8'})
    accounts['terminal'], = accounts['cash'].duplicate(
        default={'name': "Terminal", 'code': '1.1.9'})

    ns.tax = tax = create_tax(Decimal('.21'), config=config)
    tax.save()

    ns.programme = programme = create_programme(
        company=company, config=config)
    ns.shanghai = get_property(programme, 'SH', config=config)
    Tier = get('member.tier')
    ns.classic = Tier(programme=programme, name="Classic", level=0)
    ns.classic.save()
    ns.gold = Tier(
        programme=programme, name="Gold", level=20,
        min_spend=Decimal('100000'),
        discount_rate=Decimal('0.10'), points_multiplier=Decimal('1.5'))
    ns.gold.save()

    PointType = get('member.point.type')
    ns.points = PointType(
        programme=programme, name="Club Points", code='CP',
        kind='redeemable', digits=2, point_value=Decimal('0.10'))
    ns.points.save()
    ns.stored = PointType(
        programme=programme, name="Stored Value", code='SV',
        kind='stored_value')
    ns.stored.currency = company.currency
    ns.stored.digits = 2
    ns.stored.point_value = Decimal(1)
    ns.stored.save()

    Group = get('member.point.rule.group')
    group = Group(
        programme=programme, name="Everyday", combination='stack')
    ns.rule = rule = group.rules.new(name="POS points", type=ns.points)
    rule.kind = 'per_amount'
    rule.rate = Decimal(1)
    rule.rounding = 'down'
    rule.tier_multiplier = True
    rule.channels = ['pos']
    group.save()
    ns.rule, = group.rules

    Category = get('product.category')
    account_category = Category(name="Account Category")
    account_category.accounting = True
    account_category.account_revenue = accounts['revenue']
    account_category.customer_taxes.append(tax)
    account_category.save()
    untaxed_category = Category(name="Untaxed")
    untaxed_category.accounting = True
    untaxed_category.account_revenue = accounts['revenue']
    untaxed_category.save()

    Uom = get('product.uom')
    Template = get('product.template')
    unit, = Uom.find([('name', '=', 'Unit')])

    def product(name, type_, gross_price, category=account_category,
            **values):
        template = Template(name=name, default_uom=unit, type=type_)
        template.salable = True
        template.account_category = category
        template.gross_price = gross_price
        for key, value in values.items():
            setattr(template, key, value)
        template.save()
        return template.products[0]
    ns.goods = product("Tea Set", 'goods', Decimal('12.0000'))
    ns.service = product("Massage", 'service', Decimal('36.0000'))
    ns.spa_visit = product(
        "Spa Visit", 'service', Decimal('0.0000'), untaxed_category,
        member_count_card=True)
    ns.top_up = product(
        "Stored Value Top-Up", 'service', Decimal('1.0000'),
        untaxed_category, member_stored_value=True)

    Journal = get('account.journal')
    Location = get('stock.location')
    SequenceStrict = get('ir.sequence.strict')
    SequenceType = get('ir.sequence.type')
    POS = get('sale.point')
    ns.pos = pos = POS(name="Bund Shop")
    pos.journal, = Journal.find([('type', '=', 'revenue')], limit=1)
    pos.sequence = SequenceStrict(name="Bund Shop", company=company)
    pos.sequence.sequence_type, = SequenceType.find(
        [('name', '=', "POS")], limit=1)
    pos.sequence.save()
    pos.storage_location, = Location.find([('code', '=', 'STO')])
    # sale_point moves returns to the return location only
    pos.return_location = pos.storage_location
    pos.customer_location, = Location.find([('code', '=', 'CUS')])
    pos.programme = programme
    pos.property = ns.shanghai
    pos.top_up_product = ns.top_up
    pos.save()

    Method = get('sale.point.payment.method')
    ns.cash = Method(name="Cash", account=accounts['cash'], cash=True)
    ns.cash.save()
    ns.terminal = Method(name="Terminal", account=accounts['terminal'])
    ns.terminal.code = 'card'
    ns.terminal.save()
    ns.points_method = Method(name="Points", account=accounts['points'])
    ns.points_method.member_payment = 'points'
    ns.points_method.point_type = ns.points
    ns.points_method.save()
    ns.stored_method = Method(
        name="Stored Value", account=accounts['stored_value'])
    ns.stored_method.member_payment = 'stored_value'
    ns.stored_method.point_type = ns.stored
    ns.stored_method.save()

    Sequence = get('ir.sequence')
    card_type, = SequenceType.find([('name', '=', "Member Card")])
    CardProduct = get('member.card.product')

    def card_product(name, code, prefix, kind, **values):
        sequence = Sequence(
            name=name, sequence_type=card_type, padding=7)
        sequence.save()
        product = CardProduct(
            programme=programme, name=name, code=code, kind=kind)
        product.number_prefix = prefix
        product.number_sequence = sequence
        for key, value in values.items():
            setattr(product, key, value)
        product.save()
        return product
    ns.value_card = card_product(
        "Value Card", 'VAL', '7001', 'stored_value', pin_required=True)
    ns.count_card = card_product(
        "Spa 5 Visits", 'SPA5', '7002', 'count', visits=5)
    return ns


def register_member(ns, name, index, config=None):
    "Register and approve a member of the programme at Shanghai"
    Party = Model.get('party.party', config=config)
    member = Party(name=name, programme=ns.programme)
    member.home_property = ns.shanghai
    member.member_phone = f'1380013800{index}'
    member.id_document_type = 'cn_ric'
    member.id_number = ID_NUMBERS[index]
    member.save()
    member.click('approve_member')
    return member


def issue_card(member, product, pin=None, config=None):
    "Issue an active card of product to member"
    Card = Model.get('member.card', config=config)
    issue = Wizard('member.card.issue', [member], config=config)
    issue.form.product = product
    issue.form.reason = "Issued at the shop"
    if pin:
        issue.form.pin_code = pin
    issue.execute('issue')
    card, = Card.find([
            ('member', '=', member.id),
            ('product', '=', product.id),
            ], order=[('id', 'DESC')], limit=1)
    if card.state != 'active':
        activate = Wizard('member.card.activate', [card], config=config)
        activate.form.reason = "Issued at the shop"
        activate.execute('apply')
        card.reload()
    return card


def top_up(ns, member, amount, config=None):
    "Credit stored value to member with a POS top-up sale paid in cash"
    Sale = Model.get('sale.point.sale', config=config)
    sale = Sale(point=ns.pos)
    sale.member = member
    sale.save()
    wizard = sale.click('top_up')
    wizard.form.amount = Decimal(amount)
    wizard.execute('add')
    sale.reload()
    payment = sale.click('pay')
    payment.form.method = ns.cash
    payment.execute('pay')
    sale.click('post')
    return sale


def create_member_pos(company):
    """Transaction flavour: the same set-up with the pool, for unit tests
    (inside ``with_transaction`` and ``set_company(company)``)"""
    from trytond.modules.account.tests.test_module import (
        create_chart,
        get_fiscalyear,
    )
    from trytond.pool import Pool
    pool = Pool()
    Account = pool.get('account.account')
    Category = pool.get('product.category')
    Journal = pool.get('account.journal')
    Location = pool.get('stock.location')
    Method = pool.get('sale.point.payment.method')
    ModelData = pool.get('ir.model.data')
    POS = pool.get('sale.point')
    PointType = pool.get('member.point.type')
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    RuleGroup = pool.get('member.point.rule.group')
    Sequence = pool.get('ir.sequence')
    SequenceStrict = pool.get('ir.sequence.strict')
    Template = pool.get('product.template')
    Tier = pool.get('member.tier')
    Uom = pool.get('product.uom')

    ns = SimpleNamespace()
    ns.company = company
    create_chart(company)
    fiscalyear = get_fiscalyear(company, today=dt.date.today())
    fiscalyear.save()
    fiscalyear.create_period([fiscalyear])
    revenue, = Account.search([
            ('type.revenue', '=', True),
            ('closed', '!=', True),
            ('childs', '=', None),
            ], limit=1)
    cash, = Account.search([('code', '=', '1.1.1')], limit=1)
    tax_account, = Account.search([('code', '=', '6.3.6')], limit=1)
    points_account, = Account.copy([tax_account], {'code': '6.3.7'})
    stored_account, = Account.copy([tax_account], {'code': '6.3.8'})
    ns.accounts = {
        'revenue': revenue, 'cash': cash, 'points': points_account,
        'stored_value': stored_account}

    sequence = Sequence(name="Members", sequence_type=ModelData.get_id(
            'member_core', 'sequence_type_member'))
    sequence.save()
    ns.programme = programme = Programme(
        name="Club", code='C', company=company, member_sequence=sequence)
    programme.save()
    ns.shanghai = Property(programme=programme, code='SH', name="Shanghai")
    ns.shanghai.save()
    ns.classic = Tier(programme=programme, name="Classic", level=0)
    ns.gold = Tier(
        programme=programme, name="Gold", level=20,
        min_spend=Decimal('100000'),
        discount_rate=Decimal('0.10'), points_multiplier=Decimal('1.5'))
    Tier.save([ns.classic, ns.gold])
    ns.points = PointType(
        programme=programme, name="Points", code='CP', kind='redeemable',
        digits=2, point_value=Decimal('0.10'))
    ns.stored = PointType(
        programme=programme, name="Stored Value", code='SV',
        kind='stored_value', currency=company.currency, digits=2,
        point_value=Decimal(1))
    PointType.save([ns.points, ns.stored])
    group, = RuleGroup.create([{
                'programme': programme.id, 'name': "Everyday",
                'combination': 'stack',
                'rules': [('create', [{
                                'name': "POS points", 'type': ns.points.id,
                                'kind': 'per_amount', 'rate': Decimal(1),
                                'rounding': 'down', 'tier_multiplier': True,
                                'channels': ['pos'],
                                }])],
                }])
    ns.rule, = group.rules

    unit, = Uom.search([('name', '=', 'Unit')])
    category = Category(
        name="Services", accounting=True, account_revenue=revenue)
    category.save()

    def product(name, gross_price, **values):
        template, = Template.create([{
                    'name': name, 'default_uom': unit.id,
                    'sale_uom': unit.id,
                    'type': 'service', 'salable': True,
                    'list_price': gross_price,
                    'gross_price': gross_price,
                    'account_category': category.id,
                    'products': [('create', [{}])],
                    **values,
                    }])
        return template.products[0]
    ns.service = product("Massage", Decimal('36.0000'))
    ns.spa_visit = product(
        "Spa Visit", Decimal('0.0000'), member_count_card=True)
    ns.top_up = product(
        "Top-Up", Decimal('1.0000'), member_stored_value=True)

    pos_sequence = SequenceStrict(
        name="POS", company=company, sequence_type=ModelData.get_id(
            'sale_point', 'sequence_type_sale'))
    pos_sequence.save()
    journal, = Journal.search([('type', '=', 'revenue')], limit=1)
    storage, = Location.search([('code', '=', 'STO')])
    customer, = Location.search([('code', '=', 'CUS')])
    ns.pos = POS(
        name="Shop", journal=journal, sequence=pos_sequence,
        storage_location=storage, return_location=storage,
        customer_location=customer,
        programme=programme, property=ns.shanghai,
        top_up_product=ns.top_up)
    ns.pos.save()
    ns.cash = Method(name="Cash", account=cash, cash=True)
    ns.points_method = Method(
        name="Points", account=points_account, member_payment='points',
        point_type=ns.points)
    ns.stored_method = Method(
        name="Stored Value", account=stored_account,
        member_payment='stored_value', point_type=ns.stored)
    Method.save([ns.cash, ns.points_method, ns.stored_method])
    return ns


class MemberPosFixture(CommittedFixture):
    """Mixin of unittest.TestCase: ``create_member_pos`` built once for the
    class; ``with self.member_pos() as ns`` in a test yields it in the
    company's context. Extend ``setUpFixture`` to add records."""
    module = 'member_pos'

    @classmethod
    def setUpFixture(cls):
        company = create_company()
        with set_company(company):
            return create_member_pos(company)

    @contextmanager
    def member_pos(self):
        # records read their context when made: thaw them in the company's
        with set_company(self.fixture().company):
            yield self.fixture()

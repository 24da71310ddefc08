# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Demo data of member_core: a hotel group programme with three hotels,
four tiers, staff users and about a thousand members with cards,
referrals and tier history."""
import datetime as dt
import random
from decimal import Decimal

from stdnum.cn import ric

from proteus import Model
from trytond.pool import Pool
from trytond.transaction import Transaction

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍鹏辉建华俊飞红梅鑫波宁晨阳琳雪婷浩宇欣怡子涵梓轩一诺思雨"  # noqa: E501
PROPERTIES = [
    ('SHB', "Shanghai Bund Hotel", 'hotel'),
    ('BJW', "Beijing Wangfujing Hotel", 'hotel'),
    ('HZW', "Hangzhou West Lake Resort", 'hotel'),
    ]
AREA_CODES = ['310101', '310104', '110105', '110101', '330102', '440104']
CHANNELS = [
    'front_desk', 'front_desk', 'front_desk', 'website', 'wechat',
    'wechat', 'phone', 'qr_campaign', 'import']


def resident_id(rng, birthday):
    "A valid resident identity number (area assigned in the birth year)"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    while True:
        body = (rng.choice(AREA_CODES) + birthday.strftime('%Y%m%d')
            + f'{rng.randrange(1000):03d}')
        total = sum(int(d) * w for d, w in zip(body, weights))
        number = body + '10X98765432'[total % 11]
        if ric.is_valid(number):
            return number


def get_or_create_users(config, company, properties, extra=()):
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Company = Model.get('company.company')
    Property = Model.get('member.property')
    groups = {g.name: g.id for g in Group.find([('name', 'in', [
                    "Property Staff", "Member Services", "Salesperson",
                    "Member Administrator", "Member ID Number Viewer",
                    "Sales Manager"])])}
    specs = [
        ('services', "Mei Services", ["Member Services",
                "Member ID Number Viewer"], properties),
        ('memberadmin', "Jun Administrator", ["Member Administrator",
                "Member ID Number Viewer"], properties),
        ]
    for prop in properties:
        code = prop.code.lower()
        specs.append((f'desk_{code}', f"Front Desk {prop.code}",
                ["Property Staff"], [prop]))
        specs.append((f'sales_{code}', f"Sales {prop.code}",
                ["Salesperson"], [prop]))
    if extra:
        specs = [(login, name, group_names, properties)
            for login, name, group_names in extra]
    users = {}
    for login, name, group_names, props in specs:
        existing = User.find([('login', '=', login)])
        if existing:
            users[login], = existing
            continue
        user = User(login=login, name=name)
        user.password = 'demo-' + login
        user.groups.extend(Group(groups[g]) for g in group_names)
        user.member_properties.extend(Property(p.id) for p in props)
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.save()
        users[login] = user
    return users


def setup(config, scale):
    rng = random.Random(20261123)
    Company = Model.get('company.company')
    Programme = Model.get('member.programme')
    Property = Model.get('member.property')
    Party = Model.get('party.party')
    Sequence = Model.get('ir.sequence')
    SequenceType = Model.get('ir.sequence.type')

    company, = Company.find([], limit=1)
    sequence_type, = SequenceType.find([('name', '=', "Member")])
    sequence = Sequence(
        name="Grand Horizon Members", sequence_type=sequence_type,
        prefix='GH', padding=7, company=company)
    sequence.save()
    programme = Programme(
        name="Grand Horizon Club", code='GHC', company=company,
        member_sequence=sequence, phone_region='CN')
    programme.save()
    for code, name, kind in PROPERTIES:
        Property(programme=programme, code=code, name=name, kind=kind).save()
    properties = Property.find([('programme', '=', programme.id)])
    users = get_or_create_users(config, company, properties)
    salespeople = [u for login, u in users.items()
        if login.startswith('sales_')]

    count = 1000 if scale != 'tiny' else 100
    today = dt.date.today()
    members = []
    for i in range(count):
        birthday = dt.date(1955, 1, 1) + dt.timedelta(
            days=rng.randrange(365 * 50))
        member = Party(name=rng.choice(SURNAMES) + ''.join(
                rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))))
        member.programme = programme
        member.home_property = Property(rng.choice(properties).id)
        member.source_channel = rng.choice(CHANNELS)
        member.salesperson = rng.choice(salespeople + [None])
        member.join_date = today - dt.timedelta(days=rng.randrange(730))
        member.birthday = birthday
        member.gender = rng.choice(['female', 'male'])
        member.member_phone = f'+86139{i:08d}'
        if rng.random() < 0.6:
            member.member_email = f'member{i}@example.com'
        member.id_document_type = 'cn_ric'
        member.id_number = resident_id(rng, birthday)
        member.consent_sms = rng.random() < 0.7
        member.consent_email = rng.random() < 0.5
        member.consent_wechat = rng.random() < 0.6
        member.pref_room_type = rng.choice(
            [None, 'standard', 'deluxe', 'suite', 'family'])
        member.pref_floor = rng.choice([None, 'low', 'middle', 'high'])
        member.pref_pillow = rng.choice([None, 'soft', 'firm', 'buckwheat'])
        member.pref_smoking = 'non_smoking'
        member.pref_baby_cot = rng.random() < 0.05
        members.append(member)
    Party.save(members)
    with Transaction().start(config.database_name, config.user,
            context=config.context) as transaction:
        create_tiers(Pool().get('member.programme')(programme.id))
        transaction.commit()
    # Most members were approved by member services; some wait
    approved = [m for m in members if rng.random() < 0.92]
    for start in range(0, len(approved), 200):
        Party.click(approved[start:start + 200], 'approve_member')
    Party.click(approved[:5], 'suspend_member')
    manager = get_or_create_users(config, company, properties, extra=[
            ('salesmgr', "Hua Sales Manager", ["Sales Manager"])])['salesmgr']
    on_server(config, programme.id, [m.id for m in approved[5:]],
        users['services'].id, manager.id, rng)


def on_server(config, programme_id, member_ids, services_id, manager_id,
        rng):
    "Cards, tiers, metrics and referrals through the server API (fast)"
    with Transaction().start(config.database_name, config.user,
            context=config.context) as transaction:
        pool = Pool()
        Party = pool.get('party.party')
        Programme = pool.get('member.programme')
        programme = Programme(programme_id)
        members = Party.browse(member_ids)
        create_cards(programme, members, rng)
        record_metrics(members, rng)
        pool.get('member.tier').review()
        create_referrals(programme, members, rng, services_id, manager_id)
        transaction.commit()


def create_tiers(programme):
    Tier = Pool().get('member.tier')
    Tier.create([{
                'programme': programme.id, 'name': name, 'level': level,
                'qualification': 'any', 'min_spend': spend,
                'min_stays': stays, 'grace_days': 90,
                'discount_rate': discount, 'points_multiplier': multiplier,
                'benefits': benefits,
                } for level, name, spend, stays, discount, multiplier,
            benefits in [
                (0, "Classic", None, None, Decimal(0), Decimal(1),
                    "Member rates, free Wi-Fi"),
                (10, "Silver", Decimal(5000), 5, Decimal('0.05'),
                    Decimal('1.2'), "Late checkout 13:00, welcome drink"),
                (20, "Gold", Decimal(20000), 15, Decimal('0.10'),
                    Decimal('1.5'),
                    "Late checkout 14:00, room upgrade when available, "
                    "lounge access"),
                (30, "Diamond", Decimal(60000), 40, Decimal('0.15'),
                    Decimal(2),
                    "Late checkout 16:00, suite upgrade, dedicated host"),
                ]])


def create_cards(programme, members, rng):
    pool = Pool()
    Product = pool.get('member.card.product')
    Card = pool.get('member.card')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    sequence, = Sequence.create([{
                'name': "Grand Horizon Cards", 'padding': 8,
                'sequence_type': ModelData.get_id(
                    'member_core', 'sequence_type_member_card'),
                }])
    products = Product.create([{
                'programme': programme.id, 'name': name, 'code': code,
                'kind': kind, 'validity_months': validity, 'visits': visits,
                'number_prefix': prefix, 'number_sequence': sequence.id,
                } for name, code, kind, validity, visits, prefix in [
                ("Club Card", 'CLUB', 'points', None, None, '8801'),
                ("Stored Value Card", 'SV', 'stored_value', None, None,
                    '8802'),
                ("Spa 10 Visits", 'SPA10', 'count', 12, 10, '8803'),
                ("Annual Dining Card", 'DINE', 'annual', 12, None, '8804'),
                ]])
    club, stored, spa, dining = products
    for member in members:
        card = Card.issue(member, club, "Welcome pack",
            medium=rng.choice(['ic', 'virtual_qr']))
        if rng.random() < 0.03:
            Card.report_lost([card], "Guest reported the card lost")
            Card.replace(card, "Replacement at the front desk")
        if rng.random() < 0.08:
            Card.issue(member, stored, "Bought at the front desk",
                medium='ic')
        if rng.random() < 0.05:
            spa_card = Card.issue(member, spa, "Spa package", medium='ic')
            Card.consume_visits(spa_card, rng.randint(1, 6),
                reason="Spa visit")
        if rng.random() < 0.05:
            Card.issue(member, dining, "Dining membership", medium='ic')


def record_metrics(members, rng):
    Metric = Pool().get('member.tier.metric')
    today = dt.date.today()
    values = []
    for member in members:
        stays = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 30, 45])
        for stay in range(stays):
            date = today - dt.timedelta(days=rng.randrange(700))
            key = f'demo:stay:{member.id}:{stay}'
            values.append({'member': member, 'kind': 'stays',
                    'quantity': Decimal(1), 'date': date, 'key': key})
            values.append({'member': member, 'kind': 'spend',
                    'quantity': Decimal(rng.randrange(600, 4000)),
                    'date': date, 'key': key + ':spend'})
    for start in range(0, len(values), 2000):
        Metric.record_many(values[start:start + 2000])


def create_referrals(programme, members, rng, services_id, manager_id):
    Referral = Pool().get('member.referral')
    pairs = list(zip(members[0::2], members[1::2]))[:60]
    referrals = Referral.create([{
                'programme': programme.id, 'referrer': a.id,
                'referee': b.id} for a, b in pairs])
    Referral.request(referrals)
    approved = referrals[:50]
    with Transaction().set_user(manager_id):
        Referral.first_approve(approved)
    with Transaction().set_user(services_id):
        Referral.approve(approved[:45])

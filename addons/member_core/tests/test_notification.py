# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import contextlib
import unittest
from decimal import Decimal

from sql.aggregate import Max

from trytond import backend
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.member_core.tests.test_card import count_queries
from trytond.modules.member_core.tests.test_tier import (
    STANDARD,
    TODAY,
    create_programme,
)
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

GATEWAY_LOGGER = 'trytond.modules.member_core.notification'


def create_members(programme, consents):
    """Create approved members with their initial tier; consents is a list
    of (consent_sms, consent_email, with contacts)"""
    pool = Pool()
    Party = pool.get('party.party')
    Tier = pool.get('member.tier')
    values = []
    # Phones and emails are unique in the programme
    offset = Party.search([], count=True)
    for i, (sms, email, contacts) in enumerate(consents, offset):
        values.append({
                'name': f"Member {i}",
                'programme': programme.id,
                'home_property': programme.properties[0].id,
                'member_state': 'member',
                'consent_sms': sms,
                'consent_email': email,
                'member_phone': f'1380013{i:04d}' if contacts else None,
                'member_email': f'm{i}@example.com' if contacts else None,
                })
    members = Party.create(values)
    Tier.update_members(members, date=TODAY)
    return Party.browse([m.id for m in members])


def insert_histories(members, from_tier, to_tier, reason='upgrade'):
    "Insert history rows by SQL as the review does; return the last id"
    pool = Pool()
    History = pool.get('member.tier.history')
    history = History.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*history.select(Max(history.id)))
    last_id = cursor.fetchone()[0] or 0
    cursor.execute(*history.insert(
            [history.member, history.from_tier, history.to_tier,
                history.reason, history.date],
            [[m.id, from_tier.id if from_tier else None,
                    to_tier.id if to_tier else None, reason, TODAY]
                for m in members]))
    return last_id


def by_member(messages):
    "Return {(member id, channel): [states]}"
    result = {}
    for message in messages:
        result.setdefault(
            (message.member.id, message.channel), []).append(message.state)
    return result


class NotificationTestCase(unittest.TestCase):
    "Test member notifications"

    @classmethod
    def setUpClass(cls):
        activate_module('member_core')

    def setup_programme(self):
        pool = Pool()
        Tier = pool.get('member.tier')
        company = create_company()
        programme = create_programme(company, 'N', tiers=STANDARD)
        classic, silver, _ = Tier.search(
            [('programme', '=', programme.id)], order=[('level', 'ASC')])
        return company, programme, classic, silver

    @with_transaction()
    def test_queue_tier_changes_set_based(self):
        "Tier changes queue one message per channel in constant queries"
        pool = Pool()
        Message = pool.get('member.message')
        company, programme, classic, silver = self.setup_programme()
        consents = [
            (True, True, True), (True, False, True), (False, True, True),
            (False, False, True), (True, True, False)]
        with set_company(company):
            # Warm the caches of the translated refusals
            warm = create_members(programme, consents[:1])
            Message.queue_tier_changes(
                lambda h: h.id > insert_histories(warm, classic, silver))
            counts = []
            for size in [1, 4]:
                members = create_members(programme, consents * size)
                last_id = insert_histories(members, classic, silver)
                # Neither a first tier nor an unchanged tier is a change
                insert_histories(members, None, classic, reason='initial')
                insert_histories(members, silver, silver)
                # Statements are counted on SQLite
                counter = (count_queries() if backend.name == 'sqlite'
                    else contextlib.nullcontext([]))
                with counter as statements:
                    Message.queue_tier_changes(lambda h: h.id > last_id)
                counts.append(len(statements))

                messages = Message.search([
                        ('member', 'in', [m.id for m in members]),
                        ])
                self.assertEqual(len(messages), 2 * len(members))
                states = by_member(messages)
                for member, (sms, email, contacts) in zip(
                        members, consents * size):
                    self.assertEqual(states[member.id, 'sms'], [
                            'pending' if sms and contacts else 'skipped'])
                    self.assertEqual(states[member.id, 'email'], [
                            'pending' if email and contacts else 'skipped'])
                self.assertTrue(all(
                        m.kind == 'tier_change'
                        and m.reference.startswith('tier-history:')
                        and m.origin.to_tier == silver
                        for m in messages))
                skipped, = [m for m in messages
                    if m.member == members[-1] and m.channel == 'sms']
                self.assertEqual(
                    skipped.error,
                    'Skipped: the member has no mobile phone.')

                # Idempotent
                Message.queue_tier_changes(lambda h: h.id > last_id)
                self.assertEqual(Message.search([
                            ('member', 'in', [m.id for m in members]),
                            ], count=True), 2 * len(members))
        if backend.name == 'sqlite':
            self.assertEqual(counts, [2, 2])

    @with_transaction()
    def test_orm_history_queues(self):
        "History rows created by the ORM queue their tier change"
        pool = Pool()
        History = pool.get('member.tier.history')
        Message = pool.get('member.message')
        company, programme, classic, silver = self.setup_programme()
        with set_company(company):
            member, = create_members(programme, [(True, False, True)])
            history = History.add(
                member, classic, silver, 'override', TODAY, "VIP")
            History.add(member, None, classic, 'initial', TODAY)
            messages = Message.search([('member', '=', member.id)])
            self.assertEqual(
                sorted((m.channel, m.state, m.reference) for m in messages),
                [('email', 'skipped', f'tier-history:{history.id}'),
                    ('sms', 'pending', f'tier-history:{history.id}')])

    @with_transaction()
    def test_metric_upgrade_queues(self):
        "The sender cron queues the SMS of an upgrade by a metric"
        pool = Pool()
        Metric = pool.get('member.tier.metric')
        Message = pool.get('member.message')
        company, programme, _, silver = self.setup_programme()
        with set_company(company):
            member, = create_members(programme, [(True, False, True)])
            Metric.record(member, 'spend', Decimal('500'))
            Message.queue_recent_tier_changes()
            Message.queue_recent_tier_changes()
            sms, = Message.search([
                    ('member', '=', member.id), ('channel', '=', 'sms')])
            self.assertEqual(sms.state, 'pending')
            self.assertEqual(sms.origin.to_tier, silver)

    @with_transaction()
    def test_send_pending_once(self):
        "A pending message is sent once and the SMS text rendered"
        pool = Pool()
        Message = pool.get('member.message')
        company, programme, classic, silver = self.setup_programme()
        with set_company(company):
            member, = create_members(programme, [(True, False, True)])
            Message.queue_tier_changes(
                lambda h: h.id > insert_histories([member], classic, silver))
            sms, = Message.search([
                    ('member', '=', member.id), ('state', '=', 'pending')])
            with self.assertLogs(GATEWAY_LOGGER, 'INFO') as logs:
                Message._send_pending(sms.id)
                Message._send_pending(sms.id)
                Message.send_sms(member, "Hello")
            self.assertEqual(len(logs.output), 2)
            sms = Message(sms.id)
            self.assertEqual(sms.state, 'sent')
            self.assertEqual(
                sms.text, f"Dear {member.name}, your N tier is now Silver.")

    @with_transaction()
    def test_send_pending_refused(self):
        "Consent withdrawn after queueing skips; no gateway fails"
        pool = Pool()
        Message = pool.get('member.message')
        Party = pool.get('party.party')
        company, programme, classic, silver = self.setup_programme()
        with set_company(company):
            member, = create_members(programme, [(True, True, True)])
            Message.queue_tier_changes(
                lambda h: h.id > insert_histories([member], classic, silver))
            sms, = Message.search([
                    ('member', '=', member.id), ('channel', '=', 'sms')])
            Party.write([member], {
                    'consent_sms': False, 'consent_wechat': True})
            wechat, = Message.create([{
                        'member': member.id, 'channel': 'wechat',
                        'kind': 'other', 'state': 'pending',
                        }])
            Message._send_pending(sms.id)
            Message._send_pending(wechat.id)
            sms, wechat = Message.browse([sms.id, wechat.id])
            self.assertEqual(
                (sms.state, sms.error),
                ('skipped',
                    'Skipped: the member has not consented to SMS messages.'))
            self.assertEqual(
                (wechat.state, wechat.error),
                ('failed',
                    'Failed: messages cannot be sent on the WeChat channel.'))


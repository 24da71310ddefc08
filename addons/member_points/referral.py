# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Points for referrals: when a referral is approved, the referrer and the
referee earn the quantities set for the programme, once (keys
``referral:<id>:referrer`` and ``referral:<id>:referee``)."""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from .exceptions import RequestValidationError


class ReferralReward(ModelSQL, ModelView):
    __name__ = 'member.point.referral.reward'
    __string__ = "Referral Reward"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    type = fields.Many2One(
        'member.point.type', "Type", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))])
    referrer_quantity = fields.Numeric(
        "Referrer Quantity", digits='type', required=True,
        domain=[('referrer_quantity', '>=', 0)],
        help="Earned by the member who referred the new member.")
    referee_quantity = fields.Numeric(
        "Referee Quantity", digits='type', required=True,
        domain=[('referee_quantity', '>=', 0)],
        help="Earned by the new member.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('programme_unique', Unique(t, t.programme),
                'member_points.msg_referral_reward_unique'),
            ]

    def get_rec_name(self, name):
        return f'{self.programme.rec_name} - {self.type.rec_name}'

    @classmethod
    def validate_fields(cls, rewards, field_names):
        super().validate_fields(rewards, field_names)
        for reward in rewards:
            for name in ['referrer_quantity', 'referee_quantity']:
                quantity = getattr(reward, name)
                if quantity:
                    reward.type.check_quantity(
                        quantity, field=cls.__names__(name)['field'])
            if not (reward.referrer_quantity or reward.referee_quantity):
                raise RequestValidationError(gettext(
                        'member_points.msg_referral_reward_empty',
                        reward=reward.rec_name))

    @classmethod
    def get_reward(cls, programme):
        "Return the reward of the programme or None"
        rewards = cls.search([('programme', '=', programme.id)], limit=1)
        if rewards:
            return rewards[0]


class Referral(metaclass=PoolMeta):
    __name__ = 'member.referral'

    @classmethod
    def on_approved(cls, referrals):
        super().on_approved(referrals)
        cls.award_points(referrals)

    @classmethod
    def award_points(cls, referrals):
        """Credit the referrer and the referee of each referral with the
        reward of its programme; a referral is awarded once."""
        pool = Pool()
        Date = pool.get('ir.date')
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        Reward = pool.get('member.point.referral.reward')
        to_award = []
        for referral in referrals:
            reward = Reward.get_reward(referral.programme)
            if reward:
                to_award.append((referral, reward))
        if not to_award:
            return
        Party.lock(sorted({m.id for r, _ in to_award
                    for m in [r.referrer, r.referee]}))
        for referral, reward in to_award:
            date = (referral.approval_date.date()
                if referral.approval_date else Date.today())
            for role, member, quantity in [
                    ('referrer', referral.referrer,
                        reward.referrer_quantity),
                    ('referee', referral.referee,
                        reward.referee_quantity),
                    ]:
                if quantity:
                    Ledger.earn(
                        member, reward.type, quantity,
                        f'referral:{referral.id}:{role}',
                        source=referral, date=date,
                        description=gettext(
                            f'member_points.msg_referral_{role}_points',
                            referral=referral.rec_name))

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .exceptions import MemberAccessError, MemberValidationError

STATES = [
    ('draft', "Draft"),
    ('requested', "Requested"),
    ('first_approved', "First Approved"),
    ('approved', "Approved"),
    ('rejected', "Rejected"),
    ]
# Referrals that count for the one-referrer and no-cycle rules
LIVE_STATES = ['draft', 'requested', 'first_approved', 'approved']


class Referral(Workflow, ModelSQL, ModelView):
    __name__ = 'member.referral'
    __string__ = "Member Referral"

    _draft = Eval('state') != 'draft'

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='RESTRICT',
        states={'readonly': _draft})
    referrer = fields.Many2One(
        'party.party', "Referrer", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft},
        help="The member who brought the new member.")
    referee = fields.Many2One(
        'party.party', "Referee", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft},
        help="The new member who was referred.")
    date = fields.Date(
        "Date", required=True, states={'readonly': _draft})
    state = fields.Selection(STATES, "State", readonly=True, required=True)
    state_string = state.translated('state')
    first_approved_by = fields.Many2One(
        'res.user', "First Approved By", readonly=True)
    first_approval_date = fields.Timestamp(
        "First Approval Date", readonly=True)
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approval_date = fields.Timestamp("Approval Date", readonly=True)
    note = fields.Text("Note")

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.referee, Index.Equality())),
                Index(t, (t.referrer, Index.Equality())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'requested'),
            ('requested', 'first_approved'),
            ('first_approved', 'approved'),
            ('requested', 'rejected'),
            ('first_approved', 'rejected'),
            ('requested', 'draft'),
            ('rejected', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['requested', 'rejected']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'request': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'first_approve': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'first_approved',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': ~Eval('state').in_(
                        ['requested', 'first_approved']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return f'{self.referrer.rec_name} → {self.referee.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('referrer.rec_name', *clause[1:]),
            ('referee.rec_name', *clause[1:]),
            ]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for referral in records:
                if referral.state != 'draft':
                    raise MemberAccessError(gettext(
                            'member_core.msg_referral_delete_draft',
                            referral=referral.rec_name,
                            state=referral.state_string))

    @classmethod
    def validate_fields(cls, referrals, field_names):
        super().validate_fields(referrals, field_names)
        if field_names and not (
                field_names & {'referrer', 'referee', 'state'}):
            return
        live = [r for r in referrals if r.state in LIVE_STATES]
        cls.check_self_referral(live)
        cls.check_single_referrer(live)
        cls.check_circular(live)

    @classmethod
    def check_self_referral(cls, referrals):
        for referral in referrals:
            if referral.referrer == referral.referee:
                raise MemberValidationError(gettext(
                        'member_core.msg_referral_self',
                        member=referral.referrer.rec_name))

    @classmethod
    def check_single_referrer(cls, referrals):
        "Raise if a referee has another live referral or another referrer"
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        for referral in referrals:
            referee = referral.referee
            if (referee.referred_by
                    and referee.referred_by != referral.referrer):
                raise MemberValidationError(gettext(
                        'member_core.msg_referral_already_referred',
                        referee=referee.rec_name,
                        referrer=referee.referred_by.rec_name))
            cursor.execute(*table.select(
                    table.referrer,
                    where=(table.referee == referee.id)
                    & (table.id != referral.id)
                    & table.state.in_(LIVE_STATES),
                    limit=1))
            row = cursor.fetchone()
            if row:
                raise MemberValidationError(gettext(
                        'member_core.msg_referral_already_referred',
                        referee=referee.rec_name,
                        referrer=referee.__class__(row[0]).rec_name))

    @classmethod
    def check_circular(cls, referrals):
        for referral in referrals:
            ancestors = cls.get_ancestors(
                [referral.referrer.id], exclude=[referral.id])
            if referral.referee.id in ancestors:
                raise MemberValidationError(gettext(
                        'member_core.msg_referral_circular',
                        referrer=referral.referrer.rec_name,
                        referee=referral.referee.rec_name))

    @classmethod
    def get_ancestors(cls, member_ids, exclude=None):
        """Return the ids of the members who referred member_ids, directly or
        through others, over live referrals (except those in exclude).

        One query per generation; stops on a cycle already in the data.
        """
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        in_ = fields.SQL_OPERATORS['in']
        where = table.state.in_(LIVE_STATES)
        if exclude:
            where &= ~in_(table.id, exclude)
        ancestors = set()
        frontier = set(member_ids)
        while frontier:
            found = set()
            for sub_ids in grouped_slice(frontier, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.select(
                        table.referrer,
                        where=where & in_(table.referee, sub_ids)))
                found.update(r for r, in cursor)
            frontier = found - ancestors
            ancestors |= found
        return ancestors

    @classmethod
    def _check_group(cls, referrals, groups, message):
        pool = Pool()
        User = pool.get('res.user')
        if not any(User.in_group(g) for g in groups):
            raise MemberAccessError(gettext(
                    message, referral=referrals[0].rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, referrals):
        cls.write(referrals, {
                'first_approved_by': None,
                'first_approval_date': None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('requested')
    def request(cls, referrals):
        pool = Pool()
        Party = pool.get('party.party')
        Party.write(
            [r.referee for r in referrals if not r.referee.source_channel],
            {'source_channel': 'referral'})

    @classmethod
    @ModelView.button
    @Workflow.transition('first_approved')
    def first_approve(cls, referrals):
        if not referrals:
            return
        cls._check_group(
            referrals, ['group_sales_manager', 'group_member_admin'],
            'member_core.msg_referral_first_approver_group')
        cls.write(referrals, {
                'first_approved_by': Transaction().user,
                'first_approval_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('approved')
    def approve(cls, referrals):
        pool = Pool()
        User = pool.get('res.user')
        if not referrals:
            return
        cls._check_group(
            referrals, ['group_member_services', 'group_member_admin'],
            'member_core.msg_referral_approver_group')
        user = Transaction().user
        for referral in referrals:
            if referral.first_approved_by and (
                    referral.first_approved_by.id == user):
                raise MemberAccessError(gettext(
                        'member_core.msg_referral_same_approver',
                        referral=referral.rec_name,
                        user=User(user).rec_name))
        cls.write(referrals, {
                'approved_by': user,
                'approval_date': dt.datetime.now(),
                })
        cls.on_approved(referrals)

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, referrals):
        pass

    @classmethod
    def on_approved(cls, referrals):
        """Event fired once referrals reach the approved state.

        Core records who referred each referee in party.referred_by; higher
        modules extend it (e.g. member_points awards points to both members)
        and must call super().
        """
        pool = Pool()
        Party = pool.get('party.party')
        to_write = []
        for referral in referrals:
            to_write.extend(
                ([referral.referee], {'referred_by': referral.referrer.id}))
        if to_write:
            Party.write(*to_write)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    referred_by = fields.Many2One(
        'party.party', "Referred By", readonly=True, ondelete='SET NULL',
        states={'invisible': ~Eval('programme')},
        help="The member whose approved referral brought this member.")
    referrals = fields.One2Many(
        'member.referral', 'referrer', "Referrals", readonly=True)

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('referred_by', None)
        default.setdefault('referrals', None)
        return super().copy(parties, default=default)

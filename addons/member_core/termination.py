# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import MemberAccessError, MemberError

KINDS = [
    ('terminate', "Terminate"),
    ('restore', "Restore"),
    ]
REASONS = [
    ('member_request', "Member Request"),
    ('moved', "Moved Away"),
    ('dissatisfied', "Dissatisfied"),
    ('duplicate', "Duplicate Membership"),
    ('misconduct', "Misconduct"),
    ('deceased', "Deceased"),
    ('returning', "Returning Member"),
    ('error', "Made in Error"),
    ('other', "Other"),
    ]
# The member states from which each kind of request may start
KIND_MEMBER_STATES = {
    'terminate': {'member', 'suspended'},
    'restore': {'terminated'},
    }


class Termination(Workflow, ModelSQL, ModelView):
    __name__ = 'member.termination'
    __string__ = "Member Termination"

    _requested = Eval('state') != 'requested'

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '!=', None)],
        states={'readonly': _requested})
    kind = fields.Selection(
        KINDS, "Kind", required=True, states={'readonly': _requested})
    kind_string = kind.translated('kind')
    reason = fields.Selection(
        REASONS, "Reason", required=True, states={'readonly': _requested})
    reason_text = fields.Text(
        "Reason Details", states={'readonly': _requested})
    requested_by = fields.Many2One(
        'res.user', "Requested By", readonly=True)
    request_date = fields.Timestamp("Request Date", readonly=True)
    state = fields.Selection([
            ('requested', "Requested"),
            ('approved', "Approved"),
            ('rejected', "Rejected"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True)
    approved_by = fields.Many2One(
        'res.user', "Decided By", readonly=True,
        help="The user who approved or rejected the request.")
    approval_date = fields.Timestamp("Decision Date", readonly=True)

    del _requested

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.member, Index.Equality())))
        cls._order = [('request_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('requested', 'approved'),
            ('requested', 'rejected'),
            ('requested', 'cancelled'),
            }
        cls._buttons.update({
                'approve': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'requested',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'requested'

    @classmethod
    def default_kind(cls):
        return 'terminate'

    @classmethod
    def default_requested_by(cls):
        return Transaction().user

    @classmethod
    def default_request_date(cls):
        return dt.datetime.now()

    def get_rec_name(self, name):
        return f'{self.kind_string} {self.member.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('member.rec_name', *clause[1:])]

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            # The request records who asked, not what the client claims
            values['requested_by'] = Transaction().user
            values['request_date'] = dt.datetime.now()
        return values

    @classmethod
    def validate_fields(cls, requests, field_names):
        super().validate_fields(requests, field_names)
        if field_names and not (field_names & {'member', 'kind', 'state'}):
            return
        cls.check_member_state(
            [r for r in requests if r.state == 'requested'])
        cls.check_pending(requests)

    @classmethod
    def check_member_state(cls, requests):
        for request in requests:
            member = request.member
            if member.member_state not in KIND_MEMBER_STATES[request.kind]:
                state = dict(member.fields_get(['member_state'])[
                        'member_state']['selection']).get(
                    member.member_state)
                raise MemberError(gettext(
                        'member_core.msg_termination_member_state',
                        member=member.rec_name, state=state or '',
                        kind=request.kind_string))

    @classmethod
    def check_pending(cls, requests):
        members = {r.member for r in requests if r.state == 'requested'}
        if not members:
            return
        pending = cls.search([
                ('member', 'in', [m.id for m in members]),
                ('state', '=', 'requested'),
                ])
        seen = set()
        for request in pending:
            if request.member in seen:
                raise MemberError(gettext(
                        'member_core.msg_termination_pending',
                        member=request.member.rec_name))
            seen.add(request.member)

    @classmethod
    def _check_decider(cls, requests, own=True):
        pool = Pool()
        User = pool.get('res.user')
        if not (User.in_group('group_member_services')
                or User.in_group('group_member_admin')):
            raise MemberAccessError(gettext(
                    'member_core.msg_termination_approver_group',
                    request=requests[0].rec_name))
        user = Transaction().user
        for request in requests:
            if own and request.requested_by and (
                    request.requested_by.id == user):
                raise MemberAccessError(gettext(
                        'member_core.msg_termination_own_request',
                        request=request.rec_name,
                        user=User(user).rec_name))

    @classmethod
    def _decide(cls, requests):
        cls.write(requests, {
                'approved_by': Transaction().user,
                'approval_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('approved')
    def approve(cls, requests):
        pool = Pool()
        Party = pool.get('party.party')
        if not requests:
            return
        cls._check_decider(requests)
        cls.check_member_state(requests)
        Party.terminate_member(
            [r.member for r in requests if r.kind == 'terminate'])
        Party.restore_member(
            [r.member for r in requests if r.kind == 'restore'])
        cls._decide(requests)

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, requests):
        if not requests:
            return
        cls._check_decider(requests, own=False)
        cls._decide(requests)

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, requests):
        pass


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    terminations = fields.One2Many(
        'member.termination', 'member', "Termination Requests",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'request_termination_wizard': {
                    'invisible': ~Eval('member_state').in_(
                        list(KIND_MEMBER_STATES['terminate'])),
                    'depends': ['member_state'],
                    },
                'request_restore_wizard': {
                    'invisible': ~Eval('member_state').in_(
                        list(KIND_MEMBER_STATES['restore'])),
                    'depends': ['member_state'],
                    },
                })

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('terminations', None)
        return super().copy(parties, default=default)

    @classmethod
    @ModelView.button_action('member_core.wizard_termination_request')
    def request_termination_wizard(cls, parties):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_restore_request')
    def request_restore_wizard(cls, parties):
        pass

    @classmethod
    @Workflow.transition('terminated')
    def terminate_member(cls, parties):
        """Terminate the members; only approved termination requests call
        this. Afterwards check_member_usable() refuses them."""
        pass

    @classmethod
    @Workflow.transition('member')
    def restore_member(cls, parties):
        "Make terminated members members again; called by approved restores"
        pass


class RequestTerminationStart(ModelView):
    __name__ = 'member.termination.request.start'
    __string__ = "Request Member Termination"

    kind = fields.Selection(KINDS, "Kind", readonly=True)
    reason = fields.Selection(REASONS, "Reason", required=True)
    reason_text = fields.Text("Reason Details")


class RequestTermination(Wizard):
    "Request Member Termination"
    __name__ = 'member.termination.request'
    _kind = 'terminate'

    start = StateView(
        'member.termination.request.start',
        'member_core.termination_request_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request", 'request', 'tryton-ok', default=True),
            ])
    request = StateTransition()

    def default_start(self, fields):
        return {
            'kind': self._kind,
            'reason': 'member_request' if self._kind == 'terminate'
            else 'returning',
            }

    def transition_request(self):
        pool = Pool()
        Termination = pool.get('member.termination')
        Termination.create([{
                    'member': member.id,
                    'kind': self._kind,
                    'reason': self.start.reason,
                    'reason_text': self.start.reason_text,
                    } for member in self.records])
        return 'end'


class RequestRestore(RequestTermination):
    "Request Member Restore"
    __name__ = 'member.restore.request'
    _kind = 'restore'

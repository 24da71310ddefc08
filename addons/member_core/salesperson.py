# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt

from sql import Literal, Null

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import MemberAccessError, MemberError


class SalespersonHistory(ModelSQL, ModelView):
    __name__ = 'member.salesperson.history'
    __string__ = "Member Salesperson Change"

    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='CASCADE')
    from_user = fields.Many2One(
        'res.user', "From Salesperson", ondelete='SET NULL')
    to_user = fields.Many2One(
        'res.user', "To Salesperson", ondelete='SET NULL')
    date = fields.Timestamp("Date", required=True)
    user = fields.Many2One('res.user', "User", ondelete='SET NULL')
    reason = fields.Text("Reason")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls.__access__.add('member')
        cls._sql_indexes.add(Index(t, (t.member, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise MemberAccessError(
                gettext('member_core.msg_salesperson_history_immutable'))

    @classmethod
    def reassign(
            cls, to_user, from_user=None, members=None, properties=None,
            reason=None):
        """Move members to the salesperson to_user and log each move.

        members=None moves every member of from_user (required then);
        otherwise only the given members, from whoever they had. properties
        limits the move to members of these home properties. Members already
        with to_user are left alone. Set-based: one INSERT of the history
        and one UPDATE per chunk; the caller checks the user may do it.
        Return the number of members moved.
        """
        pool = Pool()
        Party = pool.get('party.party')
        User = pool.get('res.user')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        to_id = int(to_user)
        from_id = int(from_user) if from_user is not None else None
        if from_id == to_id:
            raise MemberError(gettext(
                    'member_core.msg_salesperson_same_user',
                    user=User(to_id).rec_name))
        if members is None and from_id is None:
            raise MemberError(
                gettext('member_core.msg_salesperson_from_required'))
        party = Party.__table__()
        history = cls.__table__()
        user = transaction.user
        now = dt.datetime.now()

        where = ((party.programme != Null)
            & ((party.salesperson != to_id) | (party.salesperson == Null)))
        if from_id is not None:
            where &= party.salesperson == from_id
        if properties:
            where &= fields.SQL_OPERATORS['in'](
                party.home_property, [int(p) for p in properties])
        if members is None:
            chunks = [where]
        else:
            chunks = [where & fields.SQL_OPERATORS['in'](party.id, sub_ids)
                for sub_ids in grouped_slice(
                    [int(m) for m in members], backend.MAX_QUERY_PARAMS)]
        count = 0
        for chunk in chunks:
            cursor.execute(*history.insert(
                    [history.member, history.from_user, history.to_user,
                        history.date, history.user, history.reason,
                        history.create_uid, history.create_date],
                    party.select(
                        party.id, party.salesperson, Literal(to_id),
                        Literal(now), Literal(user), Literal(reason),
                        Literal(user), Literal(now), where=chunk)))
            cursor.execute(*party.update(
                    [party.salesperson, party.write_uid, party.write_date],
                    [to_id, user, now], where=chunk))
            count += cursor.rowcount
        # Raw SQL bypassed the record cache of parties
        transaction.counter += 1
        return count


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    salesperson_history = fields.One2Many(
        'member.salesperson.history', 'member', "Salesperson History",
        readonly=True)

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('salesperson_history', None)
        return super().copy(parties, default=default)


class ReassignSalespersonStart(ModelView):
    __name__ = 'member.salesperson.reassign.start'
    __string__ = "Reassign Salesperson"

    scope = fields.Selection([
            ('all', "All Members of the Salesperson"),
            ('selected', "Selected Members"),
            ], "Scope", required=True)
    from_user = fields.Many2One(
        'res.user', "From Salesperson",
        states={'required': Eval('scope') == 'all'},
        help="Leave empty to move the selected members from whoever "
        "they have.")
    to_user = fields.Many2One(
        'res.user', "To Salesperson", required=True,
        domain=[('id', '!=', Eval('from_user', -1))])
    properties = fields.Many2Many(
        'member.property', None, None, "Properties",
        help="Move only members of these home properties.")
    members = fields.Many2Many(
        'party.party', None, None, "Members",
        domain=[('programme', '!=', None)],
        states={
            'invisible': Eval('scope') != 'selected',
            'required': Eval('scope') == 'selected',
            })
    reason = fields.Text("Reason")


class ReassignSalespersonDone(ModelView):
    __name__ = 'member.salesperson.reassign.done'
    __string__ = "Salesperson Reassigned"

    count = fields.Integer("Members Moved", readonly=True)


class ReassignSalesperson(Wizard):
    "Reassign Salesperson"
    __name__ = 'member.salesperson.reassign'

    start = StateView(
        'member.salesperson.reassign.start',
        'member_core.salesperson_reassign_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Move", 'reassign', 'tryton-ok', default=True),
            ])
    reassign = StateTransition()
    done = StateView(
        'member.salesperson.reassign.done',
        'member_core.salesperson_reassign_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        values = {'scope': 'all'}
        if self.model and self.model.__name__ == 'party.party' and (
                self.records):
            values['scope'] = 'selected'
            values['members'] = [r.id for r in self.records]
            salespersons = {r.salesperson for r in self.records}
            if len(salespersons) == 1:
                salesperson, = salespersons
                if salesperson:
                    values['from_user'] = salesperson.id
        return values

    def transition_reassign(self):
        pool = Pool()
        History = pool.get('member.salesperson.history')
        members = (self.start.members if self.start.scope == 'selected'
            else None)
        self.done.count = History.reassign(
            self.start.to_user, from_user=self.start.from_user,
            members=members, properties=self.start.properties,
            reason=self.start.reason)
        return 'done'

    def default_done(self, fields):
        return {'count': self.done.count}

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Cash sessions per cashier and the shift handover (交班).

sale_point keeps only cash payments on a session; every sale done while a
session is open is attached to it here (``till_session``) so that the
handover counts card, points and stored-value payments too, per cashier
(the user who took the payment)."""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql.aggregate import Count, Min, Sum
from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.transaction import Transaction
from trytond.wizard import (
    Button,
    StateAction,
    StateTransition,
    StateView,
    Wizard,
)

from .exceptions import HandoverError


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.point.sale'

    till_session = fields.Many2One(
        'sale.point.cash.session', "Till Session", readonly=True,
        ondelete='RESTRICT',
        help="The cash session open when the sale was done.")

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('till_session')
        return super().copy(sales, default=default)

    @classmethod
    def do(cls, sales):
        pool = Pool()
        Session = pool.get('sale.point.cash.session')
        super().do(sales)
        to_save = []
        sessions = {}
        for sale in sales:
            if not sale.till_session:
                if sale.point not in sessions:
                    sessions[sale.point] = Session.get_current(sale.point)
                sale.till_session = sessions[sale.point]
                to_save.append(sale)
        cls.save(to_save)


class CashSession(metaclass=PoolMeta):
    __name__ = 'sale.point.cash.session'

    cashier_totals = fields.One2Many(
        'sale.point.cash.session.cashier_total', 'session',
        "Totals per Cashier", readonly=True)
    handed_over_by = fields.Many2One(
        'res.user', "Handed Over By", readonly=True)
    handed_over_to = fields.Many2One(
        'res.user', "Handed Over To", readonly=True,
        help="The incoming cashier who took over the till.")
    handover_date = fields.Timestamp("Handover Date", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update(
            hand_over={
                'invisible': cls._buttons['close']['invisible'],
                'depends': ['state'],
                },
            )

    @classmethod
    def copy(cls, sessions, default=None):
        default = default.copy() if default is not None else {}
        for name in ['handed_over_by', 'handed_over_to', 'handover_date']:
            default.setdefault(name)
        return super().copy(sessions, default=default)

    @classmethod
    @ModelView.button_action('member_pos.wizard_cash_session_hand_over')
    def hand_over(cls, sessions):
        pass

    def get_handover_totals(self):
        """Return the totals per payment method and the totals per cashier
        of the session as lists of dict with keys method, cashier, count,
        amount, points (cashier is None in the per-method totals)"""
        by_method = defaultdict(lambda: {
                'count': 0, 'amount': Decimal(0), 'points': Decimal(0)})
        for total in self.cashier_totals:
            values = by_method[total.method]
            values['count'] += total.count
            values['amount'] += total.amount
            values['points'] += total.points
        methods = [{'method': m, 'cashier': None, **v}
            for m, v in sorted(by_method.items(), key=lambda i: i[0].name)]
        cashiers = [{
                'method': t.method, 'cashier': t.cashier, 'count': t.count,
                'amount': t.amount, 'points': t.points,
                } for t in self.cashier_totals]
        return methods, cashiers


class CashSessionCashierTotal(ModelSQL, ModelView):
    __name__ = 'sale.point.cash.session.cashier_total'
    __string__ = "Cash Session Total per Cashier and Method"

    session = fields.Many2One(
        'sale.point.cash.session', "Session", required=True)
    cashier = fields.Many2One('res.user', "Cashier")
    method = fields.Many2One('sale.point.payment.method', "Method")
    member_payment = fields.Function(fields.Selection(
            'get_member_payments', "Member Payment"),
        'on_change_with_member_payment')
    count = fields.Integer("Payments")
    amount = Monetary("Amount", currency='currency', digits='currency')
    points = fields.Numeric(
        "Points", digits=(16, 4),
        help="The points taken as payment.")
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'get_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('session')
        cls._order = [
            ('cashier', 'ASC'),
            ('method', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Payment = pool.get('sale.point.payment')
        Sale = pool.get('sale.point.sale')
        payment = Payment.__table__()
        sale = Sale.__table__()
        return payment.join(sale, condition=payment.sale == sale.id
            ).select(
            Min(payment.id).as_('id'),
            sale.till_session.as_('session'),
            payment.create_uid.as_('cashier'),
            payment.method.as_('method'),
            Count(payment.id).as_('count'),
            cls.amount.sql_cast(
                Sum(Coalesce(payment.amount, 0))).as_('amount'),
            cls.points.sql_cast(
                Sum(Coalesce(payment.points, 0))).as_('points'),
            where=sale.state.in_(['done', 'posted'])
            & (sale.till_session != None),  # noqa: E711
            group_by=[sale.till_session, payment.create_uid, payment.method])

    @classmethod
    def get_member_payments(cls):
        pool = Pool()
        Method = pool.get('sale.point.payment.method')
        return Method.fields_get(
            ['member_payment'])['member_payment']['selection']

    @fields.depends('method')
    def on_change_with_member_payment(self, name=None):
        if self.method:
            return self.method.member_payment

    def get_currency(self, name):
        return self.session.currency


class HandOverStart(ModelView):
    __name__ = 'sale.point.cash.session.hand_over.start'
    __string__ = "Hand Over Cash Session"

    session = fields.Many2One(
        'sale.point.cash.session', "Session", readonly=True)
    expected_amount = Monetary(
        "Expected Cash", currency='currency', digits='currency',
        readonly=True)
    end_amount = Monetary(
        "Counted Cash", currency='currency', digits='currency',
        required=True)
    incoming_cashier = fields.Many2One(
        'res.user', "Incoming Cashier", required=True,
        domain=[('id', '!=', Eval('outgoing_cashier', -1))])
    outgoing_cashier = fields.Many2One(
        'res.user', "Outgoing Cashier", readonly=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)


class HandOver(Wizard):
    "Hand Over Cash Session"
    __name__ = 'sale.point.cash.session.hand_over'
    start = StateView(
        'sale.point.cash.session.hand_over.start',
        'member_pos.cash_session_hand_over_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Hand Over", 'hand_over', 'tryton-ok', default=True),
            ])
    hand_over = StateTransition()
    print_ = StateAction('member_pos.report_cash_session_handover')

    def default_start(self, fields):
        session = self.record
        return {
            'session': session.id,
            'expected_amount': session.start_amount + session.balance,
            'end_amount': session.start_amount + session.balance,
            'outgoing_cashier': Transaction().user,
            'currency': session.currency.id,
            }

    def transition_hand_over(self):
        pool = Pool()
        Session = pool.get('sale.point.cash.session')
        session = self.record
        if session.state != 'open':
            raise HandoverError(gettext(
                    'member_pos.msg_handover_session_not_open',
                    session=session.rec_name))
        session.end_amount = self.start.end_amount
        session.handed_over_by = Transaction().user
        session.handed_over_to = self.start.incoming_cashier
        session.handover_date = dt.datetime.now()
        session.save()
        # close checks the counted cash against the session balance
        Session.close([session])
        Session.get_current(session.point)
        return 'print_'

    def do_print_(self, action):
        return action, {'ids': [self.record.id]}


class HandoverReport(Report):
    __name__ = 'sale.point.cash.session.handover'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['totals'] = {s.id: s.get_handover_totals() for s in records}
        return context

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Member cards: products, cards, their history and the lookup API.

Lookup API (used by the POS, devices and the modules above member_core):

``Card.identify(code, programme=None)``
    ``code`` is a card number (digits, check digit included, spaces
    ignored) or a QR payload. Returns the usable ``member.card`` (its member
    is ``card.member``). Raises ``LookupRefused`` when nothing matches (or
    the check digit is wrong) and ``CardRefused`` when the card or its
    member may not be used (lost, suspended, expired, closed, replaced,
    draft card; suspended or terminated member). One indexed query; record
    rules are not applied: any property may identify any card of the
    programme.

``Party.lookup_member(phone=None, card=None, qr=None, programme=None)``
    Exactly one of ``phone``, ``card`` or ``qr``. The phone is normalised
    with the region of the programme (of every programme when none is
    given). Returns the usable member or raises ``LookupRefused`` /
    ``CardRefused`` with the reason.

``Card.consume_visits(card, quantity=1)``
    Uses visits of a count card under a row lock; call it before any other
    change of the transaction (the lock restarts it).

Hooks for higher modules: ``Card.on_replaced(old, new)``,
``Card.get_refund_amounts(cards)`` and ``Card.on_closed(cards)``.
"""
import datetime as dt
import re
import secrets
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sql import Literal, Null
from stdnum import luhn

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Check,
    DeactivableMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    Workflow,
    fields,
)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Id
from trytond.tools import grouped_slice
from trytond.tools import logging as tools_logging
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import (
    CardRefused,
    LookupRefused,
    MemberAccessError,
    MemberError,
    MemberValidationError,
)
from .party import normalize_phone

KINDS = [
    ('points', "Points"),
    ('discount', "Discount"),
    ('stored_value', "Stored Value"),
    ('count', "Count"),
    ('annual', "Annual"),
    ]
MEDIUMS = [
    ('ic', "IC Card"),
    ('magnetic', "Magnetic Stripe Card"),
    ('virtual_qr', "Virtual QR Card"),
    ]
STATES = [
    ('draft', "Draft"),
    ('active', "Active"),
    ('lost', "Lost"),
    ('suspended', "Suspended"),
    ('expired', "Expired"),
    ('closed', "Closed"),
    ('replaced', "Replaced"),
    ]
ACTIONS = [
    ('issue', "Issue"),
    ('activate', "Activate"),
    ('report_lost', "Report Lost"),
    ('cancel_lost', "Cancel Lost Report"),
    ('replace', "Replace"),
    ('transfer', "Transfer"),
    ('suspend', "Suspend"),
    ('resume', "Resume"),
    ('renew', "Renew"),
    ('expire', "Expire"),
    ('close', "Close"),
    ('visit', "Visit"),
    ('visit_restore', "Visit Restored"),
    ]
# The states from which each lifecycle action may start
ACTION_STATES = {
    'activate': {'draft'},
    'report_lost': {'active'},
    'cancel_lost': {'lost'},
    'suspend': {'active'},
    'resume': {'suspended'},
    'renew': {'active', 'expired'},
    'replace': {'active', 'lost'},
    'transfer': {'active'},
    'close': {'draft', 'active', 'lost', 'suspended', 'expired'},
    }
# Fields a user may only change while the card is a draft
DRAFT_FIELDS = {'number', 'product', 'member', 'programme'}
_PIN = re.compile(r'^[0-9]{4,12}$')
_NUMBER = re.compile(r'^[0-9]{8,19}$')
# The RPC log redacts values of keys containing these words
tools_logging._SENSITIVE_KEYS.add('pin_code')


def normalize_number(number):
    return re.sub(r'[\s-]', '', number or '')


# Rendering a query with python-sql costs more than running it on an index:
# the lookups keep their SQL per backend and shape.
_LOOKUP_SQL = {}


def execute_lookup(key, build, params):
    "Execute the query build() whose parameters are params, return cursor"
    cursor = Transaction().connection.cursor()
    key = (backend.name, *key)
    sql = _LOOKUP_SQL.get(key)
    if sql is None:
        sql, built = tuple(build())
        assert tuple(built) == tuple(params), (built, params)
        _LOOKUP_SQL[key] = sql
    cursor.execute(sql, params)
    return cursor


class CardProduct(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'member.card.product'
    __string__ = "Card Product"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    validity_months = fields.Integer(
        "Validity (Months)",
        states={'required': Eval('kind') == 'annual'},
        help="Months a card stays valid from its activation or renewal.\n"
        "Leave empty for cards that do not expire.")
    visits = fields.Integer(
        "Visits",
        states={
            'required': Eval('kind') == 'count',
            'invisible': Eval('kind') != 'count',
            },
        help="Visits a new count card holds.")
    discount = fields.Numeric(
        "Discount %", digits=(5, 2),
        states={
            'required': Eval('kind') == 'discount',
            'invisible': Eval('kind') != 'discount',
            })
    pin_required = fields.Boolean(
        "PIN Required", help="Cards must have a PIN to be activated.")
    number_prefix = fields.Char(
        "Number Prefix", required=True,
        help="Digits that start every card number of the product.")
    number_sequence = fields.Many2One(
        'ir.sequence', "Number Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('member_core', 'sequence_type_member_card')),
            ],
        help="Gives the digits following the prefix; the check digit is "
        "added to them.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.programme, t.code),
                'member_core.msg_card_product_code_unique'),
            ('validity_positive',
                Check(t, (t.validity_months == Null)
                    | (t.validity_months > 0)),
                'member_core.msg_card_product_validity_positive'),
            ('visits_positive',
                Check(t, (t.visits == Null) | (t.visits > 0)),
                'member_core.msg_card_product_visits_positive'),
            ('discount_range',
                Check(t, (t.discount == Null)
                    | ((t.discount >= 0) & (t.discount <= 100))),
                'member_core.msg_card_product_discount_range'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_kind(cls):
        return 'points'

    @classmethod
    def default_pin_required(cls):
        return False

    def get_rec_name(self, name):
        return f'[{self.code}] {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('code', operator, value, *clause[3:]),
            ('name', operator, value, *clause[3:]),
            ]

    @classmethod
    def validate_fields(cls, products, field_names):
        super().validate_fields(products, field_names)
        if field_names and 'number_prefix' not in field_names:
            return
        for product in products:
            if not product.number_prefix.isdigit():
                raise MemberValidationError(gettext(
                        'member_core.msg_card_product_prefix_digits',
                        field=cls.__names__('number_prefix')['field'],
                        product=product.rec_name))

    def next_number(self):
        "Return a new card number: prefix, sequence and Luhn check digit"
        body = self.number_prefix + self.number_sequence.get()
        if not body.isdigit():
            raise MemberError(gettext(
                    'member_core.msg_card_sequence_not_digits',
                    sequence=self.number_sequence.rec_name,
                    product=self.rec_name, value=body))
        return body + luhn.calc_check_digit(body)


class Card(Workflow, ModelSQL, ModelView):
    __name__ = 'member.card'
    __string__ = "Member Card"
    _rec_name = 'number'

    _draft = Eval('state') != 'draft'

    product = fields.Many2One(
        'member.card.product', "Product", required=True,
        ondelete='RESTRICT', states={'readonly': _draft})
    programme = fields.Many2One(
        'member.programme', "Programme", required=True, readonly=True,
        ondelete='RESTRICT')
    member = fields.Many2One(
        'party.party', "Member", required=True, ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))],
        states={'readonly': _draft})
    number = fields.Char(
        "Number", states={'readonly': _draft},
        help="Leave empty to number the card from its product.")
    qr_payload = fields.Char(
        "QR Payload", readonly=True, strip=False,
        help="The random token printed in the card's QR code.")
    medium = fields.Selection(MEDIUMS, "Medium", required=True)
    pin_code = fields.Function(
        fields.Char(
            "PIN", help="Type a new PIN to change it; it is stored hashed."),
        'get_pin_code', setter='set_pin_code')
    # Never read by clients (field access); the server reads it with SQL
    pin_hash = fields.Char(
        "PIN Hash", readonly=True, strip=False, loading='lazy')
    has_pin = fields.Function(fields.Boolean("Has PIN"), 'get_has_pin')
    state = fields.Selection(STATES, "State", readonly=True, required=True)
    state_string = state.translated('state')
    issue_date = fields.Date("Issue Date", readonly=True)
    activation_date = fields.Date("Activation Date", readonly=True)
    expiry_date = fields.Date("Expiry Date", readonly=True)
    visits_remaining = fields.Integer("Visits Remaining", readonly=True)
    replaces = fields.Many2One(
        'member.card', "Replaces", readonly=True, ondelete='RESTRICT')
    replaced_by = fields.Many2One(
        'member.card', "Replaced By", readonly=True, ondelete='RESTRICT')
    home_property = fields.Many2One(
        'member.property', "Home Property", ondelete='RESTRICT',
        domain=[('programme', '=', Eval('programme', -1))])
    history = fields.One2Many(
        'member.card.history', 'card', "History", readonly=True)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.number),
                'member_core.msg_card_number_unique'),
            ('qr_payload_unique', Unique(t, t.qr_payload),
                'member_core.msg_card_qr_payload_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.member, Index.Equality())),
                Index(t, (t.expiry_date, Index.Range()),
                    where=t.state == 'active'),
                })
        cls._order.insert(0, ('number', 'DESC'))
        cls._transitions |= {
            ('draft', 'active'),
            ('active', 'lost'),
            ('lost', 'active'),
            ('active', 'suspended'),
            ('suspended', 'active'),
            ('expired', 'active'),
            ('active', 'replaced'),
            ('lost', 'replaced'),
            ('draft', 'closed'),
            ('active', 'closed'),
            ('lost', 'closed'),
            ('suspended', 'closed'),
            ('expired', 'closed'),
            }
        states = Eval('state')
        cls._buttons.update({
                'activate_wizard': {
                    'invisible': states != 'draft',
                    'depends': ['state'],
                    },
                'report_lost_wizard': {
                    'invisible': states != 'active',
                    'depends': ['state'],
                    },
                'cancel_lost_wizard': {
                    'invisible': states != 'lost',
                    'depends': ['state'],
                    },
                'suspend_wizard': {
                    'invisible': states != 'active',
                    'depends': ['state'],
                    },
                'resume_wizard': {
                    'invisible': states != 'suspended',
                    'depends': ['state'],
                    },
                'renew_wizard': {
                    'invisible': ~states.in_(['active', 'expired']),
                    'depends': ['state'],
                    },
                'replace_wizard': {
                    'invisible': ~states.in_(['active', 'lost']),
                    'depends': ['state'],
                    },
                'transfer_wizard': {
                    'invisible': states != 'active',
                    'depends': ['state'],
                    },
                'close_wizard': {
                    'invisible': ~states.in_(
                        sorted(ACTION_STATES['close'])),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_medium(cls):
        return 'virtual_qr'

    @classmethod
    def default_issue_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('product')
    def on_change_with_programme(self, name=None):
        return self.product.programme if self.product else None

    @fields.depends('member', 'home_property')
    def on_change_member(self):
        if self.member and not self.home_property:
            self.home_property = self.member.home_property

    def get_pin_code(self, name):
        return None

    @classmethod
    def set_pin_code(cls, cards, name, value):
        pool = Pool()
        User = pool.get('res.user')
        if not value:
            return
        if not _PIN.match(value):
            raise MemberValidationError(gettext(
                    'member_core.msg_card_pin_invalid',
                    field=cls.__names__('pin_code')['field']))
        cls._set_pin_hash(cards, User.hash_password(value))

    @classmethod
    def _set_pin_hash(cls, cards, pin_hash):
        with without_check_access():
            cls.write(cards, {'pin_hash': pin_hash})

    @classmethod
    def _get_pin_hashes(cls, cards):
        "Return the PIN hash per card id"
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        result = {c.id: None for c in cards}
        for sub_ids in grouped_slice(
                list(result), backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.id, table.pin_hash,
                    where=table.id.in_(list(sub_ids))))
            result.update(cursor)
        return result

    @classmethod
    def get_has_pin(cls, cards, name):
        return {
            i: bool(h) for i, h in cls._get_pin_hashes(cards).items()}

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Product = pool.get('member.card.product')
        Party = pool.get('party.party')
        values = super().preprocess_values(mode, values)
        if values.get('number'):
            values['number'] = normalize_number(values['number'])
        if mode == 'create':
            product = Product(values['product']) if values.get(
                'product') else None
            if product:
                values.setdefault('programme', product.programme.id)
                if not values.get('number'):
                    values['number'] = product.next_number()
            if not values.get('qr_payload'):
                values['qr_payload'] = secrets.token_urlsafe(24)
            if values.get('member') and not values.get('home_property'):
                home_property = Party(values['member']).home_property
                if home_property:
                    values['home_property'] = home_property.id
        return values

    @classmethod
    def validate_fields(cls, cards, field_names):
        super().validate_fields(cards, field_names)
        cls.check_number(cards, field_names)

    @classmethod
    def check_number(cls, cards, field_names=None):
        if field_names and 'number' not in field_names:
            return
        field = cls.__names__('number')['field']
        for card in cards:
            if not card.number or not _NUMBER.match(card.number):
                raise MemberValidationError(gettext(
                        'member_core.msg_card_number_invalid',
                        field=field, number=card.number or ''))
            if not luhn.is_valid(card.number):
                raise MemberValidationError(gettext(
                        'member_core.msg_card_number_check_digit',
                        field=field, number=card.number))

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'delete':
            for card in records:
                if card.state != 'draft':
                    raise MemberAccessError(gettext(
                            'member_core.msg_card_delete_draft',
                            card=card.rec_name,
                            state=card.state_string))
        elif mode == 'write' and external and DRAFT_FIELDS & set(values):
            field = sorted(DRAFT_FIELDS & set(values))[0]
            for card in records:
                if card.state != 'draft':
                    raise MemberAccessError(gettext(
                            'member_core.msg_card_draft_field',
                            card=card.rec_name, state=card.state_string,
                            field=cls.__names__(field)['field']))

    @classmethod
    def copy(cls, cards, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'number', 'qr_payload', 'history',
                'activation_date', 'expiry_date', 'visits_remaining',
                'replaces', 'replaced_by']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        default.setdefault('issue_date', None)
        return super().copy(cards, default=default)

    # Usability and lookup

    def check_usable(self):
        """Raise CardRefused unless the card and its member may be used.

        Every module that earns, redeems or grants something with a card
        calls it first.
        """
        pool = Pool()
        Date = pool.get('ir.date')
        if self.state != 'active':
            raise CardRefused(gettext(
                    'member_core.msg_card_not_usable',
                    card=self.rec_name, state=self.state_string))
        if self.expiry_date and self.expiry_date < Date.today():
            raise CardRefused(gettext(
                    'member_core.msg_card_expired_date',
                    card=self.rec_name, date=self.expiry_date))
        self.member.check_member_usable()

    @classmethod
    def identify(cls, code, programme=None):
        """Return the usable card with the number or QR payload code.

        Raise LookupRefused when no card matches and CardRefused when the
        card or its member may not be used. One indexed query.
        """
        pool = Pool()
        Party = pool.get('party.party')
        Date = pool.get('ir.date')
        code = (code or '').strip()
        number = normalize_number(code)
        by_number = number.isdigit()
        if by_number:
            if not luhn.is_valid(number):
                raise LookupRefused(gettext(
                        'member_core.msg_card_number_check_digit',
                        field=cls.__names__('number')['field'],
                        number=number))
            params = [number]
        else:
            params = [code]
        if programme is not None:
            params.append(int(programme))
        params.append(1)

        def build():
            card = cls.__table__()
            party = Party.__table__()
            column = card.number if by_number else card.qr_payload
            where = column == params[0]
            if programme is not None:
                where &= card.programme == params[1]
            return card.join(party,
                condition=card.member == party.id
                ).select(
                card.id, card.state, card.expiry_date, party.member_state,
                where=where, limit=1)
        cursor = execute_lookup(
            ('member.card.identify', by_number, programme is not None),
            build, params)
        row = cursor.fetchone()
        if not row:
            if number.isdigit():
                raise LookupRefused(gettext(
                        'member_core.msg_card_unknown', code=number))
            raise LookupRefused(gettext('member_core.msg_card_unknown_qr'))
        card_id, state, expiry_date, member_state = row
        if isinstance(expiry_date, str):
            expiry_date = dt.date.fromisoformat(expiry_date)
        record = cls(card_id)
        if (state != 'active' or member_state != 'member'
                or (expiry_date and expiry_date < Date.today())):
            record.check_usable()
        return record

    def check_pin(self, pin):
        "Raise CardRefused unless pin is the PIN of the card"
        pool = Pool()
        User = pool.get('res.user')
        pin_hash = self._get_pin_hashes([self])[self.id]
        if not pin_hash:
            raise CardRefused(gettext(
                    'member_core.msg_card_pin_not_set', card=self.rec_name))
        valid, new_hash = User.check_password(pin or '', pin_hash)
        if not valid:
            raise CardRefused(gettext(
                    'member_core.msg_card_pin_wrong', card=self.rec_name))
        if new_hash:
            self._set_pin_hash([self], new_hash)

    @classmethod
    def consume_visits(cls, card, quantity=1, reason=None):
        """Use quantity visits of the count card and return those left.

        Takes a row lock first: call it before any other change.
        """
        cls.lock([card])
        card = cls(card.id)
        if quantity <= 0:
            raise MemberError(gettext(
                    'member_core.msg_card_visit_quantity',
                    card=card.rec_name))
        card.check_usable()
        if card.product.kind != 'count':
            raise CardRefused(gettext(
                    'member_core.msg_card_not_count', card=card.rec_name))
        remaining = card.visits_remaining or 0
        if remaining < quantity:
            raise CardRefused(gettext(
                    'member_core.msg_card_no_visits', card=card.rec_name,
                    remaining=remaining, quantity=quantity))
        cls.write([card], {'visits_remaining': remaining - quantity})
        cls._log([card], 'visit', reason,
            detail=f'{remaining} → {remaining - quantity}')
        return remaining - quantity

    @classmethod
    def restore_visits(cls, card, quantity=1, reason=None):
        """Give back quantity visits used on the count card (a returned
        sale) and return those left.

        The card may have been suspended or reported lost since: the
        visits still belong to it; only a closed or replaced card refuses.
        """
        cls.lock([card])
        card = cls(card.id)
        if quantity <= 0:
            raise MemberError(gettext(
                    'member_core.msg_card_restore_quantity',
                    card=card.rec_name))
        if card.product.kind != 'count':
            raise CardRefused(gettext(
                    'member_core.msg_card_not_count', card=card.rec_name))
        if card.state in {'closed', 'replaced'}:
            raise CardRefused(gettext(
                    'member_core.msg_card_restore_state', card=card.rec_name,
                    state=card.state_string))
        remaining = card.visits_remaining or 0
        cls.write([card], {'visits_remaining': remaining + quantity})
        cls._log([card], 'visit_restore', reason,
            detail=f'{remaining} → {remaining + quantity}')
        return remaining + quantity

    # Lifecycle

    @classmethod
    def _log(cls, cards, action, reason, detail=None, details=None):
        "Append a history row per card; details maps card id to detail"
        pool = Pool()
        History = pool.get('member.card.history')
        now = dt.datetime.now()
        user = Transaction().user
        details = details or {}
        with without_check_access():
            History.create([{
                        'card': c.id,
                        'action': action,
                        'reason': reason,
                        'detail': details.get(c.id, detail),
                        'user': user,
                        'date': now,
                        } for c in cards])

    @classmethod
    def check_action(cls, cards, action):
        "Raise unless every card may undergo the action in its state"
        allowed = ACTION_STATES[action]
        for card in cards:
            if card.state not in allowed:
                raise MemberError(gettext(
                        'member_core.msg_card_action_state',
                        card=card.rec_name, state=card.state_string,
                        action=dict(ACTIONS)[action]))

    @classmethod
    def _set_state(cls, cards, state):
        # Workflow.transition would skip the cards in other states silently;
        # lifecycle actions refuse them instead (check_action)
        cls.write(cards, {'state': state})
        cls.log(cards, 'transition', f'state:{state}')

    @classmethod
    def _validity_end(cls, card, start):
        months = card.product.validity_months
        if months:
            return start + relativedelta(months=months) - dt.timedelta(1)

    @classmethod
    def issue(cls, member, product, reason, number=None, medium=None,
            pin=None, home_property=None):
        "Create and activate a card for the member and return it"
        member.check_member_usable()
        values = {
            'member': member.id,
            'product': product.id,
            'number': number,
            'medium': medium or cls.default_medium(),
            }
        if home_property:
            values['home_property'] = home_property.id
        card, = cls.create([values])
        if pin:
            cls.write([card], {'pin_code': pin})
        cls._log([card], 'issue', reason, detail=card.number)
        cls.activate([card], reason)
        return card

    @classmethod
    def activate(cls, cards, reason):
        pool = Pool()
        Date = pool.get('ir.date')
        cls.check_action(cards, 'activate')
        today = Date.today()
        pin_hashes = cls._get_pin_hashes(cards)
        to_write = []
        for card in cards:
            if card.product.pin_required and not pin_hashes[card.id]:
                raise MemberError(gettext(
                        'member_core.msg_card_pin_required',
                        card=card.rec_name, product=card.product.rec_name))
            values = {'activation_date': today}
            if not card.issue_date:
                values['issue_date'] = today
            if not card.expiry_date:
                values['expiry_date'] = cls._validity_end(card, today)
            if (card.product.kind == 'count'
                    and card.visits_remaining is None):
                values['visits_remaining'] = card.product.visits
            to_write.extend(([card], values))
        if to_write:
            cls.write(*to_write)
        cls._set_state(cards, 'active')
        cls._log(cards, 'activate', reason)

    @classmethod
    def report_lost(cls, cards, reason):
        cls.check_action(cards, 'report_lost')
        cls._set_state(cards, 'lost')
        cls._log(cards, 'report_lost', reason)

    @classmethod
    def cancel_lost(cls, cards, reason):
        cls.check_action(cards, 'cancel_lost')
        cls._set_state(cards, 'active')
        cls._log(cards, 'cancel_lost', reason)

    @classmethod
    def suspend(cls, cards, reason):
        cls.check_action(cards, 'suspend')
        cls._set_state(cards, 'suspended')
        cls._log(cards, 'suspend', reason)

    @classmethod
    def resume(cls, cards, reason):
        cls.check_action(cards, 'resume')
        cls._set_state(cards, 'active')
        cls._log(cards, 'resume', reason)

    @classmethod
    def renew(cls, cards, reason):
        """Extend the validity of the cards from their expiry date (or today
        if later) and reactivate expired ones; balances and visits stay."""
        pool = Pool()
        Date = pool.get('ir.date')
        cls.check_action(cards, 'renew')
        today = Date.today()
        to_write, details = [], {}
        for card in cards:
            if not card.product.validity_months:
                raise MemberError(gettext(
                        'member_core.msg_card_renew_no_validity',
                        card=card.rec_name, product=card.product.rec_name))
            start = today
            if card.expiry_date and card.expiry_date >= today:
                start = card.expiry_date + dt.timedelta(1)
            expiry_date = cls._validity_end(card, start)
            details[card.id] = f'{card.expiry_date or ""} → {expiry_date}'
            to_write.extend(([card], {
                        'expiry_date': expiry_date,
                        'state': 'active',
                        }))
        if to_write:
            cls.write(*to_write)
        cls._log(cards, 'renew', reason, details=details)

    @classmethod
    def replace(cls, card, reason, number=None, medium=None):
        "Replace the card by a new one of the same product and return it"
        pool = Pool()
        Date = pool.get('ir.date')
        cls.check_action([card], 'replace')
        card.member.check_member_usable()
        today = Date.today()
        new, = cls.create([{
                    'member': card.member.id,
                    'product': card.product.id,
                    'number': number,
                    'medium': medium or card.medium,
                    'home_property': (
                        card.home_property.id if card.home_property
                        else None),
                    'issue_date': today,
                    'activation_date': today,
                    'state': 'active',
                    'replaces': card.id,
                    }])
        cls._set_pin_hash([new], cls._get_pin_hashes([card])[card.id])
        cls.write([card], {'state': 'replaced', 'replaced_by': new.id})
        cls.on_replaced(card, new)
        cls._log([card], 'replace', reason,
            detail=f'{card.number} → {new.number}')
        cls._log([new], 'issue', reason,
            detail=f'{card.number} → {new.number}')
        return new

    @classmethod
    def on_replaced(cls, old, new):
        """Move what the old card holds to the new one.

        Called by replace() once the new card exists and the old one is
        replaced. Modules holding card data extend it (member_points moves
        the stored value); core moves the visits and the validity.
        """
        cls.write([new], {
                'visits_remaining': old.visits_remaining,
                'expiry_date': old.expiry_date,
                })
        if old.visits_remaining:
            cls.write([old], {'visits_remaining': 0})

    @classmethod
    def transfer(cls, card, member, reason):
        "Move the card to another member of its programme"
        cls.check_action([card], 'transfer')
        if member == card.member:
            raise MemberError(gettext(
                    'member_core.msg_card_transfer_same_member',
                    card=card.rec_name, member=member.rec_name))
        if member.programme != card.programme:
            raise MemberError(gettext(
                    'member_core.msg_card_transfer_programme',
                    card=card.rec_name, member=member.rec_name,
                    programme=card.programme.rec_name))
        member.check_member_usable()
        detail = f'{card.member.rec_name} → {member.rec_name}'
        # The member of a card only changes here, never by a direct edit
        with without_check_access():
            cls.write([card], {
                    'member': member.id,
                    'home_property': (
                        member.home_property.id if member.home_property
                        else None),
                    })
        cls._log([card], 'transfer', reason, detail=detail)

    @classmethod
    def get_refund_amounts(cls, cards):
        """Return the amount to pay back to the member per card id when the
        cards close. Core holds no money: 0; member_points adds the stored
        value."""
        return {c.id: Decimal(0) for c in cards}

    @classmethod
    def close(cls, cards, reason):
        "Close the cards and return the refund amount per card id"
        cls.check_action(cards, 'close')
        amounts = cls.get_refund_amounts(cards)
        cls._set_state(cards, 'closed')
        cls._log(cards, 'close', reason, details={
                c.id: str(amounts.get(c.id, Decimal(0))) for c in cards})
        cls.on_closed(cards)
        return amounts

    @classmethod
    def on_closed(cls, cards):
        """Settle what the closed cards hold once the refund is computed.

        member_points extends it to empty the stored value; core forfeits
        the remaining visits.
        """
        with_visits = [c for c in cards if c.visits_remaining]
        if with_visits:
            cls.write(with_visits, {'visits_remaining': 0})

    @classmethod
    def expire_cards(cls, date=None):
        """Expire the active cards whose validity ended before date (today).

        Set-based: one INSERT of the history rows and one UPDATE.
        """
        pool = Pool()
        Date = pool.get('ir.date')
        History = pool.get('member.card.history')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if date is None:
            date = Date.today()
        card = cls.__table__()
        history = History.__table__()
        user = transaction.user
        now = dt.datetime.now()
        where = (card.state == 'active') & (card.expiry_date < date)
        reason = gettext('member_core.msg_card_expire_reason')
        cursor.execute(*history.insert(
                [history.card, history.action, history.reason,
                    history.user, history.date, history.create_uid,
                    history.create_date],
                card.select(
                    card.id, Literal('expire'), Literal(reason),
                    Literal(user), Literal(now), Literal(user),
                    Literal(now), where=where)))
        cursor.execute(*card.update(
                [card.state, card.write_uid, card.write_date],
                ['expired', user, now], where=where))
        transaction.counter += 1

    # Buttons

    @classmethod
    @ModelView.button_action('member_core.wizard_card_activate')
    def activate_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_report_lost')
    def report_lost_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_cancel_lost')
    def cancel_lost_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_suspend')
    def suspend_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_resume')
    def resume_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_renew')
    def renew_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_replace')
    def replace_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_transfer')
    def transfer_wizard(cls, cards):
        pass

    @classmethod
    @ModelView.button_action('member_core.wizard_card_close')
    def close_wizard(cls, cards):
        pass


class CardHistory(ModelSQL, ModelView):
    __name__ = 'member.card.history'
    __string__ = "Card History"

    card = fields.Many2One(
        'member.card', "Card", required=True, ondelete='CASCADE')
    action = fields.Selection(ACTIONS, "Action", required=True)
    user = fields.Many2One('res.user', "User", required=True)
    date = fields.Timestamp("Date", required=True)
    reason = fields.Text("Reason")
    detail = fields.Char("Detail")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls.__access__.add('card')
        cls._sql_indexes.add(Index(t, (t.card, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise MemberAccessError(
                gettext('member_core.msg_card_history_immutable'))


class CardTransfer(Workflow, ModelSQL, ModelView):
    __name__ = 'member.card.transfer'
    __string__ = "Card Transfer"

    _requested = Eval('state') != 'requested'

    card = fields.Many2One(
        'member.card', "Card", required=True, ondelete='CASCADE',
        domain=[('state', '=', 'active')],
        states={'readonly': _requested})
    programme = fields.Function(
        fields.Many2One('member.programme', "Programme"),
        'on_change_with_programme')
    from_member = fields.Many2One(
        'party.party', "From Member", readonly=True, ondelete='RESTRICT')
    to_member = fields.Many2One(
        'party.party', "To Member", required=True, ondelete='RESTRICT',
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ('member_state', '=', 'member'),
            ],
        states={'readonly': _requested})
    reason = fields.Text(
        "Reason", required=True, states={'readonly': _requested})
    state = fields.Selection([
            ('requested', "Requested"),
            ('approved', "Approved"),
            ('rejected', "Rejected"),
            ], "State", readonly=True, required=True)
    requested_by = fields.Many2One('res.user', "Requested By", readonly=True)
    decided_by = fields.Many2One('res.user', "Decided By", readonly=True)
    decision_date = fields.Timestamp("Decision Date", readonly=True)

    del _requested

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('card')
        cls._order.insert(0, ('create_date', 'DESC'))
        cls._transitions |= {
            ('requested', 'approved'),
            ('requested', 'rejected'),
            }
        cls._buttons.update({
                'approve': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'requested'

    @classmethod
    def default_requested_by(cls):
        return Transaction().user

    @fields.depends('card')
    def on_change_with_programme(self, name=None):
        return self.card.programme if self.card else None

    def get_rec_name(self, name):
        return self.card.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('card.rec_name', *clause[1:])]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Card = pool.get('member.card')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and values.get('card'):
            values['from_member'] = Card(values['card']).member.id
        return values

    @classmethod
    def _decide(cls, transfers):
        cls.write(transfers, {
                'decided_by': Transaction().user,
                'decision_date': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('approved')
    def approve(cls, transfers):
        pool = Pool()
        Card = pool.get('member.card')
        for transfer in transfers:
            Card.transfer(transfer.card, transfer.to_member, transfer.reason)
        cls._decide(transfers)

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, transfers):
        cls._decide(transfers)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    cards = fields.One2Many('member.card', 'member', "Cards", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'issue_card_wizard': {
                    'invisible': Eval('member_state') != 'member',
                    'depends': ['member_state'],
                    },
                })

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('cards', None)
        return super().copy(parties, default=default)

    @classmethod
    @ModelView.button_action('member_core.wizard_card_issue')
    def issue_card_wizard(cls, parties):
        pass

    @classmethod
    def lookup_member(
            cls, phone=None, card=None, qr=None, programme=None):
        """Return the usable member with the phone, card number or QR code.

        Raise LookupRefused when nothing matches and CardRefused when the
        card or the member may not be used. One indexed query.
        """
        pool = Pool()
        Card = pool.get('member.card')
        Programme = pool.get('member.programme')
        given = [v for v in [phone, card, qr] if v]
        if len(given) != 1:
            raise LookupRefused(gettext('member_core.msg_lookup_one_key'))
        if card or qr:
            return Card.identify(card or qr, programme=programme).member
        if programme is not None:
            programme = Programme(int(programme))
            regions = {programme.phone_region}
        else:
            regions = {p.phone_region for p in Programme.search([])}
        numbers = {normalize_phone(phone, r) for r in regions} - {None}
        if not numbers:
            raise LookupRefused(gettext(
                    'member_core.msg_lookup_phone_invalid', phone=phone))
        params = sorted(numbers)
        if programme is not None:
            params.append(programme.id)
        params.append(2)

        def build():
            party = cls.__table__()
            if len(numbers) == 1:
                where = party.member_phone == params[0]
            else:
                where = party.member_phone.in_(params[:len(numbers)])
            if programme is not None:
                where &= party.programme == programme.id
            return party.select(
                party.id, party.member_state, where=where, limit=2)
        cursor = execute_lookup(
            ('party.party.lookup_member', len(numbers),
                programme is not None),
            build, params)
        rows = cursor.fetchall()
        if not rows:
            raise LookupRefused(gettext(
                    'member_core.msg_lookup_phone_unknown', phone=phone))
        if len(rows) > 1:
            raise LookupRefused(gettext(
                    'member_core.msg_lookup_phone_ambiguous', phone=phone))
        (member_id, member_state), = rows
        member = cls(member_id)
        if member_state != 'member':
            member.check_member_usable()
        return member


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('member.card|expire_cards', "Expire Member Cards"))


class CardReason(ModelView):
    __name__ = 'member.card.reason'
    __string__ = "Card Action Reason"

    reason = fields.Text("Reason", required=True)


class _CardReasonWizard(Wizard):
    "Ask a reason then run the lifecycle action on the selected cards"
    _method = None

    start = StateView(
        'member.card.reason', 'member_core.card_reason_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("OK", 'apply', 'tryton-ok', default=True),
            ])
    apply = StateTransition()

    def transition_apply(self):
        Card = Pool().get('member.card')
        getattr(Card, self._method)(list(self.records), self.start.reason)
        return 'end'


class ActivateCard(_CardReasonWizard):
    "Activate Card"
    __name__ = 'member.card.activate'
    _method = 'activate'


class ReportLostCard(_CardReasonWizard):
    "Report Card Lost"
    __name__ = 'member.card.report_lost'
    _method = 'report_lost'


class CancelLostCard(_CardReasonWizard):
    "Cancel Lost Card Report"
    __name__ = 'member.card.cancel_lost'
    _method = 'cancel_lost'


class SuspendCard(_CardReasonWizard):
    "Suspend Card"
    __name__ = 'member.card.suspend'
    _method = 'suspend'


class ResumeCard(_CardReasonWizard):
    "Resume Card"
    __name__ = 'member.card.resume'
    _method = 'resume'


class RenewCard(_CardReasonWizard):
    "Renew Card"
    __name__ = 'member.card.renew'
    _method = 'renew'


class IssueCardStart(ModelView):
    __name__ = 'member.card.issue.start'
    __string__ = "Issue Card"

    member = fields.Many2One('party.party', "Member", readonly=True)
    programme = fields.Many2One(
        'member.programme', "Programme", readonly=True)
    product = fields.Many2One(
        'member.card.product', "Product", required=True,
        domain=[('programme', '=', Eval('programme', -1))])
    medium = fields.Selection(MEDIUMS, "Medium", required=True)
    number = fields.Char(
        "Number", help="The number of a pre-printed card.\n"
        "Leave empty to number the card from its product.")
    pin_code = fields.Char("PIN")
    home_property = fields.Many2One(
        'member.property', "Home Property",
        domain=[('programme', '=', Eval('programme', -1))])
    reason = fields.Text("Reason", required=True)


class IssueCard(Wizard):
    "Issue Card"
    __name__ = 'member.card.issue'

    start = StateView(
        'member.card.issue.start', 'member_core.card_issue_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Issue", 'issue', 'tryton-ok', default=True),
            ])
    issue = StateTransition()

    def default_start(self, fields):
        member = self.record
        return {
            'member': member.id,
            'programme': member.programme.id if member.programme else None,
            'medium': 'virtual_qr',
            'home_property': (
                member.home_property.id if member.home_property else None),
            }

    def transition_issue(self):
        pool = Pool()
        Card = pool.get('member.card')
        Card.issue(
            self.record, self.start.product, self.start.reason,
            number=self.start.number, medium=self.start.medium,
            pin=self.start.pin_code, home_property=self.start.home_property)
        return 'end'


class ReplaceCardStart(ModelView):
    __name__ = 'member.card.replace.start'
    __string__ = "Replace Card"

    medium = fields.Selection(MEDIUMS, "Medium", required=True)
    number = fields.Char(
        "New Number", help="The number of a pre-printed card.\n"
        "Leave empty to number the card from its product.")
    reason = fields.Text("Reason", required=True)


class ReplaceCard(Wizard):
    "Replace Card"
    __name__ = 'member.card.replace'

    start = StateView(
        'member.card.replace.start',
        'member_core.card_replace_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Replace", 'replace', 'tryton-ok', default=True),
            ])
    replace = StateTransition()

    def default_start(self, fields):
        return {'medium': self.record.medium}

    def transition_replace(self):
        Card = Pool().get('member.card')
        Card.replace(
            self.record, self.start.reason, number=self.start.number,
            medium=self.start.medium)
        return 'end'


class TransferCardStart(ModelView):
    __name__ = 'member.card.transfer.start'
    __string__ = "Request Card Transfer"

    programme = fields.Many2One(
        'member.programme', "Programme", readonly=True)
    to_member = fields.Many2One(
        'party.party', "To Member", required=True,
        domain=[
            ('programme', '=', Eval('programme', -1)),
            ('member_state', '=', 'member'),
            ])
    reason = fields.Text("Reason", required=True)


class TransferCard(Wizard):
    "Request Card Transfer"
    __name__ = 'member.card.transfer_request'

    start = StateView(
        'member.card.transfer.start',
        'member_core.card_transfer_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request", 'request', 'tryton-ok', default=True),
            ])
    request = StateTransition()

    def default_start(self, fields):
        return {'programme': self.record.programme.id}

    def transition_request(self):
        pool = Pool()
        Card = pool.get('member.card')
        Transfer = pool.get('member.card.transfer')
        Card.check_action([self.record], 'transfer')
        Transfer.create([{
                    'card': self.record.id,
                    'to_member': self.start.to_member.id,
                    'reason': self.start.reason,
                    }])
        return 'end'


class CloseCardStart(ModelView):
    __name__ = 'member.card.close.start'
    __string__ = "Close Card"

    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    refund_amount = Monetary(
        "Refund", currency='currency', digits='currency', readonly=True,
        help="The amount to pay back to the member.")
    reason = fields.Text("Reason", required=True)


class CloseCard(Wizard):
    "Close Card"
    __name__ = 'member.card.close'

    start = StateView(
        'member.card.close.start', 'member_core.card_close_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Close", 'close', 'tryton-ok', default=True),
            ])
    close = StateTransition()

    def default_start(self, fields):
        Card = Pool().get('member.card')
        amounts = Card.get_refund_amounts(list(self.records))
        currency = self.record.programme.currency if self.record else None
        return {
            'currency': currency.id if currency else None,
            'refund_amount': sum(amounts.values(), Decimal(0)),
            }

    def transition_close(self):
        Card = Pool().get('member.card')
        Card.close(list(self.records), self.start.reason)
        return 'end'

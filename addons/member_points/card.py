# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Stored-value cards.

The stored value lives in the member's account of the programme's
stored-value point type (the one in the programme's currency); the card is
only the medium. Replacing a card moves nothing: the balance stays with the
member. Closing the member's last open stored-value card refunds the
available stored value: ``get_refund_amounts`` tells the amount (on the
first closing card of the member, 0 on the others) and ``on_closed`` debits
it (key ``card-close:<card id>``). Held stored value is not refunded.
"""
from collections import defaultdict
from decimal import Decimal

from trytond.pool import Pool, PoolMeta

# Card states that still carry the member's stored value
_CLOSED_STATES = ['closed', 'replaced']


class Card(metaclass=PoolMeta):
    __name__ = 'member.card'

    @classmethod
    def get_stored_value_type(cls, programme):
        """Return the stored-value point type of the programme, the one in
        its currency first, or None"""
        pool = Pool()
        PointType = pool.get('member.point.type')
        types = PointType.search([
                ('programme', '=', programme.id),
                ('kind', '=', 'stored_value'),
                ], order=[('id', 'ASC')])
        for type_ in types:
            if type_.currency == programme.currency:
                return type_
        return types[0] if types else None

    @classmethod
    def get_stored_value_refunds(cls, cards):
        """Return {card id: (point type, quantity)} of the stored value to
        refund when the cards close"""
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        ids = {c.id for c in cards}
        by_member = defaultdict(list)
        for card in sorted(cards, key=lambda c: c.id):
            if card.product.kind == 'stored_value':
                by_member[card.member].append(card)
        result = {}
        for member, member_cards in by_member.items():
            type_ = cls.get_stored_value_type(member_cards[0].programme)
            if not type_:
                continue
            others = cls.search([
                    ('member', '=', member.id),
                    ('product.kind', '=', 'stored_value'),
                    ('state', 'not in', _CLOSED_STATES),
                    ('id', 'not in', list(ids)),
                    ], limit=1)
            if others:
                continue
            available = Ledger.balance(member, type_)['available']
            if available > 0:
                result[member_cards[0].id] = (type_, available)
        return result

    @classmethod
    def get_refund_amounts(cls, cards):
        amounts = super().get_refund_amounts(cards)
        for card_id, (type_, quantity) in (
                cls.get_stored_value_refunds(cards).items()):
            amount = quantity * type_.point_value
            if type_.currency:
                amount = type_.currency.round(amount)
            amounts[card_id] = amounts.get(card_id, Decimal(0)) + amount
        return amounts

    @classmethod
    def on_closed(cls, cards):
        pool = Pool()
        Ledger = pool.get('member.point.ledger')
        Party = pool.get('party.party')
        super().on_closed(cards)
        refunds = cls.get_stored_value_refunds(cards)
        if not refunds:
            return
        Party.lock(sorted({cls(i).member.id for i in refunds}))
        for card_id, (type_, quantity) in refunds.items():
            card = cls(card_id)
            Ledger.adjust(
                card.member, type_, -quantity, f'card-close:{card.id}',
                source=card, description=card.rec_name)

# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval


class Template(metaclass=PoolMeta):
    __name__ = 'product.template'

    member_count_card = fields.Boolean(
        "Count Card Service",
        states={
            'invisible': Eval('type') != 'service',
            },
        help="Selling it to a member uses one visit of their count card "
        "per unit.")
    member_stored_value = fields.Boolean(
        "Stored Value Top-Up",
        states={
            'invisible': Eval('type') != 'service',
            },
        help="Selling it at the till credits the member's stored value "
        "with its amount; it is booked on the stored-value liability.")

    @classmethod
    def default_member_count_card(cls):
        return False

    @classmethod
    def default_member_stored_value(cls):
        return False

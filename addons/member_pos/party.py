# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.model import fields
from trytond.modules.member_core.party import newest
from trytond.pool import PoolMeta


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    recent_pos_sales = fields.Function(fields.One2Many(
            'sale.point.sale', None, "POS Sales", readonly=True,
            help="The newest sales at the points of sale; all of them are "
            "in Related."),
        'get_recent_pos_sales', setter='set_newest')

    @classmethod
    def get_recent_pos_sales(cls, members, name):
        return newest(
            'sale.point.sale', members, [('date', 'DESC'), ('id', 'DESC')])
